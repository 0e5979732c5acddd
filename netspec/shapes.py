"""Shape inference with Caffe's rules, for a NetParameter and given input sizes (no torch).

    shapes.infer(net, {"data": (1, 3, 500, 500)})   # OrderedDict blob -> (N, C, H, W)
    shapes.infer(net, image_size=(500, 500))         # Input layers and Python data layers
    shapes.param_shapes(net, image_size=(224, 224))  # OrderedDict layer -> [weight, bias shapes]

Rules (docs/layers.md; geometry, sizes and parameter shapes from caffeio.layertypes):
Convolution (in + 2p - ext) / s + 1 with ext = d(k-1)+1 and C++'s truncating division;
Pooling ceil((in + 2p - k) / s) + 1, minus one when the layer pads (on either axis) and the
last window would start at or beyond in + p (round_mode FLOOR floors instead); Deconvolution
s(in - 1) + ext - 2p; Crop cuts bottom 0 to bottom 1's size from `offset` on every axis >=
`axis` and fails when the window runs past bottom 0; Concat adds along `axis`; Eltwise needs
equal shapes; InnerProduct flattens from `axis`; the types whose tops all have bottom 0's
shape (layertypes' same_shape: ReLU, BatchNorm, Scale, Split, ...) keep it. Layer phases
(include/exclude) are not filtered: every layer counts.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING

from caffeio import layertypes as lt

from . import datatops
from .errors import ShapeError

if TYPE_CHECKING:
    from caffeio import caffe_pb2

Shape = tuple[int, ...]


class LayerShapes:
    """One layer's inferred shapes: `bottoms` / `tops` are lists of tuples; `rule` explains H."""

    def __init__(
        self,
        layer: caffe_pb2.LayerParameter,
        bottoms: list[Shape | None],
        tops: list[Shape | None],
        rule: str = "",
    ) -> None:
        self.layer = layer
        self.bottoms = bottoms
        self.tops = tops
        self.rule = rule


def _where(layer):
    return f"layer '{layer.name}' ({layer.type})"


def _input_layer_shapes(layer, input_shapes, image_size):
    """Shapes of an Input layer's tops: its shape fields (H, W from image_size when given),
    overridden by input_shapes."""
    dims = [tuple(int(d) for d in s.dim) for s in layer.input_param.shape]
    if len(dims) not in (1, len(layer.top)):
        raise ShapeError(
            f"{_where(layer)}: {len(dims)} shapes for {len(layer.top)} tops (give one or "
            "one per top)"
        )
    out = []
    for i, top in enumerate(layer.top):
        shape = dims[i if len(dims) > 1 else 0]
        if image_size is not None and len(shape) >= 2:
            shape = shape[:-2] + tuple(image_size)
        out.append(tuple(input_shapes.get(top, shape)))
    return out


def _python_data_shapes(layer, input_shapes, image_size, unknown_ok):
    """Shapes of a Python data layer's tops at image_size (netspec.datatops), overridden by
    input_shapes; None for tops it cannot tell when unknown_ok."""
    err = None
    try:
        known = datatops.data_top_shapes(layer, *image_size)
    except ValueError as e:
        known, err = {}, e
    out = []
    for top in layer.top:
        if top in input_shapes:
            out.append(tuple(input_shapes[top]))
        elif top in known:
            out.append(known[top])
        elif unknown_ok:
            out.append(None)
        else:
            raise ShapeError(str(err) if err else f"{_where(layer)}: no shape known for '{top}'")
    return out


def _input_shapes(layer, input_shapes, image_size, unknown_ok=False):
    if layer.type == "Input":
        return _input_layer_shapes(layer, input_shapes, image_size)
    if layer.type == "Python" and image_size is not None:
        return _python_data_shapes(layer, input_shapes, image_size, unknown_ok)
    if unknown_ok:
        return [tuple(input_shapes[t]) if t in input_shapes else None for t in layer.top]
    missing = [t for t in layer.top if t not in input_shapes]
    if missing:
        raise ShapeError(
            f"{_where(layer)} produces {missing} from outside the net: pass their shapes "
            "(input_shapes={'name': (N, C, H, W)}) or an image size"
        )
    return [tuple(input_shapes[t]) for t in layer.top]


def _spatial(layer, b, geo, kind):
    n, c, h, w = b
    sizes, rules = [], []
    if kind == "pool":
        ceil = lt.pool_ceil(layer)
        pooled = lt.pool_out_shape((h, w), geo, ceil)
    for i, (size, (k, s, p, d)) in enumerate(zip((h, w), geo)):
        if kind == "pool":
            if k is None:  # global pooling
                sizes.append(1)
                rules.append("global")
                continue
            out = pooled[i]
            rule = f"{'ceil' if ceil else 'floor'}(({size} + 2*{p} - {k}) / {s}) + 1"
            if out != lt.pool_out_size(size, k, s, p, ceil, clip=False):
                rule += " - 1 (last window starts in the padding)"
        elif kind == "conv":
            ext = d * (k - 1) + 1
            out = lt.conv_out_size(size, k, s, p, d)
            rule = f"floor(({size} + 2*{p} - {ext}) / {s}) + 1"
            if size + 2 * p < ext:
                rule = f"({size} + 2*{p} - {ext}) / {s} + 1, the division truncated toward 0"
        else:
            ext = d * (k - 1) + 1
            out = lt.deconv_out_size(size, k, s, p, d)
            rule = f"{s}*({size} - 1) + {ext} - 2*{p}"
        if out <= 0:
            raise ShapeError(
                f"{_where(layer)}: input {h}x{w} is too small (output size {out} = {rule}); "
                "use a larger input or more padding"
            )
        sizes.append(out)
        rules.append(f"{rule} = {out}")
    return sizes, rules[0] if rules[0] == rules[1] else f"H: {rules[0]}; W: {rules[1]}"


def _conv(layer, bottoms):
    (b,) = _need(layer, bottoms, 1)
    _rank4(layer, b)
    cp = layer.convolution_param
    g = cp.group
    if cp.num_output < 1 or g < 1:
        raise ShapeError(
            f"{_where(layer)}: num_output {cp.num_output} and group {g} must both be >= 1"
        )
    if b[1] < 1:
        raise ShapeError(
            f"{_where(layer)}: its bottom '{layer.bottom[0]}' {_fmt(b)} has no channels; check "
            "the input shape or the layer below"
        )
    if b[1] % g or cp.num_output % g:
        raise ShapeError(
            f"{_where(layer)}: group {g} must divide input channels {b[1]} and num_output "
            f"{cp.num_output}"
        )
    geo = lt.conv_geometry(layer, error=ShapeError)
    kind = "conv" if layer.type == "Convolution" else "deconv"
    (h, w), rule = _spatial(layer, b, geo, kind)
    return [(b[0], cp.num_output, h, w)], rule


def _pool(layer, bottoms):
    (b,) = _need(layer, bottoms, 1)
    _rank4(layer, b)
    geo = lt.pool_geometry(layer, error=ShapeError)
    (h, w), rule = _spatial(layer, b, geo, "pool")
    return [(b[0], b[1], h, w)] * len(layer.top), rule


def _crop(layer, bottoms):
    a, ref = _need(layer, bottoms, 2)
    if len(a) != len(ref):
        raise ShapeError(f"{_where(layer)}: bottoms have ranks {len(a)} and {len(ref)}")
    where = f"{_where(layer)} (bottom '{layer.bottom[0]}' {_fmt(a)})"
    axis, offsets = lt.crop_offsets(layer, len(a), where, ShapeError)
    out = list(a)
    for i in range(axis, len(a)):
        off = offsets[i]
        if a[i] - off < ref[i]:
            raise ShapeError(
                f"{_where(layer)}: crop out of range on axis {i}: '{layer.bottom[0]}' has size "
                f"{a[i]}, offset {off} leaves {a[i] - off} < {ref[i]} needed by "
                f"'{layer.bottom[1]}'; check the offset (netspec.crop computes it) or the "
                "input size"
            )
        out[i] = ref[i]
    offs = list(layer.crop_param.offset)
    return [tuple(out)], f"offset {offs[0] if len(offs) == 1 else offs}"


def _concat(layer, bottoms):
    if not bottoms:
        raise ShapeError(f"{_where(layer)}: needs at least one bottom")
    b0 = bottoms[0]
    axis = _axis(layer, layer.concat_param.axis, b0, "concat_param.axis")
    for name, b in zip(layer.bottom, bottoms):
        if len(b) != len(b0) or any(x != y for i, (x, y) in enumerate(zip(b, b0)) if i != axis):
            raise ShapeError(
                f"{_where(layer)}: '{name}' {_fmt(b)} does not match '{layer.bottom[0]}' "
                f"{_fmt(b0)} off the concat axis {axis}"
            )
    out = list(b0)
    out[axis] = sum(b[axis] for b in bottoms)
    return [tuple(out)], ""


def _eltwise(layer, bottoms):
    b0 = bottoms[0]
    for name, b in zip(layer.bottom, bottoms):
        if b != b0:
            raise ShapeError(
                f"{_where(layer)}: '{name}' {_fmt(b)} differs from '{layer.bottom[0]}' "
                f"{_fmt(b0)} (crop one to the other first)"
            )
    coeff = layer.eltwise_param.coeff
    if len(coeff) and len(coeff) != len(bottoms):
        raise ShapeError(f"{_where(layer)}: {len(coeff)} coeff for {len(bottoms)} bottoms")
    return [b0], ""


def _inner_product(layer, bottoms):
    (b,) = _need(layer, bottoms, 1)
    ip = layer.inner_product_param
    if ip.num_output < 1:
        raise ShapeError(f"{_where(layer)}: inner_product_param.num_output must be >= 1")
    axis = _axis(layer, ip.axis, b, "inner_product_param.axis")
    return [tuple(b[:axis]) + (ip.num_output,)], ""


def _labels(layer, score, label, axis_field):
    """Caffe's label count rule: one label per score position off the class axis."""
    axis = _axis(layer, axis_field.axis, score, f"{axis_field.DESCRIPTOR.name} axis")
    outer, inner = math.prod(score[:axis]), math.prod(score[axis + 1 :])
    if math.prod(label) != outer * inner:
        raise ShapeError(
            f"{_where(layer)}: label '{layer.bottom[1]}' {_fmt(label)} does not match score "
            f"'{layer.bottom[0]}' {_fmt(score)}: {outer * inner} labels needed (one per "
            f"position off the class axis {axis})"
        )
    return axis


def _softmax_loss(layer, bottoms):
    score, label = _need(layer, bottoms, 2)
    _labels(layer, score, label, layer.softmax_param)
    return [()] + [score] * (len(layer.top) - 1), ""


def _accuracy(layer, bottoms):
    score, label = _need(layer, bottoms, 2)
    axis = _labels(layer, score, label, layer.accuracy_param)
    k = layer.accuracy_param.top_k
    if not 1 <= k <= score[axis]:
        raise ShapeError(
            f"{_where(layer)}: top_k {k} must be 1 to the {score[axis]} classes of "
            f"'{layer.bottom[0]}'"
        )
    return [()] + [(score[axis],)] * (len(layer.top) - 1), ""


def _lrn(layer, bottoms):
    (b,) = _need(layer, bottoms, 1)
    _rank4(layer, b)
    return [b], ""


def _softmax(layer, bottoms):
    (b,) = _need(layer, bottoms, 1)
    _axis(layer, layer.softmax_param.axis, b, "softmax_param.axis")
    return [b], ""


def _scale_bias(layer, bottoms):
    b0 = bottoms[0]
    if len(bottoms) == 1:
        try:
            lt.param_shapes(layer, bottoms)  # axis and num_axes inside the bottom
        except lt.LayerTypeError as e:
            raise ShapeError(str(e)) from None
        return [b0], ""
    b1 = bottoms[1]
    p = layer.scale_param if layer.type == "Scale" else layer.bias_param
    axis = _axis(layer, p.axis, b0, f"{p.DESCRIPTOR.name}.axis") if b1 else 0
    if tuple(b0[axis : axis + len(b1)]) != tuple(b1):
        raise ShapeError(
            f"{_where(layer)}: bottom 1 '{layer.bottom[1]}' {_fmt(b1)} must equal bottom 0 "
            f"'{layer.bottom[0]}' {_fmt(b0)} from axis {axis} on"
        )
    return [b0], ""


def _flatten(layer, bottoms):
    (b,) = _need(layer, bottoms, 1)
    p = layer.flatten_param
    start = _axis(layer, p.axis, b, "flatten_param.axis")
    end = _axis(layer, p.end_axis, b, "flatten_param.end_axis")
    if end < start:
        raise ShapeError(f"{_where(layer)}: end_axis {p.end_axis} comes before axis {p.axis}")
    return [tuple(b[:start]) + (math.prod(b[start : end + 1]),) + tuple(b[end + 1 :])], ""


def _reshape(layer, bottoms):
    (b,) = _need(layer, bottoms, 1)
    p = layer.reshape_param
    dims = [int(d) for d in p.shape.dim]
    start = _axis(layer, p.axis, b + (0,), "reshape_param.axis") if len(b) else 0
    end = len(b) if p.num_axes == -1 else start + p.num_axes
    if p.num_axes < -1 or end > len(b):
        raise ShapeError(f"{_where(layer)}: num_axes {p.num_axes} runs past {_fmt(b)}")
    if dims.count(-1) > 1 or any(d < -1 for d in dims):
        raise ShapeError(f"{_where(layer)}: shape {dims}: at most one -1 and no other negative")
    if any(d == 0 and start + i >= len(b) for i, d in enumerate(dims)):
        raise ShapeError(f"{_where(layer)}: shape {dims}: a 0 copies an axis {_fmt(b)} lacks")
    new = [b[start + i] if d == 0 else d for i, d in enumerate(dims)]
    known = math.prod(d for d in new if d != -1) * math.prod(b[:start]) * math.prod(b[end:])
    if -1 in new:
        if known == 0 or math.prod(b) % known:
            raise ShapeError(f"{_where(layer)}: cannot infer the -1 of {dims} from {_fmt(b)}")
        new[new.index(-1)] = math.prod(b) // known
    out = tuple(b[:start]) + tuple(new) + tuple(b[end:])
    if math.prod(out) != math.prod(b):
        raise ShapeError(f"{_where(layer)}: {_fmt(b)} cannot become {_fmt(out)} (counts differ)")
    return [out], ""


def _axis(layer, axis, shape, what):
    """Caffe's CanonicalAxisIndex: -n..n-1 for an n-axis blob, else ShapeError."""
    n = len(shape)
    if not -n <= axis < n:
        raise ShapeError(
            f"{_where(layer)}: {what} {axis} is beyond bottom '{layer.bottom[0]}' {_fmt(shape)} "
            f"({n} axes): use an axis in {-n}..{n - 1}"
        )
    return axis + n if axis < 0 else axis


def phases(layer: caffe_pb2.LayerParameter) -> set[int]:
    """The phases (0 TRAIN, 1 TEST) whose nets hold `layer`, by its include/exclude rules."""
    if len(layer.include):
        return {r.phase if r.HasField("phase") else p for r in layer.include for p in (0, 1)}
    dropped = {r.phase for r in layer.exclude if r.HasField("phase") and not r.stage}
    return {0, 1} - dropped


def _check_tops(layer, tops, producers):
    """Every top has sizes >= 1 and is written by one layer per phase (or in place)."""
    for top, shape in zip(layer.top, tops):
        if shape is not None and any(d < 1 for d in shape):
            raise ShapeError(
                f"{_where(layer)}: top '{top}' would be {_fmt(shape)}; every size must be >= 1 "
                "(check the input shape and this layer's parameters)"
            )
        earlier = producers.get(top)
        if earlier is not None and top not in layer.bottom and phases(earlier) & phases(layer):
            raise ShapeError(
                f"{_where(layer)}: top '{top}' is already written by layer '{earlier.name}' "
                "(not in place): give one of them another top name"
            )
        producers[top] = layer


def _need(layer, bottoms, k):
    if len(bottoms) != k:
        raise ShapeError(f"{_where(layer)}: needs {k} bottom(s), has {len(bottoms)}")
    return bottoms


def _rank4(layer, b):
    if len(b) != 4:
        raise ShapeError(f"{_where(layer)}: expects N x C x H x W input, got {_fmt(b)}")


def _fmt(shape):
    return "x".join(str(d) for d in shape) if shape else "scalar"


_RULES = {
    "Convolution": _conv,
    "Deconvolution": _conv,
    "Pooling": _pool,
    "Crop": _crop,
    "Concat": _concat,
    "Eltwise": _eltwise,
    "InnerProduct": _inner_product,
    "SoftmaxWithLoss": _softmax_loss,
    "Accuracy": _accuracy,
    "LRN": _lrn,
    "Softmax": _softmax,
    "Scale": _scale_bias,
    "Bias": _scale_bias,
    "Flatten": _flatten,
    "Reshape": _reshape,
}


def infer_layers(
    net: caffe_pb2.NetParameter,
    input_shapes: Mapping[str, Sequence[int]] | None = None,
    image_size: tuple[int, int] | None = None,
    unknown_ok: bool = False,
    locate: Callable[[caffe_pb2.LayerParameter], str] | None = None,
) -> list[LayerShapes]:
    """Per-layer shapes of a NetParameter: list of LayerShapes in layer order.

    input_shapes: {blob: shape} for blobs that come from outside (Input/Python/Data tops);
    image_size: (H, W) applied to Input layers' H and W and to the known FCN Python data layers.
    unknown_ok: a top whose shape cannot be told (an outside top given neither way, any top
    of a layer with such a bottom or of a type with no rule here) is None instead of an error.
    locate: optional callable(layer) -> the text that names the layer in errors (e.g. with
    its file and line); default "layer 'name' (type)".
    """
    if locate is None:
        return _infer_layers(net, input_shapes, image_size, unknown_ok)
    try:
        return _infer_layers(net, input_shapes, image_size, unknown_ok)
    except ShapeError as e:
        layer = getattr(e, "layer", None)
        if layer is None:
            raise
        text = str(e)
        named = text.replace(_where(layer), locate(layer), 1)
        raise type(e)(named if named != text else f"{locate(layer)}: {text}") from None


def _infer_layers(net, input_shapes, image_size, unknown_ok):
    input_shapes = dict(input_shapes or {})
    blobs = {}
    producers = {}
    out = []
    for layer in net.layer:
        try:
            missing = [b for b in layer.bottom if b not in blobs]
            if missing:
                raise ShapeError(
                    f"{_where(layer)}: bottom(s) {missing} are produced by no layer above"
                )
            bottoms = [blobs[b] for b in layer.bottom]
            tops, rule = _layer_tops(layer, bottoms, input_shapes, image_size, unknown_ok)
            tops = [None if t is None else tuple(t) for t in tops]
            _check_tops(layer, tops, producers)
        except ShapeError as e:
            e.layer = getattr(e, "layer", None) or layer
            raise
        for top, shape in zip(layer.top, tops):
            blobs[top] = shape
        out.append(LayerShapes(layer, bottoms, tops, rule))
    return out


def _layer_tops(layer, bottoms, input_shapes, image_size, unknown_ok):
    """(top shapes, rule) of one layer given its bottoms' shapes."""
    if not layer.bottom:
        return _input_shapes(layer, input_shapes, image_size, unknown_ok), ""
    if unknown_ok and any(b is None for b in bottoms):
        return [None] * len(layer.top), ""
    if layer.type in _RULES:
        return _RULES[layer.type](layer, bottoms)
    if layer.type in lt.TYPES and lt.TYPES[layer.type].same_shape:
        return [bottoms[0]] * len(layer.top), ""
    if layer.type == "Silence":
        return [], ""
    if unknown_ok:
        return [None] * len(layer.top), ""
    raise ShapeError(
        f"{_where(layer)}: no shape rule for layer type '{layer.type}' in netspec.shapes"
    )


def infer(
    net: caffe_pb2.NetParameter,
    input_shapes: Mapping[str, Sequence[int]] | None = None,
    image_size: tuple[int, int] | None = None,
    unknown_ok: bool = False,
) -> OrderedDict[str, Shape | None]:
    """OrderedDict blob name -> shape tuple for every blob of `net`, bottom to top.

    See infer_layers for the arguments (unknown_ok: None for shapes that cannot be told).
    In-place tops keep their first position.
    """
    shapes = OrderedDict()
    for ls in infer_layers(net, input_shapes, image_size, unknown_ok):
        for top, shape in zip(ls.layer.top, ls.tops):
            shapes[top] = shape
    return shapes


def param_shapes(
    net: caffe_pb2.NetParameter,
    input_shapes: Mapping[str, Sequence[int]] | None = None,
    image_size: tuple[int, int] | None = None,
    unknown_ok: bool = False,
) -> OrderedDict[str, list[Shape]]:
    """OrderedDict layer name -> [shape of each parameter blob], for layers that have any.

    caffeio.layertypes.param_shapes for each layer: Convolution (Cout, Cin/g, kh, kw)
    [+ (Cout,)]; Deconvolution (Cin, Cout/g, kh, kw) [+ (Cout,)]; InnerProduct (num_output, K)
    [+ (num_output,)], K = prod(bottom[axis:]); Scale/Bias with one bottom:
    bottom[axis:axis+num_axes]; BatchNorm (C,), (C,), (1,); PReLU (C,) or () shared; ...
    Order and shapes are those of Caffe's layer blobs (what a caffemodel stores).
    unknown_ok: blobs whose shapes cannot be told are tolerated (see infer_layers) until a
    parameter needs one; that is a ShapeError naming the layer and its bottom.
    """
    out = OrderedDict()
    for ls in infer_layers(net, input_shapes, image_size, unknown_ok):
        layer, shapes = ls.layer, _params_of(ls)
        if shapes:
            out[layer.name] = shapes
    return out


def _params_of(ls):
    row = lt.TYPES.get(ls.layer.type)
    if row is None or not row.blobs or ls.layer.type == "Python":
        return []
    try:
        return lt.param_shapes(ls.layer, _known_bottoms(ls))
    except lt.LayerTypeError as e:
        raise ShapeError(str(e)) from None


def _known_bottoms(ls):
    """The bottoms' shapes, which a layer's parameters depend on (error when one is unknown)."""
    for name, shape in zip(ls.layer.bottom, ls.bottoms):
        if shape is None:
            raise ShapeError(
                f"{_where(ls.layer)}: its parameters need the shape of bottom '{name}', which "
                "is unknown: it derives from a top of a data layer whose shape the definition "
                "does not state; pass input_shapes={'top': (N, C, H, W)} for that layer's tops "
                "or an image size"
            )
    return ls.bottoms
