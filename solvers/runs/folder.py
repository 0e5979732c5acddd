"""Where a model runs: its folder and the nets generated there for non-release settings.

A run folder is named after the model (`<runs>/<model>`): for the release's own settings it is
models/<model> itself; `--width`/`--data-root`/`--normalize` runs generate their nets into
`<runs>/<model>` (default runs/ under the project, never touching models/<m>/*.prototxt). Run
products (snapshots, logs, scores, the solver actually used) go to `<run>/snapshot/`. Relative
paths in a run folder's files are relative to the run folder (solvers.runs.paths). A user's
model folder (python -m zoo make-custom) is its model's folder wherever it lies; its nets read
the user's dataset folder unless --data-root names another.
"""

from __future__ import annotations

import os

import caffeio

# the repository (models/, runs/, data/, demo/ are folders of it)
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MODELS_DIR = os.path.join(ROOT, "models")


class RunSetupError(SystemExit):
    """A run cannot start; the message says what file is missing and how to make it."""

    def __init__(self, message: str):
        super().__init__(f"error: {message}")


def models_dir(model: str) -> str:
    """The folder holding `model`'s own folder: models/, or for a model loaded from a folder of
    its own (a user's dataset, zoo.custom) that folder's parent."""
    from zoo.custom import home

    folder = home(model)
    return os.path.dirname(folder) if folder else MODELS_DIR


def run_path(
    model: str,
    runs: str | None = None,
    width: float = 1.0,
    data_root: str | None = None,
    normalize: bool = False,
    recipe: str | None = None,
    batch: int | None = None,
    crop: int | None = None,
) -> str:
    """Where `model` runs with these settings (see run_dir), as an absolute path; writes
    nothing."""
    custom = _custom(width, data_root, normalize, recipe, batch, crop)
    if runs is None:
        tag = f"w{width:g}" + (f"-{recipe}" if recipe else "") + (f"-b{batch}" if batch else "")
        tag += f"-c{crop}" if crop else ""
        runs = os.path.join(ROOT, "runs", tag) if custom else models_dir(model)
    return os.path.join(os.path.abspath(runs), model)


def _custom(width, data_root, normalize, recipe, batch, crop):
    custom = width != 1.0 or data_root is not None or normalize
    return custom or recipe not in (None, "caffe") or batch is not None or crop is not None


def run_dir(
    model: str,
    runs: str | None = None,
    width: float = 1.0,
    data_root: str | None = None,
    normalize: bool = False,
    recipe: str | None = None,
    batch: int | None = None,
    crop: int | None = None,
    folder: str | None = None,
) -> str:
    """The run folder for `model`; generates the nets there when the settings differ from the
    release (width, data root, normalised loss; for the FCN-ResNets a training recipe other than
    the default, a batch per forward or a crop side). `folder`: another folder beside the usual
    one (a --new-run's `<model>-runN`): the nets are generated there, or, for the release's
    settings, copied from the usual folder. Returns an absolute path."""
    usual = run_path(model, runs, width, data_root, normalize, recipe, batch, crop)
    folder = os.path.abspath(folder) if folder else usual
    if _custom(width, data_root, normalize, recipe, batch, crop):
        _generate(model, folder, width, data_root, normalize, recipe, batch, crop)
        return folder
    if folder != usual and not os.path.exists(os.path.join(folder, "solver.prototxt")):
        _copy_nets(usual, folder)
    if not os.path.exists(os.path.join(folder, "solver.prototxt")):
        from zoo.custom import home

        make = f"`make {model}`"
        if home(model):
            make = f"python -m zoo make-custom there, or leave --runs out to use {home(model)}"
        raise RunSetupError(
            f"{folder}/solver.prototxt not found: run {make} (writes the model's prototxt files)"
        )
    return folder


def _copy_nets(source: str, dest: str) -> None:
    """The prototxt files of run folder `source` into `dest` (a folder beside it, so their
    relative paths name the same files)."""
    import shutil

    if not os.path.isdir(source):
        return
    os.makedirs(dest, exist_ok=True)
    for name in sorted(os.listdir(source)):
        if name.endswith(".prototxt") and os.path.isfile(os.path.join(source, name)):
            shutil.copyfile(os.path.join(source, name), os.path.join(dest, name))


def _generate(model, folder, width, data_root, normalize, recipe, batch, crop):
    """Write `model`'s nets for these settings into `folder` (data_root None: the dataset's own
    folder for a user's model, else the project's data/)."""
    import zoo

    try:
        default = zoo.record(model).dataset.root or os.path.join(ROOT, "data")
        root = os.path.abspath(data_root) if data_root else default
        if crop is not None:
            from zoo.recipe import with_crop

            recipe = with_crop(recipe, crop)
        zoo.write(model, folder, width=width, data_root=root, recipe=recipe, batch_size=batch)
    except ValueError as e:  # NetSpecError: a recipe for a model without one, a bad batch
        raise RunSetupError(str(e)) from None
    if normalize:
        for stem in zoo.net_files(model):
            path = os.path.join(folder, stem + ".prototxt")
            net = caffeio.read_net(path)
            for layer in net.layer:
                if layer.type == "SoftmaxWithLoss":
                    layer.loss_param.ClearField("normalize")
                    layer.loss_param.normalization = layer.loss_param.VALID
            caffeio.write_net(net, path)


def stems(folder: str) -> tuple[str, str]:
    """(train net file, eval net file) of a run folder, from its solver.prototxt, as absolute
    paths (the solver's relative paths are relative to the folder)."""
    solver = caffeio.read_solver(os.path.join(folder, "solver.prototxt"))
    train = solver.train_net or solver.net
    test = solver.test_net[0] if len(solver.test_net) else train
    return os.path.join(folder, train), os.path.join(folder, test)
