"""Caffe's learning-rate policies (SGDSolver::GetLearningRate), as pure functions."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from caffeio import caffe_pb2

POLICIES = ("fixed", "step", "exp", "inv", "multistep", "poly", "sigmoid")


class SolverConfigError(ValueError):
    """A solver prototxt asks for something Caffe would reject (names the field and fix)."""


def check_policy(param: caffe_pb2.SolverParameter, where: str = "solver") -> None:
    """Raise SolverConfigError when `param` (SolverParameter) lacks what its lr_policy needs."""
    policy = param.lr_policy or "fixed"
    if policy not in POLICIES:
        raise SolverConfigError(
            f"{where}: lr_policy '{policy}' is unknown; use one of {', '.join(POLICIES)}"
        )
    need = {
        "step": ("gamma", "stepsize"),
        "exp": ("gamma",),
        "inv": ("gamma", "power"),
        "multistep": ("gamma",),
        "poly": ("power", "max_iter"),
        "sigmoid": ("gamma", "stepsize"),
    }.get(policy, ())
    for field in need:
        if not param.HasField(field):
            raise SolverConfigError(f"{where}: lr_policy '{policy}' needs `{field}` to be set")
    if policy == "step" and param.stepsize <= 0:
        raise SolverConfigError(f"{where}: stepsize must be positive, got {param.stepsize}")
    if policy == "poly" and param.max_iter <= 0:
        raise SolverConfigError(f"{where}: lr_policy 'poly' needs max_iter > 0")


def learning_rate(
    param: caffe_pb2.SolverParameter, it: int, current_step: int = 0
) -> tuple[float, int]:
    """Rate at iteration `it` -> (rate as float32-rounded Python float, new current_step).

    `current_step` is the multistep counter Caffe keeps in the solver (and the solverstate);
    like Caffe it advances by at most one stepvalue per call. Arithmetic is done in double and
    rounded to float32, as Caffe computes `Dtype rate` from float fields with std::pow.
    """
    policy = param.lr_policy or "fixed"
    base = float(np.float32(param.base_lr))
    gamma = float(np.float32(param.gamma))
    power = float(np.float32(param.power))
    if policy == "fixed":
        rate = base
    elif policy == "step":
        current_step = it // param.stepsize
        rate = base * gamma**current_step
    elif policy == "exp":
        rate = base * gamma**it
    elif policy == "inv":
        rate = base * (1.0 + gamma * it) ** (-power)
    elif policy == "multistep":
        if current_step < len(param.stepvalue) and it >= param.stepvalue[current_step]:
            current_step += 1
        rate = base * gamma**current_step
    elif policy == "poly":
        rate = base * (1.0 - float(it) / param.max_iter) ** power
    elif policy == "sigmoid":
        rate = base * (1.0 / (1.0 + math.exp(-gamma * (it - param.stepsize))))
    else:
        raise SolverConfigError(f"lr_policy '{policy}' is unknown; use one of {POLICIES}")
    return float(np.float32(rate)), current_step
