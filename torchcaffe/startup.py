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
import re
import sys

from . import options

__all__ = ["WAIT_POLICIES", "policy_env", "libgomp_loaded", "before_torch", "wait_state"]

# name -> the libgomp variables it sets (nothing set: libgomp's own 300000 spins)
WAIT_POLICIES = {
    "libgomp": {},
    "spin100k": {"GOMP_SPINCOUNT": "100000"},
    "spin10k": {"GOMP_SPINCOUNT": "10000"},
    "spin1k": {"GOMP_SPINCOUNT": "1000"},
    "passive": {"OMP_WAIT_POLICY": "PASSIVE"},
}
_LIBGOMP_VARS = ("GOMP_SPINCOUNT", "OMP_WAIT_POLICY")

_state: dict = {}


def policy_env(name: str) -> dict:
    """The variables of wait policy `name` (a WAIT_POLICIES key, or spin<N> / spin<N>k for any
    spin count), with None for the libgomp variables it leaves unset (a child's environment
    must drop them: child_env)."""
    env = dict.fromkeys(_LIBGOMP_VARS)
    if name in WAIT_POLICIES:
        env.update(WAIT_POLICIES[name])
        return env
    m = re.fullmatch(r"spin(\d+)(k?)", name)
    if not m:
        raise ValueError(
            f"wait policy {name!r}: use one of {', '.join(WAIT_POLICIES)} or spin<N>[k]"
        )
    env["GOMP_SPINCOUNT"] = str(int(m.group(1)) * (1000 if m.group(2) else 1))
    return env


def child_env(name: str, base=None) -> dict:
    """A copy of `base` (default os.environ) whose libgomp variables are policy `name`'s."""
    env = dict(os.environ if base is None else base)
    for k, v in policy_env(name).items():
        if v is None:
            env.pop(k, None)
        else:
            env[k] = v
    return env


def libgomp_loaded() -> bool:
    """Whether an OpenMP runtime (libgomp, as torch ships it) is mapped into this process."""
    try:
        with open("/proc/self/maps") as f:
            return any("libgomp" in line for line in f)
    except OSError:
        return "torch" in sys.modules


def before_torch(environ=None) -> dict:
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


def after_torch(torch) -> None:
    """Apply the choices that need torch loaded: TORCHCAFFE_THREADS (torch.set_num_threads)."""
    threads = options.current().threads
    if threads is not None and torch.get_num_threads() != threads:
        torch.set_num_threads(threads)
