"""One validation of a Caffe net before anything runs it (no torch, no Caffe).

    from netspec import validate
    validate.check_file("deploy.prototxt", phase=1)     # -> the layers' shapes, or NetCheckError
    validate.check_net(net_param, phase=1, where="x.prototxt", import_python=True)
    validate.net_bytes(rows, phase=0)                   # what Caffe would allocate, and the biggest

Real Caffe stops the process (a glog CHECK: SIGABRT) on most of what is wrong with a net, and
computes some of the rest silently wrong. `python -m netspec shapes` and the pycaffe path
(engine.pycaffe_checks, before caffe.Net sees the file) run this first; torchcaffe refuses the
same nets with its own checks (tests/test_reliability_verdicts.py compares the three on a corpus).
Errors are NetCheckError naming the file, line and layer and what to change. In Caffe's order:

- the layers of the phase's net (caffeio.netstate: include/exclude rules), when a phase is given;
  without one every layer counts and names/tops may repeat only across disjoint phases;
- per layer: a unique name, a type Caffe registers (or the build's `layer_types`), bottom and
  top counts (caffeio.layertypes.counts; loss layers may name no top), one loss_weight per top
  (or none), one propagate_down per bottom (or none), no more param specs than blobs, bottoms
  made above, tops written once (in place only as top i = bottom i, as Caffe allows);
- per type, the parameters: window geometry (kernel, stride, dilation >= 1; pad < kernel for
  pooling; ...), num_output >= 1 and within Caffe's int, group >= 1 dividing it, an odd LRN
  local_size, dropout_ratio in [0, 1), Eltwise coefficients, Python modules that import and
  hold their class (import_python);
- the shapes (netspec.shapes: every rule it has, unknown shapes tolerated): sizes >= 1, a crop
  inside its bottom, joined blobs that agree, axes in range, label counts; every blob's and
  parameter's count within Caffe's int (2^31 - 1).
"""

from __future__ import annotations

import importlib
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import caffeio
from caffeio import layertypes as lt
from caffeio.netstate import included
from caffeio.text import layer_lines

from . import shapes
from .errors import ShapeError

if TYPE_CHECKING:
    from caffeio import caffe_pb2

INT_MAX = 2**31 - 1


class NetCheckError(ShapeError):
    """A net Caffe would refuse (by aborting) or compute wrong: the message names the file,
    line and layer, and what to change."""


class _Where:
    """The file:line prefix of each layer's messages."""

    def __init__(self, where: str | None, path: str | None):
        self.where = where or path or "net"
        self.lines = layer_lines(path) if path else {}

    def __call__(self, layer) -> str:
        line = self.lines.get(layer.name)
        head = f"{self.where}:{line}" if line else self.where
        return f"{head}: layer '{layer.name}' ({layer.type})"


def check_file(
    path: str, phase: int | None = None, layer_types: Iterable[str] | None = None, **kw: Any
) -> caffe_pb2.NetParameter:
    """caffeio.read_net(path) (errors name file and line) and check_net -> the NetParameter."""
    net = caffeio.read_net(path)
    check_net(net, phase, where=path, path=path, layer_types=layer_types, **kw)
    return net


def check_net(
    net: caffe_pb2.NetParameter,
    phase: int | None = None,
    where: str | None = None,
    path: str | None = None,
    layer_types: Iterable[str] | None = None,
    input_shapes: Mapping[str, Sequence[int]] | None = None,
    image_size: tuple[int, int] | None = None,
    import_python: bool = False,
    level: int = 0,
    stages: Iterable[str] = (),
) -> list[shapes.LayerShapes]:
    """Check a NetParameter (upgraded: layer, not V1 layers) as described in the module
    docstring -> list of netspec.shapes.LayerShapes (None for shapes that cannot be told).

    phase: 0 TRAIN / 1 TEST keeps that net's layers (with level and stages); None keeps all.
    where/path: names the net in messages (path also gives line numbers). layer_types: the
    types this Caffe build registers (pycaffe's caffe.layer_type_list()); default every type
    BVLC Caffe master registers. input_shapes/image_size: as netspec.shapes.infer.
    import_python: import each Python layer's module and look its class up (the pycaffe path).
    """
    loc = _Where(where, path)
    layers = [
        layer for layer in net.layer if phase is None or included(layer, phase, level, stages or ())
    ]
    known = set(layer_types) if layer_types is not None else set(lt.TYPES)
    _check_wiring(layers, known, loc, phase)
    for layer in layers:
        _check_params(layer, loc, import_python)
    kept = type(net)()
    kept.CopyFrom(net)
    del kept.layer[:]
    kept.layer.extend(layers)
    try:
        rows = shapes.infer_layers(kept, input_shapes, image_size, unknown_ok=True, locate=loc)
    except NetCheckError:
        raise
    except (ShapeError, lt.LayerTypeError) as e:
        raise NetCheckError(str(e)) from None
    for row in rows:
        _check_counts(row, loc)
    return rows


# ----------------------------------------------------------------------------- wiring
def _overlap(a, b, phase):
    """Whether layers a and b are in one net (always, once filtered by a phase)."""
    return phase is not None or bool(shapes.phases(a) & shapes.phases(b))


def _check_wiring(layers, known, loc, phase):
    names, producers = {}, {}
    for layer in layers:
        earlier = names.get(layer.name)
        if earlier is not None and _overlap(earlier, layer, phase):
            raise NetCheckError(
                f"{loc(layer)}: the name is used by an earlier layer too: give each layer its "
                "own name (weights are matched to layers by name)"
            )
        names[layer.name] = layer
        _check_type(layer, known, loc)
        _check_layer_counts(layer, loc)
        for j, b in enumerate(layer.bottom):
            if b not in producers:
                raise NetCheckError(
                    f"{loc(layer)}: bottom {j} '{b}' is produced by no layer above it (check "
                    "the spelling, the layer order and the include/exclude phase rules)"
                )
        for j, t in enumerate(layer.top):
            other = producers.get(t)
            in_place = j < len(layer.bottom) and layer.bottom[j] == t
            if other is not None and not in_place and _overlap(other, layer, phase):
                raise NetCheckError(
                    f"{loc(layer)}: top '{t}' is already written by layer '{other.name}' (in "
                    "place only as top i = bottom i): give one of them another top name"
                )
            producers[t] = layer


def _check_type(layer, known, loc):
    if layer.type in known:
        return
    if layer.type in lt.TYPES:
        why = "this Caffe build does not register it (built without it?)"
    else:
        why = "Caffe has no such layer type (check the spelling: types are case-sensitive)"
    raise NetCheckError(f"{loc(layer)}: unknown type '{layer.type}': {why}")


def _span(n, lo, hi):
    return f"{lo}" if lo == hi else f"{lo} or more" if hi is None else f"{lo} to {hi}"


def _check_layer_counts(layer, loc):
    (blo, bhi), (tlo, thi) = lt.counts(layer)
    nb, nt = len(layer.bottom), len(layer.top)
    row = lt.TYPES[layer.type]
    auto_top = row.role == lt.LOSS and nt == 0  # Caffe adds a loss layer's top itself
    if not (blo <= nb and (bhi is None or nb <= bhi)):
        raise NetCheckError(f"{loc(layer)}: takes {_span(nb, blo, bhi)} bottoms, has {nb}")
    if not auto_top and not (tlo <= nt and (thi is None or nt <= thi)):
        extra = " (one top per bottom)" if layer.type in ("Convolution", "Deconvolution") else ""
        raise NetCheckError(f"{loc(layer)}: makes {_span(nt, tlo, thi)} tops{extra}, has {nt}")
    n_weights = len(layer.loss_weight)
    if n_weights not in (0, max(nt, int(auto_top))):
        raise NetCheckError(
            f"{loc(layer)}: {n_weights} loss_weight values for {nt} top(s): give none or one "
            "per top"
        )
    if any(not math.isfinite(w) for w in layer.loss_weight):
        raise NetCheckError(f"{loc(layer)}: loss_weight {list(layer.loss_weight)} is not finite")
    if len(layer.propagate_down) not in (0, nb):
        raise NetCheckError(
            f"{loc(layer)}: {len(layer.propagate_down)} propagate_down values for {nb} "
            "bottom(s): give none or one per bottom"
        )
    blobs = lt.blob_names(layer)
    if layer.type != "Python" and len(layer.param) > len(blobs):
        raise NetCheckError(
            f"{loc(layer)}: {len(layer.param)} param {{ }} specs but the layer has "
            f"{len(blobs)} blob(s){' (' + ', '.join(blobs) + ')' if blobs else ''}: remove the "
            "extra ones"
        )


# ----------------------------------------------------------------------------- parameters
def _int_count(loc, layer, what, value):
    if not 1 <= value <= INT_MAX:
        raise NetCheckError(
            f"{loc(layer)}: {what} {value} must be 1 to {INT_MAX} (Caffe holds it in an int)"
        )


def _conv_params(layer, loc):
    cp = layer.convolution_param
    if layer.type != "Im2col":
        if not cp.HasField("num_output"):
            raise NetCheckError(f"{loc(layer)}: convolution_param.num_output is not set")
        _int_count(loc, layer, "num_output", cp.num_output)
        _int_count(loc, layer, "group", cp.group)
        if cp.num_output % cp.group:
            raise NetCheckError(
                f"{loc(layer)}: group {cp.group} does not divide num_output {cp.num_output}"
            )
    lt.conv_geometry(layer, where=loc(layer), error=NetCheckError)


def _pool_params(layer, loc):
    lt.pool_geometry(layer, where=loc(layer), error=NetCheckError)


def _lrn_params(layer, loc):
    size = layer.lrn_param.local_size
    if size < 1 or size % 2 == 0:
        raise NetCheckError(
            f"{loc(layer)}: lrn_param.local_size {size} must be odd and >= 1 (a window "
            "centred on each channel or pixel)"
        )


def _dropout_params(layer, loc):
    r = layer.dropout_param.dropout_ratio
    if not 0 <= r < 1:
        raise NetCheckError(
            f"{loc(layer)}: dropout_ratio {r} must be in [0, 1) (Caffe scales kept values by "
            "1 / (1 - ratio))"
        )


def _output_count(field):
    def check(layer, loc):
        p = getattr(layer, field)
        _int_count(loc, layer, f"{field}.num_output", p.num_output)
        if field == "embed_param":
            _int_count(loc, layer, "embed_param.input_dim", p.input_dim)

    return check


def _eltwise_params(layer, loc):
    p = layer.eltwise_param
    if len(p.coeff) and len(p.coeff) != len(layer.bottom):
        raise NetCheckError(
            f"{loc(layer)}: {len(p.coeff)} coeff values for {len(layer.bottom)} bottoms: give "
            "none or one per bottom"
        )
    if len(p.coeff) and p.operation != p.SUM:
        raise NetCheckError(f"{loc(layer)}: coeff applies to operation SUM only")


def _tile_params(layer, loc):
    _int_count(loc, layer, "tile_param.tiles", layer.tile_param.tiles)


def _python_params(layer, loc, import_python):
    p = layer.python_param
    if not p.module or not p.layer:
        raise NetCheckError(f"{loc(layer)}: python_param needs both module and layer")
    if not import_python:
        return
    try:
        module = importlib.import_module(p.module)
    except Exception as e:  # noqa: BLE001 - whatever the module raises while it is imported
        raise NetCheckError(
            f"{loc(layer)}: cannot import python_param.module '{p.module}' "
            f"({type(e).__name__}: {e}); put the folder holding it on PYTHONPATH (working "
            f"directory {os.getcwd()})"
        ) from None
    if not hasattr(module, p.layer):
        raise NetCheckError(
            f"{loc(layer)}: module '{p.module}' ({getattr(module, '__file__', '?')}) has no "
            f"class '{p.layer}' (python_param.layer)"
        )


_PARAM_RULES = {
    "Convolution": _conv_params,
    "Deconvolution": _conv_params,
    "Im2col": _conv_params,
    "Pooling": _pool_params,
    "LRN": _lrn_params,
    "Dropout": _dropout_params,
    "InnerProduct": _output_count("inner_product_param"),
    "Embed": _output_count("embed_param"),
    "RNN": _output_count("recurrent_param"),
    "LSTM": _output_count("recurrent_param"),
    "Eltwise": _eltwise_params,
    "Tile": _tile_params,
}


def _check_params(layer, loc, import_python):
    if layer.type == "Python":
        _python_params(layer, loc, import_python)
        return
    rule = _PARAM_RULES.get(layer.type)
    if rule is not None:
        rule(layer, loc)


# ----------------------------------------------------------------------------- counts
def _check_counts(row, loc):
    """Every top and parameter blob within Caffe's int count (Blob::Reshape's CHECK)."""
    for top, shape in zip(row.layer.top, row.tops):
        _fits_int(shape, f"{loc(row.layer)}: top '{top}'")
    if any(b is None for b in row.bottoms) or not lt.blob_names(row.layer):
        return
    try:
        params = lt.param_shapes(row.layer, row.bottoms)
    except (lt.LayerTypeError, IndexError, ZeroDivisionError) as e:
        raise NetCheckError(f"{loc(row.layer)}: {e}") from None
    for k, shape in enumerate(params):
        _fits_int(shape, f"{loc(row.layer)}: parameter blob {k}")


def _fits_int(shape, what):
    if shape is None:
        return
    if any(d > INT_MAX for d in shape) or math.prod(shape) > INT_MAX:
        raise NetCheckError(
            f"{what} would be {'x'.join(map(str, shape))} = {math.prod(shape):,} values, more "
            f"than Caffe's blobs hold ({INT_MAX:,}): use a smaller input or fewer outputs"
        )


# ----------------------------------------------------------------------------- memory
def net_bytes(rows: Iterable[shapes.LayerShapes], phase: int = 1) -> tuple[int, str]:
    """Bytes real Caffe allocates for a net (float32): every top and parameter blob, the
    im2col buffer of each convolution that is not 1x1/stride 1/pad 0, and at TRAIN (phase 0)
    the diffs of all of them -> (total, the biggest single item as 'layer 'x': ...')."""
    total, big, what = 0, 0, ""
    for row in rows:
        tops = zip(row.layer.top, row.tops)  # an in-place top is its bottom's memory
        items = [(f"top '{t}' {s}", s) for t, s in tops if s and t not in row.layer.bottom]
        if all(b is not None for b in row.bottoms) and lt.blob_names(row.layer):
            try:
                items += [(f"parameter {s}", s) for s in lt.param_shapes(row.layer, row.bottoms)]
            except (lt.LayerTypeError, IndexError, ZeroDivisionError):
                pass
        col = _col_buffer(row)
        if col:
            items.append((f"im2col buffer {col}", col))
        for name, shape in items:
            n = 4 * math.prod(shape) * (2 if phase == 0 else 1)
            total += n
            if n > big:
                big, what = n, f"layer '{row.layer.name}' {name}"
    return total, what


def _col_buffer(row):
    layer = row.layer
    if layer.type not in ("Convolution", "Deconvolution") or not row.tops or not row.bottoms:
        return None
    b, t = row.bottoms[0], row.tops[0]
    if b is None or t is None or len(b) != 4:
        return None
    geo = lt.conv_geometry(layer)
    if all(w.kernel == 1 and w.stride == 1 and w.pad == 0 for w in geo):
        return None  # Caffe skips im2col for 1x1 convolutions
    conv_in, out = (b, t) if layer.type == "Convolution" else (t, b)
    k = math.prod(w.kernel for w in geo)
    return (conv_in[1] * k, out[2] * out[3])
