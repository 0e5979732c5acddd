# ruff: noqa: E501  (prototxt one-liners read better unbroken)
"""Every layer type torchcaffe adds to the FCN set, against real BVLC Caffe: the same prototxt
and caffemodel on both engines, random geometries and parameters (three seeds per case), in
place where Caffe allows it, loss weights other than 1, propagate_down false; tops, bottom
diffs and parameter diffs compared.

Tolerance: TOL = 1e-5 of each array's largest magnitude where float rounding differs (sums in
another order); 0 (bit-identical) for the layers that copy, pick or threshold (`exact`).
Measured worst differences: pytest -s prints them (the README table quotes them);
LAYERTYPES_MEASURED=<file> also writes them as JSON lines.

ImageData and WindowData need Caffe built with OpenCV (make pycaffe OPENCV=1): they run in a
subprocess on that variant (test_pycaffe_opencv_layers.py)."""

import inspect

import numpy as np
import pytest
from layer_compare import compare, rel, write_net

TOL = 1e-5
SEEDS = [0, 1, 2]
CASES = {}


def case(layer_type, name, exact=False, exact_backward=None):
    """Register a case builder: f(rng) -> dict(text=, bottoms=, **compare kwargs)."""

    def deco(f):
        CASES[f"{layer_type}-{name}"] = (
            layer_type,
            f,
            exact,
            exact if exact_backward is None else exact_backward,
        )
        return f

    return deco


def normal(rng, *shape, scale=1.0):
    return (rng.standard_normal(shape) * scale).astype(np.float32)


def uniform(rng, lo, hi, *shape):
    return rng.uniform(lo, hi, shape).astype(np.float32)


def shape4(rng):
    return tuple(int(v) for v in rng.integers(1, 5, 4))


def dims(shape):
    return " ".join(f"dim: {d}" for d in shape)


def param_source(name, top, shape):
    """A Parameter layer making `top` (its blob is set from the caffemodel): a bottom that needs
    backward without force_backward, so that propagate_down decides."""
    return f'layer {{ name: "{name}" type: "Parameter" top: "{top}" parameter_param {{ shape {{ {dims(shape)} }} }} }}'


def scale_loss(top, g="g", name="S"):
    """loss = sum(top * g): the top diff is the random blob g."""
    return f'layer {{ name: "{name}" type: "Scale" bottom: "{top}" bottom: "{g}" top: "{name}_out" scale_param {{ axis: 0 }} loss_weight: 1 }}'


# ------------------------------------------------------------------ element-wise
def _neuron(layer_type, param="", make=None, exact=False, in_place_ok=True):
    for in_place in (False, True) if in_place_ok else (False,):

        @case(layer_type, "in-place" if in_place else "plain", exact=exact)
        def build(rng, in_place=in_place):
            x = make(rng) if make else normal(rng, *shape4(rng), scale=3)
            p = param(rng) if callable(param) else param
            top = "x" if in_place else "y"
            return dict(
                text=f'layer {{ name: "L" type: "{layer_type}" bottom: "x" top: "{top}" {p} }}',
                bottoms={"x": x},
            )


_neuron("AbsVal", in_place_ok=False, exact=True)
_neuron("BNLL", make=lambda r: normal(r, *shape4(r), scale=30))
_neuron(
    "Clip",
    lambda r: f"clip_param {{ min: {-r.uniform(0, 2):.3f} max: {r.uniform(0, 2):.3f} }}",
    exact=True,
)
_neuron("ELU", lambda r: f"elu_param {{ alpha: {r.uniform(0.2, 2):.3f} }}")
_neuron("Swish", lambda r: f"swish_param {{ beta: {r.uniform(0.3, 3):.3f} }}")
_neuron(
    "Exp",
    lambda r: (
        f"exp_param {{ base: {r.choice([-1, 2, 0.5, 10])} scale: {r.uniform(-1, 1):.3f} shift: {r.choice([0, r.uniform(-1, 1)]):.3f} }}"
    ),
)
_neuron(
    "Log",
    lambda r: (
        f"log_param {{ base: {r.choice([-1, 2, 10])} scale: {r.choice([1, r.uniform(0.5, 2)]):.3f} shift: {r.choice([0, r.uniform(0, 1)]):.3f} }}"
    ),
    make=lambda r: uniform(r, 0.1, 3, *shape4(r)),
)
_neuron(
    "Power",
    lambda r: (
        f"power_param {{ power: {r.choice([1, 2, 0.5, 3, -1.5])} scale: {r.uniform(0.5, 2):.3f} shift: {r.choice([0, r.uniform(0, 1)]):.3f} }}"
    ),
    make=lambda r: uniform(r, 0.1, 3, *shape4(r)),
)
_neuron("Power", "power_param { power: 0 scale: 2 shift: 3 }")


for _in_place in (False, True):

    @case("PReLU", "in-place" if _in_place else "plain")
    def _prelu(rng, in_place=_in_place):
        s = shape4(rng)
        shared = bool(rng.integers(2))
        slope = normal(rng, *(() if shared else (s[1],)))
        top = "x" if in_place else "y"
        text = f'layer {{ name: "L" type: "PReLU" bottom: "x" top: "{top}" prelu_param {{ channel_shared: {str(shared).lower()} }} }}'
        return dict(text=text, bottoms={"x": normal(rng, *s, scale=2)}, params={"L": [slope]})


@case("PReLU", "default-filler")
def _prelu_default(rng):
    return dict(
        text='layer { name: "L" type: "PReLU" bottom: "x" top: "y" }',
        bottoms={"x": normal(rng, 2, 3, 4)},
    )


@case("Threshold", "forward", exact=True)
def _threshold(rng):
    x = normal(rng, *shape4(rng))
    t = float(x.ravel()[0])  # one value exactly at the threshold (not above: 0)
    return dict(
        text=f'layer {{ name: "L" type: "Threshold" bottom: "x" top: "y" threshold_param {{ threshold: {t!r} }} }}',
        bottoms={"x": x},
        force_backward=False,
        backward=False,
    )


# ------------------------------------------------------------------ losses
def loss_weight(rng):
    return float(rng.choice([1, 2.5, 0.3]))


@case("EuclideanLoss", "both-bottoms")
def _euclid(rng):
    s = shape4(rng)
    a, b = normal(rng, *s), normal(rng, *s)
    return dict(
        text=f'layer {{ name: "L" type: "EuclideanLoss" bottom: "a" bottom: "b" top: "l" loss_weight: {loss_weight(rng)} }}',
        bottoms={"a": a, "b": b.reshape(s[0], -1)},
    )


@case("EuclideanLoss", "propagate-down")
def _euclid_pd(rng):
    s = (3, 4)
    a, b = normal(rng, *s), normal(rng, *s)
    extra = param_source("pa", "a", s) + "\n" + param_source("pb", "b", s)
    return dict(
        text='layer { name: "L" type: "EuclideanLoss" bottom: "a" bottom: "b" top: "l" propagate_down: false propagate_down: true }',
        bottoms={},
        extra=extra,
        params={"pa": [a], "pb": [b]},
        force_backward=False,
        phase=0,
        diff_blobs=["a", "b"],
        param_layers=("pa", "pb"),
    )


@case("ContrastiveLoss", "pairs")
def _contrastive(rng):
    n, c = int(rng.integers(2, 6)), int(rng.integers(1, 5))
    a, b = normal(rng, n, c, 1, 1), normal(rng, n, c)
    y = rng.choice([0, 1, 0.5, 2], n).astype(np.float32)  # 0.5 counts as dissimilar (int 0)
    legacy = str(bool(rng.integers(2))).lower()
    text = f'layer {{ name: "L" type: "ContrastiveLoss" bottom: "a" bottom: "b" bottom: "y" top: "l" contrastive_loss_param {{ margin: {rng.uniform(0.5, 4):.3f} legacy_version: {legacy} }} loss_weight: {loss_weight(rng)} }}'
    return dict(text=text, bottoms={"a": a, "b": b, "y": y})


@case("HingeLoss", "norms")
def _hinge(rng):
    n, c = int(rng.integers(2, 6)), int(rng.integers(2, 6))
    x = normal(rng, n, c, 2, scale=1.5)
    y = rng.integers(0, 2 * c, n).astype(np.float32)
    norm = rng.choice(["L1", "L2"])
    text = f'layer {{ name: "L" type: "HingeLoss" bottom: "x" bottom: "y" top: "l" hinge_loss_param {{ norm: {norm} }} loss_weight: {loss_weight(rng)} }}'
    return dict(text=text, bottoms={"x": x, "y": y})


@case("MultinomialLogisticLoss", "probabilities")
def _multinomial(rng):
    n, c = int(rng.integers(2, 6)), int(rng.integers(2, 6))
    p = uniform(rng, 0, 1, n, c)
    y = rng.integers(0, c, n).astype(np.float32)
    p[0, int(y[0])] = 0  # clamped at 1e-20
    text = f'layer {{ name: "L" type: "MultinomialLogisticLoss" bottom: "p" bottom: "y" top: "l" loss_weight: {loss_weight(rng)} }}'
    return dict(text=text, bottoms={"p": p, "y": y.reshape(n, 1, 1, 1)})


NORMS = ["", "loss_param { normalize: true }", "loss_param { normalize: false }"] + [
    f"loss_param {{ normalization: {m} }}" for m in ("FULL", "VALID", "BATCH_SIZE", "NONE")
]


@case("SigmoidCrossEntropyLoss", "normalizations")
def _sigmoid_ce(rng):
    s = shape4(rng)
    x = normal(rng, *s, scale=3)
    t = uniform(rng, 0, 1, *s)
    t.ravel()[::3] = -1
    norm = NORMS[int(rng.integers(len(NORMS)))]
    ignore = "ignore_label: -1" if rng.integers(2) else ""
    norm = (
        norm.replace("loss_param {", f"loss_param {{ {ignore}")
        if norm
        else (f"loss_param {{ {ignore} }}" if ignore else "")
    )
    text = f'layer {{ name: "L" type: "SigmoidCrossEntropyLoss" bottom: "x" bottom: "t" top: "l" {norm} loss_weight: {loss_weight(rng)} }}'
    return dict(text=text, bottoms={"x": x, "t": t})


def _infogain_file(tmp_path, h):
    import caffe

    path = tmp_path / "H.binaryproto"
    path.write_bytes(caffe.io.array_to_blobproto(h.reshape(1, 1, *h.shape)).SerializeToString())
    return path


@case("InfogainLoss", "source")
def _infogain(rng, tmp_path):
    n, c, k = int(rng.integers(2, 4)), int(rng.integers(2, 5)), int(rng.integers(1, 4))
    axis = int(rng.choice([1, -1]))
    x = normal(rng, n, c, k, scale=2) if axis == 1 else normal(rng, n, k, c, scale=2)
    y = rng.integers(0, c, (n, k)).astype(np.float32)
    y[0, 0] = 9
    h = uniform(rng, 0, 2, c, c)
    path = _infogain_file(tmp_path, h)
    modes = ["FULL", "VALID", "BATCH_SIZE", "NONE"]
    lp = f"loss_param {{ ignore_label: 9 normalization: {modes[int(rng.integers(4))]} }}"
    text = f'layer {{ name: "L" type: "InfogainLoss" bottom: "x" bottom: "y" top: "l" top: "prob" loss_weight: {loss_weight(rng)} loss_weight: 0 infogain_loss_param {{ source: "{path}" axis: {axis} }} {lp} }}'
    return dict(text=text, bottoms={"x": x, "y": y}, diff_blobs=["x"])


@case("InfogainLoss", "matrix-bottom")
def _infogain_bottom(rng):
    n, c = 3, 4
    x = normal(rng, n, c, 2)
    y = rng.integers(0, c, (n, 2)).astype(np.float32)
    h = uniform(rng, 0, 2, c, c)
    text = 'layer { name: "L" type: "InfogainLoss" bottom: "x" bottom: "y" bottom: "H" top: "l" }'
    return dict(
        text=text,
        bottoms={"y": y, "H": h},
        extra=param_source("px", "x", x.shape),
        params={"px": [x]},
        force_backward=False,
        phase=0,
        diff_blobs=["x"],
        param_layers=("px",),
    )


# ------------------------------------------------------------------ reductions, shapes
@case("MVN", "params")
def _mvn(rng):
    s = shape4(rng)
    s = s[: int(rng.integers(2, 5))]
    nv, ac = (str(bool(v)).lower() for v in rng.integers(2, size=2))
    top = "x" if rng.integers(2) else "y"
    text = f'layer {{ name: "L" type: "MVN" bottom: "x" top: "{top}" mvn_param {{ normalize_variance: {nv} across_channels: {ac} eps: {rng.choice([1e-9, 0.01, 0.5])} }} }}'
    return dict(
        text=text, bottoms={"x": normal(rng, 2, 3, 4, 5) if len(s) < 3 else normal(rng, *s)}
    )


@case("MVN", "propagate-down")
def _mvn_pd(rng):
    x = normal(rng, 2, 3, 4)
    g = normal(rng, 2, 3, 4, 1)
    return dict(
        text='layer { name: "L" type: "MVN" bottom: "x" top: "y" propagate_down: false }\n'
        + scale_loss("y"),
        bottoms={"g": g},
        extra=param_source("px", "x", x.shape),
        params={"px": [x]},
        force_backward=False,
        phase=0,
        diff_blobs=["x"],
        param_layers=("px",),
    )


@case("Reduction", "ops")
def _reduction(rng):
    s = shape4(rng)
    op = rng.choice(["SUM", "ASUM", "SUMSQ", "MEAN"])
    axis = int(rng.integers(-4, 4))
    text = f'layer {{ name: "L" type: "Reduction" bottom: "x" top: "y" reduction_param {{ operation: {op} axis: {axis} coeff: {rng.uniform(-2, 2):.3f} }} }}'
    return dict(text=text, bottoms={"x": normal(rng, *s)})


@case("Slice", "points", exact=True)
def _slice(rng):
    s = list(shape4(rng))
    axis = int(rng.integers(0, 4))
    s[axis] = int(rng.integers(2, 7))
    if rng.integers(2):
        k = int(rng.integers(1, s[axis]))
        points = sorted(rng.choice(np.arange(1, s[axis]), k, replace=False).tolist())
        tops = " ".join(f'top: "t{i}"' for i in range(k + 1))
        sp = f"axis: {axis} " + " ".join(f"slice_point: {p}" for p in points)
    else:
        s[axis] = 6
        k = int(rng.choice([1, 2, 3, 6]))
        tops = " ".join(f'top: "t{i}"' for i in range(k))
        sp = f"slice_dim: {axis}" if rng.integers(2) else f"axis: {axis - 4}"
    return dict(
        text=f'layer {{ name: "L" type: "Slice" bottom: "x" {tops} slice_param {{ {sp} }} }}',
        bottoms={"x": normal(rng, *s)},
    )


@case("Tile", "axes", exact=True, exact_backward=False)
def _tile(rng):
    s = shape4(rng)
    text = f'layer {{ name: "L" type: "Tile" bottom: "x" top: "y" tile_param {{ axis: {int(rng.integers(-4, 4))} tiles: {int(rng.integers(1, 4))} }} }}'
    return dict(text=text, bottoms={"x": normal(rng, *s)})


@case("BatchReindex", "propagate-down", exact=True, exact_backward=False)
def _reindex(rng):
    n = int(rng.integers(2, 5))
    x = normal(rng, n, 3, 2)
    k = int(rng.integers(1, 7))
    idx = rng.integers(0, n, k).astype(np.float32)
    idx[0] = n - 0.5  # Caffe casts to int: n - 1
    g = normal(rng, k, 3, 2)
    text = (
        'layer { name: "L" type: "BatchReindex" bottom: "x" bottom: "i" top: "y" propagate_down: true propagate_down: false }\n'
        + scale_loss("y")
    )
    return dict(
        text=text,
        bottoms={"i": idx, "g": g},
        extra=param_source("px", "x", x.shape),
        params={"px": [x]},
        force_backward=False,
        phase=0,
        diff_blobs=["x"],
        param_layers=("px",),
    )


@case("Filter", "propagate-down", exact=True)
def _filter(rng):
    n = int(rng.integers(2, 6))
    x, z = normal(rng, n, 3, 2), normal(rng, n, 4)
    sel = rng.choice([0, 1, -2.5], n).astype(np.float32)
    sel[0] = 1
    loss = (
        'layer { name: "S" type: "Reduction" bottom: "y" top: "s" reduction_param { operation: SUMSQ coeff: 0.5 } loss_weight: 1 }\n'
        'layer { name: "S2" type: "Reduction" bottom: "y2" top: "s2" reduction_param { operation: SUMSQ coeff: 1.5 } loss_weight: 1 }'
    )
    pd = " ".join(
        f"propagate_down: {v}" for v in ("true", str(bool(rng.integers(2))).lower(), "false")
    )
    text = (
        f'layer {{ name: "L" type: "Filter" bottom: "x" bottom: "z" bottom: "sel" top: "y" top: "y2" {pd} }}\n'
        + loss
    )
    extra = param_source("px", "x", x.shape) + "\n" + param_source("pz", "z", z.shape)
    return dict(
        text=text,
        bottoms={"sel": sel.reshape(n, 1)},
        extra=extra,
        params={"px": [x], "pz": [z]},
        force_backward=False,
        phase=0,
        diff_blobs=["x", "z"],
        param_layers=("px", "pz"),
    )


@case("Embed", "lookup", exact=True, exact_backward=False)
def _embed(rng):
    k, n = int(rng.integers(2, 8)), int(rng.integers(1, 5))
    ids = rng.integers(0, k, (3, 2)).astype(np.float32)
    bias = str(bool(rng.integers(2))).lower()
    g = normal(rng, 3, 2, n)
    text = (
        f'layer {{ name: "L" type: "Embed" bottom: "i" top: "y" embed_param {{ num_output: {n} input_dim: {k} bias_term: {bias} weight_filler {{ type: "gaussian" }} bias_filler {{ type: "uniform" min: -1 max: 1 }} }} }}\n'
        + scale_loss("y")
    )
    return dict(text=text, bottoms={"i": ids, "g": g}, force_backward=False, phase=0, diff_blobs=[])


@case("Parameter", "as-top", exact=True)
def _parameter(rng):
    s = shape4(rng)
    text = (
        f'layer {{ name: "L" type: "Parameter" top: "p" parameter_param {{ shape {{ {dims(s)} }} }} }}\n'
        + scale_loss("p")
    )
    return dict(
        text=text,
        bottoms={"g": normal(rng, *s)},
        params={"L": [normal(rng, *s)]},
        force_backward=False,
        phase=0,
        diff_blobs=[],
    )


@case("Im2col", "geometry", exact=True, exact_backward=False)
def _im2col(rng):
    nd = int(rng.choice([1, 2, 2, 3]))
    axis = 1
    shape = [2, int(rng.integers(1, 4))] + [int(rng.integers(4, 8)) for _ in range(nd)]
    if nd == 2 and rng.integers(2):
        shape = [2] + shape  # a leading axis: channels at axis 2
        axis = 2
    k = [int(rng.integers(1, 4)) for _ in range(nd)]
    p = [int(rng.integers(0, 2)) for _ in range(nd)]
    st = [int(rng.integers(1, 3)) for _ in range(nd)]
    d = [int(rng.integers(1, 3)) for _ in range(nd)]
    if nd == 2 and rng.integers(2):
        geo = f"kernel_h: {k[0]} kernel_w: {k[1]} pad_h: {p[0]} pad_w: {p[1]} stride_h: {st[0]} stride_w: {st[1]}"
        geo += " " + " ".join(f"dilation: {v}" for v in d)
    else:
        geo = " ".join(
            f"{n}: {v}"
            for n, vs in (("kernel_size", k), ("pad", p), ("stride", st), ("dilation", d))
            for v in vs
        )
    force = " force_nd_im2col: true" if rng.integers(2) else ""
    text = f'layer {{ name: "L" type: "Im2col" bottom: "x" top: "y" convolution_param {{ {geo} axis: {axis}{force} }} }}'
    return dict(text=text, bottoms={"x": normal(rng, *shape)})


@case("SPP", "pyramids", exact=True, exact_backward=False)
def _spp(rng):
    from torchcaffe.ops.spatial import spp_level

    while True:
        h, w, levels = int(rng.integers(4, 20)), int(rng.integers(4, 20)), int(rng.integers(1, 4))
        ok = all(
            p < k
            for lv in range(levels)
            for p, k in zip(spp_level(h, w, lv)[1], spp_level(h, w, lv)[0])
        )
        if ok:
            break
    pool = rng.choice(["MAX", "AVE"])
    text = f'layer {{ name: "L" type: "SPP" bottom: "x" top: "y" spp_param {{ pyramid_height: {levels} pool: {pool} }} }}'
    return dict(text=text, bottoms={"x": normal(rng, 2, 3, h, w)})


# ------------------------------------------------------------------ recurrent
@case("LSTMUnit", "cont")
def _lstm_unit(rng):
    n, d = int(rng.integers(1, 5)), int(rng.integers(1, 5))
    cont = rng.choice([0, 1, 0.5, 1.5], (1, n)).astype(np.float32)
    b = {"c": normal(rng, 1, n, d), "xg": normal(rng, 1, n, 4 * d, scale=2), "cont": cont}
    return dict(
        text='layer { name: "L" type: "LSTMUnit" bottom: "c" bottom: "xg" bottom: "cont" top: "c1" top: "h1" }',
        bottoms=b,
    )


@case("LSTMUnit", "propagate-down")
def _lstm_unit_pd(rng):
    n, d = 3, 2
    c, xg = normal(rng, 1, n, d), normal(rng, 1, n, 4 * d)
    cont = np.array([[1, 0, 1]], np.float32)
    extra = param_source("pc", "c", c.shape) + "\n" + param_source("px", "xg", xg.shape)
    text = 'layer { name: "L" type: "LSTMUnit" bottom: "c" bottom: "xg" bottom: "cont" top: "c1" top: "h1" propagate_down: false propagate_down: true propagate_down: false }\n'
    text += scale_loss("h1", "g") + "\n" + scale_loss("c1", "g", name="S2")
    return dict(
        text=text,
        bottoms={"cont": cont, "g": normal(rng, 1, n, d)},
        extra=extra,
        params={"pc": [c], "px": [xg]},
        force_backward=False,
        phase=0,
        diff_blobs=["c", "xg"],
        param_layers=("pc", "px"),
    )


def _recurrent(rng, layer_type, static, expose):
    t, n, h = int(rng.integers(1, 5)), int(rng.integers(1, 4)), int(rng.integers(1, 5))
    x = normal(rng, t, n, int(rng.integers(1, 4)), 2)
    cont = (rng.random((t, n)) > 0.3).astype(np.float32)
    bottoms = {"x": x, "cont": cont}
    names = ["x", "cont"]
    if static:
        bottoms["st"] = normal(rng, n, 3)
        names.append("st")
    tops = ["h"]
    if expose:
        bottoms["h0"] = normal(rng, 1, n, h)
        names.append("h0")
        tops.append("hT")
        if layer_type == "LSTM":
            bottoms["c0"] = normal(rng, 1, n, h)
            names.append("c0")
            tops.append("cT")
    fill = 'weight_filler { type: "uniform" min: -0.6 max: 0.6 } bias_filler { type: "uniform" min: -0.4 max: 0.4 }'
    bots = " ".join(f'bottom: "{b}"' for b in names)
    tops_ = " ".join(f'top: "{b}"' for b in tops)
    expose_ = "expose_hidden: true" if expose else ""
    text = f'layer {{ name: "L" type: "{layer_type}" {bots} {tops_} recurrent_param {{ num_output: {h} {expose_} {fill} }} }}'
    return dict(text=text, bottoms=bottoms, forwards=3)


for _t in ("RNN", "LSTM"):
    for _static in (False, True):
        for _expose in (False, True):

            @case(_t, f"{'static-' if _static else ''}{'exposed' if _expose else 'carried'}")
            def _rec(rng, t=_t, s=_static, e=_expose):
                return _recurrent(rng, t, s, e)

    @case(_t, "propagate-down")
    def _rec_pd(rng, t=_t):
        """propagate_down false on x and the static input: Caffe's unrolled net writes their
        diffs anyway (here: into the Parameter blobs that make them)."""
        tt, n, h = 3, 2, 3
        x, st = normal(rng, tt, n, 2), normal(rng, n, 4)
        extra = param_source("px", "x", x.shape) + "\n" + param_source("ps", "st", st.shape)
        text = (
            f'layer {{ name: "L" type: "{t}" bottom: "x" bottom: "cont" bottom: "st" top: "h" propagate_down: false propagate_down: false propagate_down: false recurrent_param {{ num_output: {h} weight_filler {{ type: "gaussian" std: 0.5 }} }} }}\n'
            + scale_loss("h")
        )
        return dict(
            text=text,
            bottoms={"cont": np.ones((tt, n), np.float32), "g": normal(rng, tt, n, h)},
            extra=extra,
            params={"px": [x], "ps": [st]},
            force_backward=False,
            phase=0,
            diff_blobs=["x", "st"],
            param_layers=("L", "px", "ps"),
        )


# ------------------------------------------------------------------ the FCN set (for the table)
def _geometry(rng, conv=True):
    k = int(rng.integers(1, 4))
    p = int(rng.integers(0, k))
    st = int(rng.integers(1, 3))
    d = int(rng.integers(1, 3)) if conv else 1
    return k, p, st, d


@case("Convolution", "geometry")
def _conv(rng):
    k, p, st, d = _geometry(rng)
    g = int(rng.choice([1, 2]))
    x = normal(rng, 2, 2 * g, int(rng.integers(5, 9)), int(rng.integers(5, 9)))
    bias = str(bool(rng.integers(2))).lower()
    text = f'layer {{ name: "L" type: "Convolution" bottom: "x" top: "y" convolution_param {{ num_output: {2 * g} kernel_size: {k} pad: {p} stride: {st} dilation: {d} group: {g} bias_term: {bias} weight_filler {{ type: "gaussian" }} bias_filler {{ type: "gaussian" }} }} }}'
    return dict(text=text, bottoms={"x": x})


@case("Deconvolution", "geometry")
def _deconv(rng):
    k, p, st, d = _geometry(rng)
    x = normal(rng, 2, 3, int(rng.integers(3, 6)), int(rng.integers(3, 6)))
    text = f'layer {{ name: "L" type: "Deconvolution" bottom: "x" top: "y" convolution_param {{ num_output: 2 kernel_size: {k + 1} pad: {p} stride: {st} dilation: {d} weight_filler {{ type: "gaussian" }} bias_filler {{ type: "gaussian" }} }} }}'
    return dict(text=text, bottoms={"x": x})


@case("Pooling", "geometry")
def _pool(rng):
    k, p, st, _ = _geometry(rng, conv=False)
    k += 1
    pool = rng.choice(["MAX", "AVE"])
    spec = (
        "global_pooling: true"
        if rng.integers(4) == 0
        else f"kernel_size: {k} pad: {min(p, k - 1)} stride: {st}"
    )
    x = normal(rng, 2, 3, int(rng.integers(4, 9)), int(rng.integers(4, 9)))
    return dict(
        text=f'layer {{ name: "L" type: "Pooling" bottom: "x" top: "y" pooling_param {{ pool: {pool} {spec} }} }}',
        bottoms={"x": x},
    )


@case("LRN", "regions")
def _lrn(rng):
    region = rng.choice(["ACROSS_CHANNELS", "WITHIN_CHANNEL"])
    text = f'layer {{ name: "L" type: "LRN" bottom: "x" top: "y" lrn_param {{ local_size: {int(rng.choice([3, 5]))} alpha: {rng.uniform(0.5, 2):.3f} beta: 0.75 norm_region: {region} }} }}'
    return dict(text=text, bottoms={"x": normal(rng, 2, 6, 5, 4)})


@case("Crop", "offsets", exact=True)
def _crop(rng):
    x, ref = normal(rng, 2, 3, 7, 8), normal(rng, 2, 3, 4, 5)
    text = f'layer {{ name: "L" type: "Crop" bottom: "x" bottom: "r" top: "y" crop_param {{ axis: 2 offset: {int(rng.integers(0, 4))} offset: {int(rng.integers(0, 4))} }} }}'
    return dict(text=text, bottoms={"x": x, "r": ref})


for _in_place in (False, True):
    for _t, _p in (
        ("ReLU", "relu_param { negative_slope: 0.1 }"),
        ("ReLU", ""),
        ("Sigmoid", ""),
        ("TanH", ""),
        ("Dropout", ""),
    ):

        @case(_t, f"{_p.split(' ')[0] or 'plain'}-{'in-place' if _in_place else 'plain'}")
        def _unary(rng, t=_t, p=_p, in_place=_in_place):
            top = "x" if in_place else "y"
            return dict(
                text=f'layer {{ name: "L" type: "{t}" bottom: "x" top: "{top}" {p} }}',
                bottoms={"x": normal(rng, *shape4(rng), scale=2)},
            )


@case("InnerProduct", "axis")
def _ip(rng):
    axis = int(rng.integers(1, 3))
    tr = str(bool(rng.integers(2))).lower()
    text = f'layer {{ name: "L" type: "InnerProduct" bottom: "x" top: "y" inner_product_param {{ num_output: 4 axis: {axis} transpose: {tr} weight_filler {{ type: "gaussian" }} bias_filler {{ type: "gaussian" }} }} }}'
    return dict(text=text, bottoms={"x": normal(rng, 2, 3, 4)})


@case("Eltwise", "ops")
def _eltwise(rng):
    op = rng.choice(["SUM", "PROD", "MAX"])
    coeff = "coeff: 0.5 coeff: -2 coeff: 1.5" if op == "SUM" and rng.integers(2) else ""
    b = {k: normal(rng, 2, 3, 4) for k in "abc"}
    return dict(
        text=f'layer {{ name: "L" type: "Eltwise" bottom: "a" bottom: "b" bottom: "c" top: "y" eltwise_param {{ operation: {op} {coeff} }} }}',
        bottoms=b,
    )


@case("Concat", "axis", exact=True)
def _concat(rng):
    axis = int(rng.integers(0, 3))
    a = normal(rng, 2, 3, 4)
    s = list(a.shape)
    s[axis] = int(rng.integers(1, 4))
    return dict(
        text=f'layer {{ name: "L" type: "Concat" bottom: "a" bottom: "b" top: "y" concat_param {{ axis: {axis} }} }}',
        bottoms={"a": a, "b": normal(rng, *s)},
    )


@case("Scale", "bottoms")
def _scale(rng):
    x = normal(rng, 2, 3, 4, 2)
    bias = str(bool(rng.integers(2))).lower()
    if rng.integers(2):
        text = f'layer {{ name: "L" type: "Scale" bottom: "x" bottom: "s" top: "y" scale_param {{ axis: 1 bias_term: {bias} bias_filler {{ type: "gaussian" }} }} }}'
        return dict(text=text, bottoms={"x": x, "s": normal(rng, 3, 4)})
    text = f'layer {{ name: "L" type: "Scale" bottom: "x" top: "y" scale_param {{ axis: 1 num_axes: 2 bias_term: {bias} filler {{ type: "gaussian" }} bias_filler {{ type: "gaussian" }} }} }}'
    return dict(text=text, bottoms={"x": x})


@case("Bias", "bottoms")
def _bias(rng):
    x = normal(rng, 2, 3, 4)
    if rng.integers(2):
        return dict(
            text='layer { name: "L" type: "Bias" bottom: "x" bottom: "b" top: "y" }',
            bottoms={"x": x, "b": normal(rng, 3)},
        )
    return dict(
        text='layer { name: "L" type: "Bias" bottom: "x" top: "y" bias_param { num_axes: 2 filler { type: "gaussian" } } }',
        bottoms={"x": x},
    )


@case("BatchNorm", "global-stats")
def _bn(rng):
    c = 3
    stats = [normal(rng, c), uniform(rng, 0.5, 2, c) * 4, np.array([4.0], np.float32)]
    text = f'layer {{ name: "L" type: "BatchNorm" bottom: "x" top: "y" batch_norm_param {{ use_global_stats: true eps: {rng.choice([1e-5, 0.1])} }} }}'
    return dict(
        text=text, bottoms={"x": normal(rng, 2, c, 3, 2)}, params={"L": stats}, param_layers=()
    )


@case("Softmax", "axis")
def _softmax(rng):
    return dict(
        text=f'layer {{ name: "L" type: "Softmax" bottom: "x" top: "y" softmax_param {{ axis: {int(rng.integers(-3, 3))} }} }}',
        bottoms={"x": normal(rng, 2, 3, 4, scale=3)},
    )


@case("SoftmaxWithLoss", "normalizations")
def _softmax_loss(rng):
    x = normal(rng, 2, 4, 3, scale=2)
    y = rng.integers(0, 4, (2, 1, 3)).astype(np.float32)
    y[0, 0, 0] = 255
    mode = rng.choice(["FULL", "VALID", "BATCH_SIZE", "NONE"])
    text = f'layer {{ name: "L" type: "SoftmaxWithLoss" bottom: "x" bottom: "y" top: "l" loss_param {{ ignore_label: 255 normalization: {mode} }} loss_weight: {loss_weight(rng)} }}'
    return dict(text=text, bottoms={"x": x, "y": y})


@case("Accuracy", "top-k", exact=True)
def _accuracy(rng):
    x = normal(rng, 3, 5, 2)
    y = rng.integers(0, 5, (3, 2)).astype(np.float32)
    text = f'layer {{ name: "L" type: "Accuracy" bottom: "x" bottom: "y" top: "a" top: "per" accuracy_param {{ top_k: {int(rng.integers(1, 4))} }} }}'
    return dict(text=text, bottoms={"x": x, "y": y}, force_backward=False, backward=False)


@case("ArgMax", "axis", exact=True)
def _argmax(rng):
    spec = rng.choice(
        ["top_k: 2", "out_max_val: true top_k: 2", "axis: 2 top_k: 1", "axis: 1 out_max_val: true"]
    )
    return dict(
        text=f'layer {{ name: "L" type: "ArgMax" bottom: "x" top: "y" argmax_param {{ {spec} }} }}',
        bottoms={"x": normal(rng, 2, 4, 3)},
        force_backward=False,
        backward=False,
    )


@case("Silence", "zero-diff", exact=True)
def _silence(rng):
    x = normal(rng, 2, 3)
    extra = 'layer { name: "keep" type: "Reduction" bottom: "x" top: "k" loss_weight: 1 }'
    return dict(text='layer { name: "L" type: "Silence" bottom: "x" }\n' + extra, bottoms={"x": x})


@case("Flatten", "axes", exact=True)
def _flatten(rng):
    return dict(
        text=f'layer {{ name: "L" type: "Flatten" bottom: "x" top: "y" flatten_param {{ axis: {int(rng.integers(0, 2))} end_axis: {int(rng.choice([-1, 2]))} }} }}',
        bottoms={"x": normal(rng, 2, 3, 4, 2)},
    )


@case("Reshape", "dims", exact=True)
def _reshape(rng):
    spec = rng.choice(
        [
            "shape { dim: 0 dim: -1 }",
            "shape { dim: 4 dim: 3 dim: 2 }",
            "axis: 1 num_axes: 2 shape { dim: 12 }",
        ]
    )
    return dict(
        text=f'layer {{ name: "L" type: "Reshape" bottom: "x" top: "y" reshape_param {{ {spec} }} }}',
        bottoms={"x": normal(rng, 2, 3, 4)},
    )


@case("Split", "tops", exact=True, exact_backward=False)
def _split(rng):
    return dict(
        text='layer { name: "L" type: "Split" bottom: "x" top: "a" top: "b" top: "c" }',
        bottoms={"x": normal(rng, 2, 3)},
    )


# ------------------------------------------------------------------ the comparison
@pytest.fixture(scope="module")
def engines():
    import caffe

    import torchcaffe

    caffe.set_mode_cpu()
    torchcaffe.set_mode_cpu()
    return caffe, torchcaffe


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("name", sorted(CASES))
def test_layer_agrees_with_caffe(name, seed, engines, tmp_path):
    caffe, torchcaffe = engines
    layer_type, build, exact, exact_backward = CASES[name]
    rng = np.random.default_rng([seed, len(name)])
    takes_path = "tmp_path" in inspect.signature(build).parameters
    spec = build(rng, tmp_path=tmp_path) if takes_path else build(rng)
    text, bottoms = spec.pop("text"), spec.pop("bottoms")
    res = compare(caffe, torchcaffe, tmp_path, text, bottoms, **spec)
    res.record(layer_type, f"{name} seed {seed}")
    assert res.forward or res.backward, "nothing compared"
    for what, d in res.forward.items():
        assert d <= (0.0 if exact else TOL), (name, what, d)
    for what, d in res.backward.items():
        assert d <= (0.0 if exact_backward else TOL), (name, what, d)


def test_every_bvlc_type_is_implemented(engines):
    """torchcaffe implements every layer type this pycaffe registers (OpenCV's two aside when
    it was built without OpenCV), and layer_type_list() lists them all."""
    caffe, torchcaffe = engines
    ours = set(torchcaffe.layer_type_list())
    theirs = set(caffe.layer_type_list())
    assert theirs <= ours, sorted(theirs - ours)
    assert ours - theirs <= {"ImageData", "WindowData"}, sorted(ours - theirs)
    assert len(ours) == 61


# ------------------------------------------------------------------ data layers
def _nets(engines, tmp_path, text, phase=1, seed=None):
    caffe, torchcaffe = engines
    path = tmp_path / "data.prototxt"
    path.write_text('name: "data"\n' + text + "\n")
    if seed is not None:
        caffe.set_random_seed(seed)
    cnet = caffe.Net(str(path), phase)
    if seed is not None:
        torchcaffe.set_random_seed(seed)
    return cnet, torchcaffe.Net(str(path), phase)


def _same_tops(cnet, tnet, tops):
    for t in tops:
        assert tnet.blobs[t].data.shape == cnet.blobs[t].data.shape, t
        assert np.array_equal(tnet.blobs[t].data, cnet.blobs[t].data), (
            t,
            rel(tnet.blobs[t].data, cnet.blobs[t].data),
        )


@pytest.mark.parametrize("seed", SEEDS)
def test_dummy_data_agrees(engines, tmp_path, seed):
    """Shapes (shape or legacy num/channels/height/width), constant fillers bit-identical on every
    forward; random fillers refilled each forward from the same distribution (Caffe's generator
    is not torchcaffe's)."""
    rng = np.random.default_rng(seed)
    v = float(np.float32(rng.uniform(-3, 3)))
    text = (
        'layer { name: "L" type: "DummyData" top: "a" top: "b" top: "c" dummy_data_param { '
        f"shape {{ dim: 2 dim: 3 }} shape {{ dim: 3000 }} shape {{ dim: 2 dim: 50 dim: 2 dim: 10 }} "
        f'data_filler {{ type: "constant" value: {v!r} }} data_filler {{ type: "gaussian" mean: 1 std: 2 }} '
        'data_filler { type: "uniform" min: 3 max: 5 } } }\n'
        'layer { name: "L2" type: "DummyData" top: "d" top: "e" dummy_data_param { num: 2 channels: 3 channels: 1 height: 4 width: 5 } }\n'
        'layer { name: "L3" type: "DummyData" top: "f" dummy_data_param { shape { dim: 40 dim: 30 } data_filler { type: "positive_unitball" } } }'
    )
    cnet, tnet = _nets(engines, tmp_path, text)
    prev = None
    for _ in range(2):
        cnet.forward()
        tnet.forward()
        _same_tops(cnet, tnet, ["a", "d", "e"])
        assert (tnet.blobs["a"].data == v).all()
        for t in ("b", "c", "f"):
            assert tnet.blobs[t].data.shape == cnet.blobs[t].data.shape
        for net in (cnet, tnet):
            b, c, f = (net.blobs[t].data for t in "bcf")
            assert abs(b.mean() - 1) < 0.2 and abs(b.std() - 2) < 0.2
            assert c.min() >= 3 and c.max() <= 5 and abs(c.mean() - 4) < 0.1
            assert f.min() >= 0 and np.allclose(f.sum(1), 1, atol=1e-5)
        if prev is not None:
            assert not np.array_equal(prev, tnet.blobs["b"].data), "gaussian top not refilled"
        prev = tnet.blobs["b"].data.copy()


def test_memory_data_agrees(engines, tmp_path):
    """set_input_arrays on both engines: the same batches in order, wrapping around, labels
    batch x 1 x 1 x 1 after forward; pycaffe's errors for bad arrays."""
    rng = np.random.default_rng(0)
    text = 'layer { name: "L" type: "MemoryData" top: "data" top: "label" memory_data_param { batch_size: 2 channels: 3 height: 4 width: 5 } }'
    cnet, tnet = _nets(engines, tmp_path, text)
    x = normal(rng, 6, 3, 4, 5)
    y = np.arange(6, dtype=np.float32)
    for net in (cnet, tnet):
        net.set_input_arrays(x, y)
    for _ in range(4):
        cnet.forward()
        tnet.forward()
        _same_tops(cnet, tnet, ["data", "label"])
    assert tnet.blobs["label"].data.shape == (2, 1, 1, 1)
    for bad, msg in (
        (x[:, :2].copy(), "wrong number of channels|wrong channels"),
        (x.astype(np.float64), "float32"),
        (x[:5].copy(), "multiple of batch size"),
    ):
        labels = y[: len(bad)]
        for net in (cnet, tnet):
            with pytest.raises(RuntimeError, match=msg):
                net.set_input_arrays(bad, labels)


def test_hdf5_data_and_output_agree(engines, tmp_path):
    """HDF5Data over two listed files (float and integer datasets), batches crossing files and
    wrapping; HDF5Output's 'data' and 'label' datasets identical in both engines' files."""
    h5py = pytest.importorskip("h5py")
    rng = np.random.default_rng(1)
    for i in range(2):
        with h5py.File(tmp_path / f"f{i}.h5", "w") as f:
            f["data"] = normal(rng, 3 + i, 2, 3)
            f["label"] = np.arange(3 + i, dtype=np.int32) + 10 * i
    (tmp_path / "list.txt").write_text(f"{tmp_path}/f0.h5\n  {tmp_path}/f1.h5 \n")
    data = f'layer {{ name: "L" type: "HDF5Data" top: "data" top: "label" hdf5_data_param {{ source: "{tmp_path}/list.txt" batch_size: 4 }} }}'
    cnet, tnet = _nets(engines, tmp_path, data)
    for _ in range(5):
        cnet.forward()
        tnet.forward()
        _same_tops(cnet, tnet, ["data", "label"])
    del cnet, tnet
    out = 'layer {{ name: "O" type: "HDF5Output" bottom: "data" bottom: "label" hdf5_output_param {{ file_name: "{}" }} }}'
    nets = []
    for engine, name in zip(engines, ("caffe.h5", "torch.h5")):
        path = tmp_path / f"{name}.prototxt"
        path.write_text(data + "\n" + out.format(tmp_path / name))
        net = engine.Net(str(path), 1)
        net.forward()
        nets.append(net)
    del nets  # Caffe closes its file when the net goes
    import gc

    gc.collect()
    with h5py.File(tmp_path / "caffe.h5") as c, h5py.File(tmp_path / "torch.h5") as t:
        assert sorted(c) == sorted(t) == ["data", "label"]
        for k in ("data", "label"):
            assert c[k].shape == t[k].shape and c[k].dtype == t[k].dtype
            assert np.array_equal(c[k][...], t[k][...])


def test_hdf5_shuffle_visits_every_row(engines, tmp_path):
    """shuffle: Caffe's order comes from std::random_shuffle, so only what it visits is
    compared: every row once per pass over the data, on both engines."""
    h5py = pytest.importorskip("h5py")
    with h5py.File(tmp_path / "f.h5", "w") as f:
        f["label"] = np.arange(12, dtype=np.float32)
    (tmp_path / "list.txt").write_text(f"{tmp_path}/f.h5\n")
    text = f'layer {{ name: "L" type: "HDF5Data" top: "label" hdf5_data_param {{ source: "{tmp_path}/list.txt" batch_size: 4 shuffle: true }} }}'
    for net in _nets(engines, tmp_path, text):
        seen = []
        for _ in range(3):
            net.forward()
            seen += net.blobs["label"].data.tolist()
        assert sorted(seen) == list(range(12))


def test_leveldb_data_agrees(engines, tmp_path):
    """Data with backend LEVELDB (written with plyvel): the same batches and labels."""
    plyvel = pytest.importorskip("plyvel")
    from caffeio import caffe_pb2

    rng = np.random.default_rng(2)
    db = plyvel.DB(str(tmp_path / "db"), create_if_missing=True)
    for i in range(5):
        d = caffe_pb2.Datum(channels=3, height=4, width=5, label=i)
        d.data = rng.integers(0, 256, 60, dtype=np.uint8).tobytes()
        db.put(f"{i:08d}".encode(), d.SerializeToString())
    db.close()
    text = f'layer {{ name: "L" type: "Data" top: "data" top: "label" data_param {{ source: "{tmp_path}/db" batch_size: 2 backend: LEVELDB }} transform_param {{ scale: 0.5 mean_value: 10 crop_size: 3 }} }}'
    cnet, tnet = _nets(engines, tmp_path, text)
    for _ in range(4):
        cnet.forward()
        tnet.forward()
        _same_tops(cnet, tnet, ["data", "label"])


def test_same_files_run_on_both(engines, tmp_path):
    """A small net of new layer types saved by torchcaffe loads in Caffe and gives the same
    outputs (the caffemodel written by either engine is read by the other)."""
    caffe, torchcaffe = engines
    rng = np.random.default_rng(3)
    text = (
        'layer { name: "e" type: "Embed" bottom: "i" top: "e" embed_param { num_output: 4 input_dim: 6 weight_filler { type: "gaussian" } } }\n'
        'layer { name: "p" type: "PReLU" bottom: "e" top: "e" prelu_param { filler { type: "uniform" } } }\n'
        'layer { name: "lstm" type: "LSTM" bottom: "e" bottom: "cont" top: "h" recurrent_param { num_output: 3 weight_filler { type: "gaussian" std: 0.3 } } }\n'
    )
    bottoms = {
        "i": rng.integers(0, 6, (3, 2)).astype(np.float32),
        "cont": np.ones((3, 2), np.float32),
    }
    proto = write_net(tmp_path / "n.prototxt", text, bottoms, force_backward=False)
    tnet = torchcaffe.Net(proto, 1)
    for blobs in tnet.params.values():
        for b in blobs:
            b.data[...] = rng.standard_normal(b.data.shape)
    tnet.save(str(tmp_path / "t.caffemodel"))
    cnet = caffe.Net(proto, 1, weights=str(tmp_path / "t.caffemodel"))
    for net in (cnet, tnet):
        for k, v in bottoms.items():
            net.blobs[k].data[...] = v
        net.forward()
    assert rel(tnet.blobs["h"].data, cnet.blobs["h"].data) < TOL
