"""torchcaffe adapter: device, DDP, solver (and its precision), stepping with the NaN guard,
nets for scoring.

Same few functions as engine/pycaffe_adapter.py; solvers.training.driver is a plain loop over
them.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from types import ModuleType
from typing import TYPE_CHECKING, Any, TypeVar

from .errors import Diverged

T = TypeVar("T")

if TYPE_CHECKING:
    from caffeio import caffe_pb2
    from caffeio.glog import SolverLog


def distributed(gpu: int | None) -> tuple[int, int, int]:
    """Initialise torch.distributed under torchrun -> (rank, world size, local rank)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return 0, 1, 0
    import torch

    local = int(os.environ.get("LOCAL_RANK", "0"))
    use_cuda = torch.cuda.is_available() and gpu != -1
    if not torch.distributed.is_initialized():
        torch.distributed.init_process_group("nccl" if use_cuda else "gloo")
    return torch.distributed.get_rank(), world, local


def set_device(caffe: ModuleType, gpu: int | None, local_rank: int) -> str:
    """CUDA when available (or --gpu N), else CPU -> a short device name."""
    import torch

    if gpu == -1 or (gpu is None and not torch.cuda.is_available()):
        caffe.set_mode_cpu()
        return "cpu"
    gpu = (gpu or 0) + local_rank
    caffe.set_device(gpu)
    caffe.set_mode_gpu()
    return f"cuda:{gpu}"


def check_precision(precision: str, device: str) -> None:
    """Exit with a message when `device` (set_device's name) cannot train in `precision`
    (fp16 on a CPU whose torch lacks float16 autocast: use CUDA or bf16)."""
    if precision == "fp32":
        return
    import torch

    from torchcaffe import mixed

    try:
        mixed.check_device(precision, torch.device(device))
    except mixed.PrecisionError as e:
        raise SystemExit(f"error: --precision {precision}: {e}") from None


def make_solver(
    caffe: ModuleType, path: str, log: SolverLog | None, precision: str = "fp32"
) -> Any:
    """torchcaffe's solver for solver prototxt `path`, logging to `log` (caffeio.glog), in
    `precision` (fp32: Caffe's exact path; bf16/fp16: torchcaffe.mixed)."""
    from torchcaffe.solver import get_solver

    solver = get_solver(path, log=log)
    if precision != "fp32":
        solver.set_precision(precision)
    return solver


def open_net(
    caffe: ModuleType, path: str, phase: int, weights: str | None = None, fast: bool = False
) -> tuple[Any, list[str]]:
    """caffe.Net(path, phase, weights=..., fast=...) -> (net, learnable layers the weights did
    not fill); torchcaffe checks the files itself. fast=False leaves the mode to torchcaffe's
    defaults (and the user's TORCHCAFFE_FAST)."""
    mode = {"fast": True} if fast else {}
    if weights is None:
        return caffe.Net(path, phase, **mode), []
    net = caffe.Net(path, phase, weights=weights, **mode)
    return net, list(getattr(net, "layers_without_weights", []) or [])


def copy_weights(net: Any, path: str, definition: caffe_pb2.NetParameter | None) -> None:
    """Load caffemodel `path` into `net` (torchcaffe checks shapes and names itself)."""
    net.copy_from(path)


def restore(solver: Any, path: str, folder: str | None = None) -> str | None:
    """Restore a solverstate (torchcaffe validates it and its learned_net, looked for beside
    the state when a relative one is not found: `folder` is not needed) and the .rngstate
    beside it -> a note for the user when the random state was not there, else None."""
    solver.restore(path)
    if solver.rng_restored:
        return None
    return (
        f"note: no .rngstate beside {path}: Dropout masks (and a data order drawn without a "
        "seed) differ from an uninterrupted run"
    )


def snapshot(solver: Any, log: SolverLog | None, param: caffe_pb2.SolverParameter) -> None:
    """solver.snapshot() (torchcaffe's solver writes its own log lines)."""
    solver.snapshot()


def barrier() -> None:
    """Wait for every rank (no-op in a single process)."""
    import torch

    if torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.barrier()


def broadcast(obj: T) -> T:
    """Rank 0's `obj` (picklable) on every rank of a torchrun job; `obj` itself in a single
    process."""
    import torch

    dist = torch.distributed
    if not (dist.is_available() and dist.is_initialized()):
        return obj
    device = None
    if dist.get_backend() == "nccl":  # NCCL moves the bytes through this rank's own GPU
        from torchcaffe.device import current_device

        device = current_device()
    box = [obj]
    dist.broadcast_object_list(box, src=0, device=device)
    return box[0]


def max_abs_weight(solver: Any) -> float:
    """The largest |value| over the solver's learnable weights (NaN when any is NaN)."""
    import torch

    peaks = []
    for q in solver.learnable:
        t = q.data()
        if t.numel():
            lo, hi = torch.aminmax(t.detach())
            peaks.append(torch.maximum(hi, -lo).float())
    return float(torch.stack(peaks).max()) if peaks else 0.0


def step(
    solver: Any,
    n: int,
    on_iteration: Callable[[Any, float, float | None], object],
    stopper: Any,
    log: SolverLog | None,
    param: caffe_pb2.SolverParameter,
    loss_blob: str,
) -> None:
    """Run n iterations; on_iteration(solver, loss, lr) after each; Diverged on a NaN/inf loss
    (torchcaffe checks the loss before the backward, so weights and history stay intact)."""
    from torchcaffe.solver import NonFiniteLoss

    def hook(s, loss):
        on_iteration(s, loss, getattr(s, "last_rate", None))

    solver.on_iteration.append(hook)
    solver.action = stopper
    try:
        solver.step(n)
    except NonFiniteLoss as e:  # mixed precision: too many skipped steps in a row (e.reason)
        raise Diverged(
            e.iteration, e.loss, weights_touched=False, reason=getattr(e, "reason", None)
        ) from None
    finally:
        solver.on_iteration.remove(hook)
