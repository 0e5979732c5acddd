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
        if h * wd < kh * kw and dil == (1, 1):  # few input pixels (FCN's upscore): loop on them
            for y in range(h):
                for z in range(wd):
                    out[
                        :,
                        g * cog : (g + 1) * cog,
                        y * stride[0] : y * stride[0] + kh,
                        z * stride[1] : z * stride[1] + kw,
                    ] += np.einsum("nc,cokl->nokl", xs[:, :, y, z], ws)
            continue
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
    """Caffe's pooling rule: window [o*s - p, o*s - p + k) clipped to the input for MAX
    (a window wholly outside gives -FLT_MAX); AVE sums the clipped window and divides by its
    size clipped to the padded input, min(start + k, in + p) - start."""
    n, c, h, w = x.shape
    oh, ow = caffe_pool_size(h, k[0], p[0], s[0], ceil), caffe_pool_size(w, k[1], p[1], s[1], ceil)
    eh, ew = (oh - 1) * s[0] + k[0], (ow - 1) * s[1] + k[1]  # extent the windows cover
    fill = -np.inf if method == "MAX" else 0.0
    xp = np.full((n, c, max(eh, p[0] + h), max(ew, p[1] + w)), fill)
    xp[:, :, p[0] : p[0] + h, p[1] : p[1] + w] = x
    acc = None
    for i in range(k[0]):
        for j in range(k[1]):
            v = xp[:, :, i : i + s[0] * (oh - 1) + 1 : s[0], j : j + s[1] * (ow - 1) + 1 : s[1]]
            acc = v.copy() if acc is None else (np.maximum(acc, v) if method == "MAX" else acc + v)
    if method == "MAX":
        return np.where(np.isneginf(acc), -np.finfo(np.float32).max, acc)
    hs, ws = np.arange(oh) * s[0] - p[0], np.arange(ow) * s[1] - p[1]
    dh = np.minimum(hs + k[0], h + p[0]) - hs
    dw = np.minimum(ws + k[1], w + p[1]) - ws
    return acc / np.outer(dh, dw)


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


# ---------------------------------------------------------------- a whole net in NumPy
def _loss_mode(lp):
    p = lp.loss_param
    if p.HasField("normalization"):
        return ["FULL", "VALID", "BATCH_SIZE", "NONE"][p.normalization]
    if p.HasField("normalize"):
        return "VALID" if p.normalize else "BATCH_SIZE"
    return "VALID"


def _np_conv_layer(lp, bot, ws, masks):
    p = lp.convolution_param
    k = p.kernel_size[0]
    pad = p.pad[0] if len(p.pad) else 0
    s = p.stride[0] if len(p.stride) else 1
    fn = np_conv if lp.type == "Convolution" else np_deconv
    b = ws[1] if p.bias_term else None
    assert ws[0].shape[2:] == (k, k)
    return fn(bot[0], ws[0], b, (s, s), (pad, pad), (1, 1), p.group)


def _np_pool_layer(lp, bot, ws, masks):
    p = lp.pooling_param
    m = "MAX" if p.pool == 0 else "AVE"
    k, s, pad = p.kernel_size, p.stride, p.pad
    return np_pool(bot[0], m, (k, k), (pad, pad), (s, s))


def _np_lrn_layer(lp, bot, ws, masks):
    p = lp.lrn_param
    return np_lrn_across(bot[0], p.local_size, p.alpha, p.beta, p.k)


def _np_crop_layer(lp, bot, ws, masks):
    off = lp.crop_param.offset[0] if len(lp.crop_param.offset) else 0
    h, w = bot[1].shape[2:]
    return bot[0][:, :, off : off + h, off : off + w]


def _np_eltwise_layer(lp, bot, ws, masks):
    assert lp.eltwise_param.operation == 1
    c = list(lp.eltwise_param.coeff) or [1.0] * len(bot)
    return sum(ci * b for ci, b in zip(c, bot))


def _np_loss_layer(lp, bot, ws, masks):
    ig = lp.loss_param.ignore_label if lp.loss_param.HasField("ignore_label") else None
    return np_softmax_loss(bot[0], bot[1], ig, _loss_mode(lp))


# layer type -> f(layer, bottoms, weights, dropout masks) -> its top, in float64 NumPy
_NP_LAYERS = {
    "Convolution": _np_conv_layer,
    "Deconvolution": _np_conv_layer,
    "Pooling": _np_pool_layer,
    "ReLU": lambda lp, bot, ws, masks: np.maximum(bot[0], 0),
    "Dropout": lambda lp, bot, ws, masks: (
        bot[0] * masks[lp.name] / (1 - lp.dropout_param.dropout_ratio)
    ),
    "LRN": _np_lrn_layer,
    "Crop": _np_crop_layer,
    "Eltwise": _np_eltwise_layer,
    "Concat": lambda lp, bot, ws, masks: np.concatenate(bot, axis=1),
    "Scale": lambda lp, bot, ws, masks: bot[0] * ws[0].reshape(1, -1, 1, 1),
    "SoftmaxWithLoss": _np_loss_layer,
}


def np_run_net(param, inputs, params, masks):
    """Run a caffe_pb2.NetParameter (no Python layers) in float64 NumPy.

    inputs: {blob: array}; params: {layer: [arrays]}; masks: {dropout layer: keep mask}.
    Returns (blobs dict, total loss = sum of loss_weight * loss tops).
    """
    blobs = {k: np.asarray(v, np.float64) for k, v in inputs.items()}
    loss = 0.0
    for lp in param.layer:
        if lp.type == "Input":
            continue
        if lp.type not in _NP_LAYERS:
            raise NotImplementedError(lp.type)
        bot = [blobs.get(b) for b in lp.bottom]
        out = _NP_LAYERS[lp.type](lp, bot, params.get(lp.name, []), masks)
        if lp.type == "SoftmaxWithLoss":
            loss += (lp.loss_weight[0] if len(lp.loss_weight) else 1.0) * out
        blobs[lp.top[0]] = out
    return blobs, loss
