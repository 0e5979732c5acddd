"""SegDataLayer: the thin Python-layer shell shared by every dataset layer.

A dataset layer declares its param keys and implements `configure(params)` (paths, ids, top
names) and `load_example(idx)` (a tuple of arrays in top order). This class does the pycaffe
contract: setup checks bottoms/tops/params/files, reshape loads the next example (batch of 1,
whole image), forward copies, backward does nothing (data layers have no gradient).
"""

import os

from solvers.engine import caffe

from .errors import data_error
from .order import ExampleOrder, shuffles
from .params import parse_param_str
from .prefetch import Prefetcher

EngineLayer = caffe.Layer

COMMON_OPTIONAL = {"randomize": True, "seed": None, "prefetch": True}


class SegDataLayer(EngineLayer):
    """Base of the dataset layers: one whole image (+ labels) per forward, batch of 1.

    Subclasses set DATASET (a name for messages), REQUIRED (param keys), OPTIONAL ({key:
    default}, merged with randomize/seed/prefetch) and implement configure() and load_example().
    After setup: `ids` (the split's ids), `top_names`, `order` (ExampleOrder); after each
    forward, `last_id` is the id just served.
    """

    DATASET = "dataset"
    REQUIRED = ("split",)
    OPTIONAL = {}

    # -- to implement -------------------------------------------------------------------------
    def configure(self, params):
        """Read params; set self.split, self.ids, self.top_names; check dataset files."""
        raise NotImplementedError

    def example_paths(self, idx):
        """{what: path} of the files example `idx` needs (checked for existence at setup)."""
        return {}

    def load_example(self, idx):
        """Tuple of arrays (C x H x W, one per top) for example `idx`."""
        raise NotImplementedError

    # -- pycaffe contract ---------------------------------------------------------------------
    def setup(self, bottom, top):
        name = type(self).__name__
        optional = dict(COMMON_OPTIONAL)
        optional.update(self.OPTIONAL)
        params = parse_param_str(getattr(self, "param_str", ""), name, self.REQUIRED, optional)
        if len(bottom):
            raise ValueError(f"{name}: a data layer takes no bottoms, got {len(bottom)}")
        self.params = params
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
        self._k = 0
        self._loaded = None
        self.example = None
        self.last_id = None
        close = getattr(self, "_prefetcher", None)
        if close is not None:
            close.close()
        self._prefetcher = Prefetcher(self._load_position, depth=1 if params["prefetch"] else 0)

    def reshape(self, bottom, top):
        if self._loaded != self._k:
            self.example = self._prefetcher.get(self._k)
            self._loaded = self._k
        # pycaffe's top/bottom are boost vectors of Blob*: len() and [i] work, iterating does not
        for i in range(len(top)):
            top[i].reshape(1, *self.example[i].shape)

    def forward(self, bottom, top):
        for i in range(len(top)):
            top[i].data[...] = self.example[i]
        self.last_id = self.ids[self.order.at(self._k)]
        self._k += 1

    def backward(self, top, propagate_down, bottom):
        pass

    @property
    def position(self):
        """How many examples this layer has served (its place in the example stream)."""
        return self._k

    def seek(self, position):
        """Serve example number `position` of the stream next (resume, per-rank streams)."""
        if position < 0:
            raise ValueError(f"seek position must be >= 0, got {position}")
        self._k = int(position)

    def rng_state(self):
        """{"seed", "position"}: enough to continue the example stream exactly (the order is
        a function of the seed, which may have been drawn at random); saved beside snapshots."""
        return {"seed": int(self.order.seed), "position": int(self._k)}

    def set_rng_state(self, state):
        """Continue the stream described by rng_state()'s `state` (resume)."""
        seed, position = int(state["seed"]), int(state["position"])
        if seed != self.order.seed:
            self.order = ExampleOrder(self.order.n, self.order.shuffle, seed)
            self._loaded = None  # an example prefetched from the old order is stale
            self._prefetcher.close()
            self._prefetcher = Prefetcher(self._load_position, depth=self._prefetcher.depth)
        self.seek(position)

    # -- helpers ------------------------------------------------------------------------------
    def _load_position(self, k):
        return self.load_example(self.ids[self.order.at(k)])

    def check_files(self, limit=5):
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

    def ctx(self, idx):
        """(dataset, split, id) for error messages."""
        return (self.DATASET, self.split, idx)

    def close(self):
        """Stop the prefetch thread (also done automatically at exit)."""
        if getattr(self, "_prefetcher", None) is not None:
            self._prefetcher.close()
