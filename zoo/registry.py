"""The registry: every dataset, backbone and model record by name.

    register(record, ...)      add DatasetRecord / Backbone / ModelRecord records
    record("voc-fcn8s")        the ModelRecord (NetSpecError naming the known models)
    dataset("voc"), backbone("vgg16") or backbone("vgg16-fcn")
    names(), names(release=True)

The zoo's own records are registered when `zoo` is imported; a test or a user's package can
register more at run time (zoo.register), and every reader (netspec builds, surgery, solvers,
layers) then knows them. A dataset's top kinds are registered with netspec.datatops too, so
shape inference knows its data layers' tops.
"""

from __future__ import annotations

from netspec.datatops import register_top_channels
from netspec.errors import NetSpecError

from .records import Backbone, DatasetRecord, ModelRecord

_DATASETS: dict = {}
_BACKBONE_RECORDS: dict = {}
_MODELS: dict = {}
_TABLES = ((DatasetRecord, _DATASETS, "dataset"), (Backbone, _BACKBONE_RECORDS, "backbone"),
           (ModelRecord, _MODELS, "model"))  # fmt: skip


def register(*records: DatasetRecord | Backbone | ModelRecord, replace: bool = False) -> None:
    """Add records (DatasetRecord, Backbone, ModelRecord); a name already registered is an
    error unless replace=True. A model's dataset and backbone are registered with it."""
    for rec in records:
        if isinstance(rec, ModelRecord):
            for part in (rec.dataset, rec.backbone):
                table = _table(part)
                if table.get(part.name) is not part:
                    register(part, replace=replace)
        table = _table(rec)
        kind = _kind(rec)
        if rec.name in table and table[rec.name] is not rec and not replace:
            raise NetSpecError(
                f"{kind} '{rec.name}' is registered already; pick another name or pass replace=True"
            )
        if isinstance(rec, DatasetRecord):
            register_top_channels(rec.top_channels())
        table[rec.name] = rec


def unregister(name: str) -> None:
    """Remove the model, dataset or backbone called `name` (a test's toy records)."""
    for _, table, _ in _TABLES:
        table.pop(name, None)


def _table(rec):
    for cls, table, _ in _TABLES:
        if isinstance(rec, cls):
            return table
    raise NetSpecError(f"cannot register {type(rec).__name__}: give a DatasetRecord, Backbone or "
                       "ModelRecord")  # fmt: skip


def _kind(rec):
    return next(kind for cls, _, kind in _TABLES if isinstance(rec, cls))


def record(name: str) -> ModelRecord:
    """The ModelRecord called `name`; NetSpecError names the known models."""
    try:
        return _MODELS[name]
    except (KeyError, TypeError):
        raise NetSpecError(f"unknown model '{name}'; known models: {', '.join(_MODELS)}") from None


def is_model(name: object) -> bool:
    """True when a model called `name` is registered."""
    return isinstance(name, str) and name in _MODELS


def dataset(name: str) -> DatasetRecord:
    """The DatasetRecord called `name`; NetSpecError names the known datasets."""
    try:
        return _DATASETS[name]
    except KeyError:
        raise NetSpecError(
            f"unknown dataset '{name}'; known datasets: {', '.join(_DATASETS)}"
        ) from None


def backbone(name: str) -> Backbone:
    """The Backbone called `name` (e.g. 'vgg16') or whose fcnized classifier is called `name`
    ('vgg16-fcn'); NetSpecError names the known ones."""
    for b in _BACKBONE_RECORDS.values():
        if name in (b.name, b.fcnized):
            return b
    known = ", ".join(_BACKBONE_RECORDS)
    raise NetSpecError(f"unknown backbone '{name}'; known backbones: {known}")


def names(release: bool | None = None) -> tuple[str, ...]:
    """Registered model names in registration order (release=True: the FCN release's only;
    False: the others)."""
    return tuple(m for m, r in _MODELS.items() if release is None or r.release == release)


def datasets() -> tuple[DatasetRecord, ...]:
    """Registered DatasetRecords."""
    return tuple(_DATASETS.values())


def backbones() -> tuple[Backbone, ...]:
    """Registered Backbones."""
    return tuple(_BACKBONE_RECORDS.values())
