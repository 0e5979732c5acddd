"""argparse types shared by the command lines: checked numbers with one clear message each.

p.add_argument("--width", type=positive_width, default=1.0)
p.add_argument("--input", type=image_size)        # "500x500" or "500" -> (500, 500)
p.add_argument("--n", type=positive_int)
"""

from __future__ import annotations

import argparse
import math


def positive_width(text: str) -> float:
    """--width value -> float > 0 and finite (the channel multiplier: 1 = the paper's nets)."""
    try:
        w = float(text)
    except ValueError:
        w = math.nan
    if not math.isfinite(w) or w <= 0:
        raise argparse.ArgumentTypeError(
            f"--width {text!r}: use a finite number > 0 (1 = the paper's channel counts, "
            "0.25 = a quarter of them)"
        )
    return w


def positive_int(text: str) -> int:
    """An integer >= 1 (counts such as --n)."""
    try:
        n = int(text)
    except ValueError:
        n = 0
    if n < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: use a whole number >= 1")
    return n


def image_size(text: str) -> tuple[int, int]:
    """'HxW' or 'N' -> (H, W), both whole numbers >= 1 (an image size in pixels)."""
    parts = text.lower().split("x") if "x" in text.lower() else [text, text]
    try:
        h, w = (int(p) for p in parts)
    except ValueError:
        h = w = 0
    if len(parts) != 2 or h < 1 or w < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: use HxW with whole numbers >= 1, e.g. 500x500")
    return h, w
