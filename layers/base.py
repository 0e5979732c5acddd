"""SegDataLayer: the thin Python-layer shell shared by every dataset layer.

A dataset layer declares its param keys and implements `configure(params)` (paths, ids, top
names) and `load_example(idx)` (a tuple of arrays in top order). This class does the pycaffe
contract: setup checks bottoms/tops/params/files, reshape loads the next example (by default a
batch of 1, whole image), forward copies, backward does nothing (data layers have no gradient).

Every dataset layer also takes the optional augmentation keys (layers.augment): `crop`
(None, int or [h, w]; random crop, padded at bottom/right with 0 for images and `ignore_label`
for labels where smaller), `scale` (None or [lo, hi]; random rescale, bilinear images, nearest
labels), `mirror` (bool; horizontal flip with probability 0.5), `batch_size` (examples per
forward, N x C x h x w tops; unequal sizes need `crop`) and `ignore_label` (default 255). With
none of them set, the layer serves exactly the loaders' arrays, one whole image per forward.

The layers import no engine: real Caffe's layer factory gets a caffe.Layer subclass and
torchcaffe a torchcaffe.Layer subclass of the same class, in the same process
(engine.PortableLayer).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import numpy as np

from engine import PortableLayer

from .augment import AUGMENT_OPTIONAL, apply_augment, draw_augment, parse_augment, seed_words
from .errors import data_error
from .order import ExampleOrder, shuffles
from .params import parse_param_str
from .prefetch import Prefetcher

COMMON_OPTIONAL = {"randomize": True, "seed": None, "prefetch": True, **AUGMENT_OPTIONAL}

# The engine's vector of blobs (bottom, top): len() and [i]; pycaffe's cannot be iterated.
Blobs = Any


class SegDataLayer(PortableLayer):
    """Base of the dataset layers: one whole image (+ labels) per forward, batch of 1, unless
    the augmentation keys say otherwise.

    Subclasses set DATASET (a name for messages), REQUIRED (param keys), OPTIONAL ({key:
    default}, merged with randomize/seed/prefetch and crop/scale/mirror/batch_size/ignore_label)
    and implement configure() and load_example().
    After setup: `ids` (the split's ids), `top_names`, `order` (ExampleOrder), `batch_size`,
    `augment` (the checked augmentation keys). After each forward: `last_ids` (the ids just
    served, one per batch item), `last_id` (the first of them) and `last_augment` (one dict per
    item: {"scale": factor or None, "size": (h, w) after scaling, "offset": (y, x) of the crop
    window in the padded array or None, "mirror": bool}; see layers.augment).

    Randomness: the example order comes from ExampleOrder(seed); the augmentation of the example
    at stream position k from its own numpy generator default_rng([|seed|, k]) (draws: scale,
    crop offsets, mirror), so prefetching, seek() and set_rng_state() reproduce the stream.
    """

    DATASET = "dataset"
    REQUIRED = ("split",)
    OPTIONAL = {}

    # -- to implement -------------------------------------------------------------------------
    def configure(self, params: dict[str, Any]) -> None:
        """Read params; set self.split, self.ids, self.top_names; check dataset files."""
        raise NotImplementedError

    def example_paths(self, idx: str) -> dict[str, str]:
        """{what: path} of the files example `idx` needs (checked for existence at setup)."""
        return {}

    def load_example(self, idx: str) -> tuple[np.ndarray, ...]:
        """Tuple of arrays (C x H x W, one per top) for example `idx`."""
        raise NotImplementedError

    # -- pycaffe contract ---------------------------------------------------------------------
    def setup(self, bottom: Blobs, top: Blobs) -> None:
        """Check the params (param_str), bottoms (none), tops and files; start the stream."""
        name = type(self).__name__
        optional = dict(COMMON_OPTIONAL)
        optional.update(self.OPTIONAL)
        params = parse_param_str(getattr(self, "param_str", ""), name, self.REQUIRED, optional)
        if len(bottom):
            raise ValueError(f"{name}: a data layer takes no bottoms, got {len(bottom)}")
        self.params = params
        self.augment = parse_augment(params, name)
        self.batch_size = self.augment["batch_size"]
        self._augmenting = any(self.augment[k] for k in ("crop", "scale", "mirror"))
        self.split = params["split"]
        self.configure(params)
        if len(top) != len(self.top_names):
            raise ValueError(
                f"{name}: needs {len(self.top_names)} tops ({', '.join(self.top_names)}), "
                f"got {len(top)}; list them in that order as the layer's tops"
            )
        self.check_files()
        self.order = ExampleOrder(
            len(self.ids), shuffles(self.split, params["randomize"]), params["seed"]
        )
        self._seed_word = seed_words(self.order.seed, name) if self._augmenting else None
        self._k = 0
        self._loaded = None
        self.example = None
        self._served = None
        self.last_id = None
        self.last_ids = []
        self.last_augment = []
        close = getattr(self, "_prefetcher", None)
        if close is not None:
            close.close()
        self._prefetcher = self._make_prefetcher(1 if params["prefetch"] else 0)

    def reshape(self, bottom: Blobs, top: Blobs) -> None:
        """Load the next batch (prefetched) and shape the tops to it."""
        if self._loaded != self._k:
            self.example, ids, augments = self._prefetcher.get(self._k)
            self._served = (ids, augments)
            self._loaded = self._k
        # pycaffe's top/bottom are boost vectors of Blob*: len() and [i] work, iterating does not
        for i in range(len(top)):
            shape = self.example[i].shape
            top[i].reshape(*(shape if self.batch_size > 1 else (1, *shape)))

    def forward(self, bottom: Blobs, top: Blobs) -> None:
        """Copy the batch into the tops; record last_ids, last_id and last_augment."""
        for i in range(len(top)):
            top[i].data[...] = self.example[i]
        ids, augments = self._served
        self.last_ids = list(ids)
        self.last_id = ids[0]
        self.last_augment = list(augments)
        self._k += self.batch_size

    def backward(self, top: Blobs, propagate_down: Any, bottom: Blobs) -> None:
        """Nothing: a data layer has no gradient."""
        pass

    @property
    def position(self) -> int:
        """How many examples this layer has served (its place in the example stream; a
        forward serves batch_size examples)."""
        return self._k

    def seek(self, position: int) -> None:
        """Serve example number `position` of the stream next (resume, per-rank streams)."""
        if position < 0:
            raise ValueError(f"seek position must be >= 0, got {position}")
        self._k = int(position)

    def rng_state(self) -> dict[str, int]:
        """{"seed", "position"}: enough to continue the example stream exactly (the order is
        a function of the seed, which may have been drawn at random); saved beside snapshots."""
        return {"seed": int(self.order.seed), "position": int(self._k)}

    def set_rng_state(self, state: Mapping[str, int]) -> None:
        """Continue the stream described by rng_state()'s `state` (resume)."""
        seed, position = int(state["seed"]), int(state["position"])
        if seed != self.order.seed:
            self.order = ExampleOrder(self.order.n, self.order.shuffle, seed)
            self._loaded = None  # an example prefetched from the old order is stale
            if self._augmenting:
                self._seed_word = seed_words(seed, type(self).__name__)
            self._prefetcher.close()
            self._prefetcher = self._make_prefetcher(self._prefetcher.depth)
        self.seek(position)

    # -- helpers ------------------------------------------------------------------------------
    def _make_prefetcher(self, depth):
        return Prefetcher(self._load_batch, depth=depth, stride=self.batch_size)

    def _load_position(self, k):
        """(arrays, id, augmentation dict) of the example at stream position k."""
        idx = self.ids[self.order.at(k)]
        arrays = self.load_example(idx)
        if not self._augmenting:
            size = tuple(arrays[0].shape[-2:])
            return arrays, idx, {"scale": None, "size": size, "offset": None, "mirror": False}
        aug = self.augment
        rng = np.random.default_rng([self._seed_word, int(k)])
        drawn = draw_augment(rng, arrays[0].shape[-2:], aug["crop"], aug["scale"], aug["mirror"])
        return apply_augment(arrays, drawn, aug["crop"], aug["ignore_label"]), idx, drawn

    def _load_batch(self, k):
        """(tops, ids, augmentations) of the batch at stream positions k .. k + batch_size - 1;
        tops are the example's arrays (C x H x W) for a batch of 1, else N x C x H x W stacks."""
        if self.batch_size == 1:
            arrays, idx, drawn = self._load_position(k)
            return arrays, [idx], [drawn]
        items = [self._load_position(j) for j in range(k, k + self.batch_size)]
        shapes = [tuple(arrays[0].shape[-2:]) for arrays, _, _ in items]
        if len(set(shapes)) > 1:
            j = next(i for i, s in enumerate(shapes) if s != shapes[0])
            raise ValueError(
                f"{type(self).__name__}: batch_size {self.batch_size} needs examples of one "
                f"size, but id '{items[0][1]}' is {shapes[0][0]}x{shapes[0][1]} and id "
                f"'{items[j][1]}' is {shapes[j][0]}x{shapes[j][1]}"
                + (" after scaling" if self.augment["scale"] else "")
                + "; set 'crop' (e.g. 'crop': 321) to serve equal-size batches, or use "
                "batch_size 1"
            )
        n_tops = len(items[0][0])
        tops = tuple(np.stack([arrays[i] for arrays, _, _ in items]) for i in range(n_tops))
        return tops, [idx for _, idx, _ in items], [d for _, _, d in items]

    def check_files(self, limit: int = 5) -> None:
        """Every example's files exist, else DataError listing the first few missing."""
        missing = []
        for idx in self.ids:
            for what, path in self.example_paths(idx).items():
                if not os.path.isfile(path):
                    missing.append((idx, what, path))
            if len(missing) >= limit:
                break
        if missing:
            idx, what, path = missing[0]
            more = (
                "; also " + ", ".join(f"{w} of '{i}'" for i, w, _ in missing[1:])
                if len(missing) > 1
                else ""
            )
            raise data_error(f"{what} not found{more}", self.DATASET, self.split, idx, path)

    def ctx(self, idx: str) -> tuple[str, str, str]:
        """(dataset, split, id) for error messages."""
        return (self.DATASET, self.split, idx)

    def close(self) -> None:
        """Stop the prefetch thread (also done automatically at exit)."""
        if getattr(self, "_prefetcher", None) is not None:
            self._prefetcher.close()
