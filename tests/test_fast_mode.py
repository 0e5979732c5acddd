"""torchcaffe's fastest exact-enough inference mode (`Net(fast=True)`, TORCHCAFFE_FAST=1,
`--fast` of python -m solvers.infer and score.py): channels_last + Winograd 3x3 convolutions,
close to the exact outputs, and training untouched."""

import os

import exactness as exact
import numpy as np
import pytest

import torchcaffe as caffe
from bench import fixtures as fx
from torchcaffe import winograd

zoo = pytest.importorskip("zoo")


def _rel(a, b):
    return float(np.abs(a - b).max() / max(float(np.abs(b).max()), 1e-6))


@pytest.fixture
def always_winograd(monkeypatch):
    """Use Winograd on every eligible layer, however narrow (the speed heuristic would skip
    the few-channel layers of these reduced-width test nets)."""
    calls = []

    def tile(cin, cout, h, w, k=3, rules=None):
        calls.append((cin, cout, h, w, k))
        return 4 if k == 3 else 2

    monkeypatch.setattr(winograd, "winograd_tile", tile)
    return calls


@pytest.mark.parametrize("skip", [True, False])
def test_fast_forward_close_to_exact(always_winograd, skip):
    param = zoo.build("voc-fcn8s", "deploy", width=1 / 8)
    fast = fx.torchcaffe_net(param, caffe.TEST, fast=True, skip_const=skip)
    exact = fx.torchcaffe_net(param, caffe.TEST, skip_const=skip, winograd=0)
    assert fast.channels_last and fast.winograd == 4 and not exact.winograd
    x = fx.image(83, 97)
    ya = fast.forward(data=x)["score"].copy()
    yb = exact.forward(data=x)["score"].copy()
    # all 13 3x3 convolutions (by pieces where the constant area is skipped) and fc6 (7x7)
    assert len(always_winograd) >= 14 and {c[:2] for c in always_winograd} >= {(3, 8), (64, 64)}
    assert [c for c in always_winograd if c[4] == 7 and c[:2] == (64, 512)]  # fc6, width 1/8
    assert _rel(ya, yb) < 1e-4
    assert (ya.argmax(1) == yb.argmax(1)).mean() > 0.999
    for name in ("conv3_3", "pool4", "fc7"):
        assert _rel(fast.blobs[name].data, exact.blobs[name].data) < 1e-4, name


def test_fast_mode_from_environment(monkeypatch):
    monkeypatch.setenv("TORCHCAFFE_FAST", "1")
    net = caffe.Net(zoo.build("voc-fcn32s", "deploy", width=1 / 16), caffe.TEST)
    assert net.winograd == 4 and net.channels_last
    monkeypatch.setenv("TORCHCAFFE_FAST", "0")
    net = caffe.Net(zoo.build("voc-fcn32s", "deploy", width=1 / 16), caffe.TEST)
    assert net.winograd == 2 and net.channels_last  # NHWC is the CPU inference default
    monkeypatch.setenv("TORCHCAFFE_CHANNELS_LAST", "0")
    net = caffe.Net(zoo.build("voc-fcn32s", "deploy", width=1 / 16), caffe.TEST)
    assert net.winograd == 2 and not net.channels_last


def test_fast_mode_leaves_training_exact(always_winograd):
    """Training nets never take the fast mode's rule (F(4x4)): at most the exact one's F(2x2)."""
    losses = []
    for fast in (True, False):
        losses.append(fx.train_net(64, 72, seed=4, winograd=fast).forward_backward())
    assert not always_winograd
    assert losses[0] == pytest.approx(losses[1], rel=1e-6)


def test_fast_flag_is_a_net_parameter(monkeypatch, capsys, tmp_path):
    """--fast reaches the nets as open_net(..., fast=True) (Net(fast=True)), not through the
    environment: TORCHCAFFE_FAST stays the user's, and nets opened without it stay exact."""

    import caffeio
    import engine
    from engine import startup

    monkeypatch.setenv("TORCHCAFFE_FAST", "0")
    engine.use("torch")
    assert engine.fast_mode() is True
    assert os.environ["TORCHCAFFE_FAST"] == "0"
    path = str(tmp_path / "deploy.prototxt")
    caffeio.write_net(zoo.build("voc-fcn32s", "deploy", width=1 / 16), path)
    fast = engine.open_net(path, caffe.TEST, fast=True)
    assert fast.winograd == 4 and fast.channels_last
    assert engine.open_net(path, caffe.TEST).winograd == 2  # the exact default
    monkeypatch.setattr(startup, "current_name", lambda: "caffe")
    assert engine.fast_mode() is False
    assert "torchcaffe only" in capsys.readouterr().out


def test_winograd_is_used_where_it_pays():
    """The heuristic picks the wide layers and leaves the narrow first ones to mkldnn."""
    assert winograd.use_winograd(512, 512, 88, 88)
    assert not winograd.use_winograd(3, 64, 698, 698)


@pytest.fixture
def always_exact_winograd(monkeypatch):
    """Force F(2x2) on every eligible layer of the narrow test nets (the default mode takes it
    from 256 channels)."""
    calls = []

    def tile(cin, cout, h, w, rules=None):
        calls.append((cin, cout, h, w))
        return 2

    monkeypatch.setattr(winograd, "exact_tile", tile)
    return calls


def test_default_mode_winograd_inference_matches_direct(always_exact_winograd):
    """The default mode computes wide 3x3 layers by F(2x2) at inference: every blob equals the
    direct convolutions' (mkldnn) within float rounding."""
    param = zoo.build("voc-fcn8s", "deploy", width=1 / 16)
    a = fx.torchcaffe_net(param, caffe.TEST)
    b = fx.torchcaffe_net(param, caffe.TEST, winograd=0)
    assert a.winograd == 2 and b.winograd == 0
    x = fx.image(90, 70)
    a.forward(data=x)
    b.forward(data=x)
    assert {c[:2] for c in always_exact_winograd} >= {(4, 4), (32, 32), (3, 4)}
    for name in a.blobs:
        assert _rel(a.blobs[name].data, b.blobs[name].data) < 1e-5, name


def test_default_mode_winograd_training_matches_direct(always_exact_winograd):
    """Training takes F(2x2) too, forward and bottom diffs (the rotated filters' convolution):
    loss, blob data, parameter diffs and the diffs above the poolings equal direct training's
    within float rounding, each path's poolings route as Caffe (tests/exactness.py), and the
    filter transforms are not kept past their layer."""
    nets = []
    for wg in (2, 0):
        net = fx.train_net(64, 72, seed=6, winograd=wg)
        for ps in net.params.values():
            for p in ps:
                p.diff[...] = 0
        net.forward_backward()
        nets.append(net)
        if wg:
            assert len(always_exact_winograd) > 0
            tiles = {c[:2] for c in always_exact_winograd}
            assert (32, 32) in tiles and (32, 16) in tiles  # conv4_1's bottom diff: 32 -> 16
            convs = [impl.blobs[0].data_tensor for impl in net._impls if impl.blobs]
            assert not any(w in winograd._CACHE for w in convs)
    exact.assert_same_training(*nets, fx.train_param(64, 72, 1 / 16), rel=1e-5)


def test_default_mode_is_f2_and_can_be_switched_off(monkeypatch):
    param = zoo.build("voc-fcn32s", "deploy", width=1 / 16)
    assert caffe.Net(param, caffe.TEST).winograd == 2
    monkeypatch.setenv("TORCHCAFFE_WINOGRAD", "0")
    assert caffe.Net(param, caffe.TEST).winograd == 0
    with pytest.raises(ValueError, match="winograd"):
        caffe.Net(param, caffe.TEST, winograd=3)


def test_exact_tile_is_taken_from_256_channels():
    assert winograd.exact_tile(512, 512, 44, 44) == 2
    assert winograd.exact_tile(256, 512, 70, 70) == 2
    assert winograd.exact_tile(128, 256, 131, 131) == 0
    assert winograd.exact_tile(64, 64, 504, 504) == 0


def test_weights_written_through_numpy_reach_winograd(always_winograd):
    """pycaffe scripts change weights through `net.params[...][0].data` (numpy views): the
    cached Winograd filter transforms must notice, as the direct path does."""
    param = zoo.build("voc-fcn8s", "deploy", width=1 / 8)
    fast = fx.torchcaffe_net(param, caffe.TEST, fast=True)
    exact = fx.torchcaffe_net(param, caffe.TEST, winograd=0)
    x = fx.image(60, 64)
    fast.forward(data=x)
    for net in (fast, exact):
        net.params["conv3_2"][0].data[:5] *= -3.0
        net.params["fc6"][0].data[...] *= 0.5
    ya = fast.forward(data=x)["score"].copy()
    yb = exact.forward(data=x)["score"].copy()
    assert _rel(ya, yb) < 1e-4


def test_fast_mode_keeps_fc6_gemm_path_where_winograd_does_not_pay(monkeypatch):
    """Where the heuristic declines F(2x2, 7x7) (small maps, narrow nets), fc6 keeps the layer's
    own im2col + GEMM path, not the slower convolution primitive."""
    from torchcaffe.ops import vision

    calls = []
    orig = vision.Convolution._gemm_forward

    def gemm(self, x, ws):
        calls.append(self.name)
        return orig(self, x, ws)

    monkeypatch.setattr(vision.Convolution, "_gemm_forward", gemm)
    net = fx.torchcaffe_net(zoo.build("voc-fcn32s", "deploy", width=1 / 16), caffe.TEST, fast=True)
    net.forward(data=fx.image(40, 48))
    assert "fc6" in calls
