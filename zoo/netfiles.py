"""The model zoo's net files: every model of the FCN release by name, its net files and solver.

import zoo
zoo.MODELS                                   # the 15 model names of the release
zoo.BACKBONE_MODELS                          # FCN-GoogLeNet and the dilated FCN-ResNets
zoo.ALL_MODELS                               # both
zoo.net_files("voc-fcn8s")                   # ('train', 'val', 'deploy')
net = zoo.build("voc-fcn8s", "val", width=0.125)   # caffe_pb2.NetParameter
zoo.solver("voc-fcn8s")                      # caffe_pb2.SolverParameter
zoo.write("voc-fcn8s", "models/voc-fcn8s")   # writes train/val/deploy/solver.prototxt
"""

import os
from collections import OrderedDict

import caffeio
from netspec.errors import NetSpecError

from . import cityscapes, nyud, pascalcontext, siftflow, voc
from . import recipe as recipes
from .solver import solver as make_solver

# model -> (family module, variant, solver settings)
_REGISTRY = OrderedDict(
    [
        ("voc-fcn32s", (voc, "32s", dict(base_lr=1e-10))),
        ("voc-fcn16s", (voc, "16s", dict(base_lr=1e-12))),
        ("voc-fcn8s", (voc, "8s", dict(base_lr=1e-14))),
        ("voc-fcn8s-atonce", (voc, "8s-atonce", dict(base_lr=1e-10, max_iter=300000))),
        ("voc-fcn-alexnet", (voc, "alexnet", dict(base_lr=1e-4, momentum=0.9, iter_size=20))),
        ("nyud-fcn32s-color", (nyud, "color", dict(base_lr=1e-10))),
        ("nyud-fcn32s-hha", (nyud, "hha", dict(base_lr=1e-10))),
        ("nyud-fcn32s-color-d", (nyud, "color-d", dict(base_lr=1e-10))),
        ("nyud-fcn32s-color-hha", (nyud, "color-hha", dict(base_lr=1e-12))),
        ("siftflow-fcn32s", (siftflow, "32s", dict(base_lr=1e-10))),
        ("siftflow-fcn16s", (siftflow, "16s", dict(base_lr=1e-12))),
        ("siftflow-fcn8s", (siftflow, "8s", dict(base_lr=1e-12))),
        ("pascalcontext-fcn32s", (pascalcontext, "32s", dict(base_lr=1e-10))),
        ("pascalcontext-fcn16s", (pascalcontext, "16s", dict(base_lr=1e-12))),
        ("pascalcontext-fcn8s", (pascalcontext, "8s", dict(base_lr=1e-14))),
    ]
)

MODELS = tuple(_REGISTRY)

# The FCN-ResNets' solvers come from their training recipe (zoo.recipe; default 'caffe':
# DeepLab-v2's Caffe solver, poly lr, batch 10 by iter_size, 20k iterations; the head's 10x
# rate is in the nets' lr_mult).
_RESNET = dict(recipe=True)
# FCN-GoogLeNet: the paper's Table 1 protocol (as voc-fcn-alexnet: per-pixel loss, momentum
# 0.9, 20 images per step) with the paper's line-searched rate for GoogLeNet, 5e-5.
_REGISTRY.update(
    [
        ("voc-fcn-googlenet", (voc, "googlenet", dict(base_lr=5e-5, momentum=0.9, iter_size=20))),
        ("voc-fcn-resnet50", (voc, "resnet50", _RESNET)),
        ("voc-fcn-resnet101", (voc, "resnet101", _RESNET)),
        ("voc-fcn-resnet152", (voc, "resnet152", _RESNET)),
        ("cityscapes-fcn-resnet101", (cityscapes, "resnet101", _RESNET)),
    ]
)
# Models on other ILSVRC backbones (issue 15): registered like the release's models, kept out
# of MODELS so that the release-wide tests and tools keep their scope until they cover them.
BACKBONE_MODELS = tuple(m for m in _REGISTRY if m not in MODELS)
ALL_MODELS = MODELS + BACKBONE_MODELS

# Size of each family's evaluation split (the solver's test_iter); the FCN-ResNets evaluate
# on VOC 2012 val (1,449).
_EVAL_SIZE = {voc: 736, nyud: 654, siftflow: 200, pascalcontext: 5105, cityscapes: 500}
_VOC12_VAL_SIZE = 1449

# Each family's release max_iter and snapshot (docs/models.md, "Release solver files"); a model's
# own settings above win (voc-fcn8s-atonce runs 300000). snapshot None: no field (SIFT Flow).
_FAMILY_SOLVER = {
    voc: dict(max_iter=100000, snapshot=4000),
    nyud: dict(max_iter=300000, snapshot=2000),
    siftflow: dict(max_iter=300000, snapshot=None),
    pascalcontext: dict(max_iter=300000, snapshot=4000),
    cityscapes: dict(max_iter=20000, snapshot=4000),
}


def _entry(model):
    try:
        return _REGISTRY[model]
    except KeyError:
        raise NetSpecError(
            f"unknown model '{model}'; known models: {', '.join(ALL_MODELS)}"
        ) from None


def net_files(model):
    """The model's net file stems: ('train', 'val', 'deploy') or ('trainval', 'test', 'deploy')."""
    return _entry(model)[0].STEMS


def num_classes(model):
    """Default class count (SIFT Flow: (semantic, geometric))."""
    return _entry(model)[0].NUM_CLASSES


def has_recipe(model):
    """True for the models trained by a zoo.recipe (the FCN-ResNets)."""
    return bool(_entry(model)[2].get("recipe"))


def _recipe_kw(model, recipe, batch_size):
    if has_recipe(model):
        return dict(recipe=recipe, batch_size=batch_size)
    if recipe is not None or batch_size is not None:
        raise NetSpecError(
            f"{model}: --recipe/--batch are for the models trained by a recipe "
            f"({', '.join(m for m in ALL_MODELS if has_recipe(m))})"
        )
    return {}


def build(model, split, width=1.0, data_root=None, num_classes=None, recipe=None,
          batch_size=None):  # fmt: skip
    """caffe_pb2.NetParameter of `model`'s net `split` (one of net_files(model)).

    width: channel multiplier of the trunk (1 = the release); data_root: dataset root written
    into the data layers' param_str (default '../../data', relative to models/<model>/);
    num_classes: override the class count; recipe, batch_size: the FCN-ResNets' training
    recipe (zoo.recipe name; default 'caffe') and images per forward of the train net.
    """
    family, variant, _ = _entry(model)
    kw = _recipe_kw(model, recipe, batch_size)
    return family.fcn(
        variant, split, width=width, data_root=data_root, num_classes=num_classes, **kw
    )


def solver(model, recipe=None, batch_size=None):
    """caffe_pb2.SolverParameter for `model`: the release's hyperparameters, or for the
    FCN-ResNets those of the training recipe (with iter_size = recipe batch / batch_size)."""
    family, _, settings = _entry(model)
    train, test, _ = family.STEMS
    _recipe_kw(model, recipe, batch_size)
    test_iter = _EVAL_SIZE[family]
    if settings.get("recipe"):
        rec = recipes.get(recipe)
        settings = recipes.solver_settings(rec, family.__name__.split(".")[-1], batch_size)
        test_iter = _VOC12_VAL_SIZE if family is voc else test_iter
    return make_solver(
        test_iter=test_iter,
        train_net=f"{train}.prototxt",
        test_net=f"{test}.prototxt",
        **{**_FAMILY_SOLVER[family], **settings},
    )


def texts(model, width=1.0, data_root=None, num_classes=None, recipe=None, batch_size=None):
    """OrderedDict file name -> prototxt text of every file of the model (nets, solver)."""
    out = OrderedDict()
    for stem in net_files(model):
        net = build(model, stem, width, data_root, num_classes, recipe, batch_size)
        out[f"{stem}.prototxt"] = caffeio.to_text(net)
    out["solver.prototxt"] = caffeio.to_text(solver(model, recipe, batch_size))
    return out


def write(model, out_dir=None, width=1.0, data_root=None, num_classes=None, recipe=None,
          batch_size=None):  # fmt: skip
    """Write the model's net and solver prototxt into out_dir (default models/<model>).

    Files are written atomically and only when their bytes change; returns the paths.
    """
    out_dir = out_dir or os.path.join("models", model)
    os.makedirs(out_dir, exist_ok=True)
    paths = []
    for name, text in texts(model, width, data_root, num_classes, recipe, batch_size).items():
        path = os.path.join(out_dir, name)
        data = text.encode("utf-8")
        old = None
        if os.path.exists(path):
            with open(path, "rb") as f:
                old = f.read()
        if old != data:
            caffeio.atomic_write(path, data)
        paths.append(path)
    return paths
