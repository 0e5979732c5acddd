"""Random state beside a snapshot (`<prefix>_iter_N.rngstate`): what makes resume bit-exact.

Caffe's SolverState holds no random state, so a resumed Caffe run draws other Dropout masks.
torchcaffe writes, next to each snapshot, the state of every generator a training run draws
from: the engine's per-device generators (Dropout masks, fillers), torch's, NumPy's and Python's
global generators, and the state of each Python layer that offers `rng_state()` /
`set_rng_state(state)` (the data layers: example order seed and stream position).

The file is JSON (no pickle: loading it runs no code); generator bytes are base64.
"""

from __future__ import annotations

import base64
import json
import random
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from caffeio.errors import CaffeFormatError

from . import device as _device

if TYPE_CHECKING:
    from .net import Net

FORMAT = "torchcaffe-rngstate-1"


def _b64(tensor):
    return base64.b64encode(tensor.cpu().numpy().tobytes()).decode("ascii")


def _unb64(text):
    return torch.frombuffer(bytearray(base64.b64decode(text)), dtype=torch.uint8)


def _numpy_state():
    s = np.random.get_state(legacy=False)
    return {
        "bit_generator": s["bit_generator"],
        "key": [int(k) for k in s["state"]["key"]],
        "pos": int(s["state"]["pos"]),
        "has_gauss": int(s["has_gauss"]),
        "gauss": float(s["gauss"]),
    }


def _set_numpy_state(s):
    key = np.array(s["key"], dtype=np.uint32)
    np.random.set_state((s["bit_generator"], key, s["pos"], s["has_gauss"], s["gauss"]))


def _layer_states(nets):
    """{"<net index>/<layer name>": state} of the Python layers that offer rng_state()."""
    out = {}
    for i, net in enumerate(nets):
        for name, layer in getattr(net, "layer_dict", {}).items():
            if callable(getattr(layer, "rng_state", None)):
                out[f"{i}/{name}"] = layer.rng_state()
    return out


def capture(nets: Iterable[Net]) -> dict[str, Any]:
    """The random state of the engine and of `nets`' Python layers -> a JSON-able dict."""
    state = {
        "format": FORMAT,
        "engine": {key: _b64(g.get_state()) for key, g in _device._generators.items()},
        "engine_seed": _device._state["seed"],
        "torch": _b64(torch.get_rng_state()),
        "numpy": _numpy_state(),
        "python": [random.getstate()[0], list(random.getstate()[1]), random.getstate()[2]],
        "layers": _layer_states(nets),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = [_b64(s) for s in torch.cuda.get_rng_state_all()]
    return state


def apply(state: dict[str, Any], nets: Iterable[Net]) -> None:
    """Put the engine, the global generators and `nets`' Python layers in `state` (capture's)."""
    _device._state["seed"] = state["engine_seed"]
    for key, data in state["engine"].items():
        _device.generator(torch.device(key)).set_state(_unb64(data))
    torch.set_rng_state(_unb64(state["torch"]))
    if "cuda" in state and torch.cuda.is_available():
        for i, data in enumerate(state["cuda"][: torch.cuda.device_count()]):
            torch.cuda.set_rng_state(_unb64(data), i)
    _set_numpy_state(state["numpy"])
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    layers = state["layers"]
    for i, net in enumerate(nets):
        for name, layer in getattr(net, "layer_dict", {}).items():
            key = f"{i}/{name}"
            if key in layers and callable(getattr(layer, "set_rng_state", None)):
                layer.set_rng_state(layers[key])


def write(path: str, state: dict[str, Any]) -> None:
    """Write `state` to `path` atomically (temporary file + rename)."""
    from caffeio.atomic import atomic_write

    atomic_write(path, json.dumps(state, separators=(",", ":")).encode())


def read(path: str) -> dict[str, Any]:
    """The state written by write(); CaffeFormatError naming the file when it is not one."""
    try:
        with open(path, "rb") as f:
            state = json.loads(f.read())
        if state.get("format") != FORMAT:
            raise ValueError(f"format {state.get('format')!r}, expected {FORMAT!r}")
        for key in ("engine", "torch", "numpy", "python", "layers"):
            state[key]  # noqa: B018 - presence check
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
        raise CaffeFormatError(
            f"{path}: not a readable torchcaffe random state ({e}); delete it to resume "
            "without it (Dropout masks then differ from an uninterrupted run)"
        ) from None
    return state


def path_for(stem: str, rank: int = 0) -> str:
    """The .rngstate file of snapshot `stem` (`<prefix>_iter_N`) for process `rank`."""
    return f"{stem}.rngstate" if rank == 0 else f"{stem}.rank{rank}.rngstate"
