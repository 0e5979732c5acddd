"""Per-host choices of torchcaffe's CPU kernels, from tables keyed by the kind of CPU.

Which algorithm is fastest depends on the instruction set the kernel libraries run at (and, for
AVX-512, on the vendor: MKL's GEMMs, which the Winograd transforms run on, stay AVX2 on AMD while
oneDNN's direct convolutions use AVX-512). `TABLE` holds one row per kind of host: the Winograd
rules (when F(2x2, 3x3), F(4x4, 3x3) and F(2x2, 7x7) beat the direct convolution), the band
sizes, channels_last, the thread count and the OpenMP wait policy, each saying where and when it
was measured. `current()` picks the row for this host (torchcaffe.cpuinfo.host(), which follows
the emulation variables) and applies the user's overrides (torchcaffe.options):
TORCHCAFFE_TUNING picks another row, TORCHCAFFE_BAND_MB, TORCHCAFFE_WINOGRAD_BAND_MB,
TORCHCAFFE_CHANNELS_LAST, TORCHCAFFE_WEIGHT_GRAD, TORCHCAFFE_THREADS and TORCHCAFFE_WAIT_POLICY
replace single entries.
Torch-free.

Re-measuring a row: `python -m bench.winograd_micro` (Winograd rules; `--emulate avx2` for the
AVX2 row on an AVX-512 host), `python -m bench --only train --variant TORCHCAFFE_BAND_MB=4 ...`
(bands, channels_last), `python -m bench --only shared` (wait policy).
"""

from __future__ import annotations

from dataclasses import dataclass

from . import cpuinfo, options
from .tuning_table import TABLE, Clause, Rules, pick

__all__ = [
    "Clause",
    "Rules",
    "Choice",
    "TABLE",
    "pick",
    "rules_key",
    "choose",
    "current",
    "describe",
]


def rules_key(cpu: cpuinfo.CPU) -> str:
    """The TABLE row for `cpu`: by the ISA torch's kernels run at, and the vendor for AVX-512."""
    if cpu.isa == "avx512":
        return "avx512-intel" if cpu.vendor == "intel" else "avx512-amd"
    if cpu.isa == "avx2":
        return "avx2"
    return "baseline"


@dataclass(frozen=True)
class Choice:
    """The host's row with the user's overrides applied. `overridden`: the variables (or
    "code") that replaced an entry of the row."""

    cpu: cpuinfo.CPU
    rules: Rules
    band_bytes: int
    winograd_band_bytes: int
    channels_last: bool
    threads: int | None
    wait_policy: str
    overridden: tuple = ()
    train_channels_last: bool | None = None  # training nets' layout (None: channels_last)
    weight_grad: str = "aten"  # "aten", "winograd" or "gemm" (torchcaffe.wgrad)


def choose(cpu: cpuinfo.CPU | None = None, opts: options.Options | None = None) -> Choice:
    """The choice for `cpu` (default: this host) under `opts` (default: options.current())."""
    cpu = cpuinfo.host() if cpu is None else cpu
    opts = options.current() if opts is None else opts
    over = []
    key = rules_key(cpu)
    if opts.tuning is not None:
        key = opts.tuning
        over.append("TORCHCAFFE_TUNING")
    rules = TABLE[key]
    band = rules.band_mb
    if opts.band_mb is not None:
        band = opts.band_mb
        over.append("TORCHCAFFE_BAND_MB")
    wband = rules.winograd_band_mb
    if opts.winograd_band_mb is not None:
        wband = opts.winograd_band_mb
        over.append("TORCHCAFFE_WINOGRAD_BAND_MB")
    cl = rules.channels_last
    tcl = cl if rules.train_channels_last is None else rules.train_channels_last
    if opts.channels_last is not None:
        cl = tcl = opts.channels_last
        over.append("TORCHCAFFE_CHANNELS_LAST")
    wgrad = rules.weight_grad
    if opts.weight_grad is not None:
        wgrad = opts.weight_grad
        over.append("TORCHCAFFE_WEIGHT_GRAD")
    threads = rules.threads
    if opts.threads is not None:
        threads = opts.threads
        over.append("TORCHCAFFE_THREADS")
    wait = rules.wait_policy
    if opts.wait_policy is not None:
        wait = opts.wait_policy
        over.append("TORCHCAFFE_WAIT_POLICY")
    return Choice(
        cpu=cpu,
        rules=rules,
        band_bytes=int(band * (1 << 20)),
        winograd_band_bytes=max(1, int(wband * (1 << 20))),
        channels_last=bool(cl),
        train_channels_last=bool(tcl),
        weight_grad=wgrad,
        threads=threads,
        wait_policy=wait,
        overridden=tuple(over),
    )


_last: list = []  # [(cpu, options key), Choice] of the last current() call


def current() -> Choice:
    """choose() for this host and the current options (kept until either changes)."""
    opts = options.current()
    cpu = cpuinfo.host(opts.isa_caps)
    key = (cpu, opts.tuning, opts.band_mb, opts.winograd_band_mb, opts.channels_last,
           opts.threads, opts.wait_policy, opts.weight_grad)  # fmt: skip
    if not _last or _last[0] != key:
        _last[:] = [key, choose(cpu, opts)]
    return _last[1]


def _from(clauses):
    """'F2 from 256 ch' for a rule list's first clause; 'off' for none."""
    if not clauses:
        return "off"
    c = clauses[0]
    return f"F{c.tile} from {c.min_channels} ch" if c.min_channels else f"F{c.tile}"


def describe(choice: Choice, threads: int | None = None, wait: str | None = None) -> str:
    """The engine line's CPU part: 'AMD EPYC, avx512, 2 cores; winograd F2 from 256 ch,
    channels_last, band 8 MB, 2 threads, wait spin10k'. `threads`/`wait`: what is in effect
    (torch.get_num_threads(), startup.wait_state()) when known, else the choice's."""
    parts = [f"winograd {_from(choice.rules.exact)}"]
    if choice.channels_last:
        nchw = choice.train_channels_last is False
        parts.append("channels_last (training NCHW)" if nchw else "channels_last")
    wg = {"winograd": "weight grads F(3x3, 2x2)", "gemm": "weight grads F(3x3, 2x2)/GEMMs"}
    if choice.weight_grad in wg:
        parts.append(wg[choice.weight_grad])
    parts.append(f"band {choice.band_bytes / (1 << 20):g} MB")
    n = threads if threads is not None else choice.threads
    parts.append(f"{n} threads" if n else "torch's threads")
    parts.append(f"wait {wait or choice.wait_policy}")
    row = "" if choice.rules.key == rules_key(choice.cpu) else f", {choice.rules.key} table"
    return f"{choice.cpu.short()}{row}; " + ", ".join(parts)
