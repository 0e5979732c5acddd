"""Check a caffemodel against the net it is about to be loaded into, before any engine copies it.

    missing = check_weights(net_param, "x.caffemodel")   # raises CaffeFormatError, or returns
                                                        # the learnable layers it does not cover

Both engines call it: torchcaffe's Net.copy_from (with the exact parameter shapes of the built
net) and the pycaffe path before handing the file to Caffe (whose own checks abort the process).
Layers are matched by name, as Caffe's CopyTrainedLayersFrom does; source layers the net lacks
are ignored. Three things are checked:

- every value of every blob the net will take is finite (NaN/inf weights give a net that
  answers "background" everywhere); allow_nonfinite=True or CAFFEIO_ALLOW_NONFINITE=1 lets
  them through;
- blob counts and shapes fit the net's learnable layers: exactly when `shapes` gives them,
  otherwise what the prototxt alone tells (num_output, kernel size, bias_term, blob counts);
- which learnable layers of the net get no weights from the file (returned, in net order).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, TextIO

import numpy as np

from .binary import read_net_binary
from .blobs import blob_shape, blob_to_array, shapes_match
from .errors import CaffeFormatError
from .layertypes import ANY, Each, blob_names, declared_param_shapes
from .upgrade import needs_upgrade, upgrade_net

if TYPE_CHECKING:
    from . import caffe_pb2

ENV_ALLOW_NONFINITE = "CAFFEIO_ALLOW_NONFINITE"


def allow_nonfinite_from_env() -> bool:
    """True when CAFFEIO_ALLOW_NONFINITE is set to 1/true/yes (case-insensitive)."""
    return os.environ.get(ENV_ALLOW_NONFINITE, "").strip().lower() in ("1", "true", "yes")


def prototxt_param_shapes(layer: caffe_pb2.LayerParameter) -> list | None:
    """What a LayerParameter alone says about its parameter blobs -> list of partial shapes:
    tuples of ints, None (unknown, e.g. input channels) and Each(k), or "any"; None when the
    layer has no parameters or is of a type not known here (e.g. Python). The rules are
    caffeio.layertypes.declared_param_shapes."""
    return declared_param_shapes(layer)


def _same(want, stored):
    return all(w is None or w == s for w, s in zip(want, stored))


def _fits(stored, want):
    """True when a stored shape agrees with a partial shape (see prototxt_param_shapes);
    legacy 4-D shapes are right-aligned (leading 1s ignored)."""
    if want == ANY:
        return True
    stored = list(stored)
    if want and isinstance(want[-1], Each):
        head, k = want[:-1], want[-1].k
        spatial = stored[len(head) :]
        return bool(spatial) and _same(head, stored) and all(s == k for s in spatial)
    while len(stored) > len(want) and stored[0] == 1:
        stored.pop(0)
    while len(stored) < len(want):
        stored.insert(0, 1)
    return len(stored) == len(want) and _same(want, stored)


def _fmt(shape):
    if shape == ANY:
        return "any shape"
    dims = []
    for d in shape:
        dims.append("?" if d is None else f"{d.k} per spatial axis" if isinstance(d, Each) else d)
    return "(" + ", ".join(str(d) for d in dims) + ")"


def _phase_ok(layer, phase):
    if phase is None:
        return True
    if len(layer.include):
        return any(not r.HasField("phase") or r.phase == phase for r in layer.include)
    return not any(
        r.HasField("phase") and r.phase == phase and not r.stage and not r.not_stage
        for r in layer.exclude
    )


def _nonfinite(arr, where, layer, k, what):
    bad = ~np.isfinite(arr)
    if not bad.any():
        return
    n_nan = int(np.isnan(arr).sum())
    first = tuple(int(i) for i in np.argwhere(bad)[0])
    raise CaffeFormatError(
        f"{where}: layer '{layer}' blob {k} ({what}, shape {arr.shape}) holds {n_nan} NaN and "
        f"{int(bad.sum()) - n_nan} inf values of {arr.size}, the first at index {first}: the "
        "weights are corrupt or come from a diverged run. Use an earlier snapshot; to load them "
        f"anyway pass allow_nonfinite=True (or set {ENV_ALLOW_NONFINITE}=1)"
    )


def check_weights(
    net: caffe_pb2.NetParameter | str | os.PathLike[str],
    weights: caffe_pb2.NetParameter | str | os.PathLike[str],
    allow_nonfinite: bool | None = None,
    shapes: Mapping[str, Sequence[tuple[int, ...]]] | None = None,
    phase: int | None = None,
    source: str | None = None,
) -> list[str]:
    """Check `weights` against `net` before loading -> names of the net's learnable layers
    that get no weights from the file (in net order; they keep their fillers).

    net: caffe_pb2.NetParameter (V1 forms are upgraded here) or a prototxt path.
    weights: a caffemodel path, or a NetParameter with blobs (as caffeio.read_caffemodel
        gives; `source` then names it in messages).
    allow_nonfinite: None reads CAFFEIO_ALLOW_NONFINITE; False refuses NaN/inf values.
    shapes: optional {layer name: [exact shape tuple per parameter blob]} (torchcaffe's built
        blobs, netspec.shapes.param_shapes); other layers are checked against what their
        prototxt definition says (see prototxt_param_shapes).
    phase: 0 (TRAIN) or 1 (TEST) skips layers whose include/exclude phase rules drop them.
    Raises CaffeFormatError naming the file, layer, blob, both shapes and what to do.
    """
    if isinstance(net, (str, os.PathLike)):
        from . import read_net

        net = read_net(os.fspath(net))
    if isinstance(weights, (str, os.PathLike)):
        source = os.fspath(weights)
        weights = read_net_binary(source)
    where = source or f"<weights {weights.name!r}>"
    net = upgrade_net(net, "net") if needs_upgrade(net) else net  # V1 `layers`, `input`
    weights = upgrade_net(weights, where) if needs_upgrade(weights) else weights
    if allow_nonfinite is None:
        allow_nonfinite = allow_nonfinite_from_env()
    shapes = shapes or {}
    src = {}  # name -> every source layer of that name (Caffe copies each of them in turn)
    for sl in weights.layer:
        src.setdefault(sl.name, []).append(sl)
    warn_duplicates(weights, [layer.name for layer in net.layer], where)
    missing = []
    for layer in net.layer:
        if not _phase_ok(layer, phase):
            continue
        want = shapes.get(layer.name)
        if want is None:
            want = prototxt_param_shapes(layer)
        if not want:
            continue
        if layer.name not in src:
            missing.append(layer.name)
            continue
        for sl in src[layer.name]:
            _check_layer(layer, sl, want, layer.name in shapes, allow_nonfinite, where)
    return missing


def warn_duplicates(
    weights: caffe_pb2.NetParameter,
    names: Iterable[str],
    where: str,
    stream: TextIO | None = None,
) -> list[str]:
    """Warn (on stderr) about layers that caffemodel `weights` holds more than once and the
    net (layer `names`) takes -> those names. Caffe's CopyTrainedLayersFrom copies every source
    layer in turn into the net's layer of that name, so the last copy wins; both engines do
    the same, and refuse a copy that does not fit (Caffe would abort on it)."""
    wanted = set(names)
    copies = {}
    for sl in weights.layer:
        if sl.name in wanted and len(sl.blobs):
            copies.setdefault(sl.name, []).append(sl)
    out = [name for name, layers in copies.items() if len(layers) > 1]
    for name in out:
        layers = copies[name]
        same = all(sl.blobs == layers[0].blobs for sl in layers[1:])
        how = "identical copies" if same else "copies that differ"
        print(
            f"{where}: warning: duplicate layer '{name}': the file holds {len(layers)} {how}; "
            "as Caffe does, each is loaded in turn and the last one is used (write the "
            "caffemodel again from the net to keep one)",
            file=stream or sys.stderr,
        )
    return out


def _check_layer(layer, sl, want, exact, allow_nonfinite, where):
    """One source layer `sl` against the net's `layer` (expected shapes `want`)."""
    names = blob_names(layer)
    if len(sl.blobs) != len(want):
        raise CaffeFormatError(
            f"{where}: layer '{layer.name}' holds {len(sl.blobs)} blobs but the net's "
            f"layer '{layer.name}' ({layer.type}) has {len(want)} "
            f"({', '.join(_fmt(w) for w in want)}): the weights "
            "are for another net definition (bias_term? another layer type?). Pass the "
            "caffemodel written for this net, or rename the layer to keep its filler"
        )
    for k, (blob, w) in enumerate(zip(sl.blobs, want)):
        what = names[k] if k < len(names) else "param"
        stored = blob_shape(blob)
        w = tuple(w) if w != ANY else w
        ok = shapes_match(stored, w) if exact else _fits(stored, w)
        if not ok:
            raise CaffeFormatError(
                f"{where}: cannot copy layer '{layer.name}' blob {k} ({what}): shape "
                f"mismatch, source {stored} vs target {_fmt(w)} ({layer.type} in the net): "
                "these weights were trained for another net (other classes or input "
                "channels?). "
                "Pass the caffemodel written for this net, or rename the layer in the "
                "prototxt so it is not loaded and keeps its filler"
            )
        arr = blob_to_array(blob, f"{where}: layer '{layer.name}' blob {k}")
        if not allow_nonfinite:
            _nonfinite(arr, where, layer.name, k, what)
