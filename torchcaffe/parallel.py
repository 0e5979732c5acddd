"""pycaffe's multi-GPU names. torchcaffe trains on several GPUs or processes with torch's
DistributedDataParallel under torchrun (solvers.training), not with Caffe's NCCL solvers.

`has_nccl()` is False and `NCCL(...)` raises, saying to use torchrun. `solver_count()` /
`solver_rank()` return what `set_solver_count` / `set_solver_rank` set, else the running
torch.distributed group's world size / rank (1 / 0 without one); `set_multiprocess` is kept
for scripts that call it. Caffe's data layers read these to shard their input; torchcaffe's
solvers and data layers take the rank and world size from torch.distributed.
"""

from __future__ import annotations

from typing import Any, NoReturn

_state = {"count": None, "rank": None, "multiprocess": False}


def _dist():
    try:
        import torch.distributed as dist
    except ImportError:
        return 0, 1
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def has_nccl() -> bool:
    """False: torchcaffe's multi-GPU training is torch DDP (torchrun), not Caffe's NCCL."""
    return False


class NCCL:
    """Caffe's NCCL solver synchroniser: not in torchcaffe (raises)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        raise RuntimeError(
            "caffe.NCCL: torchcaffe trains on several GPUs with torch DistributedDataParallel, "
            "not NCCL solvers: run `torchrun --nproc_per_node=N models/<model>/solve.py ...` "
            "(one process per GPU; see the README's multi-GPU training)"
        )

    @staticmethod
    def new_uid() -> NoReturn:
        """Raises like NCCL(): there are no NCCL uids in torchcaffe."""
        NCCL()


def solver_count() -> int:
    """Number of solvers (processes) training together: set_solver_count's, else the
    torch.distributed world size, else 1."""
    return _state["count"] if _state["count"] is not None else _dist()[1]


def set_solver_count(count: int) -> None:
    """Set what solver_count() returns."""
    _state["count"] = int(count)


def solver_rank() -> int:
    """This solver's rank: set_solver_rank's, else the torch.distributed rank, else 0."""
    return _state["rank"] if _state["rank"] is not None else _dist()[0]


def set_solver_rank(rank: int) -> None:
    """Set what solver_rank() returns."""
    _state["rank"] = int(rank)


def set_multiprocess(multiprocess: bool) -> None:
    """Record Caffe's multiprocess flag (torchcaffe's processes come from torchrun)."""
    _state["multiprocess"] = bool(multiprocess)


def multiprocess() -> bool:
    """The flag set_multiprocess recorded."""
    return _state["multiprocess"]
