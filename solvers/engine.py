"""Engine choice: real pycaffe when importable, else torchcaffe (FCN_ENGINE=auto|caffe|torch).

from solvers.engine import caffe      # the chosen module; caffe.Net, caffe.Layer, ...
"""

import importlib
import os
import sys

_CHOICES = ("auto", "caffe", "torch")


# Why auto did not take pycaffe (None when it did, or when none was found).
fallback_reason = None


def choose(name=None, stream=None):
    """Return (module, engine name) for FCN_ENGINE or `name`: 'caffe' (BVLC pycaffe) or 'torch'.

    auto: pycaffe when `import caffe` works and is pycaffe; on ANY failure to import it (an
    ImportError, a numpy ABI mismatch's SystemError, a protobuf descriptor clash's TypeError, ...)
    torchcaffe, with the reason printed to `stream` (stderr) when a pycaffe was there to try.
    """
    global fallback_reason
    name = (name or os.environ.get("FCN_ENGINE", "auto")).strip().lower()
    if name not in _CHOICES:
        raise ValueError(f"FCN_ENGINE={name!r}: use one of {', '.join(_CHOICES)}")
    if name in ("auto", "caffe"):
        try:
            mod = importlib.import_module("caffe")
            if hasattr(mod, "Net") and hasattr(mod, "Layer"):
                return mod, "caffe"
            raise ImportError(f"'caffe' at {getattr(mod, '__file__', '?')} is not pycaffe")
        except Exception as e:
            missing = isinstance(e, ModuleNotFoundError) and e.name == "caffe"
            why = f"{type(e).__name__}: {e}"
            if name == "caffe":
                raise ImportError(
                    f"FCN_ENGINE=caffe but pycaffe cannot be imported ({why}); build BVLC Caffe "
                    "with `make pycaffe` (or add its python/ folder to PYTHONPATH), or use "
                    "FCN_ENGINE=torch"
                ) from None
            if not missing:
                fallback_reason = why
                print(
                    f"FCN_ENGINE=auto: pycaffe found but not usable ({why}); using torchcaffe",
                    file=stream or sys.stderr,
                )
    try:
        return importlib.import_module("torchcaffe"), "torch"
    except ImportError as e:
        if getattr(e, "name", None) != "torch":
            raise
        why = f" (pycaffe: {fallback_reason})" if fallback_reason else ""
        raise ImportError(
            f"no engine: torchcaffe needs torch, which is not installed, and BVLC pycaffe is not "
            f"importable{why}. Install torch (pip install -e '.[torch]', or make setup) or build "
            "pycaffe (make pycaffe)"
        ) from None


caffe, name = choose()


def adapter():
    """The chosen engine's adapter (solvers.engine_torch or solvers.engine_caffe): the same few
    functions (device, distributed, solver, stepping, checked nets), nothing else differs."""
    if name == "torch":
        from . import engine_torch

        return engine_torch
    from . import engine_caffe

    return engine_caffe


class MissingWeights(SystemExit):
    """Inference with a net whose learnable layers did not all get weights from the file."""


def open_net(path, phase, weights=None, require_weights=False):
    """A Net of the chosen engine for prototxt `path`, weights copied; on real Caffe the files
    are checked first (its own checks abort the process). require_weights: refuse (exit with a
    message naming them) when learnable layers got no weights: their fillers would answer."""
    net, missing = adapter().open_net(caffe, path, phase, weights)
    if require_weights and missing:
        raise MissingWeights(
            f"error: {weights} has no weights for {', '.join(missing)} of {path}: these layers "
            "would run on their fillers (zeros), not trained values. Use the caffemodel trained "
            "for this net (same model, --width and layer names)"
        )
    return net


def set_device(gpu=None):
    """--gpu: -1 CPU, N GPU N; None: torchcaffe's default (CUDA if any), CPU on real Caffe."""
    return adapter().set_device(caffe, gpu, 0)


def describe():
    """One line naming the engine (and device, for torchcaffe) in use."""
    if name == "caffe":
        return f"engine: BVLC pycaffe ({getattr(caffe, '__file__', '?')})"
    dev = getattr(caffe, "describe_device", lambda: "cpu")()
    return f"engine: torchcaffe ({dev})"


def announce(stream=None):
    """Print the engine line at program start (every command says which engine runs)."""
    print(describe(), file=stream or sys.stderr)


def use_fast_mode(stream=None):
    """--fast: torchcaffe's fastest exact-enough inference (channels_last + Winograd 3x3
    convolutions; outputs differ from the exact mode by ~1e-5 of their range, see bench/README.md).
    Makes it the default of the nets built afterwards (torchcaffe.options.set_defaults); says so
    (or that pycaffe ignores it)."""
    if name != "torch":
        print("--fast: applies to torchcaffe only; BVLC pycaffe runs as usual", file=stream)
        return False
    caffe.options.set_defaults(fast=True)
    print("fast mode: channels_last + Winograd convolutions (not bit-exact)", file=stream)
    return True
