"""`python -m solvers.demo --recipe resnet`: the FCN-ResNet training recipe end to end on CPU.

    python -m solvers.demo --recipe resnet            # outputs in demo-resnet/
    python -m solvers.demo --recipe resnet --fresh    # start again from nothing

Steps (each is skipped when its output already exists):
1. a synthetic dataset in the official Cityscapes layout (leftImg8bit/, gtFine/ label ids):
   street-like scenes (sky, road, ego vehicle, out-of-roi strip) with objects of a few classes;
2. base weights: a RANDOM-weight ResNet-101 classifier (stand-in for the ILSVRC model),
   fcnized by surgery; the staged init copies its trunk into cityscapes-fcn-resnet101 and its
   BatchNorm statistics are re-estimated on training crops (an ImageNet trunk has calibrated
   ones; random statistics blow the activations up);
3. training with the Caffe recipe of the ResNet FCNs (zoo.recipe 'caffe'): random scale
   0.5-1.5, random crops (mean / ignore-label padding), mirror, a real batch of `--batch` crops
   per forward with iter_size making up 10 images per step, poly learning rate, frozen
   BatchNorm, head at 10x the trunk's rate;
4. scoring on the synthetic val split over the 19 Cityscapes classes (whole images), overlays
   and curves in the demo folder.

Differences from the full recipe, for a few minutes on 2 cores: 1/16 of the channels, small
images and crops (96 px instead of 321), a higher rate for a random trunk, a few hundred
iterations. `python models/cityscapes-fcn-resnet101/solve.py` is the full recipe.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from typing import Any

import engine
from solvers.runs.folder import ROOT

from .common import demo_folders
from .common import make_base as _make_base

MODEL = "cityscapes-fcn-resnet101"
# label ids of the demo's object classes: building, vegetation, person, car (+ sky and road)
OBJECTS = (11, 21, 24, 26)
DEFAULTS = dict(width=0.0625, iters=400, lr=0.003, batch=10, crop=96, n=48, size=(96, 192))


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m solvers.demo --recipe resnet", description=__doc__.split("\n")[0]
    )
    p.add_argument("--recipe", choices=("resnet",), default="resnet")
    p.add_argument("--out", default=os.path.join(ROOT, "demo-resnet"), help="demo folder")
    p.add_argument("--fresh", action="store_true", help="delete the demo folder first")
    p.add_argument("--width", type=float, default=DEFAULTS["width"], help="channel width")
    p.add_argument("--iters", type=int, default=DEFAULTS["iters"], help="solver steps")
    p.add_argument("--lr", type=float, default=DEFAULTS["lr"], help="base_lr (poly)")
    p.add_argument("--batch", type=int, default=DEFAULTS["batch"], help="crops per forward")
    p.add_argument("--crop", type=int, default=DEFAULTS["crop"], help="crop side (px)")
    p.add_argument("--n", type=int, default=DEFAULTS["n"], help="synthetic images (train + val)")
    p.add_argument("--precision", choices=("fp32", "fp16", "bf16"), default=None)
    p.add_argument("--overlays", type=int, default=4, help="validation overlays to draw")
    p.add_argument("--no-progress", action="store_true")
    p.add_argument(
        "--gpu", type=int, default=-1, help="CUDA device for training and scoring (default -1: CPU)"
    )
    p.add_argument("--engine", choices=engine.CHOICES, help="default: FCN_ENGINE, else auto")
    return p.parse_args(argv)


def say(text: str) -> None:
    print(f"[demo resnet] {text}", file=sys.stderr, flush=True)


def make_data(root: str, n: int, size: tuple[int, int]) -> dict:
    """Synthetic Cityscapes twin under root/cityscapes (about 3/4 train, 1/4 val) with the
    demo's object classes; root/.complete is written last. Returns {split: ids}."""
    from layers.synth.cityscapes import make_cityscapes

    done = os.path.join(root, ".complete")
    if os.path.exists(done):
        with open(done) as f:
            return json.load(f)
    ids = make_cityscapes(os.path.join(root, "cityscapes"), n, size, seed=0, objects=OBJECTS,
                          val_fraction=0.25)  # fmt: skip
    with open(done, "w") as f:
        json.dump(ids, f)
    return ids


def make_base(runs: str, width: float, seed: int = 0) -> str:
    """<runs>/ilsvrc-nets/resnet101-fcn.caffemodel from a random-weight ResNet-101 classifier."""
    return _make_base(runs, width, seed, arch="resnet101")


def calibrate_batchnorm(folder: str, weights: str, out: str) -> str:
    """Re-estimate every BatchNorm's global statistics (mean, variance; factor 1) of the train
    net in run folder `folder` on one batch of its own training crops, layer by layer in net
    order, starting from `weights`; write the result to `out` (and the train net it ran, data
    paths resolved against the run folder, beside it as <out>.prototxt).

    A random-weight trunk with made-up statistics multiplies activations through 33 residual
    blocks (res5 reached 1e6 here and the first steps diverged); an ImageNet trunk comes with
    calibrated statistics, which this stands in for. Works on either engine."""
    import numpy as np

    from solvers.runs.folder import stems
    from solvers.runs.paths import run_net

    train, _ = stems(folder)
    net_file = run_net(train, folder, os.path.splitext(out)[0] + ".prototxt")
    net = engine.open_net(net_file, engine.current().TRAIN, weights=weights)
    names = list(net._layer_names)
    types = [layer.type for layer in net.layers]
    bottoms = net.bottom_names
    pos = 0
    for i, (name, kind) in enumerate(zip(names, types)):
        if kind != "BatchNorm":
            continue
        net.forward(start=names[pos], end=names[i - 1])
        x = net.blobs[bottoms[name][0]].data.astype(np.float64)
        mean, var, factor = net.params[name]
        mean.data[...] = x.mean(axis=(0, 2, 3))
        var.data[...] = x.var(axis=(0, 2, 3))
        factor.data[...] = 1
        pos = i
    net.save(out)
    return out


def _run_folder(args: argparse.Namespace, runs: str, data_root: str) -> dict[str, Any]:
    """The run folder settings shared by training and scoring (the Caffe recipe)."""
    return dict(
        runs=runs, width=args.width, data_root=data_root, recipe="caffe", batch=args.batch,
        crop=args.crop,
    )  # fmt: skip


def train(args: argparse.Namespace, runs: str, data_root: str) -> str:
    """Train with the driver (solvers.training); reuse final weights when present."""
    from solvers.training import TrainOptions
    from solvers.training import train as train_model

    final = os.path.join(runs, MODEL, f"{MODEL}.caffemodel")
    if os.path.exists(final):
        say(f"    reusing {final} (--fresh to retrain)")
        return final
    shutil.rmtree(os.path.join(runs, MODEL, "snapshot"), ignore_errors=True)
    from solvers.runs.folder import run_dir
    from surgery.stage import staged_init

    folder = run_dir(MODEL, runs, args.width, data_root, False, "caffe", args.batch, args.crop)
    init = os.path.join(runs, "ilsvrc-nets", "staged-init.caffemodel")
    staged_init(folder, make_base(runs, args.width), out=init, width=args.width, force=True,
                verbose=False)  # fmt: skip
    calibrated = os.path.join(runs, "ilsvrc-nets", "init-bn-calibrated.caffemodel")
    calibrate_batchnorm(folder, init, calibrated)
    say(f"    BatchNorm statistics re-estimated on training crops -> {calibrated}")
    options = TrainOptions(
        weights=calibrated, lr=args.lr, iters=args.iters, max_iter=args.iters,
        score_every=max(1, args.iters // 4), snapshot_every=args.iters, display=20,
        gpu=args.gpu, seed=0, precision=args.precision or "fp32",
        progress=not args.no_progress, **_run_folder(args, runs, data_root),
    )  # fmt: skip
    train_model(MODEL, options)
    if not os.path.exists(final):
        raise SystemExit(f"error: training {MODEL} ended without writing {final}")
    return final


def score(args: argparse.Namespace, runs: str, data_root: str, weights: str, out: str) -> dict:
    """Score the val split as score.py does -> the score head's metrics."""
    from solvers.evaluation.score_model import ScoreOptions, score_model

    options = ScoreOptions(out=out, png=True, gpu=args.gpu, **_run_folder(args, runs, data_root))
    return score_model(MODEL, weights, options)["score"]


def majority_baseline(cs_dir: str, ids: list[str]) -> float:
    """Mean IoU (19 classes) of predicting each val image's most frequent train id everywhere:
    the bar a net must clear to show it learned more than the scene's layout prior."""
    import numpy as np

    from layers.cityscapes import load_cityscapes_label
    from solvers.evaluation.metrics import fast_hist, scores

    hist = np.zeros((19, 19), np.int64)
    labels = [load_cityscapes_label(cs_dir, "val", i)[0].astype(np.int64) for i in ids]
    counts = np.bincount(np.concatenate([x[x < 19] for x in labels]), minlength=19)
    for gt in labels:
        hist += fast_hist(gt, np.full_like(gt, int(counts.argmax())), 19)
    return scores(hist)["mean_iu"]


def draw_overlays(cs_dir: str, ids: list[str], pred_dir: str, out_dir: str, n: int) -> list[str]:
    """image | ground truth | prediction | overlay panels for the first n val ids -> paths."""
    import numpy as np
    from PIL import Image

    from layers.cityscapes import cityscapes_paths, load_cityscapes_label
    from layers.io import read_rgb
    from solvers.pictures.labels import overlay, save_panels

    paths = []
    for idx in ids[:n]:
        rgb = read_rgb(cityscapes_paths(cs_dir, "val", idx)["image"])
        gt = load_cityscapes_label(cs_dir, "val", idx)[0]
        name = idx.replace("/", "_")
        pred = np.asarray(Image.open(os.path.join(pred_dir, "score", f"{idx}.png")))
        path = os.path.join(out_dir, f"{name}.png")
        save_panels(path, [rgb, gt, pred, overlay(rgb, pred)],
                    ["image", "ground truth", "prediction", "overlay"], scale=2)  # fmt: skip
        paths.append(path)
    return paths


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run the ResNet recipe demo; returns the score head's metrics dict."""
    args = parse_args(argv)
    engine.use(args.engine)
    t0 = time.time()
    out, data_root, runs = demo_folders(args.out, args.fresh)
    size = DEFAULTS["size"]
    say(f"1/4 synthetic Cityscapes-layout dataset in {data_root}/cityscapes ({size[0]}x{size[1]})")
    ids = make_data(data_root, args.n, size)
    say(f"    {len(ids['train'])} train, {len(ids['val'])} val images")
    say("2/4 base weights: a RANDOM-weight ResNet-101 classifier (no ImageNet weights here)")
    base = make_base(runs, args.width)
    say(f"    fcnized by surgery -> {base}")
    say(
        f"3/4 training {MODEL} at width {args.width:g}: scale 0.5-1.5, {args.crop}x{args.crop} "
        f"crops, mirror, {args.batch} per forward x iter_size {10 // args.batch}, poly lr "
        f"{args.lr:g}, {args.iters} steps"
    )
    t_train = time.time()
    weights = train(args, runs, data_root)
    t_train = time.time() - t_train
    say(f"4/4 scoring {weights} on the synthetic val split (19 classes, whole images)")
    score_dir = os.path.join(out, "score")
    results = score(args, runs, data_root, weights, score_dir)
    cs_dir = os.path.join(data_root, "cityscapes")
    overlays = draw_overlays(cs_dir, ids["val"], score_dir, os.path.join(out, "overlays"),
                             args.overlays)  # fmt: skip
    from solvers.pictures import plotlog

    log = os.path.join(runs, MODEL, "snapshot", "train.jsonl")
    title = "ResNet recipe demo: training loss and validation mean IoU"
    curves = plotlog.plot([plotlog.parse_log(log)], os.path.join(out, "curves.png"),
                          labels=[f"{MODEL} (width {args.width:g})"], title=title)  # fmt: skip
    shutil.copyfile(os.path.join(score_dir, "scores.json"), os.path.join(out, "metrics.json"))
    chance = majority_baseline(cs_dir, ids["val"])
    ips = 10 * args.iters / t_train if t_train > 1 else None
    print(
        f"\nFCN-ResNet recipe demo done in {time.time() - t0:.0f} s. Everything is in {out}/:\n"
        f"  overlays: {os.path.dirname(overlays[0]) if overlays else '-'}/\n"
        f"  curves: {curves}\n  metrics JSON: {os.path.join(out, 'metrics.json')}\n"
        f"  trained weights: {weights}\n"
        f"mean IoU on the synthetic val split: {100 * results['mean_iu']:.1f}% (pixel acc "
        f"{100 * results['overall_acc']:.1f}%; the majority class everywhere gives "
        f"{100 * chance:.1f}%)\n"
        + (
            f"training: {ips:.1f} crops/s ({args.crop}x{args.crop}) on this machine\n"
            if ips
            else ""
        )
        + "Base weights were random; with the real data and ResNet-101 see README "
        "(FCN-ResNet recipe)."
    )
    results["majority_baseline"] = chance
    return results
