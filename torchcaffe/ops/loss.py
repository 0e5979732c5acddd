"""SoftmaxWithLoss and Accuracy over N x C x (spatial) scores and N x (spatial) labels."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch

from ..errors import NetError
from .base import BaseLayer, canonical_axis, prod, register

if TYPE_CHECKING:
    from caffeio import caffe_pb2

    from .base import Context, Tensors

FLT_MIN = float(np.finfo(np.float32).tiny)


def normalizer(mode: str, outer: int, inner: int, valid: float | torch.Tensor) -> float:
    """Caffe's loss normaliser by LossParameter mode name, never below 1."""
    n = {"FULL": outer * inner, "VALID": valid, "BATCH_SIZE": outer, "NONE": 1}[mode]
    return max(1.0, float(n))


def loss_mode(lp: caffe_pb2.LayerParameter) -> str:
    """Normalization mode name: `normalization` when set, else legacy `normalize`
    (true -> VALID, false -> BATCH_SIZE), else VALID."""
    p = lp.loss_param
    names = {0: "FULL", 1: "VALID", 2: "BATCH_SIZE", 3: "NONE"}
    if p.HasField("normalization"):
        return names[p.normalization]
    if p.HasField("normalize"):
        return "VALID" if p.normalize else "BATCH_SIZE"
    return "VALID"


class _SoftmaxLoss(torch.autograd.Function):
    """Loss and Caffe's exact gradient: (prob - onehot) * valid / normaliser * top diff."""

    @staticmethod
    def forward(ctx, x, label, axis, ignore, mode, where):
        # C-ordered scores (a channels_last map's softmax would keep its strides and be copied
        # by every reshape below, forward and backward: 41 -> 100 ms at 21 x 500 x 500)
        prob = torch.softmax(x.contiguous(), dim=axis)
        outer = prod(x.shape[:axis])
        inner = prod(x.shape[axis + 1 :])
        c = x.shape[axis]
        p3 = prob.reshape(outer, c, inner)
        lab = label.reshape(outer, inner).long()
        valid = torch.ones_like(lab, dtype=torch.bool) if ignore is None else lab != ignore
        safe = torch.where(valid, lab, torch.zeros_like(lab))
        bad = valid & ((safe < 0) | (safe >= c))
        if bool(bad.any()):
            v = int(lab[bad][0])
            raise NetError(
                f"{where}: label value {v} outside 0..{c - 1} "
                + (f"(ignore_label is {ignore})" if ignore is not None else "(no ignore_label set)")
            )
        picked = torch.gather(p3, 1, safe[:, None, :])[:, 0, :]
        logp = torch.log(torch.clamp(picked, min=FLT_MIN))
        nvalid = int(valid.sum()) if mode == "VALID" else 0
        norm = normalizer(mode, outer, inner, nvalid)
        loss = -(logp * valid.to(logp.dtype)).sum() / norm
        ctx.save_for_backward(prob, safe, valid)
        ctx.shape = (outer, c, inner)
        ctx.norm = norm
        return loss, prob

    @staticmethod
    def backward(ctx, g_loss, g_prob):
        prob, safe, valid = ctx.saved_tensors
        outer, c, inner = ctx.shape
        d = prob.reshape(outer, c, inner).clone()
        d.scatter_add_(1, safe[:, None, :], -torch.ones_like(safe[:, None, :], dtype=d.dtype))
        d.mul_(valid[:, None, :].to(d.dtype) * (g_loss / ctx.norm))  # in place: one pass
        return d.reshape(prob.shape), None, None, None, None, None


@register("SoftmaxWithLoss")
class SoftmaxWithLoss(BaseLayer):
    """-sum log(max(p[label], FLT_MIN)) over non-ignored positions / normaliser; optional
    top 1 = the softmax probabilities."""

    is_loss = True
    n_bottom = (2, 2)
    n_top = (1, 2)
    no_backward_bottoms = (1,)

    def __init__(self, lp: caffe_pb2.LayerParameter, ctx: Context) -> None:
        super().__init__(lp, ctx)
        p = lp.loss_param
        self.ignore = p.ignore_label if p.HasField("ignore_label") else None
        self.mode = loss_mode(lp)

    def forward(self, xs: Tensors, ws: Tensors) -> Tensors:
        x, label = xs
        axis = canonical_axis(self.lp.softmax_param.axis, x.dim(), self.where)
        outer, inner = prod(x.shape[:axis]), prod(x.shape[axis + 1 :])
        if label.numel() != outer * inner:
            raise NetError(
                f"{self.where}: label count {label.numel()} {tuple(label.shape)} must equal "
                f"{outer * inner} (scores {tuple(x.shape)} without axis {axis})"
            )
        if x.is_meta:
            outs = [torch.empty((), device="meta"), torch.empty(x.shape, device="meta")]
            return outs[: len(self.lp.top)]
        loss, prob = _SoftmaxLoss.apply(x, label, axis, self.ignore, self.mode, self.where)
        return [loss, prob.detach()][: len(self.lp.top)]


@register("Accuracy")
class Accuracy(BaseLayer):
    """Fraction of non-ignored positions whose label is among the top_k scores (ties count
    against); optional top 1: per-class accuracy (C,)."""

    n_bottom = (2, 2)
    n_top = (1, 2)
    differentiable = False
    no_backward_bottoms = (0, 1)

    def forward(self, xs: Tensors, ws: Tensors) -> Tensors:
        x, label = xs
        p = self.lp.accuracy_param
        axis = canonical_axis(p.axis, x.dim(), self.where)
        outer, c, inner = prod(x.shape[:axis]), x.shape[axis], prod(x.shape[axis + 1 :])
        if label.numel() != outer * inner:
            raise NetError(
                f"{self.where}: label count {label.numel()} must equal {outer * inner} "
                f"(scores {tuple(x.shape)})"
            )
        if p.top_k > c:
            raise NetError(f"{self.where}: top_k {p.top_k} > {c} classes")
        if x.is_meta:
            outs = [torch.empty((), device="meta"), torch.empty((c,), device="meta")]
            return outs[: len(self.lp.top)]
        s = x.reshape(outer, c, inner)
        lab = label.reshape(outer, inner).long()
        valid = lab != p.ignore_label if p.HasField("ignore_label") else torch.ones_like(lab) > 0
        safe = torch.where(valid, lab, torch.zeros_like(lab)).clamp(0, c - 1)
        true = torch.gather(s, 1, safe[:, None, :])
        better = (s >= true).sum(1) - 1
        correct = (better < p.top_k) & valid
        count = valid.sum()
        acc = torch.where(
            count > 0, correct.sum() / count.clamp(min=1), torch.zeros((), device=x.device)
        )
        outs = [acc.float()]
        if len(self.lp.top) == 2:
            per_n = torch.zeros(c, device=x.device).index_add_(
                0, safe[valid], torch.ones_like(safe[valid], dtype=torch.float)
            )
            per_c = torch.zeros(c, device=x.device).index_add_(
                0, safe[correct], torch.ones_like(safe[correct], dtype=torch.float)
            )
            outs.append(
                torch.where(per_n > 0, per_c / per_n.clamp(min=1), torch.zeros(c, device=x.device))
            )
        return outs
