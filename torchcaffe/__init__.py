"""torchcaffe: the pycaffe API on PyTorch, running Caffe prototxt with Caffe's exact semantics.

    import torchcaffe as caffe
    net = caffe.Net("deploy.prototxt", caffe.TEST, weights="fcn8s.caffemodel")
    net.blobs["data"].reshape(1, 3, h, w); net.blobs["data"].data[...] = image
    score = net.forward()["score"]

`NetSpec`, `layers`, `params` and `to_proto` come from netspec.builder on first use, so
`from caffe import layers as L` scripts run unchanged under FCN_ENGINE=torch. Every other
name of pycaffe's top level is here too (caffe.io, caffe.net_spec, caffe.coord_map,
caffe.draw, caffe.proto.caffe_pb2, Classifier, Detector, Timer, ...; docs/pycaffe.md).

Importing torchcaffe before torch sets what torch reads only when it loads (torchcaffe.startup):
the OpenMP wait policy of this kind of host (torchcaffe.tuning: a GOMP_SPINCOUNT of 1000 to 10000,
measured per kind), so that jobs sharing the cores do not collapse, and transparent huge pages for
torch's large CPU allocations (THP_MEM_ALLOC_ENABLE=1: FCN's 100-250 MB feature maps are then
faulted in 2 MB pages instead of 4 KB ones; conv1_1's forward at 500x500: 0.08 s -> 0.03 s).
Variables the user set are kept. Every option torchcaffe reads is in torchcaffe.options (`python -m
torchcaffe` lists them).
"""

from . import startup as _startup

_startup.before_torch()

import torch as _torch  # noqa: E402 - after the settings above

from . import options  # noqa: E402
from .blob import Blob  # noqa: E402
from .device import (  # noqa: E402
    describe_device,
    set_device,
    set_mode_cpu,
    set_mode_gpu,
    set_random_seed,
)
from .errors import NetError  # noqa: E402
from .layer import Layer  # noqa: E402
from .net import TEST, TRAIN, Net, layer_type_list  # noqa: E402
from .solver import (  # noqa: E402, F401 - pycaffe exposes the solver classes at top level
    AdaDeltaSolver,
    AdaGradSolver,
    AdamSolver,
    NesterovSolver,
    RMSPropSolver,
    SGDSolver,
    get_solver,
)

_startup.after_torch(_torch)

__all__ = [
    "Net",
    "Blob",
    "Layer",
    "NetError",
    "TRAIN",
    "TEST",
    "set_mode_cpu",
    "set_mode_gpu",
    "set_device",
    "set_random_seed",
    "describe_device",
    "layer_type_list",
    "NetSpec",
    "layers",
    "params",
    "to_proto",
    "options",
]

_NETSPEC = {"NetSpec": "NetSpec", "layers": "L", "params": "P", "to_proto": "to_proto"}

# The rest of pycaffe's top level (BVLC python/caffe/__init__.py): the names are pycaffe's;
# README "pycaffe API" says where torchcaffe differs (NCCL: multi-GPU is torch DDP).
from .glog import init_log, log  # noqa: E402
from .parallel import (  # noqa: E402
    NCCL,
    has_nccl,
    set_multiprocess,
    set_solver_count,
    set_solver_rank,
    solver_count,
    solver_rank,
)
from .timer import Timer  # noqa: E402

__version__ = "1.0.0"  # the BVLC Caffe release whose pycaffe API this is (caffe.__version__)

# submodules and classes loaded on first use (pycaffe's names: caffe.io, caffe.draw, ...)
_SUBMODULES = ("io", "net_spec", "coord_map", "draw", "classifier", "detector", "proto")
_LAZY = {"Classifier": "classifier", "Detector": "detector"}

__all__ += [
    "SGDSolver",
    "NesterovSolver",
    "AdaGradSolver",
    "RMSPropSolver",
    "AdaDeltaSolver",
    "AdamSolver",
    "get_solver",
    "NCCL",
    "Timer",
    "init_log",
    "log",
    "has_nccl",
    "solver_count",
    "set_solver_count",
    "solver_rank",
    "set_solver_rank",
    "set_multiprocess",
    "Classifier",
    "Detector",
    "io",
]


def __getattr__(name):
    if name in _SUBMODULES or name in _LAZY:
        import importlib

        module = importlib.import_module(f".{_LAZY.get(name, name)}", __name__)
        value = getattr(module, name) if name in _LAZY else module
        globals()[name] = value
        return value
    if name in _NETSPEC:
        try:
            from netspec import builder
        except ImportError as e:
            raise AttributeError(
                f"torchcaffe.{name} comes from netspec.builder, which cannot be imported ({e})"
            ) from None
        value = getattr(builder, _NETSPEC[name])
        globals()[name] = value
        return value
    raise AttributeError(f"module 'torchcaffe' has no attribute {name!r}")
