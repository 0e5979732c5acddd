"""Reductions and normalization over the trailing axes: Reduction and MVN, with Caffe's
backward formulas."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from caffeio import caffe_pb2

from ..errors import NetError
from .base import BaseLayer, canonical_axis, prod, register
from .guards import refuse_in_place

if TYPE_CHECKING:
    from .base import Context, Tensors

_R = caffe_pb2.ReductionParameter


class _Reduction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x2, op, coeff):
        if op in (_R.SUM, _R.MEAN):
            y = x2.sum(1)
        elif op == _R.ASUM:
            y = x2.abs().sum(1)
        else:
            y = (x2 * x2).sum(1)
        if coeff != 1:
            y = y * coeff
        ctx.save_for_backward(x2)
        ctx.op, ctx.coeff = op, coeff
        return y

    @staticmethod
    def backward(ctx, g):
        (x2,) = ctx.saved_tensors
        c = (g * ctx.coeff)[:, None]  # Caffe's bottom_coeff = top_diff * coeff, per row
        if ctx.op in (_R.SUM, _R.MEAN):
            return c.expand_as(x2).clone(), None, None
        if ctx.op == _R.ASUM:
            return torch.sign(x2) * c, None, None
        return x2 * (2 * c), None, None


@register("Reduction")
class Reduction(BaseLayer):
    """Reduce axes axis..end (axis default 0: all, giving a scalar) by SUM, ASUM (sum of |x|),
    SUMSQ or MEAN, times coeff; the top keeps axes 0..axis-1."""

    n_bottom = (1, 1)
    n_top = (1, 1)

    def __init__(self, lp: caffe_pb2.LayerParameter, ctx: Context) -> None:
        super().__init__(lp, ctx)
        refuse_in_place(self)

    def forward(self, xs: Tensors, ws: Tensors) -> Tensors:
        x = xs[0]
        p = self.lp.reduction_param
        axis = canonical_axis(p.axis, x.dim(), self.where) if x.dim() else 0
        shape = tuple(x.shape[:axis])
        if x.is_meta:
            return [torch.empty(shape, device="meta")]
        num, dim = prod(shape), prod(x.shape[axis:])
        coeff = p.coeff / dim if p.operation == _R.MEAN else p.coeff
        coeff = float(torch.tensor(coeff, dtype=torch.float32))  # Caffe's Dtype coeff_
        return [_Reduction.apply(x.reshape(num, dim), p.operation, coeff).reshape(shape)]


class _MVN(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x2, scale_var, eps, in_place):
        dim = x2.shape[1]
        mean = x2.sum(1, keepdim=True) * (1.0 / dim)
        y = x2 + (-mean)
        std = None
        if scale_var:
            var = (y * y).sum(1, keepdim=True) * (1.0 / dim)
            std = torch.sqrt(var) + eps
            y = y / std
        ctx.save_for_backward(y, std if std is not None else y[:, :0])
        ctx.scale_var, ctx.in_place = scale_var, in_place
        return y

    @staticmethod
    def backward(ctx, g):
        y, std = ctx.saved_tensors
        dim = y.shape[1]
        if not ctx.scale_var:
            return g + (-(g.sum(1, keepdim=True) * (1.0 / dim))), None, None, None
        if ctx.in_place:
            # Caffe's steps with top diff and bottom diff one buffer: the first product
            # overwrites the top diff that the later sums read, and its axpby (scale the
            # output, then add the input: the same buffer) doubles the scaled buffer.
            a = (y * g).sum(1, keepdim=True)
            d = y * a
            d = d + (y * a).sum(1, keepdim=True)
            d = (-1.0 / dim) * d
            d = d + d
            return d / std, None, None, None
        d = y * (y * g).sum(1, keepdim=True)
        d = d + g.sum(1, keepdim=True)
        d = g + (-1.0 / dim) * d
        return d / std, None, None, None


@register("MVN")
class MVN(BaseLayer):
    """Subtract the mean (and with normalize_variance, divide by sqrt(variance) + eps) over
    each item's H x W (or C x H x W with across_channels). The top is N x C x H x W (Caffe's
    4-axis legacy shape). Caffe's backward: (g - mean(g) - y mean(y g)) / (std + eps) (not the
    exact derivative when eps matters), and in place its buffer-sharing result."""

    n_bottom = (1, 1)
    n_top = (1, 1)

    def caffe_backward_bottoms(self, need: list[bool]) -> list[bool]:
        """Caffe's MVN backward ignores propagate_down: run, it writes the bottom diff."""
        return [True]

    def forward(self, xs: Tensors, ws: Tensors) -> Tensors:
        x = xs[0]
        if x.dim() > 4:
            raise NetError(f"{self.where}: MVN takes blobs of at most 4 axes, got {x.dim()}")
        s = tuple(x.shape) + (1,) * (4 - x.dim())
        if x.is_meta:
            return [torch.empty(s, device="meta")]
        p = self.lp.mvn_param
        num = s[0] if p.across_channels else s[0] * s[1]
        x2 = x.reshape(num, -1)
        in_place = self.lp.top[0] == self.lp.bottom[0]
        y = _MVN.apply(x2, p.normalize_variance, p.eps, in_place)
        return [y.reshape(s)]
