"""Sliding-window evaluation, as the crop-trained ResNet FCNs are evaluated on large images.

    from solvers.evaluation.sliding import sliding_forward
    scores = sliding_forward(net, image, window=321, overlap=1/3)   # C x H x W -> K x H x W

The net (pycaffe API on either engine: net.blobs[...].reshape, .data, net.forward(); a net
without a data layer, e.g. a deploy net) sees windows of the training crop size. Windows start
every `stride` = ceil(window * (1 - overlap)) pixels, the last one flush with the image's far
edge, so every pixel is covered; each output pixel is the mean of the net's scores (the output
blob's values, e.g. the upsampled class scores) over the windows that cover it. Where the image
is smaller than the window it is padded to the window with 0 (after mean subtraction, i.e. with
the mean colour) at the bottom/right, as at training time, and the output cropped back;
pad=False runs a smaller window there instead (with a window at least the image's size that is
exactly the whole-image forward).

Unlike solvers.evaluation.tiled (exact: tiles plus the receptive-field margin reproduce the
whole-image output), this changes the result: each window sees only its own context, as during
training.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np


class SlidingError(ValueError):
    """A request sliding_forward cannot serve; the message says why and what to do."""


def _pair(value, what):
    h, w = (value, value) if np.isscalar(value) else tuple(value)
    h, w = int(h), int(w)
    if h < 1 or w < 1:
        raise SlidingError(f"{what} must be positive, got {value!r}")
    return h, w


def window_starts(length: int, window: int, stride: int) -> list[int]:
    """Start offsets of windows of size `window` every `stride` pixels covering 0..length-1;
    the last one ends at `length` (one window at 0 when the image is no longer than it)."""
    if length <= window:
        return [0]
    n = -(-(length - window) // stride) + 1
    return sorted({min(i * stride, length - window) for i in range(n)})


def window_stride(window: int, overlap: float) -> int:
    """Stride between window starts for an overlap fraction 0 <= overlap < 1 (at least 1)."""
    if not 0 <= overlap < 1:
        raise SlidingError(f"overlap must be in [0, 1), got {overlap!r}")
    return max(1, math.ceil(window * (1 - overlap)))


def sliding_forward(
    net: Any,
    image: np.ndarray,
    window: int | tuple[int, int] = 321,
    overlap: float = 1 / 3,
    input_blob: str = "data",
    output_blob: str | Sequence[str] = "score",
    pad: bool = True,
) -> np.ndarray | list[np.ndarray]:
    """Scores of `image` (C x H x W float32, preprocessed) averaged over sliding windows.

    window: side (int) or (h, w) of each window, e.g. the training crop (321); overlap: the
    fraction of a window shared with the next (stride = ceil(window * (1 - overlap))); pad:
    bring windows to the full window size with 0 where the image is smaller (default), else run
    the smaller window. output_blob: a blob name -> K x H x W float32, or a list of names -> list
    of such arrays (one pass per window for all of them). Every output must be at the input's
    size (a deploy FCN: upsampled and cropped scores).
    """
    image = np.asarray(image, np.float32)
    if image.ndim != 3:
        raise SlidingError(f"image must be C x H x W, got shape {image.shape}")
    single = isinstance(output_blob, str)
    blobs = [output_blob] if single else list(output_blob)
    win_h, win_w = _pair(window, "window")
    c, H, W = image.shape
    ys = window_starts(H, win_h, window_stride(win_h, overlap))
    xs = window_starts(W, win_w, window_stride(win_w, overlap))
    in_h = win_h if pad else min(win_h, H)
    in_w = win_w if pad else min(win_w, W)
    sums = [None] * len(blobs)
    count = np.zeros((H, W), np.float32)
    buf = np.zeros((1, c, in_h, in_w), np.float32)
    for y0 in ys:
        for x0 in xs:
            y1, x1 = min(H, y0 + in_h), min(W, x0 + in_w)
            h, w = y1 - y0, x1 - x0
            buf[...] = 0
            buf[0, :, :h, :w] = image[:, y0:y1, x0:x1]
            # reshape, then fill (pycaffe's forward(**inputs) does not reshape)
            net.blobs[input_blob].reshape(*buf.shape)
            net.blobs[input_blob].data[...] = buf
            net.forward()
            for k, b in enumerate(blobs):
                if b not in net.blobs:
                    raise SlidingError(f"the net has no blob '{b}'")
                score = net.blobs[b].data[0]
                if score.ndim != 3 or score.shape[1:] != buf.shape[2:]:
                    raise SlidingError(
                        f"'{b}' has shape {tuple(score.shape)} for a {in_h}x{in_w} window: "
                        "sliding windows need a K x h x w output at the input's size (a deploy "
                        "FCN)"
                    )
                if sums[k] is None:
                    sums[k] = np.zeros((score.shape[0], H, W), np.float32)
                sums[k][:, y0:y1, x0:x1] += score[:, :h, :w]
            count[y0:y1, x0:x1] += 1
    out = [s / count for s in sums]
    return out[0] if single else out
