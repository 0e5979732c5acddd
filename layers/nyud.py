"""NYUDv2 (40-class task of Gupta et al.) data layer and loaders.

Layout: {nyud_dir}/{split}.txt, data/images/img_{id}.png (colour), data/depth/img_{id}.png
(uint16 depth), data/hha/img_{id}.png (3-channel HHA), segmentation/img_{id}.mat key
`segmentation` (0 void, 1..40 classes). Tops are chosen and ordered by the `tops` param.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

import zoo

from .base import SegDataLayer
from .errors import Ctx, data_error
from .io import (
    _open_image,
    bgr_minus_mean,
    check_same_size,
    load_mat,
    mat_key,
    read_rgb,
    read_split,
)

_INPUTS = zoo.dataset("nyud").inputs
NYUD_MEAN_BGR = _INPUTS["color"].mean_array()  # float32
NYUD_MEAN_HHA = _INPUTS["hha"].mean_array()  # HHA order, no swap
NYUD_MEAN_LOGD = _INPUTS["depth"].mean_array()
NYUD_TOPS = ("color", "depth", "hha", "label")


def nyud_paths(nyud_dir: str, idx: str) -> dict[str, str]:
    """{'color', 'depth', 'hha', 'label'} paths of NYUD example `idx`."""
    return {
        "color": os.path.join(nyud_dir, "data", "images", f"img_{idx}.png"),
        "depth": os.path.join(nyud_dir, "data", "depth", f"img_{idx}.png"),
        "hha": os.path.join(nyud_dir, "data", "hha", f"img_{idx}.png"),
        "label": os.path.join(nyud_dir, "segmentation", f"img_{idx}.mat"),
    }


def load_nyud_color(nyud_dir: str, idx: str, ctx: Ctx = ("NYUDv2", None, None)) -> np.ndarray:
    """data/images/img_{idx}.png -> float32 3 x H x W BGR minus NYUD_MEAN_BGR."""
    return bgr_minus_mean(read_rgb(nyud_paths(nyud_dir, idx)["color"], ctx), NYUD_MEAN_BGR)


def load_nyud_hha(nyud_dir: str, idx: str, ctx: Ctx = ("NYUDv2", None, None)) -> np.ndarray:
    """data/hha/img_{idx}.png -> float32 3 x H x W, HHA channel order kept, minus NYUD_MEAN_HHA."""
    hha = read_rgb(nyud_paths(nyud_dir, idx)["hha"], ctx, what="HHA image")
    x = np.asarray(hha, dtype=np.float32) - NYUD_MEAN_HHA
    return np.ascontiguousarray(x.transpose(2, 0, 1))


def load_nyud_depth(nyud_dir: str, idx: str, ctx: Ctx = ("NYUDv2", None, None)) -> np.ndarray:
    """data/depth/img_{idx}.png (depth > 0) -> float32 1 x H x W: log(depth) - 7.844.

    Non-positive depth would give -inf/NaN in the net; it is an error naming the file.
    """
    path = nyud_paths(nyud_dir, idx)["depth"]
    im = _open_image(path, "depth image", ctx)
    d = np.array(im, dtype=np.float32)
    if d.ndim != 2:
        raise data_error(
            f"depth image is {d.shape}, expected a single-channel PNG", *ctx, path=path
        )
    bad = int(np.count_nonzero(~(d > 0)))
    if bad:
        raise data_error(
            f"depth image has {bad} non-positive pixels; log(depth) needs filled depth "
            "(the release's in-painted depth maps)",
            *ctx,
            path=path,
        )
    d = np.log(d)
    d -= NYUD_MEAN_LOGD
    return d[np.newaxis]


def load_nyud_label(nyud_dir: str, idx: str, ctx: Ctx = ("NYUDv2", None, None)) -> np.ndarray:
    """segmentation/img_{idx}.mat `segmentation` -> uint8 1 x H x W: value - 1 (0 void -> 255)."""
    path = nyud_paths(nyud_dir, idx)["label"]
    seg = np.asarray(mat_key(load_mat(path, ctx), "segmentation", path, ctx))
    if seg.ndim != 2:
        raise data_error(f"'segmentation' is {seg.shape}, expected H x W", *ctx, path=path)
    label = seg.astype(np.uint8)
    label -= 1  # uint8 wrap: void 0 -> 255, classes 1..40 -> 0..39
    return label[np.newaxis]


LOADERS = {
    "color": load_nyud_color,
    "depth": load_nyud_depth,
    "hha": load_nyud_hha,
    "label": load_nyud_label,
}


class NYUDSegDataLayer(SegDataLayer):
    """NYUDv2: one top per entry of `tops` (from color, depth, hha, label), in that order.

    param_str: nyud_dir, split ('train', 'val', 'trainval', 'test'), tops (list), randomize,
    seed, prefetch; augmentation: crop, scale, mirror, batch_size, ignore_label (SegDataLayer,
    layers.augment): color, depth and hha are images (bilinear, padded with 0), label nearest.
    """

    DATASET = "NYUDv2"
    REQUIRED = ("nyud_dir", "split", "tops")

    def configure(self, params: dict[str, Any]) -> None:
        name = type(self).__name__
        tops = params["tops"]
        if isinstance(tops, str) or not isinstance(tops, (list, tuple)) or not tops:
            raise ValueError(
                f"{name}: tops must be a non-empty list from {NYUD_TOPS}, got {tops!r}"
            )
        bad = [t for t in tops if t not in NYUD_TOPS]
        if bad:
            raise ValueError(f"{name}: unknown top(s) {bad}; choose from {', '.join(NYUD_TOPS)}")
        if len(set(tops)) != len(tops):
            raise ValueError(f"{name}: tops {list(tops)} repeat an entry")
        self.nyud_dir = params["nyud_dir"]
        self.top_names = tuple(tops)
        path = os.path.join(self.nyud_dir, f"{self.split}.txt")
        if self.split == "trainval" and not os.path.isfile(path):
            raise data_error(
                "split file not found (derive it: python -m layers.splits nyud-trainval NYUD_DIR)",
                self.DATASET,
                self.split,
                path=path,
            )
        self.ids = read_split(path, self.DATASET, self.split)

    def example_paths(self, idx: str) -> dict[str, str]:
        paths = nyud_paths(self.nyud_dir, idx)
        return {t: paths[t] for t in self.top_names}

    def load_example(self, idx: str) -> tuple[np.ndarray, ...]:
        ctx = self.ctx(idx)
        arrays = tuple(LOADERS[t](self.nyud_dir, idx, ctx) for t in self.top_names)
        check_same_size(arrays, self.top_names, ctx, self.example_paths(idx)[self.top_names[-1]])
        return arrays
