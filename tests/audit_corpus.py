# ruff: noqa: E501 - the seed nets keep one layer per line, so that each edit below reads as one
"""The reliability audit's corpus: known-bad nets, caffemodels, solverstates and images, and
seeded random net mutations (scripts/reliability_audit.py runs them; tests use them too).

Everything here is torch-free and Caffe-free (caffeio, netspec and numpy only), so the corpus
can be written by a process that runs neither engine.

    write_seeds(folder)              # the seed nets (+ weights, Python layer modules) -> paths
    for case in BAD_NETS: case.text()                 # 80 prototxts every engine must refuse
    bad_solverstates(state) / bad_caffemodels(model) / bad_images()
    random_nets(rng, n)              # seeded field and text mutations of the seeds

Each known-bad case names the rule it breaks; the seeds themselves are valid nets (controls).
"""

from __future__ import annotations

import math
import random
import re
import struct
import zlib
from dataclasses import dataclass

import numpy as np

import caffeio
from caffeio import caffe_pb2

INT_MAX = 2**31 - 1

SEEDS = {
    # FCN-like: convolution, LRN, pooling, dropout, deconvolution, crop back to the input
    "fcn": """name: "fcn"
layer { name: "data" type: "Input" top: "data" input_param { shape { dim: 1 dim: 3 dim: 16 dim: 16 } } }
layer { name: "conv1" type: "Convolution" bottom: "data" top: "conv1" convolution_param { num_output: 4 kernel_size: 3 pad: 1 } }
layer { name: "relu1" type: "ReLU" bottom: "conv1" top: "conv1" }
layer { name: "norm1" type: "LRN" bottom: "conv1" top: "norm1" lrn_param { local_size: 3 alpha: 0.0001 beta: 0.75 } }
layer { name: "pool1" type: "Pooling" bottom: "norm1" top: "pool1" pooling_param { pool: MAX kernel_size: 2 stride: 2 } }
layer { name: "drop1" type: "Dropout" bottom: "pool1" top: "pool1" dropout_param { dropout_ratio: 0.5 } }
layer { name: "score" type: "Convolution" bottom: "pool1" top: "score" convolution_param { num_output: 3 kernel_size: 1 } }
layer { name: "up" type: "Deconvolution" bottom: "score" top: "up" param { lr_mult: 0 } convolution_param { num_output: 3 group: 3 kernel_size: 4 stride: 2 bias_term: false } }
layer { name: "crop" type: "Crop" bottom: "up" bottom: "data" top: "crop" crop_param { axis: 2 offset: 1 } }
""",
    # joins: BatchNorm + Scale, Eltwise, Concat, padded AVE pooling, InnerProduct, Softmax
    "join": """name: "join"
layer { name: "data" type: "Input" top: "data" input_param { shape { dim: 2 dim: 3 dim: 6 dim: 6 } } }
layer { name: "bn" type: "BatchNorm" bottom: "data" top: "bn" }
layer { name: "sc" type: "Scale" bottom: "bn" top: "sc" scale_param { bias_term: true } }
layer { name: "a" type: "Convolution" bottom: "sc" top: "a" convolution_param { num_output: 2 kernel_size: 3 pad: 1 } }
layer { name: "b" type: "Convolution" bottom: "sc" top: "b" convolution_param { num_output: 2 kernel_size: 1 } }
layer { name: "sum" type: "Eltwise" bottom: "a" bottom: "b" top: "sum" }
layer { name: "cat" type: "Concat" bottom: "a" bottom: "sum" top: "cat" }
layer { name: "pool" type: "Pooling" bottom: "cat" top: "pool" pooling_param { pool: AVE kernel_size: 3 stride: 2 pad: 1 } }
layer { name: "fc" type: "InnerProduct" bottom: "pool" top: "fc" inner_product_param { num_output: 5 } }
layer { name: "prob" type: "Softmax" bottom: "fc" top: "prob" }
""",
    # a loss net: scores, labels, SoftmaxWithLoss, Accuracy
    "loss": """name: "loss"
layer { name: "data" type: "Input" top: "data" top: "label" input_param { shape { dim: 2 dim: 3 dim: 8 dim: 8 } shape { dim: 2 dim: 1 dim: 8 dim: 8 } } }
layer { name: "score" type: "Convolution" bottom: "data" top: "score" convolution_param { num_output: 4 kernel_size: 3 pad: 1 } }
layer { name: "loss" type: "SoftmaxWithLoss" bottom: "score" bottom: "label" top: "loss" loss_param { ignore_label: 255 } }
layer { name: "acc" type: "Accuracy" bottom: "score" bottom: "label" top: "acc" }
""",
    # a Python data layer (module auditlayers, written beside the nets)
    "python": """name: "python"
layer { name: "src" type: "Python" top: "data" python_param { module: "auditlayers" layer: "Source" param_str: "{'mean': 1.5}" } }
layer { name: "conv" type: "Convolution" bottom: "data" top: "conv" convolution_param { num_output: 2 kernel_size: 3 } }
""",
}

# Python layer modules the "python" seed and its variants import (PortableLayer: either engine).
PY_MODULES = {
    "auditlayers": '''"""Python layers of the reliability audit's nets."""

import numpy as np

from engine import PortableLayer
from layers.params import parse_param_str


class Source(PortableLayer):
    """A 1 x 3 x 8 x 8 top of -mean (param_str {'mean': m})."""

    def setup(self, bottom, top):
        self.mean = parse_param_str(self.param_str, "Source", optional={"mean": 0.0})["mean"]

    def reshape(self, bottom, top):
        top[0].reshape(1, 3, 8, 8)

    def forward(self, bottom, top):
        top[0].data[...] = -np.float32(self.mean)

    def backward(self, top, propagate_down, bottom):
        pass


class FailSetup(Source):
    def setup(self, bottom, top):
        raise ValueError("the audit's layer refuses to set up")


class FailReshape(Source):
    def reshape(self, bottom, top):
        raise KeyError("reshape")


class FailForward(Source):
    def forward(self, bottom, top):
        raise RuntimeError("the audit's layer fails in forward")
''',
    "auditbroken": '''"""A module that fails while it is imported."""

raise RuntimeError("auditbroken cannot be imported")
''',
}


@dataclass(frozen=True)
class BadNet:
    """A seed net with one edit that breaks one of Caffe's rules (`why`)."""

    name: str
    seed: str
    old: str
    new: str
    why: str

    def text(self) -> str:
        base = SEEDS[self.seed]
        if self.old not in base:
            raise AssertionError(f"{self.name}: {self.old!r} is not in seed {self.seed}")
        return base.replace(self.old, self.new, 1)


def _b(name, seed, old, new, why):
    return BadNet(name, seed, old, new, why)


_K3 = "num_output: 4 kernel_size: 3 pad: 1"
_POOL = "pool: MAX kernel_size: 2 stride: 2"
_DECONV = "kernel_size: 4 stride: 2 bias_term: false"
_CROP = "axis: 2 offset: 1"
_DIMS = "dim: 1 dim: 3 dim: 16 dim: 16"
BAD_NETS = [
    # window geometry
    _b("conv-kernel-0", "fcn", _K3, "num_output: 4 kernel_size: 0 pad: 1", "kernel >= 1"),
    _b("conv-stride-0", "fcn", _K3, _K3 + " stride: 0", "stride >= 1"),
    _b("conv-dilation-0", "fcn", _K3, _K3 + " dilation: 0", "dilation >= 1"),
    _b("conv-kernel-h-only", "fcn", _K3, "num_output: 4 kernel_h: 3 pad: 1", "kernel_h and _w"),
    _b("conv-kernel-both", "fcn", _K3, _K3 + " kernel_h: 3 kernel_w: 3", "kernel_size or _h/_w"),
    _b("conv-stride-3x", "fcn", _K3, _K3 + " stride: 1 stride: 1 stride: 1", "once per axis"),
    _b("conv-pad-negative", "fcn", _K3, "num_output: 4 kernel_size: 3 pad: -1", "pad unsigned"),
    _b("conv-kernel-larger", "fcn", _K3, "num_output: 4 kernel_size: 25 pad: 1", "output < 1"),
    _b("pool-stride-0", "fcn", _POOL, "pool: MAX kernel_size: 2 stride: 0", "stride >= 1"),
    _b("pool-kernel-0", "fcn", _POOL, "pool: MAX kernel_size: 0 stride: 2", "kernel >= 1"),
    _b("pool-kernel-larger", "fcn", _POOL, "pool: MAX kernel_size: 40 stride: 2", "output < 1"),
    _b("pool-pad-ge-kernel", "fcn", _POOL, _POOL + " pad: 2", "pad < kernel"),
    _b("pool-global-kernel", "fcn", _POOL, _POOL + " global_pooling: true", "global: no kernel"),
    _b("pool-no-kernel", "fcn", _POOL, "pool: MAX stride: 2", "kernel_size needed"),
    _b("deconv-stride-0", "fcn", _DECONV, "kernel_size: 4 stride: 0 bias_term: false", "stride"),
    _b(
        "deconv-pad-huge",
        "fcn",
        _DECONV,
        "kernel_size: 4 stride: 2 pad: 20 bias_term: false",
        "output < 1",
    ),
    # groups and output counts
    _b("conv-group-0", "fcn", _K3, "num_output: 4 group: 0 kernel_size: 3 pad: 1", "group >= 1"),
    _b(
        "conv-group-3-of-4",
        "fcn",
        _K3,
        "num_output: 4 group: 3 kernel_size: 3 pad: 1",
        "group divides num_output",
    ),
    _b(
        "conv-group-2-of-3ch",
        "fcn",
        _K3,
        "num_output: 4 group: 2 kernel_size: 3 pad: 1",
        "group divides the input channels",
    ),
    _b(
        "deconv-group-2", "fcn", "num_output: 3 group: 3", "num_output: 3 group: 2", "group divides"
    ),
    _b("conv-num-output-0", "fcn", _K3, "num_output: 0 kernel_size: 3 pad: 1", "num_output >= 1"),
    _b(
        "conv-num-output-2^31",
        "fcn",
        _K3,
        "num_output: 2147483648 kernel_size: 3 pad: 1",
        "num_output is an int in Caffe",
    ),
    _b(
        "conv-num-output-2^32-1",
        "fcn",
        "num_output: 3 kernel_size: 1",
        "num_output: 4294967295 kernel_size: 1",
        "num_output is an int in Caffe",
    ),
    _b(
        "conv-num-output-maxint",
        "fcn",
        _K3,
        "num_output: 2147483647 kernel_size: 3 pad: 1",
        "blob count over INT_MAX",
    ),
    _b(
        "deconv-num-output-0",
        "fcn",
        "num_output: 3 group: 3",
        "num_output: 0 group: 3",
        "num_output >= 1",
    ),
    # blob dims
    _b("input-dim-0", "fcn", _DIMS, "dim: 1 dim: 0 dim: 16 dim: 16", "dims >= 1"),
    _b("input-dim-negative", "fcn", _DIMS, "dim: 1 dim: 3 dim: -16 dim: 16", "dims >= 1"),
    _b(
        "input-dim-2^31",
        "fcn",
        _DIMS,
        "dim: 2147483648 dim: 3 dim: 16 dim: 16",
        "dims are ints in Caffe",
    ),
    _b(
        "input-count-over-int",
        "fcn",
        _DIMS,
        "dim: 1 dim: 3 dim: 50000 dim: 50000",
        "count <= INT_MAX",
    ),
    _b("input-5d", "fcn", _DIMS, _DIMS + " dim: 2", "LRN needs 4 axes"),
    _b(
        "input-2-shapes-1-top",
        "fcn",
        "shape { " + _DIMS + " } ",
        "shape { " + _DIMS + " } shape { " + _DIMS + " } ",
        "one shape per top",
    ),
    # crop
    _b("crop-axis-7", "fcn", _CROP, "axis: 7 offset: 1", "axis in range"),
    _b("crop-axis--10", "fcn", _CROP, "axis: -10 offset: 1", "axis in range"),
    _b("crop-offset-too-big", "fcn", _CROP, "axis: 2 offset: 5", "window inside bottom 0"),
    _b(
        "crop-offsets-3-for-2",
        "fcn",
        _CROP,
        "axis: 2 offset: 1 offset: 1 offset: 1",
        "one offset or one per axis",
    ),
    _b("crop-axis-0", "fcn", _CROP, "axis: 0 offset: 1", "window inside bottom 0"),
    _b("crop-offset-negative", "fcn", _CROP, "axis: 2 offset: -1", "offsets unsigned"),
    _b("crop-1-bottom", "fcn", 'bottom: "up" bottom: "data"', 'bottom: "up"', "2 bottoms"),
    # per-type parameters
    _b("lrn-size-even", "fcn", "local_size: 3", "local_size: 4", "odd local_size"),
    _b("lrn-size-0", "fcn", "local_size: 3", "local_size: 0", "odd local_size"),
    _b("dropout-ratio-1", "fcn", "dropout_ratio: 0.5", "dropout_ratio: 1", "ratio < 1"),
    _b("dropout-ratio-negative", "fcn", "dropout_ratio: 0.5", "dropout_ratio: -0.5", "ratio >= 0"),
    _b("dropout-ratio-nan", "fcn", "dropout_ratio: 0.5", "dropout_ratio: nan", "a number"),
    # counts
    _b(
        "conv-2-tops",
        "fcn",
        'top: "conv1" conv',
        'top: "conv1" top: "conv1b" conv',
        "one top per bottom",
    ),
    _b(
        "pool-max-3-tops",
        "fcn",
        'top: "pool1" pool',
        'top: "pool1" top: "m" top: "n" pool',
        "at most 2 tops",
    ),
    _b(
        "relu-2-loss-weights",
        "fcn",
        'top: "conv1" }',
        'top: "conv1" loss_weight: 1 loss_weight: 1 }',
        "one loss_weight per top",
    ),
    _b(
        "crop-1-propagate-down",
        "fcn",
        'top: "crop" crop',
        'top: "crop" propagate_down: false crop',
        "one propagate_down per bottom",
    ),
    _b(
        "conv-3-param-specs",
        "fcn",
        'top: "score" conv',
        'top: "score" param { lr_mult: 1 } param { lr_mult: 1 } param { lr_mult: 1 } conv',
        "at most one spec per blob",
    ),
    # wiring
    _b("top-written-twice", "fcn", 'top: "score" conv', 'top: "conv1" conv', "one producer"),
    _b(
        "bottom-missing",
        "fcn",
        'bottom: "pool1" top: "score"',
        'bottom: "pool9" top: "score"',
        "bottoms produced above",
    ),
    _b("type-unknown", "fcn", 'type: "ReLU"', 'type: "ReLu"', "a registered type"),
    _b("name-duplicate", "fcn", 'name: "relu1"', 'name: "conv1"', "unique layer names"),
    _b(
        "prototxt-syntax",
        "fcn",
        'top: "crop" crop_param {',
        'top: "crop" crop_param {{',
        "text format",
    ),
    # joins
    _b(
        "eltwise-hw-mismatch",
        "join",
        "num_output: 2 kernel_size: 1",
        "num_output: 2 kernel_size: 3",
        "equal shapes",
    ),
    _b(
        "eltwise-c-mismatch",
        "join",
        "num_output: 2 kernel_size: 1",
        "num_output: 3 kernel_size: 1",
        "equal shapes",
    ),
    _b(
        "eltwise-top-is-bottom-1",
        "join",
        'bottom: "a" bottom: "b" top: "sum"',
        'bottom: "a" bottom: "b" top: "b"',
        "in place only as top i = bottom i",
    ),
    _b(
        "eltwise-1-bottom",
        "join",
        'bottom: "a" bottom: "b" top: "sum"',
        'bottom: "a" top: "sum"',
        "2+ bottoms",
    ),
    _b(
        "eltwise-coeff-3-for-2",
        "join",
        'top: "sum" }',
        'top: "sum" eltwise_param { coeff: 1 coeff: 1 coeff: 1 } }',
        "one coeff per bottom",
    ),
    _b(
        "concat-mismatch",
        "join",
        'bottom: "a" bottom: "sum" top: "cat" }',
        'bottom: "a" bottom: "data" top: "cat" concat_param { axis: 2 } }',
        "equal off the axis",
    ),
    _b(
        "concat-axis-4",
        "join",
        'top: "cat" }',
        'top: "cat" concat_param { axis: 4 } }',
        "axis in range",
    ),
    _b("ip-num-output-0", "join", "num_output: 5", "num_output: 0", "num_output >= 1"),
    _b("ip-num-output-2^31", "join", "num_output: 5", "num_output: 2147483648", "an int"),
    _b("ip-axis-5", "join", "num_output: 5 }", "num_output: 5 axis: 5 }", "axis in range"),
    _b(
        "softmax-axis-9",
        "join",
        'top: "prob" }',
        'top: "prob" softmax_param { axis: 9 } }',
        "axis in range",
    ),
    _b("scale-axis-6", "join", "bias_term: true }", "bias_term: true axis: 6 }", "axis in range"),
    _b(
        "scale-num-axes-5",
        "join",
        "bias_term: true }",
        "bias_term: true num_axes: 5 }",
        "axes inside the bottom",
    ),
    _b(
        "batchnorm-2-bottoms",
        "join",
        'bottom: "data" top: "bn"',
        'bottom: "data" bottom: "data" top: "bn"',
        "1 bottom",
    ),
    _b(
        "pool-ave-2-tops",
        "join",
        'top: "pool" pool',
        'top: "pool" top: "mask" pool',
        "mask top for MAX only",
    ),
    # losses
    _b(
        "loss-2-loss-weights",
        "loss",
        'top: "loss" loss_param',
        'top: "loss" loss_weight: 1 loss_weight: 1 loss_param',
        "one loss_weight per top",
    ),
    _b(
        "loss-label-count",
        "loss",
        "dim: 2 dim: 1 dim: 8 dim: 8",
        "dim: 2 dim: 1 dim: 7 dim: 8",
        "N*H*W labels",
    ),
    _b(
        "accuracy-top-k-5",
        "loss",
        'top: "acc" }',
        'top: "acc" accuracy_param { top_k: 5 } }',
        "top_k <= classes",
    ),
    _b(
        "loss-softmax-axis-6",
        "loss",
        "ignore_label: 255 }",
        "ignore_label: 255 } softmax_param { axis: 6 }",
        "axis in range",
    ),
    _b(
        "loss-3-tops",
        "loss",
        'top: "loss" loss_param',
        'top: "loss" top: "p" top: "q" loss_param',
        "at most 2 tops",
    ),
    _b(
        "input-3-shapes-2-tops",
        "loss",
        "dim: 8 } } }",
        "dim: 8 } shape { dim: 1 } } }",
        "one shape per top",
    ),
    # Python layers
    _b(
        "python-module-missing",
        "python",
        'module: "auditlayers"',
        'module: "nosuchmodule"',
        "an importable module",
    ),
    _b("python-class-missing", "python", 'layer: "Source"', 'layer: "Nope"', "the class exists"),
    _b(
        "python-import-fails",
        "python",
        'module: "auditlayers"',
        'module: "auditbroken"',
        "the module imports",
    ),
    _b("python-setup-raises", "python", 'layer: "Source"', 'layer: "FailSetup"', "setup runs"),
    _b(
        "python-reshape-raises", "python", 'layer: "Source"', 'layer: "FailReshape"', "reshape runs"
    ),
    _b(
        "python-forward-raises", "python", 'layer: "Source"', 'layer: "FailForward"', "forward runs"
    ),
    _b("param-str-not-literal", "python", "{'mean': 1.5}", "mean=1.5", "a dict literal"),
    _b("param-str-inf", "python", "{'mean': 1.5}", "{'mean': 1e309}", "finite numbers"),
    _b("param-str-unknown-key", "python", "{'mean': 1.5}", "{'nope': 1}", "known keys"),
]
assert len({c.name for c in BAD_NETS}) == len(BAD_NETS)

# memory: valid nets whose blobs or weights need more memory than a process may map
MEMORY_NETS = [
    _b("input-20000x20000", "fcn", _DIMS, "dim: 1 dim: 3 dim: 20000 dim: 20000", "4.8 GB input"),
    _b(
        "conv-num-output-1e8",
        "fcn",
        _K3,
        "num_output: 100000000 kernel_size: 3 pad: 1",
        "10.8 GB of weights",
    ),
    _b("ip-num-output-5e7", "join", "num_output: 5", "num_output: 50000000", "7.2 GB of weights"),
]

TRAIN_NET = """name: "train"
layer { name: "data" type: "Input" top: "data" top: "label" input_param { shape { dim: 2 dim: 3 dim: 8 dim: 8 } shape { dim: 2 dim: 1 dim: 8 dim: 8 } } }
layer { name: "score" type: "Convolution" bottom: "data" top: "score" convolution_param { num_output: 4 kernel_size: 3 pad: 1 weight_filler { type: "gaussian" std: 0.1 } } }
layer { name: "loss" type: "SoftmaxWithLoss" bottom: "score" bottom: "label" top: "loss" }
"""

SOLVER = """net: "{net}"
base_lr: 0.01
momentum: 0.9
lr_policy: "multistep"
stepvalue: 100
gamma: 0.1
max_iter: 1000
display: 0
snapshot_prefix: "{prefix}"
random_seed: 1
"""


# ------------------------------------------------------------------------ files of the seeds
def weights_for(net_text: str, seed: int = 0) -> caffe_pb2.NetParameter:
    """A caffemodel (NetParameter with blobs) for a deploy net, values drawn from `seed`."""
    from netspec import shapes

    net = caffeio.net_from_text(net_text)
    rs = np.random.default_rng(seed)
    params = {
        name: [rs.standard_normal(s).astype(np.float32) * 0.1 for s in blob_shapes]
        for name, blob_shapes in shapes.param_shapes(net).items()
    }
    for layer in net.layer:
        if layer.type == "BatchNorm":  # a positive variance and a scale factor of 1
            mean, var, _ = params[layer.name]
            params[layer.name] = [mean, np.abs(var) + 0.5, np.ones(1, np.float32)]
    return caffeio.params_to_net(params, net)


def write_seeds(folder: str) -> dict[str, str]:
    """The seed prototxts, their caffemodels (<seed>.caffemodel), the Python layer modules,
    the training net, its solver and a solverstate -> {name: path}."""
    import os

    paths = {}
    for name, source in PY_MODULES.items():
        with open(os.path.join(folder, f"{name}.py"), "w") as f:
            f.write(source)
    for name, text in SEEDS.items():
        paths[name] = os.path.join(folder, f"{name}.prototxt")
        with open(paths[name], "w") as f:
            f.write(text)
        if name != "python":
            model = os.path.join(folder, f"{name}.caffemodel")
            caffeio.write_caffemodel(weights_for(text), model)
            paths[f"{name}.caffemodel"] = model
    train = os.path.join(folder, "train.prototxt")
    with open(train, "w") as f:
        f.write(TRAIN_NET)
    solver = os.path.join(folder, "solver.prototxt")
    with open(solver, "w") as f:
        f.write(SOLVER.format(net=train, prefix=os.path.join(folder, "snap")))
    model = os.path.join(folder, "snap_iter_10.caffemodel")
    caffeio.write_caffemodel(weights_for(TRAIN_NET, 1), model)
    state = good_solverstate(model)
    caffeio.write_solverstate(state, os.path.join(folder, "snap_iter_10.solverstate"))
    paths.update(train=train, solver=solver, model=model)
    paths["solverstate"] = os.path.join(folder, "snap_iter_10.solverstate")
    return paths


def good_solverstate(model_path: str) -> caffe_pb2.SolverState:
    """The SGD solverstate of TRAIN_NET at iteration 10: momentum history for each parameter."""
    weights = caffeio.read_caffemodel(model_path)
    state = caffe_pb2.SolverState(iter=10, learned_net=model_path, current_step=0)
    for layer in weights.layer:
        for b in layer.blobs:
            a = caffeio.blob_to_array(b) * 0.01
            state.history.add().CopyFrom(caffeio.array_to_blob(a))
    return state


# ------------------------------------------------------------------------ solverstates
def bad_solverstates(state: caffe_pb2.SolverState) -> list[tuple[str, bytes]]:
    """(name, serialized SolverState) that resuming must refuse: values Caffe cannot count,
    history that does not fit the net, weights that are not there, cut files."""
    out = []

    def edit(name, fn):
        s = caffe_pb2.SolverState()
        s.CopyFrom(state)
        fn(s)
        out.append((name, s.SerializeToString()))

    edit("iter-negative", lambda s: setattr(s, "iter", -1))
    edit("iter-maxint", lambda s: setattr(s, "iter", INT_MAX))
    edit("current-step-negative", lambda s: setattr(s, "current_step", -3))
    edit("history-transposed", _transpose_history)
    edit("history-nan", lambda s: s.history[0].data.__setitem__(0, math.nan))
    edit("history-missing-blob", lambda s: s.history.__delitem__(len(s.history) - 1))
    edit("history-extra-blob", lambda s: s.history.add().CopyFrom(s.history[0]))
    edit("learned-net-empty", lambda s: setattr(s, "learned_net", ""))
    edit("learned-net-missing", lambda s: setattr(s, "learned_net", s.learned_net + ".gone"))
    good = state.SerializeToString()
    out.append(("cut-half", good[: len(good) // 2]))
    out.append(("bytes-garbage", bytes(random.Random(3).randrange(256) for _ in range(64))))
    return out


def _transpose_history(s):
    for h in s.history:
        dims = list(h.shape.dim)
        if len(dims) == 4 and dims != dims[::-1]:
            h.shape.ClearField("dim")
            h.shape.dim.extend(dims[::-1])
            return
    raise AssertionError("no 4-D history blob to transpose")


# ------------------------------------------------------------------------ caffemodels
def bad_caffemodels(model: caffe_pb2.NetParameter, rng: random.Random, n_bytes: int = 6):
    """(name, serialized caffemodel, known bad?) for `model` (a seed's weights): NaN values,
    shapes of another net, a missing blob, duplicated layers, cuts and byte flips (which may
    still be a valid file: not known bad)."""
    out = []

    def edit(name, fn, bad=True):
        m = caffe_pb2.NetParameter()
        m.CopyFrom(model)
        fn(m)
        out.append((name, m.SerializeToString(), bad))

    first = next(  # the first layer whose weights have a shape that reversed is another
        i
        for i, layer in enumerate(model.layer)
        if len(layer.blobs) and len(set(layer.blobs[0].shape.dim)) > 1
    )
    edit("nan-weight", lambda m: m.layer[first].blobs[0].data.__setitem__(0, math.nan))
    edit("inf-bias", lambda m: m.layer[first].blobs[-1].data.__setitem__(0, math.inf))
    edit("shape-transposed", lambda m: _reverse_dims(m.layer[first].blobs[0]))
    edit("shape-extra-axis", lambda m: m.layer[first].blobs[0].shape.dim.append(2))
    edit("shape-dim-negative", lambda m: m.layer[first].blobs[0].shape.dim.__setitem__(0, -1))
    edit("shape-dim-2^40", lambda m: m.layer[first].blobs[0].shape.dim.__setitem__(0, 2**40))
    edit("blob-missing", lambda m: m.layer[first].blobs.__delitem__(len(m.layer[first].blobs) - 1))
    edit("layer-duplicated-same", lambda m: m.layer.add().CopyFrom(m.layer[first]), bad=False)
    edit("layer-duplicated-other", lambda m: _duplicate_scaled(m, first), bad=False)
    edit("layer-duplicated-wrong-shape", lambda m: _duplicate_reshaped(m, first))
    good = model.SerializeToString()
    out.append(("cut-half", good[: len(good) // 2], True))
    for k in range(n_bytes):
        data = bytearray(good)
        for _ in range(rng.randint(1, 6)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        out.append((f"bytes-{k}", bytes(data), False))
    return out


def _reverse_dims(blob):
    dims = list(blob.shape.dim)
    blob.shape.ClearField("dim")
    blob.shape.dim.extend(dims[::-1])


def _duplicate_scaled(m, i):
    copy = m.layer.add()
    copy.CopyFrom(m.layer[i])
    for b in copy.blobs:
        b.data[:] = [2 * v for v in b.data]


def _duplicate_reshaped(m, i):
    copy = m.layer.add()
    copy.CopyFrom(m.layer[i])
    _reverse_dims(copy.blobs[0])


# ------------------------------------------------------------------------ images
def _png(width, height, raw=b"", depth=8, colour=2):
    def chunk(kind, data):
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, depth, colour, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", raw) + chunk(b"IEND", b"")


def bad_images() -> list[tuple[str, bytes, bool]]:
    """(file name, bytes, known bad?) for an inference program: empty, cut, lying headers, a
    decompression bomb, text; and a 1 x 1 picture (valid)."""
    tiny = _png(1, 1, zlib.compress(b"\x00\x10\x20\x30"))
    row = b"\x00" + b"\x00" * (3 * 20000)
    bomb = _png(20000, 20000, zlib.compress(row * 64))  # claims 400 M pixels
    return [
        ("empty.png", b"", True),
        ("cut.png", tiny[:20], True),
        ("header-only.png", tiny[:33], True),
        ("bomb-20000x20000.png", bomb, True),
        ("text.jpg", b"this is not a picture\n", True),
        ("zero-size.png", _png(0, 0, zlib.compress(b"")), True),
        ("tiny-1x1.png", tiny, False),
    ]


# ------------------------------------------------------------------------ random mutations
_NUMBERS = ["0", "-1", "1", "2", "3", "7", "64", "65536", "2147483647", "2147483648",
            "4294967295", "1e9", "0.5", "nan", "inf", "-0"]  # fmt: skip
_INTS = [0, 1, 2, 3, 5, -1, -3, 2**20, 2**31 - 1]
_FLOATS = [0.0, 1.0, -1.0, 0.5, 2.0, 1e30, math.nan, math.inf]
_TYPES = ["Convolution", "Deconvolution", "Pooling", "InnerProduct", "Crop", "Eltwise",
          "Concat", "ReLU", "Dropout", "Softmax", "BatchNorm", "Scale", "LRN", "Split",
          "Flatten", "SoftmaxWithLoss", "Accuracy", "Silence", "Reshape", "Bias", "Power"]  # fmt: skip


def _value(fd, rng):
    if fd.cpp_type == fd.CPPTYPE_ENUM:
        return rng.choice(fd.enum_type.values).number
    if fd.cpp_type == fd.CPPTYPE_BOOL:
        return rng.random() < 0.5
    if fd.cpp_type in (fd.CPPTYPE_FLOAT, fd.CPPTYPE_DOUBLE):
        return rng.choice(_FLOATS)
    if fd.cpp_type == fd.CPPTYPE_STRING:
        return rng.choice(["data", "conv1", "", "x", "label"])
    v = rng.choice(_INTS)
    if fd.cpp_type in (fd.CPPTYPE_UINT32, fd.CPPTYPE_UINT64):
        v = abs(v)
    return v


def _set_param_field(layer, rng):
    params = [f for f in layer.DESCRIPTOR.fields if f.name.endswith("_param")]
    sub = getattr(layer, rng.choice(params).name)
    fd = rng.choice(sub.DESCRIPTOR.fields)
    if fd.cpp_type == fd.CPPTYPE_MESSAGE:
        return
    value = _value(fd, rng)
    repeated = getattr(fd, "is_repeated", None)
    if repeated is None:  # protobuf < 5
        repeated = fd.label == fd.LABEL_REPEATED
    if repeated:
        getattr(sub, fd.name).append(value)
    else:
        setattr(sub, fd.name, value)


def _rewire(net, layer, rng):
    names = [t for other in net.layer for t in other.top] + ["nowhere"]
    if layer.bottom and rng.random() < 0.5:
        layer.bottom[rng.randrange(len(layer.bottom))] = rng.choice(names)
    else:
        (layer.top if rng.random() < 0.5 else layer.bottom).append(rng.choice(names))


def mutate_fields(text: str, rng: random.Random) -> str:
    """1-2 typed edits of a parsed seed: a parameter field, the type, a bottom/top, a dim."""
    net = caffeio.net_from_text(text)
    for _ in range(rng.randint(1, 2)):
        layer = rng.choice(net.layer)
        op = rng.randrange(4)
        if op == 0:
            _set_param_field(layer, rng)
        elif op == 1:
            layer.type = rng.choice(_TYPES)
        elif op == 2:
            _rewire(net, layer, rng)
        elif net.layer[0].type == "Input":
            dims = net.layer[0].input_param.shape[0].dim
            dims[rng.randrange(len(dims))] = rng.choice([0, 1, 2, 5, 64, -2, 3000])
    return caffeio.to_text(net)


def mutate_numbers(text: str, rng: random.Random) -> str:
    """1-3 numbers of the text replaced by edge values (0, -1, 2^31, nan, ...)."""
    for _ in range(rng.randint(1, 3)):
        nums = list(re.finditer(r"(?<![A-Za-z_])-?\d+(\.\d+)?", text))
        m = rng.choice(nums)
        text = text[: m.start()] + rng.choice(_NUMBERS) + text[m.end() :]
    return text


def random_nets(rng: random.Random, n: int) -> list[tuple[str, str, str]]:
    """n seeded mutations of the engine-free seeds -> (name, seed, prototxt text)."""
    out = []
    seeds = ["fcn", "join", "loss"]
    for k in range(n):
        seed = seeds[k % len(seeds)]
        how = mutate_fields if rng.random() < 0.6 else mutate_numbers
        out.append((f"random-{k}-{how.__name__[7:]}", seed, how(SEEDS[seed], rng)))
    return out
