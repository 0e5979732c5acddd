"""PASCAL-Context (59 classes + background) data layer and loaders.

Layout: {voc_dir}/VOC2010/ImageSets/Main/{split}.txt, VOC2010/JPEGImages/{id}.jpg;
{context_dir}/labels.txt (459 'N: name' lines), 59_labels.txt ('N: name' lines),
trainval/{id}.mat key `LabelMap` (full-list indices). Class j of the 59 list (1-based) gets the
pixels whose full-list index is that name's; every other pixel is 0 (background, trained).
Three names differ between the lists and are matched as the release did.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

import zoo
from zoo.classes import RENAMED

from .base import SegDataLayer
from .errors import Ctx, data_error
from .io import Mean, check_same_size, load_image, load_mat, mat_key, read_split

CONTEXT_MEAN = zoo.dataset("pascalcontext").inputs["data"].mean_array()  # float32


def read_label_names(path: str, what: str) -> list[str]:
    """A 'N: name' per line file -> list of names, spaces removed (position i holds N = i + 1).

    Numbers must run 1, 2, 3, ... (the release used list position, so they must agree).
    """
    if not os.path.isfile(path):
        raise data_error(f"{what} not found", "PASCAL-Context", path=path)
    names = []
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            num, sep, name = line.partition(":")
            try:
                n = int(num)
            except ValueError:
                n = None
            if not sep or n is None or not name.strip():
                raise data_error(
                    f"{what} line {lineno} is {line.strip()!r}; expected 'N: name'",
                    "PASCAL-Context",
                    path=path,
                )
            if n != len(names) + 1:
                raise data_error(
                    f"{what} line {lineno} numbers class {n}, expected {len(names) + 1}",
                    "PASCAL-Context",
                    path=path,
                )
            names.append(name.replace(" ", "").strip())
    if not names:
        raise data_error(f"{what} is empty", "PASCAL-Context", path=path)
    return names


def context_lut(context_dir: str) -> np.ndarray:
    """Full-list index -> 59-task label lookup table (uint8; 0 background), from the two lists."""
    full_path = os.path.join(context_dir, "labels.txt")
    full = read_label_names(full_path, "labels.txt")
    task = read_label_names(os.path.join(context_dir, "59_labels.txt"), "59_labels.txt")
    if len(task) > 254:
        raise data_error("59_labels.txt lists too many classes", "PASCAL-Context")
    lut = np.zeros(len(full) + 1, dtype=np.uint8)
    for j, name in enumerate(task):
        name = RENAMED.get(name, name)
        if name not in full:
            raise data_error(
                f"59_labels.txt class '{name}' is not in labels.txt",
                "PASCAL-Context",
                path=full_path,
            )
        lut[full.index(name) + 1] = j + 1
    return lut


def context_paths(voc_dir: str, context_dir: str, idx: str) -> dict[str, str]:
    """{'image', 'label'} paths of PASCAL-Context example `idx` (voc_dir holds VOC2010/)."""
    return {
        "image": os.path.join(voc_dir, "VOC2010", "JPEGImages", f"{idx}.jpg"),
        "label": os.path.join(context_dir, "trainval", f"{idx}.mat"),
    }


def load_context_image(
    voc_dir: str,
    idx: str,
    mean: Mean = CONTEXT_MEAN,
    ctx: Ctx = ("PASCAL-Context", None, None),
) -> np.ndarray:
    """VOC2010/JPEGImages/{idx}.jpg -> float32 3 x H x W BGR minus mean."""
    return load_image(context_paths(voc_dir, "", idx)["image"], mean, ctx)


def load_context_label(
    context_dir: str, idx: str, lut: np.ndarray, ctx: Ctx = ("PASCAL-Context", None, None)
) -> np.ndarray:
    """trainval/{idx}.mat LabelMap -> uint8 1 x H x W with 0..59 (lut from context_lut)."""
    path = context_paths("", context_dir, idx)["label"]
    full = np.asarray(mat_key(load_mat(path, ctx), "LabelMap", path, ctx))
    if full.ndim != 2:
        raise data_error(f"'LabelMap' is {full.shape}, expected H x W", *ctx, path=path)
    full = full.astype(np.int64)
    inside = (full >= 0) & (full < len(lut))
    label = np.where(inside, lut[np.where(inside, full, 0)], 0).astype(np.uint8)
    return label[np.newaxis]


class PASCALContextSegDataLayer(SegDataLayer):
    """PASCAL-Context: tops data (1x3xHxW), label (1x1xHxW, 0 background, 1..59).

    param_str: voc_dir (holding VOC2010/), context_dir, split ('train', 'val'), mean,
    randomize, seed, prefetch; augmentation: crop, scale, mirror, batch_size, ignore_label
    (SegDataLayer, layers.augment; label 0 is background, trained, so padding must use a label
    the loss ignores).
    """

    DATASET = "PASCAL-Context"
    REQUIRED = ("voc_dir", "context_dir", "split")
    OPTIONAL = {"mean": tuple(float(m) for m in CONTEXT_MEAN)}

    def configure(self, params: dict[str, Any]) -> None:
        self.voc_dir = params["voc_dir"]
        self.context_dir = params["context_dir"]
        mean = np.asarray(params["mean"], dtype=np.float32)
        if mean.shape != (3,):
            raise ValueError(f"{type(self).__name__}: mean must be 3 numbers (B, G, R)")
        self.mean = mean
        self.lut = context_lut(self.context_dir)
        path = os.path.join(self.voc_dir, "VOC2010", "ImageSets", "Main", f"{self.split}.txt")
        self.ids = read_split(path, self.DATASET, self.split)
        self.top_names = ("data", "label")

    def example_paths(self, idx: str) -> dict[str, str]:
        return context_paths(self.voc_dir, self.context_dir, idx)

    def load_example(self, idx: str) -> tuple[np.ndarray, ...]:
        ctx = self.ctx(idx)
        img = load_context_image(self.voc_dir, idx, self.mean, ctx)
        label = load_context_label(self.context_dir, idx, self.lut, ctx)
        path = context_paths(self.voc_dir, self.context_dir, idx)["label"]
        check_same_size((img, label), ("image", "label"), ctx, path)
        return img, label
