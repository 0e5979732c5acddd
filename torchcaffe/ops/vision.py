"""Convolution, Deconvolution, Pooling, LRN and Crop with Caffe's size and padding rules.

The geometry parsing, the output-size rules and the crop offsets are caffeio.layertypes'.
Traced (torch.jit.trace, as solvers.export does for ONNX), the layers keep their sizes
symbolic: global pooling goes by adaptive pooling, LRN across channels by an average, and
convolutions skip the GEMM path (whose view sizes a trace would freeze).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F

from caffeio import caffe_pb2
from caffeio import layertypes as lt

from .. import wgrad as _wgrad
from .. import winograd as _wg
from ..constregion import channel_sums, memory_format_of, weight_grad_by_regions
from ..errors import NetError
from .base import BaseLayer, register

if TYPE_CHECKING:
    from ..constregion import ConstInfo
    from .base import Context, ParamShapes, Shapes, Tensors

_FLT_MAX = 3.4028234663852886e38
_CONV = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}
_DECONV = {1: F.conv_transpose1d, 2: F.conv_transpose2d, 3: F.conv_transpose3d}


def conv_geometry(lp: caffe_pb2.LayerParameter, n: int, where: str) -> tuple[tuple[int, ...], ...]:
    """Convolution LayerParameter -> (kernel, pad, stride, dilation), each a tuple of n ints
    (caffeio.layertypes.conv_geometry's rules; NetError naming `where`)."""
    axes = lt.conv_geometry(lp, n, where, NetError)
    fields = ("kernel", "pad", "stride", "dilation")
    return tuple(tuple(getattr(a, f) for a in axes) for f in fields)


def _out_sizes(shape, geom, transposed):
    """Caffe's output size on each spatial axis of a bottom of `shape` (N x C x spatial)."""
    size = lt.deconv_out_size if transposed else lt.conv_out_size
    return [size(n, k, s, p, d) for n, k, p, s, d in zip(shape[2:], *geom)]


def _bias_grad(d, dsum):
    """A top diff's bias gradient: `dsum` when the by-regions path summed it already; a 4-D
    diff by channel_sums (aten's own bias sum reads an NHWC map with long strides, ~100 ms)."""
    if dsum is not None:
        return dsum
    if d.dim() == 4:
        return channel_sums(d)
    return d.sum([0, *range(2, d.dim())])


@register("Convolution")
class Convolution(BaseLayer):
    """y = conv(x, W) + b; W (Cout, Cin/g, *k), b (Cout,). Bottom/top N x C x spatial."""

    n_bottom = (1, None)
    n_top = (1, None)
    transposed = False

    def __init__(self, lp: caffe_pb2.LayerParameter, ctx: Context) -> None:
        super().__init__(lp, ctx)
        p = lp.convolution_param
        if p.axis != 1:
            raise NetError(f"{self.where}: only channel axis 1 is supported (got axis {p.axis})")
        if len(lp.bottom) != len(lp.top):
            raise NetError(f"{self.where}: needs as many tops as bottoms")
        if not p.HasField("num_output"):
            raise NetError(f"{self.where}: convolution_param.num_output is not set")
        if p.num_output < 1 or p.group < 1:
            raise NetError(
                f"{self.where}: num_output {p.num_output} and group {p.group} must be >= 1"
            )
        self.num_output = p.num_output
        self.group = p.group
        self.bias_term = p.bias_term
        self.geom = None

    def _setup_geom(self, shape):
        n = len(shape) - 2
        if n not in _CONV:
            raise NetError(f"{self.where}: bottom shape {tuple(shape)}: 1-3 spatial axes supported")
        self.geom = conv_geometry(self.lp, n, self.where)
        return n

    def param_shapes(self, bottom_shapes: Shapes) -> ParamShapes:
        shape = bottom_shapes[0]
        self._setup_geom(shape)
        c = shape[1]
        g = self.group
        if c < 1:
            raise NetError(
                f"{self.where}: bottom '{self.lp.bottom[0]}' {tuple(shape)} has {c} channels; "
                "a convolution needs at least one (check the input shape or the layer below)"
            )
        if c % g or self.num_output % g:
            raise NetError(
                f"{self.where}: channels {c} and num_output {self.num_output} must both be "
                f"divisible by group {g}"
            )
        kernel = self.geom[0]
        if self.transposed:
            w = (c, self.num_output // g) + kernel
        else:
            w = (self.num_output, c // g) + kernel
        p = self.lp.convolution_param
        out = [(w, p.weight_filler if p.HasField("weight_filler") else None)]
        if self.bias_term:
            out.append(((self.num_output,), p.bias_filler if p.HasField("bias_filler") else None))
        return out

    def forward(self, xs: Tensors, ws: Tensors) -> Tensors:
        n = xs[0].dim() - 2
        kernel, pad, stride, dil = self.geom
        fn = (_DECONV if self.transposed else _CONV)[n]
        b = ws[1] if self.bias_term else None
        outs = []
        for x in xs:
            if x.dim() - 2 != n:
                raise NetError(f"{self.where}: all bottoms need {n + 2} axes, got {tuple(x.shape)}")
            sizes = _out_sizes(x.shape, self.geom, self.transposed)
            if not self.transposed and any(
                m + 2 * p < d * (k - 1) + 1 for m, k, p, d in zip(x.shape[2:], kernel, pad, dil)
            ):
                raise NetError(
                    f"{self.where}: bottom {tuple(x.shape)} is smaller than the kernel "
                    f"{kernel} (dilation {dil}) even with pad {pad}: Caffe still computes one "
                    f"output pixel there (size {sizes}), its window reaching past the padding; "
                    "torchcaffe does not. Use a larger input or more padding"
                )
            if min(sizes) < 1:
                raise NetError(
                    f"{self.where}: bottom {tuple(x.shape)} too small for kernel {kernel}, "
                    f"pad {pad}, stride {stride}, dilation {dil} (output size {sizes})"
                )
            if self._gemm_ok(x, ws[0]):
                outs.append(self._gemm_forward(x, ws))
                continue
            outs.append(
                fn(x, ws[0], b, stride=stride, padding=pad, dilation=dil, groups=self.group)
            )
        return outs

    def _gemm_ok(self, x, w):
        """Weights much larger than the map (fc6, fc7): im2col + GEMM beats the convolution
        primitive (no weight reordering, no weight-sized temporaries). On CUDA only for float32
        training (H100, FCN-8s 500x500: a step 44 ms vs 47.5 ms; cuDNN wins at inference and
        under autocast: bf16 step 29 ms vs 35.6 ms)."""
        if x.is_cuda and (self.phase != 0 or torch.is_autocast_enabled("cuda")):
            return False
        return (
            not self.transposed
            and not torch.jit.is_tracing()
            and self.group == 1
            and x.dim() == 4
            and not x.is_meta
            and w.numel() > 4 * x[0].numel()
        )

    def _cols(self, x):
        kernel, pad, stride, dil = self.geom
        if kernel == (1, 1) and pad == (0, 0) and stride == (1, 1):
            return x.reshape(x.shape[0], x.shape[1], -1)
        return F.unfold(x, kernel, dil, pad, stride)

    def _gemm_forward(self, x, ws):
        kernel, pad, stride, dil = self.geom
        ho, wo = _out_sizes(x.shape, self.geom, False)
        w2 = ws[0].reshape(ws[0].shape[0], -1)
        y = torch.matmul(w2, self._cols(x))
        if self.bias_term:
            y += ws[1].view(1, -1, 1)
        return y.view(x.shape[0], w2.shape[0], ho, wo)

    def _gemm_backward(self, d, x, ws, nx, nw, nb, param_diffs):
        """Bottom diff (or None); weight and bias diffs accumulated into param_diffs in place."""
        kernel, pad, stride, dil = self.geom
        w2 = ws[0].reshape(ws[0].shape[0], -1)
        g = d.reshape(d.shape[0], d.shape[1], -1)
        if nw:
            cols = self._cols(x)
            dw = param_diffs[0].view(w2.shape)
            for k in range(x.shape[0]):
                dw.addmm_(g[k], cols[k].t())
        if nb:
            param_diffs[1].add_(g.sum((0, 2)))
        if not nx:
            return None
        gcols = torch.matmul(w2.t(), g)
        if kernel == (1, 1) and pad == (0, 0) and stride == (1, 1):
            return gcols.view(x.shape)
        return F.fold(gcols, x.shape[2:], kernel, dil, pad, stride)

    def backward_manual(
        self,
        top_diffs: Tensors,
        xs: Tensors,
        ws: Tensors,
        need_x: list[bool],
        need_w: list[bool],
        param_diffs: list[torch.Tensor | None],
        in_info: ConstInfo | None = None,
        alloc: Callable[..., torch.Tensor] | None = None,
        band: int | None = None,
        winograd: int = 0,
        wgrad: _wgrad.Policy | None = None,
    ) -> list[torch.Tensor | None]:
        """Bottom diffs (None where not needed) from top diffs, bottoms and weights; the weight
        and bias diffs are added into `param_diffs` (the parameter blobs' diff tensors). By
        aten's convolution_backward (what autograd itself runs) or, for _gemm_ok layers, GEMMs.
        With `band` (bytes; torchcaffe.bufpool) the by-regions path computes large maps in row
        bands, the bottom diff into `alloc(shape)`. With `winograd` (the net's setting, nonzero)
        3x3 stride-1 bottom diffs that gain by it go by F(2x2, 3x3) (_winograd_input_grad).
        `wgrad` (the net's torchcaffe.wgrad.Policy, from its host row): the weight diffs it
        takes go by Winograd F(3x3, 2x2) or by shifted GEMMs instead of aten's."""
        kernel = self.geom[0]
        need_b = self.bias_term and need_w[1]
        if all(self._gemm_ok(x, ws[0]) for x in xs):
            gx = [
                self._gemm_backward(d, x, ws, nx, need_w[0], need_b, param_diffs)
                for x, d, nx in zip(xs, top_diffs, need_x)
            ]
            return gx
        dsum = None
        if (
            in_info is not None
            and len(xs) == 1
            and len(kernel) == 2
            and not self.transposed
            and need_w[0]
        ):
            gx, dsum = self._backward_by_regions(
                top_diffs[0],
                xs[0],
                ws[0],
                need_x[0],
                need_b,
                param_diffs,
                in_info,
                alloc,
                band,
                winograd,
                wgrad,
            )
            if gx is not None:
                return gx
        return self._backward_per_bottom(
            top_diffs, xs, ws, need_x, need_w[0], need_b, param_diffs, dsum, alloc,
            winograd, wgrad,
        )  # fmt: skip

    def _backward_by_regions(
        self, d, x, w, nx, need_b, param_diffs, in_info, alloc, band, wg, wgrad
    ):
        """([bottom diff], dsum) of a one-bottom 2-D convolution whose input's constant areas
        are known (`in_info`): the weight diff by regions (constregion) and the bias diff
        (dsum, the top diff's channel sums) added into `param_diffs`; (None, dsum) with nothing
        added when the regions decline."""
        kernel, pad, stride, dil = self.geom
        d = d.to(x.dtype)
        dsum = channel_sums(d)  # the bias gradient, and the constant part's weight gradient
        gw = weight_grad_by_regions(
            d, x, in_info, w, stride, pad, dil, self.group, band=band, total=dsum,
            policy=wgrad,
        )  # fmt: skip
        if gw is None:
            return None, dsum
        gi = self._input_grad(d, x, w, alloc, band, wg) if nx else None
        param_diffs[0].add_(gw)
        if need_b:
            param_diffs[1].add_(dsum)
        return [gi], dsum

    def _input_grad(self, d, x, w, alloc, band, winograd):
        """The bottom diff of a one-bottom convolution: by Winograd F(2x2) where it gains (with
        `winograd`), else in row bands (with `band`; into `alloc` memory), else by aten."""
        gi = None
        if winograd:
            gi = self._winograd_input_grad(d, x, w, alloc)
        if band and gi is None:
            from ..bufpool import conv_input_grad

            kernel, pad, stride, dil = self.geom
            fmt = memory_format_of(x)
            out = alloc(x.shape, memory_format=fmt) if alloc is not None else None
            gi = conv_input_grad(d, w, x.shape, stride, pad, dil, self.group, out, band)
        if gi is None:
            gi = self._backward_aten(d, x, w, True, False)[0]
        return gi

    def _backward_per_bottom(
        self, top_diffs, xs, ws, need_x, nw, need_b, param_diffs, dsum, alloc, winograd,
        wgrad=None,
    ):  # fmt: skip
        """Bottom diffs bottom by bottom (None where not needed); the weight (`nw`) and bias
        (`need_b`) diffs summed over the bottoms and added into `param_diffs`. `dsum`: the bias
        diff when the by-regions path already summed it."""
        gx, gw, gb = [], None, None
        for x, d, nx in zip(xs, top_diffs, need_x):
            d = d.to(x.dtype)
            gi, gwi = self._bottom_grads(
                d, x, ws[0], nx, nw, winograd and len(xs) == 1, alloc, wgrad
            )
            gx.append(gi)
            if nw:
                gw = gwi if gw is None else gw + gwi
            if need_b:
                gbi = _bias_grad(d, dsum)
                gb = gbi if gb is None else gb + gbi
        if gw is not None:
            param_diffs[0].add_(gw)
        if gb is not None:
            param_diffs[1].add_(gb)
        return gx

    def _bottom_grads(self, d, x, w, nx, nw, winograd, alloc, wgrad=None):
        """(bottom diff, weight diff) of one bottom, None where not needed: the bottom diff by
        Winograd where it gains (with `winograd`), the weight diff as the `wgrad` policy takes
        it (torchcaffe.wgrad), the rest by aten's convolution_backward."""
        gi = gwi = None
        if nx and winograd:
            gi = self._winograd_input_grad(d, x, w, alloc)
        if nw and wgrad is not None and not self.transposed:
            kernel, pad, stride, dil = self.geom
            if len(kernel) == 2:
                gwi = _wgrad.weight_grad(d, x, kernel, pad, stride, dil, self.group, wgrad)
        aten_x, aten_w = bool(nx) and gi is None, bool(nw) and gwi is None
        if aten_x or aten_w:  # (aten aborts when asked for nothing)
            gia, gwa = self._backward_aten(d, x, w, aten_x, aten_w)
            gi = gia if aten_x else gi
            gwi = gwa if aten_w else gwi
        return gi, gwi

    def _winograd_input_grad(self, d, x, w, alloc=None):
        """Bottom diff of a 3x3 stride-1 convolution by Winograd F(2x2, 3x3) where exact_tile
        takes it (from 256 channels; the inference default's rule), else None. The transposed
        convolution of d [N, Cout, Ho, Wo] with w [Cout, Cin, 3, 3] is the stride-1 convolution
        with w rotated by 180 degrees (as [Cin, Cout, 3, 3]) and padding 2 - pad; its filter
        transform is computed for this call and dropped. Into `alloc` memory when given."""
        kernel, pad, stride, dil = self.geom
        if (
            self.transposed
            or self.group != 1
            or tuple(kernel) != (3, 3)
            or tuple(stride) != (1, 1)
            or tuple(dil) != (1, 1)
            or max(pad) > 2
            or x.dim() != 4
            or d.dtype != torch.float32
            or x.dtype != torch.float32
        ):
            return None
        tile = _wg.exact_tile(w.shape[0], w.shape[1], x.shape[2], x.shape[3])
        if not tile:
            return None
        fmt = memory_format_of(x)
        out = alloc(x.shape, memory_format=fmt) if alloc is not None else None
        wt = w.detach().flip(2, 3).transpose(0, 1)
        try:
            padding = (2 - pad[0], 2 - pad[1])
            return _wg.winograd_conv2d(d, wt, None, padding=padding, tile=tile, out=out)
        finally:
            _wg.forget(wt)

    def _backward_aten(self, d, x, w, nx, nw):
        """(bottom diff, weight diff) by aten's convolution_backward. A strided 1x1 convolution
        without padding goes as the stride-1 one on x's subsampled pixels (the bottom diff zero
        elsewhere): torch 2.13's NHWC weight gradient of a 1x1 stride-2 convolution with few
        channels (8 -> 4) writes out of bounds and aborts the process (ResNet's res3a_branch1
        at reduced width), and this way does a quarter of the work."""
        kernel, pad, stride, dil = self.geom
        n = len(kernel)
        one = all(k == 1 for k in kernel) and not any(pad) and not self.transposed
        if one and any(s > 1 for s in stride) and x.dim() == 4:
            sub = x[:, :, :: stride[0], :: stride[1]]
            fmt = torch.channels_last if sub.stride(1) == 1 else torch.contiguous_format
            gs, gw, _ = torch.ops.aten.convolution_backward(
                d, sub.contiguous(memory_format=fmt), w, None, [1, 1], [0, 0], [1, 1],
                False, [0, 0], self.group, [nx, nw, False],
            )  # fmt: skip
            gi = None
            if nx:
                gi = torch.zeros_like(x)
                gi[:, :, :: stride[0], :: stride[1]] = gs
            return gi, gw
        gi, gw, _ = torch.ops.aten.convolution_backward(
            d, x, w, None, list(stride), list(pad), list(dil), self.transposed, [0] * n,
            self.group, [nx, nw, False],
        )  # fmt: skip
        return gi, gw


@register("Deconvolution")
class Deconvolution(Convolution):
    """Transposed convolution; W (Cin, Cout/g, *k) as in torch's ConvTranspose weight."""

    transposed = True


def _pool_shape(hw, kernel, pad, stride, ceil_mode=True):
    """Caffe's pooled (H, W) of an H x W map (caffeio.layertypes.pool_out_shape)."""
    windows = tuple(lt.Window(k, s, p) for k, p, s in zip(kernel, pad, stride))
    return lt.pool_out_shape(tuple(hw), windows, ceil_mode)


def _torch_pool_size(size, k, p, s):
    """torch's ceil-mode pooled size: it drops a last window starting at or beyond size + p
    whether or not the layer pads (Caffe only when it pads)."""
    num = size + 2 * p - k
    out = -(-num // s) + 1
    if (out - 1) * s >= size + p:
        out -= 1
    return out


def torch_pool_matches_caffe(
    kernel: Sequence[int], pad: Sequence[int], stride: Sequence[int], ceil_mode: bool = True
) -> bool:
    """Whether torch's pooling (F.max_pool2d, F.avg_pool2d with count_include_pad) gives Caffe's
    output size at every input size, so caffe_pool2d always takes it: each pad at most half
    its kernel (torch's limit) and, rounding up, the layer pads or no kernel is smaller than
    its stride (torch drops a last window starting at or beyond size + pad even without
    padding, Caffe only when the layer pads; with kernel >= stride none starts there)."""
    if any(2 * p > k for k, p in zip(kernel, pad)):
        return False
    return not ceil_mode or any(pad) or all(k >= s for k, s in zip(kernel, stride))


def caffe_pool2d(
    x: torch.Tensor,
    method: str,
    kernel: Sequence[int],
    pad: Sequence[int],
    stride: Sequence[int],
    ceil_mode: bool = True,
) -> torch.Tensor:
    """Caffe MAX/AVE pooling of N x C x H x W -> N x C x OH x OW (caffeio.layertypes' size).

    MAX ignores padding (windows clipped to the input); AVE divides by the window clipped to
    the padded input (in + p), i.e. padded zeros count, overhang beyond the pad does not.
    """
    (kh, kw), (ph, pw), (sh, sw) = kernel, pad, stride
    H, W = x.shape[-2], x.shape[-1]
    oh, ow = _pool_shape((H, W), kernel, pad, stride, ceil_mode)
    fast = 2 * ph <= kh and 2 * pw <= kw
    if ceil_mode:
        fast = fast and _torch_pool_size(H, kh, ph, sh) == oh
        fast = fast and _torch_pool_size(W, kw, pw, sw) == ow
    if fast:
        if method == "MAX":
            return F.max_pool2d(x, (kh, kw), (sh, sw), (ph, pw), ceil_mode=ceil_mode)
        return F.avg_pool2d(
            x, (kh, kw), (sh, sw), (ph, pw), ceil_mode=ceil_mode, count_include_pad=True
        )
    # General case: pad explicitly to exactly the extent Caffe's windows cover.
    rh = (oh - 1) * sh + kh - H - ph
    rw = (ow - 1) * sw + kw - W - pw
    fill = float("-inf") if method == "MAX" else 0.0
    xp = F.pad(x, (pw, max(rw, 0), ph, max(rh, 0)), value=fill)
    xp = xp[..., : ph + H + rh, : pw + W + rw]
    if method == "MAX":
        # A window wholly outside the input (kernel < stride) gives -FLT_MAX in Caffe.
        return torch.clamp(F.max_pool2d(xp, (kh, kw), (sh, sw)), min=-_FLT_MAX)
    total = F.avg_pool2d(xp, (kh, kw), (sh, sw), divisor_override=1)
    hs = torch.arange(oh, device="cpu") * sh - ph
    ws_ = torch.arange(ow, device="cpu") * sw - pw
    dh = torch.clamp(hs + kh, max=H + ph) - hs
    dw = torch.clamp(ws_ + kw, max=W + pw) - ws_
    div = (dh[:, None] * dw[None, :]).to(dtype=x.dtype, device=x.device)
    return total / div


@register("Pooling")
class Pooling(BaseLayer):
    """MAX or AVE pooling, Caffe's ceil rule and padded-window rule; global_pooling."""

    n_bottom = (1, 1)
    n_top = (1, 1)  # Caffe's optional MAX mask top is not supported

    def __init__(self, lp: caffe_pb2.LayerParameter, ctx: Context) -> None:
        super().__init__(lp, ctx)
        p = lp.pooling_param
        P = type(p)
        if p.pool == P.STOCHASTIC:
            raise NetError(f"{self.where}: STOCHASTIC pooling is not supported")
        self.method = "MAX" if p.pool == P.MAX else "AVE"
        self.ceil = p.round_mode == P.CEIL
        self.glob = p.global_pooling
        h, w = lt.pool_geometry(lp, where=self.where, error=NetError)
        self.kernel = None if self.glob else (h.kernel, w.kernel)
        self.pad = (h.pad, w.pad)
        self.stride = (h.stride, w.stride)

    def forward(self, xs: Tensors, ws: Tensors) -> Tensors:
        x = xs[0]
        if x.dim() != 4:
            raise NetError(f"{self.where}: needs a 4-D bottom, got {tuple(x.shape)}")
        if min(x.shape[1:]) < 1:
            raise NetError(
                f"{self.where}: bottom {tuple(x.shape)} is empty (0 channels or 0 size): check "
                "the input shape or the layer below"
            )
        if self.glob and torch.jit.is_tracing():  # the map's size stays symbolic
            pool = F.adaptive_max_pool2d if self.method == "MAX" else F.adaptive_avg_pool2d
            return [pool(x, 1)]
        kernel = (x.shape[2], x.shape[3]) if self.glob else self.kernel
        y = caffe_pool2d(x, self.method, kernel, self.pad, self.stride, self.ceil)
        return [y]

    def forward_manual(
        self, xs: Tensors, alloc: Callable[..., torch.Tensor]
    ) -> tuple[Tensors, torch.Tensor] | None:
        """Training MAX pooling into memory from `alloc(shape, dtype, part)` (torchcaffe.bufpool):
        ([top], indices) by aten's max_pool2d_with_indices, what F.max_pool2d and its autograd
        run; None where caffe_pool2d takes another path (AVE, global, Caffe-only padding)."""
        x = xs[0]
        if self.method != "MAX" or self.glob or x.dim() != 4 or x.dtype != torch.float32:
            return None
        (kh, kw), (ph, pw), (sh, sw) = self.kernel, self.pad, self.stride
        h, w = x.shape[2], x.shape[3]
        oh, ow = _pool_shape((h, w), self.kernel, self.pad, self.stride, self.ceil)
        if 2 * ph > kh or 2 * pw > kw or min(x.shape) < 1:
            return None
        if self.ceil and (
            _torch_pool_size(h, kh, ph, sh) != oh or _torch_pool_size(w, kw, pw, sw) != ow
        ):
            return None
        shape = (x.shape[0], x.shape[1], oh, ow)
        fmt = memory_format_of(x)
        y = alloc(shape, torch.float32, 0, memory_format=fmt)
        if fmt == torch.channels_last and _tiles(self.kernel, self.pad, self.stride):
            return [y], self._forward_rows(x, y, shape)
        if kh * kw > 256 or fmt == torch.channels_last:
            # offsets would not fit a byte, or an NHWC map whose windows overlap (channel
            # chunks of it are not contiguous): aten's int64 indices as they are
            idx = torch.empty(shape, dtype=torch.int64, memory_format=fmt)
            torch.ops.aten.max_pool2d_with_indices.out(
                x, [kh, kw], [sh, sw], [ph, pw], [1, 1], self.ceil, out=y, indices=idx
            )
            return [y], idx
        # Kept for the backward: each maximum's offset inside its window, one byte (as Caffe's
        # int mask, smaller): FCN-8s's five pools at 500x500 keep 15 MB instead of 121 MB of
        # int64 indices across the training peak (bench peak RSS 3168 -> 2963-3016 MB). aten's
        # int64 indices exist a chunk at a time (4 MB chunks measured best); the conversion
        # costs pool1 ~20 ms forward and ~30 ms backward per iteration (~1.5% of a step).
        off = torch.empty(shape, dtype=torch.uint8)
        for n, c0, c1 in _chunks(shape):
            idx = torch.empty((1, c1 - c0, oh, ow), dtype=torch.int64)
            torch.ops.aten.max_pool2d_with_indices.out(
                x[n : n + 1, c0:c1], [kh, kw], [sh, sw], [ph, pw], [1, 1], self.ceil,
                out=y[n : n + 1, c0:c1], indices=idx,
            )  # fmt: skip
            off[n : n + 1, c0:c1] = _window_offsets(idx, w, self.kernel, self.pad, self.stride)
        return [y], off

    def _forward_rows(self, x, y, shape):
        """forward_manual for an NHWC map pooled by windows that tile it (kernel = stride, no
        padding): aten's kernel on runs of output rows (contiguous in NHWC), their int64
        indices a chunk at a time, kept as uint8 window offsets (NHWC)."""
        w, (sh, sw) = x.shape[3], self.stride
        off = torch.empty(shape, dtype=torch.uint8, memory_format=torch.channels_last)
        for n, r0, r1 in _row_chunks(shape):
            a1 = x.shape[2] if r1 == shape[2] else r1 * sh
            idx = torch.empty(
                (1, shape[1], r1 - r0, shape[3]), dtype=torch.int64,
                memory_format=torch.channels_last,
            )  # fmt: skip
            torch.ops.aten.max_pool2d_with_indices.out(
                x[n : n + 1, :, r0 * sh : a1], list(self.kernel), [sh, sw], [0, 0], [1, 1],
                self.ceil, out=y[n : n + 1, :, r0:r1], indices=idx,
            )  # fmt: skip
            off[n : n + 1, :, r0:r1] = _window_offsets(idx, w, self.kernel, self.pad, self.stride)
        return off

    def _backward_rows(self, d, x, off, gi):
        """backward_manual for _forward_rows' offsets: each run of output rows scatters into
        its own input rows (windows tile the map), so the runs are independent."""
        w, (sh, sw) = x.shape[3], self.stride
        cl = torch.channels_last
        for n, r0, r1 in _row_chunks(off.shape):
            a1 = x.shape[2] if r1 == off.shape[2] else r1 * sh
            full = _flat_indices(off[n : n + 1, :, r0:r1], w, self.kernel, self.pad, self.stride)
            torch.ops.aten.max_pool2d_with_indices_backward.grad_input(
                d[n : n + 1, :, r0:r1].contiguous(memory_format=cl),
                x[n : n + 1, :, r0 * sh : a1], list(self.kernel), [sh, sw], [0, 0], [1, 1],
                self.ceil, full.contiguous(memory_format=cl),
                grad_input=gi[n : n + 1, :, r0 * sh : a1],
            )  # fmt: skip
        return [gi]

    def backward_manual(
        self,
        top_diffs: Tensors,
        xs: Tensors,
        ws: Tensors,
        need_x: list[bool],
        need_w: list[bool],
        param_diffs: list[torch.Tensor | None],
        idx: torch.Tensor | None = None,
        alloc: Callable[..., torch.Tensor] | None = None,
        band: int | None = None,
    ) -> list[torch.Tensor | None]:
        """Bottom diff of forward_manual's pooling (`idx` its indices) into `alloc` memory."""
        if not need_x[0]:
            return [None]
        x = xs[0]
        fmt = memory_format_of(x)
        nhwc = fmt == torch.channels_last
        gi = alloc(x.shape, torch.float32, 0, memory_format=fmt)
        (kh, kw), (ph, pw), (sh, sw) = self.kernel, self.pad, self.stride
        args = [kh, kw], [sh, sw], [ph, pw], [1, 1], self.ceil
        d = top_diffs[0]
        if nhwc and idx.dtype == torch.uint8:
            return self._backward_rows(d, x, idx, gi)
        if idx.dtype == torch.int64:
            torch.ops.aten.max_pool2d_with_indices_backward.grad_input(
                d, x, *args, idx, grad_input=gi
            )
            return [gi]
        w = x.shape[3]
        for n, c0, c1 in _chunks(idx.shape):
            full = _flat_indices(idx[n : n + 1, c0:c1], w, self.kernel, self.pad, self.stride)
            torch.ops.aten.max_pool2d_with_indices_backward.grad_input(
                d[n : n + 1, c0:c1].contiguous(), x[n : n + 1, c0:c1], *args, full,
                grad_input=gi[n : n + 1, c0:c1],
            )  # fmt: skip
        return [gi]


def _tiles(kernel, pad, stride):
    """Whether pooling windows tile the map (kernel = stride, no padding): runs of output rows
    then read and write disjoint runs of input rows."""
    return tuple(kernel) == tuple(stride) and not any(pad)


def _row_chunks(shape, nbytes=4 << 20):
    """(n, r0, r1) runs of output rows of an N x C x OH x OW map whose int64 indices hold about
    `nbytes` (one image, all channels: contiguous in NHWC)."""
    per = max(1, nbytes // max(1, shape[1] * shape[3] * 8))
    for n in range(shape[0]):
        for r0 in range(0, shape[2], per):
            yield n, r0, min(r0 + per, shape[2])


def _chunks(shape, nbytes=4 << 20):
    """(n, c0, c1) slices of an N x C x H x W int64 map of about `nbytes` each (one image and a
    run of channels: contiguous in NCHW)."""
    per = max(1, nbytes // max(1, shape[2] * shape[3] * 8))
    for n in range(shape[0]):
        for c0 in range(0, shape[1], per):
            yield n, c0, min(c0 + per, shape[1])


def _base(shape, w, stride, pad):
    """Each output pixel's window origin as a flat index into an input plane of width `w`
    (oh x ow int64; negative where padding starts the window outside the map)."""
    oy = torch.arange(shape[2], dtype=torch.int64).view(-1, 1) * stride[0] - pad[0]
    ox = torch.arange(shape[3], dtype=torch.int64).view(1, -1) * stride[1] - pad[1]
    return oy * w + ox


def _window_offsets(idx, w, kernel, pad, stride):
    """aten's flat max-pooling indices (into an H x W plane of width `w`) -> uint8 offsets
    dy * kw + dx inside each output pixel's window. Only compares, adds and multiplies
    (idx - origin = dy * w + dx with 0 <= dx < kw <= w: dy counts the rows passed)."""
    rel = idx - _base(idx.shape, w, stride, pad)
    dy = torch.zeros_like(rel)
    for j in range(1, kernel[0]):
        dy += rel >= j * w
    return (rel - dy * (w - kernel[1])).to(torch.uint8)


def _flat_indices(off, w, kernel, pad, stride):
    """_window_offsets' inverse: uint8 window offsets -> aten's int64 flat indices."""
    o = off.to(torch.int64)
    dy = torch.zeros_like(o)
    for j in range(1, kernel[0]):
        dy += o >= j * kernel[1]
    return _base(off.shape, w, stride, pad) + o + dy * (w - kernel[1])


def lrn_across_channels(
    x: torch.Tensor, size: int, alpha: float, beta: float, k: float
) -> torch.Tensor:
    """x / (k + alpha/size * sum over `size` neighbouring channels of x^2)^beta (N x C x ...)."""
    pre = (size - 1) // 2
    sq = (x * x).unsqueeze(1)
    pads = [0, 0] * (x.dim() - 2) + [pre, size - 1 - pre]
    sq = F.pad(sq, pads)
    kernel = (size,) + (1,) * (x.dim() - 2)
    if x.dim() == 4 and torch.jit.is_tracing():  # ONNX has no divisor_override: an average
        return x * (k + alpha * F.avg_pool3d(sq, kernel, stride=1).squeeze(1)).pow(-beta)
    if x.dim() == 4:
        s = F.avg_pool3d(sq, kernel, stride=1, divisor_override=1).squeeze(1)
    else:
        s = sum(sq[:, :, i : i + x.shape[1]] for i in range(size)).squeeze(1)
    return x * (k + (alpha / size) * s).pow(-beta)


def lrn_within_channel(x: torch.Tensor, size: int, alpha: float, beta: float) -> torch.Tensor:
    """x / (1 + alpha * mean of x^2 over a size x size window, zero padded)^beta (N x C x H x W)."""
    pad = (size - 1) // 2
    avg = caffe_pool2d(x * x, "AVE", (size, size), (pad, pad), (1, 1), True)
    return x * (1 + alpha * avg).pow(-beta)


@register("LRN")
class LRN(BaseLayer):
    """Local response normalisation, ACROSS_CHANNELS (with k) or WITHIN_CHANNEL."""

    n_bottom = (1, 1)
    n_top = (1, 1)

    def __init__(self, lp: caffe_pb2.LayerParameter, ctx: Context) -> None:
        super().__init__(lp, ctx)
        p = lp.lrn_param
        if p.local_size % 2 == 0:
            raise NetError(f"{self.where}: local_size must be odd, got {p.local_size}")
        self.p = p

    def forward(self, xs: Tensors, ws: Tensors) -> Tensors:
        p = self.p
        if p.norm_region == type(p).WITHIN_CHANNEL:
            return [lrn_within_channel(xs[0], p.local_size, p.alpha, p.beta)]
        return [lrn_across_channels(xs[0], p.local_size, p.alpha, p.beta, p.k)]


def crop_to(
    x: torch.Tensor, ref_shape: Sequence[int], offsets: Sequence[int | None], where: str = "Crop"
) -> torch.Tensor:
    """Cut x to ref_shape on every axis whose offset is given (`offsets`: one per axis of x,
    None for an axis kept whole; caffeio.layertypes.crop_offsets gives a Crop layer's). An
    offset + size beyond x's extent raises NetError naming the sizes."""
    idx = []
    for i, off in enumerate(offsets):
        if off is None:
            idx.append(slice(None))
            continue
        size = ref_shape[i]
        if off + size > x.shape[i]:
            raise NetError(
                f"{where}: crop out of range on axis {i}: offset {off} + size {size} (from "
                f"bottom[1] {tuple(ref_shape)}) > {x.shape[i]} (bottom[0] {tuple(x.shape)}); "
                "the input is too small for this net or the crop offsets are wrong"
            )
        idx.append(slice(off, off + size))
    return x[tuple(idx)]


@register("Crop")
class Crop(BaseLayer):
    """Cut bottom[0] to bottom[1]'s size on axes >= axis, from `offset` (top-left, not centred)."""

    n_bottom = (2, 2)
    n_top = (1, 1)
    no_backward_bottoms = (1,)

    def forward(self, xs: Tensors, ws: Tensors) -> Tensors:
        x, ref = xs
        where = f"{self.where} (bottom '{self.lp.bottom[0]}' {tuple(x.shape)})"
        axis, offsets = lt.crop_offsets(self.lp, x.dim(), where, NetError)
        if ref.dim() != x.dim():
            raise NetError(
                f"{self.where}: bottoms have {x.dim()} and {ref.dim()} axes; they must match"
            )
        cut = [None] * axis + list(offsets[axis:])
        return [crop_to(x, ref.shape, cut, self.where)]
