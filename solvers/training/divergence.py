"""When training has diverged: a non-finite loss, or the signs that come before it.

Weights can grow to 1e12..1e20 (their forward all NaN) several iterations before the loss
itself becomes NaN, so the driver also watches, after each update:
- the loss: above `loss_factor` x the median of the last `window` losses (once `window` losses
  have been seen) it is no longer a noisy step but a blow-up;
- the weights: every `every` iterations and at every snapshot, the largest |weight| must be
  finite and at most `weight_factor` x max(1, its value at the start) (finite only, at
  snapshots, when `weight_factor` is 0).
Both engines report the same numbers (the loss, the largest |weight|), so one rule serves both.
The engine adapters raise engine.Diverged for a NaN/inf loss; the driver raises it for these.
"""

from __future__ import annotations

import collections
import math
import os
import statistics
import sys
from typing import Any, NoReturn

from engine import Diverged

from .snapshots import SnapshotBook


class DivergenceWatch:
    """The loss and weight rules above; `loss_factor` or `weight_factor` 0 turns a rule off."""

    def __init__(
        self,
        loss_factor: float = 1e3,
        window: int = 20,
        weight_factor: float = 1e4,
        every: int = 10,
    ) -> None:
        self.loss_factor = float(loss_factor)
        self.weight_factor = float(weight_factor)
        self.every = max(1, int(every))
        self.recent = collections.deque(maxlen=max(1, int(window)))
        self.weight_limit = None

    def start(self, max_abs_weight: float) -> None:
        """The largest |weight| at the start of training: the weight limit is relative to it."""
        if self.weight_factor > 0 and math.isfinite(max_abs_weight):
            self.weight_limit = self.weight_factor * max(1.0, max_abs_weight)

    def loss_problem(self, loss: float) -> str | None:
        """Why `loss` (finite) is a blow-up, or None; sane losses join the running window."""
        full = len(self.recent) == self.recent.maxlen
        if self.loss_factor > 0 and full:
            median = statistics.median(self.recent)
            if median > 0 and loss > self.loss_factor * median:
                return (
                    f"loss = {loss:.6g}, over {self.loss_factor:g} x its running median "
                    f"{median:.6g} (last {len(self.recent)} iterations)"
                )
        self.recent.append(loss)
        return None

    def weights_due(self, iteration: int, snapshot: bool) -> bool:
        """Whether the weights are checked after `iteration`: at every snapshot (whose verdict
        is recorded, even with the weight rule off), and every `every` iterations."""
        return snapshot or (self.weight_factor > 0 and iteration % self.every == 0)

    def weight_problem(self, max_abs: float) -> str | None:
        """Why the largest |weight| `max_abs` means divergence, or None."""
        if not math.isfinite(max_abs):
            return f"a weight became {max_abs}"
        if self.weight_limit is not None and max_abs > self.weight_limit:
            return (
                f"the largest |weight| is {max_abs:.3g}, over {self.weight_factor:g} x its "
                f"starting value (limit {self.weight_limit:.3g})"
            )
        return None


def after_update(
    eng: Any,
    solver: Any,
    loss: float,
    watch: DivergenceWatch,
    book: SnapshotBook,
    skipped: bool = False,
) -> None:
    """After each update: Diverged when the loss blew up or the weights exploded. `loss` came
    from a forward on the weights before this update: its verdict goes to a snapshot of those
    weights (book.forward); a row for the snapshot of this iteration (written by the solver
    just before or just after). A step skipped by mixed precision with a NaN/inf loss is not
    judged by its loss (the solver stops after too many such steps in a row). eng: the engine
    adapter (max_abs_weight)."""
    it = solver.iter
    snap = book.due(it)
    problem = None if skipped and not math.isfinite(loss) else watch.loss_problem(loss)
    book.forward(it, loss, problem, skipped)
    peak = None
    if problem is None and watch.weights_due(it, snap):
        peak = eng.max_abs_weight(solver)
        problem = watch.weight_problem(peak)
    if snap:
        book.record(it, problem, peak)
    if problem is not None:
        raise Diverged(it, loss, weights_touched=True, reason=problem)


def final_weights(eng: Any, solver: Any, watch: DivergenceWatch) -> float:
    """The largest |weight| before a final snapshot; Diverged when it shows divergence."""
    peak = eng.max_abs_weight(solver)
    problem = watch.weight_problem(peak)
    if problem is not None:
        raise Diverged(solver.iter, float("nan"), weights_touched=True, reason=problem)
    return peak


def stop_diverged(e: Diverged, book: SnapshotBook) -> NoReturn:
    """Report a divergence stop (naming the latest snapshot a forward showed good) and exit
    with status 1."""
    if e.nan:  # the forward on the weights of e.iteration gave a NaN/inf loss
        book.forward_failed(e.iteration, e.loss)
    touched = " (this engine had already applied the update: nothing is saved)"
    print(
        f"error: {e}{touched if e.weights_touched and e.nan else ''}\n"
        f"last good snapshot: {good_snapshot_text(book)}",
        file=sys.stderr,
    )
    book.journal.append({"iter": e.iteration, "error": e.reason, "loss": str(e.loss)})
    if e.memory_suspect:  # real Caffe's heap may be corrupt: its destructors would abort
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(1)
    raise SystemExit(1) from None


def good_snapshot_text(book: SnapshotBook) -> str:
    """The newest good snapshot and how to continue from it, or why there is none."""
    found = book.latest_good()
    if not found:
        return book.explain_none()
    model, loss = found
    state = model[: -len(".caffemodel")] + ".solverstate"
    seen = f"; the forward on them gave loss {loss:.6g}" if loss is not None else ""
    return (
        f"{model} (finite weights{seen})\nto continue from it: --resume {state} with a lower --lr"
    )
