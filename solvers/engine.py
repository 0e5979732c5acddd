"""Engine choice: real pycaffe when importable, else torchcaffe (FCN_ENGINE=auto|caffe|torch).

from solvers.engine import caffe      # the chosen module; caffe.Net, caffe.Layer, ...
"""

import importlib
import os
import sys

_CHOICES = ("auto", "caffe", "torch")


def choose(name=None):
    """Return (module, engine name) for FCN_ENGINE or `name`: 'caffe' (BVLC pycaffe) or 'torch'."""
    name = (name or os.environ.get("FCN_ENGINE", "auto")).lower()
    if name not in _CHOICES:
        raise ValueError(f"FCN_ENGINE={name!r}: use one of {', '.join(_CHOICES)}")
    if name in ("auto", "caffe"):
        try:
            mod = importlib.import_module("caffe")
            if hasattr(mod, "Net") and hasattr(mod, "Layer"):
                return mod, "caffe"
            if name == "caffe":
                raise ImportError(f"'caffe' at {getattr(mod, '__file__', '?')} is not pycaffe")
        except ImportError as e:
            if name == "caffe":
                raise ImportError(
                    f"FCN_ENGINE=caffe but pycaffe cannot be imported ({e}); build BVLC Caffe "
                    "with `make pycaffe` and add its python/ folder to PYTHONPATH, or use "
                    "FCN_ENGINE=torch"
                ) from None
    return importlib.import_module("torchcaffe"), "torch"


caffe, name = choose()


def describe():
    """One line naming the engine (and device, for torchcaffe) in use."""
    if name == "caffe":
        return f"engine: BVLC pycaffe ({getattr(caffe, '__file__', '?')})"
    dev = getattr(caffe, "describe_device", lambda: "cpu")()
    return f"engine: torchcaffe ({dev})"


def announce(stream=None):
    """Print the engine line at program start (DESIGN: the chosen engine is printed)."""
    print(describe(), file=stream or sys.stderr)


def use_fast_mode(stream=None):
    """--fast: torchcaffe's fastest exact-enough inference (channels_last + Winograd 3x3
    convolutions; outputs differ from the exact mode by ~1e-5 of their range, see bench/README.md).
    Sets TORCHCAFFE_FAST=1 for the nets built afterwards; says so (or that pycaffe ignores it)."""
    if name != "torch":
        print("--fast: applies to torchcaffe only; BVLC pycaffe runs as usual", file=stream)
        return False
    os.environ["TORCHCAFFE_FAST"] = "1"
    print("fast mode: channels_last + Winograd convolutions (not bit-exact)", file=stream)
    return True
