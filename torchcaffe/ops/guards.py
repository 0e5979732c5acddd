"""Checks Caffe makes at run time, as errors naming the layer: bottoms it cannot backpropagate
to (index and selector inputs), and layers whose in-place run Caffe does not define."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from ..errors import NetError

if TYPE_CHECKING:
    from .base import BaseLayer


class _Refuse(torch.autograd.Function):
    """Identity on `out`; its backward raises `error` when a gradient for `bottom` is wanted."""

    @staticmethod
    def forward(ctx, out, bottom, error):
        ctx.error = error
        return out.view_as(out)

    @staticmethod
    def backward(ctx, g):
        if ctx.needs_input_grad[1]:
            raise ctx.error
        return g, None, None


def refuse_backward(out: torch.Tensor, bottom: torch.Tensor, error: Exception) -> torch.Tensor:
    """`out`, which raises NetError `error` at backward if `bottom` needs a gradient (Caffe
    stops there with a fatal check)."""
    if bottom.requires_grad and torch.is_grad_enabled():
        return _Refuse.apply(out, bottom, error)
    return out


def no_backward_error(layer: BaseLayer, j: int, what: str) -> NetError:
    return NetError(
        f"{layer.where}: {layer.type} cannot backpropagate to bottom {j} '{layer.lp.bottom[j]}' "
        f"({what}); set propagate_down: false for it"
    )


def refuse_in_place(layer: BaseLayer) -> None:
    """Raise when a top of `layer` is also one of its bottoms (Caffe would overwrite the input
    while reading it)."""
    same = set(layer.lp.top) & set(layer.lp.bottom)
    if same:
        raise NetError(
            f"{layer.where}: {layer.type} cannot run in place (top '{sorted(same)[0]}' is also "
            "a bottom): give the top another name"
        )
