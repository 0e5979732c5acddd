"""Test helpers for surgery: a small float64 torch forward of deploy nets (the oracle used
while or where torchcaffe is not the engine under test) and classifier fixtures on disk
(zoo.classifiers' random-weight classifiers, plus test-only padding-free and global-pooling
variants)."""

import numpy as np
import torch
import torch.nn.functional as F

from caffeio.layertypes import conv_geometry
from zoo import classifiers


def forward(net, params, inputs, dtype=torch.float64):
    """Run deploy NetParameter `net` with {layer: [ndarray]} `params` on {top: ndarray} inputs.

    Supports the classifier / FCN trunk layer types (Input, Convolution (grouped), ReLU, PReLU,
    Pooling MAX/AVE (Caffe ceil or floor rounding, padding, global), LRN, Dropout (identity),
    InnerProduct, Softmax, Deconvolution, BatchNorm (global stats), Scale, Concat, Eltwise SUM,
    Flatten).
    Returns {top: ndarray} for every top.
    """
    blobs = {k: torch.as_tensor(np.asarray(v), dtype=dtype) for k, v in inputs.items()}
    for layer in net.layer:
        t = layer.type
        x = blobs.get(layer.bottom[0]) if layer.bottom else None
        w = [torch.as_tensor(np.asarray(a), dtype=dtype) for a in params.get(layer.name, [])]
        if t == "Input":
            continue
        op = _OPS.get(t)
        if op is None:
            raise NotImplementedError(t)
        blobs[layer.top[0]] = op(layer, x, w, blobs)
    return {k: v.numpy() for k, v in blobs.items()}


# One layer type each: (LayerParameter, bottom 0, its parameter tensors, every blob) -> top 0.
def _conv(layer, x, w, blobs):
    """Convolution or Deconvolution (grouped, strided, padded, dilated; bias when stored)."""
    p = layer.convolution_param
    stride, pad, dil = zip(*(axis[1:] for axis in conv_geometry(layer)))  # (H, W)
    b = w[1].reshape(-1) if len(w) > 1 else None
    op = F.conv2d if layer.type == "Convolution" else F.conv_transpose2d
    kw = dict(stride=tuple(stride), padding=tuple(pad), dilation=tuple(dil))
    return op(x, w[0], b, groups=p.group, **kw)


def _prelu(layer, x, w, blobs):
    slope = w[0].reshape((1, -1) + (1,) * (x.dim() - 2)) if w[0].dim() else w[0]
    return F.relu(x) - slope * F.relu(-x)


def _batch_norm(layer, x, w, blobs):
    """Global statistics: mean and variance scaled by 1 / the stored factor (0: none)."""
    f = 0.0 if float(w[2]) == 0 else 1.0 / float(w[2])
    mean, var = (a.reshape(1, -1, *[1] * (x.dim() - 2)) * f for a in w[:2])
    return (x - mean) / torch.sqrt(var + layer.batch_norm_param.eps)


def _scale(layer, x, w, blobs):
    shape = (1, -1) + (1,) * (x.dim() - 2)
    return x * w[0].reshape(shape) + (w[1].reshape(shape) if len(w) > 1 else 0)


def _eltwise(layer, x, w, blobs):
    """SUM without coefficients only."""
    assert layer.eltwise_param.operation == 1 and not layer.eltwise_param.coeff
    return sum(blobs[b] for b in layer.bottom)


def _lrn(layer, x, w, blobs):
    lp = layer.lrn_param
    return F.local_response_norm(x, lp.local_size, lp.alpha, lp.beta, lp.k)


def _inner_product(layer, x, w, blobs):
    return F.linear(x.reshape(x.shape[0], -1), w[0].reshape(w[0].shape[-2:]), w[1].reshape(-1))


_OPS = {
    "Convolution": _conv,
    "Deconvolution": _conv,
    "ReLU": lambda layer, x, w, blobs: F.relu(x),
    "PReLU": _prelu,
    "Dropout": lambda layer, x, w, blobs: x,
    "Pooling": lambda layer, x, w, blobs: _pool(layer.pooling_param, x),
    "BatchNorm": _batch_norm,
    "Scale": _scale,
    "Concat": lambda layer, x, w, blobs: torch.cat([blobs[b] for b in layer.bottom], dim=1),
    "Eltwise": _eltwise,
    "Flatten": lambda layer, x, w, blobs: x.reshape(x.shape[0], -1),
    "LRN": _lrn,
    "InnerProduct": _inner_product,
    "Softmax": lambda layer, x, w, blobs: torch.softmax(x, dim=layer.softmax_param.axis % x.dim()),
}


def _pool(pp, x):
    """Caffe pooling (ceil rule unless round_mode FLOOR; AVE divides by the window clipped to
    the padded map)."""
    if pp.global_pooling:
        k = tuple(x.shape[2:])
    else:
        k = (pp.kernel_h, pp.kernel_w) if pp.HasField("kernel_h") else (pp.kernel_size,) * 2
    s = (pp.stride_h, pp.stride_w) if pp.HasField("stride_h") else (pp.stride,) * 2
    p = (pp.pad_h, pp.pad_w) if pp.HasField("pad_h") else (pp.pad,) * 2
    ceil = pp.round_mode == pp.CEIL
    if pp.pool == 0:
        return F.max_pool2d(x, k, s, p, ceil_mode=ceil)
    return F.avg_pool2d(x, k, s, p, ceil_mode=ceil, count_include_pad=True)


# ---------------------------------------------------------------- classifier fixtures on disk


def classifier_net(arch, width=1.0, num_classes=1000, size=None, pad=True, global_pool=False):
    """zoo.classifiers.classifier with two test-only variants: pad=False drops every
    convolution's padding (VGG-16 at size 212 or AlexNet at 227: a padding-free net whose FCN
    scores on a larger image equal the classifier's on crops exactly); global_pool=True writes
    ResNet's pool5 as global_pooling instead of its kernel (as later Caffe ResNets do)."""
    net = classifiers.classifier(arch, width, num_classes, size)
    for layer in net.layer:
        if not pad and layer.type == "Convolution":
            del layer.convolution_param.pad[:]
        if global_pool and layer.name == "pool5":
            layer.pooling_param.ClearField("kernel_size")
            layer.pooling_param.global_pooling = True
    return net


def write_classifier(folder, arch="vgg16", width=1.0, num_classes=1000, legacy=False, seed=0,
                     **variant):  # fmt: skip
    """zoo.classifiers.write_classifier of classifier_net(arch, ..., **variant) (size=, pad=,
    global_pool=) -> (proto, weights)."""
    net = classifier_net(arch, width, num_classes, **variant)
    return classifiers.write_net_and_weights(net, str(folder), arch, legacy, seed)
