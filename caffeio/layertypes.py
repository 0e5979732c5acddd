"""What the toolkit knows about each Caffe layer type, in one table (standard library only).

    from caffeio import layertypes as lt
    lt.TYPES["Convolution"].bottoms        # (1, None): one or more bottoms
    lt.spatial_kind(layer)                 # "window": a new grid of windows over the bottom
    lt.conv_geometry(layer)                # (Window(kernel=3, stride=1, pad=1, dilation=1),) * 2
    lt.conv_out_size(500, *w)              # Caffe's output size along one axis, in pixels

One record (`LayerType`) per type BVLC Caffe master registers: the 59 of a CPU build without
OpenCV, ImageData and WindowData (registered with OpenCV) and Python. Facts that depend on a
layer's parameters are functions of its caffe_pb2.LayerParameter: the window geometry of
Convolution, Deconvolution, Im2col, Pooling, LRN (WITHIN_CHANNEL) and SPP with Caffe's
precedence of the square, repeated and _h/_w forms; the output size rules; the crop offsets;
the spatial kind (below); bottom/top counts; the shapes of the blobs a caffemodel stores.
The rules are those of BVLC Caffe's layer sources (src/caffe/layers/*.cpp; docs/layers.md).

Spatial kinds (`spatial_kind`), for N x C x H x W blobs:

    source     no bottoms; the tops are in the input image's frame (data layers, Input)
    pointwise  the tops keep the bottom's H x W grid and top pixel (h, w) reads only the
               bottoms' pixels (h, w): element-wise and channel-wise layers (ReLU, Scale,
               BatchNorm with stored statistics, Eltwise, Concat over channels, Softmax
               over channels, LRN ACROSS_CHANNELS, Split, Dropout, ...)
    grid       the tops keep the H x W grid but a pixel reads other positions too (MVN,
               Softmax over a spatial axis, BatchNorm with batch statistics)
    window     a new grid of (dilated) windows over the bottom: Convolution, Im2col, Pooling
               (global pooling: one window covering the map), LRN WITHIN_CHANNEL
    upsample   Deconvolution: the transposed window rule
    crop       Crop: the same scale, shifted by the offsets
    none       no spatial map (InnerProduct, Flatten, Reshape, ArgMax without a channel axis,
               losses, Accuracy, SPP, recurrent layers, layers without tops)

Nothing here imports numpy or torch. Errors are LayerTypeError (a caffeio.CaffeFormatError)
unless the caller passes its own exception class (`error=`); they name the layer (or the
caller's `where`) and what to change.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, NamedTuple

from .errors import CaffeFormatError

if TYPE_CHECKING:
    from . import caffe_pb2

SOURCE = "source"
POINTWISE = "pointwise"
GRID = "grid"
WINDOW = "window"
UPSAMPLE = "upsample"
CROP = "crop"
NONE = "none"
KINDS = (SOURCE, POINTWISE, GRID, WINDOW, UPSAMPLE, CROP, NONE)

# roles
OP, DATA, LOSS, METRIC, SINK, USER = "op", "data", "loss", "metric", "sink", "user"


class LayerTypeError(CaffeFormatError):
    """A layer's parameters break one of Caffe's rules for its type (the message names it)."""


class Window(NamedTuple):
    """One spatial axis of a windowed layer, in pixels of its bottom.

    kernel None means the window is the whole map (global pooling, before the map is known).
    """

    kernel: int | None
    stride: int = 1
    pad: int = 0
    dilation: int = 1

    @property
    def extent(self) -> int:
        """Pixels one (dilated) window spans: dilation * (kernel - 1) + 1."""
        return self.dilation * (self.kernel - 1) + 1


@dataclass(frozen=True)
class LayerType:
    """Facts about one Caffe layer type (a row of TYPES).

    name: the registered type string. summary: what it computes, one line.
    param: the LayerParameter field holding its own parameters (None: it has none).
    bottoms, tops: (min, max) blob counts Caffe accepts, max None for any number; the counts
        that depend on parameters are in `counts(layer)`.
    spatial: its spatial kind when it does not depend on parameters (see `spatial_kind`).
    role: "op", "data" (reads from outside the net), "loss" (Caffe's loss layers: top 0 gets
        loss_weight 1), "metric" (Accuracy), "sink" (no tops) or "user" (Python).
    neuron: one of Caffe's NeuronLayers: one bottom, one top of its shape, element by element.
    same_shape: every top has bottom 0's shape.
    in_place: Caffe computes it correctly with top == bottom (its backward reads only the
        top, a kept copy, or a sign the output keeps).
    blobs: the names of the blobs a caffemodel stores for it, in order (the most it has).
    learnable: those blobs are updated by the solver (BatchNorm's statistics are not).
    joins: its bottoms are combined position by position and must share one grid.
    """

    name: str
    summary: str
    param: str | None
    bottoms: tuple[int, int | None]
    tops: tuple[int, int | None]
    spatial: str
    role: str = OP
    neuron: bool = False
    same_shape: bool = False
    in_place: bool = False
    blobs: tuple[str, ...] = ()
    learnable: bool = False
    joins: bool = False


def _neuron(name, summary, param, in_place):
    return LayerType(
        name,
        summary,
        param,
        (1, 1),
        (1, 1),
        POINTWISE,
        neuron=True,
        same_shape=True,
        in_place=in_place,
    )


def _data(name, summary, param, tops):
    return LayerType(name, summary, param, (0, 0), tops, SOURCE, role=DATA)


def _loss(name, summary, param, bottoms=(2, 2), tops=(1, 1)):
    return LayerType(name, summary, param, bottoms, tops, NONE, role=LOSS)


_RECURRENT = "recurrent_param"
_CONV = ("weights", "bias")

# fmt: off
_ROWS = [
    # data: no bottoms, tops in the image frame
    _data("Data", "records of an LMDB/LevelDB: data (+ label)", "data_param", (1, 2)),
    _data("ImageData", "images listed in a text file: data, label", "image_data_param", (2, 2)),
    _data("WindowData", "windows of images (R-CNN): data, label", "window_data_param", (2, 2)),
    _data("MemoryData", "arrays set from Python/C++: data, label", "memory_data_param", (2, 2)),
    _data("HDF5Data", "datasets of HDF5 files, one top each", "hdf5_data_param", (1, None)),
    _data("DummyData", "constant or filled blobs", "dummy_data_param", (1, None)),
    _data("Input", "blobs the caller fills (deploy nets)", "input_param", (1, None)),
    LayerType(
        "Parameter", "its own learnable blob as its top", "parameter_param", (0, 0), (1, 1),
        NONE, blobs=("parameter",), learnable=True,
    ),
    LayerType("Python", "a Python class (python_param module/layer)", "python_param",
              (0, None), (0, None), NONE, role=USER),
    # neurons: element by element
    _neuron("AbsVal", "|x|", None, False),
    _neuron("BNLL", "log(1 + exp(x))", None, False),
    _neuron("Clip", "min(max(x, min), max)", "clip_param", False),
    _neuron("Dropout", "TRAIN: x * mask / (1 - ratio); TEST: x", "dropout_param", True),
    _neuron("ELU", "x > 0 ? x : alpha (exp(x) - 1)", "elu_param", True),
    _neuron("Exp", "base^(shift + scale x)", "exp_param", True),
    _neuron("Log", "log_base(shift + scale x)", "log_param", False),
    _neuron("Power", "(shift + scale x)^power", "power_param", False),
    _neuron("ReLU", "max(x, 0) + negative_slope min(x, 0)", "relu_param", True),
    _neuron("Sigmoid", "1 / (1 + exp(-x))", "sigmoid_param", True),
    _neuron("Swish", "x sigmoid(beta x)", "swish_param", True),
    _neuron("TanH", "tanh(x)", "tanh_param", True),
    _neuron("Threshold", "x > threshold ? 1 : 0 (no backward)", "threshold_param", True),
    LayerType(
        "PReLU", "max(x, 0) + a min(x, 0), a learned per channel", "prelu_param", (1, 1),
        (1, 1), POINTWISE, neuron=True, same_shape=True, in_place=True, blobs=("slopes",),
        learnable=True,
    ),
    # vision
    LayerType(
        "Convolution", "(grouped, dilated) convolution + bias", "convolution_param", (1, None),
        (1, None), WINDOW, blobs=_CONV, learnable=True,
    ),
    LayerType(
        "Deconvolution", "transposed convolution + bias", "convolution_param", (1, None),
        (1, None), UPSAMPLE, blobs=_CONV, learnable=True,
    ),
    LayerType("Im2col", "the convolution's windows as channels", "convolution_param", (1, 1),
              (1, 1), WINDOW),
    LayerType("Pooling", "MAX/AVE/STOCHASTIC over windows (MAX: optional mask top)",
              "pooling_param", (1, 1), (1, 2), WINDOW),
    LayerType("SPP", "spatial pyramid pooling to a fixed-length vector", "spp_param", (1, 1),
              (1, 1), NONE),
    LayerType("LRN", "local response normalisation (across channels or within one)",
              "lrn_param", (1, 1), (1, 1), POINTWISE, same_shape=True),
    LayerType("Crop", "bottom 0 cut to bottom 1's size from offset", "crop_param", (2, 2),
              (1, 1), CROP),
    # common
    LayerType(
        "InnerProduct", "x W^T + b over the axes from `axis` on", "inner_product_param",
        (1, 1), (1, 1), NONE, blobs=_CONV, learnable=True,
    ),
    LayerType(
        "Embed", "rows of a learned table indexed by the bottom (+ bias)", "embed_param",
        (1, 1), (1, 1), NONE, blobs=_CONV, learnable=True,
    ),
    LayerType("Eltwise", "SUM (with coeff) / PROD / MAX of same-shaped bottoms",
              "eltwise_param", (2, None), (1, 1), POINTWISE, same_shape=True,
              joins=True),
    LayerType("Concat", "bottoms joined along `axis`", "concat_param", (1, None), (1, 1),
              POINTWISE, joins=True),
    LayerType("Slice", "the bottom cut along `axis` into the tops", "slice_param", (1, 1),
              (1, None), POINTWISE),
    LayerType("Split", "the bottom shared by every top (diffs summed)", None, (1, 1),
              (1, None), POINTWISE, same_shape=True),
    LayerType("Silence", "consumes its bottoms (zero diffs)", None, (1, None), (0, 0), NONE,
              role=SINK),
    LayerType(
        "Scale", "x * s (+ b), s learned or bottom 1", "scale_param", (1, 2), (1, 1),
        POINTWISE, same_shape=True, in_place=True, blobs=("scale", "bias"), learnable=True,
    ),
    LayerType(
        "Bias", "x + b, b learned or bottom 1", "bias_param", (1, 2), (1, 1), POINTWISE,
        same_shape=True, in_place=True, blobs=("bias",), learnable=True,
    ),
    LayerType(
        "BatchNorm", "(x - mean) / sqrt(var + eps) per channel", "batch_norm_param", (1, 1),
        (1, 1), POINTWISE, same_shape=True, in_place=True,
        blobs=("mean", "variance", "moving-average factor"),
    ),
    LayerType("MVN", "mean (and variance) normalisation over each map", "mvn_param", (1, 1),
              (1, 1), GRID, same_shape=True),
    LayerType("Softmax", "exp(x) / sum exp(x) along `axis`", "softmax_param", (1, 1), (1, 1),
              POINTWISE, same_shape=True, in_place=True),
    LayerType("Flatten", "axes axis..end_axis merged into one", "flatten_param", (1, 1),
              (1, 1), NONE),
    LayerType("Reshape", "a new shape for the same data (0 copies, -1 infers)",
              "reshape_param", (1, 1), (1, 1), NONE),
    LayerType("ArgMax", "indices (or values) of the top_k largest entries", "argmax_param",
              (1, 1), (1, 1), NONE),
    LayerType("Tile", "the bottom repeated `tiles` times along `axis`", "tile_param", (1, 1),
              (1, 1), POINTWISE),
    LayerType("Reduction", "SUM/ASUM/SUMSQ/MEAN over the axes from `axis` on",
              "reduction_param", (1, 1), (1, 1), NONE),
    LayerType("Filter", "items of the bottoms whose selector (last bottom) is nonzero", None,
              (2, None), (1, None), POINTWISE),
    LayerType("BatchReindex", "items of bottom 0 in the order of bottom 1", None, (2, 2),
              (1, 1), POINTWISE),
    LayerType("HDF5Output", "writes its two bottoms (data, label) to an HDF5 file",
              "hdf5_output_param", (2, 2), (0, 0), NONE, role=SINK),
    LayerType("Accuracy", "top-k accuracy of scores against labels (+ per class)",
              "accuracy_param", (2, 2), (1, 2), NONE, role=METRIC),
    # recurrent
    LayerType(
        "RNN", "Elman recurrent net over T x N x ... (cont: continuation flags)", _RECURRENT,
        (2, 3), (1, 1), NONE, blobs=("W_xh", "b_h", "W_xh_static", "W_hh", "W_ho", "b_o"),
        learnable=True,
    ),
    LayerType(
        "LSTM", "long short-term memory over T x N x ...", _RECURRENT, (2, 3), (1, 1), NONE,
        blobs=("W_xc", "b_c", "W_xc_static", "W_hc"), learnable=True,
    ),
    LayerType("LSTMUnit", "one LSTM step: (c_prev, gates, cont) -> (c, h)", None, (3, 3),
              (2, 2), NONE),
    # losses
    _loss("SoftmaxWithLoss", "multinomial logistic loss of the softmax", "softmax_param",
          tops=(1, 2)),
    _loss("EuclideanLoss", "sum (a - b)^2 / 2N", None),
    _loss("HingeLoss", "one-vs-all hinge loss (L1 or L2)", "hinge_loss_param"),
    _loss("InfogainLoss", "logistic loss weighted by an infogain matrix",
          "infogain_loss_param", bottoms=(2, 3), tops=(1, 2)),
    _loss("MultinomialLogisticLoss", "-log p[label] of given probabilities", None),
    _loss("SigmoidCrossEntropyLoss", "cross-entropy of sigmoid(x) with targets", None),
    _loss("ContrastiveLoss", "contrastive loss of two feature bottoms and a similarity",
          "contrastive_loss_param", bottoms=(3, 3)),
]
# fmt: on

TYPES: dict[str, LayerType] = {row.name: row for row in _ROWS}
assert len(TYPES) == len(_ROWS), "a type is listed twice"


def get(type_name: str) -> LayerType | None:
    """The record of a Caffe type name, or None for a type Caffe does not register."""
    return TYPES.get(type_name)


def _where(layer, where):
    return where or f"layer '{layer.name}' ({layer.type})"


def _axis(axis, ndim):
    """Caffe's CanonicalAxisIndex for an `ndim`-axis blob (None when out of range)."""
    if not -ndim <= axis < ndim:
        return None
    return axis + ndim if axis < 0 else axis


def _checked_axis(layer, field, axis, shape):
    """Canonical `axis` of a blob of `shape`, or LayerTypeError naming the layer's field."""
    out = _axis(axis, len(shape))
    if out is None:
        raise LayerTypeError(
            f"{_where(layer, None)}: {field}.axis {axis} is beyond its bottom {tuple(shape)} "
            f"({len(shape)} axes): use an axis in {-len(shape)}..{len(shape) - 1}"
        )
    return out


# ----------------------------------------------------------------------------- spatial kind
def spatial_kind(layer: caffe_pb2.LayerParameter, ndim: int = 4) -> str | None:
    """The spatial kind of a LayerParameter (see the module docstring) for `ndim`-axis bottoms
    (axes 2.. are spatial); None for a type this table does not know.

    Parameter-dependent kinds: Concat, Slice and Tile are pointwise along axes 0 and 1 and
    have no map along a spatial axis; ArgMax is pointwise with `axis` 0 or 1 and has no map
    without `axis` (it flattens); Softmax over a spatial axis and BatchNorm with batch
    statistics (use_global_stats false) are grid; LRN WITHIN_CHANNEL is a window; Python is
    a source without bottoms.
    """
    row = TYPES.get(layer.type)
    if row is None:
        return None
    t = layer.type
    if t == "Python":
        return SOURCE if not len(layer.bottom) else NONE
    if t in ("Concat", "Slice", "Tile"):
        p = getattr(layer, row.param)
        legacy = {"Concat": "concat_dim", "Slice": "slice_dim"}.get(t)
        axis = p.axis
        if legacy and p.HasField(legacy) and not p.HasField("axis"):
            axis = getattr(p, legacy)
        return POINTWISE if _axis(axis, ndim) in (0, 1) else NONE
    if t == "ArgMax":
        p = layer.argmax_param
        return POINTWISE if p.HasField("axis") and _axis(p.axis, ndim) in (0, 1) else NONE
    if t == "Softmax":
        return POINTWISE if _axis(layer.softmax_param.axis, ndim) in (0, 1) else GRID
    if t == "BatchNorm":
        p = layer.batch_norm_param
        return GRID if p.HasField("use_global_stats") and not p.use_global_stats else POINTWISE
    if t == "LRN":
        return WINDOW if layer.lrn_param.norm_region == 1 else POINTWISE  # 1: WITHIN_CHANNEL
    return row.spatial


def passes_through(layer: caffe_pb2.LayerParameter, ndim: int = 4) -> bool:
    """True when `layer` keeps its bottom's H x W grid, pixel for pixel (kinds pointwise and
    grid): its tops have the coordinate map of its bottoms."""
    return spatial_kind(layer, ndim) in (POINTWISE, GRID)


def types_of_kind(*kinds: str) -> frozenset[str]:
    """Names of the types whose parameter-independent kind is one of `kinds`."""
    return frozenset(n for n, row in TYPES.items() if row.spatial in kinds)


# ----------------------------------------------------------------------------- counts
def counts(
    layer: caffe_pb2.LayerParameter,
) -> tuple[tuple[int, int | None], tuple[int, int | None]]:
    """((min, max) bottoms, (min, max) tops) Caffe accepts for this LayerParameter (max None:
    any number). Convolution and Deconvolution take one top per bottom; Pooling's mask top
    exists for MAX only; Filter has one top per bottom but the selector; RNN/LSTM take an
    optional static input and, with expose_hidden, their hidden states as bottoms and tops.
    Loss layers create their top when the prototxt names none (Caffe's AutoTopBlobs)."""
    row = TYPES[layer.type]
    bottoms, tops = row.bottoms, row.tops
    n = len(layer.bottom)
    t = layer.type
    if t in ("Convolution", "Deconvolution"):
        tops = (n, n) if n else tops
    elif t == "Pooling":
        tops = (1, 2 if layer.pooling_param.pool == 0 else 1)  # 0: MAX
    elif t == "Filter" and n >= 2:
        tops = (n - 1, n - 1)
    elif t in ("RNN", "LSTM") and layer.recurrent_param.expose_hidden:
        hidden = 2 if t == "LSTM" else 1
        bottoms = (2 + hidden, 3 + hidden)
        tops = (1 + hidden, 1 + hidden)
    return bottoms, tops


# ----------------------------------------------------------------------------- geometry
def _require(ok, error, where, text):
    if not ok:
        raise error(f"{where}: {text}")


def _per_axis(values, hw, n, default, what, error, where):
    """Caffe's BaseConvolutionLayer rule for one of kernel/stride/pad/dilation: the _h/_w pair
    (`hw`: (name_h, value_h, name_w, value_w) when either is set; 2-D only, not with the
    repeated field `what`), else the repeated field given once for every axis or once per axis,
    else `default`."""
    vals = list(values)
    if hw is not None:
        name_h, h, name_w, w = hw
        _require(n == 2, error, where, f"{name_h}/{name_w} only apply to 2 spatial axes")
        _require(not vals, error, where, f"give either {what} or {name_h}/{name_w}, not both")
        return [h, w]
    if not vals:
        _require(default is not None, error, where, "no kernel_size (or kernel_h and kernel_w) set")
        return [default] * n
    _require(
        len(vals) in (1, n),
        error,
        where,
        f"{what} is given {len(vals)} times for {n} spatial axes (give it once, or once per axis)",
    )
    return [vals[0]] * n if len(vals) == 1 else vals


def _hw(cp, stem):
    """(name_h, value_h, name_w, value_w) of a ConvolutionParameter's stem_h/stem_w pair when
    either is set (an unset one reads as its default 0, as in Caffe), else None."""
    h, w = f"{stem}_h", f"{stem}_w"
    if cp.HasField(h) or cp.HasField(w):
        return (h, getattr(cp, h), w, getattr(cp, w))
    return None


def conv_geometry(
    layer: caffe_pb2.LayerParameter,
    n_spatial: int = 2,
    where: str | None = None,
    error: type = LayerTypeError,
) -> tuple[Window, ...]:
    """Window per spatial axis of a Convolution, Deconvolution or Im2col LayerParameter (its
    convolution_param), in bottom pixels for Convolution/Im2col, top pixels for Deconvolution.

    Caffe's rules (BaseConvolutionLayer::LayerSetUp): kernel_h/kernel_w (both, 2-D, never with
    kernel_size) or kernel_size once for every axis or once per axis; stride and pad likewise
    (stride_h/_w, pad_h/_w; defaults 1 and 0, an _h without its _w reads the _w as 0);
    dilation once or per axis (default 1). Kernel and stride must be >= 1; dilation >= 1 is
    required here too (Caffe does not check it; a dilation of 0 reads one pixel k times).
    """
    where = _where(layer, where)
    cp = layer.convolution_param
    k = _per_axis(cp.kernel_size, _hw(cp, "kernel"), n_spatial, None, "kernel_size", error, where)
    s = _per_axis(cp.stride, _hw(cp, "stride"), n_spatial, 1, "stride", error, where)
    p = _per_axis(cp.pad, _hw(cp, "pad"), n_spatial, 0, "pad", error, where)
    d = _per_axis(cp.dilation, None, n_spatial, 1, "dilation", error, where)
    out = tuple(Window(*map(int, a)) for a in zip(k, s, p, d))
    _check_window(out, error, where)
    return out


def _check_window(axes, error, where):
    for name, w in zip("HW" if len(axes) == 2 else range(len(axes)), axes):
        for what, v in (("kernel size", w.kernel), ("stride", w.stride), ("dilation", w.dilation)):
            if v is not None and v < 1:
                raise error(
                    f"{where}: {what} {v} on axis {name}; it must be >= 1 (fix that layer's "
                    "parameters)"
                )


def pool_geometry(
    layer: caffe_pb2.LayerParameter,
    map_hw: tuple[int, int] | None = None,
    where: str | None = None,
    error: type = LayerTypeError,
) -> tuple[Window, Window]:
    """(H, W) windows of a Pooling LayerParameter, in bottom pixels.

    Caffe's rules (PoolingLayer::LayerSetUp): kernel_size, or kernel_h and kernel_w (both, and
    not with kernel_size); pad, or pad_h and pad_w (both, not with pad); stride likewise
    (default 1). global_pooling takes no kernel size, pad 0 and stride 1: its kernel is the
    bottom's H x W (`map_hw`), None while that is not given. A nonzero pad must be smaller than
    the kernel on both axes and needs MAX or AVE.
    """
    where = _where(layer, where)
    pp = layer.pooling_param
    has = pp.HasField
    if pp.global_pooling:
        _require(
            not (has("kernel_size") or has("kernel_h") or has("kernel_w")),
            error,
            where,
            "global_pooling takes no kernel size (the kernel is the whole map)",
        )
    else:
        _require(
            has("kernel_size") != (has("kernel_h") and has("kernel_w")),
            error,
            where,
            "set kernel_size, or kernel_h and kernel_w (both, and not with kernel_size)",
        )
    for what in ("pad", "stride"):
        h, w = has(f"{what}_h"), has(f"{what}_w")
        _require(
            (h and w and not has(what)) or not (h or w),
            error,
            where,
            f"set {what}, or {what}_h and {what}_w (both, and not with {what})",
        )
    if pp.global_pooling:
        kh, kw = map_hw if map_hw is not None else (None, None)
    elif has("kernel_size"):
        kh = kw = pp.kernel_size
    else:
        kh, kw = pp.kernel_h, pp.kernel_w
    ph, pw = (pp.pad_h, pp.pad_w) if has("pad_h") else (pp.pad, pp.pad)
    sh, sw = (pp.stride_h, pp.stride_w) if has("stride_h") else (pp.stride, pp.stride)
    out = (Window(kh, sh, ph), Window(kw, sw, pw))
    _check_window(out, error, where)
    if pp.global_pooling:
        _require(
            (ph, pw, sh, sw) == (0, 0, 1, 1),
            error,
            where,
            "global_pooling needs pad 0 and stride 1",
        )
    if ph or pw:
        _require(pp.pool in (0, 1), error, where, "padding needs MAX or AVE pooling")
        for w in out:
            _require(
                w.kernel is None or w.pad < w.kernel,
                error,
                where,
                f"pad {w.pad} must be smaller than the kernel size {w.kernel}",
            )
    return out


def lrn_geometry(layer: caffe_pb2.LayerParameter) -> tuple[Window, Window] | None:
    """(H, W) windows of an LRN WITHIN_CHANNEL layer: local_size, stride 1, pad
    (local_size - 1) / 2 (Caffe pools the squares with AVE over that window); None for
    ACROSS_CHANNELS, which reads one position."""
    p = layer.lrn_param
    if p.norm_region != 1:
        return None
    w = Window(p.local_size, 1, (p.local_size - 1) // 2)
    return (w, w)


def spp_geometry(
    layer: caffe_pb2.LayerParameter, map_hw: tuple[int, int]
) -> list[tuple[Window, Window]]:
    """(H, W) pooling windows of each level of an SPP layer over an H x W map.

    Level i has 2^i bins per axis: kernel ceil(size / bins), stride = kernel, pad
    (kernel * bins - size + 1) // 2 (Caffe's SPPLayer::GetPoolingParam); each level's output
    then follows the pooling rules (pool_out_shape)."""
    out = []
    for i in range(layer.spp_param.pyramid_height):
        bins = 2**i
        axes = []
        for size in map_hw:
            k = -(-size // bins)
            axes.append(Window(k, k, (k * bins - size + 1) // 2))
        out.append(tuple(axes))
    return out


def window_geometry(
    layer: caffe_pb2.LayerParameter,
    n_spatial: int = 2,
    map_hw: tuple[int, int] | None = None,
    where: str | None = None,
    error: type = LayerTypeError,
) -> tuple[Window, ...] | None:
    """Windows per spatial axis of a layer of kind window or upsample (Convolution, Im2col,
    Deconvolution, Pooling, LRN WITHIN_CHANNEL); None for other layers."""
    t = layer.type
    if t in ("Convolution", "Deconvolution", "Im2col"):
        return conv_geometry(layer, n_spatial, where, error)
    if t == "Pooling":
        return pool_geometry(layer, map_hw, where, error)
    if t == "LRN":
        return lrn_geometry(layer)
    return None


# ----------------------------------------------------------------------------- output sizes
def conv_out_size(size: int, kernel: int, stride: int = 1, pad: int = 0, dilation: int = 1) -> int:
    """Convolution/Im2col output size along one axis, in pixels:
    (size + 2 pad - extent) / stride + 1 with extent = dilation (kernel - 1) + 1 and C++'s
    division, which truncates toward zero (an input a little smaller than the window still
    gives one output pixel, read partly beyond the padding, as Caffe does)."""
    num = size + 2 * pad - (dilation * (kernel - 1) + 1)
    return int(num / stride) + 1 if num < 0 else num // stride + 1


def deconv_out_size(
    size: int, kernel: int, stride: int = 1, pad: int = 0, dilation: int = 1
) -> int:
    """Deconvolution output size along one axis, in pixels: stride (size - 1) + extent - 2 pad."""
    return stride * (size - 1) + dilation * (kernel - 1) + 1 - 2 * pad


def pool_out_size(
    size: int,
    kernel: int,
    stride: int = 1,
    pad: int = 0,
    ceil: bool = True,
    clip: bool | None = None,
) -> int:
    """Pooling output size along one axis, in pixels: ceil (round_mode CEIL, the default) or
    floor of (size + 2 pad - kernel) / stride, plus 1; when the layer pads (`clip`, default
    pad > 0) and the last window would start at or beyond size + pad, one less.

    Caffe applies that last rule to both axes when either is padded: pass clip = pad_h or
    pad_w (pool_out_shape does)."""
    num = size + 2 * pad - kernel
    out = (-(-num // stride) if ceil else num // stride) + 1
    if (pad > 0 if clip is None else clip) and (out - 1) * stride >= size + pad:
        out -= 1
    return out


def pool_out_shape(
    map_hw: tuple[int, int], windows: tuple[Window, Window], ceil: bool = True
) -> tuple[int, int]:
    """Pooling output (H, W) of an H x W map (PoolingLayer::Reshape): pool_out_size per axis,
    the padded-window rule on both axes when either pads; a global window (kernel None) is the
    whole map."""
    clip = any(w.pad for w in windows)
    return tuple(
        pool_out_size(size, w.kernel if w.kernel is not None else size, w.stride, w.pad, ceil, clip)
        for size, w in zip(map_hw, windows)
    )


def pool_ceil(layer: caffe_pb2.LayerParameter) -> bool:
    """Whether a Pooling layer rounds its output size up (round_mode CEIL, the default)."""
    return layer.pooling_param.round_mode == 0


def spp_out_size(layer: caffe_pb2.LayerParameter, channels: int) -> int:
    """Length of an SPP layer's output vector: channels x sum over levels of bins^2."""
    return channels * sum(4**i for i in range(layer.spp_param.pyramid_height))


# ----------------------------------------------------------------------------- crop
def crop_offsets(
    layer: caffe_pb2.LayerParameter,
    ndim: int = 4,
    where: str | None = None,
    error: type = LayerTypeError,
) -> tuple[int, tuple[int, ...]]:
    """(start axis, offset per axis 0..ndim-1) of a Crop layer over `ndim`-axis bottoms.

    Caffe's rules (CropLayer): axes from crop_param.axis (default 2, negative counts from the
    end) on are cut; one offset applies to all of them, several must number exactly one per
    cut axis, none means 0. Axes before the start axis get offset 0 (they are not cut)."""
    where = _where(layer, where)
    cp = layer.crop_param
    axis = _axis(cp.axis, ndim)
    if axis is None:
        raise error(
            f"{where}: crop_param.axis {cp.axis} is beyond the {ndim} axes of its bottoms: "
            f"use an axis in {-ndim}..{ndim - 1} (2 crops height and width)"
        )
    offs = [int(v) for v in cp.offset]
    if len(offs) > 1 and len(offs) != ndim - axis:
        raise error(
            f"{where}: {len(offs)} crop offsets given; give one, or exactly {ndim - axis} "
            f"(one per axis from {axis} on)"
        )
    per = [0] * ndim
    for i in range(axis, ndim):
        per[i] = offs[0] if len(offs) == 1 else (offs[i - axis] if offs else 0)
    return axis, tuple(per)


# ----------------------------------------------------------------------------- blob shapes
def param_shapes(
    layer: caffe_pb2.LayerParameter, bottom_shapes: list[tuple[int, ...]]
) -> list[tuple[int, ...]]:
    """Shapes of the blobs Caffe creates for `layer` given its bottoms' shapes, in the order a
    caffemodel stores them ([] for types without blobs; Python's are its own business).

    Convolution (Cout, Cin/g, *kernel) [+ (Cout,)]; Deconvolution (Cin, Cout/g, *kernel)
    [+ (Cout,)]; InnerProduct (N, K) or (K, N) transposed [+ (N,)], K = prod(bottom[axis:]);
    Embed (input_dim, N) [+ (N,)]; Scale with one bottom: bottom[axis:axis+num_axes] [+ the
    same for its bias], with two: its bias only, bottom 1's shape; Bias with one bottom:
    bottom[axis:axis+num_axes]; BatchNorm (C,), (C,), (1,); PReLU (C,), or () channel_shared;
    Parameter its shape; RNN/LSTM their unrolled inner-product weights (H hidden units,
    G = H for RNN and 4H for LSTM): (G, prod(x[2:])), (G,), [(G, prod(x_static[1:]))],
    (G, H), and for RNN (H, H), (H,)."""
    t = layer.type
    b0 = tuple(bottom_shapes[0]) if bottom_shapes else ()
    if t in ("Convolution", "Deconvolution"):
        cp = layer.convolution_param
        kernel = tuple(w.kernel for w in conv_geometry(layer, max(len(b0) - 2, 1)))
        g, cout, cin = cp.group, cp.num_output, b0[1]
        w = (cout, cin // g) if t == "Convolution" else (cin, cout // g)
        return [w + kernel] + ([(cout,)] if cp.bias_term else [])
    if t == "InnerProduct":
        ip = layer.inner_product_param
        k = math.prod(b0[_checked_axis(layer, "inner_product_param", ip.axis, b0) :])
        w = (k, ip.num_output) if ip.transpose else (ip.num_output, k)
        return [w] + ([(ip.num_output,)] if ip.bias_term else [])
    if t == "Embed":
        ep = layer.embed_param
        return [(ep.input_dim, ep.num_output)] + ([(ep.num_output,)] if ep.bias_term else [])
    if t in ("Scale", "Bias"):
        p = layer.scale_param if t == "Scale" else layer.bias_param
        if len(bottom_shapes) > 1:
            extra = t == "Scale" and p.bias_term
            return [tuple(bottom_shapes[1])] if extra else []
        field = "scale_param" if t == "Scale" else "bias_param"
        axis = _checked_axis(layer, field, p.axis, b0)
        if p.num_axes < -1 or axis + p.num_axes > len(b0):
            raise LayerTypeError(
                f"{_where(layer, None)}: {field}.num_axes {p.num_axes} from axis {axis} runs "
                f"past its bottom {b0} (use -1 for all the remaining axes)"
            )
        shape = b0[axis:] if p.num_axes == -1 else b0[axis : axis + p.num_axes]
        return [shape] + ([shape] if t == "Scale" and p.bias_term else [])
    if t == "BatchNorm":
        return [(b0[1],), (b0[1],), (1,)]
    if t == "PReLU":
        return [()] if layer.prelu_param.channel_shared else [(b0[1],)]
    if t == "Parameter":
        return [tuple(int(d) for d in layer.parameter_param.shape.dim)]
    if t in ("RNN", "LSTM"):
        h = layer.recurrent_param.num_output
        g = 4 * h if t == "LSTM" else h
        out = [(g, math.prod(b0[2:])), (g,)]
        if _static_input(layer, len(bottom_shapes)):
            out.append((g, math.prod(tuple(bottom_shapes[2])[1:])))
        out.append((g, h))
        return out + ([(h, h), (h,)] if t == "RNN" else [])
    return []


def blob_names(layer: caffe_pb2.LayerParameter) -> tuple[str, ...]:
    """Names of the blobs Caffe creates for `layer`, in caffemodel order (as param_shapes):
    the record's `blobs` less those its parameters leave out (a bias without bias_term, a
    Scale's factor when bottom 1 gives it, an RNN/LSTM static weight without static input)."""
    row = TYPES.get(layer.type)
    if row is None or not row.blobs:
        return ()
    t = layer.type
    names = list(row.blobs)
    bias = {
        "Convolution": "convolution_param", "Deconvolution": "convolution_param",
        "InnerProduct": "inner_product_param", "Embed": "embed_param", "Scale": "scale_param",
    }.get(t)  # fmt: skip
    if bias and not getattr(layer, bias).bias_term:
        names.remove("bias")
    if t == "Scale" and len(layer.bottom) > 1:
        names.remove("scale")
    if t == "Bias" and len(layer.bottom) > 1:
        names = []
    if t in ("RNN", "LSTM") and not _static_input(layer, len(layer.bottom)):
        names = [n for n in names if not n.endswith("_static")]
    return tuple(names)


class Each:
    """In a declared shape: this size on every remaining (spatial) axis, at least one."""

    def __init__(self, k: int):
        self.k = k

    def __repr__(self):
        return f"Each({self.k})"


ANY = "any"


def declared_param_shapes(layer: caffe_pb2.LayerParameter) -> list | None:
    """What a LayerParameter alone says about its blobs: a list of partial shapes (tuples of
    ints, None for sizes that depend on the bottoms, Each(k) for k on every spatial axis) or
    ANY per blob whose shape comes from the bottoms only; None for types without blobs and for
    Python (whose blobs its code decides). Same order and rules as param_shapes."""
    t = layer.type
    if t in ("Convolution", "Deconvolution"):
        cp = layer.convolution_param
        if cp.HasField("kernel_h") or cp.HasField("kernel_w"):
            kernel = (cp.kernel_h, cp.kernel_w)
        else:
            ks = tuple(cp.kernel_size)
            kernel = (Each(ks[0]),) if len(ks) == 1 else ks
        if t == "Convolution":
            w = (cp.num_output, None)
        else:
            w = (None, cp.num_output // max(cp.group, 1))
        return [w + kernel] + ([(cp.num_output,)] if cp.bias_term else [])
    if t == "InnerProduct":
        ip = layer.inner_product_param
        w = (None, ip.num_output) if ip.transpose else (ip.num_output, None)
        return [w] + ([(ip.num_output,)] if ip.bias_term else [])
    if t == "Embed":
        ep = layer.embed_param
        return [(ep.input_dim, ep.num_output)] + ([(ep.num_output,)] if ep.bias_term else [])
    if t == "Scale":
        n = (0 if len(layer.bottom) > 1 else 1) + bool(layer.scale_param.bias_term)
        return [ANY] * n or None
    if t == "Bias":
        return [ANY] if len(layer.bottom) < 2 else None
    if t == "BatchNorm":
        return [(None,), (None,), (1,)]
    if t == "PReLU":
        return [()] if layer.prelu_param.channel_shared else [(None,)]
    if t == "Parameter":
        return [tuple(int(d) for d in layer.parameter_param.shape.dim)]
    if t in ("RNN", "LSTM"):
        n = (5 if t == "RNN" else 3) + _static_input(layer, len(layer.bottom))
        return [ANY] * n
    return None


def _static_input(layer, n_bottoms):
    """Whether an RNN/LSTM layer with `n_bottoms` bottoms has a static input (bottom 2): more
    bottoms than x, cont and the exposed hidden states."""
    hidden = (2 if layer.type == "LSTM" else 1) if layer.recurrent_param.expose_hidden else 0
    return n_bottoms > 2 + hidden
