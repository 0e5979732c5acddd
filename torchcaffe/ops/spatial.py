"""Im2col (convolution windows as channels) and SPP (spatial pyramid pooling)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F

from caffeio import caffe_pb2
from caffeio import layertypes as lt

from ..errors import NetError
from .base import BaseLayer, canonical_axis, register
from .guards import refuse_in_place
from .vision import caffe_pool2d, conv_geometry

if TYPE_CHECKING:
    from .base import Context, Tensors


def im2col(
    x: torch.Tensor,
    axis: int,
    kernel: Sequence[int],
    pad: Sequence[int],
    stride: Sequence[int],
    dilation: Sequence[int],
) -> torch.Tensor:
    """Caffe's im2col of every item: (outer..., C, *S) -> (outer..., C * prod(K), *O), the
    column index c * prod(K) + kernel offset (row-major), zeros outside the input."""
    n = len(kernel)
    lead = tuple(x.shape[:axis])
    c = x.shape[axis]
    xs = x.reshape((-1, c) + tuple(x.shape[axis + 1 :]))
    pads = []
    for p in reversed(pad):
        pads += [p, p]
    xp = F.pad(xs, pads) if any(pad) else xs
    for i in range(n):
        extent = dilation[i] * (kernel[i] - 1) + 1
        xp = xp.unfold(2 + i, extent, stride[i])  # (M, C, O.., [E..]) windows appended last
    # xp: (M, C, O1..On, E1..En); keep every dilation-th tap of each window
    idx = [slice(None)] * (2 + n) + [slice(None, None, d) for d in dilation]
    xp = xp[tuple(idx)]
    perm = [0, 1] + [2 + n + i for i in range(n)] + [2 + i for i in range(n)]
    cols = xp.permute(perm)  # (M, C, K1..Kn, O1..On)
    out_sp = tuple(cols.shape[2 + n :])
    return cols.reshape(lead + (c * math.prod(kernel),) + out_sp)


@register("Im2col")
class Im2col(BaseLayer):
    """Rearrange each convolution window into channels: C x H x W -> C*kh*kw x OH x OW (any
    number of spatial axes after convolution_param.axis); backward sums the windows back
    (col2im)."""

    n_bottom = (1, 1)
    n_top = (1, 1)

    def __init__(self, lp: caffe_pb2.LayerParameter, ctx: Context) -> None:
        super().__init__(lp, ctx)
        refuse_in_place(self)

    def caffe_backward_bottoms(self, need: list[bool]) -> list[bool]:
        """Caffe's Im2col backward ignores propagate_down: run, it writes the bottom diff."""
        return [True]

    def forward(self, xs: Tensors, ws: Tensors) -> Tensors:
        x = xs[0]
        p = self.lp.convolution_param
        axis = canonical_axis(p.axis, x.dim(), self.where)
        n = x.dim() - axis - 1
        if n < 1:
            raise NetError(
                f"{self.where}: needs at least 1 spatial axis after axis {axis}, got "
                f"{tuple(x.shape)}"
            )
        kernel, pad, stride, dil = conv_geometry(self.lp, n, self.where)
        out = []
        for i in range(n):
            o = lt.conv_out_size(x.shape[axis + 1 + i], kernel[i], stride[i], pad[i], dil[i])
            if o < 1:
                raise NetError(
                    f"{self.where}: kernel {kernel} (dilation {dil}, pad {pad}) does not fit "
                    f"the input {tuple(x.shape)}"
                )
            out.append(o)
        if x.is_meta:
            shape = tuple(x.shape[:axis]) + (x.shape[axis] * math.prod(kernel),) + tuple(out)
            return [torch.empty(shape, device="meta")]
        return [im2col(x, axis, kernel, pad, stride, dil)]


def spp_level(h: int, w: int, level: int) -> tuple[tuple[int, int], tuple[int, int]]:
    """Caffe's SPP pooling geometry for pyramid level `level` (2^level bins per side):
    ((kernel_h, kernel_w), (pad_h, pad_w)), stride = kernel."""
    bins = 2**level
    kh = math.ceil(h / bins)
    kw = math.ceil(w / bins)
    ph = (kh * bins - h + 1) // 2
    pw = (kw * bins - w + 1) // 2
    return (kh, kw), (ph, pw)


@register("SPP")
class SPP(BaseLayer):
    """Spatial pyramid pooling of N x C x H x W: for levels 0..pyramid_height-1, pool into
    2^l x 2^l bins (MAX or AVE, Caffe's pooling rules), flatten, concatenate along axis 1 ->
    N x C*sum(4^l). With pyramid_height 1 the top is the pooled N x C x 1 x 1 itself."""

    n_bottom = (1, 1)
    n_top = (1, 1)

    def __init__(self, lp: caffe_pb2.LayerParameter, ctx: Context) -> None:
        super().__init__(lp, ctx)
        p = lp.spp_param
        P = caffe_pb2.SPPParameter
        if p.pool == P.STOCHASTIC:
            raise NetError(
                f"{self.where}: STOCHASTIC pooling has no CPU implementation in Caffe; use MAX "
                "or AVE"
            )
        self.method = "MAX" if p.pool == P.MAX else "AVE"
        if not p.HasField("pyramid_height") or p.pyramid_height < 1:
            raise NetError(f"{self.where}: spp_param.pyramid_height must be set (>= 1)")
        self.levels = p.pyramid_height
        refuse_in_place(self)

    def forward(self, xs: Tensors, ws: Tensors) -> Tensors:
        x = xs[0]
        if x.dim() != 4:
            raise NetError(f"{self.where}: needs N x C x H x W, got {tuple(x.shape)}")
        h, w = x.shape[2], x.shape[3]
        if h < 1 or w < 1:
            raise NetError(f"{self.where}: input dimensions cannot be zero: {tuple(x.shape)}")
        outs = []
        for level in range(self.levels):
            kernel, pad = spp_level(h, w, level)
            if pad[0] >= kernel[0] or pad[1] >= kernel[1]:
                raise NetError(
                    f"{self.where}: pyramid level {level} ({2**level} bins) needs pad {pad} "
                    f"with kernel {kernel} on a {h} x {w} input; Caffe's pooling refuses pad "
                    ">= kernel: use a smaller pyramid_height or a larger input"
                )
            if x.is_meta:
                clip = pad[0] > 0 or pad[1] > 0  # Caffe: either axis padded clips both
                oh = lt.pool_out_size(h, kernel[0], kernel[0], pad[0], clip=clip)
                ow = lt.pool_out_size(w, kernel[1], kernel[1], pad[1], clip=clip)
                outs.append(torch.empty((x.shape[0], x.shape[1], oh, ow), device="meta"))
            else:
                outs.append(caffe_pool2d(x, self.method, kernel, pad, kernel))
        if self.levels == 1:
            return [outs[0]]
        flat = [o.reshape(o.shape[0], -1) for o in outs]
        if x.is_meta:
            return [torch.empty((x.shape[0], sum(f.shape[1] for f in flat)), device="meta")]
        return [torch.cat(flat, dim=1)]
