"""Layers that pick or repeat parts of blobs: Slice, Tile, BatchReindex, Filter."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import torch

from ..errors import NetError
from .base import BaseLayer, canonical_axis, register
from .guards import no_backward_error, refuse_backward, refuse_in_place

if TYPE_CHECKING:
    from caffeio import caffe_pb2

    from .base import Context, Tensors


@register("Slice")
class Slice(BaseLayer):
    """Split the bottom along `axis` (or legacy slice_dim) at slice_point (one fewer than the
    tops, increasing), or into equal parts; backward puts each top diff back in place."""

    n_bottom = (1, 1)
    n_top = (1, None)

    def __init__(self, lp: caffe_pb2.LayerParameter, ctx: Context) -> None:
        super().__init__(lp, ctx)
        p = lp.slice_param
        if p.HasField("axis") and p.HasField("slice_dim"):
            raise NetError(f"{self.where}: give slice_param.axis or slice_dim, not both")
        if len(lp.top) > 1:
            refuse_in_place(self)

    def sizes(self, shape: Sequence[int]) -> tuple[int, list[int]]:
        p = self.lp.slice_param
        if p.HasField("slice_dim"):
            axis = int(p.slice_dim)
            if axis >= len(shape):
                raise NetError(f"{self.where}: slice_dim {axis} out of range for {tuple(shape)}")
        else:
            axis = canonical_axis(p.axis, len(shape), self.where)
        n, total = len(self.lp.top), shape[axis]
        points = list(p.slice_point)
        if points:
            if len(points) != n - 1:
                raise NetError(
                    f"{self.where}: {len(points)} slice_point values for {n} tops (give {n - 1})"
                )
            if n > total:
                raise NetError(f"{self.where}: {n} tops but axis {axis} has only {total} entries")
            sizes, prev = [], 0
            for q in points:
                if q <= prev:
                    raise NetError(
                        f"{self.where}: slice_point values must increase from above 0, got {points}"
                    )
                sizes.append(q - prev)
                prev = q
            if prev >= total:
                raise NetError(
                    f"{self.where}: slice_point {prev} leaves nothing for the last top (axis "
                    f"{axis} has {total} entries)"
                )
            sizes.append(total - prev)
        else:
            if total % n:
                raise NetError(
                    f"{self.where}: {n} tops do not divide axis {axis} of size {total} evenly; "
                    "give slice_point"
                )
            sizes = [total // n] * n
        return axis, sizes

    def forward(self, xs: Tensors, ws: Tensors) -> Tensors:
        x = xs[0]
        axis, sizes = self.sizes(tuple(x.shape))
        return list(torch.split(x, sizes, dim=axis))


@register("Tile")
class Tile(BaseLayer):
    """Repeat the bottom `tiles` times along `axis` (each repeat the whole of axes axis..end);
    backward sums the repeats."""

    n_bottom = (1, 1)
    n_top = (1, 1)

    def __init__(self, lp: caffe_pb2.LayerParameter, ctx: Context) -> None:
        super().__init__(lp, ctx)
        p = lp.tile_param
        if not p.HasField("tiles"):
            raise NetError(f"{self.where}: tile_param.tiles is not set")
        if p.tiles < 1:
            raise NetError(f"{self.where}: tile_param.tiles must be positive, got {p.tiles}")
        refuse_in_place(self)

    def forward(self, xs: Tensors, ws: Tensors) -> Tensors:
        x = xs[0]
        p = self.lp.tile_param
        axis = canonical_axis(p.axis, x.dim(), self.where)
        reps = [1] * x.dim()
        reps[axis] = p.tiles
        if x.is_meta:
            shape = list(x.shape)
            shape[axis] *= p.tiles
            return [torch.empty(shape, device="meta")]
        return [x.repeat(*reps)]


@register("BatchReindex")
class BatchReindex(BaseLayer):
    """Top item i = bottom item index[i] (bottom 1: a 1-axis blob of indices in 0..N-1);
    backward adds each top item's diff to its source item. No backward to the indices."""

    n_bottom = (2, 2)
    n_top = (1, 1)

    def __init__(self, lp: caffe_pb2.LayerParameter, ctx: Context) -> None:
        super().__init__(lp, ctx)
        refuse_in_place(self)

    def forward(self, xs: Tensors, ws: Tensors) -> Tensors:
        x, idx = xs
        if idx.dim() != 1:
            raise NetError(
                f"{self.where}: the index bottom must have 1 axis, got {tuple(idx.shape)}"
            )
        if x.dim() == 0:
            raise NetError(f"{self.where}: bottom 0 needs at least 1 axis")
        if x.is_meta:
            return [torch.empty((idx.shape[0],) + tuple(x.shape[1:]), device="meta")]
        k = idx.detach().to(torch.int64)
        bad = (k < 0) | (k >= x.shape[0])  # Caffe checks the float value; int(-0.5) is 0
        bad |= idx.detach() < 0
        if bool(bad.any()):
            v = float(idx.detach()[bad][0])
            raise NetError(
                f"{self.where}: index {v:g} outside 0..{x.shape[0] - 1} (the batch of "
                f"'{self.lp.bottom[0]}')"
            )
        y = x[k]
        return [refuse_backward(y, idx, no_backward_error(self, 1, "indices"))]


@register("Filter")
class Filter(BaseLayer):
    """Keep the items whose selector (last bottom, N x 1 x ...) is non-zero, in every other
    bottom (top t = bottom t filtered). Before any forward the tops have all N items, as in
    Caffe. Backward: the kept items' diffs, zeros elsewhere; none to the selector."""

    n_bottom = (2, None)
    n_top = (1, None)

    def __init__(self, lp: caffe_pb2.LayerParameter, ctx: Context) -> None:
        super().__init__(lp, ctx)
        if len(lp.top) != len(lp.bottom) - 1:
            raise NetError(
                f"{self.where}: {len(lp.top)} tops for {len(lp.bottom)} bottoms; give one top "
                "per bottom except the last (the selector)"
            )
        refuse_in_place(self)

    def forward(self, xs: Tensors, ws: Tensors) -> Tensors:
        *data, sel = xs
        if sel.dim() == 0 or any(d != 1 for d in sel.shape[1:]):
            raise NetError(
                f"{self.where}: the selector (last bottom) must be N x 1 x ..., got "
                f"{tuple(sel.shape)}"
            )
        for j, x in enumerate(data):
            if x.dim() == 0 or x.shape[0] != sel.shape[0]:
                raise NetError(
                    f"{self.where}: bottom {j} {tuple(x.shape)} must have the selector's "
                    f"{sel.shape[0]} items"
                )
        if sel.is_meta:
            return [torch.empty(x.shape, device="meta") for x in data]
        keep = torch.nonzero(sel.detach().reshape(-1) != 0).reshape(-1)
        err = no_backward_error(self, len(xs) - 1, "the selector")
        return [refuse_backward(x[keep], sel, err) for x in data]
