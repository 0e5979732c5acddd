"""Plain loading functions shared by the data layers, scoring, inference and tests.

Images become float32 C x H x W BGR arrays minus a per-channel mean; labels become uint8
1 x H x W arrays with 255 = ignore. Every failure is a DataError naming the file.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from PIL import Image

from .errors import Ctx, data_error

# a per-channel mean (B, G, R): its dtype is kept (float64 for VOC/SBD, as the release)
Mean = Sequence[float] | np.ndarray


def read_split(path: str, dataset: str | None, split: str | None) -> list[str]:
    """Read a split file -> list of ids (one per non-empty line, whitespace stripped).

    A missing file or an empty split raises DataError naming the dataset, split and path.
    """
    if not os.path.isfile(path):
        raise data_error("split file not found", dataset, split, path=path)
    with open(path, encoding="utf-8") as f:
        ids = [line.strip() for line in f if line.strip()]
    if not ids:
        raise data_error(
            "split file is empty (an empty split is an error)", dataset, split, path=path
        )
    return ids


def _open_image(path, what, ctx):
    if not os.path.isfile(path):
        raise data_error(f"{what} not found", *ctx, path=path)
    try:
        im = Image.open(path)
        im.load()
    except Exception as e:  # PIL raises many types for truncated/foreign files
        raise data_error(f"{what} cannot be decoded ({e})", *ctx, path=path) from None
    return im


_WIDE = ("I;16", "I;16B", "I;16L", "I;16N", "I")  # PIL's modes for 16/32-bit integer images


def _wide_values(im, what, ctx, path):
    """A 16-bit (or 32-bit integer) grey image -> int64 H x W array; values outside 0..65535
    (possible only in 32-bit files) are a DataError: there is no agreed way to show them."""
    a = np.asarray(im, dtype=np.int64)
    if a.size and (a.min() < 0 or a.max() > 65535):
        raise data_error(
            f"{what} is a {im.mode} image with values {a.min()}..{a.max()}, outside 16 bits; "
            "save it as an 8- or 16-bit PNG",
            *ctx,
            path=path,
        )
    return a


def read_rgb(path: str, ctx: Ctx = (None, None, None), what: str = "image") -> np.ndarray:
    """Decode an image file -> uint8 H x W x 3 RGB array (grey or palette images converted).

    16-bit grey images keep their high byte (v >> 8: 65535 -> 255), as Pillow does for 16-bit
    colour PNGs, instead of being clipped at 255; float images are refused."""
    im = _open_image(path, what, ctx)
    if im.mode in _WIDE:
        grey = (_wide_values(im, what, ctx, path) >> 8).astype(np.uint8)
        return np.repeat(grey[:, :, np.newaxis], 3, axis=2)
    if im.mode == "F":
        raise data_error(
            f"{what} is a 32-bit float image; save it as an 8- or 16-bit PNG/JPEG", *ctx, path=path
        )
    if im.mode != "RGB":
        im = im.convert("RGB")
    return np.asarray(im, dtype=np.uint8)


def bgr_minus_mean(rgb: np.ndarray, mean: Mean) -> np.ndarray:
    """uint8/float H x W x 3 RGB -> float32 3 x H x W: (float32 pixel, BGR order) - mean (BGR).

    `mean` keeps its dtype (the release used float64 for VOC/SBD, float32 elsewhere), so the
    subtraction rounds exactly as the release's `in_ -= mean` did.
    """
    x = np.asarray(rgb, dtype=np.float32)[:, :, ::-1]
    x = x - np.asarray(mean)
    return np.ascontiguousarray(x.astype(np.float32, copy=False).transpose(2, 0, 1))


def load_image(path: str, mean: Mean, ctx: Ctx = (None, None, None)) -> np.ndarray:
    """Image file -> float32 3 x H x W BGR mean-subtracted array (the release's load_image)."""
    return bgr_minus_mean(read_rgb(path, ctx), mean)


def load_png_label(path: str, ctx: Ctx = (None, None, None), what: str = "label PNG") -> np.ndarray:
    """Palette, grey or 16-bit grey PNG of class indices -> uint8 1 x H x W array (indices as
    stored; a 16-bit index above 255 is a DataError, never clipped)."""
    im = _open_image(path, what, ctx)
    if im.mode in _WIDE:  # 16-bit label PNGs: exact when every index fits in uint8
        a = _wide_values(im, what, ctx, path)
        if a.size and a.max() > 255:
            raise data_error(
                f"{what} is a 16-bit PNG holding class index {a.max()} > 255; labels are "
                "uint8 (255 = ignore), so it cannot be read without changing classes: map the "
                "indices to 0..254 (and void to 255) and save an 8-bit PNG",
                *ctx,
                path=path,
            )
        return a.astype(np.uint8)[np.newaxis]
    if im.mode not in ("P", "L"):
        raise data_error(
            f"{what} has mode {im.mode}; expected a palette (P), greyscale (L) or 16-bit grey "
            "PNG of class indices, not a colour rendering",
            *ctx,
            path=path,
        )
    return np.asarray(im, dtype=np.uint8)[np.newaxis].copy()


def load_mat(path: str, ctx: Ctx = (None, None, None), what: str = "label .mat") -> dict[str, Any]:
    """Read a MATLAB .mat file with scipy.io.loadmat -> dict (DataError when missing/corrupt)."""
    import scipy.io

    if not os.path.isfile(path):
        raise data_error(f"{what} not found", *ctx, path=path)
    try:
        return scipy.io.loadmat(path)
    except Exception as e:
        raise data_error(
            f"{what} cannot be read by scipy.io.loadmat ({e})", *ctx, path=path
        ) from None


def mat_key(
    mat: Mapping[str, Any], key: str, path: str, ctx: Ctx = (None, None, None)
) -> np.ndarray:
    """mat[key] as an ndarray, or DataError naming the keys that are present."""
    if key not in mat:
        keys = sorted(k for k in mat if not k.startswith("__"))
        raise data_error(f"no variable '{key}' in .mat (has {keys})", *ctx, path=path)
    return mat[key]


def check_same_size(
    arrays: Sequence[np.ndarray], names: Sequence[str], ctx: Ctx, path: str
) -> None:
    """All arrays (C x H x W) share H x W, else DataError listing each shape."""
    shapes = [a.shape[-2:] for a in arrays]
    if len(set(shapes)) > 1:
        desc = ", ".join(f"{n} {s[0]}x{s[1]}" for n, s in zip(names, shapes))
        raise data_error(f"image and label sizes differ ({desc})", *ctx, path=path)
