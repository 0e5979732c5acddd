"""torchcaffe.winograd: Winograd F(4x4,3x3) / F(2x2,3x3) / F(2x2,7x7) against float64 F.conv2d."""

import math
from fractions import Fraction

import pytest
import torch
import torch.nn.functional as F

from torchcaffe import winograd as wg
from torchcaffe.winograd import winograd_conv2d, winograd_matrices

# float32 Winograd error relative to max|y|: measured ~1e-6 on these small shapes, ~1e-5 on the
# FCN shapes (Cin up to 512); the bound is the task's "rounding scale" target.
TOL = 1e-4


def _conv_case(n, c, co, h, w, pad, channels_last, bias, seed=0, k=3):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, c, h, w, generator=g)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    wt = torch.randn(co, c, k, k, generator=g) * math.sqrt(2.0 / (k * k * c))
    b = torch.randn(co, generator=g) if bias else None
    return x, wt, b


def _rel_err(y, x, wt, b, pad):
    ref = F.conv2d(x.double(), wt.double(), None if b is None else b.double(), padding=pad)
    assert y.shape == ref.shape
    return ((y.double() - ref).abs().max() / ref.abs().max().clamp_min(1e-30)).item()


@pytest.mark.parametrize("m, r", [(2, 3), (4, 3), (2, 7)])
def test_matrices_compute_1d_correlation_exactly(m, r):
    at, g, bt = winograd_matrices(m, r)
    n = m + r - 1
    d = [Fraction(v) for v in (3, -1, 4, 1, -5, 9, 2, -6)[:n]]
    k = [Fraction(v) for v in (2, -7, 1, 8, -2, 8, 1)[:r]]
    gk = [sum(g[i][j] * k[j] for j in range(r)) for i in range(n)]
    bd = [sum(bt[i][j] * d[j] for j in range(n)) for i in range(n)]
    y = [sum(at[i][j] * gk[j] * bd[j] for j in range(n)) for i in range(m)]
    assert y == [sum(k[j] * d[i + j] for j in range(r)) for i in range(m)]
    assert all(v.denominator == 1 for row in bt for v in row)  # data transform exact in floats


CASES = [
    # n, c, co, h, w, pad
    (2, 3, 5, 7, 9, 1),
    (2, 4, 6, 1, 1, 1),
    (2, 5, 3, 2, 2, 1),
    (2, 6, 7, 13, 5, 0),
    (2, 3, 2, 3, 3, 0),
    (2, 8, 4, 11, 17, (1, 0)),
    (1, 16, 8, 21, 19, 2),
    (2, 7, 9, 6, 10, 1),
]


@pytest.mark.parametrize("tile", [2, 4])
@pytest.mark.parametrize("channels_last", [False, True])
@pytest.mark.parametrize("case", CASES)
def test_matches_float64_conv(case, channels_last, tile):
    n, c, co, h, w, pad = case
    for bias in (False, True):
        x, wt, b = _conv_case(n, c, co, h, w, pad, channels_last, bias)
        with torch.no_grad():
            y = winograd_conv2d(x, wt, b, padding=pad, tile=tile)
        assert _rel_err(y, x, wt, b, pad) < TOL
        if channels_last and h * w > 1:
            assert y.is_contiguous(memory_format=torch.channels_last)
        else:
            assert y.is_contiguous()


CASES7 = [
    # n, c, co, h, w, pad: odd sizes, ragged last tiles, maps smaller than the kernel with pad 3
    (2, 3, 5, 13, 11, 0),
    (2, 5, 4, 9, 10, 3),
    (2, 4, 3, 7, 7, 0),
    (2, 2, 3, 1, 2, 3),
    (2, 6, 5, 14, 12, 0),
    (2, 3, 4, 8, 11, (3, 0)),
]


@pytest.mark.parametrize("channels_last", [False, True])
@pytest.mark.parametrize("case", CASES7)
def test_7x7_matches_float64_conv(case, channels_last):
    n, c, co, h, w, pad = case
    for bias in (False, True):
        x, wt, b = _conv_case(n, c, co, h, w, pad, channels_last, bias, k=7)
        with torch.no_grad():
            y = winograd_conv2d(x, wt, b, padding=pad)  # the tile defaults to 2 for 7x7
        assert _rel_err(y, x, wt, b, pad) < TOL
        if channels_last and y.shape[2] * y.shape[3] > 1:
            assert y.is_contiguous(memory_format=torch.channels_last)
        else:
            assert y.is_contiguous()
    y64 = winograd_conv2d(x.double(), wt.double(), b.double(), padding=pad, tile=2)
    ref = F.conv2d(x.double(), wt.double(), b.double(), padding=pad)
    assert (y64 - ref).abs().max().item() < 1e-12 * ref.abs().max().item()


def test_7x7_several_bands(monkeypatch):
    monkeypatch.setattr(wg, "BAND_BYTES", 1)  # one tile row per band
    for pad, h in ((0, 17), (3, 12)):  # ragged and whole last tiles
        x, wt, b = _conv_case(2, 4, 6, h, 13, pad, True, True, k=7)
        with torch.no_grad():
            y = winograd_conv2d(x, wt, b, padding=pad)
        assert _rel_err(y, x, wt, b, pad) < TOL


def test_7x7_cache_invalidated():
    wg.clear_cache()
    x, wt, _ = _conv_case(1, 4, 4, 12, 12, 0, False, False, k=7)
    u = wg._filter_transform(wt, 2)
    assert u.shape == (64, 4, 4) and u.is_contiguous()
    assert wg._filter_transform(wt, 2) is u
    y0 = winograd_conv2d(x, wt, padding=0)
    wt.mul_(-1)
    assert wg._filter_transform(wt, 2) is not u
    y1 = winograd_conv2d(x, wt, padding=0)
    assert torch.allclose(y1, -y0, atol=1e-5)
    assert _rel_err(y1, x, wt, None, 0) < TOL


@pytest.mark.parametrize("tile", [2, 4])
def test_several_bands(monkeypatch, tile):
    monkeypatch.setattr(wg, "BAND_BYTES", 1)  # one tile row per band
    x, wt, b = _conv_case(2, 8, 8, 23, 14, 1, True, True)
    with torch.no_grad():
        y = winograd_conv2d(x, wt, b, tile=tile)
    assert _rel_err(y, x, wt, b, 1) < TOL


def test_float64_and_strided_input():
    x, wt, b = _conv_case(2, 4, 3, 9, 8, 1, False, True)
    x64, w64, b64 = x.double(), wt.double(), b.double()
    y = winograd_conv2d(x64, w64, b64)
    ref = F.conv2d(x64, w64, b64, padding=1)
    assert (y - ref).abs().max().item() < 1e-12 * ref.abs().max().item()
    xs = x.transpose(2, 3)  # neither NCHW- nor channels_last-contiguous
    y = winograd_conv2d(xs, wt, b)
    assert _rel_err(y, xs, wt, b, 1) < TOL and y.is_contiguous()


def test_filter_transform_cached_and_invalidated():
    wg.clear_cache()
    x, wt, b = _conv_case(1, 4, 4, 8, 8, 1, False, False)
    u1 = wg._filter_transform(wt, 4)
    assert wg._filter_transform(wt, 4) is u1  # reused
    y0 = winograd_conv2d(x, wt)
    wt.add_(1)  # in-place: _version changes
    assert wg._filter_transform(wt, 4) is not u1
    y1 = winograd_conv2d(x, wt)
    assert not torch.allclose(y0, y1)
    assert _rel_err(y1, x, wt, None, 1) < TOL
    # tile 2 and tile 4 entries live side by side for the same weight
    u2 = wg._filter_transform(wt, 2)
    assert wg._filter_transform(wt, 4) is not u2 and wg._filter_transform(wt, 2) is u2
    # entries go with their weight (weak keys): nothing keeps a dropped weight's transform alive
    del wt, u1, u2
    assert len(wg._CACHE) == 0


def test_cache_not_fooled_by_a_new_tensor_at_the_same_address():
    x, wt, _ = _conv_case(1, 4, 4, 8, 8, 1, False, False)
    winograd_conv2d(x, wt)
    other = torch.randn_like(wt)
    with torch.no_grad():
        wt.data = other  # same Python object, new storage, version counter may match
    y = winograd_conv2d(x, wt)
    assert _rel_err(y, x, other, None, 1) < TOL


@pytest.mark.parametrize(
    "kwargs, words",
    [
        (dict(stride=2), "stride"),
        (dict(dilation=2), "dilation"),
        (dict(groups=2), "groups"),
        (dict(tile=3), "tile"),
        (dict(padding=-1), "padding"),
    ],
)
def test_refuses_unsupported_options(kwargs, words):
    x, wt, _ = _conv_case(1, 4, 4, 8, 8, 1, False, False)
    with pytest.raises(ValueError, match=words):
        winograd_conv2d(x, wt, **kwargs)


def test_refuses_unsupported_inputs():
    x = torch.randn(1, 4, 8, 8)
    with pytest.raises(ValueError, match="3x3 and 7x7"):
        winograd_conv2d(x, torch.randn(2, 4, 5, 5))
    with pytest.raises(ValueError, match="3x3 and 7x7"):
        winograd_conv2d(x, torch.randn(2, 4, 7, 3))
    with pytest.raises(ValueError, match="tile=4"):
        winograd_conv2d(x, torch.randn(2, 4, 7, 7), tile=4)
    with pytest.raises(ValueError, match="smaller than 7x7"):
        winograd_conv2d(x[:, :, :6], torch.randn(2, 4, 7, 7), padding=0)
    with pytest.raises(ValueError, match="groups"):
        winograd_conv2d(x, torch.randn(2, 2, 3, 3))  # what groups=2 weights look like
    with pytest.raises(ValueError, match="dtype"):
        winograd_conv2d(x.half(), torch.randn(2, 4, 3, 3).half())
    with pytest.raises(ValueError, match="dtype"):
        winograd_conv2d(x, torch.randn(2, 4, 3, 3).double())
    with pytest.raises(ValueError, match="bias"):
        winograd_conv2d(x, torch.randn(2, 4, 3, 3), torch.randn(3))
    with pytest.raises(ValueError, match="smaller than 3x3"):
        winograd_conv2d(torch.randn(1, 4, 2, 8), torch.randn(2, 4, 3, 3), padding=0)


def test_heuristic_picks():
    assert wg.winograd_tile(512, 512, 44, 44) == 4 and wg.use_winograd(512, 512, 44, 44) is True
    assert wg.winograd_tile(512, 512, 7, 7) == 2
    assert wg.use_winograd(3, 64, 698, 698) is False
    assert wg.use_winograd(64, 64, 698, 698) is False
    assert wg.winograd_tile(512, 512, 44, 44, k=3) == 4
    # k=7, h, w the output map: fc6 of FCN-8s at 500x500 and at smaller inputs, half width
    assert wg.winograd_tile(512, 4096, 16, 16, k=7) == 2
    assert wg.winograd_tile(512, 4096, 10, 10, k=7) == 2
    assert wg.winograd_tile(512, 4096, 4, 4, k=7) == 0
    assert wg.winograd_tile(256, 2048, 16, 16, k=7) == 2
    assert wg.winograd_tile(256, 2048, 10, 10, k=7) == 0
    assert wg.winograd_tile(64, 64, 200, 200, k=7) == 0
    assert wg.winograd_tile(512, 512, 44, 44, k=5) == 0


def test_heuristic_per_isa(monkeypatch):
    """The measured rules of each ISA: AVX2 (old separable transforms, EPYC) F(4x4) from 128
    channels on large maps; AVX-512 (GEMM transforms, Xeon) F(4x4) from 128 channels once the
    work is 2**25, F(2x2) for 256+ channels on small pieces, and direct for thin strips."""
    monkeypatch.setenv("TORCHCAFFE_TUNING", "avx2")  # torchcaffe.tuning's AVX2 row
    assert wg.winograd_tile(128, 128, 349, 349) == 4 and wg.winograd_tile(128, 256, 175, 175) == 4
    assert wg.winograd_tile(256, 256, 4, 1) == 2 and wg.exact_tile(256, 256, 4, 4) == 2
    assert wg.winograd_tile(128, 128, 44, 44) == 0 and wg.exact_tile(256, 256, 3, 5) == 0
    monkeypatch.setenv("TORCHCAFFE_TUNING", "avx512-intel")
    assert wg.winograd_tile(128, 128, 63, 257) == 4 and wg.winograd_tile(128, 256, 62, 131) == 4
    assert wg.winograd_tile(64, 128, 64, 255) == 0 and wg.winograd_tile(128, 128, 22, 22) == 0
    assert wg.winograd_tile(256, 256, 175, 175) == 4 and wg.winograd_tile(512, 512, 12, 12) == 4
    assert wg.winograd_tile(512, 512, 6, 6) == 2
    assert wg.winograd_tile(512, 512, 6, 1) == 0 and wg.winograd_tile(256, 256, 4, 4) == 0
    assert wg.exact_tile(512, 512, 6, 6) == 2 and wg.exact_tile(256, 256, 61, 133) == 2
    assert wg.exact_tile(256, 256, 4, 4) == 0 and wg.exact_tile(128, 256, 62, 131) == 0


@pytest.mark.parametrize("tile", [2, 4])
def test_window_of_nhwc_map_gives_channels_last(tile):
    """A window of a channels_last map (what constant-area skipping passes: channels innermost,
    not channels_last-contiguous) comes back channels_last, as F.conv2d returns it, and equal."""
    x, wt, b = _conv_case(1, 8, 6, 30, 26, 0, True, True)
    win = x[:, :, 3:21, 2:19]
    assert win.stride(1) == 1 and not win.is_contiguous(memory_format=torch.channels_last)
    with torch.no_grad():
        y = winograd_conv2d(win, wt, b, padding=0, tile=tile)
    assert y.is_contiguous(memory_format=torch.channels_last) and not y.is_contiguous()
    assert _rel_err(y, win, wt, b, 0) < TOL
    nchw = win.contiguous()
    with torch.no_grad():
        assert winograd_conv2d(nchw, wt, b, padding=0, tile=tile).is_contiguous()


@pytest.mark.parametrize("cl", [True, False])
def test_out_memory_is_written_and_returned(cl):
    """`out` takes the result: channels_last memory in place, C-ordered through one copy;
    a wrong shape is refused."""
    g = torch.Generator().manual_seed(3)
    x = torch.randn(2, 6, 11, 9, generator=g).contiguous(memory_format=torch.channels_last)
    wt = torch.randn(5, 6, 3, 3, generator=g)
    fmt = torch.channels_last if cl else torch.contiguous_format
    out = torch.full((2, 5, 11, 9), float("nan")).contiguous(memory_format=fmt)
    with torch.no_grad():
        y = winograd_conv2d(x, wt, None, padding=1, tile=2, out=out)
        ref = torch.nn.functional.conv2d(x, wt, None, 1, 1)
    assert y is out
    torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="out"):
        winograd_conv2d(x, wt, None, padding=0, tile=2, out=out)
