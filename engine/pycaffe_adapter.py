"""Real-pycaffe (BVLC Caffe) adapter: the same functions as torchcaffe_adapter.py, without torch.

No torch here. Caffe's own checks abort the process, so files are checked first
(engine.pycaffe_checks); Caffe logs to stderr only, so the Caffe-format train.log is written here
from what pycaffe exposes (loss blobs, solver.lr); pycaffe's solver.param lacks most fields, so
the parsed solver.prototxt is passed in.
"""

from __future__ import annotations

import collections
import contextlib
import os
import time
from collections.abc import Callable, Iterator
from types import ModuleType
from typing import TYPE_CHECKING, Any, TypeVar

from caffeio.glog import fmt_float

from . import pycaffe_checks
from .errors import Diverged

T = TypeVar("T")

if TYPE_CHECKING:
    from caffeio import caffe_pb2
    from caffeio.glog import SolverLog


def distributed(gpu: int | None) -> tuple[int, int, int]:
    """Caffe's multi-GPU (NCCL) cannot run Python layers: refuse torchrun instead of letting each
    rank train alone."""
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        raise SystemExit(
            "error: several processes (torchrun, WORLD_SIZE > 1) with the caffe engine: BVLC "
            "Caffe's multi-GPU training does not support Python data layers, so each rank would "
            "train alone. Use --engine torch (FCN_ENGINE=torch) for multi-GPU/multi-machine "
            "training (PyTorch DDP)."
        )
    return 0, 1, 0


def set_device(caffe: ModuleType, gpu: int | None, local_rank: int) -> str:
    """CPU unless --gpu N >= 0 (a CPU_ONLY build cannot tell whether it has a GPU)."""
    if gpu is None or gpu < 0:
        caffe.set_mode_cpu()
        return "cpu"
    caffe.set_device(gpu)
    caffe.set_mode_gpu()
    return f"gpu {gpu}"


def check_precision(precision: str, device: str | None = None) -> None:
    """BVLC Caffe trains in fp32 only: exit with a message for any other --precision."""
    if precision != "fp32":
        raise SystemExit(
            f"error: --precision {precision} needs the torchcaffe engine: BVLC Caffe has no "
            "mixed-precision training. Use --engine torch (FCN_ENGINE=torch), or --precision fp32"
        )


def make_solver(
    caffe: ModuleType, path: str, log: SolverLog | None, precision: str = "fp32"
) -> Any:
    """caffe.get_solver(path) after checking every net it names (step() writes the log)."""
    check_precision(precision)
    param = caffeio_solver(path)
    types = list(caffe.layer_type_list())
    if param.train_net or param.net:
        pycaffe_checks.check_net_file(param.train_net or param.net, 0, types)
    for test in param.test_net:
        pycaffe_checks.check_net_file(test, 1, types)
    return caffe.get_solver(path)


def caffeio_solver(path: str) -> caffe_pb2.SolverParameter:
    """The solver prototxt at `path`, parsed by caffeio (pycaffe's solver.param lacks most
    fields)."""
    import caffeio

    return caffeio.read_solver(path)


def open_net(
    caffe: ModuleType, path: str, phase: int, weights: str | None = None, fast: bool = False
) -> tuple[Any, list[str]]:
    """caffe.Net(path, phase) and copy_from(weights), each after the check Caffe would abort on
    -> (net, layers with blobs that the weights did not fill). Caffe has no fast mode (`fast`
    is ignored; engine.fast_mode says so)."""
    pycaffe_checks.check_net_file(path, phase, list(caffe.layer_type_list()))
    net = caffe.Net(path, phase)
    missing = copy_weights(net, weights, None) if weights is not None else []
    return net, missing


def copy_weights(net: Any, path: str, definition: caffe_pb2.NetParameter | None) -> list[str]:
    """net.copy_from(path) after checking that the file fits (Caffe aborts otherwise); layers
    with blobs that got none are named on stderr and returned."""
    import sys

    empty = pycaffe_checks.check_weights_fit(net, path)
    net.copy_from(path)
    if empty:
        print(f"note: {path} has no weights for {', '.join(empty)}", file=sys.stderr)
    return empty


@contextlib.contextmanager
def working_directory(folder: str | None) -> Iterator[None]:
    """Run the block in `folder` (None: where we are) and come back, whatever happens: for the
    Caffe calls that read paths relative to the working directory."""
    if folder is None:
        yield
        return
    before = os.getcwd()
    os.chdir(folder)
    try:
        yield
    finally:
        os.chdir(before)


def restore(solver: Any, path: str, folder: str | None = None) -> str | None:
    """solver.restore(path) after checking the state and its learned_net -> a note: Caffe's
    solverstate holds no random state. Caffe reads the state's learned_net relative to the
    working directory: a relative one is read from `folder` (the run folder the snapshot was
    written in), the working directory restored after."""
    path = os.path.abspath(path)
    with working_directory(folder):
        pycaffe_checks.check_solverstate(path, solver.net)
        solver.restore(path)
    return (
        "note: Caffe's solverstate holds no random state: Dropout masks differ from an "
        "uninterrupted run (FCN_ENGINE=torch resumes bit-exactly)"
    )


def barrier() -> None:
    """Nothing to wait for: the Caffe engine runs one process."""


def broadcast(obj: T) -> T:
    """Rank 0's `obj` on every rank: the Caffe engine runs one process, so `obj` itself."""
    return obj


def max_abs_weight(solver: Any) -> float:
    """The largest |value| over the net's parameter blobs (NaN when any is NaN)."""
    import numpy as np

    peak = np.float64(0.0)
    for blobs in solver.net.params.values():
        for i in range(len(blobs)):  # pycaffe's blob vectors: len() and index
            a = blobs[i].data
            if a.size:
                peak = np.maximum(peak, np.maximum(a.max(), -a.min()))
    return float(peak)


def step(
    solver: Any,
    n: int,
    on_iteration: Callable[[Any, float, float | None], object],
    stopper: Any,
    log: SolverLog | None,
    param: caffe_pb2.SolverParameter,
    loss_blob: str,
) -> None:
    """n iterations one step at a time, so signals, the log and the NaN guard stay prompt.

    Writes Caffe's display lines to `log` (train.log): every `display` iterations the smoothed
    loss over `average_loss` iterations, the net's loss outputs and the rate. Caffe has already
    updated the weights when a step returns a NaN/inf loss: Diverged says so, and the driver
    neither snapshots nor publishes them.
    """
    window = collections.deque(maxlen=max(1, param.average_loss))
    tick = time.time()
    for _ in range(n):
        k = solver.iter
        lr = float(solver.lr) if hasattr(solver, "lr") else None
        solver.step(1)
        loss = float(solver.net.blobs[loss_blob].data.sum())
        if not pycaffe_checks.finite(loss):
            e = Diverged(k, loss, weights_touched=True)
            e.memory_suspect = True  # the backward of a NaN forward: see Diverged
            raise e
        window.append(loss)
        if log is not None and param.display and k % param.display == 0:
            now = time.time()
            lapse = now - tick
            tick = now
            smoothed = sum(window) / len(window)
            log(
                "iteration",
                f"Iteration {k} ({fmt_float(param.display / max(lapse, 1e-9))} iter/s, "
                f"{fmt_float(lapse)}s/{param.display} iters), loss = {fmt_float(smoothed)}",
            )
            log("train_output", f"    Train net output #0: {loss_blob} = {fmt_float(loss)}")
            if lr is not None:
                log("lr", f"Iteration {k}, lr = {fmt_float(lr)}")
        if log is not None and param.snapshot and solver.iter % param.snapshot == 0:
            log("snapshot", f"Snapshotting to binary proto file {snapshot_name(param, solver)}")
        on_iteration(solver, loss, lr)
        if stopper.signal is not None:
            break


def snapshot(solver: Any, log: SolverLog | None, param: caffe_pb2.SolverParameter) -> None:
    """solver.snapshot(), and its line in train.log (pycaffe logs to stderr only)."""
    solver.snapshot()
    if log is not None:
        log("snapshot", f"Snapshotting to binary proto file {snapshot_name(param, solver)}")


def snapshot_name(param: caffe_pb2.SolverParameter, solver: Any) -> str:
    """The caffemodel name Caffe gives the snapshot at the solver's iteration:
    <snapshot_prefix>_iter_<iter>.caffemodel."""
    return f"{param.snapshot_prefix}_iter_{solver.iter}.caffemodel"
