"""PASCAL VOC models: voc-fcn32s, voc-fcn16s, voc-fcn8s, voc-fcn8s-atonce, voc-fcn-alexnet,
and on other ILSVRC backbones voc-fcn-googlenet, voc-fcn-resnet50/101/152.

The release's models and FCN-GoogLeNet train on SBD train (SBDDSegDataLayer), whole images,
and evaluate on seg11valid (VOCSegDataLayer); 21 classes. The FCN-ResNets follow a training
recipe (zoo.recipe; default 'caffe'): VOC 2012 trainaug (layers.voc12) with random scale,
crop and mirror, evaluated on VOC 2012 val.
"""

from netspec.builder import L, NetSpec
from netspec.errors import NetSpecError

from . import pydata
from . import recipe as recipes
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


def _inputs(n, split, data_root, recipe=None, batch_size=1):
    if split == "deploy":
        n.data = deploy_input(3, name="input")
    elif recipe is not None:  # the FCN-ResNets: VOC 2012 trainaug -> val
        if split == "train":
            aug = recipes.augment_params(recipe, batch_size)
            n.data, n.label = L.Python(**pydata.voc12_trainaug(data_root, aug))
        else:
            n.data, n.label = L.Python(**pydata.voc12("val", data_root))
    elif split == "train":
        n.data, n.label = L.Python(**pydata.sbdd("train", data_root))
    else:
        n.data, n.label = L.Python(**pydata.voc("seg11valid", data_root))
    return n.data


def fcn(variant, split, width=1.0, data_root=None, num_classes=None, recipe=None,
        batch_size=None):  # fmt: skip
    """voc-fcn<variant> net for split 'train' | 'val' | 'deploy' -> caffe_pb2.NetParameter.

    recipe, batch_size: the FCN-ResNets' training recipe (zoo.recipe name, default
    'caffe') and images per forward of the train net (default 1; the solver's iter_size makes
    up the recipe's batch). Other variants take neither."""
    model = f"voc-fcn-{variant}" if variant in NAMED else f"voc-fcn{variant}"
    check_split(model, split, STEMS)
    rec = None
    if variant in RESNETS:
        rec = recipes.get(recipe)
        batch_size, _ = recipes.split_batch(rec, batch_size)
    elif recipe is not None or batch_size is not None:
        raise NetSpecError(f"{model}: training recipes are for the FCN-ResNets only")
    k = num_classes or NUM_CLASSES
    n = NetSpec()
    data = _inputs(n, split, data_root, rec, batch_size)
    train = split != "deploy"
    if variant == "alexnet":
        top = alexnet_trunk(n, data, width, dropout=train)
        fcn32s_head(n, top, data, k, kernel=63)
    elif variant == "googlenet":
        top = googlenet_trunk(n, data, width, dropout=train)
        fcn32s_head(n, top, data, k, kernel=GOOGLENET_KERNEL)
    elif variant in RESNETS:
        aux = rec.aux_lr if rec.aux_weight and split == "train" else 0
        fcn_resnet(n, data, RESNETS[variant], k, width, train, rec.head_lr, aux)
    else:
        top = vgg16_trunk(n, data, width, dropout=train)
        if variant == "8s-atonce":
            fcn8s_head(n, top, data, k, atonce=True)
        else:
            HEADS[variant](n, top, data, k)
    if train:
        n.loss = softmax_loss(n.score, n.label, normalize=variant in NAMED)
        if rec is not None and split == "train" and rec.aux_weight:
            n.loss_aux = softmax_loss(n.score_aux, n.label, True, rec.aux_weight)
    return n.to_proto(name=model)
