"""PASCAL VOC 2012 "trainaug" data layer: SBD labels where SBD has the image, VOC's elsewhere.

The split file (default 'trainaug': (SBD train | SBD val | VOC2012 seg train) minus VOC2012 seg
val, 10,582 ids) lives in {voc_dir}/ImageSets/Segmentation/{split}.txt and is made by
`python -m layers.splits voc12-trainaug VOC2012_DIR SBDD_DIR` (docs/datasets.md). Per id:
  in SBD train.txt or val.txt -> {sbdd_dir}/img/{id}.jpg and cls/{id}.mat (GTcls.Segmentation)
  otherwise                   -> {voc_dir}/JPEGImages/{id}.jpg and SegmentationClass/{id}.png
There is no silent fallback: an id listed by SBD whose SBD files are missing is an error (a
broken SBD download would otherwise change the labels unnoticed). Images: float32 3 x H x W, BGR
minus the mean; labels uint8 1 x H x W, 0..20, 255 void (VOC's outlines; SBD has none).
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from .base import SegDataLayer
from .errors import data_error
from .io import check_same_size, read_split
from .voc import (
    VOC_MEAN,
    _mean,
    load_sbdd_image,
    load_sbdd_label,
    load_voc_image,
    load_voc_label,
    sbdd_paths,
    sbdd_split_path,
    voc_paths,
    voc_split_path,
)

SBD, VOC = "sbd", "voc"


class TrainAugSegDataLayer(SegDataLayer):
    """VOC 2012 trainaug: tops data (1x3xHxW), label (1x1xHxW).

    param_str: voc_dir (the VOC2012 folder), sbdd_dir (SBD's dataset/), split (default
    'trainaug'), mean (BGR, default the release's), plus SegDataLayer's common keys (randomize,
    seed, prefetch, ...). After setup, `label_source(idx)` says 'sbd' or 'voc' for each id.
    """

    DATASET = "PASCAL VOC 2012 + SBD"
    REQUIRED = ("voc_dir", "sbdd_dir")
    OPTIONAL = {"split": "trainaug", "mean": tuple(VOC_MEAN)}

    def configure(self, params: dict[str, Any]) -> None:
        self.voc_dir = params["voc_dir"]
        self.sbdd_dir = params["sbdd_dir"]
        self.mean = _mean(params, type(self).__name__)
        path = voc_split_path(self.voc_dir, self.split)
        if not os.path.isfile(path):
            raise data_error(
                "split file not found (derive it: python -m layers.splits voc12-trainaug "
                f"{self.voc_dir} {self.sbdd_dir}, which writes trainaug.txt)",
                self.DATASET,
                self.split,
                path=path,
            )
        self.ids = read_split(path, self.DATASET, self.split)
        sbd = set()
        for part in ("train", "val"):
            sbd.update(read_split(sbdd_split_path(self.sbdd_dir, part), "SBD", part))
        self._sources = {i: SBD if i in sbd else VOC for i in self.ids}
        self.top_names = ("data", "label")

    def label_source(self, idx: str) -> str:
        """'sbd' (SBD img/ + cls/*.mat) or 'voc' (JPEGImages + SegmentationClass PNG) for `idx`."""
        try:
            return self._sources[idx]
        except KeyError:
            raise KeyError(f"id '{idx}' is not in split '{self.split}'") from None

    def example_paths(self, idx: str) -> dict[str, str]:
        if self.label_source(idx) == SBD:
            return sbdd_paths(self.sbdd_dir, idx)
        return voc_paths(self.voc_dir, idx)

    def check_files(self, limit: int = 5) -> None:
        try:
            super().check_files(limit)
        except ValueError as e:
            raise type(e)(
                f"{e} (ids listed in SBD train.txt/val.txt are read from SBD's img/ and cls/, "
                "all others from VOC's JPEGImages/ and SegmentationClass/)"
            ) from None

    def load_example(self, idx: str) -> tuple[np.ndarray, ...]:
        ctx = self.ctx(idx)
        if self.label_source(idx) == SBD:
            img = load_sbdd_image(self.sbdd_dir, idx, self.mean, ctx)
            label = load_sbdd_label(self.sbdd_dir, idx, ctx)
        else:
            img = load_voc_image(self.voc_dir, idx, self.mean, ctx)
            label = load_voc_label(self.voc_dir, idx, ctx)
        check_same_size((img, label), ("image", "label"), ctx, self.example_paths(idx)["label"])
        return img, label
