"""Training speed of the FCN-ResNet recipe (images/s), torchcaffe (fp32, bf16, fp16 on CUDA)
and BVLC Caffe side by side, each measurement in a fresh process.

    python -m bench.recipe_speed [--model voc-fcn-resnet101] [--recipe caffe|torchvision]
        [--crop 321] [--batch 1 2]
        [--width 1] [--reps 2] [--rows caffe,fp32,bf16] [--gpu]

One timed unit is one solver step of the recipe's solver (poly lr, momentum 0.9, weight decay
5e-4) with iter_size 1 on a batch of `batch` random crops (Input layers stand in for the data
layer, whose cost is measured by `make bench`'s data rows); images/s = batch / step time, min
over the reps after one warm-up step. Weights are random (variance 1 / fan-in, so the 33
residual blocks keep activations bounded), BatchNorm at identity statistics.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _net(model, width, batch, crop, recipe=None):
    import zoo
    from caffeio import caffe_pb2

    net = zoo.build(model, "train", width=width, recipe=recipe)
    data = caffe_pb2.LayerParameter(name="data", type="Input", top=["data", "label"])
    for c in (3, 1):
        data.input_param.shape.add().dim.extend([batch, c, crop, crop])
    layers = [data] + [x for x in net.layer if x.type != "Python"]
    del net.layer[:]
    net.layer.extend(layers)
    return net


def child(spec):
    """Run one measurement (spec: dict) -> {'s_per_step': [..], 'images_per_s': best}."""
    import numpy as np

    import caffeio

    tmp = tempfile.mkdtemp(prefix="recipe-speed-")
    path = os.path.join(tmp, "train.prototxt")
    net_param = _net(spec["model"], spec["width"], spec["batch"], spec["crop"], spec["recipe"])
    caffeio.write_net(net_param, path)
    solver_path = os.path.join(tmp, "solver.prototxt")
    with open(solver_path, "w") as f:
        f.write(
            f'net: "{path}"\nbase_lr: 2.5e-4\nlr_policy: "poly"\npower: 0.9\nmax_iter: 20000\n'
            'momentum: 0.9\nweight_decay: 0.0005\ndisplay: 0\nsnapshot: 0\nsnapshot_prefix: "'
            f'{tmp}/snap"\n'
        )
    if spec["row"] == "caffe":
        os.environ.setdefault("GLOG_minloglevel", "2")
        import caffe

        caffe.set_mode_cpu()
        solver = caffe.SGDSolver(solver_path)
    else:
        import torchcaffe

        if spec["row"] == "tf32":  # float32 with TF32 convolutions (CUDA only)
            torchcaffe.options.set_defaults(tf32=True)
        if spec.get("gpu"):
            torchcaffe.set_mode_gpu()
        else:
            torchcaffe.set_mode_cpu()
        precision = "fp32" if spec["row"] == "tf32" else spec["row"]
        solver = torchcaffe.get_solver(solver_path, precision=precision)
    rng = np.random.default_rng(0)
    net = solver.net
    types = {name: layer.type for name, layer in zip(net._layer_names, net.layers)}
    for name, blobs in net.params.items():
        if types[name] == "BatchNorm":
            for blob, value in zip(blobs, (0.0, 1.0, 1.0)):
                blob.data[...] = value
            continue
        for b in blobs:
            fan_in = max(1, int(np.prod(b.data.shape[1:])))
            b.data[...] = rng.standard_normal(b.data.shape) * np.sqrt(1.0 / fan_in)
    net.blobs["data"].data[...] = rng.standard_normal(net.blobs["data"].data.shape) * 50
    net.blobs["label"].data[...] = rng.integers(0, 21, net.blobs["label"].data.shape)
    sync = lambda: None  # noqa: E731
    if spec.get("gpu"):
        import torch

        sync = torch.cuda.synchronize
    solver.step(1)  # warm-up
    sync()
    times = []
    for _ in range(spec["reps"]):
        t0 = time.perf_counter()
        solver.step(1)
        sync()
        times.append(time.perf_counter() - t0)
    return {"s_per_step": times, "images_per_s": spec["batch"] / min(times)}


def run_child(spec):
    p = subprocess.run(
        [sys.executable, "-m", "bench.recipe_speed", "--child", json.dumps(spec)],
        cwd=ROOT, capture_output=True, text=True,
    )  # fmt: skip
    for line in p.stdout.splitlines():
        if line.startswith("RECIPE-RESULT "):
            return json.loads(line[len("RECIPE-RESULT ") :])
    return {"error": (p.stderr or p.stdout).strip().splitlines()[-1:] or ["no output"]}


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m bench.recipe_speed", description=__doc__)
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--model", default="voc-fcn-resnet101")
    ap.add_argument("--recipe", default="caffe", help="caffe or torchvision (its auxiliary head)")
    ap.add_argument("--crop", type=int, default=321)
    ap.add_argument("--batch", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--width", type=float, default=1.0)
    ap.add_argument("--reps", type=int, default=2)
    ap.add_argument("--rows", default="caffe,fp32,bf16", help="caffe, fp32, tf32, bf16, fp16")
    ap.add_argument("--gpu", action="store_true", help="torchcaffe rows on CUDA")
    args = ap.parse_args(argv)
    if args.child:
        print("RECIPE-RESULT " + json.dumps(child(json.loads(args.child))), flush=True)
        return 0
    where = "CUDA" if args.gpu else "CPU"
    print(f"{args.model} ({args.recipe} recipe) train step, {args.crop}x{args.crop} crops, "
          f"width {args.width:g}, "
          f"min of {args.reps} steps after a warm-up ({where})")  # fmt: skip
    print(f"{'row':<8} {'batch':>5} {'s/step':>8} {'images/s':>9}")
    for batch in args.batch:
        for row in args.rows.split(","):
            spec = dict(model=args.model, crop=args.crop, batch=batch, width=args.width,
                        reps=args.reps, row=row, gpu=args.gpu and row != "caffe",
                        recipe=args.recipe)  # fmt: skip
            r = run_child(spec)
            if "error" in r:
                print(f"{row:<8} {batch:>5}  error: {r['error'][0]}")
                continue
            t = min(r["s_per_step"])
            print(f"{row:<8} {batch:>5} {t:>8.2f} {r['images_per_s']:>9.2f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
