"""Cityscapes: cityscapes-fcn-resnet101 (19 classes, output stride 8).

Train on train (2,975), evaluate on val (500) with layers.cityscapes.CityscapesSegDataLayer
(param keys cityscapes_dir, split, and seed on train; tops data, label). Training follows a
recipe (zoo.recipe; default 'caffe': random scale, 321 x 321 crops, mirror, seed 1337); val
serves whole 2048 x 1024 images (score.py --eval tiled|sliding for less memory). Deploy input
1 x 3 x 1024 x 2048. The mean is the ImageNet backbones' (the VOC mean of the release).
"""

from .backbones import RESNET101
from .classes import CITYSCAPES_CLASSES
from .records import DataLayer, DatasetRecord, Init, Input, ModelRecord, SolverSettings
from .voc import VOC_MEAN


def _layer(*extra):
    params = (("cityscapes_dir", "{root}/cityscapes"), ("split", "{split}"), *extra)
    return DataLayer("layers.cityscapes", "CityscapesSegDataLayer", params)


CITYSCAPES = DatasetRecord(
    name="cityscapes",
    title="Cityscapes (19 train ids; fine annotations)",
    labels=(("label", CITYSCAPES_CLASSES),),
    inputs={"data": Input(3, VOC_MEAN, "float64")},
    splits={"train": 2975, "val": 500},
    stems=("train", "val"),
    split_of={"train": "train", "val": "val"},
    layers={"train": _layer(("seed", 1337)), "val": _layer()},
    deploy_size=(1024, 2048),
    synth="layers.synth:make_cityscapes",
    synth_dir="{root}/cityscapes",
)

MODELS = (
    ModelRecord(
        "cityscapes-fcn-resnet101",
        CITYSCAPES,
        RESNET101,
        "dilated8s",
        Init(),
        SolverSettings(max_iter=20000),
        recipe="caffe",
        score_every=2000,
        normalize_loss=True,
        release=False,
    ),  # fmt: skip
)
