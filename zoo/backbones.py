"""The ILSVRC backbones of the zoo: VGG-16, AlexNet (CaffeNet), GoogLeNet, ResNet-50/101/152.

Each Backbone names its FCN trunk builder, its classifier builder (zoo.ilsvrc), the classifier
files as the model-zoo pages name them (deploy prototxt, caffemodel: python -m surgery fcnize
turns them into models/ilsvrc-nets/<name>-fcn.caffemodel), the classifier layer an fcnized net
still holds, the classifier's native input side and the kernel of the FCN's final upsampling.
"""

from . import ilsvrc, resnet
from .googlenet import UPSCORE_KERNEL as GOOGLENET_KERNEL
from .googlenet import googlenet_trunk
from .records import Backbone
from .trunks import alexnet_trunk, vgg16_trunk

VGG16 = Backbone(
    "vgg16", "VGG-16", vgg16_trunk, ilsvrc.vgg16,
    ("VGG_ILSVRC_16_layers_deploy.prototxt", "VGG_ILSVRC_16_layers.caffemodel"), "fc8", 224,
)  # fmt: skip
# FCN-AlexNet's base is CaffeNet (bvlc_reference_caffenet: pooling before LRN), as the FCN
# release's ilsvrc-nets/README.md names it and its voc-fcn-alexnet net is ordered; bvlc_alexnet
# (LRN before pooling) has the same parameter shapes but was trained for the other order.
# Odd 3x3 pooling windows put the stride-32 grid on whole pixels: kernel 63 = 2 * 32 - 1.
ALEXNET = Backbone(
    "alexnet", "AlexNet (CaffeNet)", alexnet_trunk, ilsvrc.alexnet,
    ("bvlc_reference_caffenet_deploy.prototxt", "bvlc_reference_caffenet.caffemodel"), "fc8",
    227, 63,
)  # fmt: skip
GOOGLENET = Backbone(
    "googlenet", "GoogLeNet (bvlc_googlenet)", googlenet_trunk, ilsvrc.googlenet,
    ("bvlc_googlenet_deploy.prototxt", "bvlc_googlenet.caffemodel"), "loss3/classifier", 224,
    GOOGLENET_KERNEL,
)  # fmt: skip


def _resnet(depth):
    def classifier(width=1.0, num_classes=1000, input_size=None):
        return ilsvrc.resnet(depth, width, num_classes, input_size)

    files = (f"ResNet-{depth}-deploy.prototxt", f"ResNet-{depth}-model.caffemodel")
    return Backbone(
        f"resnet{depth}", f"ResNet-{depth}", resnet.trunk(depth), classifier, files, "fc1000",
        224, resnet.UPSCORE_KERNEL,
    )  # fmt: skip


RESNET50, RESNET101, RESNET152 = (_resnet(d) for d in (50, 101, 152))
BACKBONE_RECORDS = (VGG16, ALEXNET, GOOGLENET, RESNET50, RESNET101, RESNET152)
