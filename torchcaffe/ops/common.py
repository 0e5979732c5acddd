"""InnerProduct, Eltwise, Concat, Scale, Bias, BatchNorm, Softmax, Flatten, Reshape, Split,
Silence, ArgMax."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import torch

from ..errors import NetError
from .base import BaseLayer, canonical_axis, prod, register

if TYPE_CHECKING:
    from caffeio import caffe_pb2

    from .base import Context, ParamShapes, Shapes, Tensors


@register("InnerProduct")
class InnerProduct(BaseLayer):
    """y = x.reshape(M, K) W^T + b with K = prod(shape[axis:]); W (num_output, K), or (K,
    num_output) with transpose; top shape = shape[:axis] + (num_output,)."""

    n_bottom = (1, 1)
    n_top = (1, 1)

    def __init__(self, lp: caffe_pb2.LayerParameter, ctx: Context) -> None:
        super().__init__(lp, ctx)
        p = lp.inner_product_param
        if not p.HasField("num_output"):
            raise NetError(f"{self.where}: inner_product_param.num_output is not set")
        if p.num_output < 1:
            raise NetError(f"{self.where}: inner_product_param.num_output must be >= 1, got 0")
        self.p = p

    def _axis(self, ndim):
        return canonical_axis(self.p.axis, ndim, self.where)

    def param_shapes(self, bottom_shapes: Shapes) -> ParamShapes:
        s = bottom_shapes[0]
        k = prod(s[self._axis(len(s)) :])
        n = self.p.num_output
        p = self.p
        out = [
            (
                (k, n) if p.transpose else (n, k),
                p.weight_filler if p.HasField("weight_filler") else None,
            )
        ]
        if p.bias_term:
            out.append(((n,), p.bias_filler if p.HasField("bias_filler") else None))
        return out

    def forward(self, xs: Tensors, ws: Tensors) -> Tensors:
        x = xs[0]
        axis = self._axis(x.dim())
        x2 = x.reshape(prod(x.shape[:axis]), -1)
        w = ws[0]
        k = w.shape[0] if self.p.transpose else w.shape[1]
        if x2.shape[1] != k:
            raise NetError(
                f"{self.where}: bottom {tuple(x.shape)} has {x2.shape[1]} inputs per row but "
                f"the weights expect {k}"
            )
        y = x2 @ w if self.p.transpose else x2 @ w.t()
        if self.p.bias_term:
            y = y + ws[1]
        return [y.reshape(tuple(x.shape[:axis]) + (self.p.num_output,))]


@register("Eltwise")
class Eltwise(BaseLayer):
    """SUM (with optional coeff per bottom), PROD or MAX of same-shaped bottoms."""

    n_bottom = (2, None)
    n_top = (1, 1)

    def __init__(self, lp: caffe_pb2.LayerParameter, ctx: Context) -> None:
        super().__init__(lp, ctx)
        p = lp.eltwise_param
        self.op = p.operation
        self.coeff = list(p.coeff)
        if self.coeff and len(self.coeff) != len(lp.bottom):
            raise NetError(
                f"{self.where}: {len(self.coeff)} coeff values for {len(lp.bottom)} bottoms"
            )
        if self.coeff and self.op != type(p).SUM:
            raise NetError(f"{self.where}: coeff applies to SUM only")

    def forward(self, xs: Tensors, ws: Tensors) -> Tensors:
        shape = xs[0].shape
        for j, x in enumerate(xs[1:], 1):
            if x.shape != shape:
                raise NetError(
                    f"{self.where}: bottom {j} shape {tuple(x.shape)} differs from bottom 0 "
                    f"shape {tuple(shape)}"
                )
        E = type(self.lp.eltwise_param)
        if self.op == E.SUM:
            c = self.coeff or [1.0] * len(xs)
            y = xs[0] if c[0] == 1 else xs[0] * c[0]
            for ci, x in zip(c[1:], xs[1:]):
                y = y + (x if ci == 1 else x * ci)
            return [y]
        if self.op == E.PROD:
            y = xs[0]
            for x in xs[1:]:
                y = y * x
            return [y]
        y = xs[0]
        for x in xs[1:]:  # ties go to the earlier bottom, as in Caffe
            y = torch.where(x > y, x, y)
        return [y]


@register("Concat")
class Concat(BaseLayer):
    """Concatenate bottoms along `axis` (default 1; legacy concat_dim)."""

    n_bottom = (1, None)
    n_top = (1, 1)

    def forward(self, xs: Tensors, ws: Tensors) -> Tensors:
        p = self.lp.concat_param
        axis = p.concat_dim if p.HasField("concat_dim") else p.axis
        axis = canonical_axis(axis, xs[0].dim(), self.where)
        for j, x in enumerate(xs[1:], 1):
            if x.dim() != xs[0].dim() or any(
                a != b for i, (a, b) in enumerate(zip(x.shape, xs[0].shape)) if i != axis
            ):
                raise NetError(
                    f"{self.where}: bottom {j} shape {tuple(x.shape)} does not match bottom 0 "
                    f"{tuple(xs[0].shape)} outside axis {axis}"
                )
        return [torch.cat(xs, dim=axis)] if len(xs) > 1 else [xs[0]]


def _broadcast_shape(x, axis, param_shape):
    return (1,) * axis + tuple(param_shape) + (1,) * (x.dim() - axis - len(param_shape))


def _param_span(lp_axis, num_axes, x_shape, where):
    axis = canonical_axis(lp_axis, len(x_shape), where) if len(x_shape) else 0
    if num_axes == -1:
        return axis, tuple(x_shape[axis:])
    if num_axes < -1 or axis + num_axes > len(x_shape):
        raise NetError(f"{where}: num_axes {num_axes} from axis {axis} exceeds {tuple(x_shape)}")
    return axis, tuple(x_shape[axis : axis + num_axes])


def _check_second(x, y, axis, where):
    want = tuple(x.shape[axis : axis + y.dim()])
    if tuple(y.shape) != want:
        raise NetError(
            f"{where}: bottom 1 shape {tuple(y.shape)} must equal bottom 0 shape "
            f"{tuple(x.shape)} at axes {axis}..{axis + y.dim() - 1} ({want})"
        )


@register("Scale")
class Scale(BaseLayer):
    """y = x * s (+ b): s is bottom[1] or a learned blob of shape x.shape[axis:axis+num_axes]
    (filler default constant 1); bias_term adds a learned b (bias_filler default 0)."""

    n_bottom = (1, 2)
    n_top = (1, 1)

    def param_shapes(self, bottom_shapes: Shapes) -> ParamShapes:
        p = self.lp.scale_param
        x = bottom_shapes[0]
        out = []
        if len(bottom_shapes) == 1:
            _, shape = _param_span(p.axis, p.num_axes, x, self.where)
            out.append((shape, p.filler if p.HasField("filler") else _const(1.0)))
        else:
            axis = canonical_axis(p.axis, len(x), self.where)
            shape = tuple(bottom_shapes[1])
            self._axis = axis
        if p.bias_term:
            out.append((shape, p.bias_filler if p.HasField("bias_filler") else None))
        return out

    def forward(self, xs: Tensors, ws: Tensors) -> Tensors:
        x = xs[0]
        p = self.lp.scale_param
        if len(xs) == 2:
            axis = canonical_axis(p.axis, x.dim(), self.where)
            s = xs[1]
            _check_second(x, s, axis, self.where)
            rest = ws
        else:
            axis, shape = _param_span(p.axis, p.num_axes, x.shape, self.where)
            s = ws[0]
            if tuple(s.shape) != shape:
                raise NetError(
                    f"{self.where}: scale blob {tuple(s.shape)} vs bottom {tuple(x.shape)}"
                )
            rest = ws[1:]
        bshape = _broadcast_shape(x, axis, s.shape)
        y = x * s.reshape(bshape)
        if p.bias_term:
            y = y + rest[0].reshape(bshape)
        return [y]


def _const(v):
    from caffeio import caffe_pb2

    return caffe_pb2.FillerParameter(type="constant", value=v)


@register("Bias")
class Bias(BaseLayer):
    """y = x + b: b is bottom[1] or a learned blob of shape x.shape[axis:axis+num_axes]."""

    n_bottom = (1, 2)
    n_top = (1, 1)

    def param_shapes(self, bottom_shapes: Shapes) -> ParamShapes:
        if len(bottom_shapes) == 2:
            return []
        p = self.lp.bias_param
        _, shape = _param_span(p.axis, p.num_axes, bottom_shapes[0], self.where)
        return [(shape, p.filler if p.HasField("filler") else None)]

    def forward(self, xs: Tensors, ws: Tensors) -> Tensors:
        x = xs[0]
        p = self.lp.bias_param
        if len(xs) == 2:
            axis = canonical_axis(p.axis, x.dim(), self.where)
            b = xs[1]
            _check_second(x, b, axis, self.where)
        else:
            axis, _ = _param_span(p.axis, p.num_axes, x.shape, self.where)
            b = ws[0]
        return [x + b.reshape(_broadcast_shape(x, axis, b.shape))]


@register("BatchNorm")
class BatchNorm(BaseLayer):
    """(x - mean) / sqrt(var + eps) per channel (axis 1). Blobs: running mean sum, running
    variance sum, scale factor (1,); use_global_stats (default: TEST phase) uses blob/factor,
    otherwise batch statistics, and TRAIN forward updates the running blobs in place."""

    n_bottom = (1, 1)
    n_top = (1, 1)

    def __init__(self, lp: caffe_pb2.LayerParameter, ctx: Context) -> None:
        super().__init__(lp, ctx)
        p = lp.batch_norm_param
        self.use_global = p.use_global_stats if p.HasField("use_global_stats") else self.phase == 1
        self.maf = p.moving_average_fraction
        self.eps = p.eps
        for spec in lp.param:
            if spec.lr_mult != 0:
                raise NetError(
                    f"{self.where}: BatchNorm statistics are not learnable; set lr_mult: 0 on "
                    "its params (or give none)"
                )

    def param_shapes(self, bottom_shapes: Shapes) -> ParamShapes:
        c = bottom_shapes[0][1] if len(bottom_shapes[0]) > 1 else 1
        return [((c,), None), ((c,), None), ((1,), None)]

    def forward(self, xs: Tensors, ws: Tensors) -> Tensors:
        x = xs[0]
        c = x.shape[1] if x.dim() > 1 else 1
        bshape = (1, c) + (1,) * (x.dim() - 2)
        if self.use_global:
            if x.is_meta:
                return [x.clone()]
            sf = ws[2].reshape(())
            f = torch.where(sf == 0, torch.zeros_like(sf), 1.0 / sf)
            mean = (ws[0] * f).reshape(bshape)
            var = (ws[1] * f).reshape(bshape)
            return [(x - mean) / torch.sqrt(var + self.eps)]
        dims = [0] + list(range(2, x.dim()))
        mean = x.mean(dim=dims, keepdim=True)
        xc = x - mean
        var = (xc * xc).mean(dim=dims, keepdim=True)
        if not x.is_meta:
            with torch.no_grad():
                m = x.numel() // c
                corr = m / (m - 1) if m > 1 else 1.0
                ws[2].mul_(self.maf).add_(1.0)
                ws[0].mul_(self.maf).add_(mean.reshape(c))
                ws[1].mul_(self.maf).add_(var.reshape(c), alpha=corr)
        return [xc / torch.sqrt(var + self.eps)]


@register("Softmax")
class Softmax(BaseLayer):
    """exp(x) / sum exp(x) along `axis` (default 1)."""

    n_bottom = (1, 1)
    n_top = (1, 1)

    def forward(self, xs: Tensors, ws: Tensors) -> Tensors:
        axis = canonical_axis(self.lp.softmax_param.axis, xs[0].dim(), self.where)
        return [torch.softmax(xs[0], dim=axis)]


@register("Flatten")
class Flatten(BaseLayer):
    """Merge axes axis..end_axis into one (shares data with the bottom, as in Caffe)."""

    n_bottom = (1, 1)
    n_top = (1, 1)

    def forward(self, xs: Tensors, ws: Tensors) -> Tensors:
        x = xs[0]
        p = self.lp.flatten_param
        a = canonical_axis(p.axis, x.dim(), self.where)
        e = canonical_axis(p.end_axis, x.dim(), self.where)
        shape = tuple(x.shape[:a]) + (prod(x.shape[a : e + 1]),) + tuple(x.shape[e + 1 :])
        return [x.reshape(shape)]


def caffe_reshape(
    in_shape: Sequence[int], dims: Sequence[int], axis: int, num_axes: int, where: str = "Reshape"
) -> tuple[int, ...]:
    """Caffe's Reshape rule: dims replace in_shape[axis:axis+num_axes]; 0 copies the bottom
    dim at that position, one -1 is inferred from the count."""
    nd = len(in_shape)
    start = axis + nd + 1 if axis < 0 else axis
    if not 0 <= start <= nd:
        raise NetError(f"{where}: axis {axis} out of range for {tuple(in_shape)}")
    end = nd if num_axes == -1 else start + num_axes
    if num_axes < -1 or end > nd:
        raise NetError(f"{where}: num_axes {num_axes} out of range for {tuple(in_shape)}")
    new = []
    infer = None
    for i, d in enumerate(dims):
        if d == 0:
            if start + i >= nd:
                raise NetError(
                    f"{where}: dim {i} is 0 (copy) but the bottom has no axis {start + i}"
                )
            new.append(in_shape[start + i])
        elif d == -1:
            if infer is not None:
                raise NetError(f"{where}: only one dim may be -1")
            infer = len(new)
            new.append(1)
        else:
            new.append(int(d))
    shape = list(in_shape[:start]) + new + list(in_shape[end:])
    total = prod(in_shape)
    if infer is not None:
        k = start + infer
        known = prod(shape) if shape else 1
        if known == 0 or total % known:
            raise NetError(f"{where}: cannot infer -1: {tuple(in_shape)} -> {dims}")
        shape[k] = total // known
    if prod(shape) != total:
        raise NetError(f"{where}: {tuple(in_shape)} ({total} values) cannot become {tuple(shape)}")
    return tuple(shape)


@register("Reshape")
class Reshape(BaseLayer):
    """Change the shape without copying (Caffe's 0 = copy dim, -1 = infer)."""

    n_bottom = (1, 1)
    n_top = (1, 1)

    def forward(self, xs: Tensors, ws: Tensors) -> Tensors:
        p = self.lp.reshape_param
        shape = caffe_reshape(tuple(xs[0].shape), list(p.shape.dim), p.axis, p.num_axes, self.where)
        return [xs[0].reshape(shape)]


@register("Split")
class Split(BaseLayer):
    """Every top is the bottom (shared data); the bottom diff is the sum of the top diffs."""

    n_bottom = (1, 1)
    n_top = (1, None)

    def forward(self, xs: Tensors, ws: Tensors) -> Tensors:
        return [xs[0]] * len(self.lp.top)

    def explicit_backward(
        self, top_diffs: Tensors, xs: Tensors, ws: Tensors, need: list[bool]
    ) -> tuple[Tensors, Tensors]:
        total = top_diffs[0]
        for d in top_diffs[1:]:
            total = total + d
        return [total], []


@register("Silence")
class Silence(BaseLayer):
    """Consumes bottoms, produces nothing; backward writes zero diffs."""

    n_bottom = (1, None)
    n_top = (0, 0)

    def forward(self, xs: Tensors, ws: Tensors) -> Tensors:
        return []

    def explicit_backward(
        self, top_diffs: Tensors, xs: Tensors, ws: Tensors, need: list[bool]
    ) -> tuple[Tensors, Tensors]:
        return [torch.zeros_like(x) for x in xs], []


@register("ArgMax")
class ArgMax(BaseLayer):
    """Indices (or values, with out_max_val and axis) of the top_k largest entries."""

    n_bottom = (1, 1)
    n_top = (1, 1)
    differentiable = False

    def forward(self, xs: Tensors, ws: Tensors) -> Tensors:
        x = xs[0]
        p = self.lp.argmax_param
        k = p.top_k
        if p.HasField("axis"):
            axis = canonical_axis(p.axis, x.dim(), self.where)
            if k > x.shape[axis]:
                raise NetError(f"{self.where}: top_k {k} > axis size {x.shape[axis]}")
            shape = list(x.shape)
            shape[axis] = k
            if x.is_meta:
                return [torch.empty(shape, device="meta")]
            vals, idx = torch.topk(x, k, dim=axis)
            return [vals if p.out_max_val else idx.float()]
        n = x.shape[0]
        dim = prod(x.shape[1:])
        if k > dim:
            raise NetError(f"{self.where}: top_k {k} > {dim} values per item")
        shape = [n, 2 if p.out_max_val else 1, k] + [1] * max(0, x.dim() - 3)
        if x.is_meta:
            return [torch.empty(shape, device="meta")]
        vals, idx = torch.topk(x.reshape(n, dim), k, dim=1)
        out = torch.stack([idx.float(), vals], 1) if p.out_max_val else idx.float()[:, None]
        return [out.reshape(shape)]
