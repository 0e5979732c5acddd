"""The Python data layer of a net: L.Python keyword arguments from a dataset's DataLayer record.

param_str is str(dict) in the record's key order, read back by the layers with
ast.literal_eval (never eval). `data_root` is written into the paths; the default '../../data'
is relative to models/<model>/, where solve.py runs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from .records import TOPS, DataLayer

DEFAULT_ROOT = "../../data"


def root(data_root: str | None = None) -> str:
    """The data root as written into param_str (default '../../data'; no trailing slash)."""
    return (data_root or DEFAULT_ROOT).rstrip("/") or "/"


def python_layer(
    layer: DataLayer,
    split: str,
    data_root: str | None = None,
    tops: Sequence[str] = (),
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Keyword arguments of L.Python(...) reading `split` through `layer`: module, layer,
    param_str and ntop = len(tops). String values of the record's params are formatted with
    {root} and {split}; the value TOPS becomes list(tops) (the kinds of the layer's tops);
    `extra` keys (a recipe's augmentation) come last."""
    params = {}
    for key, value in layer.params:
        if value == TOPS:
            value = list(tops)
        elif isinstance(value, str):
            value = value.format(root=root(data_root), split=split)
        params[key] = value
    params.update(extra or {})
    return dict(module=layer.module, layer=layer.layer, param_str=str(params), ntop=len(tops))
