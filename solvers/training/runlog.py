"""snapshot/train.jsonl: one JSON object per line (losses, scores, snapshots, the stop reason).

Rows carry "iter": after a resume at iteration N the rows past N belong to iterations that are
run again, so they are dropped (truncate_after) rather than duplicated. Rows carry "run", the
id of the run that wrote them (a resumed run keeps the id of the run it continues): readers take
only the rows of their run (Journal.rows), so rows of another run can never be read as theirs.
"""

from __future__ import annotations

import json
import math
import os
import secrets
import time
from typing import Any


def finite(x: Any) -> Any:
    """`x` with non-finite floats (nested in dicts/lists) made None: strict JSON has no NaN."""
    if isinstance(x, float):
        return x if math.isfinite(x) else None
    if isinstance(x, dict):
        return {k: finite(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [finite(v) for v in x]
    return x


def append_row(path: str, row: dict) -> None:
    """Append `row` (a dict) to the JSON-lines file `path`."""
    with open(path, "a") as f:
        f.write(json.dumps(finite(row)) + "\n")


def read_rows(path: str) -> list[dict]:
    """The rows of `path` ([] when it does not exist); a line cut by a kill is skipped."""
    if not os.path.exists(path):
        return []
    out = []
    with open(path) as f:
        for line in f:
            try:
                row = json.loads(line)
            except ValueError:
                continue
            if isinstance(row, dict):
                out.append(row)
    return out


def truncate_after(path: str, iteration: int) -> int:
    """Drop the rows of `path` whose "iter" is past `iteration` (and lines cut by a kill),
    rewriting the file atomically -> the number of rows dropped."""
    if not os.path.exists(path):
        return 0
    with open(path) as f:
        lines = f.read().splitlines()
    kept = []
    for line in lines:
        try:
            row = json.loads(line)
        except ValueError:
            continue
        if isinstance(row, dict) and row.get("iter", 0) <= iteration:
            kept.append(line)
    if len(kept) != len(lines):
        from caffeio.atomic import atomic_write

        atomic_write(path, "".join(line + "\n" for line in kept).encode())
    return len(lines) - len(kept)


def new_run_id() -> str:
    """A fresh run's id: start time, pid, 4 random hex digits ('20261206-172206-2675-9f3a')."""
    return f"{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}-{secrets.token_hex(2)}"


def run_of_snapshot(path: str, stem: str) -> str | None:
    """The id of the run that wrote snapshot `stem` (<prefix>_iter_N) by `path`'s rows; None
    when no row names it."""
    found = None
    for row in read_rows(path):
        if row.get("snapshot") == stem and isinstance(row.get("run"), str):
            found = row["run"]
    return found


class Journal:
    """One run's rows of train.jsonl `path`: `append` stamps them with `run`, `rows` reads
    them back (never another run's)."""

    def __init__(self, path: str, run: str, enabled: bool = True) -> None:
        self.path, self.run, self.enabled = path, run, enabled

    def append(self, row: dict) -> None:
        """Append `row` with this run's id (nothing when not `enabled`: ranks other than 0)."""
        if self.enabled:
            append_row(self.path, {"run": self.run, **row})

    def rows(self) -> list[dict]:
        """This run's rows, in order."""
        return [r for r in read_rows(self.path) if r.get("run") == self.run]
