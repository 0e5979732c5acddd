"""Refuse allocations the machine cannot hold before making them, naming the layer or blob.

A 20000x20000 input or a num_output of 10^9 would otherwise run the allocator dry deep inside
torch (minutes of swapping, then a bare RuntimeError or the OOM killer). The Net checks each
parameter blob before filling it, each blob before zero-filling it, and each size-changing
layer's tops (by a shape-only pass) before its forward. Only allocations of 64 MB or more are
checked. The limit is the memory free now: on the CPU MemAvailable + free swap, lowered by a
cgroup limit; on CUDA the device's free memory plus what torch's cache holds unused.
TORCHCAFFE_MEMORY_LIMIT=<bytes> caps one allocation at that many bytes instead; 0 turns the
check off.
"""

import torch

from . import options as _options
from .errors import MemoryBudgetError

ENV = "TORCHCAFFE_MEMORY_LIMIT"
MIN_CHECKED = 64 << 20


def human(n):
    """Bytes -> '4.8 GB' (decimal units, as `free -h` and disk tools print)."""
    for unit in ("B", "kB", "MB", "GB", "TB", "PB"):
        if n < 1000 or unit == "PB":
            return f"{n:.1f} {unit}" if unit != "B" else f"{int(n)} B"
        n /= 1000.0
    return f"{n:.1f} PB"


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


def _cgroup_free():
    for limit, usage in (
        ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),
        (
            "/sys/fs/cgroup/memory/memory.limit_in_bytes",
            "/sys/fs/cgroup/memory/memory.usage_in_bytes",
        ),
    ):
        lim, used = _read_int(limit), _read_int(usage)
        if lim is not None and used is not None and lim < 1 << 60:
            return max(lim - used, 0)
    return None


def free_bytes(device):
    """Bytes that can still be allocated on `device` (torch.device), or None when unknown."""
    limit = _options.current().memory_limit
    if limit is not None:
        return limit or None
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return free + torch.cuda.memory_reserved(device) - torch.cuda.memory_allocated(device)
    if device.type != "cpu":
        return None
    info = _meminfo()
    free = info.get("MemAvailable")
    if free is not None:
        free += info.get("SwapFree", 0)
    cg = _cgroup_free()
    if cg is not None:
        free = cg if free is None else min(free, cg)
    return free


def check(nbytes, what, device, hint):
    """Raise MemoryBudgetError when `nbytes` (an allocation about to be made on `device`) is
    more than is free: '<what> needs <size> but only <free> is free: <hint>'."""
    if nbytes < MIN_CHECKED:
        return
    free = free_bytes(torch.device(device))
    if free is not None and nbytes > free:
        raise MemoryBudgetError(
            f"{what} needs {human(nbytes)} but only {human(free)} of memory is free on "
            f"{device}: {hint} ({ENV}=<bytes> sets the limit, 0 turns this check off)"
        )


def tensor_bytes(shape, itemsize=4):
    """Bytes of a float32 (by default) tensor of `shape`; Python ints, so never overflowing."""
    n = itemsize
    for d in shape:
        n *= int(d)
    return n
