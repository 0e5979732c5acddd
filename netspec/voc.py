"""PASCAL VOC models: voc-fcn32s, voc-fcn16s, voc-fcn8s, voc-fcn8s-atonce, voc-fcn-alexnet,
and on other ILSVRC backbones voc-fcn-googlenet, voc-fcn-resnet50/101/152.

Train on SBD train (SBDDSegDataLayer), evaluate on seg11valid (VOCSegDataLayer); 21 classes.
"""

from . import pydata
from .builder import L, NetSpec
from .common import check_split, deploy_input
from .googlenet import UPSCORE_KERNEL as GOOGLENET_KERNEL
from .googlenet import googlenet_trunk
from .resnet import fcn_resnet
from .trunks import HEADS, alexnet_trunk, fcn8s_head, fcn32s_head, softmax_loss, vgg16_trunk

STEMS = ("train", "val", "deploy")
NUM_CLASSES = 21
VARIANTS = ("32s", "16s", "8s", "8s-atonce", "alexnet", "googlenet", "resnet50", "resnet101",
            "resnet152")  # fmt: skip
RESNETS = {"resnet50": 50, "resnet101": 101, "resnet152": 152}
# Backbone variants are named voc-fcn-<variant> and their loss is normalised per pixel.
NAMED = ("alexnet", "googlenet", *RESNETS)


def _inputs(n, split, data_root):
    if split == "deploy":
        n.data = deploy_input(3, name="input")
    elif split == "train":
        n.data, n.label = L.Python(**pydata.sbdd("train", data_root))
    else:
        n.data, n.label = L.Python(**pydata.voc("seg11valid", data_root))
    return n.data


def fcn(variant, split, width=1.0, data_root=None, num_classes=None):
    """voc-fcn<variant> net for split 'train' | 'val' | 'deploy' -> caffe_pb2.NetParameter."""
    model = f"voc-fcn-{variant}" if variant in NAMED else f"voc-fcn{variant}"
    check_split(model, split, STEMS)
    k = num_classes or NUM_CLASSES
    n = NetSpec()
    data = _inputs(n, split, data_root)
    train = split != "deploy"
    if variant == "alexnet":
        top = alexnet_trunk(n, data, width, dropout=train)
        fcn32s_head(n, top, data, k, kernel=63)
    elif variant == "googlenet":
        top = googlenet_trunk(n, data, width, dropout=train)
        fcn32s_head(n, top, data, k, kernel=GOOGLENET_KERNEL)
    elif variant in RESNETS:
        fcn_resnet(n, data, RESNETS[variant], k, width, dropout=train)
    else:
        top = vgg16_trunk(n, data, width, dropout=train)
        if variant == "8s-atonce":
            fcn8s_head(n, top, data, k, atonce=True)
        else:
            HEADS[variant](n, top, data, k)
    if train:
        n.loss = softmax_loss(n.score, n.label, normalize=variant in NAMED)
    return n.to_proto(name=model)
