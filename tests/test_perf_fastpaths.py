"""Correctness of torchcaffe's fast paths (not their speed: bench/ measures that).

- constant-area skipping (torchcaffe.constregion) == the plain full computation, per blob, for
  random geometries and for zoo deploy nets at several input sizes;
- in-place ReLU while training: same loss, blob diffs and parameter diffs as the out-of-place
  path, and the ReLU's top is the convolution's own memory (no extra copy kept);
- channels_last: same outputs within float rounding, blob arrays still writable views.
"""

import exactness as exact
import numpy as np
import pytest
import torch
import torch.nn.functional as F

import torchcaffe as caffe
from bench import fixtures as fx
from torchcaffe import constregion as cr

zoo = pytest.importorskip("zoo")
torch.set_num_threads(1)


def _close(a, b, rel=2e-5):
    scale = max(float(np.abs(b).max()), 1e-3)
    assert np.abs(a - b).max() <= rel * scale, (np.abs(a - b).max(), scale)


def _structured(rng, c, h, w, core, frame, const):
    """c x h x w map as torchcaffe.constregion describes them: random in the core, `const` per
    channel elsewhere except the frame, whose strips are constant along their length away from
    the (random) corners."""
    x = np.broadcast_to(const[:, None, None], (c, h, w)).copy()
    t, b, left, right = frame
    x[:, :t, :] = rng.standard_normal((c, t, 1))
    x[:, h - b :, :] = rng.standard_normal((c, b, 1))
    x[:, :, :left] = rng.standard_normal((c, 1, left))
    x[:, :, w - right :] = rng.standard_normal((c, 1, right))
    for rows in (np.s_[:t], np.s_[h - b :]):
        for cols in (np.s_[:left], np.s_[w - right :]):
            x[:, rows, cols] = rng.standard_normal(x[:, rows, cols].shape)
    r0, r1, c0, c1 = core
    x[:, r0:r1, c0:c1] = rng.standard_normal((c, r1 - r0, c1 - c0))
    return x


@pytest.mark.parametrize("seed", range(40))
def test_conv_by_regions_equals_full_convolution(seed):
    rng = np.random.default_rng(seed)
    h, w = rng.integers(20, 60, 2)
    k, s, p, d = rng.integers(1, 5), rng.integers(1, 4), rng.integers(0, 6), rng.integers(1, 3)
    g = int(rng.choice([1, 2]))
    cin, cout = 2 * g, 3 * g
    r0, c0 = rng.integers(0, h // 2), rng.integers(0, w // 2)
    core = (int(r0), int(rng.integers(r0, h)), int(c0), int(rng.integers(c0, w)))
    frame = tuple(int(v) for v in rng.integers(0, 3, 4))
    const = rng.standard_normal(cin).astype(np.float32) * (seed % 3 != 0)  # some all-zero
    x = torch.from_numpy(_structured(rng, cin, h, w, core, frame, const).astype(np.float32))[None]
    wt = torch.randn(cout, cin // g, k, k, generator=torch.Generator().manual_seed(seed))
    b = torch.randn(cout, generator=torch.Generator().manual_seed(seed + 1))
    info = cr.ConstInfo(core, frame, torch.from_numpy(const))
    full = F.conv2d(x, wt, b, int(s), int(p), int(d), g)
    if min(full.shape[2:]) < 1:
        return
    cr_max, cr.MAX_FRACTION = cr.MAX_FRACTION, 1e9  # always take the region path here
    dy = torch.randn(full.shape, generator=torch.Generator().manual_seed(seed + 2))
    try:
        y, out = cr.conv2d_by_regions(x, info, wt, b, (s, s), (p, p), (d, d), g)
        gw = cr.weight_grad_by_regions(dy, x, info, wt, (s, s), (p, p), (d, d), g)
    finally:
        cr.MAX_FRACTION = cr_max
    _close(y.numpy(), full.numpy())
    if gw is not None:  # None only where the regions overlap
        wr = wt.clone().requires_grad_()
        F.conv2d(x, wr, b, int(s), int(p), int(d), g).backward(dy)
        _close(gw.numpy(), wr.grad.numpy())
    # the description of the output holds: outside core and frame, the constant
    mask = np.ones(full.shape[2:], bool)
    R0, R1, C0, C1 = out.core
    T, B, L, Rr = out.frame
    mask[R0:R1, C0:C1] = False
    mask[:T], mask[full.shape[2] - B :], mask[:, :L], mask[:, full.shape[3] - Rr :] = 0, 0, 0, 0
    expect = np.broadcast_to(out.const.numpy()[:, None, None], full.shape[1:])
    _close(full.numpy()[0][:, mask], expect[:, mask])


def _pair(param, **opts):
    a = caffe.Net(param, caffe.TEST, skip_const=True, **opts)
    b = caffe.Net(param, caffe.TEST, skip_const=False)
    fx.random_params(a)
    fx.random_params(b)
    return a, b


@pytest.mark.parametrize(
    "model,width,sizes",
    [
        ("voc-fcn8s", 1 / 16, [(1, 1), (37, 52), (131, 97)]),
        ("voc-fcn32s", 1 / 16, [(64, 64)]),
        ("voc-fcn-alexnet", 1 / 8, [(45, 77)]),
    ],
)
def test_skip_const_equals_plain_forward(model, width, sizes):
    a, b = _pair(zoo.build(model, "deploy", width=width))
    for h, w in sizes:
        x = fx.image(h, w) if min(h, w) > 1 else np.full((1, 3, h, w), 7.0, np.float32)
        a.forward(data=x)
        b.forward(data=x)
        for name in a.blobs:
            _close(a.blobs[name].data, b.blobs[name].data)
        if min(h, w) > 30:  # the region path really ran, on a strict part of the map
            strict = [
                name
                for name, info in a._cinfo.items()
                if (info.core[1] - info.core[0]) * (info.core[3] - info.core[2])
                < 0.8 * np.prod(a.blobs[name].shape[2:])
            ]
            assert strict


def test_training_with_skip_const_matches_plain():
    """Training forwards by regions and weight gradients by regions (conv1..conv3 at this
    size) give the same loss, blob data, parameter diffs and diffs above the poolings as the
    plain path; each path's MAX poolings route their diffs by Caffe's rule (tests/exactness.py:
    below a pooling, blob diffs depend on float-rounding ties in the constant areas)."""
    nets = []
    for skip in (True, False):
        net = fx.train_net(150, 130, seed=5, skip_const=skip)
        net.forward_backward()
        nets.append(net)
    tied = exact.assert_same_training(*nets, fx.train_param(150, 130, 1 / 16))
    assert "conv1_1" in tied and "fc7" not in tied


def test_skip_const_can_be_switched_off(monkeypatch):
    monkeypatch.setenv("TORCHCAFFE_SKIP_CONST", "0")
    net = caffe.Net(zoo.build("voc-fcn32s", "deploy", width=1 / 16), caffe.TEST)
    net.forward(data=fx.image(40, 40))
    assert not net.skip_const and not net._cinfo


def test_in_place_relu_training_matches_out_of_place():
    fast = fx.train_net(48, 56, seed=3)
    slow = fx.train_net(48, 56, seed=3)
    slow._relu_in_place = set()  # the plain path: ReLU writes a new tensor, autograd backward
    assert len(fast._relu_in_place) == 15  # every VGG ReLU (13 convs + fc6 + fc7)
    fast.forward_backward()
    slow.forward_backward()
    exact.assert_same_training(fast, slow, fx.train_param(48, 56, 1 / 16))


def test_in_place_relu_keeps_one_copy():
    net = fx.train_net(40, 40)
    net.forward()
    conv = net._layer_names.index("conv1_1")
    recorded_out = net._records[conv][2][0]
    # the ReLU overwrote the convolution's output: one buffer, as in Caffe
    assert recorded_out.data_ptr() == net.blobs["conv1_1"].data_tensor.data_ptr()
    assert float(net.blobs["conv1_1"].data.min()) >= 0
    net.backward()  # and the convolution's backward still works from it


def test_channels_last_matches_default():
    param = zoo.build("voc-fcn8s", "deploy", width=1 / 16)
    a = fx.torchcaffe_net(param, caffe.TEST, channels_last=True)
    b = fx.torchcaffe_net(param, caffe.TEST)
    x = fx.image(70, 90)
    ya = a.forward(data=x)["score"].copy()
    yb = b.forward(data=x)["score"].copy()
    _close(ya, yb)
    arr = a.blobs["conv2_1"].data
    arr[...] = 0  # a writable view of the engine's memory
    assert float(a.blobs["conv2_1"].data_tensor.abs().max()) == 0


@pytest.mark.parametrize("k,s,p,d", [(7, 1, 0, 1), (1, 1, 0, 1), (3, 2, 1, 1), (3, 1, 2, 2)])
def test_gemm_convolution_matches_autograd(k, s, p, d):
    """fc6/fc7-like layers (weights > 4x the map) run as im2col + GEMM, forward and backward."""
    from caffeio import caffe_pb2
    from torchcaffe.ops import REGISTRY, Context

    lp = caffe_pb2.LayerParameter(name="fc", type="Convolution", bottom=["x"], top=["y"])
    cp = lp.convolution_param
    cp.num_output, cp.kernel_size[:], cp.stride[:], cp.pad[:], cp.dilation[:] = (
        400,
        [k],
        [s],
        [p],
        [d],
    )
    impl = REGISTRY["Convolution"](lp, Context(1, torch.device("cpu"), None, "t"))
    g = torch.Generator().manual_seed(k + s + p + d)
    x = torch.randn(2, 6, 9, 8, generator=g)
    impl.param_shapes([tuple(x.shape)])
    w = torch.randn(400, 6, k, k, generator=g)
    b = torch.randn(400, generator=g)
    assert impl._gemm_ok(x, w)
    (y,) = impl.forward([x], [w, b])
    xr, wr, br = (t.clone().requires_grad_() for t in (x, w, b))
    yr = F.conv2d(xr, wr, br, s, p, d)
    _close(y.numpy(), yr.detach().numpy())
    dy = torch.randn(yr.shape, generator=g)
    yr.backward(dy)
    diffs = [torch.ones_like(w), torch.ones_like(b)]  # accumulates into what is there
    (gx,) = impl.backward_manual([dy], [x], [w, b], [True], [True, True], diffs)
    _close(gx.numpy(), xr.grad.numpy())
    _close(diffs[0].numpy() - 1, wr.grad.numpy())
    _close(diffs[1].numpy() - 1, br.grad.numpy())


def test_fix_malloc_thresholds_is_idempotent():
    from torchcaffe import memory

    first = memory.fix_malloc_thresholds()
    assert memory.fix_malloc_thresholds() == first


def test_malloc_threshold_from_env():
    from torchcaffe import memory

    assert memory.threshold_from_env("1") == 32 << 20
    assert memory.threshold_from_env("1048576") == 1 << 20
    with pytest.raises(ValueError, match="TORCHCAFFE_MALLOPT='32MB'"):
        memory.threshold_from_env("32MB")
