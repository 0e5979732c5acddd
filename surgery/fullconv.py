"""The fully convolutional reinterpretation of a classifier graph (paper 3.1; docs/backbones.md).

Shapes at the classifier's native input size decide each conversion:
- InnerProduct over a C x H x W map -> Convolution with kernel H x W (Caffe flattens C, H, W in
  a conv kernel's order, so the weights (Cout, C*H*W) are (Cout, C, H, W) unchanged in memory);
  over the output of another InnerProduct -> 1x1 Convolution.
- global_pooling -> its window at the native size (kernel = the map) sliding with stride 1; a
  final pooling whose kernel equals the map already slides (GoogLeNet's and ResNet's pool5 at
  stride 1; a declared stride > 1 is kept, as it sets the FCN's output stride).
- Flatten (and a Reshape to (0, -1)) is removed: its InnerProduct reads the map itself.
- Loss and accuracy layers are dropped; everything that works position by position or on local
  windows (convolution, grouped or depthwise, BatchNorm + Scale, Concat, Eltwise, LRN, ReLU,
  PReLU, Dropout, Softmax over channels, windowed pooling) is kept as it is. A BatchNorm that
  leaves use_global_stats to the phase gets it written true (its stored statistics in a
  training net too). Anything else stops with SurgeryError naming the layer and saying why.
- A train_val net's data layers (one per phase, no input shape: `size` gives it) become one
  Input layer of the native size; their label tops go with the loss and accuracy layers.
"""

from __future__ import annotations

from collections.abc import Sequence

from caffeio import caffe_pb2
from caffeio import layertypes as lt

from .errors import SurgeryError
from .paramset import infer_shapes

# What fcnize converts (InnerProduct) or removes (Flatten, a flattening Reshape).
_CONVERTED = frozenset(("InnerProduct", "Flatten", "Reshape"))
# caffeio.layertypes' spatial kinds that act per position or on local windows: kept as they
# are. Only the pointwise ones may also read an InnerProduct's output (a vector in the
# classifier, a 1 x 1 map in the FCN).
_KEPT_KINDS = (lt.POINTWISE, lt.WINDOW, lt.UPSAMPLE)
_KEPT_NAMES = lt.types_of_kind(*_KEPT_KINDS) | {"InnerProduct"}


def _keeps(layer, ndim=4):
    """True when fcnize keeps `layer` (or converts it): see _KEPT_KINDS and _CONVERTED."""
    return layer.type in _CONVERTED or lt.spatial_kind(layer, ndim) in _KEPT_KINDS


def _on_vectors(layer, ndim):
    return layer.type == "InnerProduct" or lt.spatial_kind(layer, ndim) == lt.POINTWISE


def _dropped(layer):
    """Loss, accuracy and sink layers (labels, no score): not in the fully convolutional net."""
    row = lt.TYPES.get(layer.type)
    return layer.type.endswith("Loss") or (
        row is not None and row.role in (lt.LOSS, lt.METRIC, lt.SINK)
    )


def _where(layer):
    return f"layer '{layer.name}' ({layer.type})"


def _axis_field(layer):
    """The name of the parameter message holding a layer's channel axis (None if it has none)."""
    for field in ("softmax_param", "concat_param", "scale_param", "bias_param"):
        if layer.HasField(field):
            return field
    return None


def _axis(layer):
    field = _axis_field(layer)
    return getattr(layer, field).axis if field else None


def _native_shapes(net, size):
    """{blob: shape} at the native size; data tops the definition leaves open get size."""
    known = infer_shapes(net)
    extra = {}
    for layer in net.layer:
        if layer.type == "Convolution" and known.get(layer.bottom[0]) is None:
            if size is None:
                raise SurgeryError(
                    f"{_where(layer)}: the shape of its bottom '{layer.bottom[0]}' is not "
                    "stated: give the deploy prototxt (with an Input shape / input_dim) or "
                    "the classifier's native input size (--size)"
                )
            extra[layer.bottom[0]] = (1, 3) + tuple(size)
            break
    return infer_shapes(net, extra), extra


def _flatten_like(layer):
    if layer.type == "Flatten":
        p = layer.flatten_param
        return p.axis == 1 and p.end_axis == -1
    p = layer.reshape_param
    return layer.type == "Reshape" and list(p.shape.dim) == [0, -1] and p.axis == 0


# Why a layer type has no fully convolutional form (what it does to positions), and what to do.
_WHY = {
    "SPP": "it pools the whole map into a fixed pyramid of bins at any input size (its windows "
    "grow with the map), so no window slides; fcnize a classifier whose last pooling has a "
    "fixed window instead",
    "MVN": "it normalises each map by that map's own mean (and variance), which a larger input "
    "changes at every position",
    "BatchNorm": "with use_global_stats: false it normalises by the statistics of the batch and "
    "every position, which a larger input changes; write use_global_stats: true (the stored "
    "mean and variance) in the classifier's deploy prototxt",
    "Softmax": "it normalises across positions (a spatial axis); only a Softmax over the "
    "channels (axis 1) has a fully convolutional form",
    "ArgMax": "without axis: 1 it ranks all of C x H x W at once; give axis: 1 for a "
    "per-position arg max",
    "Reduction": "it sums over every axis from `axis` on, positions included",
    "Crop": "it cuts to another blob's size, which a larger input changes",
}


def _why(layer, kind):
    """One sentence: why `layer` of spatial kind `kind` has no fully convolutional form."""
    if kind is None:
        return (
            f"'{layer.type}' is not a layer type of BVLC Caffe (a fork's layer?), so fcnize "
            "cannot tell what it does to positions; write it with BVLC types (a fused batch "
            "norm as BatchNorm + Scale, a depthwise convolution as Convolution with group = "
            "channels)"
        )
    if layer.type in _WHY:
        return _WHY[layer.type]
    return (
        f"its spatial kind is {kind}, not one that acts per position or on local windows; "
        f"fcnize keeps only those ({', '.join(sorted(_KEPT_NAMES))})"
    )


def _check(layer, kinds, shapes):
    """Raise unless `layer` has a fully convolutional form; kinds: {blob: 'map'|'vector'|...}."""
    ndim = len(shapes.get(layer.bottom[0]) or (0, 0, 0, 0))
    if not _keeps(layer, ndim):
        kind = lt.spatial_kind(layer, ndim)
        raise SurgeryError(f"{_where(layer)}: no fully convolutional form: {_why(layer, kind)}")
    for b in layer.bottom:
        kind = kinds.get(b)
        if kind == "flat" and layer.type != "InnerProduct":
            raise SurgeryError(
                f"{_where(layer)}: reads the flattened blob '{b}'; only an InnerProduct can "
                "read a flattened map in the fully convolutional net"
            )
        if kind == "vector" and not _on_vectors(layer, ndim):
            raise SurgeryError(
                f"{_where(layer)}: reads '{b}', the output of an InnerProduct (a vector in the "
                "classifier): it has no spatial form there"
            )
    if layer.type in ("Flatten", "Reshape") and not _flatten_like(layer):
        raise SurgeryError(
            f"{_where(layer)}: reshapes {shapes.get(layer.bottom[0])} into another layout; "
            "only a flatten (Flatten axis 1, Reshape dim 0 dim -1) has a fully convolutional "
            "form (its InnerProduct reads the map)"
        )
    axis = _axis(layer)
    if axis is not None and axis % ndim != 1:
        raise SurgeryError(f"{_where(layer)}: axis {axis} is not the channel axis 1")
    if layer.type in ("Scale", "Bias"):
        p = layer.scale_param if layer.type == "Scale" else layer.bias_param
        if len(layer.bottom) != 1 or p.num_axes != 1:
            raise SurgeryError(
                f"{_where(layer)}: only a learned per-channel {layer.type} (one bottom, "
                "num_axes 1) has a fully convolutional form"
            )


def _to_conv(new, layer, bottom_shape, kind):
    """InnerProduct `layer` -> Convolution in `new` (kernel H x W over a map, 1x1 over a vector)."""
    ip = layer.inner_product_param
    if ip.transpose:
        raise SurgeryError(f"{_where(layer)}: transposed InnerProduct is not supported")
    if bottom_shape is None or any(d is None for d in bottom_shape):
        raise SurgeryError(
            f"{_where(layer)}: shape of its bottom '{layer.bottom[0]}' is unknown; give the "
            "deploy prototxt (with an input shape)"
        )
    if ip.axis % len(bottom_shape) != 1:
        raise SurgeryError(f"{_where(layer)}: InnerProduct axis {ip.axis} is not 1")
    if kind == "vector" or len(bottom_shape) == 2:
        if kind != "vector":
            raise SurgeryError(
                f"{_where(layer)}: its bottom '{layer.bottom[0]}' {bottom_shape} is neither a "
                "map nor the output of an InnerProduct: no spatial form"
            )
        kh, kw = 1, 1
    elif len(bottom_shape) == 4:
        kh, kw = bottom_shape[2], bottom_shape[3]
    else:
        raise SurgeryError(
            f"{_where(layer)}: bottom '{layer.bottom[0]}' is {len(bottom_shape)}-D "
            f"{bottom_shape}; fcnize needs an N x C x H x W map"
        )
    new.type = "Convolution"
    new.ClearField("inner_product_param")
    p = new.convolution_param
    p.num_output = ip.num_output
    if not ip.bias_term:
        p.bias_term = False
    if kh == kw:
        p.kernel_size.append(kh)
    else:
        p.kernel_h, p.kernel_w = kh, kw
    if ip.HasField("weight_filler"):
        p.weight_filler.CopyFrom(ip.weight_filler)
    if ip.HasField("bias_filler"):
        p.bias_filler.CopyFrom(ip.bias_filler)
    c = bottom_shape[1]
    return f"{layer.name}: InnerProduct over {c}x{kh}x{kw} -> Convolution {kh}x{kw}"


def _slide_pool(new, shape):
    """Pooling covering the whole (N, C, H, W) `shape` -> its window with stride 1 (note|None)."""
    p = new.pooling_param
    h, w = shape[2], shape[3]
    method = "MAX" if p.pool == p.MAX else "AVE" if p.pool == p.AVE else "STOCHASTIC"
    if p.global_pooling:
        p.global_pooling = False
        if h == w:
            p.kernel_size = h
        else:
            p.kernel_h, p.kernel_w = h, w
        p.ClearField("stride")
        return f"{new.name}: global {method} pooling over {h}x{w} -> {method} {h}x{w} stride 1"
    wh, ww = lt.pool_geometry(new, error=SurgeryError)
    if (wh.kernel, ww.kernel) != (h, w) or (wh.pad, ww.pad) != (0, 0):
        return None  # a windowed pooling: kept
    stride = (wh.stride, ww.stride)
    if stride == (1, 1):
        return f"{new.name}: {method} {h}x{w} covers the {h}x{w} map and slides with stride 1"
    # A declared stride is kept: it sets the FCN's output stride (VGG-16 at a reduced size).
    return f"{new.name}: {method} {h}x{w} covers the {h}x{w} map; keeps its stride {stride}"


def _add_source(out, layer, input_shapes, kinds, notes):
    """Copy data layer `layer` into `out`; one whose image top got its shape from `size` (a
    train_val net's phase-split Data / Python layers) becomes one Input layer of that shape,
    its other tops (labels) going with the layers that needed them."""
    image = [t for t in layer.top if t in input_shapes]
    if not image:
        out.layer.add().CopyFrom(layer)
        kinds.update((t, "map") for t in layer.top)
        return
    if image[0] in kinds:  # the same top from the data layer of the other phase
        notes.append(f"{layer.name}: {layer.type} of another phase dropped (one Input)")
        return
    shape = input_shapes[image[0]]
    new = out.layer.add(name=layer.name, type="Input", top=image[:1])
    new.input_param.shape.add().dim.extend(shape)
    kinds[image[0]] = "map"
    notes.append(
        f"{layer.name}: {layer.type} -> Input {'x'.join(map(str, shape))} (the deploy input)"
    )


def _convert(new, layer, kind, shapes, renamed):
    """Rewrite the copy `new` of kept `layer` into its fully convolutional form in place ->
    (kind of its tops, note or None)."""
    if layer.type == "InnerProduct":
        src = renamed.get(layer.bottom[0], layer.bottom[0])
        return "vector", _to_conv(new, layer, shapes.get(src), kind)
    if layer.type == "Pooling" and shapes.get(layer.bottom[0]):
        return kind, _slide_pool(new, shapes[layer.bottom[0]])
    if layer.type == "BatchNorm" and not layer.batch_norm_param.HasField("use_global_stats"):
        # Caffe's default (TEST: the stored statistics, TRAIN: the batch's) made explicit, so the
        # fully convolutional net keeps the classifier's statistics in a training net too
        new.batch_norm_param.use_global_stats = True
        return kind, None
    if (_axis(layer) or 0) < 0:  # -1 meant the channels of a vector; a map's are at 1
        getattr(new, _axis_field(layer)).axis = 1
    return kind, None


def _bottoms_check(out):
    """Every bottom of the fully conv net has a producer (else a dropped data top is read)."""
    made = set()
    for layer in out.layer:
        for b in layer.bottom:
            if b not in made:
                raise SurgeryError(
                    f"{_where(layer)}: reads '{b}', a top of a data layer that the fully "
                    "convolutional net replaces by its image Input; give a deploy prototxt"
                )
        made.update(layer.top)


def fully_conv_definition(
    net: caffe_pb2.NetParameter, size: Sequence[int] | None = None
) -> tuple[caffe_pb2.NetParameter, dict[str, tuple[int, ...]], list[str]]:
    """Classifier NetParameter (current format) -> (fully conv NetParameter, input_shapes, notes).

    size: (H, W) native input size, used only where the definition states no input shape
    (a train/val net's Data layers, which become one Input layer of that size).
    input_shapes: {top: (1, 3, H, W)} that filled in; notes: one line per converted or dropped
    layer. BatchNorm layers that leave use_global_stats to the phase get it written true.
    Raises SurgeryError naming any layer that has no fully convolutional form.
    """
    shapes, input_shapes = _native_shapes(net, size)
    out = caffe_pb2.NetParameter()
    out.CopyFrom(net)
    out.ClearField("layer")
    out.name = (net.name or "net") + "-fcn"
    renamed, kinds, notes, stats = {}, {}, [], []
    for layer in net.layer:
        if _dropped(layer):
            notes.append(f"{layer.name}: {layer.type} dropped (needs labels / not a score)")
            continue
        if not layer.bottom:
            _add_source(out, layer, input_shapes, kinds, notes)
            continue
        _check(layer, kinds, shapes)
        new = out.layer.add()
        new.CopyFrom(layer)
        new.ClearField("blobs")
        new.bottom[:] = [renamed.get(b, b) for b in layer.bottom]
        kind = kinds.get(layer.bottom[0], "map")
        if layer.type in ("Flatten", "Reshape"):
            renamed[layer.top[0]] = new.bottom[0]
            kinds[layer.top[0]] = "flat" if kind == "map" else kind
            notes.append(f"{layer.name}: {layer.type} removed (its InnerProduct reads the map)")
            del out.layer[-1]
            continue
        kind, note = _convert(new, layer, kind, shapes, renamed)
        if note:
            notes.append(note)
        if layer.type == "BatchNorm" and not layer.batch_norm_param.HasField("use_global_stats"):
            stats.append(layer.name)
        kinds.update((t, kind) for t in layer.top)
    if stats:
        notes.append(
            f"{len(stats)} BatchNorm layer(s) ({stats[0]}, ...): use_global_stats: true written "
            "(the stored statistics in every phase, as in Caffe's TEST phase)"
        )
    _bottoms_check(out)
    return out, input_shapes, notes
