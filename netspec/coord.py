"""Coordinate maps and computed Crop offsets (why FCN crops by 19, 5/27, 5/9/31, 18).

Every blob gets, per spatial axis (H, W), an affine map from input-image coordinates to its own
coordinates, y = a * x + b, with exact fractions. All tops of input layers (Input, Python data,
any layer without bottoms) share the image frame (a=1, b=0): data layers emit aligned blobs.
Per layer (ext = dilation * (kernel - 1) + 1, the effective kernel):

    Convolution / Pooling   a' = a / s,  b' = (b + p - (ext - 1) / 2) / s
    (and Im2col, LRN WITHIN_CHANNEL: the layer kinds 'window' of caffeio.layertypes)
    Deconvolution           a' = a * s,  b' = s * b + (ext - 1) / 2 - p
    Crop                    a' = a,      b' = b - offset
    pass-through layers     unchanged (kinds 'pointwise' and 'grid': ReLU, Dropout, Scale,
                            Eltwise, Concat over channels, BatchNorm, LRN, MVN, Softmax ...)

Crop(A, B) cuts A to B's size from `offset`, so aligning A to B needs equal scales a and
offset = b_A - b_B (in their own pixels), a non-negative integer. Anything else (different
scales, fractional or negative offset, a blob with no spatial map such as an InnerProduct
output) is an AlignmentError naming both blobs.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from fractions import Fraction
from typing import TYPE_CHECKING

from caffeio import layertypes as lt

from .errors import AlignmentError, ShapeError

if TYPE_CHECKING:
    from caffeio import caffe_pb2

    from .builder import Function, Top

# ((aH, bH), (aW, bW)): y = a * x + b per spatial axis, from image to blob pixels
CoordMap = tuple[tuple[Fraction, Fraction], tuple[Fraction, Fraction]]

IDENTITY = ((Fraction(1), Fraction(0)), (Fraction(1), Fraction(0)))


def layer_map(
    layer: caffe_pb2.LayerParameter, bottom_maps: Sequence[CoordMap | None]
) -> CoordMap | None:
    """Coordinate map of `layer`'s tops given its bottoms' maps (list); None = not spatial.

    Returns ((aH, bH), (aW, bW)) with Fractions. The layer's spatial kind and geometry come
    from caffeio.layertypes. Raises AlignmentError when a layer that joins its bottoms
    position by position (Eltwise, Concat over channels) gets blobs that are not aligned,
    ShapeError for geometry Caffe refuses.
    """
    t = layer.type
    kind = lt.spatial_kind(layer)
    if not bottom_maps:  # data layers (and layers of unknown types without bottoms)
        return IDENTITY if kind in (lt.SOURCE, None) else None
    m = bottom_maps[0]
    if kind in (lt.POINTWISE, lt.GRID):
        known = [bm for bm in bottom_maps if bm is not None]
        if lt.TYPES[t].joins and any(bm != m for bm in known):
            raise AlignmentError(
                f"layer '{layer.name}' ({t}) joins blobs {list(layer.bottom)} whose coordinate "
                f"maps differ ({', '.join(describe(bm) for bm in bottom_maps)}): crop them to a "
                "common frame first (netspec.crop)"
            )
        return m
    if m is None:
        return None
    if kind == lt.WINDOW:
        out = []
        for (a, b), w in zip(m, lt.window_geometry(layer, error=ShapeError)):
            if w.kernel is None:  # global pooling: one window, no grid
                return None
            out.append((a / w.stride, (b + w.pad - Fraction(w.extent - 1, 2)) / w.stride))
        return tuple(out)
    if kind == lt.UPSAMPLE:
        out = []
        for (a, b), w in zip(m, lt.conv_geometry(layer, error=ShapeError)):
            out.append((a * w.stride, w.stride * b + Fraction(w.extent - 1, 2) - w.pad))
        return tuple(out)
    if kind == lt.CROP:
        _, (_, _, oh, ow) = lt.crop_offsets(layer, error=ShapeError)
        return ((m[0][0], m[0][1] - oh), (m[1][0], m[1][1] - ow))
    return None


def describe(m: CoordMap | None) -> str:
    """Human-readable map: 'x * 1/16 + 23/32' (H and W shown once when equal)."""
    if m is None:
        return "no spatial map"

    def one(a, b):
        sb = f" {'+' if b >= 0 else '-'} {abs(b)}" if b else ""
        return f"x * {a}{sb}"

    return one(*m[0]) if m[0] == m[1] else f"H: {one(*m[0])}, W: {one(*m[1])}"


def blob_maps(net: caffe_pb2.NetParameter) -> OrderedDict[str, CoordMap | None]:
    """OrderedDict blob name -> coordinate map for every top of a NetParameter (layer order)."""
    maps = OrderedDict()
    for layer in net.layer:
        bm = []
        for b in layer.bottom:
            if b not in maps:
                raise AlignmentError(
                    f"layer '{layer.name}': bottom '{b}' is produced by no layer above it"
                )
            bm.append(maps[b])
        m = layer_map(layer, bm)
        for t in layer.top:
            maps[t] = m
    return maps


def align_offset(
    map_from: CoordMap | None,
    map_to: CoordMap | None,
    name_from: str = "A",
    name_to: str = "B",
) -> tuple[int, ...]:
    """Crop offsets (H, W) that cut blob `name_from` to `name_to`'s frame; AlignmentError if none.

    Both maps are relative to the input image. The crop keeps from[offset : offset + size(to)].
    """
    what = f"cannot crop '{name_from}' to '{name_to}'"
    if map_from is None or map_to is None:
        which = name_from if map_from is None else name_to
        raise AlignmentError(
            f"{what}: '{which}' has no spatial coordinate map (it comes through a non-spatial "
            "layer such as InnerProduct or global pooling)"
        )
    offsets = []
    for axis, (mf, mt) in zip("HW", zip(map_from, map_to)):
        (af, bf), (at, bt) = mf, mt
        if af != at:
            raise AlignmentError(
                f"{what}: they are at different scales on {axis} ('{name_from}' is the input "
                f"{describe(map_from)}, '{name_to}' is {describe(map_to)}); upsample or pool one "
                "of them to the other's stride first"
            )
        off = bf - bt  # both b are in the blobs' own pixels (same scale)
        if off.denominator != 1 or off < 0:
            raise AlignmentError(
                f"{what}: the offset on {axis} would be {off} pixels, not a non-negative integer "
                f"('{name_from}': {describe(map_from)}; '{name_to}': {describe(map_to)}); change "
                "a pad or kernel so the grids line up, or crop the other way round"
            )
        offsets.append(int(off))
    return tuple(offsets)


def top_map(top: Top, _memo: dict[Function, CoordMap | None] | None = None) -> CoordMap | None:
    """Coordinate map of a builder Top (netspec.builder), composed from the graph's roots."""
    memo = {} if _memo is None else _memo
    fn = top.fn
    if fn not in memo:
        bottom_maps = [top_map(t, memo) for t in fn.inputs]
        layer = fn.layer()
        layer.name = fn.tops[0].describe() if fn.tops else fn.type_name
        layer.bottom.extend(t.describe() for t in fn.inputs)
        memo[fn] = layer_map(layer, bottom_maps)
    return memo[fn]


def crop(top_from: Top, top_to: Top) -> Top:
    """Crop layer cutting `top_from` to `top_to`'s size at the offset the coordinate maps give.

    Emits crop_param { axis: 2 offset: k } (two offsets when H and W differ). Raises
    AlignmentError naming both blobs when they cannot be aligned.
    """
    from .builder import L

    offsets = align_offset(
        top_map(top_from), top_map(top_to), top_from.describe(), top_to.describe()
    )
    offset = [offsets[0]] if offsets[0] == offsets[1] else list(offsets)
    return L.Crop(top_from, top_to, crop_param=dict(axis=2, offset=offset))
