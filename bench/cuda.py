"""CUDA rows of `make bench`: FCN-8s images/s on a GPU, inference and training, per precision.

    python -m bench --only cuda [--size 500] [--width 1] [--reps 3]
    python -m bench.cuda [--size 500] [--width 1] [--batch 1] [--iters 20]   # this section alone

Rows: torchcaffe fp32 (TF32 off: Caffe's float32, the default in GPU mode), tf32
(TORCHCAFFE_TF32=1), bf16 and fp16 (autocast; training through torchcaffe.mixed with fp16 loss
scaling), and the eager PyTorch FCN-8s in fp32 / bf16 for reference. Each row: images/s (best
of `rounds` timed blocks of `iters` steps after warm-up, CUDA-synchronised), achieved TFLOP/s
(nominal FCN-8s FLOPs: 363 GFLOP per 500x500 forward at width 1, a training step ~3x) and its
share of the GPU's dense peak for that precision, peak GPU memory (max_memory_allocated), and
for inference the max relative difference to the fp32 row.
"""

import argparse
import functools
import json
import os
import tempfile
import time

# dense (no sparsity) peak TFLOP/s by device name: fp32 (CUDA cores), tf32, bf16 = fp16 (tensor)
PEAK_TFLOPS = {
    "H200": (67.0, 494.7, 989.4),
    "H100 PCIe": (51.2, 378.0, 756.0),
    "H100": (67.0, 494.7, 989.4),
    "A100": (19.5, 156.0, 312.0),
    "L4": (30.3, 60.0, 121.0),
    "V100": (15.7, None, 125.0),
}
PRECISION_PEAK = {"fp32": 0, "tf32": 1, "bf16": 2, "fp16": 2}


def peak_for(name, precision):
    """Dense peak TFLOP/s of GPU `name` in `precision`, or None when the name is not known."""
    for key, peaks in PEAK_TFLOPS.items():
        if key in name:
            return peaks[PRECISION_PEAK[precision]]
    return None


def _timed(torch, fn, iters, rounds):
    fn()
    fn()
    torch.cuda.synchronize()
    best = float("inf")
    for _ in range(rounds):
        t0 = time.perf_counter()
        for _ in range(iters):
            fn()
        torch.cuda.synchronize()
        best = min(best, (time.perf_counter() - t0) / iters)
    return best


def _row(torch, engine, pass_, precision, s, **extra):
    """One table row: seconds per step `s` and the peak GPU memory since the last reset."""
    mem = torch.cuda.max_memory_allocated() / 2**20
    row = f"{engine} {precision}"
    return dict(row=row, pass_=pass_, precision=precision, s=s, mem=mem, **extra)


def _set_tf32(precision):
    import torchcaffe

    torchcaffe.options.set_defaults(tf32=precision == "tf32")
    return torchcaffe.device.cuda_math()


def torchcaffe_rows(size, width, batch, iters, rounds):
    """Inference and training rows of torchcaffe per precision -> list of dicts."""
    import numpy as np
    import torch

    import caffeio
    import torchcaffe
    from bench import fixtures as fx

    torchcaffe.set_mode_gpu()
    rows, ref = [], None
    for precision in ("fp32", "tf32", "bf16", "fp16"):
        _set_tf32(precision)
        dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(precision)
        torch.cuda.reset_peak_memory_stats()
        net = fx.torchcaffe_net(fx.deploy_param(width), torchcaffe.TEST, autocast=dtype)
        net.blobs["data"].reshape(batch, 3, size, size)
        net.blobs["data"].data[...] = fx.image(size, size)
        s = _timed(torch, net.forward, iters, rounds)
        out = net.blobs["score"].data.copy()
        ref = out if ref is None else ref
        diff = float(np.abs(out - ref).max() / max(np.abs(ref).max(), 1e-30))
        argmax = float((out.argmax(1) == ref.argmax(1)).mean())
        rows.append(_row(torch, "torchcaffe", "inference", precision, s, diff=diff, argmax=argmax))
        del net
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
        with tempfile.TemporaryDirectory() as tmp:
            netp = os.path.join(tmp, "train.prototxt")
            with open(netp, "w") as f:
                f.write(caffeio.to_text(fx.train_param(size, size, width)))
            solver = torchcaffe.SGDSolver(fx.write_sgd_solver(tmp, netp))
            if precision in ("bf16", "fp16"):
                solver.set_precision(precision)
            fx.random_params(solver.net)
            solver.net.blobs["data"].data[...] = fx.image(size, size)
            solver.net.blobs["label"].data[...] = fx.label(size, size)
            s = _timed(torch, functools.partial(solver.step, 1), max(iters // 2, 1), rounds)
            skipped = solver.skipped_steps if precision != "fp32" else 0
            rows.append(_row(torch, "torchcaffe", "training", precision, s, skipped=skipped))
            del solver
        torch.cuda.empty_cache()
    _set_tf32("fp32")
    return rows


def eager_rows(size, width, batch, iters, rounds):
    """Inference and training rows of the eager PyTorch FCN-8s (fp32, bf16 autocast)."""
    import torch

    from bench import fixtures as fx

    rows = []
    _set_tf32("fp32")
    model = fx.eager_model(width).cuda()
    x = torch.from_numpy(fx.image(size, size)).cuda().expand(batch, -1, -1, -1).contiguous()
    lab = torch.from_numpy(fx.label(size, size)[:, 0]).cuda().long()
    for m in model.deconvs.values():
        m.weight.requires_grad_(False)  # fixed bilinear upsampling, as in the Caffe nets
    decay = [p for n, p in model.named_parameters() if n.endswith("weight") and p.requires_grad]
    bias = [p for n, p in model.named_parameters() if n.endswith("bias")]
    opt = torch.optim.SGD(
        [{"params": decay, "weight_decay": 5e-4}, {"params": bias, "lr": 2e-14}],
        lr=1e-14,
        momentum=0.99,
    )
    for precision in ("fp32", "bf16"):
        dtype = torch.bfloat16 if precision == "bf16" else None

        def fwd(dtype=dtype):
            model.eval()
            with torch.no_grad(), torch.autocast("cuda", dtype=dtype, enabled=dtype is not None):
                return model(x)

        def step(dtype=dtype):
            model.train()
            with torch.autocast("cuda", dtype=dtype, enabled=dtype is not None):
                out = model(x[:1])
            loss = torch.nn.functional.cross_entropy(
                out.float(), lab, ignore_index=255, reduction="sum"
            )
            opt.zero_grad(set_to_none=False)
            loss.backward()
            opt.step()

        torch.cuda.reset_peak_memory_stats()
        s = _timed(torch, fwd, iters, rounds)
        rows.append(_row(torch, "eager", "inference", precision, s))
        torch.cuda.reset_peak_memory_stats()
        s = _timed(torch, step, max(iters // 2, 1), rounds)
        rows.append(_row(torch, "eager", "training", precision, s))
    return rows


def run(size=500, width=1.0, batch=1, iters=20, rounds=3):
    """All CUDA rows -> dict (device, rows with images/s, TFLOP/s, share of peak), or
    {'skipped': why} where torch sees no CUDA device."""
    import torch

    if not torch.cuda.is_available():
        return {"skipped": "torch sees no CUDA device on this machine (CPU-only build or no GPU)"}
    name = torch.cuda.get_device_name()
    gflop = 363.0 * (size / 500.0) ** 2 * width**2  # nominal FCN-8s forward, one image
    rows = torchcaffe_rows(size, width, batch, iters, rounds)
    rows += eager_rows(size, width, batch, iters, rounds)
    for r in rows:
        images = batch if r["pass_"] == "inference" else 1
        flop = gflop * images * (1 if r["pass_"] == "inference" else 3)
        r["images_per_s"] = images / r["s"]
        r["tflops"] = flop / r["s"] / 1e3
        peak = peak_for(name, r["precision"])
        r["share_of_peak"] = r["tflops"] / peak if peak else None
    return {
        "device": name,
        "torch": torch.__version__,
        "cudnn": torch.backends.cudnn.version(),
        "size": size,
        "width": width,
        "batch": batch,
        "rows": rows,
    }


def table(res):
    """Markdown lines of the CUDA rows."""
    if "rows" not in res:
        return [f"CUDA: {res.get('skipped', res)}"]
    lines = [
        f"CUDA: {res['device']} (torch {res['torch']}, cuDNN {res['cudnn']}), "
        f"{res['size']}x{res['size']}, width {res['width']:g}, inference batch {res['batch']}, "
        "training batch 1 (FCN's online SGD).",
        "",
        "| row | pass | images/s | TFLOP/s | share of peak | peak GPU memory (MB) | "
        "max rel. diff vs fp32 |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in res["rows"]:
        share = f"{r['share_of_peak']:.1%}" if r.get("share_of_peak") is not None else "n/a"
        diff = f"{r['diff']:.1e}" if "diff" in r else ""
        lines.append(
            f"| {r['row']} | {r['pass_']} | {r['images_per_s']:.1f} | {r['tflops']:.1f} | "
            f"{share} | {r['mem']:.0f} | {diff} |"
        )
    return lines


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--size", type=int, default=500)
    ap.add_argument("--width", type=float, default=1.0)
    ap.add_argument("--batch", type=int, default=1, help="inference batch (training: 1)")
    ap.add_argument("--iters", type=int, default=20, help="steps per timed block")
    ap.add_argument("--rounds", type=int, default=3, help="timed blocks (best is kept)")
    ap.add_argument("--json", default=None, help="also write the result here")
    args = ap.parse_args(argv)
    res = run(args.size, args.width, args.batch, args.iters, args.rounds)
    print("\n".join(table(res)), flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(res, f, indent=1)
    return res


if __name__ == "__main__":
    main()
