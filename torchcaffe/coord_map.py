"""pycaffe's `caffe.coord_map`: coordinate maps between NetSpec tops, and the Crop they imply.

A map is (axis, scale, shift): coordinates in one top = scale * coordinates in the other +
shift, per spatial axis (scale and shift are float arrays: one value when the map is the same
on H and W, else (H, W)); axis is the first spatial axis minus one (1 for N x C x H x W
blobs), None for a map that passed only pass-through layers. `coord_map_from_to(a, b)` walks
back from both tops to a common ancestor as pycaffe does; each layer's own map comes from
netspec.coord.layer_map (the toolkit's coordinate rules, from caffeio.layertypes), so every
layer type the toolkit knows maps, not only pycaffe's list. Maps cover the two spatial axes
of 4-D blobs (H, W). Errors are pycaffe's types: RuntimeError for tops with no common
ancestor, AssertionError from crop() for blobs that cannot be aligned, each also a
netspec AlignmentError (a ValueError) with a note saying what to change.

The toolkit's own functions remain netspec.coord.top_map / align_offset / crop (maps from the
input image, offsets per axis).
"""

from __future__ import annotations

from collections import deque
from typing import Any

import numpy as np

from caffeio import layertypes as lt
from caffeio.errors import add_note
from netspec.builder import Function, L, Top
from netspec.coord import IDENTITY, layer_map
from netspec.errors import AlignmentError

__all__ = [
    "PASS_THROUGH_LAYERS",
    "UndefinedMapException",
    "AxisMismatchException",
    "conv_params",
    "crop_params",
    "coord_map",
    "compose",
    "inverse",
    "coord_map_from_to",
    "crop",
]

# pycaffe's list of layers that leave coordinates unchanged (kept for scripts that read it;
# coord_map itself asks caffeio.layertypes, which knows more: Concat, Softmax, ...)
PASS_THROUGH_LAYERS = [
    "AbsVal",
    "BatchNorm",
    "Bias",
    "BNLL",
    "Dropout",
    "Eltwise",
    "ELU",
    "Log",
    "LRN",
    "Exp",
    "MVN",
    "Power",
    "ReLU",
    "PReLU",
    "Scale",
    "Sigmoid",
    "Split",
    "TanH",
    "Threshold",
]


# (axis, scale, shift): axis None for a pass-through map; scale and shift numbers or (H, W) arrays
CoordMap = tuple[Any, Any, Any]


class UndefinedMapException(Exception):
    """A layer with no coordinate map (InnerProduct, global pooling, a data layer ...)."""


class AxisMismatchException(Exception):
    """Two maps over different axes were composed."""


class UnconnectedTopsError(AlignmentError, RuntimeError):
    """Two tops with no common ancestor through spatial layers (pycaffe: RuntimeError)."""


class CropAssertionError(AlignmentError, AssertionError):
    """crop() of tops that cannot be aligned (pycaffe: AssertionError)."""


def _values(params, key, default):
    v = params.get(key, default)
    return list(v) if isinstance(v, (list, tuple)) else [v]


def conv_params(fn: Function) -> tuple[int, np.ndarray, np.ndarray, np.ndarray]:
    """(axis, stride, effective kernel, pad) of a Convolution / Deconvolution / Pooling /
    Im2col Function, each an array (pycaffe's helper; kernel = (k - 1) * dilation + 1)."""
    params = fn.params.get("convolution_param", fn.params)
    ks = np.array(_values(params, "kernel_size", 1), ndmin=1)
    dilation = np.array(_values(params, "dilation", 1), ndmin=1)
    return (
        params.get("axis", 1),
        np.array(_values(params, "stride", 1), ndmin=1),
        (ks - 1) * dilation + 1,
        np.array(_values(params, "pad", 0), ndmin=1),
    )


def crop_params(fn: Function) -> tuple[int, np.ndarray]:
    """(axis, offsets) of a Crop Function, with Caffe's defaults (axis 2, offset 0)."""
    params = fn.params.get("crop_param", fn.params)
    return params.get("axis", 2), np.array(_values(params, "offset", 0), ndmin=1)


def _axis(fn, kind):
    """pycaffe's axis of a layer's map: its first spatial axis minus one, None if it passes
    coordinates through."""
    if kind == lt.CROP:
        return crop_params(fn)[0] - 1
    if kind in (lt.WINDOW, lt.UPSAMPLE) and fn.type_name != "LRN":
        return conv_params(fn)[0] if fn.type_name != "Pooling" else 1
    return None


def _check_2d(fn):
    params = fn.params.get("convolution_param", fn.params)
    for key in ("kernel_size", "stride", "pad", "dilation"):
        if len(_values(params, key, 0)) > 2:
            raise NotImplementedError(
                f"coord_map: {fn.type_name} with {key}={params[key]}: torchcaffe's coordinate "
                "maps cover the two spatial axes of 4-D blobs (H, W)"
            )


def coord_map(fn: Function) -> CoordMap:
    """(axis, scale, shift) of layer `fn` (a NetSpec Function): top = scale * bottom + shift.
    (None, 1, 0) for layers that pass coordinates through; UndefinedMapException for layers
    without a map."""
    _check_2d(fn)
    layer = fn.layer()
    layer.name = fn.tops[0].describe() if fn.tops else fn.type_name
    kind = lt.spatial_kind(layer)
    if not fn.inputs or kind in (lt.SOURCE, None):
        raise UndefinedMapException(f"{fn.type_name} has no coordinate map")
    m = layer_map(layer, [IDENTITY] * len(fn.inputs))
    if m is None:
        raise UndefinedMapException(f"{fn.type_name} has no coordinate map")
    axis = _axis(fn, kind)
    if m == IDENTITY and axis is None:
        return None, 1, 0
    (ah, bh), (aw, bw) = m
    if (ah, bh) == (aw, bw):
        return axis, np.array([float(ah)]), np.array([float(bh)])
    return axis, np.array([float(ah), float(aw)]), np.array([float(bh), float(bw)])


def compose(base_map: CoordMap, next_map: CoordMap) -> CoordMap:
    """The map `next_map` then `base_map`: scales multiply, next's shift is scaled by base's."""
    ax1, a1, b1 = base_map
    ax2, a2, b2 = next_map
    if ax1 is not None and ax2 is not None and ax1 != ax2:
        raise AxisMismatchException(f"cannot compose maps over axes {ax1} and {ax2}")
    return (ax2 if ax1 is None else ax1), a1 * a2, a1 * b2 + b1


def inverse(coord_map: CoordMap) -> CoordMap:
    """The map back: scale 1 / a, shift -b / a."""
    ax, a, b = coord_map
    return ax, 1 / a, -b / a


def _bottoms(top):
    # a Crop's second bottom only gives the size: its coordinates do not map
    inputs = top.fn.inputs
    return inputs[:1] if top.fn.type_name == "Crop" else inputs


def _ancestor_maps(start):
    """Yield (top, map from top's coordinates to start's), nearest first, through layers
    that have maps."""
    maps = {start: (None, 1, 0)}
    queue = deque([start])
    while queue:
        top = queue.popleft()
        yield top, maps[top]
        try:
            step = coord_map(top.fn)
        except UndefinedMapException:
            continue
        for bottom in _bottoms(top):
            if bottom not in maps:
                maps[bottom] = compose(maps[top], step)
                queue.append(bottom)


def coord_map_from_to(top_from: Top, top_to: Top) -> CoordMap:
    """(axis, scale, shift) taking coordinates of `top_from` to those of `top_to`, through
    their nearest common ancestor. RuntimeError when they have none through spatial layers."""
    from_maps = dict(_ancestor_maps(top_from))
    for top, to_map in _ancestor_maps(top_to):
        if top in from_maps:
            return compose(to_map, inverse(from_maps[top]))
    e = UnconnectedTopsError(
        "Could not compute map between tops; are they connected by spatial layers?"
    )
    raise add_note(
        e,
        f"coord_map_from_to({top_from.describe()}, {top_to.describe()}): no common ancestor "
        "reached through layers with coordinate maps (InnerProduct, global pooling and data "
        "layers have none)",
    )


def crop(top_from: Top, top_to: Top) -> Top:
    """A Crop layer cutting `top_from` to `top_to`'s size at the offset their coordinate map
    gives (crop_param axis and offset); AssertionError when the map's scale is not 1 or its
    shift is positive or fractional."""
    ax, a, b = coord_map_from_to(top_from, top_to)
    names = f"crop({top_from.describe()}, {top_to.describe()})"
    checks = (
        (
            np.all(a == 1),
            f"scale mismatch on crop (a = {a})",
            "the two tops are at different strides: upsample or pool one to the other's",
        ),
        (
            np.all(b <= 0),
            f"cannot crop negative offset (b = {b})",
            "the first top would have to grow: crop the other way round, or pad it more",
        ),
        (
            np.all(np.round(b) == b),
            f"cannot crop noninteger offset (b = {b})",
            "the grids are offset by a fraction of a pixel: change a pad or kernel size",
        ),
    )
    for ok, message, hint in checks:
        if not ok:
            raise add_note(CropAssertionError(message), f"{names}: {hint}")
    axis = 2 if ax is None else ax + 1
    offset = [int(v) for v in -np.round(np.atleast_1d(b))]
    return L.Crop(top_from, top_to, crop_param=dict(axis=axis, offset=offset))
