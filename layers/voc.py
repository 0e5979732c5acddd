"""PASCAL VOC (segmentation val, e.g. seg11valid) and SBD (train) data layers and loaders.

Layouts (docs/datasets.md):
  {voc_dir}/ImageSets/Segmentation/{split}.txt, JPEGImages/{id}.jpg, SegmentationClass/{id}.png
  {sbdd_dir}/{split}.txt, img/{id}.jpg, cls/{id}.mat (struct GTcls, field Segmentation)
Images: float32 3 x H x W, BGR minus the mean. Labels: uint8 1 x H x W, 0..20, 255 void.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

import zoo

from .base import SegDataLayer
from .errors import Ctx, data_error
from .io import Mean, check_same_size, load_image, load_mat, load_png_label, mat_key, read_split

# float64, as the release's np.array(params['mean']): the subtraction rounds like the release's.
VOC_MEAN = zoo.dataset("voc").inputs["data"].mean_array()


def voc_split_path(voc_dir: str, split: str) -> str:
    """{voc_dir}/ImageSets/Segmentation/{split}.txt: the split's id list."""
    return os.path.join(voc_dir, "ImageSets", "Segmentation", f"{split}.txt")


def voc_paths(voc_dir: str, idx: str) -> dict[str, str]:
    """{'image', 'label'} paths of VOC example `idx`."""
    return {
        "image": os.path.join(voc_dir, "JPEGImages", f"{idx}.jpg"),
        "label": os.path.join(voc_dir, "SegmentationClass", f"{idx}.png"),
    }


def load_voc_image(
    voc_dir: str, idx: str, mean: Mean = VOC_MEAN, ctx: Ctx = ("VOC", None, None)
) -> np.ndarray:
    """JPEGImages/{idx}.jpg -> float32 3 x H x W BGR minus mean."""
    return load_image(voc_paths(voc_dir, idx)["image"], mean, ctx)


def load_voc_label(voc_dir: str, idx: str, ctx: Ctx = ("VOC", None, None)) -> np.ndarray:
    """SegmentationClass/{idx}.png (palette indices) -> uint8 1 x H x W (0..20, 255 void)."""
    return load_png_label(voc_paths(voc_dir, idx)["label"], ctx)


def sbdd_split_path(sbdd_dir: str, split: str) -> str:
    """{sbdd_dir}/{split}.txt: the split's id list."""
    return os.path.join(sbdd_dir, f"{split}.txt")


def sbdd_paths(sbdd_dir: str, idx: str) -> dict[str, str]:
    """{'image', 'label'} paths of SBD example `idx`."""
    return {
        "image": os.path.join(sbdd_dir, "img", f"{idx}.jpg"),
        "label": os.path.join(sbdd_dir, "cls", f"{idx}.mat"),
    }


def load_sbdd_image(
    sbdd_dir: str, idx: str, mean: Mean = VOC_MEAN, ctx: Ctx = ("SBD", None, None)
) -> np.ndarray:
    """img/{idx}.jpg -> float32 3 x H x W BGR minus mean."""
    return load_image(sbdd_paths(sbdd_dir, idx)["image"], mean, ctx)


def load_sbdd_label(sbdd_dir: str, idx: str, ctx: Ctx = ("SBD", None, None)) -> np.ndarray:
    """cls/{idx}.mat GTcls.Segmentation -> uint8 1 x H x W (0..20)."""
    path = sbdd_paths(sbdd_dir, idx)["label"]
    gt = mat_key(load_mat(path, ctx), "GTcls", path, ctx)
    try:
        seg = gt[0]["Segmentation"][0]
    except (ValueError, IndexError, KeyError, TypeError) as e:
        raise data_error(f"GTcls has no Segmentation field ({e})", *ctx, path=path) from None
    seg = np.asarray(seg)
    if seg.ndim != 2:
        raise data_error(f"GTcls.Segmentation is {seg.shape}, expected H x W", *ctx, path=path)
    return seg.astype(np.uint8)[np.newaxis]


def _mean(params, name):
    mean = np.asarray(params["mean"], dtype=np.float64)
    if mean.shape != (3,):
        raise ValueError(f"{name}: mean must be 3 numbers (B, G, R), got {params['mean']!r}")
    return mean


class VOCSegDataLayer(SegDataLayer):
    """PASCAL VOC segmentation: tops data (1x3xHxW), label (1x1xHxW).

    param_str: voc_dir, split (e.g. 'seg11valid'), mean (BGR, default the release's), randomize
    (default True; only 'train' splits shuffle), seed, prefetch (default True); augmentation:
    crop, scale, mirror, batch_size, ignore_label (SegDataLayer, layers.augment).
    """

    DATASET = "PASCAL VOC"
    REQUIRED = ("voc_dir", "split")
    OPTIONAL = {"mean": tuple(VOC_MEAN)}

    def configure(self, params: dict[str, Any]) -> None:
        self.voc_dir = params["voc_dir"]
        self.mean = _mean(params, type(self).__name__)
        path = voc_split_path(self.voc_dir, self.split)
        hint = ""
        if self.split == "seg11valid" and not os.path.isfile(path):
            hint = " (derive it: python -m layers.splits seg11valid VOC_DIR SBDD_DIR)"
        if hint:
            raise data_error("split file not found" + hint, self.DATASET, self.split, path=path)
        self.ids = read_split(path, self.DATASET, self.split)
        self.top_names = ("data", "label")

    def example_paths(self, idx: str) -> dict[str, str]:
        return voc_paths(self.voc_dir, idx)

    def load_example(self, idx: str) -> tuple[np.ndarray, ...]:
        ctx = self.ctx(idx)
        img = load_voc_image(self.voc_dir, idx, self.mean, ctx)
        label = load_voc_label(self.voc_dir, idx, ctx)
        check_same_size(
            (img, label), ("image", "label"), ctx, voc_paths(self.voc_dir, idx)["label"]
        )
        return img, label


class SBDDSegDataLayer(SegDataLayer):
    """SBD (Hariharan et al.) segmentation: tops data (1x3xHxW), label (1x1xHxW).

    param_str: sbdd_dir, split ('train'), mean, randomize, seed, prefetch; augmentation: crop,
    scale, mirror, batch_size, ignore_label (SegDataLayer, layers.augment).
    """

    DATASET = "SBD"
    REQUIRED = ("sbdd_dir", "split")
    OPTIONAL = {"mean": tuple(VOC_MEAN)}

    def configure(self, params: dict[str, Any]) -> None:
        self.sbdd_dir = params["sbdd_dir"]
        self.mean = _mean(params, type(self).__name__)
        self.ids = read_split(sbdd_split_path(self.sbdd_dir, self.split), self.DATASET, self.split)
        self.top_names = ("data", "label")

    def example_paths(self, idx: str) -> dict[str, str]:
        return sbdd_paths(self.sbdd_dir, idx)

    def load_example(self, idx: str) -> tuple[np.ndarray, ...]:
        ctx = self.ctx(idx)
        img = load_sbdd_image(self.sbdd_dir, idx, self.mean, ctx)
        label = load_sbdd_label(self.sbdd_dir, idx, ctx)
        path = sbdd_paths(self.sbdd_dir, idx)["label"]
        check_same_size((img, label), ("image", "label"), ctx, path)
        return img, label
