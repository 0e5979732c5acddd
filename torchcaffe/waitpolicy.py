"""OpenMP wait policies by name: what each sets in libgomp's variables (GOMP_SPINCOUNT,
OMP_WAIT_POLICY). Names only (imports nothing of torchcaffe): torchcaffe.startup applies them
before libgomp loads, torchcaffe.options checks TORCHCAFFE_WAIT_POLICY against them, bench
starts children under each.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping

__all__ = ["WAIT_POLICIES", "policy_env", "child_env"]

# name -> the libgomp variables it sets (nothing set: libgomp's own 300000 spins)
WAIT_POLICIES = {
    "libgomp": {},
    "spin100k": {"GOMP_SPINCOUNT": "100000"},
    "spin10k": {"GOMP_SPINCOUNT": "10000"},
    "spin2k": {"GOMP_SPINCOUNT": "2000"},
    "spin1k": {"GOMP_SPINCOUNT": "1000"},
    "passive": {"OMP_WAIT_POLICY": "PASSIVE"},
}
_LIBGOMP_VARS = ("GOMP_SPINCOUNT", "OMP_WAIT_POLICY")


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


def child_env(name: str, base: Mapping[str, str] | None = None) -> dict:
    """A copy of `base` (default os.environ) whose libgomp variables are policy `name`'s."""
    env = dict(os.environ if base is None else base)
    for k, v in policy_env(name).items():
        if v is None:
            env.pop(k, None)
        else:
            env[k] = v
    return env
