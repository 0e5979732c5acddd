"""What a training run is told: every setting of `models/<m>/solve.py`, as one value.

The command line (solvers.training.cli) fills a TrainOptions; library callers (the demos, tests)
make one directly: `train(model, TrainOptions(iters=100, width=1/16))`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

PRECISIONS = ("fp32", "fp16", "bf16")


@dataclass(frozen=True)
class Divergence:
    """When training counts as diverged (solvers.training.divergence); 0 turns a rule off.

    loss: stop when the loss exceeds this x its running median over `window` iterations;
    weights: stop when max |weight| exceeds this x max(1, its starting value), checked every
    `check_every` iterations and at every snapshot."""

    loss: float = 1e3
    window: int = 20
    weights: float = 1e4
    check_every: int = 10


@dataclass(frozen=True)
class TrainOptions:
    """One training run's settings (None: the solver's or the zoo record's value).

    engine: 'auto' | 'caffe' | 'torch' (None: FCN_ENGINE, else auto); gpu: -1 CPU, N GPU N;
    weights: caffemodel to start from (default: the staged init); iters: iterations to run
    (default: up to the solver's max_iter); resume: a .solverstate to continue; overwrite: move
    an earlier run's snapshots aside; new_run: when another run holds the run folder (or an
    earlier run's snapshots are there), train in the first free `<folder>-runN` beside it;
    width, data_root, normalize, recipe, batch, crop: the run folder's nets
    (solvers.runs.folder.run_dir); runs: the folder holding run folders;
    snapshot_every, display, lr, seed, max_iter: solver overrides; score_every: score the eval
    split every N iterations; score_images: score only the first N images; hint_iters: the
    iterations of the ln(C) 'weights not initialised' check; precision: fp32 | bf16 | fp16;
    progress: a progress bar on stderr; divergence: the stop rules.
    """

    engine: str | None = None
    gpu: int | None = None
    weights: str | None = None
    iters: int | None = None
    resume: str | None = None
    overwrite: bool = False
    new_run: bool = False
    width: float = 1.0
    data_root: str | None = None
    normalize: bool = False
    recipe: str | None = None
    batch: int | None = None
    crop: int | None = None
    runs: str | None = None
    snapshot_every: int | None = None
    display: int | None = None
    lr: float | None = None
    seed: int | None = None
    max_iter: int | None = None
    score_every: int | None = None
    score_images: int | None = None
    hint_iters: int = 20
    precision: str = "fp32"
    progress: bool = True
    divergence: Divergence = dataclasses.field(default_factory=Divergence)

    def __post_init__(self):
        if self.new_run and self.resume:
            raise ValueError("new_run starts a fresh run in a new folder: not with resume")
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision {self.precision!r}: use one of {', '.join(PRECISIONS)}")
