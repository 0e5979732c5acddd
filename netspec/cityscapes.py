"""Cityscapes models: cityscapes-fcn-resnet101 (19 classes, output stride 8).

Train on train, evaluate on val (500 images) with layers.cityscapes.CityscapesSegDataLayer
(param keys cityscapes_dir, split; tops data, label). Deploy input 1 x 3 x 1024 x 2048.
"""

from . import pydata
from .builder import L, NetSpec
from .common import check_split, deploy_input
from .resnet import fcn_resnet
from .trunks import softmax_loss

STEMS = ("train", "val", "deploy")
NUM_CLASSES = 19
VARIANTS = ("resnet101",)
DEPLOY_SIZE = (1024, 2048)


def fcn(variant, split, width=1.0, data_root=None, num_classes=None):
    """cityscapes-fcn-<variant> for 'train' | 'val' | 'deploy' -> caffe_pb2.NetParameter."""
    model = f"cityscapes-fcn-{variant}"
    check_split(model, split, STEMS)
    k = num_classes or NUM_CLASSES
    n = NetSpec()
    if split == "deploy":
        n.data = deploy_input(3, size=DEPLOY_SIZE, name="input")
    else:
        n.data, n.label = L.Python(**pydata.cityscapes(split, data_root))
    train = split != "deploy"
    fcn_resnet(n, n.data, int(variant[len("resnet") :]), k, width, dropout=train)
    if train:
        n.loss = softmax_loss(n.score, n.label, normalize=True)
    return n.to_proto(name=model)
