"""What two training runs of one net must agree on, whichever CPU or code path ran them.

A MAX pooling backward routes each window's diff to the window's maximum. In the constant areas
that pad 100 creates, a window's values are equal up to float rounding, so another summation
order (another CPU's kernels, constant-area skipping, NHWC against NCHW, Winograd against direct)
makes another, equally valid position the maximum, and the diff moves there. Caffe's rule (the
first maximum in scan order, strict ``>``) decides only between bit-equal values. So:

- defined to float rounding across paths and CPUs: the loss, every blob's data, every parameter
  diff (at tied positions the input patches are equal, so the weight gradient is too), and the
  diffs of blobs whose gradient reaches them without passing a MAX pooling backward;
- defined within one run, exactly: each MAX pooling's bottom diff is Caffe's routing of that
  run's own top diff to the first maximum, in scan order, of that run's own bottom data
  (``assert_max_pool_routing``);
- not defined across paths: the diffs of blobs below a MAX pooling (``tie_dependent_blobs``).
"""

import numpy as np
import pytest


def close(a, b, rel=1e-4, what=""):
    """max |a - b| <= rel * max(max |b|, 1e-3)."""
    a, b = np.asarray(a), np.asarray(b)
    assert a.shape == b.shape, (what, a.shape, b.shape)
    scale = max(float(np.abs(b).max(initial=0.0)), 1e-3)
    err = float(np.abs(a - b).max(initial=0.0))
    assert err <= rel * scale, (what, err, scale)


def _spatial(p, single, h, w, default):
    if p.HasField(h) or p.HasField(w):
        return getattr(p, h), getattr(p, w)
    v = getattr(p, single)
    if isinstance(v, int):
        return (v, v) if p.HasField(single) else (default, default)
    return (v[0], v[0]) if len(v) else (default, default)


def max_pools(param):
    """[(layer name, bottom, top, kernel (kh, kw), stride, pad)] of the MAX poolings in
    NetParameter `param` (global pooling included: kernel None)."""
    out = []
    for lp in param.layer:
        if lp.type != "Pooling" or lp.pooling_param.pool != lp.pooling_param.MAX:
            continue
        p = lp.pooling_param
        kernel = None if p.global_pooling else _spatial(p, "kernel_size", "kernel_h", "kernel_w", 0)
        stride = _spatial(p, "stride", "stride_h", "stride_w", 1)
        pad = _spatial(p, "pad", "pad_h", "pad_w", 0)
        out.append((lp.name, lp.bottom[0], lp.top[0], kernel, stride, pad))
    return out


def tie_dependent_blobs(param):
    """Names of the blobs whose diff passes a MAX pooling backward on its way down: every blob
    from which the forward graph reaches a MAX pooling's bottom (that bottom included)."""
    producers = {}  # blob -> the bottoms of the layers that write it
    for lp in param.layer:
        for t in lp.top:
            producers.setdefault(t, set()).update(b for b in lp.bottom if b != t)
    todo = [bottom for _, bottom, *_ in max_pools(param)]
    seen = set()
    while todo:
        b = todo.pop()
        if b not in seen:
            seen.add(b)
            todo.extend(producers.get(b, ()))
    return seen


def caffe_max_pool_backward(x, top_diff, kernel, stride, pad):
    """Caffe's MAX pooling backward of N x C x H x W `x`: each window's top diff added at the
    window's first maximum in scan order (strict >; windows clipped to the input)."""
    n, c, h, w = x.shape
    oh, ow = top_diff.shape[2:]
    (kh, kw), (sh, sw), (ph, pw) = kernel, stride, pad
    best = np.full((n, c, oh, ow), -np.inf, np.float64)
    arg = np.full((n, c, oh, ow), -1, np.int64)
    ys = np.arange(oh) * sh - ph
    xs = np.arange(ow) * sw - pw
    for dy in range(kh):  # scan order: rows, then columns within a row
        for dx in range(kw):
            yy, xx = ys[:, None] + dy, xs[None, :] + dx
            inside = (yy >= 0) & (yy < h) & (xx >= 0) & (xx < w)
            v = x[:, :, np.clip(yy, 0, h - 1), np.clip(xx, 0, w - 1)].astype(np.float64)
            better = inside & (v > best)
            best = np.where(better, v, best)
            arg = np.where(better, np.clip(yy, 0, h - 1) * w + np.clip(xx, 0, w - 1), arg)
    out = np.zeros((n, c, h * w), np.float64)
    flat = arg.reshape(n, c, -1)
    d = top_diff.reshape(n, c, -1).astype(np.float64)
    for i in range(n):
        for j in range(c):
            ok = flat[i, j] >= 0
            np.add.at(out[i, j], flat[i, j][ok], d[i, j][ok])
    return out.reshape(n, c, h, w)


def _in_place_relu_on(param, blob):
    return any(
        lp.type == "ReLU" and list(lp.bottom) == [blob] and list(lp.top) == [blob]
        for lp in param.layer
    )


def _only_consumer_is_pool(param, blob, pool):
    users = [lp.name for lp in param.layer if blob in lp.bottom and blob not in lp.top]
    return users == [pool]


def assert_max_pool_routing(net, param, rel=1e-5):
    """Each MAX pooling of `net` (after a forward and backward) routed its top diff as Caffe
    does, on the net's own data: to the first maximum in scan order of each window; an in-place
    ReLU below it then zeroes the diff where its output is 0. Poolings whose bottom feeds other
    layers too (its diff is then a sum) are left out -> the names checked."""
    checked = []
    for name, bottom, top, kernel, stride, pad in max_pools(param):
        if not _only_consumer_is_pool(param, bottom, name):
            continue
        x = np.asarray(net.blobs[bottom].data)
        kernel = kernel or x.shape[2:]
        want = caffe_max_pool_backward(x, np.asarray(net.blobs[top].diff), kernel, stride, pad)
        if _in_place_relu_on(param, bottom):
            want = want * (x > 0)
        close(net.blobs[bottom].diff, want, rel, f"{name}: bottom diff vs Caffe's routing")
        checked.append(name)
    return checked


def assert_same_training(a, b, param, rel=1e-4, data=True):
    """Nets `a` and `b` of NetParameter `param` (torchcaffe or pycaffe) after the same
    forward/backward (or SGD steps) agree on what is defined (see the module docstring): loss,
    blob data, parameter data and diffs, and the diffs of blobs above every MAX pooling; each
    net's poolings route as Caffe. Blobs one net lacks (Caffe's Split tops) are skipped.
    -> the blobs whose diffs were not compared (tie-dependent)."""
    if hasattr(a, "loss") and hasattr(b, "loss"):
        assert a.loss == pytest.approx(b.loss, rel=1e-5)
    tied = tie_dependent_blobs(param)
    names = [n for n in a.blobs if n in b.blobs]
    # Split tops (<blob>_<layer>_<i>_split_<j>, inserted by both engines) share their source's fate
    tied |= {n for n in names if "_split_" in n and any(n.startswith(t + "_") for t in tied)}
    for name in names:
        if data:
            close(a.blobs[name].data, b.blobs[name].data, rel, f"data {name}")
        if name not in tied:
            close(a.blobs[name].diff, b.blobs[name].diff, rel, f"diff {name}")
    assert list(a.params) == list(b.params)
    for name in a.params:
        for i, (pa, pb) in enumerate(zip(a.params[name], b.params[name])):
            close(pa.data, pb.data, rel, f"param {name}[{i}]")
            close(pa.diff, pb.diff, rel, f"param diff {name}[{i}]")
    for net in (a, b):
        assert assert_max_pool_routing(net, param), "no MAX pooling was checked"
    return sorted(tied & set(names))
