"""The per-host tables behind torchcaffe.tuning: Winograd rules (Clause, Rules), band sizes,
channels_last, threads and the OpenMP wait policy of each kind of host, each entry saying where
and when it was measured. Data only (imports nothing of torchcaffe), so torchcaffe.options can
check a TORCHCAFFE_TUNING key against it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass, field

__all__ = ["Clause", "Rules", "TABLE", "pick"]


@dataclass(frozen=True)
class Clause:
    """Take Winograd tile `tile` for a convolution piece when every bound holds: min(Cin, Cout)
    >= min_channels, Cin * Cout >= min_pairs, Cin * Cout * H * W >= min_work (H, W: the output
    piece), min(H, W) >= min_side, min_area <= H * W <= max_area."""

    tile: int
    min_channels: int = 0
    min_pairs: int = 0
    min_work: int = 0
    min_side: int = 0
    min_area: int = 0
    max_area: int | None = None

    def matches(self, cin: int, cout: int, h: int, w: int) -> bool:
        area = h * w
        return (
            min(cin, cout) >= self.min_channels
            and cin * cout >= self.min_pairs
            and cin * cout * area >= self.min_work
            and min(h, w) >= self.min_side
            and area >= self.min_area
            and (self.max_area is None or area <= self.max_area)
        )


def pick(clauses: Iterable[Clause], cin: int, cout: int, h: int, w: int) -> int:
    """The tile of the first clause that matches, 0 (direct convolution) when none does."""
    for c in clauses:
        if c.matches(cin, cout, h, w):
            return c.tile
    return 0


@dataclass(frozen=True)
class Rules:
    """One kind of host's row. `measured`: entry -> where, when and how it was measured."""

    key: str
    exact: tuple  # Clauses for the default (exact) mode's F(2x2, 3x3)
    fast: tuple  # Clauses for the fast mode's 3x3 tiles (4 or 2)
    fc6: tuple  # Clauses for the fast mode's F(2x2, 7x7)
    winograd_band_mb: float  # bytes of the transformed tiles per band of a 3x3 Winograd call
    band_mb: float  # output bytes per row band of a large convolution (torchcaffe.bufpool)
    channels_last: bool
    threads: int | None  # None: torch's default (one per core this process may use)
    wait_policy: str  # a torchcaffe.waitpolicy.WAIT_POLICIES key
    measured: dict = field(default_factory=dict)
    train_channels_last: bool | None = None  # training nets' layout; None: channels_last
    # weight gradients (torchcaffe.wgrad): "aten" all by aten, "winograd" F(3x3, 2x2) where
    # wgrad_winograd's clauses match and the rest by aten, "gemm" the rest of the NHWC stride-1
    # ones by shifted GEMMs
    weight_grad: str = "aten"
    wgrad_winograd: tuple = ()  # Clauses (tile 2) for the F(3x3, 2x2) weight gradient


_XEON = "2-core Intel Xeon VM (AVX-512, AMX)"
_EPYC_AVX2 = "2-core AMD EPYC VM (AVX2)"
_EPYC_AVX512 = "2-core AMD EPYC VM (Zen 4: AVX-512 with bf16, MKL's GEMMs at AVX2)"

# 7x7 (fc6): F(2x2, 7x7) against unfold + one GEMM, 2 threads, best of 6-8 alternated runs:
# 512x4096 out 16x16 2.05x, 10x10 1.9x, 7x7 1.01x (not taken: reading U, 537 MB, costs what the
# GEMMs save), 256x2048 out 16x16 1.88x, 12x12 0.90x.
_FC6 = (Clause(2, min_channels=256, min_work=1 << 27),)
_FC6_MEASURED = f"{_EPYC_AVX2}, 2026-11-21, bench/winograd_micro.py --fc6 all"

_SHARED = {
    "band_mb": "8 MB keeps a band's oneDNN outputs and blocked copies under glibc's 32 MB mmap "
    f"threshold; training measured with it on the {_XEON}, 2026-11-25 (no other size measured)",
    "winograd_band_mb": f"{_XEON}, 2026-11-26, bench/winograd_micro.py: F(4x4) 512x512@56x72 "
    "4 MB 25.2, 8 MB 25.9, 16 MB 27.9, 32 MB 28.1 ms; 256x512@58x70 best at 8 MB",
    "threads": "torch's default (one per core); not measured against others",
    "wait_policy": f"GOMP_SPINCOUNT=10000: {_XEON}, 2026-11-25: two FCN-8s trainings at once "
    "0.91-0.94x of one after the other at width 1/16 (3.5x with libgomp's 300000 spins), one "
    "alone within the noise (the EPYC rows spin less: measured there 2026-12-06)",
}

# F(3x3, 2x2) weight gradient from 128 channels (pieces of 64+ outputs); against oneDNN's NHWC
# kernel (AVX-512 EPYC) and the shifted GEMMs (AVX2), 3x3 pad 1, 8 MB bands
_WGRAD_WINOGRAD = (Clause(2, min_channels=128, min_area=64),)
_WGRAD_MEASURED = {
    "avx512": f"{_EPYC_AVX512}, 2026-12-06, torchcaffe.wgrad against aten's NHWC weight "
    "gradient (8 MB bands): 128x128@260 89 vs 98 ms, 256x256@130 67 vs 128, 256x512@70 37 vs "
    "59, 512x512@70 81 vs 140, 512x512@22 10.1 vs 14.0; 64x64@502 133 vs 92 (not taken)",
    "avx2": f"{_EPYC_AVX512} under --emulate avx2, 2026-12-06, torchcaffe.wgrad against the "
    "shifted GEMMs (8 MB bands): 128x128@260 93-129 vs 115-142 ms, 128x256@130 39 vs 58, "
    "256x256@130 87 vs 122, 256x512@70 44-46 vs 70, 512x512@70 78-79 vs 138-140, 512x512@88 "
    "123-125 vs 210-218, 512x512@22 10-13 vs 14-17; 64x64@502 0.7-1.1x (not taken)",
}

_AVX512 = dict(
    # against oneDNN's channels_last direct convolution, pad-0 pieces as constant-area skipping
    # gives: 256x256@61x133 1.20x, 256x512@58x70 1.50x, 512x512@56x72 1.54x, 256x256@22x22
    # 1.06x, 512x512@6x6 1.11x; 128x256@62x131 1.06x (not taken), 256x256@4x4 0.44x
    exact=(Clause(2, min_channels=256, min_work=1 << 23),),
    # F(4x4): 128x128@63x257 1.24x, 128x256@62x131 1.36x, 256x256@61x133 1.61x, 512x512@56x72
    # 2.21x, 512x512@12x12 1.55x; 256x256@22x22 1.08x, 128x128@22x22 0.58x, 64x128@64x255
    # 0.88x. F(2x2) below that: 512x512@6x6 1.11x, 5x5 1.00x; 256x256@4x4 0.44x, 512x512@6x1
    # 0.63x (a call costs ~0.35 ms of fixed work)
    fast=(
        Clause(4, min_channels=128, min_side=8, min_work=1 << 25),
        Clause(2, min_channels=256, min_work=1 << 23),
    ),
    fc6=_FC6,
    winograd_band_mb=8.0,
    band_mb=8.0,
    channels_last=True,
    threads=None,
    wait_policy="spin10k",
    weight_grad="winograd",
    wgrad_winograd=_WGRAD_WINOGRAD,
)

TABLE = {
    "avx512-intel": Rules(
        key="avx512-intel",
        measured={
            "exact": f"{_XEON}, 2026-11-26, bench/winograd_micro.py (GEMM transforms)",
            "fast": f"{_XEON}, 2026-11-26, bench/winograd_micro.py (GEMM transforms)",
            "fc6": _FC6_MEASURED,
            "channels_last": f"{_XEON}: inference 2026-11-25 (FCN-8s conv1_2 0.20 -> 0.085 s), "
            "training 2026-11-26 (sum of per-layer minima 5.26 -> 4.73 s)",
            "train_channels_last": "channels_last's entry (training measured with it)",
            "weight_grad": "winograd: the F(3x3, 2x2) weight gradient as on the AVX-512 EPYC "
            "(not measured on the Xeon), oneDNN's AVX-512 NHWC kernel for the rest (the "
            "shifted GEMMs not measured on the Xeon)",
            "wgrad_winograd": "the AVX-512 EPYC's entry (not measured on the Xeon)",
            **_SHARED,
        },
        **_AVX512,
    ),
    # Zen 4/5: oneDNN runs AVX-512 as on the Xeon, MKL's GEMMs run its AVX2 Zen kernels
    "avx512-amd": Rules(
        key="avx512-amd",
        measured={
            **{
                k: "not measured apart on this kind of host: the AVX-512 Xeon's entry"
                for k in ("exact", "fast", "fc6", "channels_last", "train_channels_last", *_SHARED)
            },
            "weight_grad": f"{_EPYC_AVX512}, 2026-12-06: oneDNN's NHWC weight gradient beats the "
            "shifted GEMMs (MKL's AVX2 kernels here) on the 64-128-channel layers (3x3 pad 1: "
            "64x64@502 97 vs 186 ms, 128x128@260 102 vs 135 ms) and is close above (256x256@130 "
            "131 vs 111-128 ms): winograd (F(3x3, 2x2) where wgrad_winograd matches, else aten)",
            "wgrad_winograd": _WGRAD_MEASURED["avx512"],
            "exact": f"{_EPYC_AVX512}, 2026-12-06, python -m bench --variant "
            "TORCHCAFFE_TUNING=avx2 (3 interleaved rounds, FCN-8s 500x500 width 1): the whole "
            "row against the AVX2 row, exact forward 1.21-1.27 s vs 1.24-1.35 s, training "
            "4.36-4.73 s vs 4.30-4.87 s (the same within the noise); BVLC Caffe 2.79-2.89 s and "
            "7.89-7.99 s",
            "wait_policy": f"GOMP_SPINCOUNT=2000: {_EPYC_AVX512}, 2026-12-06, python -m bench "
            "--only shared --policies ... --shared-width 0.0625 --shared-reps 30 (two FCN-8s "
            "trainings of 30 steps at width 1/16, together against one after the other): spin2k "
            "0.81x, each alone 7.7/7.8 s; spin10k 1.15-1.23x, alone 7.8-8.5 s (at width 1: "
            "1.03x); spin5k 0.90x; spin3k 0.83x; spin1k 0.67-0.68x but alone 8.6-9.1 s; passive "
            "0.61-0.63x, alone 8.5-9.8 s",
        },
        **dict(_AVX512, wait_policy="spin2k"),
    ),
    "avx2": Rules(
        key="avx2",
        # against NCHW mkldnn, pad-0 pieces: 512x512@44 2.0x, 512x512@74 1.6x, 256x512@70
        # 1.65x, 256x256@135 1.35x; 128x256@131 1.03x and 128x128@257 1.0x (not taken),
        # 64x64@504 0.76x
        exact=(Clause(2, min_channels=256, min_area=16),),
        # against channels_last mkldnn: F(4x4) 128x128@88 1.2x, 256x256@44 1.4x, 256x256@175
        # 1.9x, 512x512@88 2.2x; 128x128@44 and 256x256@22 0.6-0.7x. Up to 24x24, F(2x2) for
        # 256x256 and up (512x512@7 1.4x, @22 1.7x; 256x256@22 1.2x); 64 input channels lose
        # (64x64@698 0.94x, 64x128@175 0.85x)
        fast=(
            Clause(2, min_channels=128, min_pairs=256 * 256, max_area=24 * 24),
            Clause(4, min_channels=128, min_area=24 * 24 + 1, min_work=1 << 26),
        ),
        fc6=_FC6,
        winograd_band_mb=8.0,
        band_mb=8.0,
        channels_last=True,
        weight_grad="gemm",
        wgrad_winograd=_WGRAD_WINOGRAD,
        threads=None,
        wait_policy="spin1k",
        measured={
            "wait_policy": f"GOMP_SPINCOUNT=1000: {_EPYC_AVX512} under --emulate avx2, "
            "2026-12-06, python -m bench --emulate avx2 --only shared --policies "
            "spin10k,spin1k,passive --shared-width 0.0625 --shared-reps 30 (2 rounds): spin1k "
            "0.72-0.74x of one after the other, each alone 7.8-8.7 s; spin10k 1.14-1.20x, alone "
            "7.9-8.8 s; passive 0.63-0.65x, alone 8.8-9.2 s. (On a real 2-core AVX2 EPYC before: "
            "spin10k 1.34-1.56x, passive 0.49x but one after the other 34 s against 28-29 s.) "
            "Re-measured with NHWC training and the wgrad kernels, 22:11: spin1k 0.58x",
            "train_channels_last": f"{_EPYC_AVX512} under --emulate avx2, 2026-12-06, python "
            "-m bench --only train --rounds 3 --variant TORCHCAFFE_WEIGHT_GRAD=gemm,"
            "TORCHCAFFE_CHANNELS_LAST=1 (FCN-8s 500x500 width 1): NHWC with the GEMM weight "
            "gradients 4.78-4.91 s a training iteration against NCHW with oneDNN's 5.22-6.05 s "
            "(BVLC Caffe 8.03-8.35 s); NHWC with oneDNN's weight gradients was the slowest "
            "(5.37 / 5.77 s against NCHW 4.91 / 5.20 s, an earlier run). Narrow nets may "
            "prefer NCHW: at width 1/16 NCHW 191-194 ms a step against NHWC 205-263 ms (noisy; "
            "width 1/8 NHWC 268-347 vs 330-361, 1/4 even, 1/2 NHWC 1.57-1.62 vs 1.71-1.79 s)",
            "weight_grad": f"{_EPYC_AVX512} under --emulate avx2, 2026-12-06: oneDNN's NHWC "
            "weight gradient 2-5x its NCHW one (3x3 pad 1: 64x64@502 563 vs 162 ms, 128x128@260 "
            "672 vs 143 ms, 512x512@70 284 vs 145 ms), the shifted GEMMs 129, 116, 138 ms; the "
            "training iteration as in train_channels_last",
            "wgrad_winograd": _WGRAD_MEASURED["avx2"],
            "exact": f"{_EPYC_AVX2}, 2026-11-21, bench/winograd_micro.py (the earlier "
            "separable transforms; to re-measure with the GEMM ones)",
            "fast": f"{_EPYC_AVX2}, 2026-11-21, bench/winograd_micro.py (separable transforms)",
            "fc6": _FC6_MEASURED,
            "channels_last": f"not measured on AVX2: the {_XEON}'s choice",
            **{k: v + " (the Xeon's)" for k, v in _SHARED.items() if k != "wait_policy"},
        },
    ),
}
# Below AVX2 (no FMA): nothing measured; the AVX2 row
TABLE["baseline"] = dataclasses.replace(
    TABLE["avx2"],
    key="baseline",
    measured={k: "not measured below AVX2: the AVX2 row" for k in TABLE["avx2"].measured},
)
