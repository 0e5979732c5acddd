"""Small random-weight ILSVRC classifiers (VGG-16, AlexNet; GoogLeNet and ResNet in
surgery.testnets_deep) for tests and demos.

The graphs are the real ones (layer names, kernels, strides, pads, groups, LRN); `width` scales
every channel count (VGG-16 at width 1/16: 4..32 conv channels, fc 256) so tests run in seconds.
Written as deploy prototxt + caffemodel in the current format or the legacy V1 format of the
2014 model releases (V1 `layers`, enum types, blobs_lr/weight_decay, 4-D blob shapes).
"""

import os

import numpy as np

import caffeio
from caffeio import caffe_pb2

VGG16_BLOCKS = [(64, 2), (128, 2), (256, 3), (512, 3), (512, 3)]


def _ch(n, width):
    return max(1, int(round(n * width)))


def _layer(net, name, type_, bottom, top=None):
    layer = net.layer.add(name=name, type=type_)
    layer.bottom.append(bottom)
    layer.top.append(top or name)
    return layer


def _learned(layer, param):
    for lr, decay in ((1, 1), (2, 0)):
        layer.param.add(lr_mult=lr, decay_mult=decay)
    param.weight_filler.type = "gaussian"
    param.weight_filler.std = 0.01
    param.bias_filler.type = "constant"


def _conv(net, name, bottom, n, k, stride=1, pad=0, group=1):
    layer = _layer(net, name, "Convolution", bottom)
    p = layer.convolution_param
    p.num_output = n
    p.kernel_size.append(k)
    if stride != 1:
        p.stride.append(stride)
    if pad:
        p.pad.append(pad)
    if group != 1:
        p.group = group
    _learned(layer, p)
    return name


def _relu(net, name, top):
    _layer(net, name, "ReLU", top, top)


def _pool(net, name, bottom, k, s):
    layer = _layer(net, name, "Pooling", bottom)
    layer.pooling_param.pool = caffe_pb2.PoolingParameter.MAX
    layer.pooling_param.kernel_size = k
    layer.pooling_param.stride = s
    return name


def _fc(net, name, bottom, n, relu_drop=True):
    layer = _layer(net, name, "InnerProduct", bottom)
    layer.inner_product_param.num_output = n
    _learned(layer, layer.inner_product_param)
    if relu_drop:
        idx = name[2:]
        _relu(net, "relu" + idx, name)
        drop = _layer(net, "drop" + idx, "Dropout", name, name)
        drop.dropout_param.dropout_ratio = 0.5
    return name


def _input(net, size):
    layer = net.layer.add(name="data", type="Input")
    layer.top.append("data")
    layer.input_param.shape.add().dim.extend([1, 3, size, size])


def _head(net, bottom, width, num_classes):
    x = _fc(net, "fc6", bottom, _ch(4096, width))
    x = _fc(net, "fc7", x, _ch(4096, width))
    x = _fc(net, "fc8", x, num_classes, relu_drop=False)
    _layer(net, "prob", "Softmax", x)


def vgg16_classifier(width=1.0, num_classes=1000, size=224, pad=1):
    """VGG-16 ILSVRC deploy net (caffe_pb2.NetParameter): 13 3x3 convs pad 1, 5 max pools,
    fc6/fc7 (4096 * width) and fc8 (num_classes), input 1x3x`size`x`size`.

    pad=0 gives a padding-free variant (use size=212: every pool then sees an even map and
    fc6 is 1x1) whose FCN scores on a larger image equal the classifier's on crops exactly."""
    net = caffe_pb2.NetParameter(name="VGG_ILSVRC_16_layers")
    _input(net, size)
    x = "data"
    for b, (n, reps) in enumerate(VGG16_BLOCKS, 1):
        for r in range(1, reps + 1):
            x = _conv(net, f"conv{b}_{r}", x, _ch(n, width), 3, pad=pad)
            _relu(net, f"relu{b}_{r}", x)
        x = _pool(net, f"pool{b}", x, 2, 2)
    _head(net, x, width, num_classes)
    return net


def alexnet_classifier(width=1.0, num_classes=1000, size=227, pad=True):
    """CaffeNet/AlexNet ILSVRC deploy net: conv1 11x11 s4, LRN, groups 2 on conv2/4/5, 3x3 s2
    pools, fc6 (6x6 over pool5) / fc7 (4096 * width), fc8; input 1x3x`size`x`size`.

    pad=False drops the conv2..5 padding (pool5 2x2 at 227): a padding-free variant."""
    p2, p1 = (2, 1) if pad else (0, 0)
    net = caffe_pb2.NetParameter(name="AlexNet")
    _input(net, size)

    def lrn(name, bottom):
        layer = _layer(net, name, "LRN", bottom)
        layer.lrn_param.local_size = 5
        layer.lrn_param.alpha = 1e-4
        layer.lrn_param.beta = 0.75
        return name

    x = _conv(net, "conv1", "data", _ch(96, width), 11, stride=4)
    _relu(net, "relu1", x)
    x = lrn("norm1", _pool(net, "pool1", x, 3, 2))
    x = _conv(net, "conv2", x, _ch(256, width), 5, pad=p2, group=2)
    _relu(net, "relu2", x)
    x = lrn("norm2", _pool(net, "pool2", x, 3, 2))
    x = _conv(net, "conv3", x, _ch(384, width), 3, pad=p1)
    _relu(net, "relu3", x)
    x = _conv(net, "conv4", x, _ch(384, width), 3, pad=p1, group=2)
    _relu(net, "relu4", x)
    x = _conv(net, "conv5", x, _ch(256, width), 3, pad=p1, group=2)
    _relu(net, "relu5", x)
    x = _pool(net, "pool5", x, 3, 2)
    _head(net, x, width, num_classes)
    return net


def random_weights(net, seed=0, scale=None):
    """{layer: [ndarray]} random weights for every learnable layer of `net` (He-scaled normal
    weights, small normal biases, float32) so activations stay O(1) through deep nets.
    BatchNorm: mean N(0, 0.1), variance U(0.5, 2), factor 1; Scale: gamma 1 + N(0, 0.1)."""
    from surgery.paramset import param_shapes

    rng = np.random.default_rng(seed)
    types = {layer.name: layer.type for layer in net.layer}
    out = {}
    for name, shapes in param_shapes(net).items():
        w_shape = shapes[0]
        if types[name] in ("BatchNorm", "Scale"):
            out[name] = _norm_blobs(rng, types[name], shapes)
            continue
        fan_in = int(np.prod(w_shape[1:]))
        std = scale if scale is not None else np.sqrt(2.0 / fan_in)
        arrays = [rng.standard_normal(w_shape).astype(np.float32) * np.float32(std)]
        for s in shapes[1:]:
            arrays.append((rng.standard_normal(s) * 0.1).astype(np.float32))
        out[name] = arrays
    return out


def _norm_blobs(rng, type_, shapes):
    c = shapes[0]
    if type_ == "BatchNorm":
        mean = rng.standard_normal(c) * 0.1
        return [a.astype(np.float32) for a in (mean, rng.uniform(0.5, 2.0, c), np.ones(1))]
    gamma = 1 + rng.standard_normal(c) * 0.1
    return [gamma.astype(np.float32)] + [
        (rng.standard_normal(s) * 0.1).astype(np.float32) for s in shapes[1:]
    ]


def builders():
    """{arch: function(width=, num_classes=, **options) -> NetParameter} of the test nets."""
    from . import testnets_deep as deep

    return {
        "vgg16": vgg16_classifier,
        "alexnet": alexnet_classifier,
        "googlenet": deep.googlenet_classifier,
        "resnet50": lambda **kw: deep.resnet_classifier(50, **kw),
        "resnet101": lambda **kw: deep.resnet_classifier(101, **kw),
        "resnet152": lambda **kw: deep.resnet_classifier(152, **kw),
    }


def write_classifier(
    folder, arch="vgg16", width=1.0, num_classes=1000, legacy=False, seed=0, **options
):
    """Write `<arch>_deploy.prototxt` + `<arch>.caffemodel` under `folder` -> (proto, weights).

    arch: a key of builders() (vgg16, alexnet, googlenet, resnet50/101/152); options go to its
    builder (size=, pad=, global_pool=). legacy=True writes both in the V1 format (via
    caffeio.legacy.to_v1); V1 has no BatchNorm/Scale, so ResNets are current format only
    (ValueError). Returns the paths.
    """
    from caffeio.legacy import to_v1

    net = builders()[arch](width=width, num_classes=num_classes, **options)
    params = random_weights(net, seed=seed)
    model = caffeio.params_to_net(params, net)
    tag = "_v1" if legacy else ""
    proto = os.path.join(folder, f"{arch}{tag}_deploy.prototxt")
    weights = os.path.join(folder, f"{arch}{tag}.caffemodel")
    if legacy:
        net, model = to_v1(net), to_v1(model)
    os.makedirs(folder, exist_ok=True)
    caffeio.write_net(net, proto)
    caffeio.write_caffemodel(model, weights)
    return proto, weights
