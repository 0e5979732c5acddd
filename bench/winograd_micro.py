"""Micro-benchmark: Winograd 3x3 / 7x7 convolution vs direct F.conv2d on FCN-8s (500x500) shapes.

Run: .venv/bin/python -m bench.winograd_micro [--shapes all|big|none|CIN,COUT,HW;...] [--reps 3]
     [--fc6 main|all|none|CIN,COUT,HW;...] [--emulate avx2]
The first line names the host (bench.host) and the torchcaffe.tuning row whose rules the
"winograd_tile / exact_tile" lines show; the timings are what that row is re-measured from
(--emulate avx2: as on an AVX2-only host).
For each 3x3 shape: direct NCHW, direct channels_last, winograd tile 4 and tile 2 (channels_last
in and out), best of --reps after one warm-up; GFLOP/s counts the direct algorithm's
2*9*Cin*Cout*H*W flops (so Winograd shows as "equivalent" GFLOP/s); err is max|y - y64| / max|y64|
against a float64 F.conv2d reference, with He-scaled weights and a uniform bias.
fc6 rows (7x7, pad 0, HW = the input map, NCHW): direct F.conv2d, unfold + one matmul (what
torchcaffe does for fc6) and winograd F(2x2, 7x7), with ReLU-like inputs of pool5 scale
(relu(randn) * 5); speedup is against unfold + matmul; the filter transform (cached per weight)
is timed once, apart. A script, not a test.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time

import torch
import torch.nn.functional as F

from torchcaffe.winograd import (
    clear_cache,
    exact_tile,
    use_winograd,
    winograd_conv2d,
    winograd_tile,
)

# (Cin, Cout, H=W) of FCN-8s at 500x500 (pad 100 on conv1_1), direct channels_last times quoted
# in the task at low load: 0.20, 0.05, 0.21, 0.10, 0.22, 0.11, 0.11, 0.24 s.
FCN_SHAPES = [
    (512, 512, 88),
    (512, 512, 44),
    (256, 256, 175),
    (256, 512, 88),
    (128, 128, 349),
    (128, 256, 175),
    (64, 128, 349),
    (64, 64, 698),
]


def _best(fn, reps):
    fn()
    best = math.inf
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


# fc6 of FCN-8s (input map 22x22 at 500x500), smaller inputs, and a half-width net
FC6_SHAPES = [(512, 4096, 22), (512, 4096, 16), (512, 4096, 10), (256, 2048, 22)]


def _shapes(arg, table):
    if arg == "none":
        return []
    if arg in ("all", "main"):
        return table if arg == "all" else table[:1]
    if arg == "big":
        return [s for s in table if s[0] >= 256]
    return [tuple(int(v) for v in s.split(",")) for s in arg.split(";")]


def _row(cin, cout, hw, name, sec, flop, speedup, err):
    sp = f"{speedup:>6.2f}x" if speedup else " " * 7
    print(
        f"{cin:>4} {cout:>4} {hw:>4} | {name:<10} {sec:>7.4f} {flop / sec / 1e9:>8.1f} "
        f"{sp} {err:>10.2e}",
        flush=True,
    )


def _one_shape(cin, cout, hw, args):
    x = torch.randn(1, cin, hw, hw)
    w = torch.randn(cout, cin, 3, 3) * math.sqrt(2.0 / (9 * cin))
    b = torch.rand(cout) * 0.1
    ref = F.conv2d(x.double(), w.double(), b.double(), padding=1)
    peak = ref.abs().max().item()
    xcl = x.contiguous(memory_format=torch.channels_last)
    wcl = w.contiguous(memory_format=torch.channels_last)
    flop = 2.0 * 9 * cin * cout * hw * hw
    runs = [
        ("direct", lambda: F.conv2d(x, w, b, padding=1)),
        ("direct_cl", lambda: F.conv2d(xcl, wcl, b, padding=1)),
        ("wino4", lambda: winograd_conv2d(xcl, w, b, padding=1, tile=4)),
    ]
    if not args.no_tile2:
        runs.append(("wino2", lambda: winograd_conv2d(xcl, w, b, padding=1, tile=2)))
    direct_cl = None
    for name, fn in runs:
        sec = _best(fn, args.reps)
        err = (fn().double() - ref).abs().max().item() / peak
        if name == "direct_cl":
            direct_cl = sec
        speedup = direct_cl / sec if name.startswith("wino") else None
        _row(cin, cout, hw, name, sec, flop, speedup, err)
    use, tile = use_winograd(cin, cout, hw, hw), winograd_tile(cin, cout, hw, hw)
    exact = exact_tile(cin, cout, hw, hw)
    pick = f"use_winograd -> {use}, winograd_tile -> {tile}, exact_tile -> {exact}"
    print(f"{'':>15}| {pick}", flush=True)


def _fc6_shape(cin, cout, hw, args):
    x = torch.relu(torch.randn(1, cin, hw, hw)) * 5
    w = torch.randn(cout, cin, 7, 7) * math.sqrt(2.0 / (49 * cin))
    b = torch.rand(cout) * 0.1
    ref = F.conv2d(x.double(), w.double(), b.double())
    peak = ref.abs().max().item()
    ho = hw - 6
    flop = 2.0 * 49 * cin * cout * ho * ho
    w2 = w.reshape(cout, -1)

    def unfold_mm():
        return torch.addmm(b.view(-1, 1), w2, F.unfold(x, 7)[0]).view(1, cout, ho, ho)

    clear_cache()
    t0 = time.perf_counter()
    winograd_conv2d(x, w, b, padding=0)
    first = time.perf_counter() - t0
    runs = [
        ("direct", lambda: F.conv2d(x, w, b)),
        ("unfold_mm", unfold_mm),
        ("wino2x7", lambda: winograd_conv2d(x, w, b, padding=0)),
    ]
    base = None
    for name, fn in runs:
        sec = _best(fn, args.reps)
        err = (fn().double() - ref).abs().max().item() / peak
        if name == "unfold_mm":
            base = sec
        _row(cin, cout, hw, name, sec, flop, base / sec if name == "wino2x7" else None, err)
    tile = winograd_tile(cin, cout, ho, ho, k=7)
    pick = f"first winograd call (filter transform) {first:.2f} s, winograd_tile(k=7) -> {tile}"
    print(f"{'':>15}| {pick}", flush=True)
    clear_cache()


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shapes", default="all", help="3x3 shapes")
    ap.add_argument("--fc6", default="main", help="7x7 pad 0 shapes (HW: the input map)")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--no-tile2", action="store_true", help="skip the F(2x2, 3x3) column")
    ap.add_argument("--emulate", choices=("avx2",), help="run as on an AVX2-only host")
    args = ap.parse_args(argv)
    from bench import host

    host.reexec_emulated(
        args.emulate, "bench.winograd_micro", sys.argv[1:] if argv is None else list(argv)
    )
    torch.manual_seed(0)
    rec = host.record()
    print(f"host {host.tag(rec)}: {host.line(rec)}")
    print(
        f"torch {torch.__version__}, threads {torch.get_num_threads()}, "
        f"load average {os.getloadavg()[0]:.2f} at start"
    )
    head = f"{'Cin':>4} {'Cout':>4} {'HxW':>4} | {'method':<10} {'time s':>7} {'GFLOP/s':>8} "
    print(head + f"{'speedup':>7} {'err/max|y|':>10}")
    with torch.no_grad():
        for cin, cout, hw in _shapes(args.shapes, FCN_SHAPES):
            _one_shape(cin, cout, hw, args)
        for cin, cout, hw in _shapes(args.fc6, FC6_SHAPES):
            _fc6_shape(cin, cout, hw, args)
    print(
        f"load average {os.getloadavg()[0]:.2f} at end; speedup = direct_cl time / winograd time "
        "(fc6: unfold_mm time / winograd time)"
    )


if __name__ == "__main__":
    main()
