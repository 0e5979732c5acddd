"""SIFT Flow: siftflow-fcn32s/16s/8s, one VGG-16 trunk, two heads.

Semantic head (33 classes) layers end in '_sem' and its loss is 'loss'; geometric head
(3 classes) layers end in '_geo' with loss 'loss_geo'. The data layer's tops are data, sem,
geo. Splits: trainval (2,486) trains, test (200) evaluates; cow, desert and moon never occur in
test and are left out of the semantic means.
"""

from .backbones import VGG16
from .classes import SIFTFLOW_ABSENT_IN_TEST, SIFTFLOW_CLASSES, SIFTFLOW_GEO_CLASSES
from .records import FROM_ILSVRC, DataLayer, DatasetRecord, Init, Input, ModelRecord, SolverSettings

SIFTFLOW_LAYER = DataLayer(
    "layers.siftflow", "SIFTFlowSegDataLayer",
    (("siftflow_dir", "{root}/sift-flow"), ("split", "{split}"), ("seed", 1337)),
)  # fmt: skip
SIFTFLOW = DatasetRecord(
    name="siftflow",
    title="SIFT Flow (semantic + geometric)",
    labels=(("sem", SIFTFLOW_CLASSES), ("geo", SIFTFLOW_GEO_CLASSES)),
    inputs={"data": Input(3, (114.578, 115.294, 108.353))},
    splits={"trainval": 2486, "test": 200},
    stems=("trainval", "test"),
    split_of={"trainval": "trainval", "test": "test"},
    layers={"trainval": SIFTFLOW_LAYER, "test": SIFTFLOW_LAYER},
    absent={"sem": SIFTFLOW_ABSENT_IN_TEST},
    synth="layers.synth:make_siftflow",
    synth_dir="{root}/sift-flow",
)


def _model(head, base_lr, init=FROM_ILSVRC):
    solver = SolverSettings(base_lr, max_iter=300000, snapshot=None)
    return ModelRecord(f"siftflow-fcn{head}", SIFTFLOW, VGG16, head, init, solver,
                       score_every=2000)  # fmt: skip


MODELS = (
    _model("32s", 1e-10),
    _model("16s", 1e-12, Init(model="siftflow-fcn32s")),
    _model("8s", 1e-12, Init(model="siftflow-fcn16s")),
)
