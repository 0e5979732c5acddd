"""PASCAL VOC: the release's VOC models (train on SBD train, evaluate on VOC 2011 seg11valid)
and the FCN-ResNets' VOC 2012 (train on trainaug, evaluate on VOC 2012 val); 21 classes.

    voc-fcn32s, voc-fcn16s, voc-fcn8s, voc-fcn8s-atonce (VGG-16), voc-fcn-alexnet   (release)
    voc-fcn-googlenet (the paper's Table 1 protocol), voc-fcn-resnet50/101/152 (a recipe)

The release's models and FCN-GoogLeNet read SBD train through SBDDSegDataLayer (shuffled,
seed 1337) and seg11valid (736 images: VOC 2011 val minus SBD train) through VOCSegDataLayer.
The FCN-ResNets follow a training recipe (zoo.recipe; default 'caffe'): VOC 2012 trainaug
(layers.voc12: SBD train + val + VOC 2012 train minus VOC 2012 val, 10,582 images) with random
scale, crop and mirror, evaluated on VOC 2012 val (1,449).
"""

from __future__ import annotations

from .backbones import ALEXNET, GOOGLENET, RESNET50, RESNET101, RESNET152, VGG16
from .classes import VOC_CLASSES
from .records import FROM_ILSVRC, DataLayer, DatasetRecord, Init, Input, ModelRecord, SolverSettings

# float64, as the release's np.array(params['mean']): the subtraction rounds like the release's
VOC_MEAN = (104.00699, 116.66877, 122.67892)
_IMAGE = {"data": Input(3, VOC_MEAN, "float64")}


def voc_layer(voc_dir: str) -> DataLayer:
    """VOCSegDataLayer on the VOC folder `voc_dir` (a template under {root})."""
    params = (("voc_dir", voc_dir), ("split", "{split}"), ("mean", VOC_MEAN))
    return DataLayer("layers.voc", "VOCSegDataLayer", params)


SBDD_TRAIN = DataLayer(
    "layers.voc", "SBDDSegDataLayer",
    (("sbdd_dir", "{root}/sbdd/dataset"), ("split", "{split}"), ("seed", 1337), ("mean", VOC_MEAN)),
)  # fmt: skip
TRAINAUG = DataLayer(
    "layers.voc12", "TrainAugSegDataLayer",
    (("voc_dir", "{root}/pascal/VOC2012"), ("sbdd_dir", "{root}/sbdd/dataset"),
     ("split", "{split}"), ("seed", 1337), ("mean", VOC_MEAN)),
)  # fmt: skip

VOC = DatasetRecord(
    name="voc",
    title="PASCAL VOC 2011 seg11valid (training: SBD train)",
    labels=(("label", VOC_CLASSES),),
    inputs=_IMAGE,
    splits={"train": 8498, "seg11valid": 736},
    stems=("train", "val"),
    split_of={"train": "train", "val": "seg11valid"},
    layers={"train": SBDD_TRAIN, "seg11valid": voc_layer("{root}/pascal/VOC2011")},
    synth="layers.synth:make_voc_family",
)
VOC12 = DatasetRecord(
    name="voc12",
    title="PASCAL VOC 2012 val (training: trainaug)",
    labels=(("label", VOC_CLASSES),),
    inputs=_IMAGE,
    splits={"trainaug": 10582, "val": 1449},
    stems=("train", "val"),
    split_of={"train": "trainaug", "val": "val"},
    layers={"trainaug": TRAINAUG, "val": voc_layer("{root}/pascal/VOC2012")},
    synth="layers.synth:make_voc12_family",
)


def _vgg(name, head, base_lr, init=FROM_ILSVRC, max_iter=100000):
    solver = SolverSettings(base_lr, max_iter=max_iter)
    return ModelRecord(name, VOC, VGG16, head, init, solver)


# The paper's Table 1 protocol for other backbones: per-pixel loss, momentum 0.9, 20 images per
# step (iter_size), a line-searched rate; not part of the release for GoogLeNet.
def _table1(name, backbone, base_lr, release):
    solver = SolverSettings(base_lr, momentum=0.9, iter_size=20)
    return ModelRecord(name, VOC, backbone, "32s", Init(), solver, normalize_loss=True,
                       release=release)  # fmt: skip


# The FCN-ResNets: solver values from the training recipe (zoo.recipe, default 'caffe':
# DeepLab-v2's Caffe solver, poly lr, batch 10 by iter_size, 20k iterations).
def _resnet(backbone):
    return ModelRecord(f"voc-fcn-{backbone.name}", VOC12, backbone, "dilated8s", Init(),
                       recipe="caffe", normalize_loss=True, release=False)  # fmt: skip


MODELS = (
    _vgg("voc-fcn32s", "32s", 1e-10),
    _vgg("voc-fcn16s", "16s", 1e-12, Init(model="voc-fcn32s")),
    _vgg("voc-fcn8s", "8s", 1e-14, Init(model="voc-fcn16s")),
    _vgg("voc-fcn8s-atonce", "8s-atonce", 1e-10, max_iter=300000),
    _table1("voc-fcn-alexnet", ALEXNET, 1e-4, release=True),
    _table1("voc-fcn-googlenet", GOOGLENET, 5e-5, release=False),
    *(_resnet(b) for b in (RESNET50, RESNET101, RESNET152)),
)
