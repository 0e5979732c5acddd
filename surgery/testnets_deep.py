"""Small random-weight GoogLeNet and ResNet classifiers in the original Caffe layouts, for tests.

GoogLeNet follows bvlc_googlenet's deploy net (names with slashes, inception modules, LRN,
pool5/7x7_s1, pool5/drop_7x7_s1, loss3/classifier); ResNet follows Kaiming He's release
(conv1 (biased in ResNet-50 only) + bn_conv1 + scale_conv1, bottleneck blocks res<S><B> with
in-place BatchNorm (use_global_stats) + Scale (bias_term), projection shortcuts, stride on
branch1 and branch2a, pool5 AVE, fc1000). `width` scales every channel count; `size` is the
native input side: the final pooling's kernel is the last map's side at that size (7 at 224).
"""

from caffeio import caffe_pb2
from netspec import shapes as _shapes

from .testnets import _ch, _conv, _input, _layer, _relu

# inception module -> (1x1, 3x3 reduce, 3x3, 5x5 reduce, 5x5, pool proj)
INCEPTION = {
    "3a": (64, 96, 128, 16, 32, 32),
    "3b": (128, 128, 192, 32, 96, 64),
    "4a": (192, 96, 208, 16, 48, 64),
    "4b": (160, 112, 224, 24, 64, 64),
    "4c": (128, 128, 256, 24, 64, 64),
    "4d": (112, 144, 288, 32, 64, 64),
    "4e": (256, 160, 320, 32, 128, 128),
    "5a": (256, 160, 320, 32, 128, 128),
    "5b": (384, 192, 384, 48, 128, 128),
}
# depth -> blocks per stage res2..res5
RESNET_BLOCKS = {50: (3, 4, 6, 3), 101: (3, 4, 23, 3), 152: (3, 8, 36, 3)}


def _pool(net, name, bottom, k, s, pad=0, method=caffe_pb2.PoolingParameter.MAX):
    p = _layer(net, name, "Pooling", bottom).pooling_param
    p.pool, p.kernel_size, p.stride = method, k, s
    if pad:
        p.pad = pad
    return name


def _lrn(net, name, bottom):
    p = _layer(net, name, "LRN", bottom).lrn_param
    p.local_size, p.alpha, p.beta = 5, 1e-4, 0.75
    return name


def _map_side(net, top):
    return _shapes.infer(net)[top][2]


def _head(net, bottom, pool, fc, num_classes, drop=None):
    """Final AVE pooling whose kernel is the map (stride 1), optional dropout, fc, prob."""
    side = _map_side(net, bottom)
    x = _pool(net, pool, bottom, side, 1, method=caffe_pb2.PoolingParameter.AVE)
    if drop:
        _layer(net, drop, "Dropout", x, x).dropout_param.dropout_ratio = 0.4
    layer = _layer(net, fc, "InnerProduct", x)
    layer.inner_product_param.num_output = num_classes
    _layer(net, "prob", "Softmax", fc)


def _inception(net, name, bottom, widths, width):
    c1, r3, c3, r5, c5, pp = (_ch(n, width) for n in widths)
    outs = []
    for branch, reduce_, n, k in (("1x1", None, c1, 1), ("3x3", r3, c3, 3), ("5x5", r5, c5, 5)):
        x = bottom
        if reduce_:
            x = _conv(net, f"{name}/{branch}_reduce", x, reduce_, 1)
            _relu(net, f"{name}/relu_{branch}_reduce", x)
        x = _conv(net, f"{name}/{branch}", x, n, k, pad=k // 2)
        _relu(net, f"{name}/relu_{branch}", x)
        outs.append(x)
    x = _pool(net, f"{name}/pool", bottom, 3, 1, pad=1)
    x = _conv(net, f"{name}/pool_proj", x, pp, 1)
    _relu(net, f"{name}/relu_pool_proj", x)
    concat = net.layer.add(name=f"{name}/output", type="Concat")
    concat.bottom.extend(outs + [x])
    concat.top.append(concat.name)
    return concat.name


def googlenet_classifier(width=1.0, num_classes=1000, size=224):
    """bvlc_googlenet deploy net (caffe_pb2.NetParameter), input 1x3x`size`x`size`: 57 convs
    in 9 inception modules, channels x `width`, pool5/7x7_s1 kernel = the last map's side."""
    net = caffe_pb2.NetParameter(name="GoogleNet")
    _input(net, size)
    x = _conv(net, "conv1/7x7_s2", "data", _ch(64, width), 7, stride=2, pad=3)
    _relu(net, "conv1/relu_7x7", x)
    x = _lrn(net, "pool1/norm1", _pool(net, "pool1/3x3_s2", x, 3, 2))
    x = _conv(net, "conv2/3x3_reduce", x, _ch(64, width), 1)
    _relu(net, "conv2/relu_3x3_reduce", x)
    x = _conv(net, "conv2/3x3", x, _ch(192, width), 3, pad=1)
    _relu(net, "conv2/relu_3x3", x)
    x = _pool(net, "pool2/3x3_s2", _lrn(net, "conv2/norm2", x), 3, 2)
    for stage, pool in (("3", "pool3/3x3_s2"), ("4", "pool4/3x3_s2"), ("5", None)):
        for m in (k for k in INCEPTION if k[0] == stage):
            x = _inception(net, f"inception_{m}", x, INCEPTION[m], width)
        if pool:
            x = _pool(net, pool, x, 3, 2)
    _head(net, x, "pool5/7x7_s1", "loss3/classifier", num_classes, drop="pool5/drop_7x7_s1")
    return net


def _conv_bn(net, conv, bn, scale, bottom, n, k, stride=1, pad=0, relu=None, bias=False):
    """Convolution (no bias unless `bias`) + in-place BatchNorm (global stats) + Scale (bias)
    [+ ReLU]."""
    layer = _layer(net, conv, "Convolution", bottom)
    p = layer.convolution_param
    p.num_output = n
    if not bias:
        p.bias_term = False
    p.kernel_size.append(k)
    if stride != 1:
        p.stride.append(stride)
    if pad:
        p.pad.append(pad)
    _layer(net, bn, "BatchNorm", conv, conv).batch_norm_param.use_global_stats = True
    _layer(net, scale, "Scale", conv, conv).scale_param.bias_term = True
    if relu:
        _relu(net, relu, conv)
    return conv


def _block_names(stage, count, depth):
    if depth == 50 or count <= 3:
        return [f"{stage}{chr(ord('a') + i)}" for i in range(count)]
    return [f"{stage}a"] + [f"{stage}b{i}" for i in range(1, count)]


def _bottleneck(net, name, bottom, n, stride, project):
    def unit(branch, x, c, k, s=1, pad=0, relu=True):
        return _conv_bn(
            net,
            f"res{name}_{branch}",
            f"bn{name}_{branch}",
            f"scale{name}_{branch}",
            x,
            c,
            k,
            s,
            pad,
            relu=f"res{name}_{branch}_relu" if relu else None,
        )

    short = unit("branch1", bottom, 4 * n, 1, stride, relu=False) if project else bottom
    x = unit("branch2a", bottom, n, 1, stride)
    x = unit("branch2b", x, n, 3, pad=1)
    x = unit("branch2c", x, 4 * n, 1, relu=False)
    add = net.layer.add(name=f"res{name}", type="Eltwise")
    add.bottom.extend([short, x])
    add.top.append(add.name)
    _relu(net, f"res{name}_relu", add.name)
    return add.name


def resnet_classifier(depth=50, width=1.0, num_classes=1000, size=224, global_pool=False):
    """Kaiming He's ResNet-`depth` (50/101/152) deploy net, input 1x3x`size`x`size`, widths
    64/128/256/512 (x4 at block outputs) x `width`. global_pool=True replaces pool5's explicit
    kernel by global_pooling (as later Caffe ResNets write it)."""
    net = caffe_pb2.NetParameter(name=f"ResNet-{depth}")
    _input(net, size)
    # The released ResNet-50's conv1 has a bias; ResNet-101/152's has none.
    x = _conv_bn(
        net, "conv1", "bn_conv1", "scale_conv1", "data", _ch(64, width), 7, 2, 3, bias=depth == 50
    )
    _relu(net, "conv1_relu", x)
    x = _pool(net, "pool1", x, 3, 2)
    for i, count in enumerate(RESNET_BLOCKS[depth]):
        stage, n = i + 2, _ch(64 * 2**i, width)
        for j, block in enumerate(_block_names(stage, count, depth)):
            x = _bottleneck(net, block, x, n, 2 if j == 0 and stage > 2 else 1, j == 0)
    _head(net, x, "pool5", "fc1000", num_classes)
    if global_pool:
        p = next(layer for layer in net.layer if layer.name == "pool5").pooling_param
        p.ClearField("kernel_size")
        p.global_pooling = True
    return net
