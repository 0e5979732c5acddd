# ruff: noqa: E501  (prototxt one-liners read better unbroken)
"""Per layer type: torchcaffe forward and gradients against NumPy references (float64 forward
written from Caffe's formulas; reference gradients by central differences of that reference)."""

import numpy as np
import pytest
import torch
from test_torchcaffe_ref import (
    assert_close,
    caffe_pool_size,
    np_batchnorm_train,
    np_conv,
    np_deconv,
    np_lrn_across,
    np_lrn_within,
    np_pool,
    np_softmax,
    np_softmax_loss,
    numeric_grad,
    run_layer,
)

import torchcaffe as caffe

torch.set_num_threads(1)
RNG = np.random.default_rng(0)


def rand(*shape):
    return RNG.standard_normal(shape).astype(np.float32)


def check_grads(f, inputs, top_diff, got, names, rtol=2e-4):
    """Compare torchcaffe's diffs `got` with numeric gradients of NumPy reference f(*inputs)."""
    for k, name in enumerate(names):

        def fk(v, k=k):
            args = [np.asarray(a, np.float64) for a in inputs]
            args[k] = v
            return f(*args)

        ref = numeric_grad(fk, inputs[k], top_diff)
        assert_close(got[k], ref, rtol, f"gradient of {name}")


# ------------------------------------------------------------------ Convolution family
CONV_CASES = [
    ("kernel_size: 3", dict(stride=(1, 1), pad=(0, 0), dil=(1, 1), group=1), 3),
    ("kernel_size: 3 pad: 1 stride: 2", dict(stride=(2, 2), pad=(1, 1), dil=(1, 1), group=1), 3),
    (
        "kernel_h: 3 kernel_w: 1 pad_h: 1 pad_w: 0 stride_h: 2 stride_w: 1",
        dict(stride=(2, 1), pad=(1, 0), dil=(1, 1), group=1),
        (3, 1),
    ),
    (
        "kernel_size: 2 dilation: 2 group: 2",
        dict(stride=(1, 1), pad=(0, 0), dil=(2, 2), group=2),
        2,
    ),
]


@pytest.mark.parametrize("spec,geo,k", CONV_CASES)
def test_convolution(spec, geo, k):
    kh, kw = (k, k) if isinstance(k, int) else k
    x = rand(2, 4, 7, 6)
    w = rand(6, 4 // geo["group"], kh, kw)
    b = rand(6)
    text = f'layer {{ name: "L" type: "Convolution" bottom: "x" top: "y" convolution_param {{ num_output: 6 {spec} }} }}'
    net, tops, bd, pd, g = run_layer(caffe, text, {"x": x}, [w, b])
    ref = np_conv(x.astype(np.float64), w, b, **geo)
    assert_close(tops["y"], ref, 1e-5, "conv forward")
    f = lambda x_, w_, b_: np_conv(x_, w_, b_, **geo)  # noqa: E731
    check_grads(f, [x, w, b], g["y"], [bd["x"], pd[0], pd[1]], ["x", "W", "b"])


@pytest.mark.parametrize(
    "spec,geo",
    [
        (
            "kernel_size: 4 stride: 2 bias_term: false",
            dict(stride=(2, 2), pad=(0, 0), dil=(1, 1), group=1),
        ),
        (
            "kernel_size: 3 stride: 2 pad: 1 group: 2",
            dict(stride=(2, 2), pad=(1, 1), dil=(1, 1), group=2),
        ),
    ],
)
def test_deconvolution(spec, geo):
    x = rand(1, 4, 4, 5)
    g_ = geo["group"]
    k = 4 if "kernel_size: 4" in spec else 3
    w = rand(4, 6 // g_, k, k)
    b = rand(6)
    bias = "bias_term: false" not in spec
    text = f'layer {{ name: "L" type: "Deconvolution" bottom: "x" top: "y" convolution_param {{ num_output: 6 {spec} }} }}'
    params = [w, b] if bias else [w]
    net, tops, bd, pd, g = run_layer(caffe, text, {"x": x}, params)
    ref = np_deconv(x.astype(np.float64), w, b if bias else None, **geo)
    assert tops["y"].shape == ref.shape  # s(in-1) + k - 2p
    assert_close(tops["y"], ref, 1e-5, "deconv forward")
    if bias:
        f = lambda x_, w_, b_: np_deconv(x_, w_, b_, **geo)  # noqa: E731
        check_grads(f, [x, w, b], g["y"], [bd["x"], pd[0], pd[1]], ["x", "W", "b"])
    else:
        f = lambda x_, w_: np_deconv(x_, w_, None, **geo)  # noqa: E731
        check_grads(f, [x, w], g["y"], [bd["x"], pd[0]], ["x", "W"])


# ------------------------------------------------------------------ Pooling
@pytest.mark.parametrize(
    "size,k,p,s,expect",
    [
        (7, 3, 0, 2, 3),
        (6, 3, 0, 2, 3),
        (7, 3, 1, 2, 4),
        (5, 2, 1, 2, 3),
        (6, 2, 1, 2, 4),
        (1, 2, 0, 2, 1),
        (11, 2, 0, 2, 6),
        (9, 3, 1, 3, 4),
        (5, 1, 0, 3, 3),
    ],
)
def test_pool_output_sizes(size, k, p, s, expect):
    # Hand-computed from Caffe's rule: ceil((in + 2p - k)/s) + 1, minus one when p > 0 and the
    # last window would start at or beyond in + p.
    assert caffe_pool_size(size, k, p, s) == expect
    for method in ("MAX", "AVE"):
        x = rand(1, 2, size, size + 2)
        text = (
            f'layer {{ name: "L" type: "Pooling" bottom: "x" top: "y" pooling_param {{ '
            f"pool: {method} kernel_size: {k} pad: {p} stride: {s} }} }}"
        )
        net, tops, *_ = run_layer(caffe, text, {"x": x})
        assert tops["y"].shape == (1, 2, expect, caffe_pool_size(size + 2, k, p, s))
        ref = np_pool(x.astype(np.float64), method, (k, k), (p, p), (s, s))
        assert_close(tops["y"], ref, 1e-6, f"{method} pool forward")


@pytest.mark.parametrize("method", ["MAX", "AVE"])
@pytest.mark.parametrize(
    "spec,k,p,s",
    [
        ("kernel_size: 3 stride: 2", (3, 3), (0, 0), (2, 2)),
        ("kernel_size: 3 stride: 2 pad: 1", (3, 3), (1, 1), (2, 2)),
        (
            "kernel_h: 3 kernel_w: 2 stride_h: 2 stride_w: 1 pad_h: 1 pad_w: 0",
            (3, 2),
            (1, 0),
            (2, 1),
        ),
    ],
)
def test_pooling_forward_backward(method, spec, k, p, s):
    x = rand(2, 3, 7, 8)
    text = f'layer {{ name: "L" type: "Pooling" bottom: "x" top: "y" pooling_param {{ pool: {method} {spec} }} }}'
    net, tops, bd, pd, g = run_layer(caffe, text, {"x": x})
    f = lambda x_: np_pool(x_, method, k, p, s)  # noqa: E731
    assert_close(tops["y"], f(x.astype(np.float64)), 1e-6, "pool forward")
    check_grads(f, [x], g["y"], [bd["x"]], ["x"])


def test_global_and_floor_pooling():
    x = rand(2, 3, 5, 7)
    text = 'layer { name: "L" type: "Pooling" bottom: "x" top: "y" pooling_param { pool: AVE global_pooling: true } }'
    _, tops, *_ = run_layer(caffe, text, {"x": x})
    assert_close(tops["y"], x.mean(axis=(2, 3), keepdims=True), 1e-6, "global AVE")
    text = 'layer { name: "L" type: "Pooling" bottom: "x" top: "y" pooling_param { pool: MAX kernel_size: 2 stride: 2 round_mode: FLOOR } }'
    _, tops, *_ = run_layer(caffe, text, {"x": x})
    assert tops["y"].shape == (2, 3, 2, 3)
    assert_close(
        tops["y"], np_pool(x.astype(np.float64), "MAX", (2, 2), (0, 0), (2, 2), ceil=False), 1e-6
    )


# ------------------------------------------------------------------ element-wise and friends
@pytest.mark.parametrize(
    "text,f",
    [
        ('type: "ReLU"', lambda x: np.maximum(x, 0)),
        ('type: "ReLU" relu_param { negative_slope: 0.1 }', lambda x: np.where(x > 0, x, 0.1 * x)),
        ('type: "Sigmoid"', lambda x: 1 / (1 + np.exp(-x))),
        ('type: "TanH"', np.tanh),
        ('type: "Dropout"', lambda x: x),  # TEST phase: identity
        ('type: "Softmax"', lambda x: np_softmax(x, 1)),
        (
            'type: "LRN" lrn_param { local_size: 3 alpha: 0.5 beta: 0.75 k: 2 }',
            lambda x: np_lrn_across(x, 3, 0.5, 0.75, 2.0),
        ),
        (
            'type: "LRN" lrn_param { local_size: 5 alpha: 0.3 beta: 0.75 }',
            lambda x: np_lrn_across(x, 5, 0.3, 0.75, 1.0),
        ),
        (
            'type: "LRN" lrn_param { local_size: 3 alpha: 0.5 beta: 0.75 norm_region: WITHIN_CHANNEL }',
            lambda x: np_lrn_within(x, 3, 0.5, 0.75),
        ),
        ('type: "Flatten"', lambda x: x.reshape(x.shape[0], -1)),
        (
            'type: "Reshape" reshape_param { shape { dim: 0 dim: -1 dim: 2 } }',
            lambda x: x.reshape(2, -1, 2),
        ),
        (
            'type: "BatchNorm" batch_norm_param { use_global_stats: false }',
            lambda x: np_batchnorm_train(x, 1e-5),
        ),
    ],
)
def test_unary_layers(text, f):
    x = rand(2, 6, 3, 4)
    x[np.abs(x) < 0.05] = 0.3  # keep ReLU's kink out of the finite differences
    layer = f'layer {{ name: "L" {text} bottom: "x" top: "y" }}'
    net, tops, bd, pd, g = run_layer(caffe, layer, {"x": x})
    assert_close(tops["y"], f(x.astype(np.float64)), 1e-5, text)
    check_grads(f, [x], g["y"], [bd["x"]], ["x"])


def test_in_place_relu_after_conv_backward():
    # conv -> in-place ReLU: the blob holds the ReLU output, the conv sees the ReLU's bottom diff.
    x = rand(1, 2, 5, 5)
    w = rand(3, 2, 3, 3)
    text = (
        'layer { name: "L" type: "Convolution" bottom: "x" top: "c" convolution_param { num_output: 3 kernel_size: 3 bias_term: false } }\n'
        'layer { name: "r" type: "ReLU" bottom: "c" top: "c" }'
    )
    net, tops, bd, pd, g = run_layer(
        caffe, text, {"x": x}, [w], top_diffs={"c": np.ones((1, 3, 3, 3))}
    )
    c = np_conv(x.astype(np.float64), w, None)
    assert_close(net.blobs["c"].data, np.maximum(c, 0), 1e-5)
    f = lambda x_, w_: np.maximum(np_conv(x_, w_, None), 0)  # noqa: E731
    check_grads(f, [x, w], np.ones((1, 3, 3, 3)), [bd["x"], pd[0]], ["x", "W"])


def test_dropout_train_mask_and_scale():
    caffe.set_random_seed(3)
    x = np.abs(rand(4, 50, 5, 5)) + 0.1
    text = 'layer { name: "L" type: "Dropout" bottom: "x" top: "y" dropout_param { dropout_ratio: 0.3 } }'
    net, tops, bd, _, g = run_layer(caffe, text, {"x": x}, phase=caffe.TRAIN)
    y = tops["y"]
    kept = y != 0
    np.testing.assert_allclose(y[kept], x[kept] / 0.7, rtol=1e-6)
    assert abs(kept.mean() - 0.7) < 0.02
    np.testing.assert_allclose(bd["x"], np.where(kept, g["y"] / 0.7, 0), rtol=1e-5)


def test_inner_product_axis_and_transpose():
    x = rand(2, 3, 4)
    w = rand(5, 12)
    b = rand(5)
    text = 'layer { name: "L" type: "InnerProduct" bottom: "x" top: "y" inner_product_param { num_output: 5 } }'
    net, tops, bd, pd, g = run_layer(caffe, text, {"x": x}, [w, b])
    f = lambda x_, w_, b_: x_.reshape(2, -1) @ w_.T + b_  # noqa: E731
    assert_close(tops["y"], f(x, w, b), 1e-5)
    check_grads(f, [x, w, b], g["y"], [bd["x"], pd[0], pd[1]], ["x", "W", "b"])
    wt = rand(4, 5)
    text = 'layer { name: "L" type: "InnerProduct" bottom: "x" top: "y" inner_product_param { num_output: 5 axis: 2 transpose: true bias_term: false } }'
    net, tops, bd, pd, g = run_layer(caffe, text, {"x": x}, [wt])
    f = lambda x_, w_: x_ @ w_  # noqa: E731
    assert tops["y"].shape == (2, 3, 5)
    check_grads(f, [x, wt], g["y"], [bd["x"], pd[0]], ["x", "W"])


@pytest.mark.parametrize(
    "op,f",
    [
        ("operation: SUM coeff: 0.5 coeff: -2", lambda a, b: 0.5 * a - 2 * b),
        ("operation: PROD", lambda a, b: a * b),
        ("operation: MAX", np.maximum),
    ],
)
def test_eltwise(op, f):
    a, b = rand(2, 3, 4, 4), rand(2, 3, 4, 4)
    text = f'layer {{ name: "L" type: "Eltwise" bottom: "a" bottom: "b" top: "y" eltwise_param {{ {op} }} }}'
    net, tops, bd, pd, g = run_layer(caffe, text, {"a": a, "b": b})
    assert_close(tops["y"], f(a, b), 1e-6)
    check_grads(f, [a, b], g["y"], [bd["a"], bd["b"]], ["a", "b"])


def test_concat_and_crop():
    a, b = rand(1, 2, 5, 6), rand(1, 3, 5, 6)
    text = 'layer { name: "L" type: "Concat" bottom: "a" bottom: "b" top: "y" }'
    net, tops, bd, _, g = run_layer(caffe, text, {"a": a, "b": b})
    assert_close(tops["y"], np.concatenate([a, b], 1), 1e-7)
    assert_close(bd["a"], g["y"][:, :2], 1e-7)
    assert_close(bd["b"], g["y"][:, 2:], 1e-7)
    x, ref = rand(1, 2, 9, 10), rand(1, 5, 4, 3)
    text = 'layer { name: "L" type: "Crop" bottom: "x" bottom: "r" top: "y" crop_param { axis: 2 offset: 3 offset: 5 } }'
    net, tops, bd, _, g = run_layer(caffe, text, {"x": x, "r": ref})
    assert_close(tops["y"], x[:, :, 3:7, 5:8], 1e-7)
    expect = np.zeros_like(x)
    expect[:, :, 3:7, 5:8] = g["y"]
    assert_close(bd["x"], expect, 1e-7)


@pytest.mark.parametrize("bias", [False, True])
def test_scale_one_and_two_bottoms(bias):
    x = rand(2, 3, 4, 5)
    s, b = rand(3), rand(3)
    bt = "bias_term: true" if bias else ""
    text = f'layer {{ name: "L" type: "Scale" bottom: "x" top: "y" scale_param {{ {bt} }} }}'
    params = [s, b] if bias else [s]
    net, tops, bd, pd, g = run_layer(caffe, text, {"x": x}, params)
    if bias:
        f = lambda x_, s_, b_: x_ * s_[None, :, None, None] + b_[None, :, None, None]  # noqa: E731
        check_grads(f, [x, s, b], g["y"], [bd["x"], pd[0], pd[1]], ["x", "s", "b"])
        assert_close(tops["y"], f(x, s, b), 1e-6)
    else:
        f = lambda x_, s_: x_ * s_[None, :, None, None]  # noqa: E731
        check_grads(f, [x, s], g["y"], [bd["x"], pd[0]], ["x", "s"])
    # two bottoms, axis 1 with a (C, H) factor
    s2 = rand(3, 4)
    text = 'layer { name: "L" type: "Scale" bottom: "x" bottom: "s" top: "y" }'
    net, tops, bd, pd, g = run_layer(caffe, text, {"x": x, "s": s2})
    f = lambda x_, s_: x_ * s_[None, :, :, None]  # noqa: E731
    assert_close(tops["y"], f(x, s2), 1e-6)
    check_grads(f, [x, s2], g["y"], [bd["x"], bd["s"]], ["x", "s"])


def test_scale_default_filler_is_one_and_bias_layer():
    x = rand(2, 3, 4)
    net, tops, *_ = run_layer(
        caffe, 'layer { name: "L" type: "Scale" bottom: "x" top: "y" }', {"x": x}
    )
    assert_close(tops["y"], x, 1e-7)
    b = rand(3, 4)
    text = 'layer { name: "L" type: "Bias" bottom: "x" top: "y" bias_param { num_axes: 2 } }'
    net, tops, bd, pd, g = run_layer(caffe, text, {"x": x}, [b])
    assert_close(tops["y"], x + b, 1e-6)
    assert_close(pd[0], g["y"].sum(0), 1e-5)


def test_batchnorm_global_stats_and_running_update():
    x = rand(4, 3, 2, 5)
    mean, var, sf = rand(3), np.abs(rand(3)) + 0.5, np.array([2.0], np.float32)
    text = 'layer { name: "L" type: "BatchNorm" bottom: "x" top: "y" }'  # TEST: global stats
    net, tops, *_ = run_layer(caffe, text, {"x": x}, [mean, var, sf])
    ref = (x - mean[None, :, None, None] / 2) / np.sqrt(var[None, :, None, None] / 2 + 1e-5)
    assert_close(tops["y"], ref, 1e-5)
    assert [len(b.shape) for b in net.params["L"]] == [1, 1, 1]
    # TRAIN: batch statistics, running sums updated with factor 0.999 and m/(m-1) correction
    net, tops, *_ = run_layer(caffe, text, {"x": x}, [mean, var, sf], phase=caffe.TRAIN)
    m = 4 * 2 * 5
    bm, bv = x.mean(axis=(0, 2, 3)), x.var(axis=(0, 2, 3))
    assert_close(net.params["L"][0].data, 0.999 * mean + bm, 1e-5)
    assert_close(net.params["L"][1].data, 0.999 * var + m / (m - 1) * bv, 1e-5)
    assert_close(net.params["L"][2].data, [0.999 * 2 + 1], 1e-6)
    assert net.params_lr[:3] == [0.0, 0.0, 0.0]


# ------------------------------------------------------------------ losses and metrics
@pytest.mark.parametrize(
    "loss_param,mode",
    [
        ("ignore_label: 255", "VALID"),
        ("ignore_label: 255 normalize: false", "BATCH_SIZE"),
        ("ignore_label: 255 normalize: true", "VALID"),
        ("ignore_label: 255 normalization: FULL", "FULL"),
        ("normalization: NONE", "NONE"),
    ],
)
def test_softmax_with_loss(loss_param, mode):
    x = rand(2, 5, 3, 4) * 3
    label = RNG.integers(0, 5, (2, 1, 3, 4)).astype(np.float32)
    if "ignore" in loss_param:
        label[0, 0, 0, :3] = 255
    text = (
        f'layer {{ name: "L" type: "SoftmaxWithLoss" bottom: "x" bottom: "label" top: "loss" '
        f"loss_weight: 2 loss_param {{ {loss_param} }} }}"
    )
    net, tops, bd, _, _ = run_layer(caffe, text, {"x": x, "label": label}, top_diffs={"loss": 2.0})
    ignore = 255 if "ignore" in loss_param else None
    ref = np_softmax_loss(x.astype(np.float64), label, ignore, mode)
    assert abs(float(tops["loss"]) - ref) < 1e-5 * max(1, abs(ref))
    f = lambda x_: 2 * np_softmax_loss(x_, label, ignore, mode)  # noqa: E731
    check_grads(f, [x], 1.0, [bd["x"]], ["x"])
    assert not bd["label"].any()  # no gradient to labels


def test_softmax_loss_all_ignored_and_flt_min():
    x = np.zeros((1, 3, 2, 2), np.float32)
    x[0, 0] = 200.0  # p(class 2) underflows to 0: loss uses log(FLT_MIN)
    label = np.full((1, 1, 2, 2), 2, np.float32)
    text = 'layer { name: "L" type: "SoftmaxWithLoss" bottom: "x" bottom: "label" top: "loss" }'
    net, tops, *_ = run_layer(caffe, text, {"x": x, "label": label})
    assert abs(float(tops["loss"]) + np.log(np.finfo(np.float32).tiny)) < 1e-3
    label[...] = 255
    text = 'layer { name: "L" type: "SoftmaxWithLoss" bottom: "x" bottom: "label" top: "loss" loss_param { ignore_label: 255 } }'
    net, tops, bd, *_ = run_layer(caffe, text, {"x": x, "label": label})
    assert float(tops["loss"]) == 0.0 and not bd["x"].any()  # normaliser never below 1


def test_accuracy_argmax_silence_split():
    x = rand(3, 4, 2, 2)
    label = RNG.integers(0, 4, (3, 1, 2, 2)).astype(np.float32)
    label[0, 0, 0, 0] = 255
    text = (
        'layer { name: "L" type: "Accuracy" bottom: "x" bottom: "label" top: "acc" top: "per" '
        "accuracy_param { ignore_label: 255 top_k: 2 } }"
    )
    net, tops, *_ = run_layer(caffe, text, {"x": x, "label": label})
    rank = (x >= np.take_along_axis(x, label.astype(int).clip(0, 3), 1)).sum(1) - 1
    valid = label[:, 0] != 255
    assert abs(float(tops["acc"]) - (rank < 2)[valid].mean()) < 1e-6
    for c in range(4):
        m = valid & (label[:, 0] == c)
        want = (rank < 2)[m].mean() if m.any() else 0
        assert abs(tops["per"][c] - want) < 1e-6
    text = 'layer { name: "L" type: "ArgMax" bottom: "x" top: "y" argmax_param { axis: 1 } }'
    net, tops, *_ = run_layer(caffe, text, {"x": x})
    np.testing.assert_array_equal(tops["y"][:, 0], x.argmax(1))
    text = 'layer { name: "L" type: "ArgMax" bottom: "x" top: "y" argmax_param { out_max_val: true top_k: 2 } }'
    net, tops, *_ = run_layer(caffe, text, {"x": x})
    flat = x.reshape(3, -1)
    assert tops["y"].shape == (3, 2, 2, 1)
    np.testing.assert_array_equal(tops["y"][:, 0, 0, 0], flat.argmax(1))
    np.testing.assert_allclose(tops["y"][:, 1, 0, 0], flat.max(1))
    # Split: one top feeding two layers -> diffs add up; Silence swallows a blob
    text = (
        'layer { name: "L" type: "Scale" bottom: "x" top: "s" scale_param { filler { type: "constant" value: 3 } } }\n'
        'layer { name: "a" type: "ReLU" bottom: "s" top: "a" }\n'
        'layer { name: "b" type: "TanH" bottom: "s" top: "b" }\n'
        'layer { name: "sil" type: "Silence" bottom: "b" }'
    )
    net, tops, bd, pd, g = run_layer(caffe, text, {"x": x}, top_diffs={"a": np.ones(x.shape)})
    assert "s_L_0_split" in net._layer_names
    assert net.outputs == ["a"]
    s = 3 * x.astype(np.float64)
    assert_close(bd["x"], 3 * (s > 0), 1e-6)  # tanh branch gets zero diff from Silence


def test_fillers():
    caffe.set_random_seed(1)
    text = """
layer { name: "in" type: "Input" top: "x" input_param { shape { dim: 1 dim: 64 dim: 8 dim: 8 } } }
layer { name: "g" type: "Convolution" bottom: "x" top: "g" convolution_param { num_output: 50 kernel_size: 3
  weight_filler { type: "gaussian" std: 0.5 mean: 1 } bias_filler { type: "constant" value: 0.25 } } }
layer { name: "u" type: "Convolution" bottom: "x" top: "u" convolution_param { num_output: 50 kernel_size: 3
  weight_filler { type: "uniform" min: -2 max: 3 } } }
layer { name: "xa" type: "Convolution" bottom: "x" top: "xa" convolution_param { num_output: 50 kernel_size: 3
  weight_filler { type: "xavier" } } }
layer { name: "ms" type: "Convolution" bottom: "x" top: "ms" convolution_param { num_output: 50 kernel_size: 3
  weight_filler { type: "msra" variance_norm: FAN_OUT } } }
layer { name: "sp" type: "Convolution" bottom: "x" top: "sp" convolution_param { num_output: 50 kernel_size: 3
  weight_filler { type: "gaussian" std: 1 sparse: 10 } } }
layer { name: "bl" type: "Deconvolution" bottom: "x" top: "bl" convolution_param { num_output: 64 kernel_size: 5
  stride: 2 bias_term: false weight_filler { type: "bilinear" } } }
layer { name: "z" type: "InnerProduct" bottom: "x" top: "z" inner_product_param { num_output: 3 } }
"""
    from caffeio import net_from_text

    net = caffe.Net(net_from_text(text), caffe.TEST)
    g = net.params["g"][0].data
    assert abs(g.mean() - 1) < 0.02 and abs(g.std() - 0.5) < 0.02
    assert (net.params["g"][1].data == 0.25).all()
    u = net.params["u"][0].data
    assert u.min() >= -2 and u.max() <= 3 and abs(u.mean() - 0.5) < 0.05
    fan_in, fan_out = 64 * 9, 50 * 9
    xa = net.params["xa"][0].data
    assert np.abs(xa).max() <= np.sqrt(3 / fan_in) and abs(xa.std() - np.sqrt(1 / fan_in)) < 0.002
    assert abs(net.params["ms"][0].data.std() - np.sqrt(2 / fan_out)) < 0.003
    assert abs((net.params["sp"][0].data != 0).mean() - 10 / 50) < 0.02
    bl = net.params["bl"][0].data
    f, c = 3, 4 / 6
    k1 = 1 - np.abs(np.arange(5) / f - c)
    np.testing.assert_allclose(bl[7, 3], np.outer(k1, k1), rtol=1e-6)
    assert not net.params["z"][0].data.any()  # default filler: constant 0
