"""NYUDv2 models (40 classes, fcn32s): color, hha, color-d (early fusion), color-hha (late).

  nyud-fcn32s-color      data layer tops color,label as blobs data, label
  nyud-fcn32s-hha        tops hha,label as data, label
  nyud-fcn32s-color-d    blobs color, depth, label; data = Concat(color, depth) (4 channels)
                         into 'conv1_1_bgrd' (BGR + log-depth); the rest is VGG-16 fcn32s
  nyud-fcn32s-color-hha  two VGG-16 trunks, every layer name suffixed verbatim 'color' / 'hha'
                         (conv1_1color ... fc7color, score_frcolor; conv1_1hha ... score_frhha,
                         as in the release, whose transplant appends suffix='color'/'hha');
                         score_fused = Eltwise SUM coeff 0.5, 0.5 -> upscore -> score
Splits: trainval (train) and test (evaluation).
"""

from netspec.builder import L, NetSpec, P
from netspec.coord import crop

from . import pydata
from .common import check_split, deploy_input
from .trunks import fcn32s_head, score_conv, softmax_loss, upsample, vgg16_trunk

STEMS = ("trainval", "test", "deploy")
NUM_CLASSES = 40
VARIANTS = ("color", "hha", "color-d", "color-hha")
_TOPS = {
    "color": ("color", "label"),
    "hha": ("hha", "label"),
    "color-d": ("color", "depth", "label"),
    "color-hha": ("color", "hha", "label"),
}
_CHANNELS = {"color": 3, "hha": 3, "depth": 1}


def fcn(variant, split, width=1.0, data_root=None, num_classes=None):
    """nyud-fcn32s-<variant> for 'trainval' | 'test' | 'deploy' -> NetParameter."""
    model = f"nyud-fcn32s-{variant}"
    check_split(model, split, STEMS)
    k = num_classes or NUM_CLASSES
    tops = _TOPS[variant]
    train = split != "deploy"
    n = NetSpec()
    if variant in ("color", "hha"):
        if train:
            n.data, n.label = L.Python(**pydata.nyud(split, tops, data_root))
        else:
            n.data = deploy_input(_CHANNELS[variant], name="input")
    else:
        if train:
            blobs = L.Python(**pydata.nyud(split, tops, data_root))
            for name, blob in zip(tops, blobs):
                n[name] = blob
        else:
            for name in tops[:-1]:
                n[name] = deploy_input(_CHANNELS[name])
    if variant == "color-hha":
        fr = []
        for modality in ("color", "hha"):
            top = vgg16_trunk(n, n[modality], width, suffix=modality, dropout=train)
            n["score_fr" + modality] = score_conv(top, k)
            fr.append(n["score_fr" + modality])
        n.score_fused = L.Eltwise(*fr, operation=P.Eltwise.SUM, coeff=[0.5, 0.5])
        n.upscore = upsample(n.score_fused, k, 32)
        n.score = crop(n.upscore, n.color)
    else:
        if variant == "color-d":
            n.data = L.Concat(n.color, n.depth)
        conv1 = "conv1_1_bgrd" if variant == "color-d" else None
        top = vgg16_trunk(n, n.data, width, conv1_name=conv1, dropout=train)
        fcn32s_head(n, top, n.data, k)
    if train:
        n.loss = softmax_loss(n.score, n.label)
    return n.to_proto(name=model)
