"""What must be in the environment before torch loads: the OpenMP wait policy and huge pages.

torch's CPU wheel runs every parallel kernel on its own libgomp (torch/lib/libgomp.so.1: aten's
parallel loops, oneDNN with runtime:OpenMP, MKL's gnu_thread layer). libgomp reads
GOMP_SPINCOUNT and OMP_WAIT_POLICY once, in its load-time constructor, i.e. at `import torch`:
with OMP_DISPLAY_ENV=verbose it prints the values it took, and a variable set after torch is
imported is not among them. It has no call that changes them later (the OpenMP API has none;
libgomp's spin count is a hidden variable of a stripped library). So the policy is set by
`import torchcaffe` (this module, torch-free, runs first) when torch is not loaded yet; the
project's entry points import torchcaffe before torch. When torch came first, `wait_state()`
says so and the engine line shows it: export the variables before Python starts (or import
torchcaffe first).

After a parallel region libgomp's idle threads spin GOMP_SPINCOUNT rounds (default 300000;
`OMP_WAIT_POLICY=PASSIVE` = 0: sleep at once) before sleeping: on a machine shared with other
jobs the spinning threads take the cores the others need. `WAIT_POLICIES` are the candidates
(`python -m bench --only shared` measures each); torchcaffe.tuning's table picks one per kind of
host, TORCHCAFFE_WAIT_POLICY overrides it, and a GOMP_SPINCOUNT or OMP_WAIT_POLICY of the
user's own is kept as it is.

numpy's OpenBLAS (and BVLC Caffe's) has its own pthreads pool that spins after BLAS calls; the
training and inference loops make none (torch does their GEMMs), so it is left alone.
"""

from __future__ import annotations

import os
import sys
import types
from collections.abc import MutableMapping

from . import options
from .waitpolicy import WAIT_POLICIES, policy_env

__all__ = ["WAIT_POLICIES", "policy_env", "libgomp_loaded", "before_torch", "wait_state"]

_state: dict = {}  # what before_torch did (wait_state describes it)


def libgomp_loaded() -> bool:
    """Whether an OpenMP runtime (libgomp, as torch ships it) is mapped into this process."""
    try:
        with open("/proc/self/maps") as f:
            return any("libgomp" in line for line in f)
    except OSError:
        return "torch" in sys.modules


def before_torch(environ: MutableMapping[str, str] | None = None) -> dict:
    """Set the wait policy and THP_MEM_ALLOC_ENABLE=1 (unless the user set them) in `environ`
    (default os.environ) when no OpenMP runtime is loaded yet; record what is in effect.
    Returns the state ({"policy", "source"}), also kept for wait_state()."""
    environ = os.environ if environ is None else environ
    opts = options.from_env(environ) if environ is not os.environ else options.current()
    torch_first = "torch" in sys.modules
    loaded = torch_first or libgomp_loaded()
    user = opts.user_wait_policy()
    if loaded:  # libgomp has read its variables already: nothing set here changes them
        first = "torch" if torch_first else "libgomp"
        state = {"policy": user or "libgomp", "source": f"{first} loaded before torchcaffe"}
    elif user:
        state = {"policy": user, "source": "user"}
    else:
        from . import tuning

        choice = tuning.choose(opts=opts)
        name = choice.wait_policy
        set_here = []
        for k, v in policy_env(name).items():
            if v is not None:
                environ[k] = v
                set_here.append(k)
        source = "TORCHCAFFE_WAIT_POLICY" if opts.wait_policy else f"{choice.rules.key} table"
        state = {"policy": name, "source": source, "set": set_here}
    if not loaded and "THP_MEM_ALLOC_ENABLE" not in environ:
        environ["THP_MEM_ALLOC_ENABLE"] = "1"
        state.setdefault("set", []).append("THP_MEM_ALLOC_ENABLE")
    if environ is os.environ:
        _state.clear()
        _state.update(state)
    return state


def wait_state() -> str:
    """The wait policy in effect and where it came from: 'spin10k' (the table's),
    'passive (TORCHCAFFE_WAIT_POLICY)', 'GOMP_SPINCOUNT=1000 (user)', 'libgomp (torch loaded
    before torchcaffe)'."""
    if not _state:
        return "unknown"
    src = _state["source"]
    return _state["policy"] + ("" if src.endswith(" table") else f" ({src})")


def set_by_torchcaffe() -> tuple:
    """The variables before_torch set in this process (not the user's)."""
    return tuple(_state.get("set", ()))


def after_torch(torch: types.ModuleType) -> None:
    """Apply the choices that need torch loaded: TORCHCAFFE_THREADS (torch.set_num_threads)."""
    threads = options.current().threads
    if threads is not None and torch.get_num_threads() != threads:
        torch.set_num_threads(threads)
