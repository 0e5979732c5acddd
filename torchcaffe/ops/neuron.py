"""Element-wise layers: ReLU, Sigmoid, TanH, Dropout (all may run in place)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from ..errors import NetError
from .base import BaseLayer, register

if TYPE_CHECKING:
    from caffeio import caffe_pb2

    from .base import Context, Tensors


class _Neuron(BaseLayer):
    n_bottom = (1, 1)
    n_top = (1, 1)


@register("ReLU")
class ReLU(_Neuron):
    """max(x, 0) + negative_slope * min(x, 0)."""

    def forward(self, xs: Tensors, ws: Tensors) -> Tensors:
        x = xs[0]
        slope = self.lp.relu_param.negative_slope
        if slope == 0:
            return [torch.relu(x)]
        return [torch.where(x > 0, x, x * slope)]

    @property
    def can_run_in_place(self) -> bool:
        """True when backward can be computed from the output alone (slope >= 0)."""
        return self.lp.relu_param.negative_slope >= 0

    def forward_in_place(self, x: torch.Tensor) -> torch.Tensor:
        """Overwrite x (a tensor no autograd graph needs) with ReLU(x); returns x."""
        slope = self.lp.relu_param.negative_slope
        if slope == 0:
            return torch.relu_(x)
        return torch.nn.functional.leaky_relu_(x, slope)

    def backward_from_output(self, top_diff: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Bottom diff from the top diff and the output y: d * (y > 0) + slope * d * (y <= 0)
        (y > 0 exactly where the input was > 0, for slope >= 0). In place on top_diff: the
        layer runs in place, so top and bottom are one blob and share the diff, as in Caffe."""
        slope = self.lp.relu_param.negative_slope
        if slope == 0:  # one fused pass (a mask then a fill costs ~10x more at 64 x 698 x 698)
            th = torch.ops.aten.threshold_backward.grad_input
            return th(top_diff, y, 0.0, grad_input=top_diff)
        return top_diff.mul_(torch.where(y > 0, 1.0, slope))


@register("Sigmoid")
class Sigmoid(_Neuron):
    """1 / (1 + exp(-x))."""

    def forward(self, xs: Tensors, ws: Tensors) -> Tensors:
        return [torch.sigmoid(xs[0])]


@register("TanH")
class TanH(_Neuron):
    """tanh(x)."""

    def forward(self, xs: Tensors, ws: Tensors) -> Tensors:
        return [torch.tanh(xs[0])]


@register("Dropout")
class Dropout(_Neuron):
    """TRAIN: x * Bernoulli(1 - ratio) mask / (1 - ratio); TEST: identity."""

    def __init__(self, lp: caffe_pb2.LayerParameter, ctx: Context) -> None:
        super().__init__(lp, ctx)
        self.ratio = lp.dropout_param.dropout_ratio
        if not 0 <= self.ratio < 1:
            raise NetError(f"{self.where}: dropout_ratio must be in [0, 1), got {self.ratio}")

    def forward(self, xs: Tensors, ws: Tensors) -> Tensors:
        x = xs[0]
        if self.phase != 0 or x.is_meta:
            return [x]
        keep = torch.rand(x.shape, generator=self.ctx.generator, device=x.device) >= self.ratio
        return [x * keep.to(x.dtype) * (1.0 / (1.0 - self.ratio))]
