"""snapshot/train.jsonl: one JSON object per line (losses, scores, snapshots, the stop reason).

Rows carry "iter": after a resume at iteration N the rows past N belong to iterations that are
run again, so they are dropped (truncate_after) rather than duplicated.
"""

from __future__ import annotations

import json
import math
import os
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
