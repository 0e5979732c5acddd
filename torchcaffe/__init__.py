"""torchcaffe: the pycaffe API on PyTorch, running Caffe prototxt with Caffe's exact semantics.

    import torchcaffe as caffe
    net = caffe.Net("deploy.prototxt", caffe.TEST, weights="fcn8s.caffemodel")
    net.blobs["data"].reshape(1, 3, h, w); net.blobs["data"].data[...] = image
    score = net.forward()["score"]

`NetSpec`, `layers`, `params` and `to_proto` come from netspec.builder on first use, so
`from caffe import layers as L` scripts run unchanged under FCN_ENGINE=torch. Every other
name of pycaffe's top level is here too (caffe.io, caffe.net_spec, caffe.coord_map,
caffe.draw, caffe.proto.caffe_pb2, Classifier, Detector, Timer, ...; docs/pycaffe.md).

Importing torchcaffe before torch turns on transparent huge pages for torch's large CPU
allocations (THP_MEM_ALLOC_ENABLE=1, read once by torch at its first allocation; an explicit
THP_MEM_ALLOC_ENABLE=0 is kept): FCN's 100-250 MB feature maps are then faulted in 2 MB pages
instead of 4 KB ones (conv1_1's forward at 500x500: 0.08 s -> 0.03 s). It also shortens the
OpenMP spin-wait (GOMP_SPINCOUNT=10000, see below) so jobs sharing the cores do not collapse.
"""

import os as _os
import sys as _sys

# Spin-wait of torch's OpenMP threads (libgomp, read when torch loads it): 10000 spins, then
# sleep, instead of libgomp's 300000. Measured (FCN-8s training, 500x500, 2 cores): two
# trainings at once took 3.5x the time of running them one after the other at width 1/16
# (threads spinning away each other's cores), 0.91-0.94x with this; one training alone changed
# within the noise (width 1: 4.2-4.6 s vs 4.4-5.0 s per step; width 1/16: +0-10%). An explicit
# GOMP_SPINCOUNT or OMP_WAIT_POLICY is kept.
if "torch" not in _sys.modules:
    _os.environ.setdefault("THP_MEM_ALLOC_ENABLE", "1")
    if "GOMP_SPINCOUNT" not in _os.environ and "OMP_WAIT_POLICY" not in _os.environ:
        _os.environ["GOMP_SPINCOUNT"] = "10000"

from .blob import Blob  # noqa: E402 - after the allocator setting above
from .device import (
    describe_device,
    set_device,
    set_mode_cpu,
    set_mode_gpu,
    set_random_seed,
)
from .errors import NetError
from .layer import Layer
from .net import TEST, TRAIN, Net, layer_type_list
from .solver import (  # noqa: F401 - pycaffe exposes the solver classes at top level
    AdaDeltaSolver,
    AdaGradSolver,
    AdamSolver,
    NesterovSolver,
    RMSPropSolver,
    SGDSolver,
    get_solver,
)

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
