"""Element-wise layers with Caffe's own backward formula (an autograd Function).

Caffe's neuron layers compute the bottom diff from the bottom data, the top data and the top
diff. Run in place, the bottom blob holds the top's values by the time backward reads it, and
Caffe's formula then reads those: BNLL, Clip, ELU, Log and Power compute their in-place
gradients from y where the formula names x. `in_place_reads_top` reproduces that.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import torch

from ..errors import NetError
from .base import BaseLayer

if TYPE_CHECKING:
    from caffeio import caffe_pb2

    from .base import Context, Tensors


class _Elementwise(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, layer):
        y, extra = layer.compute(x)
        ctx.layer = layer
        ctx.save_for_backward(x, y, *extra)
        return y

    @staticmethod
    def backward(ctx, g):
        x, y, *extra = ctx.saved_tensors
        layer = ctx.layer
        seen = y if (layer.in_place and layer.in_place_reads_top) else x
        return layer.gradient(seen, y, g, extra), None


class ElementwiseLayer(BaseLayer):
    """One bottom, one top of its shape. Subclasses implement `compute(x) -> (y, extra tensors
    kept for backward)` and `gradient(x_seen, y, top_diff, extra) -> bottom diff` with
    Caffe's formulas; x_seen is what Caffe's backward reads as the bottom data."""

    n_bottom = (1, 1)
    n_top = (1, 1)
    in_place_reads_top = True
    allows_in_place = True

    def __init__(self, lp: caffe_pb2.LayerParameter, ctx: Context) -> None:
        super().__init__(lp, ctx)
        self.in_place = lp.top[0] == lp.bottom[0]
        if self.in_place and not self.allows_in_place:
            raise NetError(
                f"{self.where}: {self.type} does not allow in-place computation (Caffe refuses "
                f"it too): give its top a name other than '{lp.bottom[0]}'"
            )

    def forward(self, xs: Tensors, ws: Tensors) -> Tensors:
        x = xs[0]
        if x.is_meta:
            return [torch.empty(x.shape, device="meta")]
        return [_Elementwise.apply(x, self)]

    def compute(self, x: torch.Tensor) -> tuple[torch.Tensor, tuple[torch.Tensor, ...]]:
        raise NotImplementedError

    def gradient(
        self, x: torch.Tensor, y: torch.Tensor, g: torch.Tensor, extra: Sequence[torch.Tensor]
    ) -> torch.Tensor:
        raise NotImplementedError
