"""Weight gradients of stride-1 convolutions: Winograd F(3x3, 2x2) and shifted GEMMs.

`weight_grad` picks by the net's Policy (its host row, torchcaffe.tuning): 3x3 layers from 128
channels by winograd_weight_grad (every row: 1.3-2x oneDNN's NHWC kernel on an AVX-512 EPYC,
1.4-1.8x the shifted GEMMs under AVX2), the other NHWC ones by conv_weight_grad on AVX2 hosts,
the rest by aten (the caller). Shifted GEMMs:

The weight gradient of a convolution is dW[o, c, k, l] = sum over the output pixels p of
d[p, o] * x[p + (k dh, l dw), c] (x zero-padded). On an NHWC map padded to width Wp, the output
row i taken over all Wp columns (d zero in the Wo..Wp columns) reads, for kernel tap (k, l), the
Wp x C block of x starting at flat pixel (i + k dh) Wp + l dw: for a band of output rows both
d and x are plain [rows * Wp, C] matrices, so each tap is one GEMM, dW[:, :, k, l] += d^T x,
with no im2col copy (Caffe's col buffer holds kh kw copies of the map). The band (output rows
whose d and x blocks fit `band_bytes`) keeps the kh kw GEMMs' operands in cache.

Why: on AVX2 hosts oneDNN's NHWC weight gradient is 2-5x slower than its NCHW one, while its
NHWC forward and input gradient are up to 30% faster than NCHW (2-core AMD EPYC under AVX2
emulation, 2026-12-06, 3x3 pad 1: 64x64@502 NHWC 563 ms, NCHW 162 ms, these GEMMs 129 ms;
128x128@260 672 / 143 / 116 ms; 512x512@70 284 / 145 / 138 ms), so AVX2 training nets stay
NHWC with the weight gradient computed here (torchcaffe.tuning's `weight_grad` entry). On
AVX-512 oneDNN's NHWC weight gradient beats these GEMMs (64x64@502 97 ms against 130-186 ms)
and keeps the layers Winograd does not take.
The sums run band by band (short float32 chains): the error against float64 was 1.2e-6 of the
largest entry at 64x64@502, against 1.9e-5 for oneDNN's NCHW kernel.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from . import tuning as _tuning
from . import winograd as _wg
from .tuning_table import pick

__all__ = [
    "BAND_BYTES",
    "Policy",
    "applies",
    "conv_weight_grad",
    "weight_grad",
    "winograd_weight_grad",
]

# Bytes of the d and x blocks of one band: 2 and 4 MB measured best (64x64@502 131 / 129 ms,
# 1 MB 136, 8 MB 130; 128x128@260 116 / 116, 1 MB 121, 8 MB 121; AVX2 emulation, 2026-12-06)
BAND_BYTES = 4 << 20
# Fewer channels make GEMMs too thin (FCN's conv1_1, 3 -> 64 channels at 698x698: 317 ms
# against oneDNN's 40 ms)
MIN_CHANNELS = 16


@dataclass(frozen=True)
class Policy:
    """A net's weight-gradient choices (from its host row, torchcaffe.tuning): `winograd`, the
    Clauses under which 3x3 stride-1 layers go by F(3x3, 2x2) (winograd_weight_grad); `gemm`,
    whether other NHWC stride-1 layers go by the shifted GEMMs (conv_weight_grad);
    `band_bytes`, the Winograd band (the forward's)."""

    winograd: tuple = ()
    gemm: bool = False
    band_bytes: int | None = None


def weight_grad(
    d: torch.Tensor,
    x: torch.Tensor,
    kernel: Sequence[int],
    pad: Sequence[int],
    stride: Sequence[int],
    dilation: Sequence[int],
    groups: int,
    policy: Policy | None,
) -> torch.Tensor | None:
    """dW [Cout, Cin, kh, kw] of a 2-D convolution (x [N, Cin, H, W], top diff d [N, Cout, Ho,
    Wo]) the way `policy` takes it: F(3x3, 2x2) where its clauses match (Cin, Cout, Ho, Wo),
    else the shifted GEMMs where it says so and they apply; None: the caller's own (aten)."""
    if policy is None or x.dim() != 4 or d.dim() != 4:
        return None
    cin, cout = x.shape[1], d.shape[1]
    if (
        policy.winograd
        and tuple(kernel) == (3, 3)
        and tuple(stride) == (1, 1)
        and tuple(dilation) == (1, 1)
        and groups == 1
        and x.dtype in (torch.float32, torch.float64)
        and d.dtype == x.dtype
        and pick(policy.winograd, cin, cout, d.shape[2], d.shape[3]) == 2
    ):
        gw = winograd_weight_grad(d, x, pad, policy.band_bytes)
        if gw is not None:
            return gw
    if policy.gemm and applies(x, d, stride, groups):
        return conv_weight_grad(d, x, kernel, pad, dilation)
    return None


def applies(x: torch.Tensor, d: torch.Tensor, stride: Sequence[int], groups: int) -> bool:
    """Whether conv_weight_grad takes this convolution: 2-D, stride 1, one group, float32 or
    float64 alike, x's channels innermost (NHWC), at least MIN_CHANNELS in and out."""
    return (
        x.dim() == 4
        and d.dim() == 4
        and tuple(stride) == (1, 1)
        and groups == 1
        and x.dtype in (torch.float32, torch.float64)
        and d.dtype == x.dtype
        and x.device.type == "cpu"
        and min(x.shape[1], d.shape[1]) >= MIN_CHANNELS
        and x.stride(1) == 1
    )


def conv_weight_grad(
    d: torch.Tensor,
    x: torch.Tensor,
    kernel: Sequence[int],
    pad: Sequence[int],
    dilation: Sequence[int] = (1, 1),
    band_bytes: int | None = None,
) -> torch.Tensor | None:
    """dW [Cout, Cin, kh, kw] of the stride-1, one-group convolution of x [N, Cin, H, W] that
    gave top diff d [N, Cout, Ho, Wo] (Ho = H + 2 pad_h - dh (kh - 1), likewise Wo), padding
    `pad` (pixels), `dilation`; any memory format (NHWC is the fast one: no transposing copy).
    None when d's shape does not fit that geometry. Equal to aten's convolution_backward weight
    gradient up to float rounding."""
    kh, kw = (int(k) for k in kernel)
    ph, pw = (int(p) for p in pad)
    dh, dw = (int(v) for v in dilation)
    n, cin, h, w = x.shape
    cout, ho, wo = d.shape[1], d.shape[2], d.shape[3]
    wp = w + 2 * pw
    if d.shape[0] != n or ho != h + 2 * ph - dh * (kh - 1) or wo != wp - dw * (kw - 1):
        return None
    gw = x.new_zeros((kh, kw, cout, cin))
    if n == 0 or ho <= 0 or wo <= 0 or cin == 0 or cout == 0:
        return gw.permute(2, 3, 0, 1)
    band = BAND_BYTES if band_bytes is None else band_bytes
    rows = max(1, min(ho, band // max(1, wp * (cin + cout) * x.element_size())))
    span = dh * (kh - 1) + 1  # x rows one output row reads
    xb = x.new_zeros((rows + span, wp, cin))  # + one zero row the last taps' overrun reads
    db = d.new_zeros((rows, wp, cout))  # columns Wo..Wp stay zero
    xh, dhw = x.permute(0, 2, 3, 1), d.permute(0, 2, 3, 1)
    for b in range(n):
        for r0 in range(0, ho, rows):
            nr = min(rows, ho - r0)
            _fill_band(xb, xh[b], r0 - ph, nr + span - 1, pw)
            db[:nr, :wo].copy_(dhw[b, r0 : r0 + nr])
            dt = db[:nr].view(nr * wp, cout).t()
            xf = xb.view(-1, cin)
            for k in range(kh):
                for j in range(kw):
                    o = k * dh * wp + j * dw
                    gw[k, j].addmm_(dt, xf[o : o + nr * wp])
    return gw.permute(2, 3, 0, 1)


def _fill_band(xb, xh, lo, count, pw):
    """xb's first `count` rows = x rows lo .. lo + count (NHWC, zero outside x), columns
    shifted right by pw (the padding columns and the rows after `count` are zero)."""
    h, w = xh.shape[0], xh.shape[1]
    s0, s1 = max(lo, 0), min(lo + count, h)
    if s0 > lo:
        xb[: min(s0 - lo, count)].zero_()
    if s1 < lo + count:
        xb[max(s1 - lo, 0) : count].zero_()
    if s1 > s0:
        xb[s0 - lo : s1 - lo, pw : pw + w].copy_(xh[s0:s1])
    xb[count:].zero_()


def winograd_weight_grad(
    d: torch.Tensor, x: torch.Tensor, pad: Sequence[int], band_bytes: int | None = None
) -> torch.Tensor | None:
    """dW [Cout, Cin, 3, 3] of a 3x3 stride-1 convolution (x [N, Cin, H, W], top diff d
    [N, Cout, Ho, Wo], padding `pad`) by Winograd F(3x3, 2x2): each 2x2 tile of d and the 4x4
    tile of x under it give 16 products per channel pair instead of 36, summed over the tiles
    by one batched GEMM per band, M[16, Cout, Cin]; dW = (A^T kron A^T) M. The x tiles and
    their transform are the forward F(2x2, 3x3)'s (the same four points, B^T the same); the
    d tiles take G kron G (entries +-1, +-1/2, +-1/4: exact), the output A^T kron A^T (0, +-1).
    None when d's shape does not fit. Equal to aten's weight gradient up to float rounding."""
    ph, pw = (int(p) for p in pad)
    n, cin, h, w = x.shape
    cout, ho, wo = d.shape[1], d.shape[2], d.shape[3]
    if d.shape[0] != n or ho != h + 2 * ph - 2 or wo != w + 2 * pw - 2 or ho < 1 or wo < 1:
        return None
    fwd, back = _wg._TRANSFORMS[2, 3], _wg._TRANSFORMS[3, 2]
    th, tw = -(-ho // 2), -(-wo // 2)
    per_row = 16 * n * tw * max(cin, cout) * x.element_size()
    band = _tuning.current().winograd_band_bytes if band_bytes is None else band_bytes
    tb = max(1, min(th, band // per_row))
    xb = x.new_zeros((n, 2 * tb + 2, 2 * tw + 2, cin))  # padded band (border columns zero)
    gath = x.new_empty(16 * n * tb * tw * cin)
    v = x.new_empty(16 * n * tb * tw * cin)
    dpad = d.new_zeros((n, 2 * tb, 2 * tw, cout))  # d's band, zero past Ho x Wo
    dt = d.new_empty(4 * n * tb * tw * cout)
    vd = d.new_empty(16 * n * tb * tw * cout)
    m = x.new_zeros((16, cout, cin))
    bt_kron, at_kron = back.krons(x.dtype, x.device)
    gg = torch.kron(back.g, back.g).to(dtype=x.dtype, device=x.device)  # [16, 4]
    xh, dh = x.permute(0, 2, 3, 1), d.permute(0, 2, 3, 1)
    for t0 in range(0, th, tb):
        b = min(tb, th - t0)
        lt = n * b * tw
        vb = _wg._transform_band(fwd, xh, xb, gath, v, bt_kron, t0, b, tw, ph, pw)
        r1 = min(ho, 2 * (t0 + b))
        if r1 - 2 * t0 < 2 * b:
            dpad[:, r1 - 2 * t0 :].zero_()
        dpad[:, : r1 - 2 * t0, :wo].copy_(dh[:, 2 * t0 : r1])
        dtb = dt[: 4 * lt * cout].view(2, 2, n, b, tw, cout)
        dtb.copy_(dpad[:, : 2 * b].view(n, b, 2, tw, 2, cout).permute(2, 4, 0, 1, 3, 5))
        vdb = vd[: 16 * lt * cout].view(16, -1)
        torch.mm(gg, dtb.view(4, -1), out=vdb)
        m.baddbmm_(vdb.view(16, lt, cout).transpose(1, 2), vb.view(16, lt, cin))
    gw = (at_kron @ m.view(16, -1)).view(3, 3, cout, cin)
    return gw.permute(2, 3, 0, 1)
