"""SIFT Flow models: siftflow-fcn32s/16s/8s, one trunk, two heads.

Semantic head (33 classes) layers end in '_sem' and its loss is 'loss'; geometric head
(3 classes) layers end in '_geo' with loss 'loss_geo'. The data layer's tops are data, sem, geo.
Splits: trainval (train) and test (evaluation).
"""

from netspec.builder import L, NetSpec

from . import pydata
from .common import check_split, deploy_input
from .trunks import HEADS, softmax_loss, vgg16_trunk

STEMS = ("trainval", "test", "deploy")
NUM_CLASSES = (33, 3)
VARIANTS = ("32s", "16s", "8s")


def fcn(variant, split, width=1.0, data_root=None, num_classes=None):
    """siftflow-fcn<variant> for 'trainval' | 'test' | 'deploy' -> NetParameter.

    num_classes: (semantic, geometric), or an int for the semantic head alone.
    """
    model = f"siftflow-fcn{variant}"
    check_split(model, split, STEMS)
    if num_classes is None:
        sem_k, geo_k = NUM_CLASSES
    elif isinstance(num_classes, int):
        sem_k, geo_k = num_classes, NUM_CLASSES[1]
    else:
        sem_k, geo_k = num_classes
    n = NetSpec()
    if split == "deploy":
        n.data = deploy_input(3, name="input")
    else:
        n.data, n.sem, n.geo = L.Python(**pydata.siftflow(split, data_root))
    top = vgg16_trunk(n, n.data, width, dropout=split != "deploy")
    HEADS[variant](n, top, n.data, sem_k, suffix="_sem")
    if split != "deploy":
        n.loss = softmax_loss(n.score_sem, n.sem)
    HEADS[variant](n, top, n.data, geo_k, suffix="_geo")
    if split != "deploy":
        n.loss_geo = softmax_loss(n.score_geo, n.geo)
    return n.to_proto(name=model)
