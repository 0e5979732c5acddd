"""Test helpers for surgery: a small float64 torch forward of deploy nets (the oracle used
while or where torchcaffe is not the engine under test) and classifier fixtures on disk."""

import numpy as np
import torch
import torch.nn.functional as F

from netspec.coord import conv_geometry


def forward(net, params, inputs, dtype=torch.float64):
    """Run deploy NetParameter `net` with {layer: [ndarray]} `params` on {top: ndarray} inputs.

    Supports the classifier / FCN trunk layer types (Input, Convolution, ReLU, Pooling MAX
    (Caffe ceil rounding, pad 0), LRN, Dropout (identity), InnerProduct, Softmax, Deconvolution).
    Returns {top: ndarray} for every top.
    """
    blobs = {k: torch.as_tensor(np.asarray(v), dtype=dtype) for k, v in inputs.items()}
    for layer in net.layer:
        t = layer.type
        x = blobs.get(layer.bottom[0]) if layer.bottom else None
        w = [torch.as_tensor(np.asarray(a), dtype=dtype) for a in params.get(layer.name, [])]
        if t == "Input":
            continue
        if t in ("Convolution", "Deconvolution"):
            p = layer.convolution_param
            stride, pad, dil = zip(*(axis[1:] for axis in conv_geometry(layer)))  # (H, W)
            b = w[1].reshape(-1) if len(w) > 1 else None
            op = F.conv2d if t == "Convolution" else F.conv_transpose2d
            kw = dict(stride=tuple(stride), padding=tuple(pad), dilation=tuple(dil))
            y = op(x, w[0], b, groups=p.group, **kw)
        elif t == "ReLU":
            y = F.relu(x)
        elif t == "Dropout":
            y = x
        elif t == "Pooling":
            pp = layer.pooling_param
            assert pp.pool == 0 and pp.pad == 0
            y = F.max_pool2d(x, pp.kernel_size, pp.stride, ceil_mode=True)
        elif t == "LRN":
            lp = layer.lrn_param
            y = F.local_response_norm(x, lp.local_size, lp.alpha, lp.beta, lp.k)
        elif t == "InnerProduct":
            y = F.linear(x.reshape(x.shape[0], -1), w[0].reshape(w[0].shape[-2:]), w[1].reshape(-1))
        elif t == "Softmax":
            y = torch.softmax(x, dim=1)
        else:
            raise NotImplementedError(t)
        blobs[layer.top[0]] = y
    return {k: v.numpy() for k, v in blobs.items()}
