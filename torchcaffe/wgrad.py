"""Weight gradients of stride-1 convolutions on channels_last (NHWC) maps by shifted GEMMs.

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
AVX-512 oneDNN's NHWC weight gradient wins (64x64@502 97 ms against 186 ms here) and stays.
The sums run band by band (short float32 chains): the error against float64 was 1.2e-6 of the
largest entry at 64x64@502, against 1.9e-5 for oneDNN's NCHW kernel.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

__all__ = ["BAND_BYTES", "applies", "conv_weight_grad"]

# Bytes of the d and x blocks of one band: 2 and 4 MB measured best (64x64@502 131 / 129 ms,
# 1 MB 136, 8 MB 130; 128x128@260 116 / 116, 1 MB 121, 8 MB 121; AVX2 emulation, 2026-12-06)
BAND_BYTES = 4 << 20
# Fewer channels make GEMMs too thin (FCN's conv1_1, 3 -> 64 channels at 698x698: 317 ms
# against oneDNN's 40 ms)
MIN_CHANNELS = 16


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
