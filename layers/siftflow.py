"""SIFT Flow (33 semantic + 3 geometric classes) data layer and loaders.

Layout: {siftflow_dir}/{split}.txt, Images/<cat>/{id}.jpg, SemanticLabels/<cat>/{id}.mat and
GeoLabels/<cat>/{id}.mat (key `S`), <cat> = spatial_envelope_256x256_static_8outdoorcategories.
Semantic: raw 0 unlabelled, 1..33 -> 255, 0..32. Geometric: raw -1 void, 1..3 -> 255, 0..2.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

import zoo

from .base import SegDataLayer
from .errors import Ctx, data_error
from .io import check_same_size, load_image, load_mat, mat_key, read_split

SIFTFLOW_MEAN = zoo.dataset("siftflow").inputs["data"].mean_array()  # float32
SIFTFLOW_CATEGORY = "spatial_envelope_256x256_static_8outdoorcategories"


def siftflow_paths(siftflow_dir: str, idx: str) -> dict[str, str]:
    """{'image', 'sem', 'geo'} paths of SIFT Flow example `idx`."""
    return {
        "image": os.path.join(siftflow_dir, "Images", SIFTFLOW_CATEGORY, f"{idx}.jpg"),
        "sem": os.path.join(siftflow_dir, "SemanticLabels", SIFTFLOW_CATEGORY, f"{idx}.mat"),
        "geo": os.path.join(siftflow_dir, "GeoLabels", SIFTFLOW_CATEGORY, f"{idx}.mat"),
    }


def load_siftflow_image(
    siftflow_dir: str, idx: str, ctx: Ctx = ("SIFT Flow", None, None)
) -> np.ndarray:
    """Images/<cat>/{idx}.jpg -> float32 3 x H x W BGR minus SIFTFLOW_MEAN."""
    return load_image(siftflow_paths(siftflow_dir, idx)["image"], SIFTFLOW_MEAN, ctx)


def load_siftflow_label(
    siftflow_dir: str, idx: str, kind: str, ctx: Ctx = ("SIFT Flow", None, None)
) -> np.ndarray:
    """kind 'sem' or 'geo': key `S` -> uint8 1 x H x W, value - 1 with void (0 / -1) -> 255."""
    if kind not in ("sem", "geo"):
        raise ValueError(f"SIFT Flow label kind must be 'sem' or 'geo', got {kind!r}")
    path = siftflow_paths(siftflow_dir, idx)[kind]
    s = np.array(mat_key(load_mat(path, ctx), "S", path, ctx))
    if s.ndim != 2:
        raise data_error(f"'S' is {s.shape}, expected H x W", *ctx, path=path)
    if kind == "geo":
        s[s == -1] = 0
    label = s.astype(np.uint8)
    label -= 1
    return label[np.newaxis]


class SIFTFlowSegDataLayer(SegDataLayer):
    """SIFT Flow: tops data (1x3xHxW), sem (1x1xHxW, 0..32), geo (1x1xHxW, 0..2); 255 void.

    param_str: siftflow_dir, split ('trainval', 'test'), randomize, seed, prefetch;
    augmentation: crop, scale, mirror, batch_size, ignore_label (SegDataLayer, layers.augment):
    sem and geo are both labels (nearest, padded with ignore_label).
    """

    DATASET = "SIFT Flow"
    REQUIRED = ("siftflow_dir", "split")

    def configure(self, params: dict[str, Any]) -> None:
        self.siftflow_dir = params["siftflow_dir"]
        path = os.path.join(self.siftflow_dir, f"{self.split}.txt")
        self.ids = read_split(path, self.DATASET, self.split)
        self.top_names = ("data", "sem", "geo")

    def example_paths(self, idx: str) -> dict[str, str]:
        return siftflow_paths(self.siftflow_dir, idx)

    def load_example(self, idx: str) -> tuple[np.ndarray, ...]:
        ctx = self.ctx(idx)
        img = load_siftflow_image(self.siftflow_dir, idx, ctx)
        sem = load_siftflow_label(self.siftflow_dir, idx, "sem", ctx)
        geo = load_siftflow_label(self.siftflow_dir, idx, "geo", ctx)
        path = siftflow_paths(self.siftflow_dir, idx)["sem"]
        check_same_size((img, sem, geo), ("image", "sem", "geo"), ctx, path)
        return img, sem, geo
