"""The snapshots of a run: which this process wrote, and which were sane when written.

Each snapshot gets a train.jsonl row {"iter", "snapshot", "sane", "max_abs_weight"}: sane means
its weights were finite and not exploding and the loss that led to it was not a blow-up. After a
stop for divergence the driver names the latest sane snapshot whose files exist, never merely
the latest file (weights can be 1e12..1e20 before the loss turns NaN).
"""

from __future__ import annotations

import os

from . import runlog


class SnapshotBook:
    """Snapshot bookkeeping for the driver: `due`, `record`, `wrote`, `latest_sane`.

    `prefix`: the solver's snapshot_prefix; `jsonl`: the run's train.jsonl; `every`: the
    solver's snapshot interval (0: none); rows are written only when `enabled` (rank 0).
    """

    def __init__(self, prefix: str, jsonl: str, every: int, enabled: bool = True) -> None:
        self.prefix = prefix
        self.jsonl = jsonl
        self.every = int(every or 0)
        self.enabled = enabled
        self.written: set[int] = set()

    def stem(self, iteration: int) -> str:
        """<prefix>_iter_<iteration>."""
        return f"{self.prefix}_iter_{iteration}"

    def due(self, iteration: int) -> bool:
        """Whether the solver snapshots after `iteration` by itself (its snapshot interval)."""
        return self.every > 0 and iteration % self.every == 0

    def record(self, iteration: int, sane: bool, max_abs: float | None = None) -> None:
        """Note that this run writes (or wrote) the snapshot of `iteration`, and its sanity."""
        self.written.add(iteration)
        if self.enabled:
            row = {"iter": iteration, "snapshot": self.stem(iteration), "sane": bool(sane)}
            if max_abs is not None:
                row["max_abs_weight"] = float(max_abs)
            runlog.append_row(self.jsonl, row)

    def wrote(self, iteration: int) -> bool:
        """Whether this process wrote the snapshot of `iteration` (never adopt another's)."""
        return iteration in self.written

    def latest_sane(self) -> str | None:
        """Path of the newest caffemodel recorded sane whose .caffemodel and .solverstate exist
        (None when there is none)."""
        verdict = {}
        for row in runlog.read_rows(self.jsonl):
            if "snapshot" in row and "sane" in row:
                verdict[row["snapshot"]] = (row.get("iter", -1), bool(row["sane"]))
        for stem, (_, sane) in sorted(verdict.items(), key=lambda kv: -kv[1][0]):
            model, state = f"{stem}.caffemodel", f"{stem}.solverstate"
            if sane and os.path.exists(model) and os.path.exists(state):
                return os.path.abspath(model)
        return None
