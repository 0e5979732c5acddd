"""Process memory settings for training: give freed activation memory back to the OS at once.

glibc serves allocations below its (self-raising, up to 32 MB) mmap threshold from the heap and
keeps freed heap memory around (trim threshold), so per-layer temporaries of a few MB leave
hundreds of MB resident between layers. Training nets call `return_freed_memory()`, which fixes
both thresholds at 1 MB: every larger tensor is mapped and unmapped on its own. Measured on
FCN-8s 500x500 training: peak RSS 3.57 -> 3.38 GB. No effect off glibc or with
TORCHCAFFE_MALLOPT=0.
"""

import ctypes
import ctypes.util
import os

_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
_done = []


def return_freed_memory(threshold=1 << 20):
    """mallopt(M_MMAP_THRESHOLD and M_TRIM_THRESHOLD, threshold bytes) once per process.
    Returns True when applied (glibc present, not disabled by TORCHCAFFE_MALLOPT=0)."""
    if _done:
        return _done[0]
    ok = False
    if os.environ.get("TORCHCAFFE_MALLOPT", "1") != "0":
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
