# ruff: noqa: E501  (prototxt one-liners read better unbroken)
"""The layer types beyond the FCN set (every other BVLC master type), without pycaffe: forward
against float64 NumPy references written from Caffe's formulas, gradients against central
differences of those references, Caffe's in-place and propagate_down rules, and the errors
where Caffe stops (tests/pycaffe/test_pycaffe_layertypes.py compares the same layers with
real Caffe)."""

import numpy as np
import pytest
import torch
from test_torchcaffe_ref import assert_close, np_pool, numeric_grad, one_layer_net, run_layer

import torchcaffe as caffe
from caffeio import caffe_pb2

torch.set_num_threads(1)
RNG = np.random.default_rng(0)

BVLC_TYPES = """AbsVal Accuracy ArgMax BNLL BatchNorm BatchReindex Bias Clip Concat ContrastiveLoss
Convolution Crop Data Deconvolution Dropout DummyData ELU Eltwise Embed EuclideanLoss Exp Filter
Flatten HDF5Data HDF5Output HingeLoss Im2col ImageData InfogainLoss InnerProduct Input LRN LSTM
LSTMUnit Log MVN MemoryData MultinomialLogisticLoss PReLU Parameter Pooling Power Python RNN ReLU
Reduction Reshape SPP Scale Sigmoid SigmoidCrossEntropyLoss Silence Slice Softmax
SoftmaxWithLoss Split Swish TanH Threshold Tile WindowData""".split()


def rand(*shape, scale=1.0):
    return (RNG.standard_normal(shape) * scale).astype(np.float32)


def check(f, inputs, got, g, names, rtol=2e-4):
    """Numeric gradients of sum(f(*inputs) * g) against torchcaffe's diffs `got`."""
    for k, name in enumerate(names):

        def fk(v, k=k):
            args = [np.asarray(a, np.float64) for a in inputs]
            args[k] = v
            return f(*args)

        assert_close(got[k], numeric_grad(fk, inputs[k], g), rtol, f"gradient of {name}")


def layer(text):
    return f'layer {{ name: "L" {text} }}'


def test_every_bvlc_master_type_is_registered():
    assert sorted(caffe.layer_type_list()) == sorted(BVLC_TYPES)
    assert len(caffe.layer_type_list()) == 61


def test_recurrent_param_schema():
    """RecurrentParameter as BVLC numbers it (LayerParameter field 146)."""
    lp = caffe_pb2.LayerParameter.DESCRIPTOR.fields_by_name["recurrent_param"]
    assert lp.number == 146
    fields = {f.name: f.number for f in caffe_pb2.RecurrentParameter.DESCRIPTOR.fields}
    assert fields == dict(
        num_output=1, weight_filler=2, bias_filler=3, debug_info=4, expose_hidden=5
    )
    p = caffe_pb2.RecurrentParameter()
    assert (p.num_output, p.debug_info, p.expose_hidden) == (0, False, False)


# ------------------------------------------------------------------ element-wise
def sig(x):
    return 1 / (1 + np.exp(-x))


UNARY = [
    ('type: "AbsVal"', lambda x: np.abs(x), {}),
    ('type: "BNLL"', lambda x: np.logaddexp(0, x), {}),
    ('type: "Clip" clip_param { min: -0.7 max: 1.1 }', lambda x: np.clip(x, -0.7, 1.1), {}),
    (
        'type: "ELU" elu_param { alpha: 0.6 }',
        lambda x: np.where(x > 0, x, 0.6 * (np.exp(x) - 1)),
        {},
    ),
    ('type: "Swish" swish_param { beta: 1.7 }', lambda x: x * sig(1.7 * x), {}),
    ('type: "Exp"', np.exp, {}),
    (
        'type: "Exp" exp_param { base: 2 scale: 0.5 shift: -0.25 }',
        lambda x: 2 ** (0.5 * x - 0.25),
        {},
    ),
    (
        'type: "Log" log_param { scale: 2 shift: -0.1 }',
        lambda x: np.log(2 * x - 0.1),
        {"positive": True},
    ),
    ('type: "Log" log_param { base: 10 }', lambda x: np.log10(x), {"positive": True}),
    (
        'type: "Power" power_param { power: 2 scale: 0.5 shift: 1 }',
        lambda x: (1 + 0.5 * x) ** 2,
        {},
    ),
    ('type: "Power" power_param { power: 3 scale: -2 }', lambda x: (-2 * x) ** 3, {}),
    (
        'type: "Power" power_param { power: 0.5 scale: 1.5 shift: 0.2 }',
        lambda x: (0.2 + 1.5 * x) ** 0.5,
        {"positive": True},
    ),
    ('type: "Power" power_param { power: 1 scale: 3 shift: 1 }', lambda x: 3 * x + 1, {}),
]


@pytest.mark.parametrize(
    "text,f,opts", UNARY, ids=[u[0].split('"')[1] + str(i) for i, u in enumerate(UNARY)]
)
def test_elementwise_forward_and_gradient(text, f, opts):
    x = rand(2, 3, 4, scale=2)
    if opts.get("positive"):
        x = np.abs(x) + 0.2
    x[np.abs(x) < 0.05] = 0.3  # keep central differences off the kinks
    x[np.abs(np.abs(x) - 0.7) < 0.05] = 0.3
    x[np.abs(x - 1.1) < 0.05] = 0.3
    _, tops, bd, _, g = run_layer(caffe, layer(f'{text} bottom: "x" top: "y"'), {"x": x})
    assert_close(tops["y"], f(x.astype(np.float64)), 2e-6, text)
    check(f, [x], [bd["x"]], g["y"], ["x"])


def test_bnll_large_inputs_and_threshold_of_its_gradient():
    x = np.array([[-80.0, -50.0, 0.0, 49.0, 51.0, 90.0]], np.float32)
    _, tops, bd, _, g = run_layer(caffe, layer('type: "BNLL" bottom: "x" top: "y"'), {"x": x})
    assert np.isfinite(tops["y"]).all()
    assert_close(tops["y"], np.logaddexp(0, x.astype(np.float64)), 1e-7, "bnll")
    e = np.exp(np.minimum(x.astype(np.float64), 50))  # Caffe caps the exponent at 50
    assert_close(bd["x"], g["y"] * e / (e + 1), 1e-6, "bnll diff")


def test_prelu_slopes_per_channel_and_shared():
    x = rand(2, 3, 4, 5)
    for shared, slope in ((False, rand(3)), (True, rand())):
        text = f'type: "PReLU" bottom: "x" top: "y" prelu_param {{ channel_shared: {str(shared).lower()} }}'
        net, tops, bd, pd, g = run_layer(caffe, layer(text), {"x": x}, [np.asarray(slope)])
        a = np.asarray(slope, np.float64).reshape((1, -1, 1, 1) if not shared else ())

        def f(x_, a_, shared=shared):
            a_ = np.asarray(a_).reshape((1, -1, 1, 1) if not shared else ())
            return np.maximum(x_, 0) + a_ * np.minimum(x_, 0)

        assert net.params["L"][0].data.shape == (() if shared else (3,))
        assert_close(tops["y"], f(x, a), 1e-6, "prelu")
        check(f, [x, np.asarray(slope)], [bd["x"], pd[0]], g["y"], ["x", "slope"])


def test_prelu_default_slope_is_quarter():
    net = caffe.Net(
        one_layer_net(layer('type: "PReLU" bottom: "x" top: "y"'), {"x": rand(2, 3)}, None),
        caffe.TEST,
    )
    assert (net.params["L"][0].data == 0.25).all()


def test_threshold_forward_and_no_backward():
    x = rand(3, 4)
    x[0, 0] = 0.5
    text = layer('type: "Threshold" bottom: "x" top: "y" threshold_param { threshold: 0.5 }')
    net = caffe.Net(one_layer_net(text, {"x": x}, None, force_backward=False), caffe.TEST)
    net.blobs["x"].data[...] = x
    assert np.array_equal(net.forward()["y"], (x > 0.5).astype(np.float32))
    net = caffe.Net(one_layer_net(text, {"x": x}, None), caffe.TEST)  # force_backward
    net.forward()
    with pytest.raises(caffe.NetError, match=r"layer 'L'.*Threshold has no backward"):
        net.backward()


def _in_place_diff(text, x, g):
    net = caffe.Net(
        one_layer_net(layer(text + ' bottom: "x" top: "x"'), {"x": x}, None), caffe.TEST
    )
    net.blobs["x"].data[...] = x
    net.forward()
    y = net.blobs["x"].data.copy()
    net.blobs["x"].diff[...] = g
    net.backward()
    return y, net.blobs["x"].diff.copy()


def test_in_place_reads_the_overwritten_bottom_as_caffe_does():
    """In place, Caffe's backward reads the bottom data after forward overwrote it (the top):
    Clip passes every diff, BNLL uses exp(y); Log and Power also write their factor into the
    shared diff buffer first, so their bottom diff is factor(y)^2 whatever the top diff."""
    x = rand(3, 5, scale=2)
    g = rand(3, 5)
    y, d = _in_place_diff('type: "Clip" clip_param { min: -0.5 max: 0.5 }', x, g)
    assert np.array_equal(d, g)
    y, d = _in_place_diff('type: "BNLL"', x, g)
    e = np.exp(np.minimum(y.astype(np.float64), 50))
    assert_close(d, g * e / (e + 1), 1e-6, "bnll in place")
    xp = np.abs(x) + 0.5
    y, d = _in_place_diff('type: "Log" log_param { scale: 2 shift: 1 }', xp, g)
    assert_close(d, (2 / (2 * y.astype(np.float64) + 1)) ** 2, 1e-6, "log in place")
    y, d = _in_place_diff('type: "Power" power_param { power: 3 scale: 2 shift: 1 }', xp, g)
    yy = y.astype(np.float64)
    assert_close(d, (6 * yy / (2 * yy + 1)) ** 2, 1e-5, "power in place")
    # ELU, Swish, PReLU, Exp: in place gives the true gradient
    for text in ('type: "ELU"', 'type: "Swish"', 'type: "PReLU"', 'type: "Exp"'):
        _, d_in = _in_place_diff(text, x, g)
        _, _, bd, _, _ = run_layer(
            caffe, layer(text + ' bottom: "x" top: "y"'), {"x": x}, top_diffs={"y": g}
        )
        assert_close(d_in, bd["x"], 1e-6, text)


def test_absval_refuses_in_place():
    with pytest.raises(caffe.NetError, match=r"layer 'L'.*AbsVal does not allow in-place"):
        caffe.Net(
            one_layer_net(layer('type: "AbsVal" bottom: "x" top: "x"'), {"x": rand(2)}, None),
            caffe.TEST,
        )


@pytest.mark.parametrize("text,err", [
    ('type: "Exp" exp_param { base: -2 }', "base must be strictly positive"),
    ('type: "Log" log_param { base: 1 }', "1/log"),
    ('type: "PReLU"', ">= 2 axes"),
])  # fmt: skip
def test_bad_parameters_name_the_layer(text, err):
    with pytest.raises(caffe.NetError, match=f"layer 'L'.*{err}"):
        caffe.Net(
            one_layer_net(layer(text + ' bottom: "x" top: "y"'), {"x": rand(4)}, None), caffe.TEST
        )


# ------------------------------------------------------------------ losses
@pytest.mark.parametrize("weight", [1.0, 2.5])
def test_euclidean_loss_both_bottoms(weight):
    a, b = rand(3, 4), rand(3, 2, 2)
    text = layer(f'type: "EuclideanLoss" bottom: "a" bottom: "b" top: "l" loss_weight: {weight}')
    net = caffe.Net(one_layer_net(text, {"a": a, "b": b}, None), caffe.TEST)
    net.blobs["a"].data[...] = a
    net.blobs["b"].data[...] = b
    loss = net.forward()["l"]

    def f(a_, b_):
        return np.sum((a_ - b_.reshape(a_.shape)) ** 2) / 3 / 2

    assert loss.shape == () and abs(loss - f(a, b)) < 1e-5 * f(a, b)
    net.backward()
    check(
        lambda a_, b_: weight * f(a_, b_),
        [a, b],
        [net.blobs["a"].diff, net.blobs["b"].diff],
        1.0,
        ["a", "b"],
    )


@pytest.mark.parametrize("legacy", [False, True])
def test_contrastive_loss(legacy):
    a, b = rand(6, 3), rand(6, 3)
    y = np.array([1, 0, 0, 1, 0, 0.7], np.float32)  # 0.7: int 0, dissimilar
    margin = 2.0 if not legacy else 4.0
    text = f'type: "ContrastiveLoss" bottom: "a" bottom: "b" bottom: "y" top: "l" contrastive_loss_param {{ margin: {margin} legacy_version: {str(legacy).lower()} }}'
    _, tops, bd, _, g = run_layer(caffe, layer(text), {"a": a, "b": b, "y": y})

    def f(a_, b_):
        d2 = np.sum((a_ - b_) ** 2, 1)
        sim = y.astype(int) != 0
        dis = np.maximum(margin - d2, 0) if legacy else np.maximum(margin - np.sqrt(d2), 0) ** 2
        return np.sum(np.where(sim, d2, dis)) / len(y) / 2

    assert abs(tops["l"] - f(a, b)) < 1e-5 * f(a, b)
    # Caffe's non-legacy gradient divides by d + 1e-4, not d: equal to about 1e-4
    check(f, [a, b], [bd["a"], bd["b"]], g["l"], ["a", "b"], rtol=2e-4 if legacy else 2e-3)
    assert not bd["y"].any()


@pytest.mark.parametrize("norm", ["L1", "L2"])
def test_hinge_loss(norm):
    x = rand(4, 5)
    y = np.array([0, 3, 4, 1], np.float32)
    text = f'type: "HingeLoss" bottom: "x" bottom: "y" top: "l" hinge_loss_param {{ norm: {norm} }}'
    _, tops, bd, _, g = run_layer(caffe, layer(text), {"x": x, "y": y})

    def f(x_):
        s = -np.ones_like(x_)
        s[np.arange(4), y.astype(int)] = 1
        t = np.maximum(0, 1 - s * x_)
        return (np.abs(t).sum() if norm == "L1" else (t * t).sum()) / 4

    assert abs(tops["l"] - f(x)) < 1e-5 * f(x)
    check(f, [x], [bd["x"]], g["l"], ["x"])


def test_multinomial_logistic_loss():
    p = RNG.uniform(0.05, 1, (4, 3)).astype(np.float32)
    y = np.array([0, 2, 1, 2], np.float32).reshape(4, 1, 1, 1)
    _, tops, bd, _, g = run_layer(
        caffe,
        layer('type: "MultinomialLogisticLoss" bottom: "p" bottom: "y" top: "l"'),
        {"p": p, "y": y},
    )

    def f(p_):
        return -np.log(np.maximum(p_[np.arange(4), y.ravel().astype(int)], 1e-20)).sum() / 4

    assert abs(tops["l"] - f(p)) < 1e-6 * f(p)
    check(f, [p], [bd["p"]], g["l"], ["p"])


@pytest.mark.parametrize("lp,mode", [
    ("", "BATCH_SIZE"),
    ("loss_param { normalize: true ignore_label: -1 }", "VALID"),
    ("loss_param { normalization: FULL ignore_label: -1 }", "FULL"),
    ("loss_param { normalization: NONE }", "NONE"),
])  # fmt: skip
def test_sigmoid_cross_entropy_loss(lp, mode):
    x = rand(3, 2, 4, scale=3)
    t = RNG.uniform(0, 1, x.shape).astype(np.float32)
    if "ignore" in lp:
        t.ravel()[::5] = -1
    _, tops, bd, _, g = run_layer(
        caffe,
        layer(f'type: "SigmoidCrossEntropyLoss" bottom: "x" bottom: "t" top: "l" {lp}'),
        {"x": x, "t": t},
    )
    valid = (t.astype(int) != -1) if "ignore" in lp else np.ones(t.shape, bool)
    norm = {"BATCH_SIZE": 3, "VALID": valid.sum(), "FULL": t.size, "NONE": 1}[mode]

    def f(x_):
        p = sig(x_)
        return -np.sum(np.where(valid, t * np.log(p) + (1 - t) * np.log(1 - p), 0)) / norm

    assert abs(tops["l"] - f(x)) < 1e-5 * abs(f(x))
    check(f, [x], [bd["x"]], g["l"], ["x"])


def _np_softmax(x, axis):
    e = np.exp(x - x.max(axis, keepdims=True))
    return e / e.sum(axis, keepdims=True)


@pytest.mark.parametrize("axis", [1, -1])
def test_infogain_loss(axis, tmp_path):
    c = 3
    x = rand(2, c, 4) if axis == 1 else rand(2, 4, c)
    y = RNG.integers(0, c, (2, 4)).astype(np.float32)
    y[0, 1] = 5  # ignored
    h = RNG.uniform(0, 2, (c, c)).astype(np.float32)
    path = tmp_path / "H.binaryproto"
    import caffeio

    path.write_bytes(caffeio.array_to_blob(h.reshape(1, 1, c, c)).SerializeToString())
    text = f'type: "InfogainLoss" bottom: "x" bottom: "y" top: "l" top: "p" loss_weight: 1 loss_weight: 0 infogain_loss_param {{ source: "{path}" axis: {axis} }} loss_param {{ ignore_label: 5 }}'
    _, tops, bd, _, g = run_layer(
        caffe,
        layer(text),
        {"x": x, "y": y},
        top_diffs={"l": np.float32(1.5), "p": np.zeros_like(x)},
    )
    ax = 1 if axis == 1 else 2
    valid = y.astype(int) != 5

    def f(x_):
        p = np.moveaxis(_np_softmax(x_, ax), ax, -1)  # (2, 4, c)
        lab = np.where(valid, y, 0).astype(int)
        per = -(h[lab] * np.log(np.maximum(p, 1e-20))).sum(-1)
        return np.sum(np.where(valid, per, 0)) / valid.sum()

    assert abs(tops["l"] - f(x)) < 1e-5 * f(x)
    assert_close(tops["p"], _np_softmax(x.astype(np.float64), ax), 1e-6, "probabilities")
    check(f, [x], [bd["x"]], 1.5, ["x"])


def test_infogain_needs_loss_weights_for_two_tops_and_refuses_normalize():
    x, y = rand(2, 3), np.zeros(2, np.float32)
    for text, err in (
        ('top: "l" top: "p"', "loss_weight once per top"),
        ('top: "l" loss_param { normalize: true }', "normalize is deprecated"),
    ):
        full = layer(f'type: "InfogainLoss" bottom: "x" bottom: "y" bottom: "h" {text}')
        with pytest.raises(caffe.NetError, match=err):
            caffe.Net(
                one_layer_net(full, {"x": x, "y": y, "h": np.eye(3, dtype=np.float32)}, None),
                caffe.TEST,
            )


def test_losses_refuse_backward_to_labels():
    """Caffe stops (a fatal check) when asked to backpropagate to labels: an error here."""
    x, y = rand(2, 3), np.array([0, 2], np.float32)
    for t in ("HingeLoss", "MultinomialLogisticLoss", "SigmoidCrossEntropyLoss", "InfogainLoss"):
        b = {"x": np.abs(x), "y": y if t != "SigmoidCrossEntropyLoss" else np.abs(x)}
        extra = ' bottom: "h"' if t == "InfogainLoss" else ""
        if extra:
            b["h"] = np.eye(3, dtype=np.float32)
        text = layer(
            f'type: "{t}" bottom: "x" bottom: "y"{extra} top: "l" propagate_down: true propagate_down: true'
            + (" propagate_down: false" if extra else "")
        )
        net = caffe.Net(one_layer_net(text, b, None), caffe.TEST)
        for k, v in b.items():
            net.blobs[k].data[...] = v
        net.forward()
        with pytest.raises(
            caffe.NetError, match=rf"layer 'L'.*{t} cannot backpropagate to bottom 1 'y'"
        ):
            net.backward()


def test_loss_label_out_of_range_is_an_error():
    text = layer('type: "HingeLoss" bottom: "x" bottom: "y" top: "l"')
    net = caffe.Net(
        one_layer_net(text, {"x": rand(2, 3), "y": np.zeros(2, np.float32)}, None), caffe.TEST
    )
    net.blobs["y"].data[...] = [0, 3]
    with pytest.raises(caffe.NetError, match=r"label value 3 .*outside 0\.\.2"):
        net.forward()


# ------------------------------------------------------------------ reductions and shapes
@pytest.mark.parametrize(
    "nv,ac,eps", [(True, False, 1e-9), (True, True, 1e-9), (False, False, 1e-9), (False, True, 0.1)]
)
def test_mvn(nv, ac, eps):
    x = rand(2, 3, 4, 5, scale=2)
    text = f'type: "MVN" bottom: "x" top: "y" mvn_param {{ normalize_variance: {str(nv).lower()} across_channels: {str(ac).lower()} eps: {eps} }}'
    _, tops, bd, _, g = run_layer(caffe, layer(text), {"x": x})

    def f(x_):
        x2 = x_.reshape(2 if ac else 6, -1)
        y = x2 - x2.mean(1, keepdims=True)
        if nv:
            y = y / (np.sqrt((y * y).mean(1, keepdims=True)) + eps)
        return y.reshape(x_.shape)

    assert_close(tops["y"], f(x), 1e-5, "mvn")
    check(f, [x], [bd["x"]], g["y"], ["x"], rtol=5e-4)


def test_mvn_top_has_caffes_four_axes():
    _, tops, _, _, _ = run_layer(
        caffe, layer('type: "MVN" bottom: "x" top: "y"'), {"x": rand(3, 4)}
    )
    assert tops["y"].shape == (3, 4, 1, 1)


@pytest.mark.parametrize("op", ["SUM", "ASUM", "SUMSQ", "MEAN"])
@pytest.mark.parametrize("axis", [0, 2, -1])
def test_reduction(op, axis):
    x = rand(2, 3, 4)
    text = f'type: "Reduction" bottom: "x" top: "y" reduction_param {{ operation: {op} axis: {axis} coeff: -1.5 }}'
    _, tops, bd, _, g = run_layer(caffe, layer(text), {"x": x})
    a = axis % 3

    def f(x_):
        x2 = x_.reshape(int(np.prod(x_.shape[:a])), -1)
        v = {
            "SUM": x2.sum(1),
            "ASUM": np.abs(x2).sum(1),
            "SUMSQ": (x2 * x2).sum(1),
            "MEAN": x2.mean(1),
        }[op]
        return (-1.5 * v).reshape(x_.shape[:a])

    assert tops["y"].shape == x.shape[:a]
    assert_close(tops["y"], f(x), 1e-6, "reduction")
    check(f, [x], [bd["x"]], g["y"], ["x"])


def test_slice_points_equal_parts_and_slice_dim():
    x = rand(2, 6, 3)
    _, tops, bd, _, g = run_layer(
        caffe,
        layer(
            'type: "Slice" bottom: "x" top: "a" top: "b" top: "c" slice_param { axis: 1 slice_point: 1 slice_point: 4 }'
        ),
        {"x": x},
    )
    assert [tops[t].shape[1] for t in "abc"] == [1, 3, 2]
    assert np.array_equal(np.concatenate([tops[t] for t in "abc"], 1), x)
    assert np.array_equal(bd["x"], np.concatenate([g[t] for t in "abc"], 1).astype(np.float32))
    _, tops, _, _, _ = run_layer(
        caffe,
        layer('type: "Slice" bottom: "x" top: "a" top: "b" top: "c" slice_param { slice_dim: 2 }'),
        {"x": x},
    )
    assert all(np.array_equal(tops[t], x[:, :, i : i + 1]) for i, t in enumerate("abc"))
    with pytest.raises(caffe.NetError, match="do not divide axis 1"):
        run_layer(
            caffe, layer('type: "Slice" bottom: "x" top: "a" top: "b" top: "c" top: "d"'), {"x": x}
        )


def test_tile():
    x = rand(2, 3, 2)
    _, tops, bd, _, g = run_layer(
        caffe, layer('type: "Tile" bottom: "x" top: "y" tile_param { axis: 1 tiles: 3 }'), {"x": x}
    )
    assert np.array_equal(tops["y"], np.tile(x, (1, 3, 1)))
    assert_close(bd["x"], g["y"].reshape(2, 3, 3, 2).sum(1), 1e-6, "tile diff")


def _propagate_net(text, sources, inputs, loss):
    """Parameter layers make the bottoms (they need backward without force_backward), then the
    layer, then a loss; TRAIN phase. Returns the net after forward and backward."""
    lines = ['name: "pd"']
    for name, arr in sources.items():
        dims = " ".join(f"dim: {d}" for d in arr.shape)
        lines.append(
            f'layer {{ name: "p_{name}" type: "Parameter" top: "{name}" parameter_param {{ shape {{ {dims} }} }} }}'
        )
    for name, arr in inputs.items():
        dims = " ".join(f"dim: {d}" for d in arr.shape)
        lines.append(
            f'layer {{ name: "in_{name}" type: "Input" top: "{name}" input_param {{ shape {{ {dims} }} }} }}'
        )
    lines += [layer(text), loss]
    from test_torchcaffe_ref import net_from_text

    net = caffe.Net(net_from_text("\n".join(lines)), caffe.TRAIN)
    for name, arr in sources.items():
        net.params[f"p_{name}"][0].data[...] = arr
    for name, arr in inputs.items():
        net.blobs[name].data[...] = arr
    net.forward()
    net.backward()
    return net


def test_batch_reindex():
    x = rand(3, 2, 2)
    idx = np.array([2, 0, 0, 2.5, 1], np.float32)
    net = _propagate_net(
        'type: "BatchReindex" bottom: "x" bottom: "i" top: "y" propagate_down: true propagate_down: false',
        {"x": x},
        {"i": idx},
        'layer { name: "S" type: "Reduction" bottom: "y" top: "s" reduction_param { operation: SUMSQ coeff: 0.5 } loss_weight: 1 }',
    )
    k = idx.astype(int)
    assert np.array_equal(net.blobs["y"].data, x[k])
    want = np.zeros_like(x)
    np.add.at(want, k, x[k])
    assert_close(net.params["p_x"][0].diff, want, 1e-6, "reindex diff")
    # the indices never get a diff: with force_backward that is Caffe's fatal check, an error here
    f = caffe.Net(
        one_layer_net(
            layer('type: "BatchReindex" bottom: "x" bottom: "i" top: "y"'), {"x": x, "i": idx}, None
        ),
        caffe.TEST,
    )
    f.blobs["x"].data[...] = x
    f.blobs["i"].data[...] = idx
    f.forward()
    with pytest.raises(caffe.NetError, match=r"cannot backpropagate to bottom 1 'i'"):
        f.backward()
    f.blobs["i"].data[0] = 3
    with pytest.raises(caffe.NetError, match=r"index 3 outside 0\.\.2"):
        f.forward()


def test_filter():
    x, z = rand(4, 3), rand(4, 2, 2)
    sel = np.array([1, 0, -1, 0], np.float32).reshape(4, 1)
    net = _propagate_net(
        'type: "Filter" bottom: "x" bottom: "z" bottom: "s" top: "y" top: "y2" propagate_down: true propagate_down: false propagate_down: false',
        {"x": x, "z": z},
        {"s": sel},
        'layer { name: "S" type: "Reduction" bottom: "y" top: "s1" reduction_param { operation: SUMSQ coeff: 0.5 } loss_weight: 1 }\n'
        'layer { name: "S2" type: "Reduction" bottom: "y2" top: "s2" reduction_param { operation: SUM } loss_weight: 1 }',
    )
    assert np.array_equal(net.blobs["y"].data, x[[0, 2]]) and np.array_equal(
        net.blobs["y2"].data, z[[0, 2]]
    )
    want = np.zeros_like(x)
    want[[0, 2]] = x[[0, 2]]
    assert np.array_equal(net.params["p_x"][0].diff, want)
    assert not net.params["p_z"][0].diff.any()  # propagate_down false


def test_embed_and_parameter_gradients():
    ids = np.array([[1, 4], [4, 0]], np.float32)
    w, b = rand(5, 3), rand(3)
    g = rand(2, 2, 3)
    text = 'type: "Embed" bottom: "i" top: "y" embed_param { num_output: 3 input_dim: 5 }'
    loss = 'layer { name: "S" type: "Scale" bottom: "y" bottom: "g" top: "s" scale_param { axis: 0 } loss_weight: 1 }'
    lines = one_layer_net(layer(text), {"i": ids, "g": g}, None, force_backward=False)
    lines.layer.add().CopyFrom(__import__("test_torchcaffe_ref").net_from_text(loss).layer[0])
    net = caffe.Net(lines, caffe.TRAIN)
    net.params["L"][0].data[...] = w
    net.params["L"][1].data[...] = b
    net.blobs["i"].data[...] = ids
    net.blobs["g"].data[...] = g
    net.forward()
    assert_close(net.blobs["y"].data, w[ids.astype(int)] + b, 1e-6, "embed")
    net.backward()
    gw = np.zeros_like(w)
    np.add.at(gw, ids.astype(int).ravel(), g.reshape(-1, 3))
    assert_close(net.params["L"][0].diff, gw, 1e-6, "W diff")
    assert_close(net.params["L"][1].diff, g.reshape(-1, 3).sum(0), 1e-6, "b diff")
    bad = caffe.Net(one_layer_net(layer(text), {"i": ids}, None, force_backward=False), caffe.TEST)
    bad.blobs["i"].data[...] = [[1, 5], [0, 0]]
    with pytest.raises(caffe.NetError, match=r"index 5 .*outside 0\.\.4"):
        bad.forward()


def test_parameter_top_is_the_parameter_blob():
    """Caffe shares the Parameter layer's data and diff with its top: the diff written into the
    top by the layers above is the parameter's gradient, once (not accumulated by the layer)."""
    p, g = rand(2, 3), rand(2, 3)
    net = _propagate_net(
        'type: "Scale" bottom: "p" bottom: "g" top: "s" scale_param { axis: 0 } loss_weight: 1',
        {"p": p},
        {"g": g},
        "",
    )
    assert net.blobs["p"] is net.params["p_p"][0]
    assert np.array_equal(net.blobs["p"].data, p)
    assert np.array_equal(net.params["p_p"][0].diff, g)
    net.forward()
    net.backward()
    assert np.array_equal(net.params["p_p"][0].diff, g)  # written, as in Caffe, not summed


def np_im2col(x, k, p, s, d):
    n, c = x.shape[:2]
    sp = x.shape[2:]
    out = [(sp[i] + 2 * p[i] - (d[i] * (k[i] - 1) + 1)) // s[i] + 1 for i in range(len(sp))]
    xp = np.pad(x, [(0, 0), (0, 0)] + [(q, q) for q in p])
    cols = np.zeros((n, c * int(np.prod(k)), *out))
    for ch in range(c):
        for ki, off in enumerate(np.ndindex(*k)):
            sl = tuple(
                slice(off[i] * d[i], off[i] * d[i] + s[i] * (out[i] - 1) + 1, s[i])
                for i in range(len(sp))
            )
            cols[:, ch * int(np.prod(k)) + ki] = xp[(slice(None), ch) + sl]
    return cols


@pytest.mark.parametrize("spec,x_shape,k,p,s,d", [
    ("kernel_size: 3 pad: 1 stride: 2", (2, 3, 5, 6), (3, 3), (1, 1), (2, 2), (1, 1)),
    ("kernel_h: 2 kernel_w: 3 pad_h: 1 pad_w: 0 stride_h: 1 stride_w: 2 dilation: 2", (1, 2, 7, 8), (2, 3), (1, 0), (1, 2), (2, 2)),
    ("kernel_size: 2 pad: 1", (2, 2, 5), (2,), (1,), (1,), (1,)),
    ("kernel_size: 2 kernel_size: 1 kernel_size: 2 stride: 2 force_nd_im2col: true", (1, 2, 4, 3, 5), (2, 1, 2), (0, 0, 0), (2, 2, 2), (1, 1, 1)),
])  # fmt: skip
def test_im2col(spec, x_shape, k, p, s, d):
    x = rand(*x_shape)
    _, tops, bd, _, g = run_layer(
        caffe,
        layer(f'type: "Im2col" bottom: "x" top: "y" convolution_param {{ {spec} }}'),
        {"x": x},
    )
    f = lambda x_: np_im2col(x_, k, p, s, d)  # noqa: E731
    assert np.array_equal(tops["y"], f(x.astype(np.float64)).astype(np.float32))
    check(f, [x], [bd["x"]], g["y"], ["x"])


@pytest.mark.parametrize("pool", ["MAX", "AVE"])
def test_spp(pool):
    from torchcaffe.ops.spatial import spp_level

    x = rand(2, 3, 9, 11)
    _, tops, bd, _, g = run_layer(
        caffe,
        layer(f'type: "SPP" bottom: "x" top: "y" spp_param {{ pyramid_height: 3 pool: {pool} }}'),
        {"x": x},
    )

    def f(x_):
        parts = []
        for lv in range(3):
            k, p = spp_level(9, 11, lv)
            parts.append(np_pool(x_, pool, k, p, k).reshape(2, -1))
        return np.concatenate(parts, 1)

    assert tops["y"].shape == (2, 3 * (1 + 4 + 16))
    assert_close(tops["y"], f(x), 1e-6, "spp")
    check(f, [x], [bd["x"]], g["y"], ["x"])
    with pytest.raises(caffe.NetError, match="pyramid level 3 .*pad"):
        run_layer(
            caffe,
            layer('type: "SPP" bottom: "x" top: "y" spp_param { pyramid_height: 4 }'),
            {"x": rand(1, 1, 9, 9)},
        )


# ------------------------------------------------------------------ recurrent
def np_lstm_unit(c_prev, x, cont):
    d = c_prev.shape[-1]
    i, f, o, g = (
        sig(x[..., :d]),
        sig(x[..., d : 2 * d]),
        sig(x[..., 2 * d : 3 * d]),
        np.tanh(x[..., 3 * d :]),
    )
    f = f * cont[..., None]
    c = f * c_prev + i * g
    return c, o * np.tanh(c)


def test_lstm_unit():
    c0, xg = rand(1, 3, 2), rand(1, 3, 8, scale=2)
    cont = np.array([[1, 0, 1]], np.float32)
    _, tops, bd, _, g = run_layer(
        caffe,
        layer('type: "LSTMUnit" bottom: "c" bottom: "x" bottom: "cont" top: "c1" top: "h1"'),
        {"c": c0, "x": xg, "cont": cont},
    )
    c1, h1 = np_lstm_unit(c0.astype(np.float64), xg.astype(np.float64), cont)
    assert_close(tops["c1"], c1, 1e-6, "c")
    assert_close(tops["h1"], h1, 1e-6, "h")

    def f(c_, x_):
        c, h = np_lstm_unit(c_, x_, cont)
        return np.concatenate([c * g["c1"], h * g["h1"]])

    check(lambda c_, x_: f(c_, x_), [c0, xg], [bd["c"], bd["x"]], 1.0, ["c_prev", "gates"])
    assert not bd["cont"].any()


def np_recurrent(kind, x, cont, ws, h0, c0, static=None):
    t_, n = x.shape[:2]
    xr = x.reshape(t_, n, -1)
    if kind == "RNN":
        w_xh, b_h, *rest = ws
        if static is not None:
            w_s, w_hh, w_ho, b_o = rest
        else:
            w_hh, w_ho, b_o = rest
    else:
        w_xh, b_h, *rest = ws
        w_s, w_hh = rest if static is not None else (None, rest[0])
    gx = xr @ w_xh.T + b_h
    st = static.reshape(n, -1) @ w_s.T if static is not None else 0
    h, c, outs = h0, c0, []
    for t in range(t_):
        s = (h * cont[t][:, None]) @ w_hh.T + gx[t] + st
        if kind == "RNN":
            h = np.tanh(s)
            outs.append(np.tanh(h @ w_ho.T + b_o))
        else:
            c, h = np_lstm_unit(c, s, cont[t])
            outs.append(h)
    return np.stack(outs), h, c


@pytest.mark.parametrize("kind", ["RNN", "LSTM"])
@pytest.mark.parametrize("static", [False, True])
def test_recurrent_forward_backward_and_carried_state(kind, static):
    t_, n, hid = 3, 2, 3
    x = rand(t_, n, 2)
    cont = np.array([[0, 0], [1, 1], [1, 0]], np.float32)
    st = rand(n, 4)
    bots = 'bottom: "x" bottom: "cont"' + (' bottom: "st"' if static else "")
    text = f'type: "{kind}" {bots} top: "h" recurrent_param {{ num_output: {hid} weight_filler {{ type: "gaussian" std: 0.5 }} bias_filler {{ type: "uniform" min: -0.5 max: 0.5 }} }}'
    inputs = {"x": x, "cont": cont, **({"st": st} if static else {})}
    net = caffe.Net(one_layer_net(layer(text), inputs, None), caffe.TEST)
    ws = [b.data.astype(np.float64) for b in net.params["L"]]
    gates = 4 if kind == "LSTM" else 1
    want = (
        [(gates * hid, 2), (gates * hid,)]
        + ([(gates * hid, 4)] if static else [])
        + [(gates * hid, hid)]
    )
    want += [(hid, hid), (hid,)] if kind == "RNN" else []
    assert [w.shape for w in ws] == want
    for k, v in inputs.items():
        net.blobs[k].data[...] = v
    zeros = np.zeros((n, hid))
    ref, h_t, c_t = np_recurrent(kind, x, cont, ws, zeros, zeros, st if static else None)
    assert_close(net.forward()["h"], ref, 1e-5, "first forward")
    # without expose_hidden the state carries over (cont 0 at t=0 here, so the first step
    # forgets it: use a second input where cont starts at 1)
    cont2 = np.ones_like(cont)
    net.blobs["cont"].data[...] = cont2
    ref2, _, _ = np_recurrent(kind, x, cont2, ws, h_t, c_t, st if static else None)
    assert_close(net.forward()["h"], ref2, 1e-5, "second forward, carried state")
    g = rand(t_, n, hid)
    net.blobs["h"].diff[...] = g
    net.backward()

    def f(x_, *wk):
        return np_recurrent(kind, x_, cont2, list(wk), h_t, c_t, st if static else None)[0]

    check(
        f,
        [x] + ws,
        [net.blobs["x"].diff] + [b.diff for b in net.params["L"]],
        g,
        ["x"] + [f"w{i}" for i in range(len(ws))],
    )


def test_lstm_exposed_hidden_states():
    t_, n, hid = 2, 2, 3
    x, h0, c0 = rand(t_, n, 2), rand(1, n, hid), rand(1, n, hid)
    cont = np.ones((t_, n), np.float32)
    text = f'type: "LSTM" bottom: "x" bottom: "cont" bottom: "h0" bottom: "c0" top: "h" top: "hT" top: "cT" recurrent_param {{ num_output: {hid} expose_hidden: true weight_filler {{ type: "gaussian" }} }}'
    _, tops, bd, _, _ = run_layer(caffe, layer(text), {"x": x, "cont": cont, "h0": h0, "c0": c0})
    net = caffe.Net(
        one_layer_net(layer(text), {"x": x, "cont": cont, "h0": h0, "c0": c0}, None), caffe.TEST
    )
    ws = [b.data.astype(np.float64) for b in net.params["L"]]
    for k, v in {"x": x, "cont": cont, "h0": h0, "c0": c0}.items():
        net.blobs[k].data[...] = v
    net.forward()
    ref, h_t, c_t = np_recurrent("LSTM", x, cont, ws, h0[0], c0[0])
    assert_close(net.blobs["h"].data, ref, 1e-5, "h")
    assert_close(net.blobs["hT"].data, h_t[None], 1e-5, "h_T")
    assert_close(net.blobs["cT"].data, c_t[None], 1e-5, "c_T")
    # Caffe shares only the data of the exposed states: no diff reaches h0/c0
    net.blobs["h"].diff[...] = 1
    net.backward()
    assert not net.blobs["h0"].diff.any() and not net.blobs["c0"].diff.any()
    assert net.blobs["x"].diff.any()


def test_recurrent_writes_input_diffs_despite_propagate_down():
    """Caffe's unrolled net writes x's diff whenever the layer runs backward."""
    x = rand(2, 1, 3)
    text = 'type: "RNN" bottom: "x" bottom: "cont" top: "h" propagate_down: false propagate_down: false recurrent_param { num_output: 2 weight_filler { type: "gaussian" } }'
    net = _propagate_net(
        text,
        {"x": x},
        {"cont": np.ones((2, 1), np.float32)},
        'layer { name: "S" type: "Reduction" bottom: "h" top: "s" loss_weight: 1 }',
    )
    assert net.params["p_x"][0].diff.any()
