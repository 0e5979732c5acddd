"""Distance losses: EuclideanLoss and ContrastiveLoss, with Caffe's forward and backward."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from ..errors import NetError
from .base import register
from .loss_base import LossLayer, legacy_dims

if TYPE_CHECKING:
    from .base import Tensors


class _Euclidean(torch.autograd.Function):
    @staticmethod
    def forward(ctx, a, b, n):
        d = a - b
        ctx.save_for_backward(d)
        ctx.n = n
        return (d * d).sum() / n / 2.0

    @staticmethod
    def backward(ctx, g):
        (d,) = ctx.saved_tensors
        ga = (g / ctx.n) * d if ctx.needs_input_grad[0] else None
        gb = (-g / ctx.n) * d if ctx.needs_input_grad[1] else None
        return ga, gb, None


@register("EuclideanLoss")
class EuclideanLoss(LossLayer):
    """sum((a - b)^2) / N / 2 for bottoms of N items of equal size; a's diff (a - b) g / N,
    b's -(a - b) g / N (both bottoms may take a gradient, forced too)."""

    label_bottoms = ()

    def forward(self, xs: Tensors, ws: Tensors) -> Tensors:
        a, b = xs
        self.check_first_dims(xs)
        if a[0].numel() != b[0].numel():
            raise NetError(
                f"{self.where}: bottoms {tuple(a.shape)} and {tuple(b.shape)} must have the "
                "same size per item"
            )
        if a.is_meta:
            return [torch.empty((), device="meta")]
        return [_Euclidean.apply(a, b.reshape(a.shape), a.shape[0])]


class _Contrastive(torch.autograd.Function):
    @staticmethod
    def forward(ctx, a, b, y, margin, legacy, refuse):
        sim = y.reshape(-1).to(torch.int64) != 0  # Caffe: static_cast<int>(y) != 0
        d = a - b
        dist_sq = (d * d).sum(1)
        zero = torch.zeros((), dtype=a.dtype, device=a.device)
        if legacy:
            dis = torch.maximum(margin - dist_sq, zero)
        else:
            dis = torch.maximum(margin - torch.sqrt(dist_sq), zero)
            dis = dis * dis
        n = a.shape[0]
        loss = torch.where(sim, dist_sq, dis).sum() / n / 2.0
        ctx.save_for_backward(d, dist_sq, sim)
        ctx.margin, ctx.legacy, ctx.refuse = margin, legacy, refuse
        return loss

    @staticmethod
    def backward(ctx, g):
        if ctx.needs_input_grad[2]:
            raise ctx.refuse(2)
        d, dist_sq, sim = ctx.saved_tensors
        n = d.shape[0]
        out = []
        for i, sign in ((0, 1.0), (1, -1.0)):
            if not ctx.needs_input_grad[i]:
                out.append(None)
                continue
            alpha = sign * g / n
            if ctx.legacy:
                mdist = ctx.margin - dist_sq
                beta = -alpha * torch.ones_like(dist_sq)
            else:
                dist = torch.sqrt(dist_sq)
                mdist = ctx.margin - dist
                beta = -alpha * mdist / (dist + 1e-4)
            dis = torch.where(mdist > 0, beta, torch.zeros_like(beta))
            coef = torch.where(sim, alpha.expand_as(dis), dis)
            out.append(coef[:, None] * d)
        return out[0], out[1], None, None, None, None


@register("ContrastiveLoss")
class ContrastiveLoss(LossLayer):
    """Pairs a, b (N x C [x 1 x 1]) and similarity y (N): sum over pairs of d^2 (similar,
    int(y) != 0) or max(margin - d, 0)^2 (dissimilar; legacy_version: max(margin - d^2, 0)),
    / N / 2, d the Euclidean distance. Caffe's backward, with its 1e-4 added to d."""

    n_bottom = (3, 3)
    label_bottoms = (2,)

    def forward(self, xs: Tensors, ws: Tensors) -> Tensors:
        a, b, y = xs
        for j, t in enumerate(xs):
            if t.dim() > 4:
                raise NetError(f"{self.where}: bottom {j} has {t.dim()} axes (at most 4)")
        na, ca, ha, wa = legacy_dims(a.shape)
        nb, cb, hb, wb = legacy_dims(b.shape)
        ny, cy, hy, wy = legacy_dims(y.shape)
        if ca != cb or (ha, wa, hb, wb) != (1, 1, 1, 1) or (cy, hy, wy) != (1, 1, 1):
            raise NetError(
                f"{self.where}: bottoms must be N x C x 1 x 1, N x C x 1 x 1 and N x 1 x 1 x 1; "
                f"got {tuple(a.shape)}, {tuple(b.shape)}, {tuple(y.shape)}"
            )
        if not na == nb == ny:
            raise NetError(f"{self.where}: bottoms have {na}, {nb} and {ny} items; they must agree")
        if a.is_meta:
            return [torch.empty((), device="meta")]
        p = self.lp.contrastive_loss_param
        return [
            _Contrastive.apply(
                a.reshape(na, ca),
                b.reshape(nb, cb),
                y,
                p.margin,
                p.legacy_version,
                self.refuse_label_backward,
            )
        ]
