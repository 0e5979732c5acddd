"""The VOC colour map the twins' palette label PNGs carry."""

from __future__ import annotations

import numpy as np


def voc_palette() -> np.ndarray:
    """The VOC bit-interleaved colour map: 256 x 3 uint8 (index 255 -> 224, 224, 192)."""
    pal = np.zeros((256, 3), np.uint8)
    for i in range(256):
        c, r, g, b = i, 0, 0, 0
        for j in range(8):
            r |= ((c >> 0) & 1) << (7 - j)
            g |= ((c >> 1) & 1) << (7 - j)
            b |= ((c >> 2) & 1) << (7 - j)
            c >>= 3
        pal[i] = (r, g, b)
    return pal
