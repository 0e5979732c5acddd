"""PASCAL-Context: pascalcontext-fcn32s/16s/8s, 60 classes (59 + background, trained).

Train on 'train' (4,998 images), evaluate on 'val' (5,105) through PASCALContextSegDataLayer;
VGG-16 trunk as VOC.
"""

from .backbones import VGG16
from .classes import CONTEXT_CLASSES
from .records import FROM_ILSVRC, DataLayer, DatasetRecord, Init, Input, ModelRecord, SolverSettings

CONTEXT_LAYER = DataLayer(
    "layers.pascalcontext", "PASCALContextSegDataLayer",
    (("voc_dir", "{root}/pascal"), ("context_dir", "{root}/pascal-context"), ("split", "{split}"),
     ("seed", 1337)),
)  # fmt: skip
PASCALCONTEXT = DatasetRecord(
    name="pascalcontext",
    title="PASCAL-Context (59 classes + background)",
    labels=(("label", CONTEXT_CLASSES),),
    inputs={"data": Input(3, (104.007, 116.669, 122.679))},
    splits={"train": 4998, "val": 5105},
    stems=("train", "val"),
    split_of={"train": "train", "val": "val"},
    layers={"train": CONTEXT_LAYER, "val": CONTEXT_LAYER},
    synth="layers.synth:make_pascalcontext",
)


def _model(head, base_lr, init=FROM_ILSVRC):
    solver = SolverSettings(base_lr, max_iter=300000)
    return ModelRecord(f"pascalcontext-fcn{head}", PASCALCONTEXT, VGG16, head, init, solver)


MODELS = (
    _model("32s", 1e-10),
    _model("16s", 1e-12, Init(model="pascalcontext-fcn32s")),
    _model("8s", 1e-14, Init(model="pascalcontext-fcn16s")),
)
