"""Element-wise activations: AbsVal, BNLL, Clip, ELU, Swish, Threshold, PReLU (learned slope).

Forward and backward follow Caffe's CPU formulas (float32, with the float64 steps Caffe's C++
takes); in place, backward reads the top where Caffe's reads the overwritten bottom (neuron_fn).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, NoReturn

import torch

from ..errors import NetError
from .base import BaseLayer, register
from .neuron_fn import ElementwiseLayer

if TYPE_CHECKING:
    from caffeio import caffe_pb2

    from .base import Context, ParamShapes, Shapes, Tensors

BNLL_THRESHOLD = 50.0


def caffe_sigmoid(x: torch.Tensor) -> torch.Tensor:
    """Caffe's CPU sigmoid: 0.5 * tanh(0.5 x) + 0.5."""
    return 0.5 * torch.tanh(0.5 * x) + 0.5


@register("AbsVal")
class AbsVal(ElementwiseLayer):
    """|x|; bottom diff sign(x) * top diff (0 at 0). Not in place (Caffe refuses it)."""

    allows_in_place = False

    def compute(self, x: torch.Tensor) -> tuple[torch.Tensor, tuple[torch.Tensor, ...]]:
        return torch.abs(x), ()

    def gradient(
        self, x: torch.Tensor, y: torch.Tensor, g: torch.Tensor, extra: Sequence[torch.Tensor]
    ) -> torch.Tensor:
        return torch.sign(x) * g


@register("BNLL")
class BNLL(ElementwiseLayer):
    """log(1 + exp(x)), computed as x + log(1 + exp(-x)) for x > 0; bottom diff
    top diff * e / (e + 1) with e = exp(min(x, 50))."""

    def compute(self, x: torch.Tensor) -> tuple[torch.Tensor, tuple[torch.Tensor, ...]]:
        pos = x.double() + torch.log(1.0 + torch.exp(-x).double())
        neg = torch.log(1.0 + torch.exp(x).double())
        return torch.where(x > 0, pos, neg).float(), ()

    def gradient(
        self, x: torch.Tensor, y: torch.Tensor, g: torch.Tensor, extra: Sequence[torch.Tensor]
    ) -> torch.Tensor:
        e = torch.exp(torch.clamp(x, max=BNLL_THRESHOLD))
        return ((g * e).double() / (e.double() + 1.0)).float()


@register("Clip")
class Clip(ElementwiseLayer):
    """max(min, min(x, max)) (clip_param); bottom diff passes where min <= x <= max."""

    def __init__(self, lp: caffe_pb2.LayerParameter, ctx: Context) -> None:
        super().__init__(lp, ctx)
        self.lo = lp.clip_param.min
        self.hi = lp.clip_param.max

    def compute(self, x: torch.Tensor) -> tuple[torch.Tensor, tuple[torch.Tensor, ...]]:
        return torch.clamp(torch.clamp(x, max=self.hi), min=self.lo), ()

    def gradient(
        self, x: torch.Tensor, y: torch.Tensor, g: torch.Tensor, extra: Sequence[torch.Tensor]
    ) -> torch.Tensor:
        return g * ((x >= self.lo) & (x <= self.hi)).to(g.dtype)


@register("ELU")
class ELU(ElementwiseLayer):
    """max(x, 0) + alpha (exp(min(x, 0)) - 1); bottom diff top diff * (1 for x > 0, else
    alpha + y)."""

    def __init__(self, lp: caffe_pb2.LayerParameter, ctx: Context) -> None:
        super().__init__(lp, ctx)
        self.alpha = lp.elu_param.alpha

    def compute(self, x: torch.Tensor) -> tuple[torch.Tensor, tuple[torch.Tensor, ...]]:
        zero = torch.zeros((), dtype=x.dtype, device=x.device)
        y = torch.maximum(x, zero) + self.alpha * (torch.exp(torch.minimum(x, zero)) - 1.0)
        return y, ()

    def gradient(
        self, x: torch.Tensor, y: torch.Tensor, g: torch.Tensor, extra: Sequence[torch.Tensor]
    ) -> torch.Tensor:
        pos = (x > 0).to(g.dtype)
        return g * (pos + (self.alpha + y) * (x <= 0).to(g.dtype))


@register("Swish")
class Swish(ElementwiseLayer):
    """x * sigmoid(beta x); bottom diff top diff * (beta y + s (1 - beta y)), s the sigmoid
    (kept from forward, so in place is exact)."""

    def __init__(self, lp: caffe_pb2.LayerParameter, ctx: Context) -> None:
        super().__init__(lp, ctx)
        self.beta = lp.swish_param.beta

    def compute(self, x: torch.Tensor) -> tuple[torch.Tensor, tuple[torch.Tensor, ...]]:
        s = caffe_sigmoid(x * self.beta)
        return x * s, (s,)

    def gradient(
        self, x: torch.Tensor, y: torch.Tensor, g: torch.Tensor, extra: Sequence[torch.Tensor]
    ) -> torch.Tensor:
        (s,) = extra
        by = self.beta * y
        return (g.double() * (by.double() + s.double() * (1.0 - by.double()))).float()


@register("Threshold")
class Threshold(ElementwiseLayer):
    """1 where x > threshold, else 0. Caffe has no backward for it: a net that needs one
    through this layer stops with an error naming it."""

    def __init__(self, lp: caffe_pb2.LayerParameter, ctx: Context) -> None:
        super().__init__(lp, ctx)
        self.t = lp.threshold_param.threshold

    def compute(self, x: torch.Tensor) -> tuple[torch.Tensor, tuple[torch.Tensor, ...]]:
        return (x > self.t).to(x.dtype), ()

    def gradient(
        self, x: torch.Tensor, y: torch.Tensor, g: torch.Tensor, extra: Sequence[torch.Tensor]
    ) -> NoReturn:
        raise NetError(
            f"{self.where}: Threshold has no backward (Caffe's is not implemented either), but "
            "this net backpropagates through it; set propagate_down: false on it, or keep it "
            "off the path from the loss to learnable layers"
        )


@register("PReLU")
class PReLU(BaseLayer):
    """max(x, 0) + a_c min(x, 0) with a learned slope a per channel (axis 1), or one for all
    (channel_shared); filler default constant 0.25. Slope diff += sum over the channel of
    top diff * x * (x <= 0). In place is exact (Caffe keeps a copy of the bottom)."""

    n_bottom = (1, 1)
    n_top = (1, 1)

    def param_shapes(self, bottom_shapes: Shapes) -> ParamShapes:
        s = bottom_shapes[0]
        if len(s) < 2:
            raise NetError(f"{self.where}: the bottom must have >= 2 axes, got {tuple(s)}")
        p = self.lp.prelu_param
        shape = () if p.channel_shared else (s[1],)
        if p.HasField("filler"):
            filler = p.filler
        else:
            from caffeio import caffe_pb2

            filler = caffe_pb2.FillerParameter(type="constant", value=0.25)
        return [(shape, filler)]

    def forward(self, xs: Tensors, ws: Tensors) -> Tensors:
        x, a = xs[0], ws[0]
        if x.dim() < 2:
            raise NetError(f"{self.where}: the bottom must have >= 2 axes, got {tuple(x.shape)}")
        want = () if self.lp.prelu_param.channel_shared else (x.shape[1],)
        if tuple(a.shape) != want:
            raise NetError(
                f"{self.where}: slope blob {tuple(a.shape)} does not fit bottom "
                f"{tuple(x.shape)} (want {want})"
            )
        if x.is_meta:
            return [torch.empty(x.shape, device="meta")]
        return [_PReLU.apply(x, a)]


class _PReLU(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, a):
        shape = (1, -1) + (1,) * (x.dim() - 2) if a.dim() else ()
        ab = a.reshape(shape) if a.dim() else a
        zero = torch.zeros((), dtype=x.dtype, device=x.device)
        y = torch.maximum(x, zero) + ab * torch.minimum(x, zero)
        ctx.save_for_backward(x, a)
        return y

    @staticmethod
    def backward(ctx, g):
        x, a = ctx.saved_tensors
        neg = (x <= 0).to(g.dtype)
        gx = ga = None
        if ctx.needs_input_grad[1]:
            t = g * x * neg
            if a.dim():
                dims = [0] + list(range(2, x.dim()))
                ga = t.sum(dim=dims)
            else:
                ga = t.sum()
        if ctx.needs_input_grad[0]:
            shape = (1, -1) + (1,) * (x.dim() - 2) if a.dim() else ()
            ab = a.reshape(shape) if a.dim() else a
            gx = g * ((x > 0).to(g.dtype) + ab * neg)
        return gx, ga
