"""Skip the constant padded area of FCN's first layers (inference only; exact up to rounding).

With conv1_1 pad 100, most of conv1..pool2's maps never see the image: there every output is
the same per-channel constant (bias, then the next layer's response to that constant). A map is
described by `ConstInfo`: outside the `core` rectangle and farther than `frame` pixels from the
map's edges, channel c equals `const[c]`. A convolution then computes only the core and the four
edge strips (each from its own input window, with the real zero padding) and fills the rest with
its constant: the same arithmetic as the full convolution, on fewer pixels.

A frame strip is the same all along its length away from the corners (the top strip's rows
are constant from column `left` to W - `right`, the left strip's columns from row `top` to
H - `bottom`): its pixels see the same mix of constant and zero padding. So each strip is
computed on one column (or row) next to its corners and broadcast along the rest (`pieces`),
when the strips stay clear of the core; otherwise every strip pixel is computed.

Rules (2-D maps, rows and columns alike; padded coordinates start at the padded map's edge):
  conv kernel extent k, stride s, pad p: padded core [a0+p, a1+p); padded frame f+p when the
  constant is non-zero or a frame exists (zero padding differs from the constant), else 0;
  output core [floor((A0-k)/s)+1, ceil(A1/s)); output frame top ceil(F/s), bottom
  Ho - (floor((Hp-F-k)/s)+1); const' = bias + sum_{c,i,j} W[o,c,i,j] * const[c].
  ReLU: const' = relu(const). MAX pooling: const' = const (frame grows by its pad, conservatively).
"""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F

from . import wgrad as _wgrad

ConstInfo = namedtuple("ConstInfo", "core frame const")
# core = (r0, r1, c0, c1) half-open; frame = (top, bottom, left, right); const = tensor (C,)

SMALL_PIECE = 1024  # output pixels up to which a weight-gradient piece goes by im2col + GEMM
MAX_FRACTION = 0.8  # compute by regions only when they cover less than this share of the map


def full_info(x: torch.Tensor) -> ConstInfo:
    """The vacuous description of an N x C x H x W map: all core, no constant area."""
    return ConstInfo((0, x.shape[2], 0, x.shape[3]), (0, 0, 0, 0), None)


def _axis_rule(a0, a1, f_lo, f_hi, size, pad, k, s, nonzero):
    """One axis of a convolution/pooling: (core, frame_lo, frame_hi, out_size)."""
    hp = size + 2 * pad
    out = (hp - k) // s + 1
    A0, A1 = a0 + pad, a1 + pad
    grow = nonzero or f_lo or f_hi
    F_lo = f_lo + pad if (grow and pad) or f_lo else 0
    F_hi = f_hi + pad if (grow and pad) or f_hi else 0
    if A0 < A1:
        c0 = max(0, (A0 - k) // s + 1)
        c1 = min(out, -(-A1 // s))
    else:
        c0 = c1 = 0
    lo = min(out, -(-F_lo // s))
    hi = max(0, out - ((hp - F_hi - k) // s + 1)) if F_hi else 0
    return (c0, c1), lo, min(hi, out), out


def conv_info(
    info: ConstInfo,
    x_shape: Sequence[int],
    k: Sequence[int],
    pad: Sequence[int],
    stride: Sequence[int],
) -> tuple[ConstInfo, tuple[int, int]]:
    """ConstInfo of a convolution's output (before its constant is known) and the output size.

    k = kernel extents (dilation applied), pad/stride per axis (tuples of 2)."""
    core, frame, const = info
    nonzero = const is not None and bool((const != 0).any())
    (r0, r1), ft, fb, ho = _axis_rule(
        core[0], core[1], frame[0], frame[1], x_shape[2], pad[0], k[0], stride[0], nonzero
    )
    (c0, c1), fl, fr, wo = _axis_rule(
        core[2], core[3], frame[2], frame[3], x_shape[3], pad[1], k[1], stride[1], nonzero
    )
    return ConstInfo((r0, r1, c0, c1), (ft, fb, fl, fr), None), (ho, wo)


def regions(info: ConstInfo, ho: int, wo: int) -> list[tuple[int, int, int, int]]:
    """The rectangles (r0, r1, c0, c1) that must be computed: core and the four edge strips."""
    (r0, r1, c0, c1), (ft, fb, fl, fr), _ = info
    rects = [(r0, r1, c0, c1), (0, ft, 0, wo), (ho - fb, ho, 0, wo)]
    rects += [(ft, ho - fb, 0, fl), (ft, ho - fb, wo - fr, wo)]
    return [r for r in rects if r[1] > r[0] and r[3] > r[2]]


Piece = namedtuple("Piece", "rect axis span")
# rect = (r0, r1, c0, c1) to compute; axis None: as is; axis 2 (3): rect is one row (column)
# standing for rows (columns) span = (a, b), which all equal it


def pieces(info: ConstInfo, ho: int, wo: int) -> list[Piece]:
    """What to compute for an output map `info` describes: the core, the frame's corners, and one
    row/column per frame strip standing for the rest of it (see the module docstring). Falls back
    to whole strips (`regions`) when a strip reaches the core or has no middle."""
    (R0, R1, C0, C1), (ft, fb, fl, fr), _ = info
    core = R1 > R0 and C1 > C0
    clear = not core or (ft <= R0 and fb <= ho - R1 and fl <= C0 and fr <= wo - C1)
    if not clear or ft + fb >= ho or fl + fr >= wo:
        return [Piece(r, None, None) for r in regions(info, ho, wo)]
    out = [Piece((R0, R1, C0, C1), None, None)] if core else []
    for r0, r1 in ((0, ft), (ho - fb, ho)):  # top and bottom strips: corners + one column
        if r1 > r0:
            if fl:
                out.append(Piece((r0, r1, 0, fl), None, None))
            out.append(Piece((r0, r1, fl, fl + 1), 3, (fl, wo - fr)))
            if fr:
                out.append(Piece((r0, r1, wo - fr, wo), None, None))
    for c0, c1 in ((0, fl), (wo - fr, wo)):  # left and right strips: one row
        if c1 > c0:
            out.append(Piece((ft, ft + 1, c0, c1), 2, (ft, ho - fb)))
    return out


def _piece_area(ps):
    return sum((p.rect[1] - p.rect[0]) * (p.rect[3] - p.rect[2]) for p in ps)


def _area(rects):
    return sum((r[1] - r[0]) * (r[3] - r[2]) for r in rects)


def conv2d_by_regions(
    x: torch.Tensor,
    info: ConstInfo,
    weight: torch.Tensor,
    bias: torch.Tensor | None,
    stride: Sequence[int],
    pad: Sequence[int],
    dilation: Sequence[int],
    groups: int,
    conv: Callable[..., torch.Tensor] | None = None,
    alloc: Callable[..., torch.Tensor] | None = None,
    band: int | None = None,
) -> tuple[torch.Tensor, ConstInfo] | None:
    """Caffe Convolution of x (N x C x H x W) whose layout `info` describes, computing only what
    differs from the constant. Returns (y, info of y) or None when regions would save little.
    `conv(xs, weight, bias, stride, padding, dilation, groups)` computes each piece (default
    F.conv2d). `alloc(shape)` (optional) gives y's memory (torchcaffe.bufpool); with `band`
    (bytes) pieces whose output is larger are computed in row bands of about that size."""
    kh = dilation[0] * (weight.shape[2] - 1) + 1
    kw = dilation[1] * (weight.shape[3] - 1) + 1
    out_info, (ho, wo) = conv_info(info, x.shape, (kh, kw), pad, stride)
    ps = pieces(out_info, ho, wo)
    if _piece_area(ps) >= MAX_FRACTION * ho * wo:
        return None
    conv = conv or F.conv2d
    c = info.const
    if c is None:
        c = torch.zeros(x.shape[1], dtype=x.dtype, device=x.device)
    patch = c.view(1, -1, 1, 1).expand(1, x.shape[1], kh, kw)
    const = F.conv2d(patch, weight, bias, 1, 0, dilation, groups).reshape(-1)
    shape = (x.shape[0], weight.shape[0], ho, wo)
    fmt = memory_format_of(x)
    if alloc is not None and x.dtype == torch.float32:
        y = alloc(shape, memory_format=fmt)
    else:
        y = torch.empty(shape, dtype=x.dtype, device=x.device, memory_format=fmt)
    cv = const.view(1, -1, 1, 1)
    R0, R1, C0, C1 = out_info.core
    if R1 <= R0 or C1 <= C0:
        R0 = R1 = C0 = C1 = 0
    for f0, f1, g0, g1 in ((0, R0, 0, wo), (R1, ho, 0, wo), (R0, R1, 0, C0), (R0, R1, C1, wo)):
        if f1 > f0 and g1 > g0:  # the constant outside the core (strips overwrite theirs)
            y[:, :, f0:f1, g0:g1] = cv
    threads = torch.get_num_threads()
    try:
        for k, piece in enumerate(ps):
            # thin edge pieces parallelise badly (and stall on a busy machine): one thread
            if k > 0 and threads > 1 and _area([piece.rect]) < 4096:
                torch.set_num_threads(1)
            elif torch.get_num_threads() != threads:
                torch.set_num_threads(threads)
            for part in _bands(piece, weight.shape[0] * x.shape[0] * x.element_size(), band):
                _conv_piece(y, x, part, weight, bias, stride, pad, dilation, groups, kh, kw, conv)
    finally:
        if torch.get_num_threads() != threads:
            torch.set_num_threads(threads)
    return y, out_info._replace(const=const)


def _bands(piece, chan_bytes, band):
    """The piece itself, or (with `band` bytes, for a piece computed as is) its rows split so
    that each part's output holds at most about `band` bytes (chan_bytes = bytes per output
    pixel over all channels and images)."""
    r0, r1, c0, c1 = piece.rect
    if not band or piece.axis is not None:
        return [piece]
    rows = max(1, band // max(chan_bytes * (c1 - c0), 1))
    if rows >= r1 - r0:
        return [piece]
    return [Piece((a, min(a + rows, r1), c0, c1), None, None) for a in range(r0, r1, rows)]


def channel_sums(d: torch.Tensor) -> torch.Tensor:
    """Per-channel sums of an N x C x H x W map (or a window of one), as a C vector. Channels
    innermost (NHWC): over W, then N and H, as N x H x W x C (aten's reduction of such a map
    over (0, 2, 3), or over W in the NCHW view, reads it with long strides: a 64-channel
    502 x 502 window 94-99 ms against 3 ms)."""
    if d.dim() == 4 and d.stride(1) == 1 and d.shape[1] > 1:
        return d.permute(0, 2, 3, 1).sum(2).sum((0, 1))
    return d.sum((0, 2, 3))


def weight_grad_by_regions(
    d: torch.Tensor,
    x: torch.Tensor,
    info: ConstInfo,
    weight: torch.Tensor,
    stride: Sequence[int],
    pad: Sequence[int],
    dilation: Sequence[int],
    groups: int,
    band: int | None = None,
    total: torch.Tensor | None = None,
    policy: _wgrad.Policy | None = None,
) -> torch.Tensor | None:
    """The weight gradient of a convolution (Cout x Cin/g x kh x kw) whose input `info`
    describes: sum over the output of d (x) input patch, computed on the pieces that see the
    non-constant input (a broadcast strip piece with d summed along the strip, its patches being
    equal), plus (sum of d over the rest) (x) the constant patch. Equal to the full computation up
    to float rounding. None when regions would save little or overlap. With `band` (bytes) large
    pieces go in row bands (their temporaries stay small, see torchcaffe.bufpool). `total`:
    channel_sums(d) when the caller has it (the bias gradient). `policy`: the large pieces as
    torchcaffe.wgrad.weight_grad takes them (Winograd, shifted GEMMs), the rest by aten."""
    kh = dilation[0] * (weight.shape[2] - 1) + 1
    kw = dilation[1] * (weight.shape[3] - 1) + 1
    out_info, (ho, wo) = conv_info(info, x.shape, (kh, kw), pad, stride)
    ps = pieces(out_info, ho, wo)
    if _piece_area(ps) >= MAX_FRACTION * ho * wo or info.const is None:
        return None
    spans = [_span(p) for p in ps]
    for i, a in enumerate(spans):  # the sum below needs disjoint rectangles
        for b in spans[i + 1 :]:
            if a[0] < b[1] and b[0] < a[1] and a[2] < b[3] and b[2] < a[3]:
                return None
    gw = torch.zeros_like(weight)
    rest = channel_sums(d) if total is None else total.clone()
    small_g, small_cols = [], []
    if band:
        chan = weight.shape[0] * x.shape[0] * x.element_size()
        ps = [part for p in ps for part in _bands(p, chan, band)]
        spans = [_span(p) for p in ps]
    for piece, (r0, r1, c0, c1) in zip(ps, spans):
        xs, padding = _window(x, piece.rect, stride, pad, kh, kw)
        g = d[:, :, r0:r1, c0:c1]
        if piece.axis is not None:
            g = g.sum(piece.axis, keepdim=True)  # equal patches: sum d along the strip
        rest -= channel_sums(g)
        if groups == 1 and g.shape[2] * g.shape[3] <= SMALL_PIECE:
            # corners and strip rows: their patches as columns, all in one GEMM below (the
            # convolution primitives take milliseconds per call on such slivers)
            cols = F.unfold(xs, weight.shape[2:], dilation, padding, stride)  # N x CKK x L
            small_cols.append(cols.transpose(0, 1).reshape(cols.shape[1], -1))
            small_g.append(g.transpose(0, 1).reshape(g.shape[1], -1))
            continue
        if policy is not None:
            gp = _wgrad.weight_grad(
                g, xs, weight.shape[2:], padding, stride, dilation, groups, policy
            )
            if gp is not None:
                gw += gp
                continue
        gw += torch.ops.aten.convolution_backward(
            g.contiguous(memory_format=memory_format_of(x)),
            xs,
            weight,
            None,
            list(stride),
            list(padding),
            list(dilation),
            False,
            [0, 0],
            groups,
            [False, True, False],
        )[1]
    if small_g:
        gw += (torch.cat(small_g, 1) @ torch.cat(small_cols, 1).t()).view(weight.shape)
    cin = weight.shape[1]
    c = info.const.view(groups, 1, cin)  # input channels of each group
    outer = rest.view(groups, -1, 1) * c  # (g, Cout/g, Cin/g)
    gw += outer.reshape(weight.shape[0], cin, 1, 1)
    return gw


def _span(piece):
    """The output rectangle a piece stands for."""
    r0, r1, c0, c1 = piece.rect
    if piece.axis == 2:
        return (piece.span[0], piece.span[1], c0, c1)
    if piece.axis == 3:
        return (r0, r1, piece.span[0], piece.span[1])
    return piece.rect


def _window(x, rect, stride, pad, kh, kw):
    """x's window feeding output rect, and the (symmetric) padding to give conv2d with it."""
    r0, r1, c0, c1 = rect
    H, W = x.shape[2], x.shape[3]
    i0, i1 = r0 * stride[0] - pad[0], (r1 - 1) * stride[0] + kh - pad[0]
    j0, j1 = c0 * stride[1] - pad[1], (c1 - 1) * stride[1] + kw - pad[1]
    a0, a1, b0, b1 = max(i0, 0), min(i1, H), max(j0, 0), min(j1, W)
    if a1 <= a0 or b1 <= b0:  # the window lies wholly in the zero padding
        return x.new_zeros(x.shape[0], x.shape[1], i1 - i0, j1 - j0), (0, 0)
    xs = x[:, :, a0:a1, b0:b1]
    pt, pb, pl, pr = a0 - i0, i1 - a1, b0 - j0, j1 - b1
    if pt == pb and pl == pr:
        return xs, (pt, pl)
    return F.pad(xs, (pl, pr, pt, pb)), (0, 0)


def _conv_piece(y, x, piece, weight, bias, stride, pad, dilation, groups, kh, kw, conv):
    """y over the piece's span = the convolution there, from x's window with its real padding
    (computed on piece.rect, broadcast along a strip)."""
    xs, padding = _window(x, piece.rect, stride, pad, kh, kw)
    v = conv(xs, weight, bias, stride, padding, dilation, groups)
    r0, r1, c0, c1 = _span(piece)
    y[:, :, r0:r1, c0:c1] = v if piece.axis is None else v.expand(-1, -1, r1 - r0, c1 - c0)


def memory_format_of(x: torch.Tensor) -> torch.memory_format:
    """torch.channels_last for a 4-D map laid out NHWC (and not also NCHW-contiguous), else
    torch.contiguous_format: the format to allocate its diffs and outputs in."""
    cl = torch.channels_last
    if x.dim() == 4 and not x.is_contiguous() and x.is_contiguous(memory_format=cl):
        return cl
    return torch.contiguous_format


def relu_info(info: ConstInfo, slope: float) -> ConstInfo:
    """ConstInfo after ReLU (negative_slope `slope`)."""
    if info.const is None:
        return info
    c = info.const
    return info._replace(const=torch.where(c > 0, c, c * slope))


def pool_info(
    info: ConstInfo,
    x_shape: Sequence[int],
    y_shape: Sequence[int],
    kernel: Sequence[int],
    pad: Sequence[int],
    stride: Sequence[int],
) -> ConstInfo:
    """ConstInfo after MAX pooling (Caffe's ceil rule: the last window may overhang, and is
    counted in the frame). The constant stays the same."""
    core, frame, const = info
    out = []
    for ax, (a0, a1, f_lo, f_hi) in enumerate(
        ((core[0], core[1], frame[0], frame[1]), (core[2], core[3], frame[2], frame[3]))
    ):
        size, k, p, s, o = x_shape[2 + ax], kernel[ax], pad[ax], stride[ax], y_shape[2 + ax]
        F_lo, F_hi = f_lo + p, f_hi + p
        hp = size + 2 * p
        # windows [y*s, y*s+k) in padded coordinates; an overhanging window touches the edge
        c0 = max(0, (a0 + p - k) // s + 1) if a0 < a1 else 0
        c1 = min(o, -(-(a1 + p) // s)) if a0 < a1 else 0
        lo = min(o, -(-F_lo // s))
        first_hi = (hp - F_hi - k) // s + 1  # first window reaching the bottom frame/overhang
        hi = max(0, o - max(first_hi, 0))
        out.append((c0, c1, lo, hi))
    (r0, r1, ft, fb), (c0, c1, fl, fr) = out
    return ConstInfo((r0, r1, c0, c1), (ft, fb, fl, fr), const)
