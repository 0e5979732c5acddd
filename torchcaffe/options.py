"""torchcaffe's runtime options: every environment variable it reads, parsed here and nowhere else.

Each option is a user override of a default. The default comes from the device (CPU or CUDA)
or from the table of the host's kind of CPU (torchcaffe.tuning); an environment variable
overrides it for the whole process; code may override both (`set_defaults`, what a
command-line flag such as --fast uses); a keyword argument of `Net(...)` / `SGDSolver(...)`
overrides everything for that object. `current()` is the process's options: the environment
parsed once and again only when one of its variables changes (tests and scripts that set a
variable between nets see it), with `set_defaults` applied on top. Torch-free: torchcaffe reads
it before torch loads (torchcaffe.startup).

    python -m torchcaffe      # every variable, its value here and what it does; the host's choices

Variables read by the libraries themselves (torch, libgomp, oneDNN, MKL, OpenBLAS, cuBLAS) are
listed too: torchcaffe reads them to know what those libraries will do (the ISA they run, the
wait policy the user chose), and sets some before torch loads (startup).
"""

from __future__ import annotations

import dataclasses
import os
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .tuning_table import TABLE
from .waitpolicy import WAIT_POLICIES, policy_env

__all__ = ["Options", "VARIABLES", "from_env", "current", "set_defaults", "reset_defaults"]

# Variables that the CPU's kernel libraries read to cap the instruction set they dispatch to.
# torchcaffe reads them to know which ISA runs (torchcaffe.cpuinfo); it never sets them.
ISA_VARIABLES = (
    "ATEN_CPU_CAPABILITY",  # aten's own vectorised kernels: default | avx2 | avx512
    "ONEDNN_MAX_CPU_ISA",  # oneDNN (convolutions, deconvolutions): SSE41 .. AVX2 .. AVX512_CORE..
    "DNNL_MAX_CPU_ISA",  # its older name (ONEDNN_ wins when both are set)
    "MKL_ENABLE_INSTRUCTIONS",  # MKL (torch's GEMMs) on Intel CPUs: SSE4_2 | AVX | AVX2 | AVX512
    "OPENBLAS_CORETYPE",  # OpenBLAS (numpy's; BVLC Caffe's): Haswell, SkylakeX, Zen, ...
)


def _flag(name, value):
    v = value.strip().lower()
    if v in ("1", "true", "yes", "on"):
        return True
    if v in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"{name}={value!r}: use 1 (on) or 0 (off)")


def _megabytes(name, value):
    try:
        mb = float(value)
    except ValueError:
        mb = -1.0
    if not mb >= 0 or mb == float("inf"):
        raise ValueError(f"{name}={value!r}: use a size in MB (a number >= 0, e.g. 8 or 0.5)")
    return mb


def _positive_int(name, value):
    v = value.strip()
    if not v.isdigit() or int(v) < 1:
        raise ValueError(f"{name}={value!r}: use a whole number >= 1")
    return int(v)


def _log_level(name, value):
    v = value.strip()
    if v not in ("0", "1", "2", "3"):
        raise ValueError(f"{name}={value!r}: use 0 (INFO), 1 (WARNING), 2 (ERROR) or 3 (FATAL)")
    return int(v)


def _winograd(name, value):
    v = value.strip()
    if v not in ("0", "2", "4"):
        raise ValueError(f"{name}={value!r}: use 0 (off), 2 (F(2x2), exact) or 4 (F(4x4), fast)")
    return int(v)


MALLOPT_DEFAULT = 32 << 20  # glibc refuses mmap thresholds above HEAP_MAX_SIZE / 2 (32 MB)


def _mallopt(name, value):
    """0 = glibc's adaptive defaults, 1 = 32 MB, N > 1 = N bytes."""
    v = value.strip()
    if not v.isdigit():
        raise ValueError(f"{name}={value!r}: use 0 (glibc defaults), 1 (32 MB) or a byte count")
    n = int(v)
    return 0 if n == 0 else (MALLOPT_DEFAULT if n == 1 else n)


def _bytes_or_off(name, value):
    v = value.strip()
    if not v.isdigit():
        raise ValueError(f"{name}={value!r}: use a byte count (0 turns the check off)")
    return int(v)


def _tuning_key(name, value):
    v = value.strip().lower()
    if v not in TABLE:
        raise ValueError(f"{name}={value!r}: use one of {', '.join(TABLE)}")
    return v


def _wait_policy(name, value):
    v = value.strip().lower()
    try:
        policy_env(v)
    except ValueError:
        raise ValueError(
            f"{name}={value!r}: use one of {', '.join(WAIT_POLICIES)} or spin<N>[k]"
        ) from None
    return v


def _weight_grad(name, value):
    v = value.strip().lower()
    if v not in ("aten", "winograd", "gemm"):
        raise ValueError(f"{name}={value!r}: use aten, winograd or gemm")
    return v


def _text(name, value):
    return value.strip()


@dataclass(frozen=True)
class Var:
    """One environment variable: the Options field it sets (None: read for information only),
    its parser, and what it does."""

    name: str
    field: str | None
    parse: object
    doc: str


# Every variable torchcaffe reads, in the order `python -m torchcaffe` lists them.
VARIABLES = (
    Var("TORCHCAFFE_FAST", "fast", _flag,
        "1: the fastest exact-enough inference (Winograd F(4x4) and F(2x2, 7x7), channels_last)"),
    Var("TORCHCAFFE_WINOGRAD", "winograd", _winograd,
        "3x3 inference convolutions: 0 direct, 2 F(2x2) where it pays (CPU default), 4 F(4x4)"),
    Var("TORCHCAFFE_SKIP_CONST", "skip_const", _flag,
        "constant-area skipping (default: on for CPU nets, off on CUDA)"),
    Var("TORCHCAFFE_CHANNELS_LAST", "channels_last", _flag,
        "NHWC maps into convolutions (default: the host table's, on for every CPU; off on CUDA)"),
    Var("TORCHCAFFE_WEIGHT_GRAD", "weight_grad", _weight_grad,
        "training's weight gradients: aten, winograd (F(3x3, 2x2) where the host table "
        "says) or gemm (that, the other NHWC ones by shifted GEMMs); default: the table's"),
    Var("TORCHCAFFE_BUFFERS", "buffers", _flag,
        "persistent grow-only buffers and banded convolutions for CPU nets (default 1)"),
    Var("TORCHCAFFE_BUFFERS_MIN_MB", "buffers_min_mb", _megabytes,
        "smallest map kept in a persistent buffer, MB (default 4)"),
    Var("TORCHCAFFE_BAND_MB", "band_mb", _megabytes,
        "output bytes of one row band of a large convolution, MB (default: the host table's)"),
    Var("TORCHCAFFE_WINOGRAD_BAND_MB", "winograd_band_mb", _megabytes,
        "transformed tiles per band of a Winograd call, MB (default: the host table's)"),
    Var("TORCHCAFFE_TUNING", "tuning", _tuning_key,
        "use another host kind's row of torchcaffe.tuning's table (Winograd rules, bands, ...)"),
    Var("TORCHCAFFE_THREADS", "threads", _positive_int,
        "torch's intra-op threads, set when torchcaffe is imported (default: torch's own)"),
    Var("TORCHCAFFE_WAIT_POLICY", "wait_policy", _wait_policy,
        "OpenMP wait policy set before torch loads (default: the host table's); see startup"),
    Var("TORCHCAFFE_FUSED_SGD", "fused_sgd", _flag,
        "SGD accumulates gradients straight into the momentum history (default 1)"),
    Var("TORCHCAFFE_MALLOPT", "mallopt", _mallopt,
        "glibc mmap/trim thresholds of nets: 0 glibc's adaptive ones, 1 32 MB (default), N bytes"),
    Var("TORCHCAFFE_MEMORY_LIMIT", "memory_limit", _bytes_or_off,
        "largest single allocation in bytes (default: the memory free now; 0 turns it off)"),
    Var("TORCHCAFFE_TF32", "tf32", _flag,
        "CUDA: TF32 convolutions and matrix products (default 0)"),
    Var("TORCHCAFFE_DETERMINISTIC", "deterministic", _flag,
        "CUDA: deterministic cuDNN/torch algorithms, bit-exact resumes (default 0)"),
    Var("THP_MEM_ALLOC_ENABLE", "thp", _flag,
        "torch: transparent huge pages for large CPU tensors; torchcaffe sets 1 when unset"),
    Var("GOMP_SPINCOUNT", "gomp_spincount", _text,
        "libgomp (torch's OpenMP): spins before a waiting thread sleeps; yours is kept"),
    Var("OMP_WAIT_POLICY", "omp_wait_policy", _text,
        "libgomp: ACTIVE (spin) or PASSIVE (sleep at once); yours is kept"),
    Var("GLOG_minloglevel", "glog_minloglevel", _log_level,
        "least severity torchcaffe.log writes (glog's: 0 INFO .. 3 FATAL; default 0)"),
    Var("OMP_NUM_THREADS", None, _text, "libgomp and torch: threads per process"),
    Var("CUBLAS_WORKSPACE_CONFIG", None, _text,
        "cuBLAS: set to :4096:8 by TORCHCAFFE_DETERMINISTIC=1 when unset"),
) + tuple(
    Var(n, None, _text, "caps the ISA of a kernel library (torchcaffe.cpuinfo)")
    for n in ISA_VARIABLES
)  # fmt: skip

VARS = {v.name: v for v in VARIABLES}


@dataclass(frozen=True)
class Options:
    """The process's choices; None means "the default" (device or host table), decided where
    the choice is made (Net, Solver, torchcaffe.tuning)."""

    fast: bool = False  # TORCHCAFFE_FAST: fast inference mode (Net(fast=))
    winograd: int | None = None  # TORCHCAFFE_WINOGRAD: 0 / 2 / 4 (Net(winograd=))
    skip_const: bool | None = None  # TORCHCAFFE_SKIP_CONST (Net(skip_const=))
    channels_last: bool | None = None  # TORCHCAFFE_CHANNELS_LAST (Net(channels_last=))
    weight_grad: str | None = None  # TORCHCAFFE_WEIGHT_GRAD: aten/winograd/gemm; None: table
    buffers: bool = True  # TORCHCAFFE_BUFFERS (Net(buffers=))
    buffers_min_mb: float = 4.0  # TORCHCAFFE_BUFFERS_MIN_MB (Net(buffers_min_mb=))
    band_mb: float | None = None  # TORCHCAFFE_BAND_MB (Net(band_mb=)); None: host table
    winograd_band_mb: float | None = None  # TORCHCAFFE_WINOGRAD_BAND_MB; None: host table
    tuning: str | None = None  # TORCHCAFFE_TUNING: a torchcaffe.tuning.TABLE key
    threads: int | None = None  # TORCHCAFFE_THREADS: torch.set_num_threads at import
    wait_policy: str | None = None  # TORCHCAFFE_WAIT_POLICY: a waitpolicy.WAIT_POLICIES key
    fused_sgd: bool = True  # TORCHCAFFE_FUSED_SGD (SGDSolver(fuse_sgd=))
    mallopt: int = MALLOPT_DEFAULT  # TORCHCAFFE_MALLOPT in bytes; 0: glibc's own
    memory_limit: int | None = None  # TORCHCAFFE_MEMORY_LIMIT; None: free memory; 0: off
    tf32: bool = False  # TORCHCAFFE_TF32 (CUDA)
    deterministic: bool = False  # TORCHCAFFE_DETERMINISTIC (CUDA)
    thp: bool | None = None  # THP_MEM_ALLOC_ENABLE as the user set it (None: unset)
    gomp_spincount: str | None = None  # GOMP_SPINCOUNT as the user set it
    omp_wait_policy: str | None = None  # OMP_WAIT_POLICY as the user set it
    glog_minloglevel: int = 0  # GLOG_minloglevel: torchcaffe.log's threshold (init_log wins)
    isa_caps: dict = field(default_factory=dict)  # ISA_VARIABLES that are set -> their values
    set_by: tuple = ()  # names of the variables (and "code") that set fields above

    def user_wait_policy(self) -> str | None:
        """'GOMP_SPINCOUNT=..'/'OMP_WAIT_POLICY=..' when the user set libgomp's own variables
        (torchcaffe then keeps them), else None."""
        pairs = (("OMP_WAIT_POLICY", self.omp_wait_policy), ("GOMP_SPINCOUNT", self.gomp_spincount))
        return " ".join(f"{n}={v}" for n, v in pairs if v is not None) or None


_NAMES = tuple(VARS)


def _snapshot(environ):
    return tuple(map(environ.get, _NAMES))


def from_env(environ: Mapping[str, str] | None = None) -> Options:
    """Options from `environ` (default os.environ). ValueError naming the variable and the
    values it takes for a bad value; a warning for a TORCHCAFFE_* variable torchcaffe does not
    read (a typo would otherwise be silently ignored)."""
    environ = os.environ if environ is None else environ
    values, set_by, caps = {}, [], {}
    for var in VARIABLES:
        raw = environ.get(var.name)
        if raw is None or (raw.strip() == "" and var.name.startswith("TORCHCAFFE_")):
            continue
        if var.name in ISA_VARIABLES:
            caps[var.name] = raw.strip()
            continue
        if var.field is None:
            continue
        values[var.field] = var.parse(var.name, raw)
        set_by.append(var.name)
    unknown = sorted(k for k in environ if k.startswith("TORCHCAFFE_") and k not in VARS)
    if unknown:
        known = ", ".join(v.name for v in VARIABLES if v.name.startswith("TORCHCAFFE_"))
        warnings.warn(
            f"{', '.join(unknown)}: not read by torchcaffe (a typo?); it reads {known}",
            stacklevel=3,
        )
    return Options(**values, isa_caps=caps, set_by=tuple(set_by))


_cache: dict = {}
_code_defaults: dict = {}


def current() -> Options:
    """The process's options: os.environ parsed (again only when one of its variables changed),
    with set_defaults' values on top."""
    key = (_snapshot(os.environ), tuple(sorted(_code_defaults.items())))
    opts = _cache.get(key)
    if opts is None:
        opts = from_env(os.environ)
        if _code_defaults:
            opts = dataclasses.replace(
                opts, **_code_defaults, set_by=opts.set_by + ("code",)
            )  # fmt: skip
        _cache.clear()
        _cache[key] = opts
    return opts


def set_defaults(**fields: Any) -> dict:
    """Override options for everything built afterwards in this process (a command-line flag's
    way: `set_defaults(fast=True)`), above the environment, below keyword arguments. Returns
    the previous code defaults (pass them to `reset_defaults` to restore)."""
    names = {f.name for f in dataclasses.fields(Options)} - {"isa_caps", "set_by"}
    bad = sorted(set(fields) - names)
    if bad:
        raise TypeError(f"set_defaults: unknown option(s) {bad}; options are {sorted(names)}")
    before = dict(_code_defaults)
    _code_defaults.update(fields)
    return before


def reset_defaults(previous: Mapping[str, Any] | None = None) -> None:
    """Drop set_defaults' overrides (or restore `previous`, what set_defaults returned)."""
    _code_defaults.clear()
    _code_defaults.update(previous or {})


def report(set_by_torchcaffe: Iterable[str] = ()) -> list:
    """Lines: every variable, its value in this environment and what it does (the values
    torchcaffe set itself, `set_by_torchcaffe`, are marked)."""
    width = max(len(v.name) for v in VARIABLES)
    lines = []
    for v in VARIABLES:
        value = os.environ.get(v.name)
        shown = "(unset)" if value is None else repr(value)
        if v.name in set_by_torchcaffe:
            shown += " (torchcaffe's)"
        lines.append(f"{v.name:<{width}}  {shown:<22}  {v.doc}")
    return lines
