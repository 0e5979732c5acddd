"""Layers that are mostly their learned blobs: Embed (a lookup table) and Parameter (a blob
as a top)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from ..errors import NetError
from .base import BaseLayer, register
from .guards import no_backward_error, refuse_backward, refuse_in_place

if TYPE_CHECKING:
    from caffeio import caffe_pb2

    from .base import Context, ParamShapes, Shapes, Tensors


@register("Embed")
class Embed(BaseLayer):
    """Row lookup: each bottom value i (an integer in 0..input_dim-1) becomes row i of the
    weight W (input_dim x num_output), plus the bias (num_output) with bias_term; top shape =
    bottom shape + (num_output,). Fillers default to constant 0. Backward adds the top diff
    rows into W's diff (and their sum into the bias diff); none to the indices."""

    n_bottom = (1, 1)
    n_top = (1, 1)

    def __init__(self, lp: caffe_pb2.LayerParameter, ctx: Context) -> None:
        super().__init__(lp, ctx)
        p = lp.embed_param
        if p.num_output < 1:
            raise NetError(f"{self.where}: embed_param.num_output must be positive")
        if p.input_dim < 1:
            raise NetError(f"{self.where}: embed_param.input_dim must be positive")
        refuse_in_place(self)

    def param_shapes(self, bottom_shapes: Shapes) -> ParamShapes:
        p = self.lp.embed_param
        out = [
            ((p.input_dim, p.num_output), p.weight_filler if p.HasField("weight_filler") else None)
        ]
        if p.bias_term:
            out.append(((p.num_output,), p.bias_filler if p.HasField("bias_filler") else None))
        return out

    def forward(self, xs: Tensors, ws: Tensors) -> Tensors:
        x = xs[0]
        p = self.lp.embed_param
        shape = tuple(x.shape) + (p.num_output,)
        if x.is_meta:
            return [torch.empty(shape, device="meta")]
        idx = x.detach().reshape(-1).to(torch.int64)  # Caffe: static_cast<int>
        bad = (idx < 0) | (idx >= p.input_dim)
        if bool(bad.any()):
            v = float(x.detach().reshape(-1)[bad][0])
            raise NetError(
                f"{self.where}: index {v:g} in bottom '{self.lp.bottom[0]}' is outside "
                f"0..{p.input_dim - 1} (input_dim {p.input_dim})"
            )
        y = ws[0][idx]
        if p.bias_term:
            y = y + ws[1]
        y = refuse_backward(y, x, no_backward_error(self, 0, "indices"))
        return [y.reshape(shape)]


@register("Parameter")
class Parameter(BaseLayer):
    """No bottoms; the top is the layer's one learned blob (parameter_param.shape, zeros until
    set or loaded): as in Caffe, data and diff are one, so whatever the layers above write into
    the top's diff is the parameter's gradient; the layer's own backward does nothing."""

    n_bottom = (0, 0)
    n_top = (1, 1)
    top_is_param = True  # the Net makes the top blob the parameter blob
    differentiable = False

    def param_shapes(self, bottom_shapes: Shapes) -> ParamShapes:
        dims = tuple(int(d) for d in self.lp.parameter_param.shape.dim)
        return [(dims, None)]

    def forward(self, xs: Tensors, ws: Tensors) -> Tensors:
        return [ws[0]]
