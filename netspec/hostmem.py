"""How many more bytes this process can allocate on the host, and what limits it (no torch).

    free, why = hostmem.available()      # e.g. (2_147_483_648, "the address-space limit ...")

The least of:
- the address-space limit (RLIMIT_AS: `ulimit -v`, `prlimit --as`) minus what the process
  maps already (VmSize), and the data limit (RLIMIT_DATA: `ulimit -d`) minus VmData: past
  them every allocation fails, however much memory the machine has;
- the memory cgroup's limit minus its usage (cgroup v2 memory.max / memory.current, v1
  memory.limit_in_bytes / memory.usage_in_bytes), the least over the process's cgroup and
  its ancestors that are visible (a container's limit);
- MemAvailable + SwapFree of /proc/meminfo.
None when nothing can be read (not Linux). torchcaffe's memory budget and the pycaffe path's
check of a net's size both ask here.
"""

from __future__ import annotations

import os
import resource

CGROUP_ROOT = "/sys/fs/cgroup"
_UNLIMITED = 1 << 60


def human(n: float) -> str:
    """Bytes -> '4.8 GB' (decimal units, as `free -h` and disk tools print)."""
    for unit in ("B", "kB", "MB", "GB", "TB", "PB"):
        if n < 1000 or unit == "PB":
            return f"{n:.1f} {unit}" if unit != "B" else f"{int(n)} B"
        n /= 1000.0
    return f"{n:.1f} PB"


def _status():
    out = {}
    try:
        with open("/proc/self/status") as f:
            for line in f:
                key, _, rest = line.partition(":")
                parts = rest.split()
                if len(parts) == 2 and parts[1] == "kB" and parts[0].isdigit():
                    out[key] = int(parts[0]) * 1024
    except OSError:
        pass
    return out


def _meminfo():
    out = {}
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                key, _, rest = line.partition(":")
                parts = rest.split()
                if parts and parts[0].isdigit():
                    out[key] = int(parts[0]) * 1024
    except OSError:
        pass
    return out


def _read_int(path):
    try:
        with open(path) as f:
            text = f.read().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def rlimit_free() -> tuple[int, str] | None:
    """(bytes left under RLIMIT_AS or RLIMIT_DATA, which) for the tighter one, or None."""
    status = _status()
    best = None
    for limit, used, what in (
        (resource.RLIMIT_AS, "VmSize", "the address-space limit (ulimit -v / prlimit --as)"),
        (resource.RLIMIT_DATA, "VmData", "the data-size limit (ulimit -d)"),
    ):
        soft, _ = resource.getrlimit(limit)
        if soft == resource.RLIM_INFINITY or soft >= _UNLIMITED:
            continue
        free = max(soft - status.get(used, 0), 0)
        if best is None or free < best[0]:
            best = (free, what)
    return best


def _cgroup_dirs():
    """(limit file, usage file) pairs of the process's memory cgroup and its visible
    ancestors, v2 then v1."""
    pairs = []
    try:
        with open("/proc/self/cgroup") as f:
            lines = f.read().splitlines()
    except OSError:
        lines = []
    for line in lines:
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        _, controllers, rel = parts
        if controllers == "":
            roots, files = [CGROUP_ROOT, os.path.join(CGROUP_ROOT, "unified")], ("max", "current")
        elif "memory" in controllers.split(","):
            roots, files = (
                [os.path.join(CGROUP_ROOT, "memory")],
                ("limit_in_bytes", "usage_in_bytes"),
            )
        else:
            continue
        for root in roots:
            path = os.path.join(root, rel.lstrip("/"))
            while True:
                pairs.append(tuple(os.path.join(path, f"memory.{name}") for name in files))
                if os.path.normpath(path) == os.path.normpath(root):
                    break
                path = os.path.dirname(path)
    return pairs


def cgroup_free() -> int | None:
    """Bytes left under the tightest memory cgroup limit visible to this process, or None."""
    best = None
    for limit_file, usage_file in _cgroup_dirs():
        limit, used = _read_int(limit_file), _read_int(usage_file)
        if limit is None or used is None or limit >= _UNLIMITED:
            continue
        free = max(limit - used, 0)
        best = free if best is None else min(best, free)
    return best


def available() -> tuple[int | None, str]:
    """(bytes this process can still allocate, what sets that number) - see the module
    docstring; (None, "unknown") when nothing could be read."""
    candidates = []
    info = _meminfo()
    if "MemAvailable" in info:
        candidates.append((info["MemAvailable"] + info.get("SwapFree", 0), "free memory"))
    cg = cgroup_free()
    if cg is not None:
        candidates.append((cg, "the memory cgroup's limit"))
    rl = rlimit_free()
    if rl is not None:
        candidates.append(rl)
    if not candidates:
        return None, "unknown"
    return min(candidates, key=lambda c: c[0])
