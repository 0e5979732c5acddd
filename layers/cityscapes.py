"""Cityscapes (19 training classes) data layer and loaders.

Layout (the official release; docs/datasets.md):
  {cityscapes_dir}/leftImg8bit/{split}/<city>/<city>_<seq>_<frame>_leftImg8bit.png
  {cityscapes_dir}/gtFine/{split}/<city>/<city>_<seq>_<frame>_gtFine_labelIds.png
An example id is '<city>/<city>_<seq>_<frame>'; a split's ids are every image under
leftImg8bit/{split}, sorted. Label ids become the 19 train ids (CITYSCAPES_LABEL_IDS[j] -> j),
every other id 255 (ignored). Images: float32 3 x H x W, BGR minus the ImageNet/VOC mean the
ResNet FCNs expect. Labels: uint8 1 x H x W, 0..18 and 255.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

import zoo

from .base import SegDataLayer
from .errors import Ctx, data_error
from .io import Mean, check_same_size, load_image, load_png_label

# the ImageNet backbones' mean (the VOC mean of the release; float64 as VOC's)
CITYSCAPES_MEAN = zoo.dataset("cityscapes").inputs["data"].mean_array()
IMAGE_SUFFIX = "_leftImg8bit.png"
LABEL_SUFFIX = "_gtFine_labelIds.png"

# Label id of train id j (road, sidewalk, ..., bicycle: zoo.classes.CITYSCAPES_CLASSES order).
CITYSCAPES_LABEL_IDS = (7, 8, 11, 12, 13, 17, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 31, 32, 33)
IGNORE = 255


def _train_id_table():
    table = np.full(256, IGNORE, np.uint8)
    table[list(CITYSCAPES_LABEL_IDS)] = np.arange(len(CITYSCAPES_LABEL_IDS), dtype=np.uint8)
    return table


TRAIN_ID_OF = _train_id_table()


def label_ids_to_train_ids(array: np.ndarray) -> np.ndarray:
    """Cityscapes label ids (uint8 H x W, any shape works) -> uint8 train ids of the same shape.

    The 19 evaluated ids map to 0..18; every other value (including ids outside 0..255 in a
    wider integer array, such as -1 'license plate') becomes 255.
    """
    a = np.asarray(array)
    if not np.issubdtype(a.dtype, np.integer):
        raise TypeError(f"label ids must be an integer array, got {a.dtype}")
    if a.dtype == np.uint8:
        return TRAIN_ID_OF[a]
    out = np.full(a.shape, IGNORE, np.uint8)
    inside = (a >= 0) & (a <= 255)
    out[inside] = TRAIN_ID_OF[a[inside]]
    return out


def cityscapes_paths(cityscapes_dir: str, split: str, idx: str) -> dict[str, str]:
    """{'image', 'label'} paths of example `idx` ('<city>/<city>_<seq>_<frame>') of `split`."""
    return {
        "image": os.path.join(cityscapes_dir, "leftImg8bit", split, idx + IMAGE_SUFFIX),
        "label": os.path.join(cityscapes_dir, "gtFine", split, idx + LABEL_SUFFIX),
    }


def _subdirs(path):
    return sorted(d for d in os.listdir(path) if os.path.isdir(os.path.join(path, d)))


def cityscapes_ids(cityscapes_dir: str, split: str, dataset: str = "Cityscapes") -> list[str]:
    """Sorted ids '<city>/<city>_<seq>_<frame>' of every image under leftImg8bit/{split}.

    A missing dataset folder, split folder or label folder, or a split without images, is a
    DataError naming the path.
    """
    if not os.path.isdir(cityscapes_dir):
        raise data_error("dataset folder not found", dataset, split, path=cityscapes_dir)
    images = os.path.join(cityscapes_dir, "leftImg8bit", split)
    if not os.path.isdir(images):
        top = os.path.join(cityscapes_dir, "leftImg8bit")
        have = _subdirs(top) if os.path.isdir(top) else []
        found = f" (splits found: {', '.join(have)})" if have else ""
        raise data_error(f"image folder of the split not found{found}", dataset, split, path=images)
    labels = os.path.join(cityscapes_dir, "gtFine", split)
    if not os.path.isdir(labels):
        raise data_error("label folder of the split not found", dataset, split, path=labels)
    ids = []
    for city in _subdirs(images):
        for name in os.listdir(os.path.join(images, city)):
            if name.endswith(IMAGE_SUFFIX):
                ids.append(f"{city}/{name[: -len(IMAGE_SUFFIX)]}")
    if not ids:
        raise data_error(
            f"no <city>/*{IMAGE_SUFFIX} images (an empty split is an error)",
            dataset,
            split,
            path=images,
        )
    return sorted(ids)


def load_cityscapes_image(
    cityscapes_dir: str,
    split: str,
    idx: str,
    mean: Mean = CITYSCAPES_MEAN,
    ctx: Ctx = ("Cityscapes", None, None),
) -> np.ndarray:
    """leftImg8bit/{split}/{idx}_leftImg8bit.png -> float32 3 x H x W BGR minus mean."""
    return load_image(cityscapes_paths(cityscapes_dir, split, idx)["image"], mean, ctx)


def load_cityscapes_label(
    cityscapes_dir: str, split: str, idx: str, ctx: Ctx = ("Cityscapes", None, None)
) -> np.ndarray:
    """gtFine/{split}/{idx}_gtFine_labelIds.png -> uint8 1 x H x W train ids (0..18, 255)."""
    path = cityscapes_paths(cityscapes_dir, split, idx)["label"]
    return label_ids_to_train_ids(load_png_label(path, ctx, what="labelIds PNG"))


class CityscapesSegDataLayer(SegDataLayer):
    """Cityscapes fine annotations: tops data (1x3xHxW), label (1x1xHxW, 0..18, 255 ignored).

    param_str: cityscapes_dir, split ('train', 'val', 'test'), mean (BGR, default the
    ImageNet/VOC mean), randomize (default True; only 'train' splits shuffle), seed, prefetch;
    augmentation: crop, scale, mirror, batch_size, ignore_label (SegDataLayer, layers.augment).
    """

    DATASET = "Cityscapes"
    REQUIRED = ("cityscapes_dir", "split")
    OPTIONAL = {"mean": tuple(CITYSCAPES_MEAN)}

    def configure(self, params: dict[str, Any]) -> None:
        self.cityscapes_dir = params["cityscapes_dir"]
        mean = np.asarray(params["mean"], dtype=np.float64)
        if mean.shape != (3,):
            raise ValueError(
                f"{type(self).__name__}: mean must be 3 numbers (B, G, R), got {params['mean']!r}"
            )
        self.mean = mean
        self.ids = cityscapes_ids(self.cityscapes_dir, self.split, self.DATASET)
        self.top_names = ("data", "label")

    def example_paths(self, idx: str) -> dict[str, str]:
        return cityscapes_paths(self.cityscapes_dir, self.split, idx)

    def load_example(self, idx: str) -> tuple[np.ndarray, ...]:
        ctx = self.ctx(idx)
        img = load_cityscapes_image(self.cityscapes_dir, self.split, idx, self.mean, ctx)
        label = load_cityscapes_label(self.cityscapes_dir, self.split, idx, ctx)
        path = self.example_paths(idx)["label"]
        check_same_size((img, label), ("image", "label"), ctx, path)
        return img, label
