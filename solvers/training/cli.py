"""The command line of every models/<m>/solve.py: flags -> TrainOptions -> one train() call.

python models/voc-fcn32s/solve.py [--iters N] [--weights W] [--resume S.solverstate]
torchrun --nproc_per_node 2 models/voc-fcn32s/solve.py     # DDP, gradients averaged
"""

from __future__ import annotations

import argparse
import math

import engine

from .driver import train
from .options import PRECISIONS, Divergence, TrainOptions


def _factor(text: str) -> float:
    """argparse type: a finite number >= 0 (0 turns a divergence rule off)."""
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not (math.isfinite(value) and value >= 0):
        raise argparse.ArgumentTypeError(f"expected a finite number >= 0, got {text!r}")
    return value


def _run_flags(p: argparse.ArgumentParser) -> None:
    """Flags of the run folder and its nets (as for score.py)."""
    from netspec.argtypes import positive_int, positive_width

    p.add_argument("--width", type=positive_width, default=1.0, help="channel width multiplier")
    p.add_argument(
        "--recipe", choices=("caffe", "torchvision"), help="FCN-ResNets: training recipe (caffe)"
    )
    p.add_argument(
        "--batch", type=positive_int, help="FCN-ResNets: images per forward (iter_size makes up)"
    )
    p.add_argument(
        "--crop", type=positive_int, help="FCN-ResNets: crop side instead of the recipe's"
    )
    p.add_argument("--data-root", help="dataset root (default data/)")
    p.add_argument("--runs", help="folder holding <model>/ run folders (and ilsvrc-nets/)")
    p.add_argument("--normalize", action="store_true", help="loss normalised per valid pixel")


def _solver_flags(p: argparse.ArgumentParser) -> None:
    """Flags overriding the solver and the schedule."""
    from netspec.argtypes import positive_int

    p.add_argument("--iters", type=int, help="iterations to run (default: solver max_iter)")
    p.add_argument("--snapshot-every", type=int, help="default: the solver's snapshot")
    p.add_argument(
        "--score-every", type=positive_int, help="score the eval split every N iterations"
    )
    p.add_argument("--score-images", type=positive_int, help="score only the first N eval images")
    p.add_argument(
        "--max-iter",
        type=positive_int,
        help="schedule length (solver max_iter: poly lr ends there)",
    )
    p.add_argument("--lr", type=float, help="override base_lr (small runs)")
    p.add_argument("--display", type=int, help="override the solver's display interval")
    p.add_argument("--seed", type=int, help="random_seed (dropout masks, fillers): repeatable runs")
    p.add_argument("--hint-iters", type=int, default=20, help="iterations for the ln(C) check")
    p.add_argument(
        "--precision",
        choices=PRECISIONS,
        default="fp32",
        help="fp32 (default, Caffe's exact arithmetic), or mixed precision on torchcaffe: bf16, "
        "fp16 (dynamic loss scaling); weights, diffs and snapshots stay fp32",
    )


def _divergence_flags(p: argparse.ArgumentParser) -> None:
    from netspec.argtypes import positive_int

    d = Divergence()
    g = p.add_argument_group("divergence (stop before the loss is NaN; 0 turns a rule off)")
    g.add_argument(
        "--diverge-loss",
        type=_factor,
        default=d.loss,
        help=f"stop when the loss exceeds this x its running median (default {d.loss:g})",
    )
    g.add_argument(
        "--diverge-window",
        type=positive_int,
        default=d.window,
        help=f"iterations in the running median ({d.window})",
    )
    g.add_argument(
        "--diverge-weights",
        type=_factor,
        default=d.weights,
        help="stop when max |weight| exceeds this x max(1, its starting value) "
        f"(default {d.weights:g})",
    )
    g.add_argument(
        "--weight-check-every",
        type=positive_int,
        default=d.check_every,
        help=f"check the weights every N iterations (and at every snapshot; default "
        f"{d.check_every})",
    )


def parse_args(model: str, argv: list[str] | None) -> TrainOptions:
    """The flags of models/<model>/solve.py (see --help) -> TrainOptions."""
    p = argparse.ArgumentParser(
        prog=f"models/{model}/solve.py", description=f"Train {model} with the release's recipe."
    )
    p.add_argument("--engine", choices=engine.CHOICES, help="default: FCN_ENGINE, else auto")
    p.add_argument("--gpu", type=int, default=None, help="GPU id (-1: CPU; default 0 if CUDA)")
    p.add_argument("--weights", help="caffemodel copied into the net (default: staged init)")
    p.add_argument("--resume", help="continue from a .solverstate")
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="fresh run in a folder holding an earlier run's snapshots: move them aside first",
    )
    p.add_argument(
        "--new-run",
        action="store_true",
        help="when another run holds the run folder (or earlier snapshots are there), train in "
        "the first free <folder>-runN beside it instead of refusing",
    )
    _run_flags(p)
    _solver_flags(p)
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    _divergence_flags(p)
    a = p.parse_args(argv)
    if a.new_run and a.resume:
        p.error("--new-run starts a fresh run in a new folder: it cannot --resume")
    return TrainOptions(
        engine=a.engine, gpu=a.gpu, weights=a.weights, iters=a.iters, resume=a.resume,
        overwrite=a.overwrite, new_run=a.new_run, width=a.width, data_root=a.data_root,
        normalize=a.normalize, recipe=a.recipe, batch=a.batch, crop=a.crop, runs=a.runs,
        snapshot_every=a.snapshot_every, display=a.display, lr=a.lr, seed=a.seed,
        max_iter=a.max_iter, score_every=a.score_every, score_images=a.score_images,
        hint_iters=a.hint_iters, precision=a.precision, progress=not a.no_progress,
        divergence=Divergence(
            a.diverge_loss, a.diverge_window, a.diverge_weights, a.weight_check_every
        ),
    )  # fmt: skip


def main(model: str, argv: list[str] | None = None) -> dict | None:
    """models/<model>/solve.py: train `model` as the command line says (see --help)."""
    return train(model, parse_args(model, argv))
