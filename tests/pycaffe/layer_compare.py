"""Run one layer on real Caffe and on torchcaffe from the same prototxt and caffemodel, and
compare its tops, bottom diffs and parameter diffs.

    r = compare(caffe, torchcaffe, tmp_path, layer_text, {"x": x}, ...)
    r.worst_forward, r.worst_backward   # max |torchcaffe - caffe| / max |caffe| over the arrays

Nets: one Input layer per bottom (data set from the arrays), optional extra layers, then the
layer under test named "L". Caffe's net fills the parameters (or takes `params`) and saves the
caffemodel that torchcaffe then loads. Top diffs are seeded random (loss tops keep the loss
weight Caffe seeds), then both nets run backward.
"""

import json
import os

import numpy as np

MEASURED = os.environ.get("LAYERTYPES_MEASURED")  # a JSON-lines file the worst diffs go to


def rel(a, b):
    """max |a - b| / max |b| (0 when both are all zero; exact shapes required)."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    assert a.shape == b.shape, (a.shape, b.shape)
    if a.size == 0:
        return 0.0
    if not (np.isfinite(a) == np.isfinite(b)).all():
        return float("inf")
    fin = np.isfinite(b)
    if not (a[~fin] == b[~fin]).all():
        return float("inf")
    scale = np.abs(b[fin]).max() if fin.any() else 0.0
    d = np.abs(a[fin] - b[fin]).max() if fin.any() else 0.0
    return float(d / scale) if scale else float(d)


def input_layers(bottoms):
    out = []
    for name, arr in bottoms.items():
        dims = " ".join(f"dim: {d}" for d in np.shape(arr))
        out.append(
            f'layer {{ name: "in_{name}" type: "Input" top: "{name}" '
            f"input_param {{ shape {{ {dims} }} }} }}"
        )
    return out


def write_net(path, layer_text, bottoms, force_backward=True, extra=""):
    lines = [f'name: "one" force_backward: {"true" if force_backward else "false"}']
    lines += input_layers(bottoms)
    lines += [extra, layer_text]
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    return str(path)


class Result:
    def __init__(self):
        self.forward = {}
        self.backward = {}
        self.tops = {}
        self.ref_tops = {}

    @property
    def worst_forward(self):
        return max(self.forward.values(), default=0.0)

    @property
    def worst_backward(self):
        return max(self.backward.values(), default=0.0)

    def record(self, layer_type, case):
        if MEASURED:
            with open(MEASURED, "a") as f:
                f.write(
                    json.dumps(
                        dict(
                            type=layer_type,
                            case=case,
                            forward=self.worst_forward,
                            backward=self.worst_backward if self.backward else None,
                        )
                    )
                    + "\n"
                )
        print(
            f"{layer_type} [{case}]: forward {self.worst_forward:.2e}"
            + (f", backward {self.worst_backward:.2e}" if self.backward else "")
        )


def _set_inputs(net, bottoms):
    for name, arr in bottoms.items():
        net.blobs[name].data[...] = arr


def compare(
    caffe,
    torchcaffe,
    tmp_path,
    layer_text,
    bottoms,
    params=None,
    extra="",
    force_backward=True,
    phase=1,
    backward=True,
    top_diff_seed=5,
    forwards=1,
    diff_blobs=None,
    param_layers=("L",),
    before_forward=None,
):
    """Forward (`forwards` times) and backward the layer on both engines; returns Result with
    the relative differences of every top (each forward), every bottom diff (or the blobs in
    `diff_blobs`) and every parameter diff of `param_layers`."""
    proto = write_net(tmp_path / "net.prototxt", layer_text, bottoms, force_backward, extra)
    cnet = caffe.Net(proto, phase)
    for name, arrays in (params or {}).items():
        for blob, arr in zip(cnet.params[name], arrays):
            blob.data[...] = arr
    weights = str(tmp_path / "net.caffemodel")
    cnet.save(weights)
    tnet = torchcaffe.Net(proto, phase, weights=weights)
    res = Result()
    for k in range(forwards):
        _compare_forward(res, cnet, tnet, bottoms, before_forward, k if forwards > 1 else None)
    if not backward:
        return res
    _compare_backward(cnet, tnet, top_diff_seed)
    for b in diff_blobs if diff_blobs is not None else bottoms:
        res.backward[f"diff {b}"] = rel(tnet.blobs[b].diff, cnet.blobs[b].diff)
    for name in param_layers:
        for i, (tb, cb) in enumerate(zip(tnet.params.get(name, []), cnet.params.get(name, []))):
            res.backward[f"param {name}[{i}]"] = rel(tb.diff, cb.diff)
    res.cnet, res.tnet = cnet, tnet
    return res


def _compare_forward(res, cnet, tnet, bottoms, before_forward, k):
    """One forward on both nets; record layer L's tops (k: the forward's index, None when
    there is one)."""
    for net in (cnet, tnet):
        _set_inputs(net, bottoms)
        if before_forward is not None:
            before_forward(net)
        net.forward()
    for t in cnet.top_names["L"]:
        key = f"top {t}" + (f" (forward {k + 1})" if k is not None else "")
        res.tops[key] = tnet.blobs[t].data.copy()
        res.ref_tops[key] = cnet.blobs[t].data.copy()
        res.forward[key] = rel(tnet.blobs[t].data, cnet.blobs[t].data)


def _compare_backward(cnet, tnet, seed):
    """The same random diffs on layer L's non-loss tops of both nets, then backward."""
    rng = np.random.default_rng(seed)
    losses = {t for t, w in cnet.blob_loss_weights.items() if w}
    for t in cnet.top_names["L"]:
        if t in losses:
            continue
        d = rng.standard_normal(cnet.blobs[t].data.shape).astype(np.float32)
        cnet.blobs[t].diff[...] = d
        tnet.blobs[t].diff[...] = d
    cnet.backward()
    tnet.backward()
