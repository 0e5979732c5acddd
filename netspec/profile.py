"""Profile a deploy net: parameters, multiply-adds, FLOPs, receptive field and stride (no torch).

    from netspec import profile
    p = profile.profile_net(net_param, (500, 500))      # dict (JSON-ready)
    p["totals"]["macs"], p["score"]["receptive_field"], p["score"]["stride"]

Counting rules (RULES below is printed with every report):
- parameters: elements of each layer's Caffe blobs, in four kinds: `trainable` (lr_mult > 0;
  1 when no param spec), `frozen` (lr_mult 0: the FCN-ResNets' BatchNorm Scale, the at-once
  net's fixed 0.01 Scale), `fixed_upsampling` (Deconvolution blobs at lr_mult 0: bilinear
  interpolation, not learned) and `bn_statistics` (BatchNorm mean, variance and factor: never
  learned in Caffe). "Parameters" = trainable + frozen, the weights a model was trained with
  (torchvision's count: BatchNorm affine in, running statistics out).
- MACs: Convolution, Deconvolution and InnerProduct kernels only, bias adds excluded (as
  fvcore/thop). Convolution: out pixels x Cout x Cin/group x kh x kw (dilation changes nothing);
  Deconvolution on its input side: in pixels x Cin x Cout/group x kh x kw; InnerProduct: K x N.
- FLOPs = 2 x MACs + element ops of the other layers, which are reported on their own:
  ReLU-like 1, BatchNorm 2, Scale 1 (+1 with bias), Bias 1, Eltwise n-1 per output element;
  Pooling kh x kw per output element; LRN 2 x local_size + 3 per element; Crop, Concat, Split,
  Dropout (identity at test) and Input 0.
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import TYPE_CHECKING, Any

from caffeio import layertypes as lt

from . import shapes
from .errors import ShapeError

if TYPE_CHECKING:
    from caffeio import caffe_pb2

# per spatial axis (H, W): (jump, lo, hi), output pixel y sees input pixels jump*y+lo..jump*y+hi
Field = tuple[tuple[Fraction, Fraction, Fraction], tuple[Fraction, Fraction, Fraction]]

RULES = (
    "parameters = trainable + frozen blob elements (BatchNorm statistics and fixed bilinear "
    "Deconvolution kernels reported apart); MACs = Convolution/Deconvolution/InnerProduct "
    "kernels only (no bias adds; Deconvolution counted on its input side); FLOPs = 2 x MACs + "
    "element ops (ReLU 1, BatchNorm 2, Scale 1-2, Eltwise n-1, Pooling kernel area, LRN "
    "2n+3 per element; Crop/Concat/Dropout 0)"
)
KINDS = ("trainable", "frozen", "fixed_upsampling", "bn_statistics")
# Caffe's neuron layers (element by element), and MVN, count one op per element.
_ONE_OP = frozenset(n for n, row in lt.TYPES.items() if row.neuron) | {"MVN"}
_FREE = frozenset("Input Crop Concat Split Silence Dropout Flatten Reshape".split())


def _lr_mult(layer, i):
    if i < len(layer.param) and layer.param[i].HasField("lr_mult"):
        return layer.param[i].lr_mult
    return 1.0


def _param_kinds(layer, blob_shapes, seen):
    """{kind: elements} of one layer's blobs; a blob shared by name counts once."""
    out = dict.fromkeys(KINDS, 0)
    for i, shape in enumerate(blob_shapes):
        name = layer.param[i].name if i < len(layer.param) else ""
        if name and name in seen:
            continue
        seen.add(name)
        if layer.type == "BatchNorm":
            kind = "bn_statistics"
        elif _lr_mult(layer, i) > 0:
            kind = "trainable"
        else:
            kind = "fixed_upsampling" if layer.type == "Deconvolution" else "frozen"
        out[kind] += math.prod(shape)
    return out


def _macs(ls):
    layer, t = ls.layer, ls.layer.type
    if t in ("Convolution", "Deconvolution"):
        (kh, *_), (kw, *_) = lt.conv_geometry(layer, error=ShapeError)
        g = layer.convolution_param.group
        side = ls.tops[0] if t == "Convolution" else ls.bottoms[0]
        other = ls.bottoms[0][1] if t == "Convolution" else ls.tops[0][1]
        return math.prod(side) * (other // g) * kh * kw
    if t == "InnerProduct":
        return math.prod(ls.bottoms[0]) * layer.inner_product_param.num_output
    return 0


def _elem_ops(ls):
    """Element ops of a non-MAC layer (FLOPs only); None when the type has no rule here."""
    layer, t = ls.layer, ls.layer.type
    n = math.prod(ls.tops[0]) if ls.tops and ls.tops[0] is not None else 0
    if t in _FREE or t in ("Convolution", "Deconvolution", "InnerProduct"):
        return 0
    if t in _ONE_OP or t == "Bias":
        return n
    if t == "BatchNorm":
        return 2 * n
    if t == "Scale":
        return n * (2 if layer.scale_param.bias_term else 1)
    if t == "Eltwise":
        return n * (len(layer.bottom) - 1)
    if t == "Pooling":
        (kh, *_), (kw, *_) = lt.pool_geometry(layer, error=ShapeError)
        area = math.prod(ls.bottoms[0][2:]) if kh is None else kh * kw
        return n * area
    if t == "LRN":
        return n * (2 * layer.lrn_param.local_size + 3)
    return None


def layer_costs(
    net: caffe_pb2.NetParameter, image_size: tuple[int, int] | None
) -> list[dict[str, Any]]:
    """List of per-layer dicts (name, type, top shape, parameter kinds, macs, elem_ops)."""
    rows, seen = [], set()
    blob_params = shapes.param_shapes(net, image_size=image_size)
    for ls in shapes.infer_layers(net, image_size=image_size):
        layer = ls.layer
        params = _param_kinds(layer, blob_params.get(layer.name, []), seen)
        macs = _macs(ls)
        ops = _elem_ops(ls)
        rows.append(
            dict(
                name=layer.name,
                type=layer.type,
                top=list(ls.tops[0]) if ls.tops and ls.tops[0] is not None else None,
                params=params,
                macs=macs,
                elem_ops=ops or 0,
                counted=ops is not None,
                flops=2 * macs + (ops or 0),
            )
        )
    return rows


def receptive_fields(net: caffe_pb2.NetParameter) -> dict[str, Field | None]:
    """{blob: ((jump, lo, hi) for H, for W) or None}: output pixel y of the blob sees input
    pixels jump*y + lo .. jump*y + hi (Fractions; before any crop). Exact up to the first
    Deconvolution, an outer bound after it; None where a blob has no spatial map or its pixels
    read more than a window (MVN, global pooling, ...: caffeio.layertypes' spatial kinds)."""
    rf = {}
    for layer in net.layer:
        ins = [rf.get(b) for b in layer.bottom]
        if not layer.bottom:
            out = ((Fraction(1), Fraction(0), Fraction(0)),) * 2
        elif any(x is None for x in ins):
            out = None
        else:
            out = _field(layer, ins)
        for top in layer.top:
            rf[top] = out
    return rf


def _field(layer, ins):
    """Receptive field of a layer's tops from its bottoms' (none of them None)."""
    kind = lt.spatial_kind(layer)
    if kind == lt.POINTWISE:
        return _union(ins)
    if kind == lt.WINDOW:
        geo = lt.window_geometry(layer, error=ShapeError)
        return None if geo[0].kernel is None else tuple(_down(a, g) for a, g in zip(ins[0], geo))
    if kind == lt.UPSAMPLE:
        return tuple(_up(a, g) for a, g in zip(ins[0], lt.conv_geometry(layer, error=ShapeError)))
    if kind == lt.CROP:
        offs = lt.crop_offsets(layer, error=ShapeError)[1][2:]
        return tuple((j, lo + j * o, hi + j * o) for (j, lo, hi), o in zip(ins[0], offs))
    return None


def _down(axis, geo):
    (j, lo, hi), (k, s, p, d) = axis, geo
    ext = d * (k - 1) + 1
    return (j * s, lo - j * p, hi + j * (ext - 1 - p))


def _up(axis, geo):
    (j, lo, hi), (k, s, p, d) = axis, geo
    ext = d * (k - 1) + 1
    return (j / s, lo + j * Fraction(p - ext + 1, s), hi + j * Fraction(p, s))


def _union(ins):
    """Pass-through layers: the union of their bottoms' fields (None at different strides)."""
    out = []
    for axes in zip(*ins):
        if any(a[0] != axes[0][0] for a in axes):
            return None
        out.append((axes[0][0], min(a[1] for a in axes), max(a[2] for a in axes)))
    return tuple(out)


def score_blob(net: caffe_pb2.NetParameter) -> str:
    """The score before upsampling: the bottom of the first Deconvolution (else the last top)."""
    for layer in net.layer:
        if layer.type == "Deconvolution":
            return layer.bottom[0]
    return net.layer[-1].top[0]


def _size(axes):
    vals = [int(hi - lo + 1) for _, lo, hi in axes]
    return vals[0] if vals[0] == vals[1] else vals


def profile_net(net: caffe_pb2.NetParameter, image_size: tuple[int, int]) -> dict[str, Any]:
    """Profile of a NetParameter at image_size (H, W): dict with layers, totals and score."""
    rows = layer_costs(net, image_size)
    totals = {k: sum(r["params"][k] for r in rows) for k in KINDS}
    totals["parameters"] = totals["trainable"] + totals["frozen"]
    for k in ("macs", "elem_ops", "flops"):
        totals[k] = sum(r[k] for r in rows)
    rf = receptive_fields(net)
    score = score_blob(net)
    strides = [int(a[0]) for v in rf.values() if v for a in v if a[0] >= 1]
    field = rf.get(score)
    return dict(
        input=list(image_size),
        layers=rows,
        totals=totals,
        uncounted=sorted({r["type"] for r in rows if not r["counted"]}),
        score=dict(
            blob=score,
            receptive_field=_size(field) if field else None,
            stride=int(field[0][0]) if field else None,
            max_stride=max(strides, default=1),
        ),
        rules=RULES,
    )
