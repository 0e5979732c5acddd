"""Exp, Log and Power: y = base^(scale x + shift), log_base(scale x + shift), (shift + scale x)^p.

Each follows Caffe's CPU steps, special cases included (a step equal to 1 or 0 is skipped, so
its rounding is too), and Caffe's backward formulas: Power's divides y by (shift + scale x)
(NaN where that is 0, as in Caffe). Run in place, Caffe's Log and Power backward write their
factor f into the diff buffer that also holds the top diff before multiplying the two, and read
the bottom data after forward overwrote it: their in-place bottom diff is f(y)^2, whatever the
top diff. torchcaffe gives the same.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import torch

from ..errors import NetError
from .base import register
from .neuron_fn import ElementwiseLayer

if TYPE_CHECKING:
    from caffeio import caffe_pb2

    from .base import Context


def _log_base(base, where):
    """log(base) in float32 as Caffe takes it (base -1 means e); base must be > 0."""
    if base == -1:
        return 1.0
    if not base > 0:
        raise NetError(f"{where}: base must be strictly positive (or -1 for e), got {base}")
    lb = float(np.log(np.float32(base)))
    if not math.isfinite(lb):
        raise NetError(f"{where}: log(base) = log({base}) is not finite")
    return lb


@register("Exp")
class Exp(ElementwiseLayer):
    """y = base^(shift + scale x) (base -1 = e): exp(log(base) scale x) times base^shift;
    bottom diff top diff * y * log(base) scale."""

    def __init__(self, lp: caffe_pb2.LayerParameter, ctx: Context) -> None:
        super().__init__(lp, ctx)
        p = lp.exp_param
        lb = _log_base(p.base, self.where)
        self.inner = float(np.float32(lb) * np.float32(p.scale))
        if p.shift == 0:
            self.outer = 1.0
        elif p.base != -1:
            self.outer = float(np.float32(np.power(np.float32(p.base), np.float32(p.shift))))
        else:
            self.outer = float(np.float32(np.exp(np.float32(p.shift))))

    def compute(self, x: torch.Tensor) -> tuple[torch.Tensor, tuple[torch.Tensor, ...]]:
        y = torch.exp(x) if self.inner == 1 else torch.exp(x * self.inner)
        if self.outer != 1:
            y = y * self.outer
        return y, ()

    def gradient(
        self, x: torch.Tensor, y: torch.Tensor, g: torch.Tensor, extra: Sequence[torch.Tensor]
    ) -> torch.Tensor:
        d = y * g
        return d if self.inner == 1 else d * self.inner


@register("Log")
class Log(ElementwiseLayer):
    """y = log(shift + scale x) / log(base) (base -1 = e); bottom diff
    top diff * (scale / log(base)) / (shift + scale x)."""

    def __init__(self, lp: caffe_pb2.LayerParameter, ctx: Context) -> None:
        super().__init__(lp, ctx)
        p = lp.log_param
        lb = _log_base(p.base, self.where)
        base_scale = np.float32(1) / np.float32(lb) if lb != 0 else np.float32("inf")
        if not np.isfinite(base_scale):
            raise NetError(f"{self.where}: 1/log(base) = 1/log({p.base}) is not finite")
        self.base_scale = float(base_scale)
        self.scale = p.scale
        self.shift = p.shift
        self.back_scale = float(np.float32(p.scale) / np.float32(lb))

    def _affine(self, x):
        if self.scale != 1:
            x = x * self.scale
        if self.shift != 0:
            x = x + self.shift
        return x

    def compute(self, x: torch.Tensor) -> tuple[torch.Tensor, tuple[torch.Tensor, ...]]:
        y = torch.log(self._affine(x))
        if self.base_scale != 1:
            y = y * self.base_scale
        return y, ()

    def gradient(
        self, x: torch.Tensor, y: torch.Tensor, g: torch.Tensor, extra: Sequence[torch.Tensor]
    ) -> torch.Tensor:
        d = torch.pow(self._affine(x), -1.0)
        if self.back_scale != 1:
            d = d * self.back_scale
        return d * d if self.in_place else g * d


@register("Power")
class Power(ElementwiseLayer):
    """y = (shift + scale x)^power; constant where power or scale is 0. Bottom diff by Caffe's
    cases: power 1 -> scale; power 2 -> 2 scale (shift + scale x); shift 0 -> power y / x;
    else power scale y / (shift + scale x); all times the top diff."""

    def __init__(self, lp: caffe_pb2.LayerParameter, ctx: Context) -> None:
        super().__init__(lp, ctx)
        p = lp.power_param
        self.power, self.scale, self.shift = p.power, p.scale, p.shift
        self.diff_scale = float(np.float32(p.power) * np.float32(p.scale))

    def compute(self, x: torch.Tensor) -> tuple[torch.Tensor, tuple[torch.Tensor, ...]]:
        if self.diff_scale == 0:
            v = 1.0 if self.power == 0 else float(np.power(np.float32(self.shift), self.power))
            return torch.full_like(x, v), ()
        y = x
        if self.scale != 1:
            y = y * self.scale
        if self.shift != 0:
            y = y + self.shift
        if self.power != 1:
            y = torch.pow(y, self.power)
        return y, ()

    def gradient(
        self, x: torch.Tensor, y: torch.Tensor, g: torch.Tensor, extra: Sequence[torch.Tensor]
    ) -> torch.Tensor:
        ds = self.diff_scale
        if ds == 0:
            return torch.zeros_like(g)
        if self.power == 1:
            d = torch.full_like(g, ds)
            return d * d if self.in_place else d * g
        if self.power == 2:
            d = x * float(np.float32(ds) * np.float32(self.scale))
            if self.shift != 0:
                d = d + float(np.float32(ds) * np.float32(self.shift))
        elif self.shift == 0:
            d = (y / x) * self.power
        else:
            d = x
            if self.scale != 1:
                d = d * self.scale
            d = y / (d + self.shift)
            if ds != 1:
                d = d * ds
        return d * d if self.in_place else g * d
