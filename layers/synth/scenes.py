"""Learnable synthetic scenes: coloured shapes over a textured background.

Each class has a fixed appearance (a hue, rectangle for even ids / ellipse for odd ids), so a
net can learn class from colour and shape. Labels are painted with the same masks.
"""

from __future__ import annotations

import colorsys
from collections.abc import Sequence

import numpy as np
from scipy import ndimage


def class_colour(c: int, n_classes: int) -> np.ndarray:
    """Fixed RGB (uint8 x 3) of class c among n_classes: hues spread by the golden ratio."""
    h = (c * 0.6180339887) % 1.0
    s = 0.55 + 0.4 * ((c * 7) % 3) / 2
    v = 0.55 + 0.4 * ((c * 5) % 4) / 3
    return np.array([round(255 * x) for x in colorsys.hsv_to_rgb(h, s, v)], dtype=np.float32)


def texture(
    rng: np.random.Generator, h: int, w: int, base: np.ndarray, amp: float = 14.0
) -> np.ndarray:
    """H x W x 3 float32: `base` colour + stripes + noise (a background that is not flat)."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    fx, fy = rng.uniform(0.05, 0.3, size=2)
    stripes = np.sin(fx * xx + fy * yy)[..., None] * amp
    noise = rng.normal(0, amp / 2, size=(h, w, 3))
    return np.asarray(base, np.float32) + stripes + noise


def shape_mask(
    rng: np.random.Generator,
    h: int,
    w: int,
    ellipse: bool,
    frac: tuple[float, float] = (0.2, 0.55),
) -> np.ndarray:
    """Boolean H x W mask of a random rectangle or ellipse, each side frac[0]..frac[1] of it."""
    lo, hi = frac
    bh = int(rng.integers(max(4, int(h * lo)), max(5, int(h * hi)) + 1))
    bw = int(rng.integers(max(4, int(w * lo)), max(5, int(w * hi)) + 1))
    y0 = int(rng.integers(0, h - bh + 1))
    x0 = int(rng.integers(0, w - bw + 1))
    m = np.zeros((h, w), bool)
    if ellipse:
        yy, xx = np.mgrid[0:bh, 0:bw]
        cy, cx = (bh - 1) / 2, (bw - 1) / 2
        m[y0 : y0 + bh, x0 : x0 + bw] = ((yy - cy) / (bh / 2)) ** 2 + (
            (xx - cx) / (bw / 2)
        ) ** 2 <= 1
    else:
        m[y0 : y0 + bh, x0 : x0 + bw] = True
    return m


def scene(
    rng: np.random.Generator,
    h: int,
    w: int,
    classes: Sequence[int],
    n_colours: int,
    background: int,
    n_shapes: tuple[int, int] = (1, 3),
    void_border: int = 0,
    frac: tuple[float, float] = (0.2, 0.55),
) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
    """Paint one scene -> (rgb uint8 H x W x 3, label int32 H x W, list of object masks).

    classes: the class ids objects are drawn from; n_colours: size of the colour table;
    background: class id of the background (its colour, textured); void_border: width in px of
    a 255 outline around each object (VOC style), 0 for none.
    """
    img = texture(rng, h, w, class_colour(background, n_colours))
    label = np.full((h, w), background, np.int32)
    masks = []
    for _ in range(int(rng.integers(n_shapes[0], n_shapes[1] + 1))):
        c = int(rng.choice(classes))
        m = shape_mask(rng, h, w, ellipse=bool(c % 2), frac=frac)
        img[m] = class_colour(c, n_colours) + rng.normal(0, 6, size=(int(m.sum()), 3))
        label[m] = c
        masks.append(m)
    if void_border:
        edge = np.zeros((h, w), bool)
        for m in masks:
            grown = ndimage.binary_dilation(m, iterations=void_border)
            shrunk = ndimage.binary_erosion(m, iterations=void_border, border_value=1)
            edge |= grown & ~shrunk
        label[edge] = 255
    return np.clip(np.rint(img), 0, 255).astype(np.uint8), label, masks


def sizes(
    rng: np.random.Generator,
    n: int,
    size: tuple[int, int] | None = None,
    lo: int = 60,
    hi: int = 120,
) -> list[tuple[int, int]]:
    """n (h, w) pairs: all `size` when given, else varied in lo..hi so nets reshape per image."""
    if size is not None:
        return [tuple(size)] * n
    return [(int(rng.integers(lo, hi + 1)), int(rng.integers(lo, hi + 1))) for _ in range(n)]
