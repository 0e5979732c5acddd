"""Caffe's per-parameter solver steps (ComputeUpdateValue), as in-place torch functions.

Each function takes one learnable parameter's `diff` (already normalised by iter_size and
regularised), its history tensors and the local rate (rate * lr_mult) and leaves in `diff` the
value Caffe subtracts from the data (Net::Update: data -= diff). Shapes: all tensors alike.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

# Number of history blobs per learnable parameter for each solver type (Caffe's history_ holds
# them parameter-major in blocks: [h_0 .. h_{n-1}] then, for AdaDelta/Adam, [h2_0 .. h2_{n-1}]).
HISTORY_BLOCKS = {"SGD": 1, "Nesterov": 1, "AdaGrad": 1, "RMSProp": 1, "AdaDelta": 2, "Adam": 2}


def sgd(diff: torch.Tensor, hist: torch.Tensor, local_rate: float, momentum: float) -> None:
    """Momentum SGD: history = local_rate * diff + momentum * history; diff = history."""
    hist.mul_(momentum).add_(diff, alpha=local_rate)
    diff.copy_(hist)


def nesterov(diff: torch.Tensor, hist: torch.Tensor, local_rate: float, momentum: float) -> None:
    """Nesterov: h_new = momentum h + local_rate diff; diff = (1+momentum) h_new - momentum h."""
    old = hist.clone()
    hist.mul_(momentum).add_(diff, alpha=local_rate)
    diff.copy_(hist).mul_(1.0 + momentum).sub_(old, alpha=momentum)


def adagrad(diff: torch.Tensor, hist: torch.Tensor, local_rate: float, delta: float) -> None:
    """AdaGrad: history += diff^2; diff = local_rate * diff / (sqrt(history) + delta)."""
    hist.add_(diff * diff)
    diff.div_(hist.sqrt().add_(delta)).mul_(local_rate)


def rmsprop(
    diff: torch.Tensor, hist: torch.Tensor, local_rate: float, rms_decay: float, delta: float
) -> None:
    """RMSProp: h = decay h + (1-decay) diff^2; diff = local_rate * diff / (sqrt(h) + delta)."""
    hist.mul_(rms_decay).add_(diff * diff, alpha=1.0 - rms_decay)
    diff.div_(hist.sqrt().add_(delta)).mul_(local_rate)


def adadelta(
    diff: torch.Tensor,
    hist_g: torch.Tensor,
    hist_u: torch.Tensor,
    local_rate: float,
    momentum: float,
    delta: float,
) -> None:
    """AdaDelta (Zeiler), Caffe's form with `momentum` as the decay.

    E[g^2] = m E[g^2] + (1-m) g^2; u = g * sqrt((E[u^2] + delta) / (E[g^2] + delta));
    E[u^2] = m E[u^2] + (1-m) u^2; diff = local_rate * u.
    """
    hist_g.mul_(momentum).add_(diff * diff, alpha=1.0 - momentum)
    ratio = (hist_u + delta).div_(hist_g + delta).pow_(0.5)
    diff.mul_(ratio)
    hist_u.mul_(momentum).add_(diff * diff, alpha=1.0 - momentum)
    diff.mul_(local_rate)


def adam(
    diff: torch.Tensor,
    m: torch.Tensor,
    v: torch.Tensor,
    local_rate: float,
    beta1: float,
    beta2: float,
    eps: float,
    t: int,
) -> None:
    """Adam at step t = iter + 1: m, v moments; diff = local_rate * c * m / (sqrt(v) + eps).

    c = sqrt(1 - beta2^t) / (1 - beta1^t) is Caffe's bias correction (folded into the rate).
    """
    correction = math.sqrt(1.0 - beta2**t) / (1.0 - beta1**t)
    m.mul_(beta1).add_(diff, alpha=1.0 - beta1)
    v.mul_(beta2).add_(diff * diff, alpha=1.0 - beta2)
    diff.copy_(m.div(v.sqrt().add_(eps))).mul_(local_rate * correction)


def regularize(diff: torch.Tensor, data: torch.Tensor, local_decay: float, kind: str) -> None:
    """Weight decay: L2 diff += decay * data; L1 diff += decay * sign(data)."""
    if local_decay == 0:
        return
    if kind == "L2":
        diff.add_(data, alpha=local_decay)
    elif kind == "L1":
        diff.add_(torch.sign(data), alpha=local_decay)
    else:
        raise ValueError(f"regularization_type '{kind}' is unknown: use L1 or L2")


def clip_gradients(diffs: Sequence[torch.Tensor], clip: float) -> tuple[float | None, float]:
    """Global L2 clip over all diffs; returns (norm, scale) with scale 1.0 when not clipped."""
    if clip < 0 or not diffs:
        return None, 1.0
    sumsq = sum(float(torch.sum(d.double() * d.double())) for d in diffs)
    norm = math.sqrt(sumsq)
    if norm <= clip:
        return norm, 1.0
    scale = clip / norm
    for d in diffs:
        d.mul_(scale)
    return norm, scale
