"""Which engine runs the nets: real BVLC pycaffe or torchcaffe, chosen by the program.

    caffe = engine.use(args.engine)   # "auto" | "caffe" | "torch"; None: not chosen on the
                                      # command line -> FCN_ENGINE, else auto
    engine.current()                  # the chosen module (the default choice if none was made)

auto takes pycaffe when `import caffe` works and is pycaffe, else torchcaffe (the reason printed
when a pycaffe was there but failed). Importing this module chooses nothing; FCN_ENGINE is read
here only (requested()), as the default when the program did not choose.
"""

from __future__ import annotations

import importlib
import os
import sys
from types import ModuleType
from typing import TextIO

CHOICES = ("auto", "caffe", "torch")
ENV = "FCN_ENGINE"

# The program's choice: what was asked ("auto", "caffe", "torch"), the module and its name
# ("caffe" or "torch"); all None until use() or current() is called.
_state: dict = {"asked": None, "module": None, "name": None}

# Why auto did not take pycaffe (None when it did, or when none was found).
fallback_reason = None


def requested(name: str | None = None) -> str:
    """What use(name) asks for, without choosing: `name` (a --engine value); None (the program
    did not choose): what was asked before, else the FCN_ENGINE environment variable, else
    'auto'. Checked and lower-cased; the only place FCN_ENGINE is read."""
    where = "--engine"
    if name is None:
        if _state["asked"] is not None:
            return _state["asked"]
        name, where = os.environ.get(ENV, ""), ENV
    value = name.strip().lower() or "auto"
    if value not in CHOICES:
        raise ValueError(f"{where}={name!r}: use one of {', '.join(CHOICES)}")
    return value


def choose(name: str | None, stream: TextIO | None = None) -> tuple[ModuleType, str]:
    """Resolve `name` ('auto', 'caffe' or 'torch') -> (module, 'caffe' | 'torch'), remembering
    nothing (use() remembers).

    auto: pycaffe when `import caffe` works and is pycaffe; on ANY failure to import it (an
    ImportError, a numpy ABI mismatch's SystemError, a protobuf descriptor clash's TypeError, ...)
    torchcaffe, with the reason printed to `stream` (stderr) when a pycaffe was there to try.
    """
    global fallback_reason
    name = requested(name)
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
                    f"engine caffe (--engine caffe or FCN_ENGINE=caffe) but pycaffe cannot be "
                    f"imported ({why}); build BVLC Caffe with `make pycaffe` (or add its python/ "
                    "folder to PYTHONPATH), or use --engine torch (FCN_ENGINE=torch)"
                ) from None
            if not missing:
                fallback_reason = why
                print(
                    f"engine auto: pycaffe found but not usable ({why}); using torchcaffe",
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


def use(name: str | None = None, stream: TextIO | None = None) -> ModuleType:
    """Make `name` ('auto', 'caffe', 'torch') the program's engine and return its module
    (pycaffe or torchcaffe: .Net, .Layer, .TRAIN, .TEST, ...).

    None means the program did not choose: the choice already made stands, else FCN_ENGINE's
    (requested()). Asking again for what was asked returns the same module; asking for another
    engine switches (nets already built keep theirs). The auto fallback reason goes to `stream`.
    """
    asked = requested(name)
    if asked != _state["asked"]:
        module, resolved = choose(asked, stream)
        _state.update(asked=asked, module=module, name=resolved)
    return _state["module"]


def current() -> ModuleType:
    """The program's engine module; the default choice (use(None)) when none was made yet."""
    return use(None)


def current_name() -> str:
    """'caffe' (BVLC pycaffe) or 'torch' (torchcaffe): the program's engine (see current())."""
    use(None)
    return _state["name"]


def chosen() -> str | None:
    """The engine chosen so far ('caffe' or 'torch'), or None: chooses nothing."""
    return _state["name"]


def adapter() -> ModuleType:
    """The program's engine adapter (engine.torchcaffe_adapter or engine.pycaffe_adapter): the
    same few functions (device, distributed, solver, stepping, checked nets) for either engine."""
    if current_name() == "torch":
        from . import torchcaffe_adapter

        return torchcaffe_adapter
    from . import pycaffe_adapter

    return pycaffe_adapter
