"""Coordinate maps and computed Crop offsets (why FCN crops by 19, 5/27, 5/9/31, 18).

Every blob gets, per spatial axis (H, W), an affine map from input-image coordinates to its own
coordinates, y = a * x + b, with exact fractions. All tops of input layers (Input, Python data,
any layer without bottoms) share the image frame (a=1, b=0): data layers emit aligned blobs.
Per layer (ext = dilation * (kernel - 1) + 1, the effective kernel):

    Convolution / Pooling   a' = a / s,  b' = (b + p - (ext - 1) / 2) / s
    Deconvolution           a' = a * s,  b' = s * b + (ext - 1) / 2 - p
    Crop                    a' = a,      b' = b - offset
    pass-through layers     unchanged (ReLU, Dropout, Scale, Eltwise, Concat, BatchNorm, LRN ...)

Crop(A, B) cuts A to B's size from `offset`, so aligning A to B needs equal scales a and
offset = b_A - b_B (in their own pixels), a non-negative integer. Anything else (different
scales, fractional or negative offset, a blob with no spatial map such as an InnerProduct
output) is an AlignmentError naming both blobs.
"""

from collections import OrderedDict
from fractions import Fraction

from .errors import AlignmentError, ShapeError

PASS_THROUGH = frozenset(
    """ReLU PReLU ELU Sigmoid TanH AbsVal BNLL Power Exp Log Swish Clip Threshold Dropout Scale Bias
    Eltwise Concat BatchNorm LRN MVN Softmax Split Silence""".split()
)
# Layers whose tops are not image-shaped: their blobs get no map (None).
_NO_MAP = frozenset("InnerProduct Flatten Reshape ArgMax Accuracy SoftmaxWithLoss".split())

IDENTITY = ((Fraction(1), Fraction(0)), (Fraction(1), Fraction(0)))


def _hw(scalar_or_list, h, w, default):
    """Caffe's square vs _h/_w forms -> (h value, w value)."""
    if h is not None and w is not None:
        return h, w
    vals = list(scalar_or_list) if isinstance(scalar_or_list, (list, tuple)) else scalar_or_list
    if isinstance(vals, list):
        if not vals:
            return default, default
        return (vals[0], vals[0]) if len(vals) == 1 else (vals[0], vals[1])
    return (vals, vals) if vals is not None else (default, default)


def conv_geometry(layer):
    """(kernel, stride, pad, dilation) per axis [(H), (W)] of a Convolution/Deconvolution layer."""
    cp = layer.convolution_param
    k = _hw(
        list(cp.kernel_size),
        cp.kernel_h if cp.HasField("kernel_h") else None,
        cp.kernel_w if cp.HasField("kernel_w") else None,
        None,
    )
    s = _hw(
        list(cp.stride),
        cp.stride_h if cp.HasField("stride_h") else None,
        cp.stride_w if cp.HasField("stride_w") else None,
        1,
    )
    p = _hw(
        list(cp.pad),
        cp.pad_h if cp.HasField("pad_h") else None,
        cp.pad_w if cp.HasField("pad_w") else None,
        0,
    )
    d = _hw(list(cp.dilation), None, None, 1)
    return _checked(layer, [(k[i], s[i], p[i], d[i]) for i in range(2)])


def _checked(layer, geo):
    """Geometry with every kernel, stride and dilation >= 1, else ShapeError naming the layer
    (a stride of 0 would divide by zero here and mislead every layer above)."""
    for axis, (k, s, _, d) in zip("HW", geo):
        for what, v in (("kernel size", k), ("stride", s), ("dilation", d)):
            if v is not None and v < 1:
                raise ShapeError(
                    f"layer '{layer.name}' ({layer.type}): {what} {v} on {axis}; it must be "
                    ">= 1 (fix that layer's parameters)"
                )
    return geo


def pool_geometry(layer):
    """(kernel, stride, pad, 1) per axis of a Pooling layer (global pooling -> kernel None)."""
    pp = layer.pooling_param
    if pp.global_pooling:
        return [(None, 1, 0, 1)] * 2
    k = _hw(
        pp.kernel_size if pp.HasField("kernel_size") else None,
        pp.kernel_h if pp.HasField("kernel_h") else None,
        pp.kernel_w if pp.HasField("kernel_w") else None,
        None,
    )
    s = _hw(
        pp.stride,
        pp.stride_h if pp.HasField("stride_h") else None,
        pp.stride_w if pp.HasField("stride_w") else None,
        1,
    )
    p = _hw(
        pp.pad,
        pp.pad_h if pp.HasField("pad_h") else None,
        pp.pad_w if pp.HasField("pad_w") else None,
        0,
    )
    return _checked(layer, [(k[i], s[i], p[i], 1) for i in range(2)])


def crop_offsets(layer):
    """Per spatial axis (H, W) offset a Crop layer (axis <= 2) applies; None if it crops N/C."""
    cp = layer.crop_param
    if not -4 <= cp.axis < 4:
        raise ShapeError(
            f"layer '{layer.name}' (Crop): crop_param.axis {cp.axis} is beyond the 4 axes of "
            "N x C x H x W blobs: use 2 (crop H and W) or another axis in -4..3"
        )
    axis = cp.axis if cp.axis >= 0 else cp.axis + 4
    offs = list(cp.offset)
    per_axis = {}
    for ax in range(axis, 4):
        if not offs:
            per_axis[ax] = 0
        elif len(offs) == 1:
            per_axis[ax] = offs[0]
        else:
            per_axis[ax] = offs[ax - axis] if ax - axis < len(offs) else 0
    return per_axis.get(2, 0), per_axis.get(3, 0)


def layer_map(layer, bottom_maps):
    """Coordinate map of `layer`'s tops given its bottoms' maps (list); None = not spatial.

    Returns ((aH, bH), (aW, bW)) with Fractions. Raises AlignmentError when a pass-through
    layer with several bottoms (Eltwise, Concat) joins blobs that are not aligned.
    """
    t = layer.type
    if not bottom_maps:
        return IDENTITY
    m = bottom_maps[0]
    if t in PASS_THROUGH:
        known = [bm for bm in bottom_maps if bm is not None]
        if t in ("Eltwise", "Concat") and any(bm != m for bm in known):
            raise AlignmentError(
                f"layer '{layer.name}' ({t}) joins blobs {list(layer.bottom)} whose coordinate "
                f"maps differ ({', '.join(describe(bm) for bm in bottom_maps)}): crop them to a "
                "common frame first (netspec.crop)"
            )
        return m
    if m is None or t in _NO_MAP:
        return None
    if t in ("Convolution", "Pooling"):
        geo = conv_geometry(layer) if t == "Convolution" else pool_geometry(layer)
        out = []
        for (a, b), (k, s, p, d) in zip(m, geo):
            if k is None:
                return None
            ext = d * (k - 1) + 1
            out.append((a / s, (b + p - Fraction(ext - 1, 2)) / s))
        return tuple(out)
    if t == "Deconvolution":
        out = []
        for (a, b), (k, s, p, d) in zip(m, conv_geometry(layer)):
            ext = d * (k - 1) + 1
            out.append((a * s, s * b + Fraction(ext - 1, 2) - p))
        return tuple(out)
    if t == "Crop":
        oh, ow = crop_offsets(layer)
        return ((m[0][0], m[0][1] - oh), (m[1][0], m[1][1] - ow))
    return None


def describe(m):
    """Human-readable map: 'x * 1/16 + 23/32' (H and W shown once when equal)."""
    if m is None:
        return "no spatial map"

    def one(a, b):
        sb = f" {'+' if b >= 0 else '-'} {abs(b)}" if b else ""
        return f"x * {a}{sb}"

    return one(*m[0]) if m[0] == m[1] else f"H: {one(*m[0])}, W: {one(*m[1])}"


def blob_maps(net):
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


def align_offset(map_from, map_to, name_from="A", name_to="B"):
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


def top_map(top, _memo=None):
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


def crop(top_from, top_to):
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
