"""A model folder for a user's own dataset: any zoo architecture, the user's classes.

    python -m zoo make-custom --data data/mydata --arch voc-fcn8s [--out models/mydata-fcn8s]
        [--name mydata] [--void-label 255]

    from zoo import custom
    folder, rec, notes = custom.make("data/mydata", "voc-fcn32s")   # models/mydata-fcn32s
    custom.load("models/mydata-fcn32s")     # -> 'mydata-fcn32s', registered with the zoo

The dataset folder follows zoo.userdata's layout. The model folder holds `model.json` (what
it is: the architecture, the dataset folder relative to the model folder, the class names,
the mean, the ignore label, the split sizes), its nets (train/val/deploy/solver.prototxt,
reading the dataset through layers.folder.FolderSegDataLayer) and solve.py / score.py, which
register the folder's records (`load`) and then train and score as every model's scripts do.

The model is called after its folder; its record is the architecture's (backbone, head,
solver settings or recipe, score interval, loss normalisation) with the user's dataset and
classes. A staged architecture starts from the user's previous stage: <x>-fcn16s from the
trained weights of its sibling folder <x>-fcn32s (the folder name with the architecture's
suffix replaced), <x>-fcn8s from <x>-fcn16s, as the release's do.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re

import caffeio

from . import netfiles, registry, scripts, userdata
from .records import DataLayer, DatasetRecord, Init, Input, ModelRecord

FILE = "model.json"
FORMAT = 1
# The ILSVRC classifiers' mean (VOC's, in BGR): where a dataset has no mean.txt of its own.
DEFAULT_MEAN = (104.00699, 116.66877, 122.67892)
REPOSITORY = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_HOMES: dict = {}  # model name -> its folder, for the models loaded from folders


class CustomModelError(userdata.UserDataError):
    """A model folder or its command's arguments are wrong; the message says what to do."""


def _builtin_models() -> tuple:
    import zoo

    return zoo.ALL_MODELS


def archs() -> tuple:
    """Zoo models usable as the architecture of a user's model: one colour image input (BGR),
    one scored head, no fusion, started from a classifier or from the previous stage."""
    out = []
    for m in _builtin_models():
        rec = registry.record(m)
        image = rec.image_input
        if len(rec.inputs) != 1 or len(rec.heads) != 1 or rec.fusion or rec.init.late:
            continue
        if image.channels == 3 and image.bgr:
            out.append(m)
    return tuple(out)


def arch_suffix(arch: str) -> str:
    """What a model of this architecture is called after its dataset: 'voc-fcn8s' -> 'fcn8s'."""
    return arch.split("-", 1)[1]


def default_model(dataset: str, arch: str) -> str:
    """<dataset>-<architecture suffix>: 'mydata', 'voc-fcn8s' -> 'mydata-fcn8s'."""
    return f"{dataset}-{arch_suffix(arch)}"


def source_model(model: str, dataset: str, arch: str) -> str:
    """The user's model a staged architecture starts from: the model's name with the
    architecture's suffix replaced by its source's ('shapes-fcn16s' -> 'shapes-fcn32s'), else
    <dataset>-<source suffix>."""
    src = arch_suffix(registry.record(arch).init.model)
    suffix = arch_suffix(arch)
    if model.endswith(suffix) and len(model) > len(suffix):
        return model[: -len(suffix)] + src
    return f"{dataset}-{src}"


def folder_layer(mean: tuple, n_classes: int, void: int) -> DataLayer:
    """The data layer of a user's dataset, reading `{root}` = the dataset folder."""
    params = (
        ("data_dir", "{root}"), ("split", "{split}"), ("seed", 1337), ("mean", tuple(mean)),
        ("classes", n_classes), ("void_label", void),
    )  # fmt: skip
    return DataLayer("layers.folder", "FolderSegDataLayer", params)


def dataset_record(spec: dict, data_dir: str) -> DatasetRecord:
    """The DatasetRecord of a model folder's spec (model.json), its data at `data_dir`."""
    classes, mean = tuple(spec["classes"]), tuple(spec["mean"])
    layer = folder_layer(mean, len(classes), spec["void_label"])
    return DatasetRecord(
        name=spec["dataset"],
        title=f"{spec['dataset']} (your dataset, {data_dir})",
        labels=(("label", classes),),
        inputs={"data": Input(3, mean, "float32")},
        splits=dict(spec["splits"]),
        stems=("train", "val"),
        split_of={"train": "train", "val": "val"},
        layers={split: layer for split in userdata.SPLITS},
        synth="layers.synth.folder:make_folder_dataset",
        root=data_dir,
    )


def model_record(spec: dict, data_dir: str) -> ModelRecord:
    """The ModelRecord of a model folder's spec: the architecture's record with the user's
    dataset, the first input called 'data', and a staged init from the user's previous stage."""
    arch = registry.record(spec["arch"])
    init = arch.init
    if init.kind == "model":
        init = Init(model=source_model(spec["model"], spec["dataset"], spec["arch"]))
    return dataclasses.replace(
        arch, name=spec["model"], dataset=dataset_record(spec, data_dir), init=init,
        inputs=("data",), fusion="", first_conv="", scored=None, release=False,
    )  # fmt: skip


def _check_names(model: str, dataset: str) -> None:
    for what, name in (("model", model), ("dataset", dataset)):
        if not _NAME.match(name):
            raise CustomModelError(
                f"{what} name {name!r}: use letters, digits, '.', '_' and '-' (it names files)"
            )
    if model in _builtin_models():
        raise CustomModelError(f"'{model}' is a model of the zoo; call your folder otherwise")
    builtin = {registry.record(m).dataset.name for m in _builtin_models()}
    if dataset in builtin:
        raise CustomModelError(
            f"'{dataset}' is a dataset of the zoo; name yours otherwise (--name)"
        )


def _register(spec: dict, folder: str) -> ModelRecord:
    data = spec["data"]
    data_dir = os.path.normpath(data if os.path.isabs(data) else os.path.join(folder, data))
    rec = model_record(spec, data_dir)
    registry.register(rec, replace=True)
    _HOMES[rec.name] = os.path.abspath(folder)
    return rec


def home(model: str) -> str | None:
    """The folder a user's model was loaded from (None for the zoo's own models)."""
    return _HOMES.get(model)


def unload(model: str) -> None:
    """Take a loaded model and its dataset out of the zoo again (tests)."""
    if registry.is_model(model):
        dataset = registry.record(model).dataset.name
        registry.unregister(model)
        if not any(registry.record(m).dataset.name == dataset for m in registry.names()):
            registry.unregister(dataset)
    _HOMES.pop(model, None)


_KEYS = ("format", "model", "arch", "dataset", "data", "classes", "mean", "void_label", "splits")


def read_spec(folder: str) -> dict:
    """The checked model.json of a user's model folder."""
    path = os.path.join(folder, FILE)
    if not os.path.isfile(path):
        raise CustomModelError(
            f"{folder}: no {FILE}; make the folder with python -m zoo make-custom --data DIR "
            "--arch ARCH --out FOLDER"
        )
    try:
        with open(path, encoding="utf-8") as f:
            spec = json.load(f)
    except (OSError, ValueError) as e:
        raise CustomModelError(f"{path}: not readable JSON ({e}); run make-custom again") from None
    missing = [k for k in _KEYS if not isinstance(spec, dict) or k not in spec]
    if missing:
        raise CustomModelError(f"{path}: lacks {', '.join(missing)}; run make-custom again")
    if spec["format"] != FORMAT:
        raise CustomModelError(f"{path}: format {spec['format']!r}, this toolkit reads {FORMAT}")
    name = os.path.basename(os.path.normpath(folder))
    if spec["model"] != name:
        raise CustomModelError(
            f"{path} was made for model '{spec['model']}' but its folder is called '{name}': "
            f"rename the folder back, or make this one with make-custom --out {folder}"
        )
    if spec["arch"] not in archs():
        raise CustomModelError(f"{path}: architecture {spec['arch']!r} is not one of {archs()}")
    return spec


def load(folder: str) -> str:
    """Register the records of the user's model folder `folder` (its model.json) with the zoo
    -> the model's name. Loading a folder again replaces its records."""
    folder = os.path.abspath(folder)
    spec = read_spec(folder)
    _check_names(spec["model"], spec["dataset"])
    return _register(spec, folder).name


def resolve(model: str, models_dir: str | None = None) -> str:
    """A model name as the readers take it: a folder holding model.json is loaded (-> its
    model's name); a registered name stays; a name whose folder <models_dir>/<name> holds
    model.json is loaded."""
    if os.path.isdir(model) and os.path.isfile(os.path.join(model, FILE)):
        return load(model)
    if registry.is_model(model) or models_dir is None:
        return model
    folder = os.path.join(models_dir, model)
    return load(folder) if os.path.isfile(os.path.join(folder, FILE)) else model


def _splits(data: str, notes: list) -> dict:
    sizes, listed = {}, []
    for split in userdata.SPLITS:
        ids, from_file = userdata.split_ids(data, split)
        sizes[split] = len(ids)
        listed.append(from_file)
    if not all(listed):
        absent = [f"{s}.txt" for s, ok in zip(userdata.SPLITS, listed) if not ok]
        notes.append(
            f"no {' or '.join(absent)} in {data}: that split reads every pair ({sizes['val']} "
            "images), so the scores are not on held-out images; write a held-out split with "
            f"python -m layers.folder split {data}"
        )
    return sizes


def _mean(data: str, notes: list) -> tuple:
    mean = userdata.mean(data)
    if mean is None:
        notes.append(
            f"no {userdata.MEAN} in {data}: the pictures are centred with the ILSVRC "
            f"classifiers' mean (B G R {' '.join(map(str, DEFAULT_MEAN))}); compute your "
            f"dataset's with python -m layers.folder mean {data} before make-custom"
        )
        return DEFAULT_MEAN
    return tuple(round(v, 5) for v in mean)


def spec_for(data: str, arch: str, model: str, dataset: str, void: int,
             folder: str) -> tuple[dict, list]:  # fmt: skip
    """(model.json's dict, notes for the user) of a model folder `folder` for the dataset at
    `data`: class names, mean and split sizes read from the dataset folder."""
    classes = userdata.classes(data)
    if not (len(classes) <= void <= 255):
        raise CustomModelError(
            f"--void-label {void}: the ignore label must lie in {len(classes)}..255, above the "
            f"class values 0..{len(classes) - 1} of {os.path.join(data, userdata.CLASSES)}"
        )
    notes: list = []
    spec = {
        "format": FORMAT, "model": model, "arch": arch, "dataset": dataset,
        "data": _relative(data, folder), "classes": list(classes), "mean": list(_mean(data, notes)),
        "void_label": void, "splits": _splits(data, notes),
    }  # fmt: skip
    return spec, notes


def _relative(path: str, folder: str) -> str:
    try:
        return os.path.relpath(path, folder)
    except ValueError:  # another drive
        return os.path.abspath(path)


def _check_out(folder: str, spec: dict) -> None:
    """A folder that holds anything but an earlier make-custom of this same model is kept."""
    if not os.path.exists(folder):
        return
    if not os.path.isdir(folder):
        raise CustomModelError(f"--out {folder}: a file is in the way; choose another --out")
    if not os.path.isfile(os.path.join(folder, FILE)):
        if os.listdir(folder):
            raise CustomModelError(
                f"--out {folder}: the folder holds files not made by make-custom; choose "
                "another (new or empty) --out"
            )
        return
    old = read_spec(folder)
    if (old["arch"], old["dataset"]) != (spec["arch"], spec["dataset"]):
        raise CustomModelError(
            f"--out {folder} holds {old['model']} made from {old['arch']} on dataset "
            f"'{old['dataset']}' (its runs and weights stay there); choose another --out"
        )


def make(data: str, arch: str, out: str | None = None, name: str | None = None,
         void_label: int = userdata.VOID,
         models_dir: str = "models") -> tuple[str, ModelRecord, list]:  # fmt: skip
    """Write a model folder for the dataset at `data` with the zoo architecture `arch` ->
    (folder, its ModelRecord, notes for the user).

    out: the folder (default <models_dir>/<dataset>-<arch suffix>; its name is the model's);
    name: the dataset's name (default the data folder's name); void_label: the value of the
    ignore pixels in the label PNGs (served to the nets as 255). The folder may be new, empty
    or an earlier make-custom of the same architecture and dataset (its model.json, nets and
    scripts are rewritten; runs, snapshots and weights are never touched).
    """
    if arch not in archs():
        raise CustomModelError(f"--arch {arch!r}: use one of {', '.join(archs())}")
    data = os.path.abspath(data)
    if not os.path.isdir(data):
        raise CustomModelError(f"--data {data}: no such folder")
    dataset = name or os.path.basename(data)
    folder = os.path.abspath(out or os.path.join(models_dir, default_model(dataset, arch)))
    model = os.path.basename(folder)
    _check_names(model, dataset)
    spec, notes = spec_for(data, arch, model, dataset, void_label, folder)
    _check_out(folder, spec)
    rec = _register(spec, folder)
    os.makedirs(folder, exist_ok=True)
    text = json.dumps(spec, indent=1) + "\n"
    caffeio.atomic_write(os.path.join(folder, FILE), text.encode("utf-8"))
    netfiles.write(model, folder, data_root=spec["data"])
    root = scripts.custom_root(folder, REPOSITORY)
    for file, body in (("solve.py", scripts.custom_solve_py(model, arch, root)),
                       ("score.py", scripts.custom_score_py(model, root))):  # fmt: skip
        caffeio.atomic_write(os.path.join(folder, file), body.encode("utf-8"))
    return folder, rec, notes
