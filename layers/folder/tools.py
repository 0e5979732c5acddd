"""The commands on your own dataset folder (zoo.userdata's layout): check it, split it, and
compute its mean.

    report = check("data/mydata")          # every pair read; problems listed, pixels per class
    train, val = write_split("data/mydata", val=0.2, seed=0)    # train.txt, val.txt
    bgr, n = write_mean("data/mydata")     # mean.txt over the train split
"""

from __future__ import annotations

import os
import random
from dataclasses import dataclass, field

import numpy as np
from PIL import Image

from caffeio import atomic_write
from zoo import userdata

from ..errors import LAYOUT_HINT, DataError
from ..io import read_rgb
from .labels import check_values, read_label


@dataclass
class Report:
    """What `check` found: pairs read, label kinds {kind: files}, pixels per class value (255:
    ignored), problems (one message each), splits {split: (images, from its list)}."""

    root: str
    classes: tuple
    pairs: int = 0
    kinds: dict = field(default_factory=dict)
    pixels: np.ndarray = field(default_factory=lambda: np.zeros(256, np.int64))
    problems: list = field(default_factory=list)
    splits: dict = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.problems


def _size(path):
    with Image.open(path) as im:
        return im.height, im.width


def _check_pair(root, idx, index, report, colors, void):
    ctx = (f"dataset {root}", None, idx)
    label_path = userdata.label_path(root, idx)
    try:
        values, kind = read_label(label_path, colors, ctx)
        report.kinds.setdefault(kind, []).append(idx)
        image_path = userdata.image_path(root, idx, index)
        try:
            size = _size(image_path)
        except Exception as e:  # PIL raises many types for truncated or foreign files
            raise DataError(f"{image_path}: cannot read the picture ({e})") from None
        if size != values.shape:
            raise DataError(
                f"{ctx[0]} id '{idx}': picture {size[0]}x{size[1]} but label "
                f"{values.shape[0]}x{values.shape[1]} [{label_path}]"
            )
        label = check_values(values, len(report.classes), void, label_path, ctx, kind)
        report.pixels += np.bincount(label.ravel(), minlength=256)
    except DataError as e:
        report.problems.append(str(e).replace(f"; {LAYOUT_HINT}", ""))


def _check_splits(root, report):
    pics, labs = userdata.images(root), userdata.labels(root)
    for split in userdata.SPLITS:
        if not os.path.isfile(userdata.split_path(root, split)):
            report.splits[split] = (report.pairs, False)  # every pair (unpaired: reported)
            continue
        try:
            ids, _ = userdata.split_ids(root, split)
        except userdata.UserDataError as e:
            report.problems.append(str(e))
            continue
        report.splits[split] = (len(ids), True)
        missing = [i for i in ids if i not in pics or i not in labs]
        if missing:
            more = f" and {len(missing) - 5} more" if len(missing) > 5 else ""
            report.problems.append(
                f"{userdata.split_path(root, split)}: {len(missing)} ids lack a picture or a "
                f"label PNG ({', '.join(missing[:5])}{more})"
            )


def check(root: str, void: int = userdata.VOID) -> Report:
    """Read and check every pair of the dataset at `root`: pairing, class list, colour map,
    picture and label sizes, label kinds (one per dataset) and values, the split lists ->
    Report. A folder that cannot be listed at all raises userdata.UserDataError."""
    names = userdata.classes(root)
    report = Report(root, names)
    colors = userdata.colors(root, names, void)
    try:
        ids = userdata.pairs(root)
    except userdata.UserDataError as e:  # unpaired files: the pairs that exist are checked
        report.problems.append(str(e))
        pics, labs = userdata.images(root), userdata.labels(root)
        ids = sorted(set(pics) & set(labs))
    index = userdata.images(root)
    for idx in ids:
        _check_pair(root, idx, index, report, colors, void)
    report.pairs = len(ids)
    if len(report.kinds) > 1:
        kinds = ", ".join(f"{len(v)} {k} ({', '.join(v[:3])})" for k, v in report.kinds.items())
        report.problems.append(
            f"{root}: the label PNGs mix kinds: {kinds}; one dataset's labels are one kind "
            "(palette: value = palette index; grey: value = grey level): re-save the odd ones"
        )
    _check_splits(root, report)
    return report


def summary(report: Report, void: int = userdata.VOID) -> list:
    """The lines `python -m layers.folder check` prints."""
    lines = [f"{report.root}: {report.pairs} pairs, {len(report.classes)} classes"]
    kinds = ", ".join(f"{len(v)} {k}" for k, v in report.kinds.items()) or "none read"
    lines.append(f"  label PNGs: {kinds}")
    total = int(report.pixels.sum())
    for c, name in enumerate(report.classes):
        share = report.pixels[c] / total if total else 0.0
        lines.append(f"  {c:>3} {name:<20} {int(report.pixels[c]):>12,} px  {share:6.1%}")
    ignored = int(report.pixels[255])
    lines.append(f"  ignore ({void}) {ignored:>12,} px  {ignored / total if total else 0:6.1%}")
    for split, (n, listed) in report.splits.items():
        lines.append(f"  {split}: {n} images" + ("" if listed else " (no list: every pair)"))
    return lines


def write_split(root: str, val: float = 0.2, seed: int = 0) -> tuple[list, list]:
    """Split every pair of `root` into train.txt and val.txt -> (train ids, val ids), both
    sorted: a fraction `val` (at least one image) drawn by random.Random(seed), so the same
    folder and seed give the same split. Existing lists are kept: an error names them."""
    existing = [p for p in (userdata.split_path(root, s) for s in userdata.SPLITS)]
    existing = [p for p in existing if os.path.exists(p)]
    if existing:
        raise userdata.UserDataError(
            f"{', '.join(existing)} exist already; remove them to split again (nothing is "
            "overwritten)"
        )
    if not 0 < val < 1:
        raise userdata.UserDataError(f"--val {val}: give a fraction between 0 and 1")
    ids = userdata.pairs(root)
    n_val = max(1, round(len(ids) * val))
    if len(ids) < 2 or n_val >= len(ids):
        raise userdata.UserDataError(
            f"{root}: {len(ids)} pairs cannot be split {1 - val:.0%}/{val:.0%} with an image "
            "on each side"
        )
    order = sorted(ids)
    random.Random(seed).shuffle(order)
    val_ids, train_ids = sorted(order[:n_val]), sorted(order[n_val:])
    for split, part in zip(userdata.SPLITS, (train_ids, val_ids)):
        atomic_write(userdata.split_path(root, split), "".join(f"{i}\n" for i in part).encode())
    return train_ids, val_ids


def compute_mean(root: str, split: str = "train") -> tuple[tuple, int, int]:
    """((B, G, R) mean pixel of `split`'s pictures, images, pixels): float64 sums over every
    pixel (the pictures as the data layer reads them)."""
    ids, _ = userdata.split_ids(root, split)
    index = userdata.images(root)
    total, pixels = np.zeros(3, np.float64), 0
    for idx in ids:
        rgb = read_rgb(userdata.image_path(root, idx, index), (f"dataset {root}", split, idx))
        total += rgb.reshape(-1, 3).sum(axis=0, dtype=np.float64)
        pixels += rgb.shape[0] * rgb.shape[1]
    r, g, b = total / pixels
    return (float(b), float(g), float(r)), len(ids), pixels


def write_mean(root: str, split: str = "train") -> tuple[tuple, int]:
    """Write <root>/mean.txt ("B G R") from compute_mean -> (mean, images). An existing
    mean.txt is kept: an error names it."""
    path = os.path.join(root, userdata.MEAN)
    if os.path.exists(path):
        raise userdata.UserDataError(f"{path} exists already; remove it to compute it again")
    mean, n, pixels = compute_mean(root, split)
    text = f"# mean pixel of {split} ({n} images, {pixels} px), blue green red\n"
    text += " ".join(f"{v:.5f}" for v in mean) + "\n"
    atomic_write(path, text.encode("utf-8"))
    return mean, n
