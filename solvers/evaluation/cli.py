"""The command line of every models/<m>/score.py: flags -> ScoreOptions -> one score_model call.

    python models/voc-fcn8s/score.py --weights voc-fcn8s.caffemodel [--split seg11valid]
        [--out DIR] [--png] [--n N] [--width W --data-root D --runs R] [--voc-dir DIR]
        [--eval whole|tiled|sliding [--tile N] [--window N --overlap F --no-pad]]
    python models/voc-fcn8s/score.py --weights W --submit data/VOCdevkit/VOC2012 [--out DIR]

Prints overall/mean accuracy, mean IU, fwavacc and a per-class IU table per head, writes
DIR/scores.json (with each head's confusion matrix; DIR/<head>/<id>.png predictions with --png).
DIR may already exist. --eval: whole images through the eval net (default), exact tiles of the
image (memory of one tile; same scores) or sliding windows of the training crop (scores averaged
where windows overlap); the last two split the eval net into its data layer and the rest.
--submit: no scores (the test labels are the VOC server's); the VOC2012 test images'
predictions in the evaluation server's layout and PNG format, with the archive to upload
(solvers.evaluation.submission).
"""

from __future__ import annotations

import argparse
from fractions import Fraction

from netspec.argtypes import positive_int, positive_width

from .score_model import ScoreOptions, score_model
from .splitnet import EVAL_MODES, Evaluation  # numpy only: no engine is imported here


def parser(model: str) -> argparse.ArgumentParser:
    """The flags of models/<model>/score.py."""
    p = argparse.ArgumentParser(prog=f"models/{model}/score.py", description=f"Score {model}.")
    p.add_argument("--weights", required=True, help="caffemodel to score")
    p.add_argument("--split", help="evaluation split (default: the eval net's)")
    p.add_argument("--out", help="output folder (default <run>/score-<split>)")
    p.add_argument("--png", action="store_true", help="write colourised prediction PNGs")
    p.add_argument("--n", type=positive_int, help="score only the first N images (N >= 1)")
    p.add_argument(
        "--engine", choices=("auto", "caffe", "torch"), help="default: FCN_ENGINE, else auto"
    )
    p.add_argument("--gpu", type=int, default=None, help="GPU id (-1: CPU)")
    p.add_argument("--width", type=positive_width, default=1.0, help="channel multiplier > 0")
    p.add_argument("--data-root")
    p.add_argument("--recipe", choices=("caffe", "torchvision"), help="as used for training")
    p.add_argument("--batch", type=positive_int, help="as used for training (run folder)")
    p.add_argument("--crop", type=positive_int, help="as used for training (run folder)")
    p.add_argument("--runs")
    p.add_argument("--normalize", action="store_true", help="as used for training (loss only)")
    p.add_argument(
        "--fast", action="store_true", help="torchcaffe channels_last + Winograd (not bit-exact)"
    )
    p.add_argument(
        "--voc-dir",
        help="score on this VOC folder instead of the eval net's (e.g. data/pascal/VOC2012 with "
        "--split val)",
    )
    p.add_argument(
        "--submit",
        metavar="VOC2012_DIR",
        help="write the VOC2012 test submission (comp6) for the test.txt images of this folder "
        "(VOCdevkit/VOC2012) instead of scoring",
    )
    p.add_argument(
        "--eval",
        choices=EVAL_MODES,
        default="whole",
        help="whole images (default); tiled: exact tiles, memory of one tile; sliding: windows "
        "of the training crop, scores averaged over overlaps",
    )
    p.add_argument("--tile", type=positive_int, default=512, help="tiled: tile side (512)")
    p.add_argument("--window", type=positive_int, default=321, help="sliding: window side (321)")
    p.add_argument(
        "--overlap", type=_fraction, default=1 / 3, help="sliding: overlap of windows, 0..<1 (1/3)"
    )
    p.add_argument(
        "--no-pad",
        action="store_true",
        help="sliding: images smaller than the window run at their size (default: padded with 0)",
    )
    return p


def parse_args(model: str, argv: list[str] | None) -> argparse.Namespace:
    """The flags of models/<model>/score.py (see --help), checked."""
    p = parser(model)
    args = p.parse_args(argv)
    if args.eval != "sliding" and (args.no_pad or args.overlap != 1 / 3 or args.window != 321):
        p.error("--window, --overlap and --no-pad apply to --eval sliding")
    if args.eval != "tiled" and args.tile != 512:
        p.error("--tile applies to --eval tiled")
    if args.submit:
        given = [f for f in ("split", "png", "n", "voc_dir") if getattr(args, f)]
        if given or args.eval != "whole":
            flags = [f"--{f.replace('_', '-')}" for f in given] + ["--eval"] * (
                args.eval != "whole"
            )
            p.error(f"--submit predicts every test image whole; drop {', '.join(flags)}")
    return args


def options(args: argparse.Namespace) -> ScoreOptions:
    """ScoreOptions of parsed flags."""
    a = args
    return ScoreOptions(
        split=a.split, out=a.out, png=a.png, n=a.n, engine=a.engine, gpu=a.gpu, fast=a.fast,
        width=a.width, data_root=a.data_root, recipe=a.recipe, batch=a.batch, crop=a.crop,
        runs=a.runs, normalize=a.normalize, voc_dir=a.voc_dir,
        evaluation=Evaluation(a.eval, a.tile, a.window, a.overlap, not a.no_pad),
    )  # fmt: skip


def _fraction(text: str) -> float:
    try:
        f = float(Fraction(text))
    except (ValueError, ZeroDivisionError):
        f = -1.0
    if not 0 <= f < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: use a fraction in [0, 1), e.g. 0.33 or 1/3")
    return f


def submit(model: str, args: argparse.Namespace) -> dict:
    """--submit: the VOC2012 test submission of --weights -> {'folder', 'archive', 'images'}."""
    import os
    import sys

    import engine
    from solvers.runs.folder import RunSetupError, run_dir

    from .submission import COMP, write_voc_submission

    engine.use(args.engine)
    engine.announce()
    fast = args.fast and engine.fast_mode(sys.stderr)
    engine.set_device(args.gpu)
    if not os.path.isfile(args.weights):
        raise RunSetupError(f"--weights {args.weights}: no such file")
    out = args.out
    if not out:
        a, runs = args, args.runs and os.path.abspath(args.runs)
        folder = run_dir(model, runs, a.width, a.data_root, a.normalize, a.recipe, a.batch, a.crop)
        out = os.path.join(folder, f"voc2012-test-{COMP}")
    sub = write_voc_submission(model, args.weights, args.submit, os.path.abspath(out), args.width,
                               fast=fast)  # fmt: skip
    print(f"{model}: {len(sub.ids)} test predictions in {sub.folder}")
    print(f"upload {sub.archive} to the PASCAL VOC evaluation server (VOC2012, Segmentation, "
          f"{COMP}: trained on own data)")  # fmt: skip
    return {"folder": sub.folder, "archive": sub.archive, "images": len(sub.ids)}


def main(model: str, argv: list[str] | None = None) -> dict:
    """models/<model>/score.py: score --weights on the eval split -> {head: metrics} (with
    --submit: the VOC2012 test submission, see submit)."""
    args = parse_args(model, argv)
    if args.submit:
        return submit(model, args)
    return score_model(model, args.weights, options(args))
