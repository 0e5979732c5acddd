"""A zoo model's files: its nets and solver as caffe_pb2 messages or prototxt text, written.

    import zoo
    zoo.net_files("voc-fcn8s")                   # ('train', 'val', 'deploy')
    net = zoo.build("voc-fcn8s", "val", width=0.125)   # caffe_pb2.NetParameter
    zoo.solver("voc-fcn8s")                      # caffe_pb2.SolverParameter
    zoo.write("voc-fcn8s", "models/voc-fcn8s")   # writes train/val/deploy/solver.prototxt

Everything is read from the model's record (zoo.record): nets by zoo.fcn, the solver from the
record's settings or training recipe and its dataset's evaluation size.
"""

from __future__ import annotations

import os
from collections import OrderedDict

import caffeio
from caffeio import caffe_pb2
from netspec.errors import NetSpecError

from . import fcn, registry
from . import recipe as recipes
from . import scripts as model_scripts
from .solver import solver as make_solver


def net_files(model: str) -> tuple:
    """The model's net file stems: ('train', 'val', 'deploy') or ('trainval', 'test', 'deploy')."""
    return registry.record(model).net_files


def num_classes(model: str) -> int | tuple:
    """Default class count (SIFT Flow: (semantic, geometric))."""
    return registry.record(model).num_classes


def has_recipe(model: str) -> bool:
    """True for the models trained by a zoo.recipe (the FCN-ResNets)."""
    return bool(registry.record(model).recipe)


def _check_recipe(model, recipe, batch_size):
    if not has_recipe(model) and (recipe is not None or batch_size is not None):
        raise NetSpecError(
            f"{model}: --recipe/--batch are for the models trained by a recipe "
            f"({', '.join(m for m in registry.names() if has_recipe(m))})"
        )


def build(
    model: str,
    split: str,
    width: float = 1.0,
    data_root: str | None = None,
    num_classes: int | tuple[int, ...] | None = None,
    recipe: str | recipes.TrainRecipe | None = None,
    batch_size: int | None = None,
) -> caffe_pb2.NetParameter:
    """caffe_pb2.NetParameter of `model`'s net `split` (one of net_files(model)).

    width: channel multiplier of the trunk (1 = the release); data_root: dataset root written
    into the data layers' param_str (default '../../data', relative to models/<model>/);
    num_classes: override the class count; recipe, batch_size: the FCN-ResNets' training
    recipe (zoo.recipe name; default 'caffe') and images per forward of the train net.
    """
    _check_recipe(model, recipe, batch_size)
    rec = registry.record(model)
    return fcn.build(rec, split, width, data_root, num_classes, recipe, batch_size)


def solver(
    model: str, recipe: str | recipes.TrainRecipe | None = None, batch_size: int | None = None
) -> caffe_pb2.SolverParameter:
    """caffe_pb2.SolverParameter for `model`: the release's hyperparameters, or for the
    FCN-ResNets those of the training recipe (with iter_size = recipe batch / batch_size)."""
    _check_recipe(model, recipe, batch_size)
    rec = registry.record(model)
    train, test = rec.dataset.stems
    settings = rec.solver.kwargs()
    if rec.recipe:
        train_recipe = recipes.get(recipe or rec.recipe)
        settings.update(recipes.solver_settings(train_recipe, rec.dataset.train_size, batch_size))
    return make_solver(
        test_iter=rec.dataset.eval_size,
        train_net=f"{train}.prototxt",
        test_net=f"{test}.prototxt",
        **settings,
    )


def texts(
    model: str,
    width: float = 1.0,
    data_root: str | None = None,
    num_classes: int | tuple[int, ...] | None = None,
    recipe: str | recipes.TrainRecipe | None = None,
    batch_size: int | None = None,
) -> OrderedDict[str, str]:
    """OrderedDict file name -> prototxt text of every file of the model (nets, solver)."""
    out = OrderedDict()
    for stem in net_files(model):
        net = build(model, stem, width, data_root, num_classes, recipe, batch_size)
        out[f"{stem}.prototxt"] = caffeio.to_text(net)
    out["solver.prototxt"] = caffeio.to_text(solver(model, recipe, batch_size))
    return out


def write(
    model: str,
    out_dir: str | None = None,
    width: float = 1.0,
    data_root: str | None = None,
    num_classes: int | tuple[int, ...] | None = None,
    recipe: str | recipes.TrainRecipe | None = None,
    batch_size: int | None = None,
    scripts: bool = False,
) -> list[str]:
    """Write the model's net and solver prototxt into out_dir (default models/<model>);
    scripts=True adds solve.py and score.py (zoo.scripts; for a folder models/<model>).

    Files are written atomically and only when their bytes change; returns the paths.
    """
    out_dir = out_dir or os.path.join("models", model)
    os.makedirs(out_dir, exist_ok=True)
    files = texts(model, width, data_root, num_classes, recipe, batch_size)
    if scripts:
        files["solve.py"] = model_scripts.solve_py(model, registry.record(model).release)
        files["score.py"] = model_scripts.score_py(model)
    paths = []
    for name, text in files.items():
        path = os.path.join(out_dir, name)
        _write_if_changed(path, text)
        paths.append(path)
    return paths


def _write_if_changed(path, text):
    data = text.encode("utf-8")
    old = None
    if os.path.exists(path):
        with open(path, "rb") as f:
            old = f.read()
    if old != data:
        caffeio.atomic_write(path, data)
