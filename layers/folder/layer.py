"""FolderSegDataLayer: the data layer of your own dataset (zoo.userdata's folder layout)."""

from __future__ import annotations

from typing import Any

import numpy as np

from zoo import userdata
from zoo.custom import DEFAULT_MEAN

from ..base import SegDataLayer
from ..errors import data_error
from ..io import check_same_size, load_image
from .labels import check_values, label_kind, read_label


class FolderSegDataLayer(SegDataLayer):
    """Your own dataset: tops data (1x3xHxW, BGR minus the mean), label (1x1xHxW, class
    indices, 255 ignored).

    param_str: data_dir (the dataset folder), split (its <split>.txt, else every pair), mean
    (B, G, R; default the folder's mean.txt, else the ILSVRC classifiers'), classes (the class
    count the net was made for, checked against classes.txt), void_label (the ignore value of
    the label PNGs, default 255; served as 255), randomize, seed, prefetch; augmentation:
    crop, scale, mirror, batch_size, ignore_label (SegDataLayer, layers.augment).
    """

    DATASET = "your dataset"
    REQUIRED = ("data_dir", "split")
    OPTIONAL = {"mean": None, "classes": None, "void_label": userdata.VOID}

    def configure(self, params: dict[str, Any]) -> None:
        root = self.data_dir = params["data_dir"]
        self.DATASET = f"dataset {root}"
        self.void = int(params["void_label"])
        try:
            self.names = userdata.classes(root)
            self.colors = userdata.colors(root, self.names, self.void)
            self.ids, _ = userdata.split_ids(root, self.split)
            self.index = userdata.images(root)
            mean = params["mean"] or userdata.mean(root) or DEFAULT_MEAN
        except userdata.UserDataError as e:
            raise data_error(str(e), split=self.split, hint=None) from None
        expected = params["classes"]
        if expected is not None and expected != len(self.names):
            raise data_error(
                f"the net was made for {expected} classes but classes.txt now lists "
                f"{len(self.names)}: make the model folder again (python -m zoo make-custom)",
                self.DATASET, self.split, hint=None,
            )  # fmt: skip
        if not len(self.names) <= self.void <= 255:
            raise ValueError(
                f"{type(self).__name__}: void_label {self.void} must lie in "
                f"{len(self.names)}..255, above the class values"
            )
        self.mean = np.asarray(mean, dtype=np.float32)
        if self.mean.shape != (3,):
            raise ValueError(f"{type(self).__name__}: mean must be 3 numbers (B, G, R)")
        self.top_names = ("data", "label")
        first = userdata.label_path(root, self.ids[0])
        self._first_kind = (label_kind(first), first)  # the kind every label must have

    def example_paths(self, idx: str) -> dict[str, str]:
        return {
            "image": userdata.image_path(self.data_dir, idx, self.index),
            "label": userdata.label_path(self.data_dir, idx),
        }

    def _same_kind(self, kind, path, ctx):
        """Every label PNG of the dataset is the kind of the split's first (palette, grey or
        colour): a folder mixing them holds files saved by another tool, whose values mean
        something else."""
        first, where = self._first_kind
        if first is not None and kind != first:
            raise data_error(
                f"label PNG is a {kind} PNG but {where} is a {first} PNG: one dataset's labels "
                "are one kind (palette: value = palette index; grey: value = grey level); "
                "re-save the odd ones (python -m layers.folder check lists every file's kind)",
                *ctx,
                path=path,
            )

    def load_example(self, idx: str) -> tuple[np.ndarray, ...]:
        ctx, paths = self.ctx(idx), self.example_paths(idx)
        img = load_image(paths["image"], self.mean, ctx)
        values, kind = read_label(paths["label"], self.colors, ctx)
        self._same_kind(kind, paths["label"], ctx)
        check_same_size((img, values[None]), ("image", "label"), ctx, paths["label"])
        label = check_values(values, len(self.names), self.void, paths["label"], ctx, kind)
        return img, label[np.newaxis]
