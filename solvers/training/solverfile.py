"""The solver a run actually uses: <run>/snapshot/solver[.rank<r>].prototxt.

It is the run folder's solver.prototxt with this run's overrides (rate, snapshot interval,
display, seed, schedule length), testing left to the driver, and every path absolute: the
nets it names are copies in snapshot/ whose data paths are resolved against the run folder
(solvers.runs.paths), so neither engine needs the working directory. Under torchrun each rank
gets its own train net, its data layers seeded seed + rank.
"""

from __future__ import annotations

import os
from typing import Any

from solvers.runs.paths import resolve_solver, run_net

from .options import TrainOptions

# Scoring is driven from the training loop, as in the release: tests never run inside the
# solver (Caffe aborts on test_interval 0 when test nets exist, so "never" is a huge interval).
NEVER = 999999999


def snapshot_prefix(folder: str) -> str:
    """The absolute snapshot_prefix of a run in `folder` (its solver's, else snapshot/train)."""
    import caffeio

    param = caffeio.read_solver(os.path.join(folder, "solver.prototxt"))
    return os.path.join(folder, param.snapshot_prefix or "snapshot/train")


def _overrides(param: Any, options: TrainOptions) -> None:
    """Apply the options that override solver fields, in place."""
    for field, value in (
        ("base_lr", options.lr),
        ("snapshot", options.snapshot_every),
        ("display", options.display),
        ("random_seed", options.seed),
        ("max_iter", options.max_iter),
    ):
        if value is not None:
            setattr(param, field, value)
    if options.iters is not None:
        param.max_iter = max(param.max_iter, options.iters)
    param.snapshot_prefix = param.snapshot_prefix or "snapshot/train"
    param.test_interval = NEVER
    param.test_initialization = False


def _stem(path: str) -> str:
    return os.path.splitext(os.path.basename(path))[0]


def write_run_solver(
    folder: str, options: TrainOptions, rank: int = 0, world: int = 1
) -> tuple[str, Any]:
    """Write this run's solver (and the nets it names) into <folder>/snapshot/ -> (its path,
    the SolverParameter, all paths absolute)."""
    import caffeio

    snap = os.path.join(folder, "snapshot")
    os.makedirs(snap, exist_ok=True)
    param = resolve_solver(caffeio.read_solver(os.path.join(folder, "solver.prototxt")), folder)
    _overrides(param, options)
    param.snapshot_prefix = os.path.join(folder, param.snapshot_prefix)
    ranked = f".rank{rank}" if world > 1 else ""
    train = param.train_net or param.net
    seed = {"seed": lambda s: (s or 0) + rank} if world > 1 else {}
    train_copy = run_net(
        train, folder, os.path.join(snap, f"{_stem(train)}{ranked}.prototxt"), **seed
    )
    tests = [run_net(t, folder, os.path.join(snap, f"{_stem(t)}.prototxt")) for t in param.test_net]
    if param.train_net:
        param.train_net = train_copy
    elif world > 1:  # a general net trains and tests: the train copy is rank-specific
        general = run_net(train, folder, os.path.join(snap, f"{_stem(train)}.prototxt"))
        param.ClearField("net")
        param.train_net = train_copy
        tests.append(general)
    else:
        param.net = train_copy
    del param.test_net[:]
    param.test_net.extend(tests)
    path = os.path.join(snap, f"solver{ranked}.prototxt")
    caffeio.write_solver(param, path)
    return path, param
