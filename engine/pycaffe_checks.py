"""Checks made before handing files to real Caffe, whose own checks abort the process.

BVLC Caffe reports a malformed prototxt, a missing bottom, an unknown layer type, a caffemodel
whose blobs do not fit the net, or a bad solverstate through a glog CHECK: the process dies
(exit 134) with no Python exception. These read the same files with caffeio first and raise
the clear errors torchcaffe raises. Nothing here imports torch.
"""

import math
import os

import numpy as np

import caffeio


class CaffeInputError(ValueError):
    """A file real Caffe would abort on; the message names the file, layer or blob."""


def _included(layer, phase):
    """Whether `layer` is in the net for `phase` (0 TRAIN, 1 TEST), by phase rules only."""
    if layer.HasField("phase") and layer.phase != phase:
        return False
    if len(layer.include):
        return any(not r.HasField("phase") or r.phase == phase for r in layer.include)
    return not any(r.HasField("phase") and r.phase == phase for r in layer.exclude)


def check_net_file(path: str, phase: int, layer_types=None):
    """Parse prototxt `path` (caffeio: errors name file and line) and check that every bottom
    is produced by an earlier layer of the `phase` net and every type is one Caffe knows
    (`layer_types`: caffe.layer_type_list()). Returns the upgraded NetParameter."""
    if not os.path.isfile(path):
        raise CaffeInputError(f"{path}: net prototxt not found")
    net = caffeio.read_net(path)
    blobs = set(net.input)
    known = set(layer_types) if layer_types is not None else None
    for layer in net.layer:
        if not _included(layer, phase):
            continue
        if known is not None and layer.type not in known:
            raise CaffeInputError(
                f"{path}: layer '{layer.name}' has type '{layer.type}', which this Caffe build "
                f"does not know (built without it?); known types include "
                f"{', '.join(sorted(known)[:12])}, ..."
            )
        for b in layer.bottom:
            if b not in blobs:
                raise CaffeInputError(
                    f"{path}: layer '{layer.name}' takes bottom '{b}', which no earlier layer "
                    f"of the {'TRAIN' if phase == 0 else 'TEST'} net produces (check the "
                    "spelling, the layer order, or include/exclude phase rules)"
                )
        blobs.update(layer.top)
    return net


def check_weights_fit(net, path: str, allow_nonfinite=None) -> list[str]:
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


def check_solverstate(path: str, net):
    """Check a .solverstate before Caffe's restore: readable, iteration >= 0, its learned_net
    present (relative to the working directory, as Caffe reads it), history finite and one
    blob per learnable parameter of `net`. Returns the SolverState."""
    if not os.path.isfile(path):
        raise CaffeInputError(f"{path}: solverstate not found")
    state = caffeio.read_solverstate(path)
    if state.iter < 0:
        raise CaffeInputError(f"{path}: iteration {state.iter} is negative: not a real snapshot")
    if not state.learned_net:
        raise CaffeInputError(f"{path}: names no learned_net (the .caffemodel to restore)")
    if not os.path.isfile(state.learned_net):
        raise CaffeInputError(
            f"{path}: its weights {state.learned_net} do not exist (relative to "
            f"{os.getcwd()}): run from the folder the snapshot was written in"
        )
    n_params = sum(len(v) for v in net.params.values())
    if len(state.history) != n_params:
        raise CaffeInputError(
            f"{path}: {len(state.history)} history blobs but the net has {n_params} learnable "
            "parameters: the snapshot belongs to another net"
        )
    for i, h in enumerate(state.history):
        arr = caffeio.blob_to_array(h, f"{path}: history blob {i}")
        if not np.isfinite(arr).all():
            raise CaffeInputError(f"{path}: history blob {i} holds NaN/inf: a diverged run")
    check_weights_fit(net, state.learned_net)
    return state


def finite(x) -> bool:
    """True when float(x) is a finite number."""
    return math.isfinite(float(x))
