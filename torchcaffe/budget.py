"""Refuse allocations the machine cannot hold before making them, naming the layer or blob.

A 20000x20000 input or a num_output of 10^9 would otherwise run the allocator dry deep inside
torch (minutes of swapping, then a bare RuntimeError or the OOM killer). The Net checks each
parameter blob before filling it, each blob before zero-filling it, the tops of each layer
before its forward (size-changing ones by a shape-only pass, those of the bottom's shape
unless computed in place), and each bottom a convolution copies into channels_last layout.
Only allocations of 64 MB or more are checked. The limit is the memory free now: on the CPU
the least of the address-space and data limits (ulimit -v / -d, minus what the process maps),
the memory cgroup's limit and MemAvailable + free swap (netspec.hostmem); on CUDA the device's
free memory plus what torch's cache holds unused.
TORCHCAFFE_MEMORY_LIMIT=<bytes> caps one allocation at that many bytes instead; 0 turns the
check off.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import torch

from caffeio import layertypes as lt
from netspec import hostmem

from . import options as _options
from .errors import MemoryBudgetError

ENV = "TORCHCAFFE_MEMORY_LIMIT"
MIN_CHECKED = 64 << 20
HINT = "use a smaller input (solvers.infer --tile for big images) or another device"
# types whose tops have bottom 0's shape (a Split's tops share its memory)
SAME_SHAPE = frozenset(n for n, row in lt.TYPES.items() if row.same_shape) - {"Split"}


human = hostmem.human  # bytes -> '4.8 GB'


def free_bytes(device: torch.device) -> int | None:
    """Bytes that can still be allocated on `device` (torch.device), or None when unknown."""
    return _free(device)[0]


def _free(device):
    """(free bytes or None, what sets the number)."""
    limit = _options.current().memory_limit
    if limit is not None:
        return (limit or None), f"{ENV}"
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        cached = torch.cuda.memory_reserved(device) - torch.cuda.memory_allocated(device)
        return free + cached, "free GPU memory"
    if device.type != "cpu":
        return None, "unknown"
    return hostmem.available()


def check(nbytes: int, what: str, device: torch.device | str, hint: str) -> None:
    """Raise MemoryBudgetError when `nbytes` (an allocation about to be made on `device`) is
    more than is free: '<what> needs <size> but only <free> is free (<what limits it>): <hint>'."""
    if nbytes < MIN_CHECKED:
        return
    free, why = _free(torch.device(device))
    if free is not None and nbytes > free:
        raise MemoryBudgetError(
            f"{what} needs {human(nbytes)} but only {human(free)} of memory is free on "
            f"{device} (set by {why}): {hint} ({ENV}=<bytes> sets the limit, 0 turns this "
            "check off)"
        )


def check_layout_copies(
    xs: Sequence[torch.Tensor], names: Sequence[str], where: str, device: torch.device
) -> None:
    """Before 4-D bottoms `xs` (blob `names`) are copied into channels_last layout for a
    convolution: each copy that will be made checked as one allocation."""
    for x, name in zip(xs, names):
        if x.dim() == 4 and not x.is_contiguous(memory_format=torch.channels_last):
            check(
                tensor_bytes(x.shape),
                f"{where}: the channels_last copy of bottom '{name}' {tuple(x.shape)}",
                device,
                "use a smaller input (solvers.infer --tile for big images), or "
                "TORCHCAFFE_CHANNELS_LAST=0",
            )


def check_new_tops(
    x: torch.Tensor, tops: Sequence[str], bottoms: Sequence[str], where: str, device: torch.device
) -> None:
    """Before a layer whose tops have the shape of its bottom `x` writes them: each top not
    computed in place (its name is not a bottom's) is a new allocation of x's size."""
    new = [t for t in tops if t not in bottoms]
    if new:
        names = ", ".join(f"'{t}'" for t in new)
        check(
            tensor_bytes(x.shape) * len(new), f"{where}: top {names} {tuple(x.shape)}", device, HINT
        )


def tensor_bytes(shape: Iterable[int], itemsize: int = 4) -> int:
    """Bytes of a float32 (by default) tensor of `shape`; Python ints, so never overflowing."""
    n = itemsize
    for d in shape:
        n *= int(d)
    return n
