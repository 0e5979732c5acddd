"""Blob and parameter shapes of a Caffe net definition, computed from the prototxt alone.

File-level surgery needs the shape of every learnable blob of the target net without building
it. Shapes follow Caffe's rules (CAFFE_FACTS section 2). A top whose shape cannot be known (a
Python data layer) is None unless given in `input_shapes`; only a parameter that depends on it
is then an error.
"""

import math
from collections import OrderedDict

from .errors import SurgeryError

_SAME_SHAPE = {
    "ReLU",
    "Dropout",
    "LRN",
    "Sigmoid",
    "TanH",
    "Power",
    "AbsVal",
    "BNLL",
    "Exp",
    "Log",
    "BatchNorm",
    "Softmax",
    "MVN",
    "PReLU",
    "ELU",
    "Threshold",
}
_SCALAR_TYPES = {"SoftmaxWithLoss", "Accuracy", "EuclideanLoss", "SigmoidCrossEntropyLoss"}


def _spatial(p, name, default, n):
    """Caffe's kernel/stride/pad/dilation resolution -> list of n ints (h, w)."""
    h = getattr(p, name + "_h", 0) if p.HasField(name + "_h") else None
    w = getattr(p, name + "_w", 0) if p.HasField(name + "_w") else None
    if h is not None or w is not None:
        return [h if h is not None else default, w if w is not None else default]
    rep = list(getattr(p, name))
    if not rep:
        return [default] * n
    if len(rep) == 1:
        return rep * n
    return rep


def conv_geometry(p):
    """ConvolutionParameter -> (kernel, stride, pad, dilation) as [h, w] lists."""
    if p.HasField("kernel_h") or p.HasField("kernel_w"):
        kernel = [p.kernel_h, p.kernel_w]
    else:
        k = list(p.kernel_size)
        kernel = k * 2 if len(k) == 1 else k
    stride = [p.stride_h, p.stride_w] if p.HasField("stride_h") else _rep(p.stride, 1)
    pad = [p.pad_h, p.pad_w] if p.HasField("pad_h") else _rep(p.pad, 0)
    dil = _rep(p.dilation, 1)
    return kernel, stride, pad, dil


def _rep(values, default):
    v = list(values)
    if not v:
        return [default, default]
    return v * 2 if len(v) == 1 else v


def infer_shapes(net, input_shapes=None):
    """NetParameter -> OrderedDict {top: shape tuple or None} (None = unknown; dims may be None).

    input_shapes: {top: shape} for tops of layers whose output shapes the definition does not
    say (Python or Data layers); Input layers and the legacy `input_dim` are read directly.
    """
    shapes = OrderedDict()
    for name, s in (input_shapes or {}).items():
        shapes[name] = tuple(s)
    given = set(input_shapes or {})
    for layer in net.layer:
        bottoms = [shapes.get(b) for b in layer.bottom]
        for top, s in zip(layer.top, _top_shapes(layer, bottoms)):
            if top not in given:
                shapes[top] = s
    return shapes


def _top_shapes(layer, bottoms):
    t = layer.type
    n = len(layer.top)
    b0 = bottoms[0] if bottoms else None
    if t == "Input":
        dims = [tuple(s.dim) for s in layer.input_param.shape]
        if len(dims) == 1:
            dims = dims * n
        return dims + [None] * (n - len(dims))
    if t in _SAME_SHAPE or t in ("Scale", "Bias", "Eltwise"):
        return [b0] * n
    if t == "Split":
        return [b0] * n
    if t in _SCALAR_TYPES:
        return [()] * n
    if b0 is None:
        return [None] * n
    if t in ("Convolution", "Deconvolution"):
        p = layer.convolution_param
        kernel, stride, pad, dil = conv_geometry(p)
        out = [b0[0], p.num_output]
        for i, size in enumerate(b0[2:4]):
            if size is None:
                out.append(None)
                continue
            ext = dil[i] * (kernel[i] - 1) + 1
            if t == "Convolution":
                out.append((size + 2 * pad[i] - ext) // stride[i] + 1)
            else:
                out.append(stride[i] * (size - 1) + ext - 2 * pad[i])
        return [tuple(out)] * n
    if t == "Pooling":
        p = layer.pooling_param
        if p.global_pooling:
            return [(b0[0], b0[1], 1, 1)] * n
        if p.HasField("kernel_h"):
            kernel = [p.kernel_h, p.kernel_w]
        else:
            kernel = [p.kernel_size, p.kernel_size]
        stride = [p.stride_h, p.stride_w] if p.HasField("stride_h") else [p.stride] * 2
        pad = [p.pad_h, p.pad_w] if p.HasField("pad_h") else [p.pad] * 2
        out = list(b0[:2])
        for i, size in enumerate(b0[2:4]):
            if size is None:
                out.append(None)
                continue
            o = int(math.ceil((size + 2 * pad[i] - kernel[i]) / stride[i])) + 1
            if pad[i] and (o - 1) * stride[i] >= size + pad[i]:
                o -= 1
            out.append(o)
        return [tuple(out)] * n
    if t == "InnerProduct":
        axis = layer.inner_product_param.axis % len(b0)
        return [tuple(b0[:axis]) + (layer.inner_product_param.num_output,)] * n
    if t == "Flatten":
        rest = b0[1:]
        k = None if None in rest else int(math.prod(rest))
        return [(b0[0], k)] * n
    if t == "Crop":
        b1 = bottoms[1] if len(bottoms) > 1 else None
        if b1 is None:
            return [None] * n
        axis = layer.crop_param.axis % len(b0)
        return [tuple(b0[:axis]) + tuple(b1[axis:])] * n
    if t == "Concat":
        if any(b is None for b in bottoms):
            return [None] * n
        axis = layer.concat_param.axis % len(b0)
        total = None if any(b[axis] is None for b in bottoms) else sum(b[axis] for b in bottoms)
        return [tuple(b0[:axis]) + (total,) + tuple(b0[axis + 1 :])] * n
    return [None] * n


def param_shapes(net, input_shapes=None):
    """NetParameter -> OrderedDict {layer: [blob shape, ...]} for every layer that learns blobs.

    Shapes are Caffe's: Convolution (Cout, Cin/group, kh, kw) + (Cout,); Deconvolution
    (Cin, Cout/group, kh, kw) + (Cout,); InnerProduct (Cout, K) (K, Cout if transpose) + (Cout,);
    Scale/Bias the bottom's dims [axis, axis+num_axes); BatchNorm (C,), (C,), (1,).
    A parameter that needs an unknown bottom shape raises SurgeryError naming layer and bottom.
    """
    tops = infer_shapes(net, input_shapes)
    out = OrderedDict()
    for layer in net.layer:
        if layer.name in out:
            continue
        shapes = _layer_param_shapes(layer, tops)
        if shapes:
            out[layer.name] = shapes
    return out


def _need(layer, tops, dims, what):
    bottom = layer.bottom[0] if layer.bottom else "?"
    s = tops.get(bottom)
    if s is None or any(s[d] is None for d in dims if d < len(s)) or max(dims) >= len(s):
        raise SurgeryError(
            f"layer '{layer.name}' ({layer.type}): the {what} of its bottom '{bottom}' is unknown "
            f"(shape {s}); it comes from a layer whose output shape the definition does not "
            "state: pass input_shapes={top: shape}, or use the model's deploy net"
        )
    return s


def _layer_param_shapes(layer, tops):
    t = layer.type
    if t in ("Convolution", "Deconvolution"):
        p = layer.convolution_param
        kernel, _, _, _ = conv_geometry(p)
        cin = _need(layer, tops, [1], "channel count")[1]
        g = p.group or 1
        if cin % g or p.num_output % g:
            raise SurgeryError(
                f"layer '{layer.name}': group {g} does not divide {cin} input / "
                f"{p.num_output} output channels"
            )
        if t == "Convolution":
            w = (p.num_output, cin // g, *kernel)
        else:
            w = (cin, p.num_output // g, *kernel)
        return [w] + ([(p.num_output,)] if p.bias_term else [])
    if t == "InnerProduct":
        p = layer.inner_product_param
        s = tops.get(layer.bottom[0])
        axis = p.axis % len(s) if s is not None else 1
        s = _need(layer, tops, list(range(axis, len(s) if s else 2)), "size")
        k = int(math.prod(s[axis:]))
        w = (k, p.num_output) if p.transpose else (p.num_output, k)
        return [w] + ([(p.num_output,)] if p.bias_term else [])
    if t in ("Scale", "Bias"):
        if len(layer.bottom) > 1:
            return []
        p = layer.scale_param if t == "Scale" else layer.bias_param
        s = tops.get(layer.bottom[0])
        axis = p.axis % len(s) if s is not None else 1
        end = len(s) if (s is not None and p.num_axes == -1) else axis + p.num_axes
        s = _need(layer, tops, list(range(axis, max(end, axis + 1))), "size")
        shape = tuple(s[axis:end])
        extra = [shape] if (t == "Scale" and layer.scale_param.bias_term) else []
        return [shape] + extra
    if t == "BatchNorm":
        c = _need(layer, tops, [1], "channel count")[1]
        return [(c,), (c,), (1,)]
    if t == "PReLU":
        if layer.prelu_param.channel_shared:
            return [(1,)]
        return [(_need(layer, tops, [1], "channel count")[1],)]
    return []
