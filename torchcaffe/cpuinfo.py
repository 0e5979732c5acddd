"""The host CPU: vendor, model, instruction set (native, and as the kernel libraries are capped),
cores and caches. Read once from /proc/cpuinfo and sysfs (torch-free, ~1 ms), cached.

Which instruction set runs is not only the CPU's: the libraries behind torch's CPU kernels each
take a variable that caps it (torchcaffe.options.ISA_VARIABLES), which is how an AVX2-only host
is emulated on an AVX-512 one (`AVX2_EMULATION`). Observed with torch 2.13.0+cpu (the wheel:
aten's own kernels, oneDNN 3.12 for convolutions, MKL 2024.2 statically linked for GEMMs, its own
libgomp; numpy's and BVLC Caffe's OpenBLAS apart):

- aten: ATEN_CPU_CAPABILITY=avx2 -> torch.backends.cpu.get_cpu_capability() == "AVX2".
- oneDNN: ONEDNN_MAX_CPU_ISA=AVX2 (or DNNL_MAX_CPU_ISA) -> ONEDNN_VERBOSE=1 prints
  "isa:Intel AVX2" and runs brg_conv_fwd:avx2 (natively, on AVX-512: "Intel AVX-512 with Intel
  DL Boost and bfloat16 support").
- MKL on Intel CPUs: MKL_ENABLE_INSTRUCTIONS=AVX2. On AMD CPUs MKL ignores it (and the
  removed MKL_DEBUG_CPU_TYPE): its SGEMM runs mkl_blas_def_sgemm_kernel_0_zen (ymm registers:
  AVX2) whatever the CPU has, so on an AVX-512 EPYC the GEMMs are AVX2 while oneDNN is AVX-512.
- OpenBLAS (numpy's scipy-openblas, Debian's for BVLC Caffe): OPENBLAS_CORETYPE=Haswell ->
  openblas_get_corename() "Haswell" (natively "SkylakeX" / "Cooperlake" on this EPYC).
"""

from __future__ import annotations

import functools
import os
import re
import sys
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field

__all__ = ["CPU", "detect", "host", "host_tag", "AVX2_EMULATION", "LEVELS"]

# Instruction-set levels, lowest first; "avx512" = AVX-512 F/BW/VL/DQ (oneDNN's avx512_core).
LEVELS = ("sse", "avx", "avx2", "avx512")

# The variables that make an AVX-512 host run as an AVX2-only one, each observed above.
AVX2_EMULATION = {
    "ATEN_CPU_CAPABILITY": "avx2",
    "ONEDNN_MAX_CPU_ISA": "AVX2",
    "MKL_ENABLE_INSTRUCTIONS": "AVX2",
    "OPENBLAS_CORETYPE": "Haswell",
}

# Feature flags recorded (Linux /proc/cpuinfo names)
FEATURES = (
    "avx", "avx2", "fma", "avx512f", "avx512dq", "avx512bw", "avx512vl", "avx512_vnni",
    "avx512_bf16", "avx512_fp16", "amx_tile", "amx_bf16", "amx_int8",
)  # fmt: skip


def _cap_aten(v):
    return {"default": "sse", "avx2": "avx2", "avx512": "avx512"}.get(v.lower())


def _cap_onednn(v):
    v = v.upper()
    if v in ("ALL", "DEFAULT", ""):
        return None
    if v.startswith("SSE"):
        return "sse"
    if v.startswith("AVX2"):
        return "avx2"
    if v == "AVX":
        return "avx"
    if v.startswith(("AVX512", "AVX10")) or "AMX" in v:
        return "avx512"
    return None


def _cap_mkl(v):
    v = v.upper()
    if v.startswith("SSE"):
        return "sse"
    if v.startswith("AVX512"):
        return "avx512"
    return {"AVX": "avx", "AVX2": "avx2"}.get(v)


def _cap_openblas(v):
    v = v.lower()
    if v in ("haswell", "zen", "skylake", "cooperlake_avx2"):
        return "avx2"
    if v in ("skylakex", "cooperlake", "sapphirerapids"):
        return "avx512"
    if v in ("sandybridge", "bulldozer", "piledriver", "steamroller", "excavator"):
        return "avx"
    if v in ("nehalem", "core2", "penryn", "dunnington", "prescott", "atom", "barcelona"):
        return "sse"
    return None


# library -> (variables in order of precedence, parser)
_CAPS = {
    "aten": (("ATEN_CPU_CAPABILITY",), _cap_aten),
    "onednn": (("ONEDNN_MAX_CPU_ISA", "DNNL_MAX_CPU_ISA"), _cap_onednn),
    "mkl": (("MKL_ENABLE_INSTRUCTIONS",), _cap_mkl),
    "openblas": (("OPENBLAS_CORETYPE",), _cap_openblas),
}
# The libraries torchcaffe's kernels run on (OpenBLAS is numpy's and Caffe's, not torch's)
TORCH_LIBRARIES = ("aten", "onednn", "mkl")


@dataclass(frozen=True)
class CPU:
    """What torchcaffe knows of the host CPU. `isa`: the level torch's kernels run at (the
    lowest of aten's, oneDNN's and MKL's, each the CPU's capped by its variable); `native_isa`:
    the CPU's own; `emulated_by`: the variables that lowered a library below the CPU's."""

    vendor: str  # "intel", "amd" or the raw vendor_id lower-cased
    model: str  # /proc/cpuinfo "model name"
    family: int | None
    model_number: int | None
    native_isa: str
    isa: str
    libraries: dict  # library -> level it runs at
    features: tuple  # the FEATURES this CPU has
    emulated_by: dict  # variable -> value, for caps that lowered a library
    cores: int  # CPUs this process may run on (affinity)
    physical_cores: int  # distinct (socket, core) among them
    caches: dict = field(default_factory=dict)  # "L1d", "L2", "L3" -> bytes per instance

    @property
    def emulated(self) -> bool:
        return bool(self.emulated_by)

    @property
    def tag(self) -> str:
        return host_tag(self)

    def as_dict(self) -> dict:
        d = asdict(self)
        d["features"] = list(self.features)
        d["emulated"] = self.emulated
        d["tag"] = self.tag
        return d

    def short(self) -> str:
        """'AMD EPYC, avx512, 2 cores' / 'AMD EPYC, avx2 (emulated), 2 cores'."""
        isa = self.isa + (" (emulated)" if self.emulated else "")
        return f"{self.model}, {isa}, {self.cores} cores"


def _level(flags):
    if {"avx512f", "avx512bw", "avx512vl", "avx512dq"} <= flags:
        return "avx512"
    if {"avx2", "fma"} <= flags:
        return "avx2"
    if "avx" in flags:
        return "avx"
    return "sse"


def _lower(a, b):
    return a if b is None or LEVELS.index(a) <= LEVELS.index(b) else b


def _parse_cpuinfo(text):
    """First processor's fields, and the (physical id, core id) of every processor."""
    procs, cur = [], {}
    for line in text.splitlines():
        if not line.strip():
            if cur:
                procs.append(cur)
            cur = {}
            continue
        k, _, v = line.partition(":")
        cur[k.strip()] = v.strip()
    if cur:
        procs.append(cur)
    return procs


def _int(v):
    try:
        return int(v)
    except (TypeError, ValueError):
        return None


def _size(text):
    m = re.fullmatch(r"\s*(\d+)\s*([KMG]?)B?\s*", text or "", re.I)
    if not m:
        return None
    return int(m.group(1)) << {"": 0, "K": 10, "M": 20, "G": 30}[m.group(2).upper()]


def _caches(sysfs):
    out = {}
    base = os.path.join(sysfs, "devices/system/cpu/cpu0/cache")
    try:
        entries = sorted(os.listdir(base))
    except OSError:
        return out
    for e in entries:
        if not e.startswith("index"):
            continue
        try:
            with open(os.path.join(base, e, "level")) as f:
                level = f.read().strip()
            with open(os.path.join(base, e, "type")) as f:
                kind = f.read().strip()
            with open(os.path.join(base, e, "size")) as f:
                size = _size(f.read())
        except OSError:
            continue
        if kind == "Instruction" or size is None:
            continue
        out[f"L{level}" + ("d" if kind == "Data" else "")] = size
    return out


def _read_cpuinfo():
    try:
        with open("/proc/cpuinfo") as f:
            return f.read()
    except OSError:
        return ""


def _allowed_cpus(affinity):
    """The CPU ids this process may use: `affinity`, else os.sched_getaffinity (else all)."""
    if affinity is None:
        try:
            affinity = os.sched_getaffinity(0)
        except (AttributeError, OSError):
            affinity = range(os.cpu_count() or 1)
    return set(affinity)


def _library_levels(native, vendor, caps):
    """(library -> level, variable -> value that lowered it): each library at the CPU's
    level capped by its first variable set in `caps`; MKL at AVX2 at most on non-Intel CPUs."""
    libraries, emulated_by = {}, {}
    for lib, (names, parse) in _CAPS.items():
        level = native
        for name in names:
            if name in caps:
                cap = parse(caps[name])
                if cap is not None and LEVELS.index(cap) < LEVELS.index(native):
                    emulated_by[name] = caps[name]
                level = _lower(native, cap)
                break
        if lib == "mkl" and vendor != "intel":
            level = _lower(level, "avx2")  # MKL's Zen/generic paths: AVX2 at most, no cap read
            emulated_by.pop("MKL_ENABLE_INSTRUCTIONS", None)
        libraries[lib] = level
    return libraries, emulated_by


def _take_aten(aten, native, libraries, emulated_by):
    """torch's own answer for aten's level beats the variable (set after torch loaded?)."""
    a = str(aten).upper()
    level = {"DEFAULT": "sse", "AVX2": "avx2"}.get(a, "avx512" if "AVX512" in a else native)
    libraries["aten"] = _lower(native, level)
    if libraries["aten"] == native:
        emulated_by.pop("ATEN_CPU_CAPABILITY", None)


def detect(
    caps: Mapping[str, str] | None = None,
    cpuinfo_text: str | None = None,
    sysfs: str = "/sys",
    affinity: Iterable[int] | None = None,
    aten: str | None = None,
) -> CPU:
    """The CPU described by `cpuinfo_text` (default: /proc/cpuinfo) with the library caps
    `caps` ({variable: value}, default: options.current().isa_caps). `affinity`: the CPU ids
    this process may use (default: os.sched_getaffinity). `aten`: torch's own answer
    (torch.backends.cpu.get_cpu_capability(), taken when torch is loaded) for aten's level."""
    if caps is None:
        from . import options

        caps = options.current().isa_caps
    if cpuinfo_text is None:
        cpuinfo_text = _read_cpuinfo()
    procs = _parse_cpuinfo(cpuinfo_text)
    first = procs[0] if procs else {}
    flags = frozenset(first.get("flags", "").split())
    raw_vendor = first.get("vendor_id", "")
    vendor = {"GenuineIntel": "intel", "AuthenticAMD": "amd"}.get(raw_vendor, raw_vendor.lower())
    native = _level(flags) if flags else "sse"
    affinity = _allowed_cpus(affinity)
    cores = {
        (p.get("physical id"), p.get("core id"))
        for p in procs
        if _int(p.get("processor")) in affinity and p.get("core id") is not None
    }
    libraries, emulated_by = _library_levels(native, vendor, caps)
    if aten is not None:
        _take_aten(aten, native, libraries, emulated_by)
    isa = native
    for lib in ("aten", "onednn"):  # the kernels whose speed the tables were measured on
        isa = _lower(isa, libraries[lib])
    return CPU(
        vendor=vendor,
        model=first.get("model name", "") or "unknown CPU",
        family=_int(first.get("cpu family")),
        model_number=_int(first.get("model")),
        native_isa=native,
        isa=isa,
        libraries=libraries,
        features=tuple(f for f in FEATURES if f in flags),
        emulated_by=emulated_by,
        cores=len(affinity),
        physical_cores=len(cores) or len(affinity),
        caches=_caches(sysfs),
    )


@functools.lru_cache(maxsize=8)
def _host(caps_items, aten):
    return detect(dict(caps_items), aten=aten)


_aten: list = []  # torch's answer, asked once torch is loaded (fixed for the process)


def _aten_capability():
    if not _aten:
        torch = sys.modules.get("torch")
        if torch is None:
            return None
        try:
            _aten.append(torch.backends.cpu.get_cpu_capability())
        except (AttributeError, RuntimeError):
            _aten.append(None)
    return _aten[0]


def host(caps: Mapping[str, str] | None = None) -> CPU:
    """This machine's CPU as torch's kernels see it (cached; re-detected when a cap variable
    changes, and once torch is loaded, with aten's own answer). `caps`: the ISA variables
    (default: options.current().isa_caps)."""
    if caps is None:
        from . import options

        caps = options.current().isa_caps
    return _host(tuple(sorted(caps.items())), _aten_capability())


def host_tag(cpu: CPU) -> str:
    """A short name for the kind of host, for result file names: 'epyc-avx512', 'xeon-avx512',
    'epyc-avx2emu' (AVX2 emulated on an AVX-512 EPYC)."""
    words = re.sub(r"\((R|TM|tm|r)\)", " ", cpu.model).replace("-", " ").split()
    skip = {"amd", "intel", "genuine", "authentic", "processor", "cpu", "unknown", "core(tm)"}
    name = next((w for w in words if w.lower() not in skip and not w[0].isdigit()), "")
    name = re.sub(r"[^a-z0-9]", "", name.lower()) or cpu.vendor or "cpu"
    return f"{name}-{cpu.isa}" + ("emu" if cpu.emulated else "")
