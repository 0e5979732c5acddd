"""Random-weight ILSVRC classifiers on disk: stand-ins for the released caffemodels (which are
not downloaded here) for the demos and the tests.

    proto, weights = write_classifier("cls/", "vgg16", width=1/16)
    python -m surgery fcnize --proto <proto> --weights <weights> --out vgg16-fcn.caffemodel

The graphs are the real ones (zoo.ilsvrc: layer names, kernels, strides, pads, groups, LRN);
`width` scales every channel count (VGG-16 at width 1/16: 4..32 conv channels, fc 256) so they
run in seconds. Written as deploy prototxt + caffemodel in the current format or in the legacy
V1 format of the 2014 model releases (V1 `layers`, enum types, blobs_lr/weight_decay, 4-D blob
shapes).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import numpy as np

import caffeio
from netspec import shapes

from . import registry

if TYPE_CHECKING:
    from caffeio import caffe_pb2


def random_weights(
    net: caffe_pb2.NetParameter, seed: int = 0, scale: float | None = None
) -> dict[str, list[np.ndarray]]:
    """{layer: [ndarray]} random weights for every learnable layer of `net` (He-scaled normal
    weights, small normal biases, float32) so activations stay O(1) through deep nets.
    BatchNorm: mean N(0, 0.1), variance U(0.5, 2), factor 1; Scale: gamma 1 + N(0, 0.1);
    PReLU: slopes 0.25 + N(0, 0.05) (its initial value, He et al. 2015)."""
    rng = np.random.default_rng(seed)
    types = {layer.name: layer.type for layer in net.layer}
    out = {}
    for name, blob_shapes in shapes.param_shapes(net, unknown_ok=True).items():
        w_shape = blob_shapes[0]
        if types[name] in ("BatchNorm", "Scale"):
            out[name] = _norm_blobs(rng, types[name], blob_shapes)
            continue
        if types[name] == "PReLU":
            out[name] = [(0.25 + rng.standard_normal(w_shape) * 0.05).astype(np.float32)]
            continue
        fan_in = int(np.prod(w_shape[1:]))
        std = scale if scale is not None else np.sqrt(2.0 / fan_in)
        arrays = [rng.standard_normal(w_shape).astype(np.float32) * np.float32(std)]
        for s in blob_shapes[1:]:
            arrays.append((rng.standard_normal(s) * 0.1).astype(np.float32))
        out[name] = arrays
    return out


def _norm_blobs(rng, type_, blob_shapes):
    c = blob_shapes[0]
    if type_ == "BatchNorm":
        mean = rng.standard_normal(c) * 0.1
        return [a.astype(np.float32) for a in (mean, rng.uniform(0.5, 2.0, c), np.ones(1))]
    gamma = 1 + rng.standard_normal(c) * 0.1
    return [gamma.astype(np.float32)] + [
        (rng.standard_normal(s) * 0.1).astype(np.float32) for s in blob_shapes[1:]
    ]


def classifier(
    arch: str = "vgg16", width: float = 1.0, num_classes: int = 1000, size: int | None = None
) -> caffe_pb2.NetParameter:
    """The ILSVRC deploy net of backbone `arch` (zoo.backbone names: vgg16, alexnet, googlenet,
    resnet50/101/152, ...) at `width`, input side `size` (None: its native one)."""
    return registry.backbone(arch).classifier(width=width, num_classes=num_classes, input_size=size)


def write_net_and_weights(
    net: caffe_pb2.NetParameter, folder: str, stem: str, legacy: bool = False, seed: int = 0
) -> tuple[str, str]:
    """Write `net` as <folder>/<stem>_deploy.prototxt and random weights (random_weights(seed))
    as <folder>/<stem>.caffemodel -> (proto, weights). legacy=True writes both in the V1
    format (caffeio.legacy.to_v1; V1 has no BatchNorm/Scale: ValueError for ResNets)."""
    from caffeio.legacy import to_v1

    params = random_weights(net, seed=seed)
    model = caffeio.params_to_net(params, net)
    tag = "_v1" if legacy else ""
    proto = os.path.join(folder, f"{stem}{tag}_deploy.prototxt")
    weights = os.path.join(folder, f"{stem}{tag}.caffemodel")
    if legacy:
        net, model = to_v1(net), to_v1(model)
    os.makedirs(folder, exist_ok=True)
    caffeio.write_net(net, proto)
    caffeio.write_caffemodel(model, weights)
    return proto, weights


def write_classifier(
    folder: str,
    arch: str = "vgg16",
    width: float = 1.0,
    num_classes: int = 1000,
    legacy: bool = False,
    seed: int = 0,
    size: int | None = None,
) -> tuple[str, str]:
    """Write `<arch>_deploy.prototxt` + `<arch>.caffemodel` (random weights) under `folder`
    -> (proto, weights): the classifier(arch, width, num_classes, size) of write_net_and_weights.
    """
    net = classifier(arch, width, num_classes, size)
    return write_net_and_weights(net, folder, arch, legacy, seed)
