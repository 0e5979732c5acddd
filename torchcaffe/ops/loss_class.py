"""Classification losses: HingeLoss, InfogainLoss, MultinomialLogisticLoss and
SigmoidCrossEntropyLoss, with Caffe's forward, normalization and backward."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import numpy as np
import torch

from caffeio import blob_to_array, caffe_pb2
from caffeio.binary import parse_binary

from ..errors import NetError
from .base import canonical_axis, prod, register
from .loss_base import LOG_THRESHOLD, MODES, LossLayer, legacy_dims, loss_normalizer

if TYPE_CHECKING:
    from .base import Context, Tensors


def caffe_sigmoid(x: torch.Tensor) -> torch.Tensor:
    return 0.5 * torch.tanh(0.5 * x) + 0.5


class _Hinge(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, label, lab, l2, refuse):
        n = x.shape[0]
        flip = torch.ones_like(x)
        flip[torch.arange(n, device=lab.device), lab] = -1.0
        t = torch.clamp(1.0 + x * flip, min=0.0)
        loss = ((t * t).sum() if l2 else t.abs().sum()) / n
        ctx.save_for_backward(t, flip)
        ctx.l2, ctx.refuse = l2, refuse
        return loss

    @staticmethod
    def backward(ctx, g):
        if ctx.needs_input_grad[1]:
            raise ctx.refuse(1)
        t, flip = ctx.saved_tensors
        n = t.shape[0]
        d = t * flip
        if ctx.l2:
            return d * (g * 2 / n), None, None, None, None
        return torch.sign(d) * (g / n), None, None, None, None


@register("HingeLoss")
class HingeLoss(LossLayer):
    """One-vs-all hinge over N x D scores: t_k = max(0, 1 - s_k x_k), s = +1 for the label,
    -1 otherwise; sum |t| / N (L1, default) or sum t^2 / N (L2)."""

    def forward(self, xs: Tensors, ws: Tensors) -> Tensors:
        x, label = xs
        self.check_first_dims(xs)
        n = x.shape[0]
        if label.numel() != n:
            raise NetError(
                f"{self.where}: {label.numel()} labels for {n} items (one label per item)"
            )
        if x.is_meta:
            return [torch.empty((), device="meta")]
        x2 = x.reshape(n, -1)
        lab, _ = self.labels(label.reshape(-1), x2.shape[1])
        l2 = self.lp.hinge_loss_param.norm == caffe_pb2.HingeLossParameter.L2
        return [_Hinge.apply(x2, label, lab, l2, self.refuse_label_backward)]


class _Multinomial(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, label, lab, refuse):
        n = x.shape[0]
        p = torch.clamp(x[torch.arange(n, device=lab.device), lab], min=LOG_THRESHOLD)
        ctx.save_for_backward(p, lab)
        ctx.shape, ctx.refuse = x.shape, refuse
        return -torch.log(p).sum() / n

    @staticmethod
    def backward(ctx, g):
        if ctx.needs_input_grad[1]:
            raise ctx.refuse(1)
        p, lab = ctx.saved_tensors
        n = ctx.shape[0]
        d = torch.zeros(ctx.shape, dtype=p.dtype, device=p.device)
        d[torch.arange(n, device=lab.device), lab] = (-g / n) / p
        return d, None, None, None


@register("MultinomialLogisticLoss")
class MultinomialLogisticLoss(LossLayer):
    """-sum log(max(p[label], 1e-20)) / N over N x D probabilities; diff -g / (N p) at the
    label, 0 elsewhere."""

    def forward(self, xs: Tensors, ws: Tensors) -> Tensors:
        x, label = xs
        self.check_first_dims(xs)
        _, c, h, w = legacy_dims(label.shape) if label.dim() <= 4 else (0, 0, 0, 0)
        if (c, h, w) != (1, 1, 1):
            raise NetError(
                f"{self.where}: labels must be N x 1 x 1 x 1 (one per item), got "
                f"{tuple(label.shape)}"
            )
        if x.is_meta:
            return [torch.empty((), device="meta")]
        n = x.shape[0]
        x2 = x.reshape(n, -1)
        lab, _ = self.labels(label.reshape(-1), x2.shape[1])
        return [_Multinomial.apply(x2, label, lab, self.refuse_label_backward)]


class _SigmoidCE(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, target, ignore, mode, refuse):
        t = target.reshape(x.shape)
        valid = torch.ones_like(x, dtype=torch.bool)
        if ignore is not None:
            valid = t.to(torch.int64) != ignore
        pos = (x >= 0).to(x.dtype)
        term = x * (t - pos) - torch.log(1.0 + torch.exp(x - 2.0 * x * pos))
        loss = -(term * valid.to(x.dtype)).sum()
        outer = x.shape[0]
        norm = loss_normalizer(mode, outer, x[0].numel(), int(valid.sum()))
        ctx.save_for_backward(caffe_sigmoid(x), t, valid)
        ctx.norm, ctx.refuse = norm, refuse
        return loss / norm

    @staticmethod
    def backward(ctx, g):
        if ctx.needs_input_grad[1]:
            raise ctx.refuse(1)
        s, t, valid = ctx.saved_tensors
        d = torch.where(valid, s - t, torch.zeros_like(s))
        return d * (g / ctx.norm), None, None, None, None


@register("SigmoidCrossEntropyLoss")
class SigmoidCrossEntropyLoss(LossLayer):
    """Cross-entropy of sigmoid(x) against targets of the same count, summed over positions
    whose int(target) is not ignore_label, / the normalizer (normalization, or legacy
    normalize: true = VALID; default BATCH_SIZE); diff (sigmoid(x) - target) g / normalizer."""

    def __init__(self, lp: caffe_pb2.LayerParameter, ctx: Context) -> None:
        super().__init__(lp, ctx)
        p = lp.loss_param
        self.ignore = p.ignore_label if p.HasField("ignore_label") else None
        if p.HasField("normalization"):
            self.mode = MODES[p.normalization]
        elif p.HasField("normalize"):
            self.mode = "VALID" if p.normalize else "BATCH_SIZE"
        else:
            self.mode = "BATCH_SIZE"

    def forward(self, xs: Tensors, ws: Tensors) -> Tensors:
        x, t = xs
        self.check_first_dims(xs)
        if x.numel() != t.numel():
            raise NetError(
                f"{self.where}: scores {tuple(x.shape)} and targets {tuple(t.shape)} must have "
                "the same count"
            )
        if x.is_meta:
            return [torch.empty((), device="meta")]
        return [_SigmoidCE.apply(x, t, self.ignore, self.mode, self.refuse_label_backward)]


class _Infogain(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, label, h, axis, lab, valid, mode, refuse):
        prob = torch.softmax(x, dim=axis)
        outer, c = prod(x.shape[:axis]), x.shape[axis]
        inner = prod(x.shape[axis + 1 :])
        p3 = prob.reshape(outer, c, inner)
        hm = h.reshape(c, c)
        safe = torch.where(valid, lab, torch.zeros_like(lab)).reshape(outer, inner)
        logp = torch.log(torch.clamp(p3, min=LOG_THRESHOLD))  # (outer, c, inner)
        rows = hm[safe]  # (outer, inner, c): H[label, l]
        per = (rows.permute(0, 2, 1) * logp).sum(1)  # (outer, inner)
        vmask = valid.reshape(outer, inner)
        count = int(vmask.sum())
        norm = loss_normalizer(mode, outer, inner, count)
        loss = -(per * vmask.to(per.dtype)).sum() / norm
        ctx.save_for_backward(p3, hm, safe, vmask)
        ctx.norm, ctx.shape, ctx.refuse = norm, x.shape, refuse
        return loss, prob

    @staticmethod
    def backward(ctx, g, g_prob):
        if ctx.needs_input_grad[1]:
            raise ctx.refuse(1)
        if ctx.needs_input_grad[2]:
            raise ctx.refuse(2)
        p3, hm, safe, vmask = ctx.saved_tensors
        row_sum = hm.sum(1)  # sum over columns of each row
        d = p3 * row_sum[safe][:, None, :] - hm[safe].permute(0, 2, 1)
        d = torch.where(vmask[:, None, :], d, torch.zeros_like(d))
        d = d * (g / ctx.norm)
        return d.reshape(ctx.shape), None, None, None, None, None, None, None


@register("InfogainLoss")
class InfogainLoss(LossLayer):
    """-sum over non-ignored positions of sum_l H[label, l] log(max(p_l, 1e-20)) / the
    normalizer (normalization, default VALID; `normalize` is refused as in Caffe), p the
    softmax along infogain_loss_param.axis; H (C x C) from bottom 2 or the binaryproto
    `source`. Optional top 1: the probabilities."""

    n_bottom = (2, 3)
    n_top = (1, 2)

    def __init__(self, lp: caffe_pb2.LayerParameter, ctx: Context) -> None:
        super().__init__(lp, ctx)
        p = lp.loss_param
        if p.HasField("normalize"):
            raise NetError(
                f"{self.where}: loss_param.normalize is deprecated for InfogainLoss (Caffe "
                "refuses it); use normalization: VALID / BATCH_SIZE / FULL / NONE"
            )
        self.mode = MODES[p.normalization]
        self.ignore = p.ignore_label if p.HasField("ignore_label") else None
        if len(lp.top) == 2 and not len(lp.loss_weight):
            raise NetError(
                f"{self.where}: with two tops give loss_weight once per top (e.g. loss_weight: "
                "1 loss_weight: 0); Caffe refuses the one implied weight for two tops"
            )
        self.h = None
        if len(lp.bottom) < 3:
            src = lp.infogain_loss_param.source
            if not lp.infogain_loss_param.HasField("source"):
                raise NetError(
                    f"{self.where}: give the infogain matrix H as infogain_loss_param.source "
                    "(a binaryproto) or as a third bottom"
                )
            if not os.path.exists(src):
                raise NetError(f"{self.where}: infogain matrix source '{src}' does not exist")
            with open(src, "rb") as f:
                blob = parse_binary(f.read(), caffe_pb2.BlobProto(), src, "infogain binaryproto")
            self.h = torch.from_numpy(np.ascontiguousarray(blob_to_array(blob, src), np.float32))

    def forward(self, xs: Tensors, ws: Tensors) -> Tensors:
        x, label = xs[0], xs[1]
        self.check_first_dims(xs)
        axis = canonical_axis(self.lp.infogain_loss_param.axis, x.dim(), self.where)
        outer, c = prod(x.shape[:axis]), x.shape[axis]
        inner = prod(x.shape[axis + 1 :])
        if label.numel() != outer * inner:
            raise NetError(
                f"{self.where}: {label.numel()} labels for {outer * inner} predictions "
                f"(scores {tuple(x.shape)}, axis {axis}): give one label per position"
            )
        h = xs[2] if len(xs) == 3 else self.h
        if h.numel() != c * c:
            raise NetError(
                f"{self.where}: H has {h.numel()} values; it must be {c} x {c} for {c} classes"
            )
        if x.is_meta:
            outs = [torch.empty((), device="meta"), torch.empty(x.shape, device="meta")]
            return outs[: len(self.lp.top)]
        if h.device != x.device:
            h = h.to(x.device)
        lab, valid = self.labels(label.reshape(-1), c, self.ignore)
        loss, prob = _Infogain.apply(
            x, label, h, axis, lab, valid, self.mode, self.refuse_label_backward
        )
        return [loss, prob.detach()][: len(self.lp.top)]
