"""Data layer throughput (images/s) at VOC-like sizes (500x375), printed (not a test).

    python -m bench.bench_layers [--n 24] [--steps 48] [--compute-ms 0,50] [--fcn8s]

For each layer: images/s with prefetch off and on, with no net compute and with a simulated net
step of C ms (sleep: the GIL is free, as while torch computes). Also the LMDB path (cursor read,
Datum parse, float conversion, mean subtraction: what Caffe's Data layer does per image), and with
--fcn8s the training rate of a width-1 FCN-8s at the same size (bench/eager_fcn8s.py, forward +
backward) for the "layers >= 3x the net" check.
"""

import argparse
import os
import tempfile
import time

import numpy as np


class _Blob:
    def __init__(self):
        self.data = np.zeros((1,), np.float32)

    def reshape(self, *dims):
        if self.data.shape != dims:
            self.data = np.zeros(dims, np.float32)


def layer_rate(cls, params, ntop, steps, compute_s):
    """images/s of setup-once, (reshape, forward, simulated compute) x steps."""
    layer = cls()
    layer.param_str = repr(params)
    tops = [_Blob() for _ in range(ntop)]
    layer.setup([], tops)
    layer.reshape([], tops)  # what Net construction does
    t0 = time.perf_counter()
    for _ in range(steps):
        layer.reshape([], tops)
        layer.forward([], tops)
        if compute_s:
            time.sleep(compute_s)
    dt = time.perf_counter() - t0
    layer.close()
    return steps / dt


def lmdb_rate(paths, mean, steps):
    """images/s reading data+label records and mean-subtracting like Caffe's Data layer."""
    import lmdb

    from caffeio import caffe_pb2

    envs = [lmdb.open(p, readonly=True, lock=False) for p in paths]
    txns = [e.begin() for e in envs]
    curs = [t.cursor() for t in txns]
    for c in curs:
        c.first()
    mean = np.asarray(mean, np.float32)[:, None, None]
    t0 = time.perf_counter()
    for _ in range(steps):
        for i, c in enumerate(curs):
            if not c.next():
                c.first()
            d = caffe_pb2.Datum.FromString(c.value())
            x = np.frombuffer(d.data, np.uint8).reshape(d.channels, d.height, d.width)
            x = x.astype(np.float32)
            if i == 0:
                x -= mean
    dt = time.perf_counter() - t0
    for e in envs:
        e.close()
    return steps / dt


def fcn8s_rate(h, w, iters=1):
    """Training iterations/s of a width-1 FCN-8s (eager PyTorch) on one h x w image, CPU."""
    import torch

    from bench.eager_fcn8s import EagerFCN8s

    net = EagerFCN8s(21, width=1.0)
    x = torch.randn(1, 3, h, w)
    y = torch.randint(0, 21, (1, h, w))
    loss = torch.nn.functional.cross_entropy(net(x), y, reduction="sum")  # warm-up
    loss.backward()
    t0 = time.perf_counter()
    for _ in range(iters):
        net.zero_grad()
        loss = torch.nn.functional.cross_entropy(net(x), y, reduction="sum")
        loss.backward()
    return iters / (time.perf_counter() - t0)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=24, help="synthetic images per dataset")
    ap.add_argument("--steps", type=int, default=48)
    ap.add_argument("--size", default="375x500", help="HxW of the synthetic images")
    ap.add_argument("--compute-ms", default="0,50", help="simulated net step(s), ms")
    ap.add_argument("--fcn8s", action="store_true", help="also time a width-1 FCN-8s train step")
    args = ap.parse_args(argv)

    import torch

    torch.set_num_threads(1)
    from layers.lmdb_convert import convert
    from layers.nyud import NYUDSegDataLayer
    from layers.pascalcontext import PASCALContextSegDataLayer
    from layers.siftflow import SIFTFlowSegDataLayer
    from layers.synth import make_data_root
    from layers.voc import SBDDSegDataLayer, VOCSegDataLayer

    h, w = (int(v) for v in args.size.split("x"))
    with tempfile.TemporaryDirectory() as root:
        t0 = time.perf_counter()
        fam = make_data_root(root, n=args.n, size=(h, w), seed=0)
        print(
            f"synthetic data ({args.n} images/dataset, {h}x{w}): {time.perf_counter() - t0:.1f} s"
        )
        cases = [
            (
                "VOC seg11valid",
                VOCSegDataLayer,
                dict(voc_dir=fam["voc_dir"], split="seg11valid"),
                2,
            ),
            (
                "SBD train",
                SBDDSegDataLayer,
                dict(sbdd_dir=fam["sbdd_dir"], split="train", seed=1),
                2,
            ),
            (
                "NYUD color+hha+label",
                NYUDSegDataLayer,
                dict(nyud_dir=fam["nyud_dir"], split="trainval", tops=["color", "hha", "label"]),
                3,
            ),
            (
                "NYUD color+depth+label",
                NYUDSegDataLayer,
                dict(nyud_dir=fam["nyud_dir"], split="trainval", tops=["color", "depth", "label"]),
                3,
            ),
            (
                "SIFT Flow trainval",
                SIFTFlowSegDataLayer,
                dict(siftflow_dir=fam["siftflow_dir"], split="trainval", seed=1),
                3,
            ),
            (
                "PASCAL-Context train",
                PASCALContextSegDataLayer,
                dict(
                    voc_dir=os.path.join(root, "pascal"),
                    context_dir=fam["context_dir"],
                    split="train",
                    seed=1,
                ),
                2,
            ),
        ]
        computes = [float(c) for c in args.compute_ms.split(",")]
        header = "layer".ljust(26) + "".join(
            f"{f'{c:g}ms off':>12}{f'{c:g}ms on':>12}" for c in computes
        )
        print("images/s (prefetch off / on, simulated net step in ms)")
        print(header)
        for name, cls, params, ntop in cases:
            row = name.ljust(26)
            for c in computes:
                for pf in (False, True):
                    rate = layer_rate(cls, dict(params, prefetch=pf), ntop, args.steps, c / 1000)
                    row += f"{rate:12.1f}"
            print(row, flush=True)
        paths = convert("voc", fam["voc_dir"], "trainval", os.path.join(root, "lmdb"))
        rate = lmdb_rate(
            [paths["data"], paths["label"]], (104.00699, 116.66877, 122.67892), args.steps
        )
        python = layer_rate(
            VOCSegDataLayer,
            dict(voc_dir=fam["voc_dir"], split="val", prefetch=False),
            2,
            args.steps,
            0,
        )
        print(f"LMDB (VOC trainval, Datum decode + mean): {rate:.1f} images/s "
              f"vs Python layer (no prefetch) {python:.1f} images/s")  # fmt: skip
        if args.fcn8s:
            fr = fcn8s_rate(h, w)
            print(f"FCN-8s width 1 train step at {h}x{w} (eager torch, 1 thread): {fr:.3f} it/s; "
                  f"VOC layer without prefetch delivers {python / fr:.0f}x that")  # fmt: skip


if __name__ == "__main__":
    main()
