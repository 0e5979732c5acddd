# ruff: noqa: E501  (prototxt one-liners read better unbroken)
"""NumPy reference implementations of Caffe layers (float64), written from Caffe's formulas,
and helpers to run one layer through torchcaffe. Used by tests/test_torchcaffe_*.py only."""

import math

import numpy as np

from caffeio import net_from_text


# ---------------------------------------------------------------- references (float64)
def np_conv(x, w, b, stride=(1, 1), pad=(0, 0), dil=(1, 1), group=1):
    n, c, h, wd = x.shape
    co, cig, kh, kw = w.shape
    oh = (h + 2 * pad[0] - (dil[0] * (kh - 1) + 1)) // stride[0] + 1
    ow = (wd + 2 * pad[1] - (dil[1] * (kw - 1) + 1)) // stride[1] + 1
    xp = np.zeros((n, c, h + 2 * pad[0], wd + 2 * pad[1]))
    xp[:, :, pad[0] : pad[0] + h, pad[1] : pad[1] + wd] = x
    out = np.zeros((n, co, oh, ow))
    cog = co // group
    for g in range(group):
        xs = xp[:, g * cig : (g + 1) * cig]
        ws = w[g * cog : (g + 1) * cog]
        for i in range(kh):
            for j in range(kw):
                hi, wj = i * dil[0], j * dil[1]
                patch = xs[
                    :, :, hi : hi + stride[0] * oh : stride[0], wj : wj + stride[1] * ow : stride[1]
                ]
                out[:, g * cog : (g + 1) * cog] += np.einsum("nchw,oc->nohw", patch, ws[:, :, i, j])
    if b is not None:
        out += b[None, :, None, None]
    return out


def np_deconv(x, w, b, stride=(1, 1), pad=(0, 0), dil=(1, 1), group=1):
    n, ci, h, wd = x.shape
    _, cog, kh, kw = w.shape
    full_h = stride[0] * (h - 1) + dil[0] * (kh - 1) + 1
    full_w = stride[1] * (wd - 1) + dil[1] * (kw - 1) + 1
    out = np.zeros((n, cog * group, full_h, full_w))
    cig = ci // group
    for g in range(group):
        xs = x[:, g * cig : (g + 1) * cig]
        ws = w[g * cig : (g + 1) * cig]
        for i in range(kh):
            for j in range(kw):
                hi, wj = i * dil[0], j * dil[1]
                out[
                    :,
                    g * cog : (g + 1) * cog,
                    hi : hi + stride[0] * h : stride[0],
                    wj : wj + stride[1] * wd : stride[1],
                ] += np.einsum("nchw,co->nohw", xs, ws[:, :, i, j])
    out = out[:, :, pad[0] : full_h - pad[0], pad[1] : full_w - pad[1]]
    if b is not None:
        out = out + b[None, :, None, None]
    return out


def caffe_pool_size(size, k, p, s, ceil=True):
    out = int(math.ceil((size + 2 * p - k) / s)) + 1 if ceil else (size + 2 * p - k) // s + 1
    if p > 0 and (out - 1) * s >= size + p:
        out -= 1
    return out


def np_pool(x, method, k, p, s, ceil=True):
    """Caffe's pooling loops, literally: windows clipped; AVE divides by the window clipped to
    the padded input."""
    n, c, h, w = x.shape
    oh, ow = caffe_pool_size(h, k[0], p[0], s[0], ceil), caffe_pool_size(w, k[1], p[1], s[1], ceil)
    out = np.zeros((n, c, oh, ow))
    for ph in range(oh):
        for pw in range(ow):
            hs, ws = ph * s[0] - p[0], pw * s[1] - p[1]
            he, we = min(hs + k[0], h + p[0]), min(ws + k[1], w + p[1])
            size = (he - hs) * (we - ws)
            hs, ws, he, we = max(hs, 0), max(ws, 0), min(he, h), min(we, w)
            win = x[:, :, hs:he, ws:we]
            if win.size == 0:  # a window wholly outside the input (kernel < stride)
                out[:, :, ph, pw] = -np.finfo(np.float32).max if method == "MAX" else 0.0
            elif method == "MAX":
                out[:, :, ph, pw] = win.max(axis=(2, 3))
            else:
                out[:, :, ph, pw] = win.sum(axis=(2, 3)) / size
    return out


def np_lrn_across(x, n, alpha, beta, k):
    c = x.shape[1]
    sq = x * x
    out = np.empty_like(x)
    pre = (n - 1) // 2
    for ch in range(c):
        lo, hi = max(0, ch - pre), min(c, ch - pre + n)
        scale = k + alpha / n * sq[:, lo:hi].sum(axis=1)
        out[:, ch] = x[:, ch] * scale**-beta
    return out


def np_lrn_within(x, n, alpha, beta):
    pad = (n - 1) // 2
    avg = np_pool(x * x, "AVE", (n, n), (pad, pad), (1, 1))
    return x * (1 + alpha * avg) ** -beta


def np_softmax(x, axis=1):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def np_softmax_loss(x, label, ignore=None, mode="VALID"):
    n, c = x.shape[:2]
    inner = int(np.prod(x.shape[2:]))
    p = np_softmax(x).reshape(n, c, inner)
    lab = label.reshape(n, inner).astype(int)
    loss, valid = 0.0, 0
    for i in range(n):
        for j in range(inner):
            if ignore is not None and lab[i, j] == ignore:
                continue
            loss -= math.log(max(p[i, lab[i, j], j], np.finfo(np.float32).tiny))
            valid += 1
    norm = {"FULL": n * inner, "VALID": valid, "BATCH_SIZE": n, "NONE": 1}[mode]
    return loss / max(1.0, norm)


def np_batchnorm_train(x, eps):
    axes = (0,) + tuple(range(2, x.ndim))
    mean = x.mean(axis=axes, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=axes, keepdims=True)
    return (x - mean) / np.sqrt(var + eps)


# ---------------------------------------------------------------- running one layer
def one_layer_net(layer_text, bottoms, tops, force_backward=True, extra=""):
    """Prototxt: one Input layer per bottom (shapes from the arrays), then the layer."""
    lines = [f'name: "one" force_backward: {"true" if force_backward else "false"}']
    for name, arr in bottoms.items():
        dims = " ".join(f"dim: {d}" for d in arr.shape)
        lines.append(
            f'layer {{ name: "in_{name}" type: "Input" top: "{name}" '
            f"input_param {{ shape {{ {dims} }} }} }}"
        )
    lines.append(extra)
    lines.append(layer_text)
    return net_from_text("\n".join(lines))


def run_layer(caffe, layer_text, bottoms, params=(), top_diffs=None, phase=1, layer="L"):
    """Forward and backward one layer; returns (net, tops {name: array}, bottom diffs, param
    diffs). Bottom arrays go in as float32; top diffs default to seeded random."""
    net = caffe.Net(one_layer_net(layer_text, bottoms, None), phase)
    for name, arr in bottoms.items():
        net.blobs[name].data[...] = arr
    for blob, arr in zip(net.params.get(layer, []), params):
        blob.data[...] = arr
    net.forward()
    tops = {t: net.blobs[t].data.copy() for t in net.top_names[layer]}
    rng = np.random.default_rng(7)
    diffs = top_diffs or {t: rng.standard_normal(net.blobs[t].shape) for t in tops}
    for t, d in diffs.items():
        net.blobs[t].diff[...] = d
    net._backward(len(net.layers) - 1, 0)
    bdiffs = {b: net.blobs[b].diff.copy() for b in bottoms}
    pdiffs = [b.diff.copy() for b in net.params.get(layer, [])]
    return net, tops, bdiffs, pdiffs, diffs


def numeric_grad(f, x, g, h=1e-4):
    """d/dx of sum(f(x) * g) by central differences (float64)."""
    x = np.array(x, dtype=np.float64)
    out = np.zeros_like(x)
    it = np.nditer(x, flags=["multi_index"])
    for _ in it:
        i = it.multi_index
        old = x[i]
        x[i] = old + h
        fp = np.sum(f(x) * g)
        x[i] = old - h
        fm = np.sum(f(x) * g)
        x[i] = old
        out[i] = (fp - fm) / (2 * h)
    return out


def assert_close(a, b, rtol=1e-4, what=""):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    assert a.shape == b.shape, f"{what}: shape {a.shape} vs {b.shape}"
    scale = max(np.abs(b).max(), 1e-6) if b.size else 1.0
    err = np.abs(a - b).max() / scale if a.size else 0.0
    assert err < rtol, f"{what}: max abs error / max |ref| = {err:.3g}"
