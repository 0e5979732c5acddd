"""Synthetic Cityscapes twin: street-like scenes in the official leftImg8bit/gtFine layout.

Label PNGs hold Cityscapes *label ids* (8-bit grey, as the release's *_gtFine_labelIds.png),
not train ids: sky above, road below, an ego-vehicle strip at the bottom, an out-of-roi column
at the left, and coloured shapes whose label id (any of 0..33, so ids that are ignored, e.g.
0..6, 9, 10, 14..16, 18, 29, 30, appear too) follows from colour and shape.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

import numpy as np
from PIL import Image

from .scenes import scene, sizes

N_LABEL_IDS = 34  # label ids 0..33 (-1 'license plate' cannot be stored in an 8-bit PNG)
SKY, ROAD, EGO_VEHICLE, OUT_OF_ROI = 23, 7, 1, 3
CITIES = {"train": ("aachen", "bochum", "bremen"), "val": ("frankfurt", "lindau", "munster")}


def cityscapes_scene(
    rng: np.random.Generator, h: int, w: int, objects: Iterable[int] | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """One street-like scene -> (rgb uint8 H x W x 3, label ids uint8 H x W).

    objects: the label ids the shapes are drawn from (default every id but sky and road)."""
    if objects is None:
        objects = [c for c in range(N_LABEL_IDS) if c not in (SKY, ROAD)]
    rgb, label, _ = scene(rng, h, w, list(objects), N_LABEL_IDS, SKY, n_shapes=(2, 4))
    road_rgb, _, _ = scene(rng, h, w, [ROAD], N_LABEL_IDS, ROAD, n_shapes=(0, 0))
    ground = (np.arange(h)[:, None] >= h // 2) & (label == SKY)
    rgb[ground] = road_rgb[ground]
    label[ground] = ROAD
    ego = np.arange(h) >= h - max(1, h // 12)
    label[ego] = EGO_VEHICLE
    rgb[ego] = rgb[ego] // 4  # a dark bonnet
    label[:, : max(1, w // 40)] = OUT_OF_ROI
    return rgb, label.astype(np.uint8)


def make_cityscapes(
    root: str,
    n: int = 8,
    size: tuple[int, int] | None = None,
    seed: int = 0,
    objects: Iterable[int] | None = None,
    val_fraction: float | None = None,
) -> dict[str, list[str]]:
    """Cityscapes folder `root` (the dataset's own folder, data_root/cityscapes for the nets):
    leftImg8bit/{train,val}/<city>/<city>_<seq>_<frame>_leftImg8bit.png (RGB) and
    gtFine/{train,val}/<city>/<city>_<seq>_<frame>_gtFine_labelIds.png (grey, label ids).

    About two thirds of the n images are train, the rest val (at least one each), spread over
    three cities per split (val_fraction: another share for val). Sizes are h x 2h (h 48..80,
    Cityscapes' 1:2 aspect) unless size=(h, w). objects: the label ids of the shapes (default
    all but sky and road). Returns {split: sorted ids '<city>/<city>_<seq>_<frame>'}.
    """
    rng = np.random.default_rng(seed)
    n = max(2, int(n))
    k = min(n - 1, max(1, (2 * n) // 3))
    if val_fraction is not None:
        k = min(n - 1, max(1, n - int(round(n * val_fraction))))
    counts = {"train": k, "val": n - k}
    hw = sizes(rng, n, size, lo=48, hi=80)
    if size is None:
        hw = [(h, 2 * h) for h, _ in hw]
    out, i = {}, 0
    for split, count in counts.items():
        ids = []
        for j in range(count):
            city = CITIES[split][j % len(CITIES[split])]
            idx = f"{city}/{city}_{j // len(CITIES[split]):06d}_{19 + 10 * j:06d}"
            rgb, label = cityscapes_scene(rng, *hw[i], objects)
            i += 1
            _save(rgb, os.path.join(root, "leftImg8bit", split, f"{idx}_leftImg8bit.png"), "RGB")
            _save(label, os.path.join(root, "gtFine", split, f"{idx}_gtFine_labelIds.png"), "L")
            ids.append(idx)
        out[split] = sorted(ids)
    return out


def _save(array, path, mode):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    Image.fromarray(array, mode).save(path)
