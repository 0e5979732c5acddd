"""Classifiers of six more families in the Caffe format, with random weights, for `surgery fcnize`.

Each builder writes the deploy net of a published Caffe classifier in its own layer names and
structure (kernels, strides, pads, groups, BatchNorm/Scale placement, Concat order, in-place
tops), at channel width `width` (every count scaled, class count kept) and input side `size`:

    squeezenet    SqueezeNet v1.1 (Iandola et al.; the authors' Caffe release): Fire modules
                  (squeeze 1x1 -> expand 1x1 + expand 3x3 -> Concat), conv10 1x1 to the classes,
                  pool10 global AVE, prob. No fully connected layer. Input 227.
    mobilenet     MobileNet-v1 (Howard et al.; shicai/MobileNet-Caffe): conv1 + 13 depthwise
                  (group = channels) / pointwise pairs, each convolution followed by BatchNorm
                  (no use_global_stats: global statistics in TEST) + Scale + ReLU, pool6 global
                  AVE, fc7 as a 1x1 Convolution. Input by `input`/`input_dim`, as published.
    densenet121   DenseNet-121 (Huang et al.; shicai/DenseNet-Caffe): dense blocks of 6/12/24/16
                  BN-Scale-ReLU-conv1x1-BN-Scale-ReLU-conv3x3 layers, each concatenated onto its
                  input; transitions BN-Scale-ReLU-conv1x1 (half the channels) + AVE 2x2 pooling;
                  pool1 MAX with round_mode FLOOR; pool5 global AVE; fc6 as a 1x1 Convolution.
                  Input by `input`/`input_dim`, as published.
    nin           Network in Network for ImageNet (Lin et al.; the BVLC model zoo's, released in
                  the V1 format): mlpconv blocks (conv + two 1x1 `cccp` convs, ReLU each), MAX
                  pooling, a Dropout, conv4-1024 / cccp7-1024 / cccp8-1024 (layer names differ
                  from their tops conv4 / cccp7 / cccp8), pool4 AVE 6x6 stride 1 (global at 224).
                  The release is a train_val net; this is its deploy form (Input, prob).
    bn_inception  BN-Inception (Ioffe & Szegedy; the Caffe release used by TSN, Xiong et al.):
                  10 inception modules with 1x1, 3x3 and double-3x3 branches and AVE/MAX pool
                  branches, 3c and 4e reducing with stride 2; every convolution (with bias)
                  followed by its batch normalisation (top `<conv>_bn`) and an in-place ReLU;
                  global_pool AVE 7x7 stride 1, dropout 0.8, fc InnerProduct. The release's
                  fused, frozen BN layer (the type "BN" of its Caffe fork) is written as BVLC
                  BatchNorm `<conv>_bn` (global statistics) + in-place Scale `<conv>_scale`.
                  Input by `input`/`input_dim`, as published.
    prelu_vgg16   VGG-16 (the ILSVRC deploy layout of zoo.classifiers) with PReLU activations
                  (He et al., "Delving deep into rectifiers"): every ReLU replaced by a channel-wise
                  PReLU of the same name, relu7 channel-shared (one slope); fc6..fc8 InnerProduct.
                  spp=True puts that paper's spatial pyramid pooling in place of pool5: the
                  variant surgery must refuse.

V1 format: SqueezeNet and NiN only; V1 has no enum values for BatchNorm, Scale and PReLU
(caffeio.legacy.to_v1 raises ValueError naming the layer). pad=False (NiN, MobileNet,
PReLU-VGG-16: the chains whose convolutions need no padding to line up) drops every convolution's
padding: at a native size whose pooling windows tile the maps exactly, each cell of the
fcnized net's score map is the classifier on the matching crop, exactly.
"""

import os
from dataclasses import dataclass

import caffeio
from caffeio import caffe_pb2
from caffeio.legacy import to_v1
from netspec import shapes
from netspec.builder import layer_proto
from zoo import classifiers
from zoo.trunks import channels


class _Seq:
    """A net written layer by layer with explicit names and tops (netspec's layer_proto)."""

    def __init__(self, name, size):
        self.net = caffe_pb2.NetParameter(name=name)
        h, w = (size, size) if isinstance(size, int) else size
        self.add("Input", "data", [], shape=dict(dim=[1, 3, h, w]))

    def add(self, type_, name, bottom, top=None, **params):
        layer = layer_proto(type_, **params)
        layer.name = name
        layer.bottom.extend([bottom] if isinstance(bottom, str) else bottom)
        layer.top.append(top or name)
        self.net.layer.add().CopyFrom(layer)
        return layer.top[0]


def _pads(pad, value):
    return dict(pad=value) if pad and value else {}


# ------------------------------------------------------------------------------- SqueezeNet
# fire module -> (squeeze, expand) of SqueezeNet v1.1; pools after fire3 and fire5
SQUEEZE_FIRES = (
    (2, 16, 64),
    (3, 16, 64),
    (4, 32, 128),
    (5, 32, 128),
    (6, 48, 192),
    (7, 48, 192),
    (8, 64, 256),
    (9, 64, 256),
)


def squeezenet(width=1.0, num_classes=1000, size=None, pad=True):
    """SqueezeNet v1.1 deploy net (input 1x3x227x227 by default) -> NetParameter."""
    if not pad:
        raise ValueError("squeezenet: expand3x3 needs its pad 1 to line up with expand1x1")
    s = _Seq("SqueezeNet_v1.1", size or 227)
    top = s.add(
        "Convolution", "conv1", "data", num_output=channels(64, width), kernel_size=3, stride=2
    )
    s.add("ReLU", "relu_conv1", top, top)
    top = s.add("Pooling", "pool1", top, pool="MAX", kernel_size=3, stride=2)
    for f, sq, ex in SQUEEZE_FIRES:
        p = f"fire{f}/"
        sq_top = s.add(
            "Convolution", p + "squeeze1x1", top, num_output=channels(sq, width), kernel_size=1
        )
        s.add("ReLU", p + "relu_squeeze1x1", sq_top, sq_top)
        e1 = s.add(
            "Convolution", p + "expand1x1", sq_top, num_output=channels(ex, width), kernel_size=1
        )
        s.add("ReLU", p + "relu_expand1x1", e1, e1)
        e3 = s.add(
            "Convolution",
            p + "expand3x3",
            sq_top,
            num_output=channels(ex, width),
            pad=1,
            kernel_size=3,
        )
        s.add("ReLU", p + "relu_expand3x3", e3, e3)
        top = s.add("Concat", p + "concat", [e1, e3])
        if f in (3, 5):
            top = s.add("Pooling", f"pool{f}", top, pool="MAX", kernel_size=3, stride=2)
    s.add("Dropout", "drop9", top, top, dropout_ratio=0.5)
    top = s.add("Convolution", "conv10", top, num_output=num_classes, kernel_size=1)
    s.add("ReLU", "relu_conv10", top, top)
    top = s.add("Pooling", "pool10", top, pool="AVE", global_pooling=True)
    s.add("Softmax", "prob", top)
    return s.net


# -------------------------------------------------------------------------------- MobileNet
# block -> (output channels of its pointwise conv, stride of its depthwise conv)
MOBILENET_BLOCKS = (
    ("2_1", 64, 1),
    ("2_2", 128, 2),
    ("3_1", 128, 1),
    ("3_2", 256, 2),
    ("4_1", 256, 1),
    ("4_2", 512, 2),
    ("5_1", 512, 1),
    ("5_2", 512, 1),
    ("5_3", 512, 1),
    ("5_4", 512, 1),
    ("5_5", 512, 1),
    ("5_6", 1024, 2),
    ("6", 1024, 1),
)
_LEARN = [dict(lr_mult=1, decay_mult=1)]
_FROZEN3 = [dict(lr_mult=0, decay_mult=0)] * 3
_MSRA = dict(type="msra")


def _mobile_unit(s, conv, relu, bottom, nout, ks, stride, pad, group=1):
    kw = dict(group=group, engine="CAFFE") if group > 1 else {}
    s.add(
        "Convolution",
        conv,
        bottom,
        param=_LEARN,
        num_output=nout,
        bias_term=False,
        pad=pad,
        kernel_size=ks,
        stride=stride,
        weight_filler=_MSRA,
        **kw,
    )
    top = s.add("BatchNorm", conv + "/bn", conv, param=_FROZEN3)
    s.add(
        "Scale",
        conv + "/scale",
        top,
        top,
        filler=dict(value=1),
        bias_term=True,
        bias_filler=dict(value=0),
    )
    s.add("ReLU", relu, top, top)
    return top


def mobilenet(width=1.0, num_classes=1000, size=None, pad=True):
    """MobileNet-v1 deploy net (input 1x3x224x224 by default) -> NetParameter."""
    s = _Seq("MOBILENET", size or 224)
    c = channels(32, width)
    top = _mobile_unit(s, "conv1", "relu1", "data", c, 3, 2, int(pad))
    for name, nout, stride in MOBILENET_BLOCKS:
        top = _mobile_unit(
            s, f"conv{name}/dw", f"relu{name}/dw", top, c, 3, stride, int(pad), group=c
        )
        c = channels(nout, width)
        top = _mobile_unit(s, f"conv{name}/sep", f"relu{name}/sep", top, c, 1, 1, 0)
    top = s.add("Pooling", "pool6", top, pool="AVE", global_pooling=True)
    s.add(
        "Convolution",
        "fc7",
        top,
        param=_LEARN + [dict(lr_mult=2, decay_mult=0)],
        num_output=num_classes,
        kernel_size=1,
        weight_filler=_MSRA,
        bias_filler=dict(type="constant", value=0),
    )
    return s.net


# --------------------------------------------------------------------------------- DenseNet
DENSENET121_BLOCKS = (6, 12, 24, 16)


def _bn_relu(s, prefix, relu, bottom):
    top = s.add("BatchNorm", prefix + "/bn", bottom, eps=1e-5)
    s.add("Scale", prefix + "/scale", top, top, bias_term=True)
    s.add("ReLU", relu, top, top)
    return top


def densenet121(width=1.0, num_classes=1000, size=None, pad=True):
    """DenseNet-121 deploy net (input 1x3x224x224 by default) -> NetParameter."""
    if not pad:
        raise ValueError("densenet121: each 3x3 conv needs its pad 1 to concatenate")
    growth, inner = channels(32, width), channels(128, width)
    s = _Seq("DENSENET_121", size or 224)
    c = channels(64, width)
    s.add(
        "Convolution",
        "conv1",
        "data",
        num_output=c,
        bias_term=False,
        pad=3,
        kernel_size=7,
        stride=2,
    )
    top = _bn_relu(s, "conv1", "relu1", "conv1")
    top = s.add(
        "Pooling", "pool1", top, pool="MAX", kernel_size=3, stride=2, pad=1, round_mode="FLOOR"
    )
    for b, count in enumerate(DENSENET121_BLOCKS, 2):
        for i in range(1, count + 1):
            x = f"conv{b}_{i}"
            y = _bn_relu(s, x + "/x1", f"relu{b}_{i}/x1", top)
            s.add("Convolution", x + "/x1", y, num_output=inner, bias_term=False, kernel_size=1)
            y = _bn_relu(s, x + "/x2", f"relu{b}_{i}/x2", x + "/x1")
            s.add(
                "Convolution",
                x + "/x2",
                y,
                num_output=growth,
                bias_term=False,
                pad=1,
                kernel_size=3,
            )
            top = s.add("Concat", f"concat_{b}_{i}", [top, x + "/x2"])
            c += growth
        y = _bn_relu(s, f"conv{b}_blk", f"relu{b}_blk", top)
        if b == 5:
            top = s.add("Pooling", "pool5", y, pool="AVE", global_pooling=True)
            break
        c //= 2
        s.add("Convolution", f"conv{b}_blk", y, num_output=c, bias_term=False, kernel_size=1)
        top = s.add("Pooling", f"pool{b}", f"conv{b}_blk", pool="AVE", kernel_size=2, stride=2)
    s.add("Convolution", "fc6", top, num_output=num_classes, kernel_size=1)
    return s.net


# ------------------------------------------------------------------------------------- NiN
# (layer, top, channels, kernel, stride, pad, relu) of the NiN ImageNet model, in order; None
# entries are its MAX poolings (3x3 stride 2) and its Dropout.
NIN_LAYERS = (
    ("conv1", "conv1", 96, 11, 4, 0, "relu0"),
    ("cccp1", "cccp1", 96, 1, 1, 0, "relu1"),
    ("cccp2", "cccp2", 96, 1, 1, 0, "relu2"),
    ("pool0", None),
    ("conv2", "conv2", 256, 5, 1, 2, "relu3"),
    ("cccp3", "cccp3", 256, 1, 1, 0, "relu5"),
    ("cccp4", "cccp4", 256, 1, 1, 0, "relu6"),
    ("pool2", None),
    ("conv3", "conv3", 384, 3, 1, 1, "relu7"),
    ("cccp5", "cccp5", 384, 1, 1, 0, "relu8"),
    ("cccp6", "cccp6", 384, 1, 1, 0, "relu9"),
    ("pool3", None),
    ("drop", None),
    ("conv4-1024", "conv4", 1024, 3, 1, 1, "relu10"),
    ("cccp7-1024", "cccp7", 1024, 1, 1, 0, "relu11"),
    ("cccp8-1024", "cccp8", None, 1, 1, 0, "relu12"),
)
_NIN_PARAMS = [dict(lr_mult=1, decay_mult=1), dict(lr_mult=2, decay_mult=0)]


def nin(width=1.0, num_classes=1000, size=None, pad=True):
    """NiN ImageNet deploy net (input 1x3x224x224 by default) -> NetParameter."""
    s = _Seq("nin_imagenet", size or 224)
    top = "data"
    for name, out, *conv in NIN_LAYERS:
        if out is None and name == "drop":
            s.add("Dropout", name, top, top, dropout_ratio=0.5)
        elif out is None:
            top = s.add("Pooling", name, top, pool="MAX", kernel_size=3, stride=2)
        else:
            c, k, stride, p, relu = conv
            std = 0.01 if name in ("conv1", "conv3", "cccp8-1024") else 0.05
            kw = dict(stride=stride) if stride != 1 else {}
            top = s.add(
                "Convolution",
                name,
                top,
                out,
                param=_NIN_PARAMS,
                num_output=num_classes if c is None else channels(c, width),
                kernel_size=k,
                weight_filler=dict(type="gaussian", mean=0, std=std),
                bias_filler=dict(type="constant", value=0),
                **kw,
                **_pads(pad, p),
            )
            s.add("ReLU", relu, top, top)
    # 6 x 6 at 224: the whole cccp8 map (at other sizes too)
    top = s.add("Pooling", "pool4", top, pool="AVE", kernel_size=_last_side(s.net, top), stride=1)
    s.add("Softmax", "prob", top)
    return s.net


# ---------------------------------------------------------------------------- BN-Inception
# module -> (1x1, 3x3 reduce, 3x3, double 3x3 reduce, double 3x3, pool kind, pool proj);
# stride-2 modules have no 1x1 and no projection (their MAX pool passes through)
BN_INCEPTION = (
    ("3a", (64, 64, 64, 64, 96, "AVE", 32)),
    ("3b", (64, 64, 96, 64, 96, "AVE", 64)),
    ("3c", (None, 128, 160, 64, 96, "MAX", None)),
    ("4a", (224, 64, 96, 96, 128, "AVE", 128)),
    ("4b", (192, 96, 128, 96, 128, "AVE", 128)),
    ("4c", (160, 128, 160, 128, 160, "AVE", 128)),
    ("4d", (96, 128, 192, 160, 192, "AVE", 128)),
    ("4e", (None, 128, 192, 192, 256, "MAX", None)),
    ("5a", (352, 192, 320, 160, 224, "AVE", 128)),
    ("5b", (352, 192, 320, 192, 224, "MAX", 128)),
)


def _conv_bn(s, conv, relu, bottom, nout, ks, stride=1, pad=0):
    kw = dict(stride=stride) if stride != 1 else {}
    s.add("Convolution", conv, bottom, num_output=nout, kernel_size=ks, **kw, **_pads(True, pad))
    top = s.add("BatchNorm", conv + "_bn", conv, use_global_stats=True)
    s.add("Scale", conv + "_scale", top, top, bias_term=True)
    s.add("ReLU", relu, top, top)
    return top


def bn_inception(width=1.0, num_classes=1000, size=None, pad=True):
    """BN-Inception deploy net (input 1x3x224x224 by default) -> NetParameter."""
    if not pad:
        raise ValueError("bn_inception: the 3x3 branches need their pad 1 to concatenate")
    s = _Seq("BN-Inception", size or 224)
    w = lambda c: channels(c, width)  # noqa: E731
    top = _conv_bn(s, "conv1/7x7_s2", "conv1/relu_7x7", "data", w(64), 7, 2, 3)
    top = s.add("Pooling", "pool1/3x3_s2", top, pool="MAX", kernel_size=3, stride=2)
    top = _conv_bn(s, "conv2/3x3_reduce", "conv2/relu_3x3_reduce", top, w(64), 1)
    top = _conv_bn(s, "conv2/3x3", "conv2/relu_3x3", top, w(192), 3, 1, 1)
    top = s.add("Pooling", "pool2/3x3_s2", top, pool="MAX", kernel_size=3, stride=2)
    for m, (c1, r3, c3, rd, cd, pool, proj) in BN_INCEPTION:
        p, stride, outs = f"inception_{m}/", 1 if c1 else 2, []
        if c1:
            outs.append(_conv_bn(s, p + "1x1", p + "relu_1x1", top, w(c1), 1))
        x = _conv_bn(s, p + "3x3_reduce", p + "relu_3x3_reduce", top, w(r3), 1)
        outs.append(_conv_bn(s, p + "3x3", p + "relu_3x3", x, w(c3), 3, stride, 1))
        x = _conv_bn(s, p + "double_3x3_reduce", p + "relu_double_3x3_reduce", top, w(rd), 1)
        x = _conv_bn(s, p + "double_3x3_1", p + "relu_double_3x3_1", x, w(cd), 3, 1, 1)
        outs.append(
            _conv_bn(s, p + "double_3x3_2", p + "relu_double_3x3_2", x, w(cd), 3, stride, 1)
        )
        window = dict(kernel_size=3, stride=stride) | (dict(pad=1) if stride == 1 else {})
        x = s.add("Pooling", p + "pool", top, pool=pool, **window)
        if proj:
            x = _conv_bn(s, p + "pool_proj", p + "relu_pool_proj", x, w(proj), 1)
        outs.append(x)
        top = s.add("Concat", p + "output", outs)
    top = s.add(
        "Pooling", "global_pool", top, pool="AVE", kernel_size=_last_side(s.net, top), stride=1
    )
    s.add("Dropout", "dropout", top, top, dropout_ratio=0.8)
    s.add("InnerProduct", "fc", top, num_output=num_classes)
    return s.net


def _last_side(net, top):
    """Side of blob `top` of the net built so far (the map a final pooling covers)."""
    return shapes.infer(net)[top][2]


# ------------------------------------------------------------------------------ PReLU VGG-16
def prelu_vgg16(width=1.0, num_classes=1000, size=None, pad=True, spp=False):
    """VGG-16 classifier with PReLU activations (spp=True: SPP in place of pool5)."""
    net = classifiers.classifier("vgg16", width, num_classes, size or 224)
    net.name = "VGG_ILSVRC_16_layers_PReLU"
    for layer in net.layer:
        if layer.type == "ReLU":
            layer.type = "PReLU"
            layer.ClearField("relu_param")
            if layer.name == "relu7":
                layer.prelu_param.channel_shared = True
        elif layer.type == "Convolution" and not pad:
            del layer.convolution_param.pad[:]
        elif layer.name == "pool5" and spp:
            layer.type = "SPP"
            layer.ClearField("pooling_param")
            layer.spp_param.pyramid_height = 3
            layer.spp_param.pool = caffe_pb2.SPPParameter.MAX
    return net


# ------------------------------------------------------------------------------- the table
@dataclass(frozen=True)
class Family:
    """One family: its builder, native input side, total stride, its class scores (`score`,
    before any Softmax) and final output (`out`), the last trunk map (the blob its final
    pooling reads), whether V1 can write it, whether the published deploy file states its input
    by `input`/`input_dim`, and the native side of its padding-free variant (None: no such
    variant: Concat branches need their padding to line up)."""

    name: str
    build: object
    size: int
    stride: int
    score: str
    out: str
    trunk: str
    v1: bool
    input_fields: bool = False
    pad_free_size: int | None = None


FAMILIES = {
    f.name: f
    for f in (
        Family("squeezenet", squeezenet, 227, 16, "pool10", "prob", "conv10", True),
        Family("mobilenet", mobilenet, 224, 32, "fc7", "fc7", "conv6/sep/bn", False, True, 347),
        Family("densenet121", densenet121, 224, 32, "fc6", "fc6", "conv5_blk/bn", False, True),
        Family("nin", nin, 224, 32, "pool4", "prob", "cccp8", True, False, 227),
        Family(
            "bn_inception", bn_inception, 224, 32, "fc", "fc", "inception_5b/output", False, True
        ),
        Family("prelu_vgg16", prelu_vgg16, 224, 32, "fc8", "prob", "pool5", False, False, 244),
    )
}


def _input_fields(net):
    """The Input layer of `net` written as the deprecated `input` / `input_dim` fields."""
    out = caffe_pb2.NetParameter()
    out.CopyFrom(net)
    del out.layer[:]
    for layer in net.layer:
        if layer.type == "Input":
            out.input.extend(layer.top)
            for shape in layer.input_param.shape:
                out.input_dim.extend(shape.dim)
        else:
            out.layer.add().CopyFrom(layer)
    return out


def family_net(name, width=1.0, num_classes=1000, size=None, pad=True):
    """The classifier NetParameter of family `name` (an Input layer, whatever the release)."""
    return FAMILIES[name].build(width, num_classes, size, pad)


def write_family(
    folder, name, width=1.0, num_classes=1000, legacy=False, seed=0, size=None, pad=True
):
    """Write family `name`'s classifier as <folder>/<name>[_v1]_deploy.prototxt + caffemodel with
    random weights (zoo.classifiers.random_weights) -> (proto, weights). The current format
    states the input as the release does (`input`/`input_dim` for MobileNet and DenseNet);
    legacy=True writes V1 (ValueError for a family with BatchNorm/Scale/PReLU)."""
    net = family_net(name, width, num_classes, size, pad)
    params = classifiers.random_weights(net, seed=seed)
    model = caffe_pb2.NetParameter()
    model.CopyFrom(caffeio.params_to_net(params, net))
    if legacy:
        net, model = to_v1(net), to_v1(model)
    elif FAMILIES[name].input_fields:
        net, model = _input_fields(net), _input_fields(model)
    tag = "_v1" if legacy else ""
    proto = os.path.join(str(folder), f"{name}{tag}_deploy.prototxt")
    weights = os.path.join(str(folder), f"{name}{tag}.caffemodel")
    os.makedirs(str(folder), exist_ok=True)
    caffeio.write_net(net, proto)
    caffeio.write_caffemodel(model, weights)
    return proto, weights
