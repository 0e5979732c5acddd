"""Colourised label / prediction images with the VOC bit-interleaved palette."""

import os

import numpy as np
from PIL import Image


def voc_palette(n=256):
    """(n, 3) uint8 VOC colour map: class i's bits interleaved into R, G, B from the top bit."""
    pal = np.zeros((n, 3), np.uint8)
    for i in range(n):
        c, rgb = i, [0, 0, 0]
        for j in range(8):
            for k in range(3):
                rgb[k] |= ((c >> k) & 1) << (7 - j)
            c >>= 3
        pal[i] = rgb
    return pal


def save_label_png(label, path):
    """Write an (H, W) integer label map as a palette PNG (values 0..255; 255 = void)."""
    arr = np.asarray(label)
    if arr.ndim != 2:
        raise ValueError(f"{path}: a label image must be H x W, got shape {arr.shape}")
    img = Image.fromarray(arr.astype(np.uint8), mode="P")
    img.putpalette(voc_palette().ravel().tolist())
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    from caffeio.atomic import atomic_path

    with atomic_path(path) as tmp:  # unpredictable temp name, umask-honouring mode
        img.save(tmp, format="PNG")
