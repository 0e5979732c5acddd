"""Recurrent layers: LSTMUnit (one LSTM step), and RNN and LSTM over T timesteps.

Caffe runs RNN and LSTM as an unrolled net of its own layers (InnerProduct, Scale, Eltwise,
TanH, LSTMUnit); here the same computation runs step by step in torch, with LSTMUnit's own
backward formulas. What Caffe's unrolling implies is kept:

* bottoms: x (T x N x ...), cont (T x N; 0 starts a new sequence: the hidden state entering that
  step is multiplied by it), optionally a static input (N x ...) seen at every step, and with
  expose_hidden the initial states (1 x N x num_output each: h_0, then c_0 for LSTM).
* tops: the outputs (T x N x num_output), and with expose_hidden the final states.
* without expose_hidden, the state reached at the end of a forward is the next forward's
  initial state (zeros before the first); no gradient crosses forwards.
* no gradient reaches the exposed initial-state bottoms, and the diffs of the exposed
  final-state tops are not used (Caffe shares only their data); none to cont.
* parameter blobs in Caffe's order -- LSTM: W_xc (4H x D), b_c (4H), [W_xc_static (4H x Ds)],
  W_hc (4H x H); RNN: W_xh, b_h, [W_xh_static], W_hh, W_ho, b_o -- filled by
  recurrent_param's weight_filler / bias_filler (default constant 0).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from ..errors import NetError
from .base import BaseLayer, prod, register
from .guards import no_backward_error, refuse_backward, refuse_in_place

if TYPE_CHECKING:
    from caffeio import caffe_pb2

    from .base import Context, ParamShapes, Shapes, Tensors


def _sigmoid(x):
    """LSTMUnit's sigmoid: 1 / (1 + exp(-x)), exp in the input's precision, the rest double."""
    return (1.0 / (1.0 + torch.exp(-x).double())).to(x.dtype)


def _tanh(x):
    """LSTMUnit's tanh: 2 sigmoid(2x) - 1, in double (Caffe's template deduces double there)."""
    xd = x.double()
    return (2.0 / (1.0 + torch.exp(-2.0 * xd)) - 1.0).to(x.dtype)


class _LSTMUnit(torch.autograd.Function):
    @staticmethod
    def forward(ctx, c_prev, x, cont):
        d = c_prev.shape[-1]
        i = _sigmoid(x[..., :d])
        f = cont[..., None] * _sigmoid(x[..., d : 2 * d])
        f = torch.where(cont[..., None] == 0, torch.zeros_like(f), f)
        o = _sigmoid(x[..., 2 * d : 3 * d])
        g = _tanh(x[..., 3 * d :])
        c = f * c_prev + i * g
        tanh_c = _tanh(c)
        h = o * tanh_c
        ctx.save_for_backward(c_prev, i, f, o, g, tanh_c)
        return c, h

    @staticmethod
    def backward(ctx, c_diff, h_diff):
        c_prev, i, f, o, g, tanh_c = ctx.saved_tensors
        c_term = c_diff + h_diff * o * (1 - tanh_c * tanh_c)
        gc = c_term * f
        gi = c_term * g * i * (1 - i)
        gf = c_term * c_prev * f * (1 - f)
        go = h_diff * tanh_c * o * (1 - o)
        gg = c_term * i * (1 - g * g)
        return gc, torch.cat([gi, gf, go, gg], dim=-1), None


def _check_unit(layer, c_prev, x, cont):
    for t, nd in ((c_prev, 3), (x, 3), (cont, 2)):
        if t.dim() != nd or t.shape[0] != 1 or t.shape[1] != c_prev.shape[1]:
            raise NetError(
                f"{layer.where}: bottoms must be 1 x N x D, 1 x N x 4D and 1 x N; got "
                f"{tuple(c_prev.shape)}, {tuple(x.shape)}, {tuple(cont.shape)}"
            )
    if x.shape[2] != 4 * c_prev.shape[2]:
        raise NetError(
            f"{layer.where}: bottom 1 has {x.shape[2]} gate inputs; it needs 4 x {c_prev.shape[2]}"
        )


@register("LSTMUnit")
class LSTMUnit(BaseLayer):
    """One LSTM step: bottoms c_prev (1 x N x D), gate inputs (1 x N x 4D: i, f, o, g) and cont
    (1 x N); tops c and h (1 x N x D). f is zeroed where cont is 0 (and scaled by cont).
    Caffe's backward (with f (1 - f) for the forget gate); none to cont."""

    n_bottom = (3, 3)
    n_top = (2, 2)

    def __init__(self, lp: caffe_pb2.LayerParameter, ctx: Context) -> None:
        super().__init__(lp, ctx)
        refuse_in_place(self)

    def allow_force_backward(self, j: int) -> bool:
        return j != 2

    def caffe_backward_bottoms(self, need: list[bool]) -> list[bool]:
        """Caffe's LSTMUnit backward writes both c_prev's and the gates' diffs when either
        is wanted."""
        if need[0] or need[1]:
            need[0] = need[1] = True
        return need

    def forward(self, xs: Tensors, ws: Tensors) -> Tensors:
        c_prev, x, cont = xs
        _check_unit(self, c_prev, x, cont)
        if c_prev.is_meta:
            return [torch.empty(c_prev.shape, device="meta") for _ in range(2)]
        c, h = _LSTMUnit.apply(c_prev, x, cont.detach())
        err = no_backward_error(self, 2, "sequence continuation indicators")
        return [refuse_backward(c, cont, err), refuse_backward(h, cont, err)]


class _Recurrent(BaseLayer):
    """Shared by RNN and LSTM: checks, parameter shapes, the carried state."""

    n_states = 1  # initial-state bottoms / final-state tops with expose_hidden
    gates = 1  # 4 for LSTM
    # any of Caffe's forms (static input, exposed states); __init__ sets the layer's own
    n_bottom = (2, 3 + n_states)
    n_top = (1, 1 + n_states)

    def __init__(self, lp: caffe_pb2.LayerParameter, ctx: Context) -> None:
        super().__init__(lp, ctx)
        p = lp.recurrent_param
        if p.num_output < 1:
            raise NetError(f"{self.where}: recurrent_param.num_output must be positive")
        self.hidden = p.num_output
        self.expose = p.expose_hidden
        lo = 2 + (self.n_states if self.expose else 0)
        self.n_bottom = (lo, lo + 1)
        self.n_top = (1 + (self.n_states if self.expose else 0),) * 2
        self.check_counts()
        self.static = len(lp.bottom) > lo
        self.state = None  # carried state (without expose_hidden)
        refuse_in_place(self)

    def allow_force_backward(self, j: int) -> bool:
        return j != 1

    def caffe_backward_bottoms(self, need: list[bool]) -> list[bool]:
        """Caffe's unrolled net writes the diffs of x and the static input whenever the layer
        runs backward, whatever propagate_down says."""
        need[0] = True
        if self.static:
            need[2] = True
        return need

    def _shapes(self, bottom_shapes):
        x, cont = bottom_shapes[0], bottom_shapes[1]
        if len(x) < 2:
            raise NetError(
                f"{self.where}: bottom 0 must be T x N x ... (>= 2 axes), got {tuple(x)}"
            )
        if len(cont) != 2 or tuple(cont) != tuple(x[:2]):
            raise NetError(
                f"{self.where}: cont (bottom 1) must be T x N = {tuple(x[:2])}, got {tuple(cont)}"
            )
        if self.static:
            s = bottom_shapes[2]
            if len(s) < 1 or s[0] != x[1]:
                raise NetError(
                    f"{self.where}: the static input (bottom 2) must be N x ... with N = {x[1]}, "
                    f"got {tuple(s)}"
                )
        return x, cont

    def param_shapes(self, bottom_shapes: Shapes) -> ParamShapes:
        x, _ = self._shapes(bottom_shapes)
        p = self.lp.recurrent_param
        wf = p.weight_filler if p.HasField("weight_filler") else None
        bf = p.bias_filler if p.HasField("bias_filler") else None
        g = self.gates * self.hidden
        out = [((g, prod(x[2:])), wf), ((g,), bf)]
        if self.static:
            out.append(((g, prod(bottom_shapes[2][1:])), wf))
        out.append(((g, self.hidden), wf))
        return out

    def _inputs(self, xs):
        x, cont = xs[0], xs[1]
        self._shapes([tuple(t.shape) for t in xs])
        t_, n = x.shape[0], x.shape[1]
        first = 3 if self.static else 2
        init = list(xs[first:]) if self.expose else []
        want = (1, n, self.hidden)
        for k, s in enumerate(init):
            if tuple(s.shape) != want:
                raise NetError(
                    f"{self.where}: initial state bottom {first + k} must be {want}, got "
                    f"{tuple(s.shape)}"
                )
        return x, cont, t_, n, init

    def _initial(self, init, n, like):
        if self.expose:
            return [s.detach() for s in init]  # Caffe shares their data only: no gradient
        if self.state is None or self.state[0].shape[1] != n:
            return [like.new_zeros((1, n, self.hidden)) for _ in range(self.n_states)]
        return [s.to(like.device) for s in self.state]

    def forward(self, xs: Tensors, ws: Tensors) -> Tensors:
        x, cont, t_, n, init = self._inputs(xs)
        if x.is_meta:
            tops = [torch.empty((t_, n, self.hidden), device="meta")]
            return tops + [torch.empty((1, n, self.hidden), device="meta")] * (len(self.lp.top) - 1)
        w_x, b = ws[0], ws[1]
        k = 2
        x_static = None
        if self.static:
            w_s = ws[2]
            x_static = (xs[2].reshape(n, -1) @ w_s.t()).reshape(1, n, -1)
            k = 3
        rest = ws[k:]
        gx = x.reshape(t_, n, -1) @ w_x.t() + b  # InnerProduct at axis 2, all steps at once
        c = cont.detach()
        states = self._initial(init, n, gx)
        outs, states = self.unroll(gx, c, x_static, states, rest)
        y = torch.cat(outs, dim=0)
        err = no_backward_error(self, 1, "sequence continuation indicators")
        y = refuse_backward(y, cont, err)
        self.state = [s.detach() for s in states]
        return [y] + ([s.detach() for s in states] if self.expose else [])


@register("RNN")
class RNN(_Recurrent):
    """h_t = tanh(W_hh (cont_t h_{t-1}) + W_xh x_t + b_h [+ W_xh_static x_static]),
    o_t = tanh(W_ho h_t + b_o); top 0 = o (T x N x num_output); exposed state: h."""

    def param_shapes(self, bottom_shapes: Shapes) -> ParamShapes:
        out = super().param_shapes(bottom_shapes)
        p = self.lp.recurrent_param
        wf = p.weight_filler if p.HasField("weight_filler") else None
        bf = p.bias_filler if p.HasField("bias_filler") else None
        return out + [((self.hidden, self.hidden), wf), ((self.hidden,), bf)]

    def unroll(
        self,
        gx: torch.Tensor,
        cont: torch.Tensor,
        x_static: torch.Tensor | None,
        states: Tensors,
        ws: Tensors,
    ) -> tuple[Tensors, Tensors]:
        w_hh, w_ho, b_o = ws
        (h,) = states
        outs = []
        for t in range(gx.shape[0]):
            hc = h * cont[t : t + 1, :, None]
            s = hc @ w_hh.t() + gx[t : t + 1]
            if x_static is not None:
                s = s + x_static
            h = torch.tanh(s)
            outs.append(torch.tanh(h @ w_ho.t() + b_o))
        return outs, [h]


@register("LSTM")
class LSTM(_Recurrent):
    """Gates i, f, o, g = W_hc (cont_t h_{t-1}) + W_xc x_t + b_c [+ W_xc_static x_static],
    then LSTMUnit (c_{t-1}, gates, cont_t) -> c_t, h_t; top 0 = h (T x N x num_output);
    exposed states: h_0, c_0 in, h_T, c_T out."""

    n_states = 2
    n_bottom = (2, 3 + n_states)
    n_top = (1, 1 + n_states)

    n_states = 2
    gates = 4

    def unroll(
        self,
        gx: torch.Tensor,
        cont: torch.Tensor,
        x_static: torch.Tensor | None,
        states: Tensors,
        ws: Tensors,
    ) -> tuple[Tensors, Tensors]:
        (w_hc,) = ws
        h, c = states
        outs = []
        for t in range(gx.shape[0]):
            hc = h * cont[t : t + 1, :, None]
            s = hc @ w_hc.t() + gx[t : t + 1]
            if x_static is not None:
                s = s + x_static
            c, h = _LSTMUnit.apply(c, s, cont[t : t + 1])
            outs.append(h)
        return outs, [h, c]
