"""Label PNGs of your own dataset -> class indices, checked against the class list.

A palette PNG's pixels are palette indices and a greyscale PNG's are grey values (8 or 16 bit):
both are the label values directly. An RGB-coloured PNG holds colours, not indices: it is read
only through the colour map of colors.txt (zoo.userdata.colors). Every value must be a class
of classes.txt (0..N-1) or the ignore label; the ignore label is served as 255.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from ..errors import data_error

PALETTE, GREY, COLOUR = "palette", "grey", "colour"
SHOW = 5
_WIDE = ("I;16", "I;16B", "I;16L", "I;16N", "I")


def _open(path, ctx):
    try:
        im = Image.open(path)
        im.load()
    except FileNotFoundError:
        raise data_error("label PNG not found", *ctx, path=path) from None
    except Exception as e:  # PIL raises many types for truncated or foreign files
        raise data_error(f"label PNG cannot be decoded ({e})", *ctx, path=path) from None
    return im


def _from_colours(rgb, colors, ctx, path):
    """H x W x 3 uint8 colours -> H x W int64 label values through `colors` ({(r,g,b): v})."""
    keys = (rgb[..., 0].astype(np.int64) << 16) | (rgb[..., 1].astype(np.int64) << 8) | rgb[..., 2]
    table = {(r << 16) | (g << 8) | b: v for (r, g, b), v in colors.items()}
    found, inverse, counts = np.unique(keys, return_inverse=True, return_counts=True)
    unknown = [(int(k), int(c)) for k, c in zip(found, counts) if int(k) not in table]
    if unknown:
        unknown.sort(key=lambda kc: -kc[1])
        shown = ", ".join(
            f"({k >> 16}, {(k >> 8) & 255}, {k & 255}) x {c} px" for k, c in unknown[:SHOW]
        )
        raise data_error(
            f"RGB label PNG holds {len(unknown)} colour(s) colors.txt does not map: {shown}; "
            "add a line 'R G B class' for each (the ignore label for unlabelled colours)",
            *ctx,
            path=path,
        )
    values = np.array([table[int(k)] for k in found], np.int64)
    return values[inverse.reshape(keys.shape)]


def kind_of(mode: str) -> str | None:
    """The label kind of a PIL image mode: 'palette', 'grey', 'colour' (RGB, RGBA) or None."""
    if mode == "P":
        return PALETTE
    if mode in ("L", "1") or mode in _WIDE:
        return GREY
    return COLOUR if mode in ("RGB", "RGBA") else None


def label_kind(path: str) -> str | None:
    """The kind of the label PNG at `path` from its header (None when it cannot be read)."""
    try:
        with Image.open(path) as im:
            return kind_of(im.mode)
    except Exception:  # noqa: BLE001 - the data layer reports unreadable files when it reads them
        return None


def read_label(path: str, colors: dict | None = None,
               ctx: tuple = (None, None, None)) -> tuple[np.ndarray, str]:  # fmt: skip
    """A label PNG -> (H x W int64 label values, kind: 'palette', 'grey' or 'colour').

    colors: {(r, g, b): value} for RGB-coloured labels (colors.txt); without it an RGB(A) PNG
    is a DataError saying how to give one."""
    im = _open(path, ctx)
    kind = kind_of(im.mode)
    if kind in (PALETTE, GREY):
        return np.asarray(im, np.int64), kind
    if kind == COLOUR:
        if colors is None:
            raise data_error(
                f"label PNG is RGB-coloured ({im.mode}): its pixels are colours, not class "
                "indices. Save the labels as palette or greyscale PNGs of class indices, or map "
                "each colour to its class in colors.txt ('R G B class' per line)",
                *ctx,
                path=path,
            )
        return _from_colours(np.asarray(im.convert("RGB")), colors, ctx, path), COLOUR
    raise data_error(
        f"label PNG has mode {im.mode}; expected a palette (P) or greyscale (L, 16-bit) PNG of "
        "class indices, or an RGB PNG with colors.txt",
        *ctx,
        path=path,
    )


_HINT = {
    PALETTE: "palette PNG: its pixels are palette indices, which are the class values",
    GREY: "greyscale PNG: its grey values are the class values (a picture converted to grey, "
    "or 0/255 masks, are not)",
    COLOUR: "colors.txt maps to values outside the classes",
}


def check_values(label: np.ndarray, n_classes: int, void: int, path: str,
                 ctx: tuple = (None, None, None), kind: str = GREY) -> np.ndarray:  # fmt: skip
    """H x W label values -> uint8 H x W (the ignore label `void` served as 255); a value that is
    neither a class (0..n_classes-1) nor `void` is a DataError naming each value and its pixel
    count."""
    lab = np.asarray(label, np.int64)
    values, counts = np.unique(lab, return_counts=True)
    bad = [
        (int(v), int(c)) for v, c in zip(values, counts) if not (0 <= v < n_classes or v == void)
    ]
    if bad:
        shown = ", ".join(f"{v} ({c:,} px)" for v, c in bad[:SHOW])
        more = f" and {len(bad) - SHOW} more" if len(bad) > SHOW else ""
        raise data_error(
            f"label values outside the {n_classes} classes of classes.txt (0..{n_classes - 1}) "
            f"and the ignore label {void}: {shown}{more} ({_HINT[kind]})",
            *ctx,
            path=path,
        )
    out = lab.astype(np.uint8)
    if void != 255:
        out[lab == void] = 255
    return out
