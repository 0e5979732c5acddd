"""Winograd minimal-filtering 3x3 and 7x7 convolution (Lavin & Gray 2015) for fast float inference.

``winograd_conv2d(x, w, b, padding)`` equals ``F.conv2d(x, w, b, stride=1, padding=padding)`` for
3x3 and 7x7 kernels up to float rounding, with fewer multiplies: F(4x4, 3x3) computes each 4x4
output tile from a 6x6 input tile with 36 products per (input, output) channel pair instead of 144
(4x fewer); F(2x2, 3x3) (``tile=2``) uses 16 instead of 36 (2.25x fewer) and rounds a little less;
F(2x2, 7x7) (FCN's fc6) computes each 2x2 tile from an 8x8 one with 64 products instead of 196.

The transforms are derived here, at import, by Toom-Cook with exact fractions rather than typed in:
F(m, r) evaluates at the finite points 0, +1, -1 (F(2, 3)), 0, +1, -1, +2, -2 (F(4, 3)) or
0, +-1, +-2, +-1/2 (F(2, 7)), plus the point at infinity (the leading coefficient). With V the
n x n evaluation matrix (n = m + r - 1; the infinity row is [0 .. 0 1]), the 1-D correlation
y = A^T [(G g) * (B^T d)] has A^T = V_m^T (Vandermonde of the points up to degree m - 1),
G = V_r and B^T = V^-T. Each row k of B^T is then
scaled to small integers and row k of G divided by the same factor, so the data transforms are exact
in floating point and only the (once per weight, float64) filter transform carries fractions.
2-D: Y = A^T [(G g G^T) * (B^T d B)] A, with the Kronecker products (A^T kron A^T) and
(B^T kron B^T) applied to all n*n points of a tile at once.

Layout (pure torch ops, CPU or CUDA): internally NHWC, so every tile phase is a strided view with
contiguous channels. Per band of tile rows: the tiles gathered by one copy into D [n*n, N*T, Cin],
V = (B^T kron B^T) D (one GEMM), one batched GEMM V @ U with U [n*n, Cin, Cout] (the cached
filter transform), Y = (A^T kron A^T) M (one GEMM), whose m*m output phases are copied into the
result tensor, whose memory format follows the input.
"""

from __future__ import annotations

import math
import threading
from fractions import Fraction

import torch
from torch.utils.weak import WeakIdKeyDictionary

from . import tuning as _tuning

__all__ = [
    "winograd_conv2d",
    "use_winograd",
    "winograd_tile",
    "exact_tile",
    "winograd_matrices",
    "clear_cache",
]

_POINTS = {
    (2, 3): (0, 1, -1),
    (4, 3): (0, 1, -1, 2, -2),
    (2, 7): (0, 1, -1, 2, -2, Fraction(1, 2), Fraction(-1, 2)),
    (3, 2): (0, 1, -1),  # F(3x3, 2x2): the 3x3 weight gradient (torchcaffe.wgrad)
}


def _invert(rows: list[list[Fraction]]) -> list[list[Fraction]]:
    n = len(rows)
    m = [row[:] + [Fraction(int(i == j)) for j in range(n)] for i, row in enumerate(rows)]
    for c in range(n):
        piv = next(i for i in range(c, n) if m[i][c] != 0)
        m[c], m[piv] = m[piv], m[c]
        m[c] = [v / m[c][c] for v in m[c]]
        for i in range(n):
            if i != c and m[i][c] != 0:
                f = m[i][c]
                m[i] = [a - f * b for a, b in zip(m[i], m[c])]
    return [row[n:] for row in m]


def winograd_matrices(
    m: int, r: int = 3
) -> tuple[list[list[Fraction]], list[list[Fraction]], list[list[Fraction]]]:
    """Exact (A^T [m, n], G [n, r], B^T [n, n]) as nested lists of Fractions, n = m + r - 1."""
    if (m, r) not in _POINTS:
        raise ValueError(
            f"winograd: F({m}, {r}) not supported (F(2, 3), F(4, 3), F(2, 7), F(3, 2))"
        )
    pts = [Fraction(p) for p in _POINTS[m, r]]
    n = m + r - 1

    def evaluation(k):  # rows: finite points, then infinity
        return [[p**e for e in range(k)] for p in pts] + [[Fraction(0)] * (k - 1) + [Fraction(1)]]

    a = evaluation(m)
    g = evaluation(r)
    vinv = _invert(evaluation(n))
    bt = [[vinv[j][i] for j in range(n)] for i in range(n)]  # V^-T
    for k in range(n):
        den = math.lcm(*(v.denominator for v in bt[k]))
        num = math.gcd(*(v.numerator for v in bt[k]))
        s = Fraction(den, num)
        if next(v for v in reversed(bt[k]) if v) < 0:  # last nonzero +1: a cheap first pass
            s = -s
        bt[k] = [v * s for v in bt[k]]
        g[k] = [v / s for v in g[k]]
    at = [[a[j][i] for j in range(n)] for i in range(m)]
    return at, g, bt


def _dense(mat, dtype=torch.float64):
    return torch.tensor([[float(v) for v in row] for row in mat], dtype=dtype)


class _Transforms:
    """Per (tile, kernel): G (float64) for the filter transform, the Kronecker-product data
    transforms (float64, cast per call) and the point that carries the bias."""

    def __init__(self, m: int, r: int):
        at, g, bt = winograd_matrices(m, r)
        self.m, self.r, self.n = m, r, m + r - 1
        self.g = _dense(g)  # float64: the filter transform is rounded once, at the end
        # A^T has a column of ones (the point +1): a bias added to that single Winograd-domain
        # product reaches every output of the tile exactly once.
        self.bias_at = next(j for j in range(self.n) if all(row[j] == 1 for row in at))
        # Both data transforms as one small GEMM each, with the Kronecker-product matrices:
        # V = (B^T kron B^T) D [n*n, tiles * C] after the tiles are gathered into D by one copy,
        # and Y = (A^T kron A^T) M [m*m, tiles * Cout]. One pass over the band instead of the
        # separable rows-then-columns elementwise passes (~40 for F(4x4), ~130 for F(2x2, 7x7)):
        # on the 2-core Xeon F(4x4) 512x512@66 34 vs 40 ms, 256x256@130 42 vs 55 ms, F(2x2)
        # 256x256@130 49 vs 58 ms, same error (the entries are small integers: exact products).
        self.at_kron = torch.kron(_dense(at), _dense(at))
        self.bt_kron = torch.kron(_dense(bt), _dense(bt))
        self._cast = {}

    def krons(self, dtype, device):
        """(B^T kron B^T, A^T kron A^T) in `dtype` on `device`, cast once per pair."""
        key = (dtype, torch.device(device))
        if key not in self._cast:
            self._cast[key] = tuple(
                k.to(device=device, dtype=dtype) for k in (self.bt_kron, self.at_kron)
            )
        return self._cast[key]


_TRANSFORMS = {mr: _Transforms(*mr) for mr in _POINTS}
_KERNELS = {3: (4, 2), 7: (2,)}  # kernel size -> tiles, the default first

# Filter transforms U [n*n, Cin, Cout], keyed by the weight tensor object itself (weakly, so an
# entry goes when its weight is freed) and checked against data_ptr / _version / shape / dtype /
# device, so set_() or an in-place update (weight.add_(1), optimizer steps) is noticed.
_CACHE: WeakIdKeyDictionary = WeakIdKeyDictionary()


def forget(weight: torch.Tensor) -> None:
    """Drop the cached filter transforms of `weight` (its values changed where torch cannot
    see it, e.g. through a numpy view of its memory)."""
    _CACHE.pop(weight, None)


def clear_cache() -> None:
    """Drop the cached filter transforms (and this thread's products workspace)."""
    _CACHE.clear()
    _WORKSPACE.__dict__.pop("buf", None)


# On the CPU the largest buffer, the Winograd-domain products (fc6: 64 points x 64 tiles x 4096 =
# 67 MB; at most one band for 3x3 layers), is kept between calls, one per thread, grown to the
# largest layer: a fresh one is page-faulted in on every call, 25-45 ms of fc6's ~0.15-0.3 s here.
_WORKSPACE = threading.local()


def _products_buffer(x: torch.Tensor, numel: int) -> torch.Tensor:
    if x.device.type != "cpu":
        return x.new_empty(numel)
    buf = getattr(_WORKSPACE, "buf", None)
    if buf is None or buf.numel() < numel or buf.dtype != x.dtype:
        _WORKSPACE.buf = None  # free the old one first
        buf = _WORKSPACE.buf = x.new_empty(numel)
    return buf[:numel]


def _filter_transform(weight: torch.Tensor, m: int) -> torch.Tensor:
    key = (
        weight.data_ptr(),
        weight._version,
        tuple(weight.shape),
        weight.stride(),
        weight.dtype,
        weight.device,
    )
    per_tile = _CACHE.get(weight)
    if per_tile is not None and m in per_tile and per_tile[m][0] == key:
        return per_tile[m][1]
    t = _TRANSFORMS[m, weight.shape[-1]]
    cout, cin = weight.shape[:2]
    with torch.no_grad():
        # U[(i j), o, c] = sum_kl (G kron G)[(i j), (k l)] w[o, c, k, l]: one GEMM with K = 9
        # (the 4-D einsum ran as 262144 tiny matmuls, 40-150 ms for 512x512; this is 5-20 ms,
        # which matters in training, where the weights change every iteration). G's entries
        # are dyadic/small fractions, so the float32 product is within ~1e-7 of the exact one.
        g = t.g.to(device=weight.device, dtype=weight.dtype)
        wd = weight.detach()
        if t.r == 7:
            # [n*n, Cin, Cout] contiguous straight from a (Cin, Cout)-ordered copy of w (10 MB
            # per 64 channel pairs; U is 6.5x that): fc6's bmm on the transposed view is ~20%
            # slower, and transposing U afterwards would copy 537 MB.
            wd = wd.transpose(0, 1).reshape(cin * cout, t.r * t.r)
            u = (torch.kron(g, g) @ wd.t()).view(t.n * t.n, cin, cout)
        else:
            u = torch.kron(g, g) @ wd.reshape(cout * cin, t.r * t.r).t()
            u = u.view(t.n * t.n, cout, cin).transpose(1, 2)  # [n*n, Cin, Cout]
            if m == 4:  # bmm on the transposed view is ~18% slower for F(4x4); F(2x2) the same
                u = u.contiguous()
    if per_tile is None or any(v[0] != key for v in per_tile.values()):
        per_tile = {}
        _CACHE[weight] = per_tile
    per_tile[m] = (key, u)
    return u


# Bytes of V (or M) per band of tile rows: bands keep the transformed tiles in cache-sized pieces
# and bound the scratch memory, instead of streaming 2.25-4x the whole map through DRAM. The
# size is the host table's (torchcaffe.tuning: 8 MB, best on the 2-core Xeon with the GEMM
# transforms: F(4x4) 512x512@56x72: 4 MB 25.2, 8 MB 25.9, 16 MB 27.9, 32 MB 28.1 ms;
# 256x512@58x70 14.1 ms at 8 MB, 15.0-16.7 otherwise); BAND_BYTES, when set, replaces it. Each
# band re-reads U: for 7x7 (fc6, U = 537 MB, far larger than its map) a band is at least twice
# U (fc6 at 500x500: 107 ms in one band, 268-450 ms in 8-16 MB bands); for 3x3 that floor cost
# 5-15%.
BAND_BYTES = None
_DTYPES = (torch.float32, torch.float64)


def _pair(v, name):
    if isinstance(v, int):
        v = (v, v)
    v = tuple(v)
    if len(v) != 2 or not all(isinstance(i, int) for i in v):
        raise ValueError(f"winograd_conv2d: {name} must be an int or a pair of ints, got {v!r}")
    return v


def _check(x, weight, bias, padding, stride, dilation, groups, tile):
    """The validated (tile, r, ph, pw); ValueError naming what is unsupported."""
    tile, r = _check_kernel(x, weight, tile)
    if _pair(stride, "stride") != (1, 1):
        raise ValueError(f"winograd_conv2d: only stride 1, got stride={stride!r}")
    if _pair(dilation, "dilation") != (1, 1):
        raise ValueError(f"winograd_conv2d: only dilation 1, got dilation={dilation!r}")
    if groups != 1 or weight.shape[1] != x.shape[1]:
        raise ValueError(
            f"winograd_conv2d: only groups=1 with weight Cin == input C, got groups={groups}, "
            f"weight {tuple(weight.shape)}, input {tuple(x.shape)}"
        )
    _check_types(x, weight, bias)
    ph, pw = _pair(padding, "padding")
    if ph < 0 or pw < 0:
        raise ValueError(f"winograd_conv2d: negative padding {padding!r}")
    if x.shape[2] + 2 * ph < r or x.shape[3] + 2 * pw < r:
        raise ValueError(
            f"winograd_conv2d: input {tuple(x.shape)} with padding {(ph, pw)} is smaller than "
            f"{r}x{r}"
        )
    return tile, r, ph, pw


def _check_kernel(x, weight, tile):
    """(tile, r) for a 4-D input and an r x r weight (r = 3 or 7); tile None: r's default."""
    if not isinstance(x, torch.Tensor) or x.dim() != 4:
        raise ValueError("winograd_conv2d: input must be a 4-D tensor [N, C, H, W]")
    r = weight.shape[-1] if weight.dim() == 4 else None
    if r not in _KERNELS or weight.shape[-2] != r:
        raise ValueError(
            f"winograd_conv2d: only 3x3 and 7x7 kernels, got weight {tuple(weight.shape)}"
        )
    if tile is None:
        tile = _KERNELS[r][0]
    if (tile, r) not in _TRANSFORMS:
        raise ValueError(
            f"winograd_conv2d: tile={tile!r} unsupported for {r}x{r} kernels "
            f"({' or '.join(map(str, _KERNELS[r]))})"
        )
    return tile, r


def _check_types(x, weight, bias):
    """x, weight (and bias) float32 or float64 alike, on one device; bias [Cout]."""
    if x.dtype not in _DTYPES or weight.dtype != x.dtype:
        raise ValueError(
            f"winograd_conv2d: dtype {x.dtype} / weight {weight.dtype} unsupported "
            "(float32 or float64, same for both)"
        )
    if weight.device != x.device:
        raise ValueError(f"winograd_conv2d: weight on {weight.device}, input on {x.device}")
    if bias is not None and (
        tuple(bias.shape) != (weight.shape[0],) or bias.dtype != x.dtype or bias.device != x.device
    ):
        raise ValueError(
            f"winograd_conv2d: bias must be [{weight.shape[0]}] {x.dtype} on {x.device}, "
            f"got {tuple(bias.shape)} {bias.dtype} on {bias.device}"
        )


def winograd_conv2d(
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None = None,
    padding: int | tuple[int, int] = (1, 1),
    tile: int | None = None,
    stride: int | tuple[int, int] = 1,
    dilation: int | tuple[int, int] = 1,
    groups: int = 1,
    out: torch.Tensor | None = None,
    band_bytes: int | None = None,
) -> torch.Tensor:
    """F.conv2d(x, weight, bias, stride=1, padding=padding) for r x r kernels, r = 3 or 7, by
    Winograd F(m, r).

    x [N, C, H, W] float32/float64, NCHW-contiguous or channels_last (any strides work);
    weight [Cout, C, r, r]; bias [Cout] or None; padding int or (ph, pw), any >= 0;
    tile: for 3x3, 4 (F(4x4, 3x3), the default) or 2 (F(2x2, 3x3)); for 7x7, 2 (F(2x2, 7x7), the
    default). stride, dilation, groups exist only to refuse anything but 1 with a ValueError.
    Returns [N, Cout, H + 2ph - r + 1, W + 2pw - r + 1], channels_last when x has its channels
    innermost (channels_last, or a window of a channels_last map as constant-area skipping
    passes), else NCHW-contiguous. No autograd: call under torch.no_grad().
    The filter transform is cached per weight tensor (see _filter_transform).
    out: optional result memory [N, Cout, Ho, Wo] (x's dtype and device), written and returned;
    channels_last memory is written in place, any other through one copy.
    band_bytes: bytes of the transformed tiles per band (default: BAND_BYTES when set, else the
    host table's, torchcaffe.tuning).
    """
    tile, r, ph, pw = _check(x, weight, bias, padding, stride, dilation, groups, tile)
    t = _TRANSFORMS[tile, r]
    m, n = t.m, t.n
    nb, c, h, w = x.shape
    cout = weight.shape[0]
    ho, wo = h + 2 * ph - r + 1, w + 2 * pw - r + 1
    # channel-minor input (a window of an NHWC map is not channels_last-contiguous): NHWC out, as
    # F.conv2d does; transposing to NCHW and back cost conv2_2 a third of its time in the net
    channels_last = x.stride(1) == 1 and c > 1 and not x.is_contiguous()
    if out is not None and tuple(out.shape) != (nb, cout, ho, wo):
        raise ValueError(f"winograd_conv2d: out {tuple(out.shape)}, needs {(nb, cout, ho, wo)}")
    direct = out is not None and out.permute(0, 2, 3, 1).is_contiguous()
    y = out.permute(0, 2, 3, 1) if direct else x.new_empty((nb, ho, wo, cout))  # NHWC

    if nb == 0 or cout == 0:
        return _result(y, out, direct, channels_last)
    if c == 0:
        y.zero_()
        if bias is not None:
            y.add_(bias)
        return _result(y, out, direct, channels_last)
    u = _filter_transform(weight, tile)

    th, tw = -(-ho // m), -(-wo // m)
    wp = m * tw + r - 1
    xh = x.permute(0, 2, 3, 1)
    tb = _band_tile_rows(x, u, t, th, tw, cout, band_bytes)

    xb = x.new_zeros((nb, m * tb + r - 1, wp, c))  # padded band: the border columns stay zero
    d = x.new_empty(n * n * nb * tb * tw * c)  # the gathered tiles D
    v = x.new_empty(n * n * nb * tb * tw * c)
    prod = _products_buffer(x, n * n * nb * tb * tw * cout)
    o1 = x.new_empty(m * m * nb * tb * tw * cout)
    bt_kron, at_kron = t.krons(x.dtype, x.device)
    valid_w = [-(-(wo - q) // m) for q in range(m)]
    valid_h = [-(-(ho - p) // m) for p in range(m)]
    for t0 in range(0, th, tb):
        b = min(tb, th - t0)
        lt = nb * b * tw
        vb = _transform_band(t, xh, xb, d, v, bt_kron, t0, b, tw, ph, pw)
        pb = prod[: n * n * lt * cout].view(n * n, lt, cout)
        torch.bmm(vb.view(n * n, lt, c), u, out=pb)
        if bias is not None:
            pb[t.bias_at * n + t.bias_at].add_(bias)
        _write_band(t, y, o1, pb, at_kron, t0, b, tw, valid_h, valid_w)
    return _result(y, out, direct, channels_last)


def _result(y, out, direct, channels_last):
    """winograd_conv2d's result from its NHWC output `y`: `out` (written through one copy
    unless y is its memory), else y in x's memory format."""
    if out is None:
        return _as_format(y, channels_last)
    if not direct:
        out.copy_(y.permute(0, 3, 1, 2))
    return out


def _band_tile_rows(x, u, t, th, tw, cout, band_bytes):
    """Tile rows per band: the transformed tiles of one band within band_bytes (BAND_BYTES
    when set, else the argument, else the host table's); for 7x7 at least twice U."""
    nb, c = x.shape[:2]
    per_row = t.n * t.n * nb * tw * max(c, cout) * x.element_size()
    if BAND_BYTES is not None:
        band_bytes = BAND_BYTES
    elif band_bytes is None:
        band_bytes = _tuning.current().winograd_band_bytes
    if t.r != 3:
        band_bytes = max(band_bytes, 2 * u.numel() * u.element_size())
    return max(1, min(th, band_bytes // per_row))


def _transform_band(t, xh, xb, d, v, bt_kron, t0, b, tw, ph, pw):
    """V = (B^T kron B^T) D [n*n, tiles * C] (in `v`) for the b tile rows from t0: the input
    rows [lo, lo + m b + r - 1) of the padded map copied into the band buffer `xb`, its tiles
    D gathered by one copy (into `d`)."""
    m, n, r = t.m, t.n, t.r
    nb, h, w, c = xh.shape
    lt = nb * b * tw
    xbb = xb[:, : m * b + r - 1]
    lo = m * t0 - ph
    s_lo, s_hi = max(0, lo), min(h, lo + m * b + r - 1)
    if s_lo > lo:
        xbb[:, : s_lo - lo].zero_()
    if s_hi < lo + m * b + r - 1:
        xbb[:, max(0, s_hi - lo) :].zero_()
    if s_hi > s_lo:
        xbb[:, s_lo - lo : s_hi - lo, pw : pw + w].copy_(xh[:, s_lo:s_hi])
    # D [(k l), tiles, c]
    db = d[: n * n * lt * c].view(n, n, nb, b, tw, c)
    db.copy_(xbb.unfold(1, n, m).unfold(2, n, m).permute(4, 5, 0, 1, 2, 3))
    vb = v[: n * n * lt * c].view(n * n, -1)
    torch.mm(bt_kron, db.view(n * n, -1), out=vb)
    return vb


def _write_band(t, y, o1, pb, at_kron, t0, b, tw, valid_h, valid_w):
    """Y = (A^T kron A^T) M (in `o1`) for the b tile rows from t0, then each of its m*m phases
    into the NHWC output `y` (one copy when every phase is whole)."""
    m, n = t.m, t.n
    nb, ho, wo, cout = y.shape
    lt = nb * b * tw
    ob = o1[: m * m * lt * cout].view(m * m, lt * cout)
    torch.mm(at_kron, pb.view(n * n, -1), out=ob)
    ob = ob.view(m, m, nb, b, tw, cout)
    if ho % m == 0 and wo % m == 0:  # every phase whole: one copy
        yb = y[:, m * t0 : m * (t0 + b)].view(nb, b, m, tw, m, cout)
        yb.copy_(ob.permute(2, 3, 0, 4, 1, 5))
        return
    for p in range(m):
        hp = min(b, valid_h[p] - t0)
        for q in range(m):
            if hp > 0:
                y[:, m * t0 + p :: m, q::m][:, :hp, : valid_w[q]].copy_(
                    ob[p, q, :, :hp, : valid_w[q]]
                )


def _as_format(y_nhwc: torch.Tensor, channels_last: bool) -> torch.Tensor:
    y = y_nhwc.permute(0, 3, 1, 2)
    return y if channels_last else y.contiguous()


def winograd_tile(
    cin: int, cout: int, h: int, w: int, k: int = 3, rules: _tuning.Rules | None = None
) -> int:
    """The tile (4 or 2) for which winograd_conv2d beats F.conv2d here, or 0 for neither: the fast
    mode's choice. h, w: the output map (or the piece of it computed in one call).

    k: the kernel size, 3 or 7 (0 for any other k). `rules`: a torchcaffe.tuning.Rules row
    (default: this host's, tuning.current()); its `fast` clauses for 3x3, `fc6` for 7x7. The
    rows hold the measurements: AVX-512 (2-core Xeon with AMX, GEMM transforms, against oneDNN's
    channels_last direct convolution) F(4x4) from 128 channels once Cin*Cout*H*W >= 2**25 and
    both sides >= 8, below that F(2x2) from 256 channels once Cin*Cout*H*W >= 2**23; AVX2
    (2-core EPYC, the earlier separable transforms) F(4x4) from 2**26 with Cin, Cout >= 128, up
    to 24x24 F(2x2) for 256x256 and up; 7x7: F(2x2, 7x7) from 256 channels and 2**27.
    """
    rules = _tuning.current().rules if rules is None else rules
    if k == 7:
        return _tuning.pick(rules.fc6, cin, cout, h, w)
    if k != 3:
        return 0
    return _tuning.pick(rules.fast, cin, cout, h, w)


def use_winograd(cin: int, cout: int, h: int, w: int, k: int = 3) -> bool:
    """Whether winograd_conv2d (with tile=winograd_tile(...)) beats F.conv2d on this machine."""
    return winograd_tile(cin, cout, h, w, k) != 0


def exact_tile(cin: int, cout: int, h: int, w: int, rules: _tuning.Rules | None = None) -> int:
    """2 where F(2x2, 3x3) beats the direct convolution here, else 0: torchcaffe's default (exact)
    mode. F(2x2)'s error against a float64 convolution is 3-7e-7 of max|y| on VGG's layers, below
    direct float32's own 1-4e-6, so it changes nothing beyond float rounding. h, w: the output
    map (or the piece of it computed in one call). `rules`: a torchcaffe.tuning.Rules row
    (default: this host's); its `exact` clauses (AVX-512: from 256 channels once
    Cin*Cout*H*W >= 2**23; AVX2: from 256 channels on pieces of 16+ outputs)."""
    rules = _tuning.current().rules if rules is None else rules
    return _tuning.pick(rules.exact, cin, cout, h, w)
