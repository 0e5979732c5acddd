"""Weight gradients by shifted GEMMs (torchcaffe.wgrad) equal aten's and train the same.

conv_weight_grad against aten's convolution_backward in float64 over kernels 1-5, padding 0 to
100, dilation 2, two images, NCHW and NHWC, one-row bands and whole-map bands; the geometry it
refuses; the conditions under which the training path takes it; and two training nets of the
same prototxt, one with TORCHCAFFE_WEIGHT_GRAD=gemm and one with aten, compared after a forward
and backward (loss, blobs, raw parameter diffs; tests/exactness.py). No timings here.
"""

import re

import exactness as exact
import pytest
import torch

import torchcaffe
from bench import fixtures as fx
from torchcaffe import options, tuning, wgrad

torch.set_num_threads(1)
CL = torch.channels_last

# (N, Cin, Cout, H, W, kernel, pad, dilation)
GEOMETRIES = [
    (1, 4, 5, 9, 11, 3, 1, 1),
    (2, 3, 7, 8, 6, 3, 0, 1),
    (1, 6, 4, 10, 10, 3, 2, 2),
    (1, 5, 5, 5, 7, 1, 0, 1),
    (2, 8, 3, 12, 9, 5, 2, 1),
    (1, 3, 4, 4, 4, 3, 100, 1),  # FCN's conv1_1: pad 100, mostly padding
    (1, 4, 4, 7, 7, 2, 1, 1),  # even kernel
    (1, 16, 8, 30, 17, 3, 1, 1),
]


def _aten_wgrad(d, x, w, pad, dil):
    return torch.ops.aten.convolution_backward(
        d, x, w, None, [1, 1], [pad, pad], [dil, dil], False, [0, 0], 1, [False, True, False]
    )[1]


@pytest.mark.parametrize("geom", GEOMETRIES, ids=lambda g: "x".join(map(str, g)))
@pytest.mark.parametrize("nhwc", [False, True], ids=["nchw", "nhwc"])
@pytest.mark.parametrize("band", [1, None], ids=["row_bands", "default_band"])
def test_weight_grad_equals_atens(geom, nhwc, band):
    n, cin, cout, h, w, k, pad, dil = geom
    g = torch.Generator().manual_seed(sum(geom))
    x = torch.randn(n, cin, h, w, dtype=torch.float64, generator=g)
    wt = torch.randn(cout, cin, k, k, dtype=torch.float64, generator=g)
    ho, wo = h + 2 * pad - dil * (k - 1), w + 2 * pad - dil * (k - 1)
    d = torch.randn(n, cout, ho, wo, dtype=torch.float64, generator=g)
    if nhwc:
        x, d = x.contiguous(memory_format=CL), d.contiguous(memory_format=CL)
    got = wgrad.conv_weight_grad(d, x, (k, k), (pad, pad), (dil, dil), band_bytes=band)
    ref = _aten_wgrad(d, x, wt, pad, dil)
    assert got.shape == ref.shape == wt.shape
    assert (got - ref).abs().max() <= 1e-12 * ref.abs().max()


@pytest.mark.parametrize("geom", [g for g in GEOMETRIES if g[5] == 3 and g[7] == 1],
                         ids=lambda g: "x".join(map(str, g)))  # fmt: skip
@pytest.mark.parametrize("nhwc", [False, True], ids=["nchw", "nhwc"])
@pytest.mark.parametrize("band", [1, None], ids=["one_tile_row", "default_band"])
def test_winograd_weight_grad_equals_atens(geom, nhwc, band):
    """F(3x3, 2x2) in float64: odd and even map sides (a last half tile), pad 0 to 100, two
    images, bands of one tile row or the host table's."""
    n, cin, cout, h, w, k, pad, dil = geom
    g = torch.Generator().manual_seed(sum(geom) + 1)
    x = torch.randn(n, cin, h, w, dtype=torch.float64, generator=g)
    d = torch.randn(n, cout, h + 2 * pad - 2, w + 2 * pad - 2, dtype=torch.float64, generator=g)
    if nhwc:
        x, d = x.contiguous(memory_format=CL), d.contiguous(memory_format=CL)
    wt = torch.zeros(cout, cin, 3, 3, dtype=torch.float64)
    got = wgrad.winograd_weight_grad(d, x, (pad, pad), band_bytes=band)
    ref = _aten_wgrad(d, x, wt, pad, 1)
    assert got.shape == ref.shape
    assert (got - ref).abs().max() <= 1e-12 * ref.abs().max()


def test_winograd_float32_error_stays_at_the_direct_kernels():
    """Training's case (float32, NHWC, 3x3 pad 1, 128 channels): within 2e-6 of the largest
    entry against float64, as aten's own float32 weight gradient."""
    g = torch.Generator().manual_seed(4)
    x = torch.relu(torch.randn(1, 128, 45, 38, generator=g)).contiguous(memory_format=CL)
    d = torch.randn(1, 128, 45, 38, generator=g).contiguous(memory_format=CL)
    w = torch.zeros(128, 128, 3, 3)
    ref = _aten_wgrad(d.double(), x.double(), w.double(), 1, 1)
    ours = wgrad.winograd_weight_grad(d, x, (1, 1))
    aten = _aten_wgrad(d, x, w, 1, 1)
    scale = ref.abs().max()
    err = (ours.double() - ref).abs().max() / scale
    assert err <= max(2e-6, 2 * (aten.double() - ref).abs().max() / scale), err


def test_the_policy_picks_winograd_gemm_or_aten():
    x = torch.randn(1, 128, 20, 20).contiguous(memory_format=CL)
    d = torch.randn(1, 128, 20, 20).contiguous(memory_format=CL)
    w3 = (3, 3)
    seen = []
    orig_w, orig_g = wgrad.winograd_weight_grad, wgrad.conv_weight_grad
    try:
        wgrad.winograd_weight_grad = lambda *a, **k: seen.append("winograd") or orig_w(*a, **k)
        wgrad.conv_weight_grad = lambda *a, **k: seen.append("gemm") or orig_g(*a, **k)
        both = wgrad.Policy(tuning.TABLE["avx2"].wgrad_winograd, True)
        assert wgrad.weight_grad(d, x, w3, (1, 1), (1, 1), (1, 1), 1, both) is not None
        assert wgrad.weight_grad(d, x, w3, (2, 2), (1, 1), (2, 2), 1, both) is not None
        assert wgrad.weight_grad(d, x, w3, (1, 1), (2, 2), (1, 1), 1, both) is None  # strided
        wino = wgrad.Policy(tuning.TABLE["avx2"].wgrad_winograd, False)
        assert wgrad.weight_grad(d, x, w3, (2, 2), (1, 1), (2, 2), 1, wino) is None  # dilated
        small = x[:, :64]  # 64 channels: below the clause, GEMMs
        assert wgrad.weight_grad(d, small, w3, (1, 1), (1, 1), (1, 1), 1, both) is not None
        assert wgrad.weight_grad(d, x, w3, (1, 1), (1, 1), (1, 1), 1, None) is None
    finally:
        wgrad.winograd_weight_grad, wgrad.conv_weight_grad = orig_w, orig_g
    assert seen == ["winograd", "gemm", "gemm"]


def test_float32_rounds_no_worse_than_atens():
    """Summed band by band, the float32 result is at least as close to float64's as aten's
    own float32 kernel (the training path's inputs: NHWC, 3x3 pad 1)."""
    g = torch.Generator().manual_seed(3)
    x = torch.randn(1, 32, 60, 50, generator=g).contiguous(memory_format=CL)
    d = torch.randn(1, 24, 60, 50, generator=g).contiguous(memory_format=CL)
    w = torch.zeros(24, 32, 3, 3)
    ref = _aten_wgrad(d.double(), x.double(), w.double(), 1, 1)
    ours = wgrad.conv_weight_grad(d, x, (3, 3), (1, 1))
    aten = _aten_wgrad(d.contiguous(), x.contiguous(), w, 1, 1)
    scale = ref.abs().max()
    assert (ours.double() - ref).abs().max() / scale <= max(
        2e-6, (aten.double() - ref).abs().max() / scale
    )


def test_a_top_diff_of_another_geometry_is_refused():
    x = torch.randn(1, 4, 8, 8)
    d = torch.randn(1, 5, 7, 8)  # 3x3 pad 1 gives 8x8
    assert wgrad.conv_weight_grad(d, x, (3, 3), (1, 1)) is None
    assert wgrad.conv_weight_grad(torch.randn(2, 5, 8, 8), x, (3, 3), (1, 1)) is None


def test_which_convolutions_take_it():
    x = torch.randn(1, 32, 10, 10).contiguous(memory_format=CL)
    d = torch.randn(1, 32, 10, 10).contiguous(memory_format=CL)
    assert wgrad.applies(x, d, (1, 1), 1)
    assert not wgrad.applies(x, d, (2, 2), 1)  # strided
    assert not wgrad.applies(x, d, (1, 1), 2)  # grouped
    assert not wgrad.applies(x.contiguous(), d, (1, 1), 1)  # NCHW: the copy would transpose
    assert not wgrad.applies(x.half(), d.half(), (1, 1), 1)
    few = torch.randn(1, 3, 10, 10).contiguous(memory_format=CL)  # conv1_1's 3 channels
    assert not wgrad.applies(few, d, (1, 1), 1)


def _net(monkeypatch, how, h, w):
    monkeypatch.setenv("TORCHCAFFE_WEIGHT_GRAD", how)
    monkeypatch.setenv("TORCHCAFFE_CHANNELS_LAST", "1")
    torchcaffe.set_random_seed(5)
    net = torchcaffe.Net(fx.train_param(h, w, 1 / 16), torchcaffe.TRAIN)
    fx.random_params(net)
    net.blobs["data"].data[...] = fx.image(h, w)
    net.blobs["label"].data[...] = fx.label(h, w)
    return net


def test_training_with_gemm_weight_grads_matches_aten(monkeypatch):
    """The convolutions of a reduced FCN-8s (any width: MIN_CHANNELS lowered to 1) take the
    GEMM weight gradient in one net and aten's in the other; after a forward and backward at
    two input sizes the nets agree (loss, blobs, the diffs above the poolings, every parameter
    diff: raw gradients, no solver scaling)."""
    monkeypatch.setattr(wgrad, "MIN_CHANNELS", 1)
    calls = []
    orig = wgrad.conv_weight_grad

    def counted(d, x, kernel, *args, **kwargs):
        out = orig(d, x, kernel, *args, **kwargs)
        if out is not None:
            calls.append((x.shape[1], d.shape[1], tuple(kernel)))
        return out

    monkeypatch.setattr(wgrad, "conv_weight_grad", counted)
    for h, w in ((96, 80), (150, 130)):
        calls.clear()
        a = _net(monkeypatch, "gemm", h, w)
        a.forward()
        a.backward()
        taken = list(calls)
        b = _net(monkeypatch, "aten", h, w)
        b.forward()
        b.backward()
        assert calls == taken  # the aten net never came here
        # conv1_1 (3 -> 4 channels, pad 100: by regions), conv1_2 and conv2_x (their core
        # pieces), conv5_x (whole maps) and score_fr (1x1) at least; small pieces of conv3/4 go
        # by constant-area skipping's one GEMM, fc6/fc7 by im2col + GEMM
        assert (3, 4, (3, 3)) in taken and (32, 32, (3, 3)) in taken, taken
        assert (256, 21, (1, 1)) in taken and len(taken) >= 8, taken
        exact.assert_same_training(a, b, fx.train_param(h, w, 1 / 16))


def test_training_with_winograd_weight_grads_matches_aten(monkeypatch):
    """F(3x3, 2x2) for every 3x3 stride-1 convolution of a reduced FCN-8s (a policy whose clause
    takes any size) against aten's weight gradients: the same forward and backward."""
    calls = []
    orig = wgrad.winograd_weight_grad

    def counted(d, x, pad, *args, **kwargs):
        out = orig(d, x, pad, *args, **kwargs)
        if out is not None:
            calls.append((x.shape[1], d.shape[1]))
        return out

    monkeypatch.setattr(wgrad, "winograd_weight_grad", counted)
    h, w = 120, 100
    a = _net(monkeypatch, "winograd", h, w)
    a._wgrad_policy = wgrad.Policy((tuning.Clause(2),), False, 1 << 16)  # small bands too
    a.forward()
    a.backward()
    assert (3, 4) in calls and (32, 32) in calls and len(calls) >= 8, calls
    b = _net(monkeypatch, "aten", h, w)
    b.forward()
    b.backward()
    exact.assert_same_training(a, b, fx.train_param(h, w, 1 / 16))


def test_the_option_and_the_rows():
    assert tuning.TABLE["avx2"].weight_grad == "gemm"
    assert tuning.TABLE["avx512-intel"].weight_grad == "winograd"
    assert tuning.TABLE["avx512-amd"].weight_grad == "winograd"
    c = tuning.choose(None, options.from_env({"TORCHCAFFE_TUNING": "avx2"}))
    assert c.weight_grad == "gemm" and "weight grads F(3x3, 2x2)/GEMMs" in tuning.describe(c)
    env = {"TORCHCAFFE_TUNING": "avx2", "TORCHCAFFE_WEIGHT_GRAD": "aten"}
    c = tuning.choose(None, options.from_env(env))
    assert c.weight_grad == "aten" and "TORCHCAFFE_WEIGHT_GRAD" in c.overridden
    assert "weight grads" not in tuning.describe(c)
    with pytest.raises(ValueError, match=re.escape("TORCHCAFFE_WEIGHT_GRAD='im2col'")):
        options.from_env({"TORCHCAFFE_WEIGHT_GRAD": "im2col"})


@pytest.mark.parametrize("how", ["aten", "winograd", "gemm"])
def test_a_net_takes_the_policy_of_its_row_and_option(monkeypatch, how):
    monkeypatch.setenv("TORCHCAFFE_WEIGHT_GRAD", how)
    net = torchcaffe.Net(fx.train_param(64, 64, 1 / 16), torchcaffe.TRAIN)
    p = net._wgrad_policy
    assert p.gemm == (how == "gemm")
    assert p.winograd == (() if how == "aten" else tuning.current().rules.wgrad_winograd)
    assert p.band_bytes == tuning.current().winograd_band_bytes
    direct = torchcaffe.Net(fx.train_param(64, 64, 1 / 16), torchcaffe.TRAIN, winograd=0)
    assert direct._wgrad_policy.winograd == ()  # winograd=0: no Winograd anywhere
    assert direct._wgrad_policy.gemm == (how == "gemm")
