"""Persistent training buffers and banded convolutions (torchcaffe.bufpool) are exact and reused.

Training with the BufferPool (every map pooled: min_bytes 0, bands of a few rows) gives the same
losses, blob data and diffs, parameter diffs and weights as the plain path (buffers=False) over
several SGD steps whose input changes size (large, smaller, large again, larger); the pooled
maps keep their memory between iterations and grow only for a larger shape. No timings here.
"""

import exactness as exact
import numpy as np
import pytest
import torch

import caffeio
import torchcaffe
from bench import fixtures as fx
from torchcaffe import bufpool
from torchcaffe.ops.vision import caffe_pool2d

torch.set_num_threads(1)
SIZES = [(150, 130), (90, 110), (150, 130), (170, 150)]


def _close(a, b, rel=1e-4):
    scale = max(float(np.abs(b).max()), 1e-3)
    assert np.abs(a - b).max() <= rel * scale, (np.abs(a - b).max(), scale)


def _solver(tmp_path, monkeypatch, buffers, channels_last=True):
    monkeypatch.setenv("TORCHCAFFE_BUFFERS", "1" if buffers else "0")
    monkeypatch.setenv("TORCHCAFFE_CHANNELS_LAST", "1" if channels_last else "0")
    monkeypatch.setenv("TORCHCAFFE_BAND_MB", "0.002")  # ~2 KB bands: many per map
    torchcaffe.set_random_seed(7)
    h, w = SIZES[0]
    d = tmp_path / (("buf" if buffers else "plain") + ("_nhwc" if channels_last else "_nchw"))
    d.mkdir()
    netp = d / "train.prototxt"
    netp.write_text(caffeio.to_text(fx.train_param(h, w, 1 / 16)))
    solver = torchcaffe.SGDSolver(fx.write_sgd_solver(str(d), str(netp)))
    fx.random_params(solver.net)
    if buffers:
        assert solver.net.bufpool is not None
        solver.net.bufpool.min_bytes = 0  # pool every map, not just those of 4 MB and more
    else:
        assert solver.net.bufpool is None
    return solver


def _same_state(na, nb, h, w):
    """Loss, every blob's data, every parameter's data and diff, the diffs above the poolings:
    equal to rounding; each net's poolings route as Caffe does (tests/exactness.py)."""
    exact.assert_same_training(na, nb, fx.train_param(h, w, 1 / 16))


def _same_gradients(na, nb):
    """After a solver step the parameter diffs hold the lr-scaled update (lr 1e-14: below the
    comparison's floor), so at the end the raw weight gradients are compared: diffs cleared,
    one forward and backward on each net."""
    for net in (na, nb):
        for blobs in net.params.values():
            for p in blobs:
                p.diff[...] = 0
        net.forward()
        net.backward()
    for name in na.params:
        for i, (pa, pb) in enumerate(zip(na.params[name], nb.params[name])):
            assert np.abs(pb.diff).max() > 0 or name.startswith("upscore"), name
            exact.close(pa.diff, pb.diff, 1e-4, f"raw gradient {name}[{i}]")


def _feed(net, h, w):
    net.blobs["data"].reshape(1, 3, h, w)
    net.blobs["label"].reshape(1, 1, h, w)
    net.reshape()
    net.blobs["data"].data[...] = fx.image(h, w)
    net.blobs["label"].data[...] = fx.label(h, w)


def test_training_with_buffers_matches_plain_over_changing_sizes(tmp_path, monkeypatch):
    a = _solver(tmp_path, monkeypatch, True)
    b = _solver(tmp_path, monkeypatch, False)
    pool = a.net.bufpool
    ptrs, grows = [], []
    for h, w in SIZES:
        for s in (a, b):
            _feed(s.net, h, w)
            s.step(1)
        _same_state(a.net, b.net, h, w)
        ptrs.append(
            {
                n: a.net.blobs[n].data_tensor.data_ptr()
                for n in ("conv1_1", "conv1_2", "pool1", "conv2_1")
            }
        )
        ptrs[-1]["conv1_2 diff"] = a.net.blobs["conv1_2"].diff_tensor.data_ptr()
        grows.append(pool.grows)
    # the smaller and the equal input reuse the first iteration's memory; the larger one grows
    assert ptrs[1] == ptrs[0] and ptrs[2] == ptrs[0]
    assert grows[1] == grows[0] and grows[2] == grows[0] and grows[3] > grows[2]
    assert pool.reuses > 0
    _same_gradients(a.net, b.net)


def test_channels_last_training_matches_nchw_plain_over_changing_sizes(tmp_path, monkeypatch):
    """CPU training nets run NHWC by default (convolutions, ReLU, MAX pooling, their diffs, in
    the persistent buffers); over SGD steps whose input changes size they give the losses, blobs,
    diffs and weights of the NCHW path without buffers, up to float rounding."""
    a = _solver(tmp_path, monkeypatch, True, channels_last=True)
    b = _solver(tmp_path, monkeypatch, False, channels_last=False)
    assert a.net.channels_last and not b.net.channels_last
    cl = torch.channels_last
    for h, w in SIZES:
        for s in (a, b):
            _feed(s.net, h, w)
            s.step(1)
        for name in ("conv1_2", "pool1", "conv3_1", "pool5"):
            ta, tb = a.net.blobs[name].data_tensor, b.net.blobs[name].data_tensor
            assert ta.is_contiguous(memory_format=cl) and not ta.is_contiguous(), name
            assert tb.is_contiguous(), name
            if name != "pool5":  # (fc6's im2col + GEMM backward hands pool5 an NCHW diff)
                assert a.net.blobs[name].diff_tensor.is_contiguous(memory_format=cl), name
        _same_state(a.net, b.net, h, w)
    _same_gradients(a.net, b.net)


def test_buffers_on_for_cpu_nets_off_by_argument(monkeypatch):
    monkeypatch.delenv("TORCHCAFFE_BUFFERS", raising=False)
    assert fx.train_net(40, 40, buffers=False).bufpool is None
    assert fx.train_net(40, 40).bufpool is not None
    param = fx.deploy_param(1 / 16)
    assert fx.torchcaffe_net(param, torchcaffe.TEST).bufpool is not None
    assert fx.torchcaffe_net(param, torchcaffe.TEST, buffers=False).bufpool is None
    monkeypatch.setenv("TORCHCAFFE_BUFFERS", "0")
    assert fx.torchcaffe_net(param, torchcaffe.TEST).bufpool is None


def test_inference_with_buffers_equals_without_as_sizes_change(monkeypatch):
    """Inference nets keep their convolutions by regions in grow-only buffers (NHWC views in
    the default channels_last layout): every output equals a net without buffers, up to float
    rounding (oneDNN's NHWC kernels block a band differently from the whole map), while the
    input grows and shrinks, and the pool is reused, not re-grown, for a smaller image."""
    monkeypatch.setenv("TORCHCAFFE_BUFFERS_MIN_MB", "0")
    monkeypatch.setenv("TORCHCAFFE_BAND_MB", "0.05")  # several bands per map
    param = fx.deploy_param(1 / 8)
    pooled = fx.torchcaffe_net(param, torchcaffe.TEST)
    plain = fx.torchcaffe_net(param, torchcaffe.TEST, buffers=False)
    assert pooled.channels_last and pooled.bufpool is not None
    for h, w in ((60, 70), (90, 84), (48, 52), (90, 84)):
        x = fx.image(h, w)
        a = pooled.forward(data=x)["score"].copy()
        b = plain.forward(data=x)["score"]
        assert a.shape == b.shape == (1, 21, h, w)
        assert np.abs(a - b).max() <= 1e-5 * np.abs(b).max()
        if (h, w) == (48, 52):
            grows = pooled.bufpool.grows
    assert pooled.bufpool.grows == grows and pooled.bufpool.reuses > 0


def test_pool_hands_out_channels_last_views():
    pool = bufpool.BufferPool(min_bytes=0)
    y = pool.empty("a", (2, 3, 4, 5), memory_format=torch.channels_last)
    assert y.shape == (2, 3, 4, 5) and y.is_contiguous(memory_format=torch.channels_last)
    z = pool.empty("a", (2, 3, 4, 5))
    assert z.is_contiguous() and z.data_ptr() == y.data_ptr()


def test_pool_hands_out_views_and_grows_only_for_larger_shapes():
    pool = bufpool.BufferPool(min_bytes=0)
    x = pool.empty("a", (2, 3, 4))
    y = pool.empty("a", (5, 4))
    assert y.data_ptr() == x.data_ptr() and pool.grows == 1 and pool.reuses == 1
    z = pool.empty("a", (5, 5))
    assert pool.grows == 2 and z.shape == (5, 5)
    i = pool.empty("a", (3,), torch.int64)  # another dtype: its own buffer
    assert i.dtype == torch.int64 and pool.grows == 3
    assert pool.empty("b", (1,)).data_ptr() != pool.empty("a", (1,), torch.int64).data_ptr()
    small = bufpool.BufferPool().empty("c", (4, 4))  # below 4 MB: a plain tensor
    assert small.shape == (4, 4)


@pytest.mark.parametrize("seed", range(12))
def test_banded_input_gradient_equals_convolution_backward(seed):
    g = torch.Generator().manual_seed(seed)
    rng = np.random.default_rng(seed)
    k = int(rng.integers(1, 6))
    p = int(rng.integers(0, k))
    groups = int(rng.choice([1, 2]))
    h, w = (int(v) for v in rng.integers(max(1, k - 2 * p), 40, 2))
    x = torch.randn(1, 2 * groups, h, w, generator=g)
    wt = torch.randn(3 * groups, 2, k, k, generator=g)
    d = torch.randn(1, 3 * groups, h + 2 * p - k + 1, w + 2 * p - k + 1, generator=g)
    ref = torch.ops.aten.convolution_backward(
        d, x, wt, None, [1, 1], [p, p], [1, 1], False, [0, 0], groups, [True, False, False]
    )[0]
    out = torch.full_like(x, float("nan"))  # every element must be written
    limit = int(rng.integers(1, 4)) * x.shape[1] * w * 4  # 1 to 3 rows per band
    got = bufpool.conv_input_grad(d, wt, x.shape, (1, 1), (p, p), (1, 1), groups, out, limit)
    assert got is out
    torch.testing.assert_close(got, ref, rtol=1e-5, atol=1e-5)


def test_banded_input_gradient_declines_other_geometries():
    d = torch.zeros(1, 2, 5, 5)
    wt = torch.zeros(2, 2, 3, 3)
    assert bufpool.conv_input_grad(d, wt, (1, 2, 11, 11), (2, 2), (1, 1), (1, 1), 1) is None
    assert bufpool.conv_input_grad(d, wt, (1, 2, 9, 9), (1, 1), (1, 1), (2, 2), 1) is None


@pytest.mark.parametrize("nhwc", [False, True])
@pytest.mark.parametrize(
    "k,s,p,hw", [(2, 2, 0, (13, 17)), (2, 2, 0, (12, 9)), (3, 2, 1, (14, 9)), (3, 1, 1, (8, 8))]
)
def test_manual_max_pooling_equals_autograd(k, s, p, hw, nhwc, monkeypatch):
    """Training MAX pooling (forward_manual / backward_manual) equals autograd through
    caffe_pool2d bit for bit, NCHW or NHWC (channels_last training: tiling windows go by runs of
    output rows, forced here to one row each; overlapping ones by aten's int64 indices), into
    buffers holding stale values, and keeps the map's layout."""
    from caffeio import caffe_pb2
    from torchcaffe.ops.base import Context
    from torchcaffe.ops.vision import Pooling

    lp = caffe_pb2.LayerParameter(name="pool", type="Pooling", bottom=["x"], top=["y"])
    lp.pooling_param.pool = caffe_pb2.PoolingParameter.MAX
    lp.pooling_param.kernel_size, lp.pooling_param.stride, lp.pooling_param.pad = k, s, p
    layer = Pooling(lp, Context(0, torch.device("cpu"), None, "test"))
    pool = bufpool.BufferPool(min_bytes=0)

    def alloc(shape, dtype=torch.float32, part=0, memory_format=torch.contiguous_format):
        t = pool.empty(("pool", part), shape, dtype, memory_format=memory_format)
        return t.fill_(7) if dtype == torch.float32 else t.fill_(-1)  # stale contents

    from torchcaffe.ops import vision

    rows = vision._row_chunks
    monkeypatch.setattr(vision, "_row_chunks", lambda shape: rows(shape, nbytes=1))
    x = torch.randn(2, 3, *hw, generator=torch.Generator().manual_seed(k + s))
    if nhwc:
        x = x.contiguous(memory_format=torch.channels_last)
    res = layer.forward_manual([x], alloc)
    assert res is not None
    (y,), idx = res
    cl = torch.channels_last
    assert y.is_contiguous(memory_format=cl) == nhwc and y.is_contiguous() != nhwc
    tiles = k == s and p == 0
    assert idx.dtype == (torch.uint8 if tiles or not nhwc else torch.int64)
    xr = x.clone().requires_grad_(True)
    ref = caffe_pool2d(xr, "MAX", (k, k), (p, p), (s, s))
    torch.testing.assert_close(y, ref.detach(), rtol=0, atol=0)
    dy = torch.randn(ref.shape)
    (gref,) = torch.autograd.grad(ref, xr, dy)
    (gi,) = layer.backward_manual([dy], [x], [], [True], [], [], idx, alloc)
    torch.testing.assert_close(gi, gref, rtol=0, atol=0)
    assert gi.is_contiguous(memory_format=cl) == nhwc


@pytest.mark.parametrize("seed", range(8))
def test_pooling_keeps_byte_offsets_and_backward_is_unchanged(seed, monkeypatch):
    """Training MAX pooling keeps each maximum's offset in its window as one byte (not aten's
    int64 index): the offsets map back to aten's indices exactly, and the bottom diff equals
    autograd's through F.max_pool2d bit for bit, chunked or not, with padding and ceil mode."""
    from torchcaffe.ops import vision

    rng = np.random.default_rng(seed)
    k = int(rng.integers(2, 4))
    s = int(rng.integers(1, k + 1))
    p = int(rng.integers(0, k // 2 + 1))
    n, c, h, w = int(rng.integers(1, 3)), int(rng.integers(1, 6)), *rng.integers(k + 2, 30, 2)
    x = torch.from_numpy(rng.standard_normal((n, c, h, w)).astype(np.float32))
    y_ref, idx = torch.nn.functional.max_pool2d(x, k, s, p, return_indices=True)
    off = vision._window_offsets(idx, int(w), (k, k), (p, p), (s, s))
    assert off.dtype == torch.uint8 and int(off.max()) < k * k
    back = vision._flat_indices(off, int(w), (k, k), (p, p), (s, s))
    assert torch.equal(back, idx)
    if seed % 2:  # chunks of a single channel
        chunks = vision._chunks
        monkeypatch.setattr(vision, "_chunks", lambda shape: chunks(shape, nbytes=1))
    from caffeio import caffe_pb2
    from torchcaffe.ops.base import Context

    lp = caffe_pb2.LayerParameter(name="pool", type="Pooling", bottom=["x"], top=["y"])
    lp.pooling_param.pool = caffe_pb2.PoolingParameter.MAX
    lp.pooling_param.kernel_size, lp.pooling_param.stride, lp.pooling_param.pad = k, s, p
    impl = vision.Pooling(lp, Context(0, torch.device("cpu"), None, "test"))

    def alloc(shape, dtype=torch.float32, part=0, memory_format=torch.contiguous_format):
        return torch.empty(shape, dtype=dtype, memory_format=memory_format)

    if seed % 4 >= 2:  # an NHWC map (channels_last training)
        x = x.contiguous(memory_format=torch.channels_last)
    res = impl.forward_manual([x], alloc)
    if res is None:  # a geometry Caffe pools differently from torch: not this path
        return
    (y,), kept = res
    xr = x.clone().requires_grad_(True)
    yr = caffe_pool2d(xr, "MAX", (k, k), (p, p), (s, s))
    nhwc = vision.memory_format_of(x) == torch.channels_last
    overlap_nhwc = nhwc and not vision._tiles((k, k), (p, p), (s, s))
    assert torch.equal(y, yr.detach())
    assert kept.dtype == (torch.int64 if overlap_nhwc else torch.uint8)
    d = torch.from_numpy(rng.standard_normal(tuple(y.shape)).astype(np.float32))
    (gref,) = torch.autograd.grad(yr, xr, d)
    (gi,) = impl.backward_manual([d], [x], [], [True], [], [], kept, alloc)
    assert torch.equal(gi, gref)


@pytest.mark.parametrize("k,s,p,cin,cout", [(1, 2, 0, 8, 4), (1, 2, 0, 64, 32), (3, 2, 1, 8, 4)])
def test_nhwc_conv_backward_equals_nchw_autograd(k, s, p, cin, cout):
    """Convolution.backward_manual on NHWC maps (channels_last training) equals autograd on
    NCHW ones. The 1x1 stride-2 case with few channels goes by the subsampled stride-1
    convolution: torch 2.13's own NHWC weight gradient there writes out of bounds (a script
    calling it ten times at 8 -> 4 channels, 80 x 80, dies with a glibc heap error; the FCN-ResNet
    training test died in res3a_branch1)."""
    from caffeio import caffe_pb2
    from torchcaffe.ops.base import Context
    from torchcaffe.ops.vision import Convolution

    lp = caffe_pb2.LayerParameter(name="c", type="Convolution", bottom=["x"], top=["y"])
    cp = lp.convolution_param
    cp.num_output, cp.kernel_size[:], cp.stride[:], cp.pad[:] = cout, [k], [s], [p]
    layer = Convolution(lp, Context(0, torch.device("cpu"), None, "test"))
    g = torch.Generator().manual_seed(k * 10 + cin)
    x = torch.randn(1, cin, 80, 79, generator=g)
    assert [t[0] for t in layer.param_shapes([tuple(x.shape)])] == [(cout, cin, k, k), (cout,)]
    w, b = torch.randn(cout, cin, k, k, generator=g), torch.randn(cout, generator=g)
    xr, wr, br = (t.clone().requires_grad_(True) for t in (x, w, b))
    y = torch.nn.functional.conv2d(xr, wr, br, s, p)
    d = torch.randn(y.shape, generator=g)
    gx, gw, gb = torch.autograd.grad(y, (xr, wr, br), d)
    cl = torch.channels_last
    diffs = [torch.zeros_like(w), torch.zeros_like(b)]
    for _ in range(3):
        diffs[0].zero_(), diffs[1].zero_()
        (gi,) = layer.backward_manual(
            [d.contiguous(memory_format=cl)], [x.contiguous(memory_format=cl)], [w, b],
            [True], [True, True], diffs,
        )  # fmt: skip
        torch.testing.assert_close(gi, gx, rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(diffs[0], gw, rtol=1e-4, atol=1e-4)
        torch.testing.assert_close(diffs[1], gb, rtol=1e-4, atol=1e-4)  # sums of ~1600


@pytest.mark.parametrize("p", [0, 1, 2])
@pytest.mark.parametrize("nhwc", [True, False])
@pytest.mark.parametrize("pooled", [True, False])
def test_winograd_bottom_diff_equals_autograd(monkeypatch, p, nhwc, pooled):
    """With the net's winograd setting the 3x3 bottom diff goes by F(2x2) (the rotated filters'
    stride-1 convolution, padding 2 - pad): equal to autograd's within float rounding, in the
    memory `alloc` gives when there is one; the weight and bias diffs are aten's as before."""
    from caffeio import caffe_pb2
    from torchcaffe import winograd
    from torchcaffe.ops.base import Context
    from torchcaffe.ops.vision import Convolution

    calls = []
    monkeypatch.setattr(winograd, "exact_tile", lambda *a, **kw: calls.append(a) or 2)
    lp = caffe_pb2.LayerParameter(name="c", type="Convolution", bottom=["x"], top=["y"])
    cp = lp.convolution_param
    cp.num_output, cp.kernel_size[:], cp.pad[:] = 12, [3], [p]
    layer = Convolution(lp, Context(0, torch.device("cpu"), None, "test"))
    g = torch.Generator().manual_seed(p)
    x = torch.randn(1, 10, 37, 30, generator=g)
    assert [t[0] for t in layer.param_shapes([tuple(x.shape)])] == [(12, 10, 3, 3), (12,)]
    w, b = torch.randn(12, 10, 3, 3, generator=g), torch.randn(12, generator=g)
    xr, wr, br = (t.clone().requires_grad_(True) for t in (x, w, b))
    y = torch.nn.functional.conv2d(xr, wr, br, 1, p)
    d = torch.randn(y.shape, generator=g)
    gx, gw, gb = torch.autograd.grad(y, (xr, wr, br), d)
    fmt = torch.channels_last if nhwc else torch.contiguous_format
    kept = []

    def alloc(shape, dtype=torch.float32, part=0, memory_format=torch.contiguous_format):
        kept.append(torch.empty(shape, dtype=dtype, memory_format=memory_format))
        return kept[-1]

    diffs = [torch.zeros_like(w), torch.zeros_like(b)]
    (gi,) = layer.backward_manual(
        [d.contiguous(memory_format=fmt)], [x.contiguous(memory_format=fmt)], [w, b],
        [True], [True, True], diffs, None, alloc if pooled else None, None, winograd=2,
    )  # fmt: skip
    assert calls == [(12, 10, 37, 30)]
    torch.testing.assert_close(gi, gx, rtol=1e-5, atol=1e-5)
    if pooled:
        assert gi.data_ptr() == kept[0].data_ptr() and gi.is_contiguous(memory_format=fmt)
    torch.testing.assert_close(diffs[0], gw, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(diffs[1], gb, rtol=1e-4, atol=1e-4)
    diffs[0].zero_()  # winograd off: aten's bottom diff, exact_tile not asked
    layer.backward_manual([d], [x], [w, b], [True], [True, False], diffs, winograd=0)
    assert len(calls) == 1
