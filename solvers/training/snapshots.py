"""The snapshots of a run: which this process wrote, and which a forward has shown to be good.

A snapshot is "good" only once a forward on its weights gave a finite, sane loss: finite
weights alone say nothing (weights of 1e12 are finite and their forward is all NaN). The next
iteration's forward runs on the weights just snapshotted, so its loss is recorded against the
snapshot. train.jsonl rows (this run's, solvers.training.runlog.Journal):

    {"iter": N, "snapshot": stem, "status": "unverified", "max_abs_weight": w}   when written
    {"iter": N + 1, "snapshot": stem, "status": "good" | "bad", "forward_loss": L}  after it

("bad" at writing when the weights themselves were not finite or exploding, with "reason").
A snapshot with no forward after it yet (the final one, one cut short by a stop) stays
"unverified" and is never named good. After a stop the driver names the newest good snapshot
whose files exist.
"""

from __future__ import annotations

import math
import os
import re

from .runlog import Journal

_ITER = re.compile(r"_iter_(\d+)$")


class SnapshotBook:
    """Snapshot bookkeeping for the driver: `due`, `record`, `forward`, `wrote`, `latest_good`.

    `prefix`: the solver's snapshot_prefix; `journal`: the run's train.jsonl rows (written only
    when enabled: rank 0); `every`: the solver's snapshot interval (0: none).
    """

    def __init__(self, prefix: str, journal: Journal, every: int) -> None:
        self.prefix = prefix
        self.journal = journal
        self.every = int(every or 0)
        self.written: set[int] = set()
        self.pending: tuple[int, int] | None = None  # (snapshot's iteration, weights' iteration)

    def stem(self, iteration: int) -> str:
        """<prefix>_iter_<iteration>."""
        return f"{self.prefix}_iter_{iteration}"

    def due(self, iteration: int) -> bool:
        """Whether the solver snapshots after `iteration` by itself (its snapshot interval)."""
        return self.every > 0 and iteration % self.every == 0

    def record(self, iteration: int, problem: str | None, max_abs: float | None = None) -> None:
        """Note that this run writes (or wrote) the snapshot of `iteration`: "unverified" until
        a forward on it, or "bad" at once when its weights showed `problem`."""
        self.written.add(iteration)
        row = {"iter": iteration, "snapshot": self.stem(iteration)}
        row["status"] = "bad" if problem else "unverified"
        if problem:
            row["reason"] = problem
        if max_abs is not None:
            row["max_abs_weight"] = float(max_abs)
        self.journal.append(row)
        self.pending = None if problem else (iteration, iteration)

    def expect_forward(self, iteration: int) -> None:
        """The net now holds the weights of snapshot `iteration` (a resume from it): the next
        forward verifies it."""
        self.pending = (iteration, iteration)

    def forward(
        self, iteration: int, loss: float, problem: str | None, skipped: bool = False
    ) -> None:
        """The forward of the update that made `iteration` ran on the weights of `iteration` - 1
        and gave `loss` (`problem`: why that loss is a blow-up, else None). A snapshot of those
        weights waiting for a forward becomes good or bad. `skipped`: mixed precision skipped
        that update (a NaN/inf loss is then no verdict: the weights, still the snapshot's, meet
        the next forward)."""
        if self.pending is None or self.pending[1] != iteration - 1:
            return
        snap = self.pending[0]
        if skipped:
            if not math.isfinite(loss):
                self.pending = (snap, iteration)
                return
        self.pending = None
        ok = math.isfinite(loss) and problem is None
        row = {"iter": iteration, "snapshot": self.stem(snap), "status": "good" if ok else "bad"}
        row["forward_loss"] = loss
        if not ok:
            row["reason"] = problem or f"the forward on its weights gave loss {loss}"
        self.journal.append(row)

    def forward_failed(self, weights_iteration: int, loss: float) -> None:
        """A forward on the weights of `weights_iteration` gave the non-finite `loss` and the
        run stopped: a snapshot of those weights is bad."""
        if self.pending is not None and self.pending[1] == weights_iteration:
            self.forward(weights_iteration + 1, loss, f"the forward on its weights gave {loss}")

    def wrote(self, iteration: int) -> bool:
        """Whether this process wrote the snapshot of `iteration` (never adopt another's)."""
        return iteration in self.written

    def statuses(self) -> dict[str, tuple[int, str, dict]]:
        """{stem: (its iteration, its latest status, that row)} from this run's rows."""
        out = {}
        for row in self.journal.rows():
            stem, status = row.get("snapshot"), row.get("status")
            m = _ITER.search(stem) if isinstance(stem, str) else None
            if m and status in ("good", "bad", "unverified"):
                out[stem] = (int(m.group(1)), status, row)
        return out

    def latest_good(self) -> tuple[str, float | None] | None:
        """(path of the newest caffemodel a forward showed good whose .caffemodel and
        .solverstate exist, the loss of that forward); None when there is none."""
        for stem, (_, status, row) in sorted(self.statuses().items(), key=lambda kv: -kv[1][0]):
            model, state = f"{stem}.caffemodel", f"{stem}.solverstate"
            if status == "good" and os.path.exists(model) and os.path.exists(state):
                return os.path.abspath(model), row.get("forward_loss")
        return None

    def explain_none(self) -> str:
        """Why no snapshot is good: 'none written yet', or the newest one's verdict."""
        found = self.statuses()
        if not found:
            return "none written yet"
        stem, (_, status, row) = max(found.items(), key=lambda kv: kv[1][0])
        name = os.path.basename(stem)
        if status == "unverified":
            return f"none ({name} was written, but no forward has run on its weights yet)"
        return f"none ({name} is bad: {row.get('reason', 'not finite')})"
