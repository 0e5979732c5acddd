"""`make demo`: the whole FCN pipeline on CPU in a few minutes, on synthetic data.

    python -m solvers.demo            # or: make demo      (outputs in demo/)
    python -m solvers.demo --fresh    # start again from nothing
    python -m solvers.demo --recipe resnet   # the FCN-ResNet recipe (solvers/demos/resnet.py)

Steps (each is skipped when its output already exists, so a second run only re-prints):
1. a synthetic dataset in the real VOC/SBD layout (demo/data/pascal/VOC2011, demo/data/sbdd):
   coloured shapes on textured backgrounds, train on SBD "train", evaluate on seg11valid;
2. the base weights: a *random-weight* VGG-16 classifier stands in for the ILSVRC model (no
   ImageNet weights exist here), turned fully convolutional by surgery (python -m surgery fcnize);
3. the zoo writes a reduced-width voc-fcn8s pipeline (the same graph, fewer channels) and the
   training driver (solvers.training) trains it, with a progress bar;
4. the scoring command scores it; overlays (image | ground truth | prediction), loss and mean-IU
   curves and the metrics JSON land in demo/.

Why the staged recipe (32s -> 16s -> 8s, each from the previous one's weights): it is the
release's own recipe and shows what each skip adds. The 32s net learns the coarse "what" first; the
16s and 8s nets start from it with zero-initialised skip scores and sharpen the "where" in a
fraction of the iterations. Each stage's mean IU is printed, so the gain of every skip is visible.
Differences from the full recipe, for a few minutes on 2 CPU cores: 1/16 of the channels, small
images (so a stride-32 cell still sees part of an image, scenes are 112..160 px), a per-pixel
normalised loss (--normalize) with a matching learning rate instead of the summed loss with
lr 1e-10..1e-14, and random base weights instead of ImageNet's. `python models/voc-fcn32s/solve.py`
and its 16s / 8s successors are the full recipe.

Synthetic classes: five VOC classes (aeroplane, bicycle, bird, boat, bottle) each with a fixed
colour and shape, so a few hundred iterations can learn them; the net still has all 21 outputs.
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

from .common import demo_folders, make_base

MODEL = "voc-fcn8s"
STAGES = ("voc-fcn32s", "voc-fcn16s", "voc-fcn8s")
CLASSES = (1, 2, 3, 4, 5)
DEFAULTS = dict(width=0.0625, iters=(1200, 600, 600), lr=5e-5, n_train=80, n_val=20)
SIZE_RANGE = (112, 160)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m solvers.demo", description=__doc__.split("\n")[0])
    p.add_argument("--out", default=os.path.join(ROOT, "demo"), help="demo folder (demo/)")
    p.add_argument("--fresh", action="store_true", help="delete the demo folder first")
    p.add_argument("--width", type=float, default=DEFAULTS["width"], help="channel width")
    p.add_argument(
        "--iters",
        type=int,
        nargs=3,
        default=DEFAULTS["iters"],
        metavar=("N32", "N16", "N8"),
        help="training iterations of each stage",
    )
    p.add_argument("--lr", type=float, default=DEFAULTS["lr"], help="base_lr (normalised loss)")
    p.add_argument("--n-train", type=int, default=DEFAULTS["n_train"], help="training images")
    p.add_argument("--n-val", type=int, default=DEFAULTS["n_val"], help="validation images")
    p.add_argument("--overlays", type=int, default=4, help="validation overlays to draw")
    p.add_argument("--size", type=int, nargs=2, metavar=("H", "W"), help="fixed image size")
    p.add_argument("--no-progress", action="store_true")
    p.add_argument(
        "--gpu", type=int, default=-1, help="CUDA device for training and scoring (default -1: CPU)"
    )
    p.add_argument("--engine", choices=engine.CHOICES, help="default: FCN_ENGINE, else auto")
    return p.parse_args(argv)


def say(text: str) -> None:
    print(f"[demo] {text}", file=sys.stderr, flush=True)


# ------------------------------------------------------------------ 1. data
def make_data(
    root: str, n_train: int, n_val: int, size: tuple[int, int] | None = None, seed: int = 0
) -> dict:
    """Synthetic VOC2011 + SBD under `root` (the nets' data_root): SBD train = n_train ids,
    VOC val = n_val ids = seg11valid. Objects from CLASSES. Returns {'voc_dir', 'sbdd_dir',
    'val'} and writes root/.complete last (a half-written dataset is rewritten)."""
    import numpy as np

    from layers.splits import derive_seg11valid
    from layers.synth import make_sbdd, make_voc
    from layers.synth.scenes import scene, sizes

    voc_dir = os.path.join(root, "pascal", "VOC2011")
    sbdd_dir = os.path.join(root, "sbdd", "dataset")
    done = os.path.join(root, ".complete")
    if os.path.exists(done):
        with open(done) as f:
            return json.load(f)
    rng = np.random.default_rng(seed)

    def scenes(n, void):
        out = []
        for h, w in sizes(rng, n, size, *SIZE_RANGE):
            rgb, label, _ = scene(rng, h, w, CLASSES, 21, 0, n_shapes=(1, 2), void_border=void,
                                  frac=(0.35, 0.75))  # fmt: skip
            out.append((rgb, label))
        return out

    val_ids = [f"2011_{i:06d}" for i in range(n_val)]
    voc_train = [f"2011_{i:06d}" for i in range(n_val, 2 * n_val)]
    # VOC's own split: first half "train", second half "val"; we want the val half = val_ids
    make_voc(voc_dir, ids=voc_train + val_ids, scenes=scenes(n_val, 2) + scenes(n_val, 2))
    sbd_ids = [f"2008_{i:06d}" for i in range(n_train)]
    make_sbdd(sbdd_dir, ids=sbd_ids, scenes=scenes(n_train, 0))
    with open(os.path.join(sbdd_dir, "train.txt"), "w") as f:
        f.writelines(i + "\n" for i in sbd_ids)
    val = derive_seg11valid(voc_dir, sbdd_dir)
    info = {"voc_dir": voc_dir, "sbdd_dir": sbdd_dir, "val": list(val)}
    with open(done, "w") as f:
        json.dump(info, f)
    return info


# ------------------------------------------------------------------ 3./4. train and score
def train(args: argparse.Namespace, runs: str, data_root: str) -> dict[str, str]:
    """Train the stages with solvers.training (each from the previous stage's weights, the
    first from <runs>/ilsvrc-nets/vgg16-fcn.caffemodel); a stage whose final weights exist is
    reused. Returns {model: weights path}."""
    from solvers.training import TrainOptions
    from solvers.training import train as train_model

    weights = {}
    for model, iters in zip(STAGES, args.iters):
        folder = os.path.join(runs, model)
        final = os.path.join(folder, f"{model}.caffemodel")
        weights[model] = final
        if os.path.exists(final):
            say(f"    reusing {final} (--fresh to retrain)")
            continue
        say(f"    {model}: {iters} iterations")
        shutil.rmtree(os.path.join(folder, "snapshot"), ignore_errors=True)  # a clean log
        options = TrainOptions(
            runs=runs, width=args.width, data_root=data_root, lr=args.lr, normalize=True,
            iters=iters, score_every=max(1, iters // 3), snapshot_every=iters, display=50,
            gpu=args.gpu, seed=0, progress=not args.no_progress,
        )  # fmt: skip
        train_model(model, options)
        if not os.path.exists(final):
            raise SystemExit(f"error: training {model} ended without writing {final}")
    return weights


def stage_scores(runs: str) -> dict[str, float]:
    """{model: last validation mean IU logged while training} for the stages that have one."""
    out = {}
    from solvers.training.runlog import read_rows

    for model in STAGES:
        rows = read_rows(os.path.join(runs, model, "snapshot", "train.jsonl"))
        scored = [r for r in rows if "scores" in r]
        if scored:
            out[model] = scored[-1]["scores"]["score"]["mean_iu"]
    return out


def score(args: argparse.Namespace, runs: str, data_root: str, weights: str, out: str) -> dict:
    """Score on seg11valid as models/voc-fcn8s/score.py does (writes out/scores.json and
    predictions)."""
    from solvers.evaluation.score_model import ScoreOptions, score_model

    options = ScoreOptions(
        runs=runs, width=args.width, data_root=data_root, out=out, png=True, normalize=True,
        gpu=args.gpu,
    )  # fmt: skip
    return score_model(MODEL, weights, options)


def draw_overlays(data: dict, pred_dir: str, out_dir: str, n: int) -> list[str]:
    """image | ground truth | prediction panels for the first n validation ids -> paths."""
    import numpy as np
    from PIL import Image

    from layers.io import read_rgb
    from solvers.pictures.labels import overlay, save_panels

    paths = []
    for idx in data["val"][:n]:
        rgb = read_rgb(os.path.join(data["voc_dir"], "JPEGImages", f"{idx}.jpg"))
        gt = np.asarray(
            Image.open(os.path.join(data["voc_dir"], "SegmentationClass", f"{idx}.png"))
        )
        pred = np.asarray(Image.open(os.path.join(pred_dir, "score", f"{idx}.png")))
        path = os.path.join(out_dir, f"{idx}.png")
        pics = [rgb, gt, pred, overlay(rgb, pred)]
        save_panels(path, pics, ["image", "ground truth", "prediction", "overlay"], scale=2)
        paths.append(path)
    return paths


def background_baseline(data: dict) -> float:
    """Mean IU of predicting background everywhere on the validation labels (the bar a net
    must clear to show learning): background IU = its pixel share, every object class 0."""
    import numpy as np
    from PIL import Image

    from solvers.evaluation.metrics import fast_hist, scores

    hist = np.zeros((21, 21), np.int64)
    for idx in data["val"]:
        gt = np.asarray(
            Image.open(os.path.join(data["voc_dir"], "SegmentationClass", f"{idx}.png"))
        )
        hist += fast_hist(gt.astype(np.int64), np.zeros_like(gt, np.int64), 21)
    return scores(hist)["mean_iu"]


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run the demo (see the module docstring); returns the metrics dict of the score head."""
    args = parse_args(argv)
    engine.use(args.engine)
    t0 = time.time()
    out, data_root, runs = demo_folders(args.out, args.fresh)

    say(f"1/5 synthetic VOC-layout dataset in {data_root}")
    data = make_data(data_root, args.n_train, args.n_val, args.size)
    say(f"    {args.n_train} training images (SBD train), {len(data['val'])} for validation")
    say("2/5 base weights: a RANDOM-weight VGG-16 classifier (stand-in: no ImageNet weights here)")
    base = make_base(runs, args.width)
    say(f"    fcnized by surgery -> {base}")
    say(f"3/5 training {' -> '.join(STAGES)} at width {args.width:g} on CPU (staged)")
    weights = train(args, runs, data_root)[MODEL]
    say(f"4/5 scoring {weights} on seg11valid")
    score_dir = os.path.join(out, "score")
    results = score(args, runs, data_root, weights, score_dir)["score"]
    say("5/5 pictures: overlays and curves")
    overlays = draw_overlays(data, score_dir, os.path.join(out, "overlays"), args.overlays)
    from solvers.pictures import plotlog

    logs = [os.path.join(runs, m, "snapshot", "train.jsonl") for m in STAGES]
    curves = plotlog.plot([plotlog.parse_log(log) for log in logs],
                          os.path.join(out, "curves.png"),
                          labels=[f"{m} (width {args.width:g})" for m in STAGES],
                          title="demo: training loss and validation mean IU")  # fmt: skip
    per_stage = stage_scores(runs)
    metrics = os.path.join(out, "metrics.json")
    shutil.copyfile(os.path.join(score_dir, "scores.json"), metrics)
    chance = background_baseline(data)
    print(
        f"\nFCN demo done in {time.time() - t0:.0f} s. Everything is in {out}/:\n"
        f"  overlays (image | ground truth | prediction | overlay): {os.path.dirname(overlays[0])}/"
        f"\n  loss and mean-IU curves: {curves}\n  metrics JSON: {metrics}\n"
        f"  trained weights: {weights}\n  nets: {os.path.join(runs, MODEL)}/*.prototxt\n"
        f"mean IU on the synthetic seg11valid: {100 * results['mean_iu']:.1f}% "
        f"(pixel acc {100 * results['overall_acc']:.1f}%; predicting background everywhere "
        f"gives {100 * chance:.1f}%)\n"
        f"each stage, while training: "
        + ", ".join(f"{m} {100 * v:.1f}%" for m, v in per_stage.items())
        + "\n"
        f"Base weights were random (a stand-in for ImageNet VGG-16); with real data and weights "
        f"see README: make voc-fcn8s, then python models/voc-fcn8s/solve.py.\n"
        f"Try: python -m solvers.infer --model {MODEL} --width {args.width:g} --weights "
        f"{weights} {data['voc_dir']}/JPEGImages --out {out}/infer"
    )
    return results
