"""Process memory settings for training: fixed glibc malloc thresholds instead of adaptive ones.

glibc maps allocations above its mmap threshold on their own (fresh pages every time: the
kernel zeroes them on first touch, 2 MB at a time with huge pages) and serves smaller ones from
its heap (reused without faults). The threshold adapts upwards as large blocks are freed, and the
trim threshold follows it, so how much freed memory stays resident drifts with the allocation
history. Training nets call `fix_malloc_thresholds()`: both thresholds fixed at 32 MB (the most
glibc accepts). FCN-8s at 500x500 then maps only its conv1/conv2-sized maps freshly each
iteration and reuses the heap for the rest. Measured on the 2-core VM (training iteration,
fused SGD): 1 MB thresholds 8.0-8.4 s and 2.76 GB peak RSS; 32 MB 7.2-7.4 s and 3.1-3.2 GB; no
mmap at all 6.3-6.8 s but 3.84 GB (heap fragmentation). No effect off glibc or with
TORCHCAFFE_MALLOPT=0; TORCHCAFFE_MALLOPT=<bytes> picks another threshold (1048576 = the
leanest peak).
"""

from __future__ import annotations

import ctypes
import ctypes.util

from . import options as _options

_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
THRESHOLD = _options.MALLOPT_DEFAULT  # glibc refuses mmap thresholds above 32 MB on 64-bit
_done = []


def threshold_from_env(value: str) -> int:
    """Bytes for a TORCHCAFFE_MALLOPT value: "1" = 32 MB, N > 1 = N bytes (0: glibc's own)."""
    return _options.VARS["TORCHCAFFE_MALLOPT"].parse("TORCHCAFFE_MALLOPT", value) or THRESHOLD


def fix_malloc_thresholds(threshold: int | None = None) -> bool:
    """mallopt(M_MMAP_THRESHOLD and M_TRIM_THRESHOLD, threshold bytes; default 32 MB or
    TORCHCAFFE_MALLOPT) once per process. Returns True when applied (glibc present, not
    disabled by TORCHCAFFE_MALLOPT=0)."""
    if _done:
        return _done[0]
    ok = False
    setting = _options.current().mallopt
    if setting:
        if threshold is None:
            threshold = setting
        try:
            libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
            mallopt = libc.mallopt
        except (OSError, AttributeError):
            mallopt = None
        if mallopt is not None:
            ok = bool(mallopt(_M_MMAP_THRESHOLD, int(threshold)))
            ok = bool(mallopt(_M_TRIM_THRESHOLD, int(threshold))) and ok
    _done.append(ok)
    return ok
