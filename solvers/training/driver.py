"""The training driver behind every models/<m>/solve.py: a plain loop over a Run.

    from solvers.training import TrainOptions, train
    train("voc-fcn32s", TrainOptions(iters=100, width=1 / 16))

Base weights are the release's staged inits (surgery makes them when missing); every fixed
Deconvolution gets bilinear kernels (interp); training steps through the solver with the eval
split scored every `score_every` iterations. Nothing is lost: snapshots are atomic, Ctrl-C or
SIGTERM snapshots and exits, a NaN/inf loss stops before it touches the weights, and `resume`
continues exactly (same weights, history, lr step and data position). Setting up and stepping
a run is solvers.training.session; engine-specific code is in engine/'s adapters.
"""

from __future__ import annotations

from engine import Diverged

from .divergence import stop_diverged
from .options import TrainOptions
from .session import Run, start
from .stop import StopRequest


def train(model: str, options: TrainOptions | None = None) -> dict | None:
    """Train `model` (a zoo model name) -> the last scores ({head: metrics}; None when it was
    never scored). Exits (SystemExit) on a signal (128 + its number, after a snapshot), on
    divergence (1), when the run files cannot be written and when another run holds the run
    folder (solvers.runs.lock: it is this run's alone until train returns)."""
    run = start(model, options or TrainOptions())
    try:
        return _loop(run, model)
    finally:
        run.release()


def _loop(run: Run, model: str) -> dict | None:
    """Step, score, snapshot and publish `run` to its end."""
    stopper = StopRequest()
    results = None
    name = getattr(run.solver.net, "name", None) or run.train_def.name or model
    run.log("solving", f"Solving {name}")
    with stopper.installed():
        try:
            while run.running and not stopper.stop_pending:
                run.step(stopper)
                if not stopper.stop_pending and run.score_due():
                    results = run.score()
            run.close_bar()
            run.final_snapshot()
        except Diverged as e:
            run.close_bar()
            stop_diverged(e, run.book)
        except OSError as e:
            run.close_bar()
            raise run.write_failed(e) from None
    if stopper.stop_pending:
        run.stopped(stopper.name)
        raise SystemExit(128 + stopper.signal)
    if run.rank == 0:
        run.publish()
    run.log("done", "Optimization Done.")
    return results
