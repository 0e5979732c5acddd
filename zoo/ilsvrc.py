"""The ILSVRC classifiers that surgery turns into FCNs, and their fully convolutional twins.

    vgg16()                  VGG-16 deploy: Input 1x3x224x224, InnerProduct fc6/fc7/fc8, prob
    vgg16(fully_conv=True)   fc6 as a 7x7 conv, fc7/fc8 as 1x1 convs (same layer names)
    alexnet()                CaffeNet/AlexNet deploy: Input 1x3x227x227 (pool before LRN)
    alexnet(fully_conv=True) fc6 as a 6x6 conv

Names follow the released deploy files (conv1_1 .. conv5_3, pool1..5, fc6, relu6, drop6, fc7,
relu7, drop7, fc8, prob). The fully convolutional twin keeps every name, so parameters move by
name: fc6 InnerProduct (4096, 25088) -> fc6 Convolution (4096, 512, 7, 7), same values.
"""

from netspec.builder import L, NetSpec

from .trunks import alexnet_features, channels, vgg16_features


def _classifier(n, pool5, width, ks, num_classes, fully_conv):
    top = pool5
    for i, nout in ((6, channels(4096, width)), (7, channels(4096, width))):
        k = ks if i == 6 else 1
        if fully_conv:
            n[f"fc{i}"] = L.Convolution(top, num_output=nout, kernel_size=k)
        else:
            n[f"fc{i}"] = L.InnerProduct(top, num_output=nout)
        n[f"relu{i}"] = L.ReLU(n[f"fc{i}"], in_place=True)
        n[f"drop{i}"] = L.Dropout(n[f"fc{i}"], dropout_ratio=0.5, in_place=True)
        top = n[f"fc{i}"]
    if fully_conv:
        n.fc8 = L.Convolution(top, num_output=num_classes, kernel_size=1)
    else:
        n.fc8 = L.InnerProduct(top, num_output=num_classes)
    n.prob = L.Softmax(n.fc8)


def _input(n, size):
    h, w = (size, size) if isinstance(size, int) else size
    n.data = L.Input(shape=dict(dim=[1, 3, h, w]))
    return n.data


def vgg16(width=1.0, fully_conv=False, num_classes=1000, input_size=224):
    """VGG-16 classifier (fully_conv: its convolutional twin) -> caffe_pb2.NetParameter.

    width scales every channel count (max(1, round(c * width))); num_classes sets fc8.
    input_size: int or (H, W) of the Input layer `data` (N=1, C=3).
    """
    n = NetSpec()
    pool5 = vgg16_features(n, _input(n, input_size), width, pad=1, params=False)
    _classifier(n, pool5, width, 7, num_classes, fully_conv)
    return n.to_proto(name="VGG_ILSVRC_16_layers" + ("_fullconv" if fully_conv else ""))


def alexnet(width=1.0, fully_conv=False, num_classes=1000, input_size=227):
    """AlexNet/CaffeNet classifier (fully_conv: fc6 6x6 conv, fc7/fc8 1x1) -> NetParameter.

    With width != 1 the conv channel counts stay even (groups of 2).
    """
    n = NetSpec()
    pool5 = alexnet_features(n, _input(n, input_size), width, pad=0, params=False)
    _classifier(n, pool5, width, 6, num_classes, fully_conv)
    return n.to_proto(name="CaffeNet" + ("_fullconv" if fully_conv else ""))


caffenet = alexnet
