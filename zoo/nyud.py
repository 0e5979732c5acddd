"""NYUDv2 (40 classes): nyud-fcn32s-color, -hha, -color-d (early fusion), -color-hha (late).

  nyud-fcn32s-color      the data layer serves tops color,label as blobs data, label
  nyud-fcn32s-hha        tops hha,label as data, label (HHA keeps its channel order)
  nyud-fcn32s-color-d    blobs color, depth, label; data = Concat(color, depth) (4 channels)
                         into 'conv1_1_bgrd' (BGR + log-depth); the rest is VGG-16 fcn32s
  nyud-fcn32s-color-hha  two VGG-16 trunks, every layer name suffixed verbatim 'color' / 'hha'
                         (conv1_1color ... fc7color, score_frcolor; conv1_1hha ... score_frhha,
                         as in the release, whose transplant appends suffix='color'/'hha');
                         score_fused = Eltwise SUM coeff 0.5, 0.5 -> upscore -> score
Splits: trainval (795: train 381 + val 414) trains, test (654) evaluates.
"""

from .backbones import VGG16
from .classes import NYUD_CLASSES
from .records import (
    FROM_ILSVRC,
    TOPS,
    DataLayer,
    DatasetRecord,
    Init,
    Input,
    ModelRecord,
    SolverSettings,
)

NYUD_LAYER = DataLayer(
    "layers.nyud", "NYUDSegDataLayer",
    (("nyud_dir", "{root}/nyud"), ("split", "{split}"), ("tops", TOPS), ("seed", 1337)),
)  # fmt: skip
NYUD = DatasetRecord(
    name="nyud",
    title="NYUDv2 (40 classes)",
    labels=(("label", NYUD_CLASSES),),
    inputs={
        "color": Input(3, (116.190, 97.203, 92.318)),
        "hha": Input(3, (132.431, 94.076, 118.477), bgr=False),  # HHA order, no swap
        "depth": Input(1, (7.844,), bgr=False),  # log(depth) minus this
    },
    splits={"trainval": 795, "test": 654},
    stems=("trainval", "test"),
    split_of={"trainval": "trainval", "test": "test"},
    layers={"trainval": NYUD_LAYER, "test": NYUD_LAYER},
    synth="layers.synth:make_nyud",
    synth_dir="{root}/nyud",
)


def _model(name, inputs, base_lr=1e-10, init=FROM_ILSVRC, **kw):
    solver = SolverSettings(base_lr, max_iter=300000, snapshot=2000)
    return ModelRecord(name, NYUD, VGG16, "32s", init, solver, inputs, score_every=2000, **kw)


# late fusion: each stream from its own trained 32s model (layer names suffixed color / hha)
LATE = Init(late=(("color", "nyud-fcn32s-color"), ("hha", "nyud-fcn32s-hha")))
MODELS = (
    _model("nyud-fcn32s-color", ("color",)),
    _model("nyud-fcn32s-hha", ("hha",)),
    _model(
        "nyud-fcn32s-color-d",
        ("color", "depth"),
        init=Init(early=True),
        fusion="early",
        first_conv="conv1_1_bgrd",
    ),  # fmt: skip
    _model("nyud-fcn32s-color-hha", ("color", "hha"), 1e-12, fusion="late", init=LATE),
)
