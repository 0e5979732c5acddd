"""Training-time augmentation of segmentation examples: random scale, crop and mirror (NumPy).

An example is a tuple of arrays, one per top, each C x H x W with the same H x W. Arrays of a
floating dtype are images (BGR minus the mean, or depth / HHA): they are resized bilinearly and
padded with 0.0 (the mean). Arrays of an integer dtype are labels: they are resized by nearest
neighbour and padded with the ignore label. Every array of an example gets the same scale, crop
window and flip.

The augmentation of one example is drawn by `draw_augment` (a plain dict, recorded by the layers
as `last_augment`) and applied by `apply_augment`; the served example is

    mirror(crop(pad(resize(x, size))))

with the padding at the bottom / right of the resized array, the crop window at `offset` in
the padded array and the flip (of the last axis) applied to the cropped result. Only the rows and
columns inside the window are interpolated, so a large scaled image costs what its crop costs.

Both resizes use half-pixel centres, no antialiasing and no corner alignment (align_corners=False,
what cv2.INTER_LINEAR, DeepLab and torch's 'bilinear' / 'nearest-exact' do). No cv2, PIL or
torch: the layers run on the real-pycaffe engine too.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np


# -- resampling taps -------------------------------------------------------------------------
def linear_taps(n_in: int, n_out: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Taps of a 1-D bilinear resize from n_in to n_out samples (half-pixel centres).

    Output j reads the source coordinate c = (j + 0.5) * n_in / n_out - 0.5 (clamped to >= 0):
    returns (i0, i1, frac), int64 and float64 arrays of length n_out with i0 = floor(c),
    i1 = min(i0 + 1, n_in - 1), frac = c - i0 (0 where i1 == i0), so that
    out[j] = (1 - frac[j]) * x[i0[j]] + frac[j] * x[i1[j]].
    """
    n_in, n_out = int(n_in), int(n_out)
    if n_in < 1 or n_out < 1:
        raise ValueError(f"resize needs sizes >= 1, got {n_in} -> {n_out}")
    c = (np.arange(n_out, dtype=np.float64) + 0.5) * (n_in / n_out) - 0.5
    np.maximum(c, 0.0, out=c)
    i0 = np.minimum(np.floor(c).astype(np.int64), n_in - 1)
    i1 = np.minimum(i0 + 1, n_in - 1)
    frac = c - i0
    frac[i1 == i0] = 0.0
    return i0, i1, frac


def nearest_taps(n_in: int, n_out: int) -> np.ndarray:
    """Source index of each of n_out samples of a 1-D nearest resize from n_in (half-pixel).

    index[j] = floor((j + 0.5) * n_in / n_out), computed exactly in integers (so a source
    position exactly half-way between two pixels takes the later one), at most n_in - 1.
    """
    n_in, n_out = int(n_in), int(n_out)
    if n_in < 1 or n_out < 1:
        raise ValueError(f"resize needs sizes >= 1, got {n_in} -> {n_out}")
    j = np.arange(n_out, dtype=np.int64)
    return np.minimum(((2 * j + 1) * n_in) // (2 * n_out), n_in - 1)


def _bilinear(x, rows, cols):
    """x (... x H x W, float) sampled at row taps then column taps (each linear_taps output)."""
    dtype = x.dtype
    i0, i1, f = rows
    f = f.astype(dtype)[:, None]
    t = x[..., i0, :]
    t *= 1 - f
    b = x[..., i1, :]
    b *= f
    t += b
    j0, j1, g = cols
    g = g.astype(dtype)
    out = t[..., j0]
    out *= 1 - g
    b = t[..., j1]
    b *= g
    out += b
    return out


def resize_bilinear(x: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Float array ... x H x W -> ... x h x w, size=(h, w): bilinear, half-pixel centres, no
    antialiasing (torch interpolate(mode='bilinear', align_corners=False), cv2.INTER_LINEAR).
    Same dtype as x; a same-size resize returns an equal copy."""
    x = np.asarray(x)
    if not np.issubdtype(x.dtype, np.floating):
        raise TypeError(f"resize_bilinear needs a float array, got {x.dtype}")
    h, w = size
    return _bilinear(x, linear_taps(x.shape[-2], h), linear_taps(x.shape[-1], w))


def resize_nearest(x: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Array ... x H x W (labels: any dtype) -> ... x h x w, size=(h, w): nearest neighbour with
    half-pixel centres ('nearest-exact': source floor((dst + 0.5) * in / out)). Same dtype."""
    x = np.asarray(x)
    h, w = size
    return x[..., nearest_taps(x.shape[-2], h), :][..., nearest_taps(x.shape[-1], w)]


# -- one example ---------------------------------------------------------------------------------
def scaled_size(size: tuple[int, int], s: float) -> tuple[int, int]:
    """(round(h * s), round(w * s)), each at least 1 (Python's round: halves to even)."""
    h, w = size
    return max(1, round(h * s)), max(1, round(w * s))


def draw_augment(
    rng: np.random.Generator,
    size: Sequence[int],
    crop: tuple[int, int] | None = None,
    scale: tuple[float, float] | None = None,
    mirror: bool = False,
) -> dict[str, Any]:
    """Draw one example's augmentation from numpy Generator `rng`, in a fixed order.

    size: (H, W) of the loaded example; crop: None or (h, w); scale: None or (lo, hi); mirror:
    bool. Draws s ~ uniform(lo, hi) (when scale), then the crop offsets y, x uniform over the
    valid range of the padded array (when crop), then the flip with probability 0.5 (when
    mirror). Returns {"scale": s or None, "size": (H', W') after scaling, "offset": (y, x) of the
    crop window or None, "mirror": bool}.
    """
    size = (int(size[0]), int(size[1]))
    s = None
    if scale is not None:
        s = float(rng.uniform(scale[0], scale[1]))
        size = scaled_size(size, s)
    offset = None
    if crop is not None:
        (h, w), (ch, cw) = size, crop
        y = int(rng.integers(0, max(h, ch) - ch + 1))
        x = int(rng.integers(0, max(w, cw) - cw + 1))
        offset = (y, x)
    flip = bool(rng.random() < 0.5) if mirror else False
    return {"scale": s, "size": size, "offset": offset, "mirror": flip}


def _check_fill(dtype, ignore_label):
    info = np.iinfo(dtype)
    if not info.min <= ignore_label <= info.max:
        raise ValueError(
            f"ignore_label {ignore_label} does not fit the {dtype} label arrays "
            f"({info.min}..{info.max})"
        )


def apply_augment(
    arrays: Sequence[np.ndarray],
    aug: Mapping[str, Any],
    crop: tuple[int, int] | None = None,
    ignore_label: int = 255,
) -> tuple[np.ndarray, ...]:
    """Apply draw_augment's `aug` to every array of an example (tuple of C x H x W arrays).

    Float arrays: bilinear resize to aug["size"], padding 0.0; integer arrays: nearest resize,
    padding `ignore_label`. crop: the (h, w) the augmentation was drawn with (None: no crop).
    Returns a tuple of new C-contiguous arrays (dtypes kept), each C x h x w.
    """
    out = []
    for a in arrays:
        a = np.asarray(a)
        if np.issubdtype(a.dtype, np.floating):
            is_label, fill = False, 0.0
        elif np.issubdtype(a.dtype, np.integer) and a.dtype != np.bool_:
            is_label, fill = True, ignore_label
            if crop is not None:
                _check_fill(a.dtype, ignore_label)
        else:
            raise TypeError(
                f"augment: arrays must be float (images) or integer (labels), got {a.dtype}"
            )
        out.append(_apply_one(a, aug, crop, is_label, fill))
    return tuple(out)


def _apply_one(a, aug, crop, is_label, fill):
    h, w = a.shape[-2:]
    H, W = aug["size"]
    if crop is None:
        y0, x0, ch, cw = 0, 0, H, W
    else:
        (y0, x0), (ch, cw) = aug["offset"], crop
    nr, nc = max(0, min(ch, H - y0)), max(0, min(cw, W - x0))  # rows / columns not padding
    if (H, W) == (h, w):
        part = a[..., y0 : y0 + nr, x0 : x0 + nc]
    elif is_label:
        rows = nearest_taps(h, H)[y0 : y0 + nr]
        cols = nearest_taps(w, W)[x0 : x0 + nc]
        part = a[..., rows, :][..., cols]
    else:
        r0, r1, rf = linear_taps(h, H)
        c0, c1, cf = linear_taps(w, W)
        c0, c1 = c0[x0 : x0 + nc], c1[x0 : x0 + nc]
        lo, hi = int(c0[0]), int(c1[-1]) + 1  # the source columns the window reads
        rows = (r0[y0 : y0 + nr], r1[y0 : y0 + nr], rf[y0 : y0 + nr])
        part = _bilinear(a[..., lo:hi], rows, (c0 - lo, c1 - lo, cf[x0 : x0 + nc]))
    if (nr, nc) != (ch, cw):
        full = np.full(a.shape[:-2] + (ch, cw), fill, dtype=a.dtype)
        full[..., :nr, :nc] = part
        part = full
    if aug["mirror"]:
        part = part[..., ::-1]
    return np.ascontiguousarray(part)


def augment_example(
    arrays: Sequence[np.ndarray],
    rng: np.random.Generator,
    crop: tuple[int, int] | None = None,
    scale: tuple[float, float] | None = None,
    mirror: bool = False,
    ignore_label: int = 255,
) -> tuple[tuple[np.ndarray, ...], dict[str, Any]]:
    """draw_augment then apply_augment: -> (tuple of augmented arrays, the augmentation dict)."""
    aug = draw_augment(rng, arrays[0].shape[-2:], crop, scale, mirror)
    return apply_augment(arrays, aug, crop, ignore_label), aug


# -- param_str keys ------------------------------------------------------------------------------
AUGMENT_OPTIONAL = {
    "crop": None,
    "scale": None,
    "mirror": False,
    "batch_size": 1,
    "ignore_label": 255,
}


def _is_int(v):
    return isinstance(v, numbers.Integral) and not isinstance(v, bool)


def _is_real(v):
    return isinstance(v, numbers.Real) and not isinstance(v, bool) and math.isfinite(v)


def parse_augment(params: Mapping[str, Any], layer: str) -> dict[str, Any]:
    """Check and normalise the augmentation keys of a parsed param_str dict.

    Returns {"crop": None or (h, w), "scale": None or (lo, hi), "mirror": bool, "batch_size":
    int, "ignore_label": int}; a bad value raises ValueError naming `layer` and the key.
    """

    def bad(key, want):
        return ValueError(f"{layer}: param_str key '{key}' must be {want}, got {params[key]!r}")

    crop = params["crop"]
    if crop is not None:
        pair = (crop, crop) if _is_int(crop) else crop
        if (
            not isinstance(pair, (list, tuple))
            or len(pair) != 2
            or not all(_is_int(c) and c > 0 for c in pair)
        ):
            raise bad("crop", "None, a positive int or [h, w] of positive ints")
        crop = (int(pair[0]), int(pair[1]))
    scale = params["scale"]
    if scale is not None:
        if not isinstance(scale, (list, tuple)) or len(scale) != 2:
            raise bad("scale", "None or [lo, hi] (random scale factor range)")
        if not all(_is_real(v) and v > 0 for v in scale):
            raise bad("scale", "[lo, hi] of finite numbers > 0")
        if scale[0] > scale[1]:
            raise bad("scale", "[lo, hi] with lo <= hi")
        scale = (float(scale[0]), float(scale[1]))
    if not isinstance(params["mirror"], bool):
        raise bad("mirror", "True or False")
    if not _is_int(params["batch_size"]) or params["batch_size"] < 1:
        raise bad("batch_size", "an int >= 1")
    if not _is_int(params["ignore_label"]):
        raise bad("ignore_label", "an int")
    return {
        "crop": crop,
        "scale": scale,
        "mirror": params["mirror"],
        "batch_size": int(params["batch_size"]),
        "ignore_label": int(params["ignore_label"]),
    }


def seed_words(seed: object, layer: str) -> int:
    """The order seed as the non-negative int a numpy SeedSequence takes (|seed|, as
    random.Random treats negative seeds); ValueError naming `layer` for a non-integer seed."""
    if not _is_int(seed):
        raise ValueError(
            f"{layer}: param_str key 'seed' must be an int when crop/scale/mirror are set "
            f"(it seeds the augmentation), got {seed!r}"
        )
    return abs(int(seed))
