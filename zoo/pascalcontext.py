"""PASCAL-Context models: pascalcontext-fcn32s/16s/8s, 60 classes (59 + background, trained).

Train on 'train', evaluate on 'val' (PASCALContextSegDataLayer), VGG-16 trunk as VOC.
"""

from netspec.builder import L, NetSpec

from . import pydata
from .common import check_split, deploy_input
from .trunks import HEADS, softmax_loss, vgg16_trunk

STEMS = ("train", "val", "deploy")
NUM_CLASSES = 60
VARIANTS = ("32s", "16s", "8s")


def fcn(variant, split, width=1.0, data_root=None, num_classes=None):
    """pascalcontext-fcn<variant> for split 'train' | 'val' | 'deploy' -> NetParameter."""
    model = f"pascalcontext-fcn{variant}"
    check_split(model, split, STEMS)
    n = NetSpec()
    if split == "deploy":
        n.data = deploy_input(3, name="input")
    else:
        n.data, n.label = L.Python(**pydata.pascalcontext(split, data_root))
    top = vgg16_trunk(n, n.data, width, dropout=split != "deploy")
    HEADS[variant](n, top, n.data, num_classes or NUM_CLASSES)
    if split != "deploy":
        n.loss = softmax_loss(n.score, n.label)
    return n.to_proto(name=model)
