"""Caffe's weight fillers as functions: FillerParameter + shape -> float32 torch tensor."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import TYPE_CHECKING

import torch

from .errors import NetError

if TYPE_CHECKING:
    from caffeio import caffe_pb2


def _fans(shape):
    # Caffe: fan_in = count / shape[0], fan_out = count / shape[1] (num_axes >= 2 assumed).
    count = math.prod(shape)
    fan_in = count // shape[0] if len(shape) > 0 and shape[0] else count
    fan_out = count // shape[1] if len(shape) > 1 and shape[1] else count
    return fan_in, fan_out


def _norm_n(filler, shape):
    fan_in, fan_out = _fans(shape)
    vn = filler.variance_norm
    FP = type(filler)
    if vn == FP.AVERAGE:
        return (fan_in + fan_out) / 2.0
    if vn == FP.FAN_OUT:
        return fan_out
    return fan_in


def bilinear_kernel(k: int) -> torch.Tensor:
    """Caffe's bilinear upsampling kernel (k, k): f = ceil(k/2), c = (k - 1) / (2f),
    w[y, x] = (1 - |x/f - c|) (1 - |y/f - c|)."""
    f = math.ceil(k / 2.0)
    c = (k - 1) / (2.0 * f)
    x = torch.arange(k, dtype=torch.float64)
    w = 1 - torch.abs(x / f - c)
    return (w[:, None] * w[None, :]).float()


def _constant(filler, shape, g, where):
    return torch.full(shape, float(filler.value))


def _gaussian(filler, shape, g, where):
    t = torch.randn(shape, generator=g, dtype=torch.float32) * filler.std + filler.mean
    if filler.sparse >= 0:
        if len(shape) < 2:
            raise NetError(f"{where}: sparse gaussian filler needs a blob of >= 2 axes")
        p = filler.sparse / float(shape[0])
        t = t * (torch.rand(shape, generator=g) < p).float()
    return t


def _uniform(filler, shape, g, where):
    return torch.rand(shape, generator=g) * (filler.max - filler.min) + filler.min


def _positive_unitball(filler, shape, g, where):
    if filler.sparse != -1:
        raise NetError(f"{where}: positive_unitball filler does not support sparse")
    if not shape or math.prod(shape) == 0:
        raise NetError(f"{where}: positive_unitball filler needs a non-empty blob")
    t = torch.rand(shape, generator=g)
    rows = t.reshape(shape[0], -1)
    return (rows / rows.sum(1, keepdim=True)).reshape(shape)


def _xavier(filler, shape, g, where):
    scale = math.sqrt(3.0 / _norm_n(filler, shape))
    return torch.rand(shape, generator=g) * (2 * scale) - scale


def _msra(filler, shape, g, where):
    std = math.sqrt(2.0 / _norm_n(filler, shape))
    return torch.randn(shape, generator=g) * std


def _bilinear(filler, shape, g, where):
    if len(shape) != 4:
        raise NetError(f"{where}: bilinear filler needs a 4-D blob, got shape {shape}")
    if shape[2] != shape[3]:
        raise NetError(f"{where}: bilinear filler needs a square kernel, got shape {shape}")
    k = bilinear_kernel(shape[3])
    return k.expand(shape).contiguous()


# filler type -> fn(filler, shape, generator, where): the new float32 CPU tensor
_FILLERS = {
    "constant": _constant,
    "gaussian": _gaussian,
    "uniform": _uniform,
    "positive_unitball": _positive_unitball,
    "xavier": _xavier,
    "msra": _msra,
    "bilinear": _bilinear,
}


def fill(
    filler: caffe_pb2.FillerParameter | None,
    shape: Iterable[int],
    generator: torch.Generator | None = None,
    where: str = "layer",
) -> torch.Tensor:
    """Fill a new float32 CPU tensor of `shape` by a caffe_pb2.FillerParameter.

    Types: constant (value), gaussian (mean, std; sparse keeps each weight with probability
    sparse/shape[0]), positive_unitball (uniform [0, 1) scaled so that each item along axis 0
    sums to 1), uniform (min, max), xavier (uniform +-sqrt(3/n)), msra (gaussian
    std sqrt(2/n)), bilinear (the upsampling kernel in every (out, in) pair of a 4-D shape);
    n is fan_in (count/shape[0]), fan_out (count/shape[1]) or their mean, by variance_norm.
    No filler (None) fills zeros.
    """
    shape = tuple(int(s) for s in shape)
    if filler is None:
        return torch.full(shape, 0.0)
    make = _FILLERS.get(filler.type)
    if make is None:
        raise NetError(
            f"{where}: unknown filler type '{filler.type}' "
            "(use constant, gaussian, positive_unitball, uniform, xavier, msra or bilinear)"
        )
    return make(filler, shape, generator, where)
