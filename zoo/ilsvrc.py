"""The ILSVRC classifiers that surgery turns into FCNs, and their fully convolutional twins.

    vgg16()                  VGG-16 deploy: Input 1x3x224x224, InnerProduct fc6/fc7/fc8, prob
    vgg16(fully_conv=True)   fc6 as a 7x7 conv, fc7/fc8 as 1x1 convs (same layer names)
    alexnet()                CaffeNet deploy (bvlc_reference_caffenet, FCN-AlexNet's base):
                             Input 1x3x227x227, pool1/pool2 before norm1/norm2
    alexnet(fully_conv=True) fc6 as a 6x6 conv
    googlenet()              bvlc_googlenet deploy: 9 inception modules, pool5/7x7_s1 (AVE over
                             the last map), pool5/drop_7x7_s1, loss3/classifier, prob
    resnet(50 | 101 | 152)   Kaiming He's ResNet deploy: bottleneck blocks with in-place
                             BatchNorm (global statistics) + Scale, pool5 (AVE), fc1000, prob

Names and layer order follow the released deploy files (conv1_1 .. conv5_3, pool1..5, fc6,
relu6, drop6, fc7, relu7, drop7, fc8, prob; CaffeNet's conv1, relu1, pool1, norm1, ...;
GoogLeNet's with slashes; ResNet's res<S><B>_branch2a, ...). The fully convolutional twin
keeps every name, so parameters move by name: fc6 InnerProduct (4096, 25088) -> fc6
Convolution (4096, 512, 7, 7), same values. `width` scales every channel count;
learned layers carry the multipliers and fillers the classifiers were trained with (ResNet's:
none, as its deploy files). The trunks are the FCN trunks' own builders (zoo.trunks,
zoo.googlenet, zoo.resnet), so the names an FCN transplants by are the same by construction.
"""

from caffeio import caffe_pb2
from netspec import shapes
from netspec.builder import L, NetSpec, P

from .googlenet import googlenet_trunk
from .resnet import resnet_trunk
from .trunks import (
    CONV_PARAMS,
    LEARNED_FILLERS,
    alexnet_features,
    channels,
    classifier_conv,
    vgg16_features,
)


def _learned(layer_type, bottom, **kw):
    return layer_type(bottom, param=CONV_PARAMS, **LEARNED_FILLERS, **kw)


def _classifier(n, pool5, width, ks, num_classes, fully_conv):
    top = pool5
    for i, nout in ((6, channels(4096, width)), (7, channels(4096, width))):
        k = ks if i == 6 else 1
        if fully_conv:
            n[f"fc{i}"] = _learned(L.Convolution, top, num_output=nout, kernel_size=k)
        else:
            n[f"fc{i}"] = _learned(L.InnerProduct, top, num_output=nout)
        n[f"relu{i}"] = L.ReLU(n[f"fc{i}"], in_place=True)
        n[f"drop{i}"] = L.Dropout(n[f"fc{i}"], dropout_ratio=0.5, in_place=True)
        top = n[f"fc{i}"]
    if fully_conv:
        n.fc8 = _learned(L.Convolution, top, num_output=num_classes, kernel_size=1)
    else:
        n.fc8 = _learned(L.InnerProduct, top, num_output=num_classes)
    n.prob = L.Softmax(n.fc8)


def _input(n, size):
    h, w = (size, size) if isinstance(size, int) else size
    n.data = L.Input(shape=dict(dim=[1, 3, h, w]))
    return n.data


def vgg16(width: float = 1.0, fully_conv: bool = False, num_classes: int = 1000,
          input_size: int | tuple = 224) -> caffe_pb2.NetParameter:  # fmt: skip
    """VGG-16 classifier (fully_conv: its convolutional twin) -> caffe_pb2.NetParameter.

    width scales every channel count (max(1, round(c * width))); num_classes sets fc8.
    input_size: int or (H, W) of the Input layer `data` (N=1, C=3).
    """
    n = NetSpec()
    pool5 = vgg16_features(n, _input(n, input_size or 224), width, pad=1, conv=classifier_conv)
    _classifier(n, pool5, width, 7, num_classes, fully_conv)
    return n.to_proto(name="VGG_ILSVRC_16_layers" + ("_fullconv" if fully_conv else ""))


def alexnet(width: float = 1.0, fully_conv: bool = False, num_classes: int = 1000,
            input_size: int | tuple = 227) -> caffe_pb2.NetParameter:  # fmt: skip
    """CaffeNet classifier (fully_conv: fc6 6x6 conv, fc7/fc8 1x1) -> NetParameter named
    "CaffeNet" ("CaffeNet_fullconv"), in the layer order and names of BVLC's
    bvlc_reference_caffenet deploy.prototxt: conv1, relu1, pool1, norm1, conv2, relu2, pool2,
    norm2, conv3 .. relu5, pool5, fc6, relu6, drop6, fc7, relu7, drop7, fc8, prob. FCN-AlexNet
    starts from this net (the FCN release's ilsvrc-nets/README.md); BVLC's bvlc_alexnet puts
    each LRN before its pooling instead (same parameter shapes, weights for the other order).

    With width != 1 the conv channel counts stay even (groups of 2).
    """
    n = NetSpec()
    data = _input(n, input_size or 227)
    pool5 = alexnet_features(n, data, width, pad=0, conv=classifier_conv)
    _classifier(n, pool5, width, 6, num_classes, fully_conv)
    return n.to_proto(name="CaffeNet" + ("_fullconv" if fully_conv else ""))


caffenet = alexnet


def _global_head(n, bottom, pool, fc, num_classes, drop=None):
    """AVE pooling whose kernel is the map at this input size (stride 1), optional Dropout 0.4,
    InnerProduct `fc`, Softmax prob: the final layers of GoogLeNet and ResNet."""
    name = next(k for k, v in n.tops.items() if v is bottom)
    side = shapes.infer(n.to_proto())[name][2]
    n[pool] = L.Pooling(bottom, pool=P.Pooling.AVE, kernel_size=side, stride=1)
    if drop:
        n[drop] = L.Dropout(n[pool], dropout_ratio=0.4, in_place=True)
    n[fc] = L.InnerProduct(n[drop] if drop else n[pool], num_output=num_classes)
    n.prob = L.Softmax(n[fc])


def googlenet(width: float = 1.0, num_classes: int = 1000,
              input_size: int | tuple = 224) -> caffe_pb2.NetParameter:  # fmt: skip
    """bvlc_googlenet deploy net -> NetParameter: input 1x3x`input_size`^2, 57 convolutions in
    9 inception modules (channels x width), pool5/7x7_s1 over the last map (7x7 at 224)."""
    n = NetSpec()
    top = googlenet_trunk(n, _input(n, input_size or 224), width, False, conv=classifier_conv)
    _global_head(n, top, "pool5/7x7_s1", "loss3/classifier", num_classes, "pool5/drop_7x7_s1")
    return n.to_proto(name="GoogleNet")


def resnet(depth: int = 50, width: float = 1.0, num_classes: int = 1000,
           input_size: int | tuple = 224) -> caffe_pb2.NetParameter:  # fmt: skip
    """Kaiming He's ResNet-`depth` (50/101/152) deploy net -> NetParameter: stride 2 on
    branch1/branch2a of res3a, res4a, res5a; pool5 AVE over the last map (7x7 at 224)."""
    n = NetSpec()
    top = resnet_trunk(n, _input(n, input_size or 224), depth, width, dilated=False, params=False)
    _global_head(n, top, "pool5", "fc1000", num_classes)
    return n.to_proto(name=f"ResNet-{depth}")
