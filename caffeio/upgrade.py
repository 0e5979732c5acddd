"""Upgrade legacy nets on read as Caffe does: V1 `layers` -> `layer`, `input*` -> Input layer."""

from __future__ import annotations

from . import caffe_pb2
from .errors import CaffeFormatError

V1 = caffe_pb2.V1LayerParameter

# V1 enum value -> current type string (Caffe's registered layer type names).
V1_TYPE_NAMES = {
    V1.NONE: "",
    V1.ABSVAL: "AbsVal",
    V1.ACCURACY: "Accuracy",
    V1.ARGMAX: "ArgMax",
    V1.BNLL: "BNLL",
    V1.CONCAT: "Concat",
    V1.CONTRASTIVE_LOSS: "ContrastiveLoss",
    V1.CONVOLUTION: "Convolution",
    V1.DATA: "Data",
    V1.DECONVOLUTION: "Deconvolution",
    V1.DROPOUT: "Dropout",
    V1.DUMMY_DATA: "DummyData",
    V1.EUCLIDEAN_LOSS: "EuclideanLoss",
    V1.ELTWISE: "Eltwise",
    V1.EXP: "Exp",
    V1.FLATTEN: "Flatten",
    V1.HDF5_DATA: "HDF5Data",
    V1.HDF5_OUTPUT: "HDF5Output",
    V1.HINGE_LOSS: "HingeLoss",
    V1.IM2COL: "Im2col",
    V1.IMAGE_DATA: "ImageData",
    V1.INFOGAIN_LOSS: "InfogainLoss",
    V1.INNER_PRODUCT: "InnerProduct",
    V1.LRN: "LRN",
    V1.MEMORY_DATA: "MemoryData",
    V1.MULTINOMIAL_LOGISTIC_LOSS: "MultinomialLogisticLoss",
    V1.MVN: "MVN",
    V1.POOLING: "Pooling",
    V1.POWER: "Power",
    V1.RELU: "ReLU",
    V1.SIGMOID: "Sigmoid",
    V1.SIGMOID_CROSS_ENTROPY_LOSS: "SigmoidCrossEntropyLoss",
    V1.SILENCE: "Silence",
    V1.SOFTMAX: "Softmax",
    V1.SOFTMAX_LOSS: "SoftmaxWithLoss",
    V1.SPLIT: "Split",
    V1.SLICE: "Slice",
    V1.TANH: "TanH",
    V1.WINDOW_DATA: "WindowData",
    V1.THRESHOLD: "Threshold",
}

# *_param fields a V1 layer may carry; each has the same name on LayerParameter.
_V1_PARAM_FIELDS = [f.name for f in V1.DESCRIPTOR.fields if f.name.endswith("_param")]
_DATA_TYPES = {"Data", "ImageData", "WindowData"}


def needs_upgrade(net: caffe_pb2.NetParameter) -> bool:
    """True when `net` uses V1 `layers` or the deprecated input/input_dim/input_shape fields."""
    return bool(len(net.layers) or len(net.input))


def upgrade_v1_layer(
    v1: caffe_pb2.V1LayerParameter, where: str = "net"
) -> caffe_pb2.LayerParameter:
    """caffe_pb2.V1LayerParameter -> caffe_pb2.LayerParameter (blobs_lr/weight_decay -> param)."""
    layer = caffe_pb2.LayerParameter()
    layer.name = v1.name
    if v1.type not in V1_TYPE_NAMES:
        raise CaffeFormatError(f"{where}: V1 layer '{v1.name}' has unknown type enum {v1.type}")
    layer.type = V1_TYPE_NAMES[v1.type]
    layer.bottom.extend(v1.bottom)
    layer.top.extend(v1.top)
    layer.include.extend(v1.include)
    layer.exclude.extend(v1.exclude)
    layer.loss_weight.extend(v1.loss_weight)
    layer.blobs.extend(v1.blobs)
    n_specs = max(len(v1.param), len(v1.blobs_lr), len(v1.weight_decay), len(v1.blob_share_mode))
    for i in range(n_specs):
        spec = layer.param.add()
        if i < len(v1.param) and v1.param[i]:
            spec.name = v1.param[i]
        if i < len(v1.blob_share_mode):
            spec.share_mode = v1.blob_share_mode[i]
        if i < len(v1.blobs_lr):
            spec.lr_mult = v1.blobs_lr[i]
        if i < len(v1.weight_decay):
            spec.decay_mult = v1.weight_decay[i]
    for field in _V1_PARAM_FIELDS:
        if v1.HasField(field):
            getattr(layer, field).CopyFrom(getattr(v1, field))
    if layer.type in _DATA_TYPES:
        _move_transform_fields(layer)
    return layer


def _move_transform_fields(layer):
    # Old data layers kept scale/mean_file/crop_size/mirror in their own param; Caffe moved
    # them to transform_param.
    for pname in ("data_param", "image_data_param", "window_data_param"):
        if not layer.HasField(pname):
            continue
        p = getattr(layer, pname)
        for f in ("scale", "mean_file", "crop_size", "mirror"):
            if p.HasField(f):
                setattr(layer.transform_param, f, getattr(p, f))
                p.ClearField(f)


def upgrade_net(net: caffe_pb2.NetParameter, where: str = "net") -> caffe_pb2.NetParameter:
    """Return an upgraded copy of caffe_pb2.NetParameter `net` (the argument is not modified).

    V1 `layers` become `layer`; `input` + `input_dim`/`input_shape` become one Input layer named
    "input" placed first, as Caffe's own upgrade does. A net mixing `layer` and `layers` is an
    error. `where` (usually the file name) goes into error messages.
    """
    out = caffe_pb2.NetParameter()
    out.CopyFrom(net)
    if len(net.layers):
        if len(net.layer):
            raise CaffeFormatError(
                f"{where}: uses both 'layer' and legacy 'layers' fields; use only 'layer'"
            )
        out.ClearField("layers")
        for v1 in net.layers:
            out.layer.add().CopyFrom(upgrade_v1_layer(v1, where))
    if len(net.input):
        _upgrade_input(out, where)
    return out


def _upgrade_input(out, where):
    names = list(out.input)
    shapes = []
    if len(out.input_shape):
        if len(out.input_shape) != len(names):
            raise CaffeFormatError(
                f"{where}: {len(names)} inputs but {len(out.input_shape)} input_shape entries"
            )
        shapes = [list(s.dim) for s in out.input_shape]
    elif len(out.input_dim):
        if len(out.input_dim) != 4 * len(names):
            raise CaffeFormatError(
                f"{where}: {len(names)} inputs need {4 * len(names)} input_dim values, "
                f"got {len(out.input_dim)}"
            )
        dims = list(out.input_dim)
        shapes = [dims[4 * i : 4 * i + 4] for i in range(len(names))]
    layer = caffe_pb2.LayerParameter(name="input", type="Input")
    layer.top.extend(names)
    for s in shapes:
        layer.input_param.shape.add().dim.extend(s)
    layers = [layer] + [_copy(x) for x in out.layer]
    out.ClearField("input")
    out.ClearField("input_dim")
    out.ClearField("input_shape")
    out.ClearField("layer")
    out.layer.extend(layers)


def _copy(msg):
    new = type(msg)()
    new.CopyFrom(msg)
    return new
