"""Cityscapes models: cityscapes-fcn-resnet101 (19 classes, output stride 8).

Train on train, evaluate on val (500 images) with layers.cityscapes.CityscapesSegDataLayer
(param keys cityscapes_dir, split; tops data, label). Training follows a recipe
(zoo.recipe; default 'caffe': random scale, 321 x 321 crops, mirror, seed 1337); val serves
whole 2048 x 1024 images (score.py --eval tiled|sliding for less memory). Deploy input
1 x 3 x 1024 x 2048.
"""

from netspec.builder import L, NetSpec

from . import pydata
from . import recipe as recipes
from .common import check_split, deploy_input
from .resnet import fcn_resnet
from .trunks import softmax_loss

STEMS = ("train", "val", "deploy")
NUM_CLASSES = 19
VARIANTS = ("resnet101",)
DEPLOY_SIZE = (1024, 2048)


def fcn(variant, split, width=1.0, data_root=None, num_classes=None, recipe=None,
        batch_size=None):  # fmt: skip
    """cityscapes-fcn-<variant> for 'train' | 'val' | 'deploy' -> caffe_pb2.NetParameter.

    recipe, batch_size: the training recipe (zoo.recipe name, default 'caffe') and images
    per forward of the train net (default 1; the solver's iter_size makes up the batch)."""
    model = f"cityscapes-fcn-{variant}"
    check_split(model, split, STEMS)
    rec = recipes.get(recipe)
    batch_size, _ = recipes.split_batch(rec, batch_size)
    k = num_classes or NUM_CLASSES
    n = NetSpec()
    if split == "deploy":
        n.data = deploy_input(3, size=DEPLOY_SIZE, name="input")
    elif split == "train":
        extra = dict(seed=1337, **recipes.augment_params(rec, batch_size))
        n.data, n.label = L.Python(**pydata.cityscapes(split, data_root, extra))
    else:
        n.data, n.label = L.Python(**pydata.cityscapes(split, data_root))
    train = split != "deploy"
    aux = rec.aux_lr if rec.aux_weight and split == "train" else 0
    fcn_resnet(n, n.data, int(variant[len("resnet") :]), k, width, train, rec.head_lr, aux)
    if train:
        n.loss = softmax_loss(n.score, n.label, normalize=True)
        if split == "train" and rec.aux_weight:
            n.loss_aux = softmax_loss(n.score_aux, n.label, True, rec.aux_weight)
    return n.to_proto(name=model)
