"""Inference on images larger than memory allows in one pass: overlapping tiles, exact interior.

    from solvers.evaluation.tiled import tiled_forward
    scores = tiled_forward(net, image, tile=512)   # image C x H x W -> scores K x H x W

An FCN's output pixel y depends only on the input within its receptive field [y + lo, y + hi]
(`receptive_field`, computed from the net's layers) and on the phase of y relative to the
pooling grids (period `align`, the product of strides: 32 for the VGG FCNs). Each tile is run
with a margin of at least max(-lo, hi) real image pixels on every side that has image there,
and starts at a multiple of `align`, so its central part sees exactly what the whole-image run
sees: the stitched result equals the whole-image output (up to float rounding), not only in
the interior but also at the image's own borders (a tile touching the border sees the same
padding). Peak memory is that of one (tile + 2 margin) pass.
"""

from __future__ import annotations

import math
import os
from fractions import Fraction
from typing import Any

import numpy as np

from caffeio import layertypes as lt


class TilingError(ValueError):
    """A net or request that tiling cannot serve; the message says why and what to do."""


class NonFiniteScores(FloatingPointError):
    """The net's scores hold NaN/inf: an argmax of them would be a made-up label map."""


def _square(lp):
    """(kernel, pad, stride, dilation) of a windowed layer (caffeio.layertypes), the same on
    both axes; TilingError otherwise."""
    (h, w) = lt.window_geometry(lp, error=TilingError)
    if h != w:
        raise TilingError(
            f"layer '{lp.name}': tiling supports square kernels, pads and strides only "
            f"(H {tuple(h)}, W {tuple(w)} as kernel, stride, pad, dilation)"
        )
    return h.kernel, h.pad, h.stride, h.dilation


def receptive_field(net_param: Any, input_blob: str = "data") -> dict:
    """{blob: (jump, lo, hi)} for a caffe_pb2.NetParameter: pixel y of the blob depends on input
    pixels [jump*y + lo, jump*y + hi] (bounds, Fractions) along each spatial axis.

    Layers are read by their spatial kind (caffeio.layertypes): windows (Convolution, Pooling,
    Im2col, LRN WITHIN_CHANNEL) widen the field, Deconvolution and Crop move it, pointwise
    layers join their bottoms' fields; layers whose pixels read the whole map (MVN, global
    pooling, ...) raise TilingError. Loss, accuracy and sink layers are skipped."""
    rf = {input_blob: (Fraction(1), Fraction(0), Fraction(0))}
    for lp in net_param.layer:
        ins = [rf[b] for b in lp.bottom if b in rf]
        if not ins or lp.type in ("Input",):
            continue
        row = lt.TYPES.get(lp.type)
        if lp.type.endswith("Loss") or (row and row.role in (lt.LOSS, lt.METRIC, lt.SINK)):
            continue
        kind = lt.spatial_kind(lp)
        if kind not in _FIELD:
            raise TilingError(f"layer '{lp.name}' of type {lp.type}: unknown receptive field")
        out = _FIELD[kind](lp, ins)
        for t in lp.top:
            rf[t] = out
    return rf


def _window_field(lp, ins):
    """A window layer widens the field of its (first) bottom."""
    j, lo, hi = ins[0]
    if lp.type == "Pooling" and lp.pooling_param.global_pooling:
        raise TilingError(f"layer '{lp.name}': global pooling sees the whole image")
    k, p, s, d = _square(lp)
    ext = d * (k - 1) + 1
    return j * s, lo - j * p, hi + j * (ext - 1 - p)


def _upsample_field(lp, ins):
    """Deconvolution: output y takes inputs x with (y + p - ext + 1)/s <= x <= (y + p)/s."""
    j, lo, hi = ins[0]
    k, p, s, d = _square(lp)
    ext = d * (k - 1) + 1
    return j / s, lo + j * Fraction(p - ext + 1, s) - j, hi + j * Fraction(p, s)


def _crop_field(lp, ins):
    """Crop shifts the field by its offset (equal on H and W)."""
    j, lo, hi = ins[0]
    _, offs = lt.crop_offsets(lp, error=TilingError)
    if offs[2] != offs[3]:
        raise TilingError(f"layer '{lp.name}': tiling supports equal H and W crops only")
    o = offs[2]
    return j, lo + j * o, hi + j * o


def _pointwise_field(lp, ins):
    """A pointwise layer joins its bottoms' fields (all at one resolution)."""
    j = ins[0][0]
    if any(x[0] != j for x in ins):
        raise TilingError(f"layer '{lp.name}': bottoms at different resolutions")
    return j, min(x[1] for x in ins), max(x[2] for x in ins)


def _grid_field(lp, ins):
    raise TilingError(
        f"layer '{lp.name}' of type {lp.type}: each output pixel reads the whole map, "
        "so tiles cannot reproduce the whole-image output"
    )


# the receptive field of a layer's tops by its spatial kind (caffeio.layertypes)
_FIELD = {
    lt.WINDOW: _window_field,
    lt.UPSAMPLE: _upsample_field,
    lt.CROP: _crop_field,
    lt.POINTWISE: _pointwise_field,
    lt.GRID: _grid_field,
}


def tiling_geometry(
    net_param: Any, input_blob: str = "data", output_blob: str = "score"
) -> tuple[int, int]:
    """(margin, align) in input pixels: the receptive-field radius of the output (rounded up to
    a multiple of align) and the period of the net's pooling grids (lcm of integer jumps)."""
    rf = receptive_field(net_param, input_blob)
    if output_blob not in rf:
        raise TilingError(f"blob '{output_blob}' does not depend on '{input_blob}'")
    j, lo, hi = rf[output_blob]
    if j != 1:
        raise TilingError(f"'{output_blob}' is not at the input's resolution (jump {j})")
    align = 1
    for jj, _, _ in rf.values():
        if jj.denominator == 1:
            align = math.lcm(align, int(jj))
    radius = math.ceil(max(-lo, hi, 0))
    margin = -(-radius // align) * align
    return margin, align


def tiled_forward(
    net: Any,
    image: Any,
    tile: int = 512,
    margin: int | None = None,
    input_blob: str = "data",
    output_blob: str = "score",
    labels: bool = False,
    net_param: Any = None,
    finite: bool = False,
) -> np.ndarray:
    """Run `net` (deploy, TEST phase) on `image` (C x H x W float32, preprocessed) tile by tile.

    `image` may also be an object with `.shape` (C, H, W), `.ndim` and `.window(y0, y1, x0, x1)`
    -> 1 x C x h x w float32: each window is then made on demand (no full-size float copy).

    tile: side of the part of the output each pass keeps (rounded up to the net's alignment);
    margin: context around it (default: the output's receptive-field radius, which makes the
    result equal to the whole-image forward). Returns K x H x W scores, or H x W uint8/int64
    labels with labels=True (argmax per tile: far less memory for huge images).
    net_param: the net's NetParameter (or prototxt path), whose layers give the margin and the
    alignment; optional for torchcaffe nets (they keep theirs), needed for real pycaffe nets.
    finite: with labels, NonFiniteScores when a tile's scores hold NaN/inf (no made-up labels).
    """
    if not hasattr(image, "window"):
        image = np.asarray(image, np.float32)
    if image.ndim != 3:
        raise TilingError(f"image must be C x H x W, got shape {image.shape}")
    need, align = tiling_geometry(_definition(net, net_param), input_blob, output_blob)
    margin = need if margin is None else int(margin)
    if margin % align:
        raise TilingError(f"margin {margin} must be a multiple of the net's alignment {align}")
    tile = -(-int(tile) // align) * align
    if tile <= 0:
        raise TilingError(f"tile must be positive, got {tile}")
    _, H, W = image.shape
    out = None
    for y0 in range(0, H, tile):
        for x0 in range(0, W, tile):
            wy0, wx0 = max(0, y0 - margin), max(0, x0 - margin)
            wy1, wx1 = min(H, y0 + tile + margin), min(W, x0 + tile + margin)
            score = _forward_window(net, image, (wy0, wy1, wx0, wx1), input_blob, output_blob)
            ty1, tx1 = min(H, y0 + tile), min(W, x0 + tile)
            part = score[:, y0 - wy0 : ty1 - wy0, x0 - wx0 : tx1 - wx0]
            if out is None:
                out = _output(score.shape[0], H, W, labels)
            if labels:
                if finite and not np.isfinite(part).all():
                    raise NonFiniteScores(f"'{output_blob}' holds NaN/inf values")
                out[y0:ty1, x0:tx1] = part.argmax(0)
            else:
                out[:, y0:ty1, x0:tx1] = part
    return out


def _definition(net, net_param):
    """The NetParameter tiling reads: net_param (a NetParameter or a prototxt path), else the
    one a torchcaffe net keeps."""
    param = net_param if net_param is not None else getattr(net, "_param", None)
    if isinstance(param, (str, os.PathLike)):
        import caffeio

        param = caffeio.read_net(str(param))
    if param is None:
        raise TilingError(
            "tiled_forward: pass net_param= (the deploy prototxt): this net does not expose its "
            "definition (real pycaffe), and the margin comes from its layers"
        )
    return param


def _forward_window(net, image, box, input_blob, output_blob):
    """The net's output_blob (K x h x w) on the image window box = (y0, y1, x0, x1)."""
    wy0, wy1, wx0, wx1 = box
    window = (
        image.window(wy0, wy1, wx0, wx1)
        if hasattr(image, "window")
        else image[None, :, wy0:wy1, wx0:wx1]
    )
    # reshape, then fill: pycaffe's forward(**inputs) does not reshape its inputs
    net.blobs[input_blob].reshape(*window.shape)
    net.blobs[input_blob].data[...] = window
    score = net.forward()[output_blob][0]
    if score.shape[1:] != window.shape[2:]:
        raise TilingError(
            f"'{output_blob}' has shape {score.shape[1:]} for a {window.shape[2:]} "
            "input: tiling needs an output at the input's size (a deploy FCN)"
        )
    return score


def _output(channels, H, W, labels):
    """The stitched output: H x W labels (uint8 up to 256 classes) or K x H x W scores."""
    if labels:
        return np.zeros((H, W), np.uint8 if channels <= 256 else np.int64)
    return np.zeros((channels, H, W), np.float32)
