"""Staged initialisations: the caffemodel each FCN model's training starts from.

32s from the fcnized VGG-16 (or the raw classifier: fc layers are reshaped on the way), 16s from
32s, 8s from 16s, at-once from VGG-16, AlexNet from the fcnized AlexNet; color-d takes VGG-16's
conv1_1 into its 4-channel conv1_1_bgrd; color-hha transplants the color and hha 32s models with
suffixes. FCN-GoogLeNet and the FCN-ResNets start from their fcnized classifiers (trunk by
name, BatchNorm statistics and Scale blobs included; the new head from its fillers, a head
BatchNorm with identity statistics). Every Deconvolution gets bilinear kernels (interp). The
file written holds the train net's layer definitions and loads into it with copy_from.
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, TextIO

import caffeio
import zoo

from .errors import SurgeryError
from .fusion import init_color_d, init_late_fusion
from .interp import interp
from .paramset import ParamSet, ParamsHolder, as_params, check_out, write_params
from .report import Report
from .transplant import transplant

if TYPE_CHECKING:
    from caffeio import caffe_pb2

# A model folder whose name is no zoo model starts from the fcnized VGG-16 (the release's way).
DEFAULT_SOURCE = "vgg16-fcn"


def init_source(model: str) -> str | tuple[str, dict[str, str]]:
    """Where `model`'s initialisation comes from (its zoo record's `init`): the fcnized ILSVRC
    classifier's name ('vgg16-fcn', 'resnet101-fcn', ...), a model name (16s from 32s), or
    ("late", {suffix: model}) for late fusion. Names that are no zoo model: DEFAULT_SOURCE."""
    if not zoo.is_model(model):
        return DEFAULT_SOURCE
    rec = zoo.record(model)
    init = rec.init
    if init.kind == "late":
        return ("late", dict(init.late))
    if init.kind == "model":
        return init.model
    return init.ilsvrc or rec.backbone.fcnized


def is_ilsvrc(src: object) -> bool:
    """True when `src` names an fcnized ILSVRC classifier of a zoo backbone ('vgg16-fcn')."""
    return isinstance(src, str) and any(src == b.fcnized for b in zoo.backbones())


def _ilsvrc(src):
    """(what it is, its classifier layer: present in an fcnized net) of an fcnized classifier."""
    b = zoo.backbone(src)
    return b.title, b.classifier_layer


TRAIN_STEMS = ("train", "trainval")


def _build(model, split, width):
    return zoo.build(model, split, width=width)


def model_nets(
    model: str, width: float = 1.0
) -> tuple[str, caffe_pb2.NetParameter, caffe_pb2.NetParameter | None]:
    """(model name, train NetParameter, deploy NetParameter or None) for a model name or a
    model folder holding train(val).prototxt (+ deploy.prototxt); folders win over netspec."""
    if os.path.isdir(model):
        name = os.path.basename(os.path.normpath(model))
        train = deploy = None
        for stem in TRAIN_STEMS:
            path = os.path.join(model, stem + ".prototxt")
            if os.path.exists(path):
                train = caffeio.read_net(path)
                break
        path = os.path.join(model, "deploy.prototxt")
        if os.path.exists(path):
            deploy = caffeio.read_net(path)
        if train is None:
            if not zoo.is_model(name):
                raise SurgeryError(
                    f"{model}: no train.prototxt or trainval.prototxt in the folder and "
                    f"'{name}' is not a known model; run `make {name}` first"
                )
            train, deploy = _netspec_nets(name, width)
        return name, train, deploy
    if not zoo.is_model(model):
        raise SurgeryError(f"unknown model '{model}': use one of {', '.join(zoo.names())}")
    return (model, *_netspec_nets(model, width))


def _netspec_nets(model, width):
    train = None
    errors = []
    for stem in TRAIN_STEMS:
        try:
            train = _build(model, stem, width)
            break
        except Exception as e:  # noqa: BLE001 - netspec names the valid splits; keep trying
            errors.append(str(e))
    if train is None:
        raise SurgeryError(f"{model}: netspec built no train net ({'; '.join(errors)})")
    return train, _build(model, "deploy", width)


def _target(train, deploy):
    """ParamSet shaped like the train net's params, filler-initialised (constant/bilinear)."""
    input_shapes = {}
    if deploy is not None:
        for layer in deploy.layer:
            if layer.type == "Input":
                for top, shape in zip(layer.top, layer.input_param.shape):
                    input_shapes[top] = tuple(shape.dim)
    else:
        from netspec.datatops import data_top_shapes

        for layer in train.layer:
            if layer.type == "Python":
                input_shapes.update(data_top_shapes(layer, 500, 500))
    return ParamSet.from_definition(train, input_shapes=input_shapes)


def _is_allowed_missing(layer):
    # Score layers (zero-init in every FCN), the FCN-ResNet head (head, head_bn, head_scale)
    # and upsampling / fixed scaling start from fillers.
    return (
        layer is None
        or layer.type in ("Deconvolution", "Scale")
        or layer.name.startswith(("score", "head"))
    )


def _identity_stats(dst, layers, names):
    """BatchNorm layers in `names` get mean 0, variance 1, factor 1: y = x / sqrt(1 + eps).

    Caffe's BatchNorm holds no filler; its zero blobs would divide by sqrt(eps) instead.
    Returns the names set."""
    done = []
    for name in names:
        layer = layers.get(name)
        if layer is not None and layer.type == "BatchNorm" and name in dst.params:
            mean, var, factor = (b.data for b in dst.params[name])
            mean[...], var[...], factor[...] = 0, 1, 1
            done.append(name)
    return done


def staged_init(
    model: str,
    source_weights: ParamsHolder | str | dict[str, ParamsHolder | str],
    out: str | None = None,
    width: float = 1.0,
    force: bool = False,
    verbose: bool = True,
    file: TextIO | None = None,
) -> tuple[ParamSet, Report]:
    """Initialise `model`'s train net from `source_weights` -> (ParamSet, Report); write `out`.

    model: a model name (netspec builds its nets) or a model folder with its prototxts.
    source_weights: caffemodel path / ParamSet / net; for nyud-fcn32s-color-hha a dict
    {"color": ..., "hha": ...}. Trunk layers the source lacks are an error (a net trained from
    zeros sits at loss ln(classes)); score layers start at their fillers; every Deconvolution
    gets interp. Layers with random fillers and no source weights are left out of the file (the
    net's own filler runs at load). out: an existing file is kept unless force=True.
    """
    if out is not None:
        check_out(out, force, "init.caffemodel")
    name, train, deploy = model_nets(model, width)
    dst = _target(train, deploy)
    source = init_source(name)
    if isinstance(source, tuple):
        report = _from_late_sources(name, source, source_weights, dst)
    else:
        report = _from_one_source(name, source, source_weights, dst, train)
    report.title = f"staged init of {name} from {_label(source_weights)}:"
    layers = {layer.name: layer for layer in train.layer}
    bad = [m for m in report.missing if not _is_allowed_missing(layers.get(m))]
    if bad:
        _raise_lacking(name, source, source_weights, bad)
    deconvs = [layer.name for layer in train.layer if layer.type == "Deconvolution"]
    deconvs = list(dict.fromkeys(deconvs))
    if deconvs:
        report.extend(interp(dst, deconvs, verbose=False))
    _settle_missing(dst, report, layers, deconvs)
    if out is not None:
        write_params(dst, out, definition=_stored(train, dst), force=force,
                     phase=caffeio.caffe_pb2.TRAIN)  # fmt: skip
        report.notes.append(f"wrote {out}")
    if verbose:
        report.print(file=file or sys.stdout)
    return dst, report


def _from_late_sources(name, source, source_weights, dst):
    """Late fusion: `source_weights` {suffix: weights} for exactly the suffixes `source`
    ("late", {suffix: model}) names, each transplanted with its suffix -> the Report."""
    if not isinstance(source_weights, dict):
        raise SurgeryError(
            f"{name} is initialised from two models ({', '.join(source[1].values())}): "
            "give {suffix: weights} (CLI: --from color=A.caffemodel --from hha=B.caffemodel)"
        )
    unknown = set(source_weights) - set(source[1])
    if unknown or set(source_weights) != set(source[1]):
        raise SurgeryError(
            f"{name}: late fusion needs sources for suffixes {sorted(source[1])}, "
            f"got {sorted(source_weights)}"
        )
    return init_late_fusion(
        dst, {k: as_params(v) for k, v in source_weights.items()}, verbose=False
    )


def _from_one_source(name, source, source_weights, dst, train):
    """One source (an fcnized classifier or the previous stage): every trunk layer of the
    train net must be in it; transplanted by name (color-d: its widened first convolution
    too) -> the Report."""
    src = as_params(source_weights)
    _check_source(name, source, src)
    early, first_conv = _early_fusion(name)
    layers = {layer.name: layer for layer in train.layer}
    lacking = [
        n
        for n in dst.params
        if n not in src.params
        and not _is_allowed_missing(layers.get(n))
        and not (early and n == first_conv)
    ]
    if lacking:
        _raise_lacking(name, source, source_weights, lacking)
    if early:
        return init_color_d(dst, src, layer=first_conv, verbose=False)
    return transplant(dst, src, verbose=False)


def _settle_missing(dst, report, layers, deconvs):
    """What becomes of the train net's layers the source did not fill (report.missing): a
    BatchNorm gets identity statistics, a random filler is left out of dst (filled at load),
    the rest keep their constant fillers; each gets a note (Deconvolutions have interp's)."""
    stats = _identity_stats(dst, layers, report.missing)
    for m in report.missing:
        if m in stats:
            report.notes.append(f"{m}: BatchNorm with identity statistics (mean 0, variance 1)")
        elif m in dst.random_filled and m not in deconvs:
            del dst.params[m]
            report.notes.append(f"{m}: random filler, left out of the file (filled at load)")
        elif m not in deconvs:
            report.notes.append(f"{m}: starts from its filler (written to the file)")


def _early_fusion(name):
    """(True, the widened first convolution) for an early-fusion model (color-d), else
    (False, None)."""
    if not zoo.is_model(name) or not zoo.record(name).init.early:
        return False, None
    return True, zoo.record(name).first_conv


def _stored(train, dst):
    """The train net's definition without the learnable layers left out of dst: a layer stored
    with no blobs would not load (Caffe's copy_from checks the blob count of every layer it
    finds in the file; layers it does not find keep their fillers)."""
    out = caffeio.caffe_pb2.NetParameter()
    out.CopyFrom(train)
    keep = [x for x in out.layer if x.name in dst.params or not _has_params(x)]
    del out.layer[:]
    out.layer.extend(keep)
    return out


def _has_params(layer):
    from caffeio.layertypes import blob_names

    return bool(blob_names(layer))


def _raise_lacking(name, source, source_weights, layers):
    raise SurgeryError(
        f"{name}: the source weights {_label(source_weights)} hold nothing for "
        f"{', '.join(layers)}: these layers would train from their fillers (the loss sits at "
        f"ln(#classes)). {name} starts from {_describe(source)}"
    )


def _label(w):
    if isinstance(w, dict):
        return ", ".join(f"{k}={_label(v)}" for k, v in w.items())
    return getattr(w, "source", None) or (str(w) if isinstance(w, (str, os.PathLike)) else "net")


def _describe(source):
    if is_ilsvrc(source):
        return f"the fcnized {_ilsvrc(source)[0]} (python -m surgery fcnize ...)"
    if isinstance(source, tuple):
        return " and ".join(source[1].values())
    return f"a trained {source} caffemodel"


def _check_source(name, source, src):
    has = set(src.params)
    if (
        is_ilsvrc(source)
        and _ilsvrc(source)[1] not in has
        and any(n.startswith("score") for n in has)
    ):
        raise SurgeryError(
            f"{name} starts from {_describe(source)}, but the weights hold score layers "
            f"({', '.join(n for n in has if n.startswith('score'))}): wrong stage?"
        )
    if (
        not is_ilsvrc(source)
        and "score_fr" not in has
        and not any(n.startswith("score_fr") for n in has)
    ):
        raise SurgeryError(
            f"{name} starts from {_describe(source)}, but the weights hold no score_fr layer "
            "(an ILSVRC classifier?): train the previous stage first"
        )
