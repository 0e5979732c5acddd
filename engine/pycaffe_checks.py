"""Checks made before handing files to real Caffe, whose own checks abort the process.

BVLC Caffe reports a malformed prototxt, a bad layer parameter or shape (kernel 0, an even LRN
size, a crop past its blob, ...), a caffemodel whose blobs do not fit the net, or a bad
solverstate through a glog CHECK: the process dies (exit 134) with no Python exception. These
read the same files with caffeio first and raise the clear errors torchcaffe raises: nets
through netspec.validate (the validation `netspec shapes` runs too) and a memory check
(netspec.hostmem), weights and solverstates here (docs/reliability.md). Nothing here imports
torch.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, SupportsFloat

import numpy as np

import caffeio
from caffeio.statecheck import check_counters
from caffeio.weights_check import warn_duplicates
from netspec import hostmem, validate

from . import python_layer

if TYPE_CHECKING:
    from caffeio import caffe_pb2
    from netspec.shapes import LayerShapes


class CaffeInputError(ValueError):
    """A file real Caffe would abort on; the message names the file, layer or blob."""


def check_net_file(
    path: str, phase: int, layer_types: Iterable[str] | None = None
) -> caffe_pb2.NetParameter:
    """Parse prototxt `path` (caffeio: errors name file and line) and check its `phase` net
    as torchcaffe would (netspec.validate: types this Caffe build knows (`layer_types`:
    caffe.layer_type_list()), counts, wiring, parameters, shapes; Python layers' modules
    imported), then its size against the memory this process may still allocate. Returns the
    upgraded NetParameter."""
    if not os.path.isfile(path):
        raise CaffeInputError(f"{path}: net prototxt not found")
    net = caffeio.read_net(path)
    try:
        rows = validate.check_net(
            net, phase, where=path, path=path, layer_types=layer_types, import_python=True
        )
    except validate.NetCheckError as e:
        raise CaffeInputError(str(e)) from None
    check_net_memory(rows, phase, path)
    python_layer.name_layers(net)
    return net


def check_net_memory(rows: Iterable[LayerShapes], phase: int, path: str) -> None:
    """Refuse a net whose blobs (netspec.validate.net_bytes: tops, parameters, im2col buffers,
    diffs at TRAIN) need more than this process can allocate (netspec.hostmem): Caffe would
    die of std::bad_alloc (SIGABRT) or the OOM killer."""
    need, biggest = validate.net_bytes(rows, phase)
    free, why = hostmem.available()
    if free is not None and need > free:
        raise CaffeInputError(
            f"{path}: the net needs about {hostmem.human(need)} of memory but only "
            f"{hostmem.human(free)} can be allocated (set by {why}); the biggest part is "
            f"{biggest}: use a smaller input (solvers.infer --tile for big images), a smaller "
            "batch or net"
        )


def check_weights_fit(net: Any, path: str, allow_nonfinite: bool | None = None) -> list[str]:
    """Check caffemodel `path` against a constructed pycaffe `net` before `net.copy_from`.

    Caffe matches layers by name and aborts when a matched layer's blob count or a blob's shape
    differs (legacy 4-D shapes right-aligned): the exact shapes come from the built net. Also
    refuses NaN/inf values unless allowed (None: CAFFEIO_ALLOW_NONFINITE, as torchcaffe).
    Returns the names of the net's layers with blobs that the file does not fill.
    """
    if allow_nonfinite is None:
        from caffeio.weights_check import allow_nonfinite_from_env

        allow_nonfinite = allow_nonfinite_from_env()
    if not os.path.isfile(path):
        raise CaffeInputError(f"{path}: caffemodel not found")
    src = caffeio.read_caffemodel(path)
    names = list(net._layer_names)
    warn_duplicates(src, names, path)
    target = {name: net.layers[i].blobs for i, name in enumerate(names)}
    filled = set()
    for layer in src.layer:
        if layer.name not in target:
            continue
        have = target[layer.name]
        if len(layer.blobs) != len(have):
            raise CaffeInputError(
                f"{path}: layer '{layer.name}' holds {len(layer.blobs)} blobs but the net's "
                f"layer has {len(have)} (a different layer type or bias_term?): the weights "
                "belong to another net"
            )
        for i, b in enumerate(layer.blobs):
            want = tuple(have[i].data.shape)
            got = caffeio.blob_shape(b)
            if not caffeio.shapes_match(got, want):
                raise CaffeInputError(
                    f"{path}: layer '{layer.name}' blob {i} has shape {tuple(got)} but the net "
                    f"expects {want}: these weights are for a different net (or width); use "
                    "surgery (python -m surgery ...) to convert them"
                )
            if not allow_nonfinite:
                arr = caffeio.blob_to_array(b, f"{path}: layer '{layer.name}' blob {i}")
                if not np.isfinite(arr).all():
                    bad = int(np.size(arr) - np.isfinite(arr).sum())
                    raise CaffeInputError(
                        f"{path}: layer '{layer.name}' blob {i} holds {bad} NaN/inf values: "
                        "refusing to load diverged weights (pick an earlier snapshot, or set "
                        "CAFFEIO_ALLOW_NONFINITE=1 to load them anyway)"
                    )
        if len(layer.blobs):
            filled.add(layer.name)
    return [n for n in names if len(target[n]) and n not in filled]


def check_solverstate(path: str, net: Any) -> caffe_pb2.SolverState:
    """Check a .solverstate before Caffe's restore: readable, iteration and current_step
    countable (caffeio.statecheck), its learned_net present (relative to the working
    directory, as Caffe reads it) and fitting `net`, history finite with one blob per learnable
    parameter of `net` (two for AdaDelta/Adam) of that parameter's shape. Returns the state."""
    if not os.path.isfile(path):
        raise CaffeInputError(f"{path}: solverstate not found")
    state = caffeio.read_solverstate(path)
    check_counters(state, path)
    if not os.path.isfile(state.learned_net):
        raise CaffeInputError(
            f"{path}: its weights {state.learned_net} do not exist (relative to "
            f"{os.getcwd()}): run from the folder the snapshot was written in"
        )
    shapes = [tuple(b.data.shape) for blobs in net.params.values() for b in blobs]
    n = len(shapes)
    if len(state.history) not in (n, 2 * n) or (n == 0 and len(state.history)):
        raise CaffeInputError(
            f"{path}: {len(state.history)} history blobs but the net has {n} learnable "
            "parameters (one history blob each, two for AdaDelta/Adam): the snapshot belongs "
            "to another net or solver type"
        )
    for i, h in enumerate(state.history):
        got, want = caffeio.blob_shape(h), shapes[i % n]
        if not caffeio.shapes_match(got, want):
            raise CaffeInputError(
                f"{path}: history blob {i} has shape {tuple(got)} but the net's parameter "
                f"has {want}: the snapshot belongs to another net (or width)"
            )
        arr = caffeio.blob_to_array(h, f"{path}: history blob {i}")
        if not np.isfinite(arr).all():
            raise CaffeInputError(f"{path}: history blob {i} holds NaN/inf: a diverged run")
    check_weights_fit(net, state.learned_net)
    return state


def finite(x: SupportsFloat) -> bool:
    """True when float(x) is a finite number."""
    return math.isfinite(float(x))
