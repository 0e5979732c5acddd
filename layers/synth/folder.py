"""The synthetic twin of your own dataset: zoo.userdata's folder layout, written from scratch.

    make_folder_dataset("data/shapes", n=40)    # images/*.jpg, labels/*.png, classes.txt

Scenes of discs, squares and balls over a textured background (layers.synth.scenes: each class
has its colour and shape, so small nets learn them), with a 1-pixel ignore outline round each
shape. The label PNGs are palette PNGs (the VOC colour map), greyscale PNGs, or RGB-coloured
PNGs with the colors.txt that maps them. No split lists and no mean.txt: the commands of
layers.folder write those.
"""

from __future__ import annotations

import os

import numpy as np
from PIL import Image

from .palette import voc_palette
from .scenes import scene, sizes

FOLDER_CLASSES = ("background", "disc", "square", "ball")
KINDS = ("palette", "grey", "rgb")
JPEG_QUALITY = 95


def _write_label(label, path, kind, palette):
    if kind == "palette":
        im = Image.fromarray(label.astype(np.uint8), "P")
        im.putpalette(palette.tobytes())
    elif kind == "grey":
        im = Image.fromarray(label.astype(np.uint8), "L")
    else:
        im = Image.fromarray(palette[label], "RGB")
    im.save(path)


def make_folder_dataset(root: str, n: int = 12, size: tuple | None = None, seed: int = 0,
                        labels: str = "palette", classes: tuple = FOLDER_CLASSES,
                        prefix: str = "shape") -> list:  # fmt: skip
    """Write n pictures <root>/images/<prefix>_NNNN.jpg, their label PNGs <root>/labels/ (kind
    `labels`: 'palette', 'grey' or 'rgb' + colors.txt) and classes.txt -> the ids. Sizes vary
    (40..64 px a side) unless size=(h, w)."""
    if labels not in KINDS:
        raise ValueError(f"labels={labels!r}: use one of {', '.join(KINDS)}")
    rng = np.random.default_rng(seed)
    for sub in ("images", "labels"):
        os.makedirs(os.path.join(root, sub), exist_ok=True)
    palette = voc_palette()
    ids = [f"{prefix}_{i:04d}" for i in range(n)]
    k = len(classes)
    for idx, (h, w) in zip(ids, sizes(rng, n, size, 40, 64)):
        rgb, label, _ = scene(rng, h, w, range(1, k), k, 0, n_shapes=(1, 3), void_border=1)
        Image.fromarray(rgb, "RGB").save(
            os.path.join(root, "images", f"{idx}.jpg"), quality=JPEG_QUALITY
        )
        _write_label(label, os.path.join(root, "labels", f"{idx}.png"), labels, palette)
    with open(os.path.join(root, "classes.txt"), "w", encoding="utf-8") as f:
        f.writelines(f"{name}\n" for name in classes)
    if labels == "rgb":
        with open(os.path.join(root, "colors.txt"), "w", encoding="utf-8") as f:
            f.write("# R G B class\n")
            f.writelines(
                f"{' '.join(map(str, palette[c]))} {name}\n" for c, name in enumerate(classes)
            )
            f.write(f"{' '.join(map(str, palette[255]))} 255\n")
    return ids
