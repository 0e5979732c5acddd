"""Write nets in the legacy V1 format (as the 2014 ILSVRC model releases are), for tests and tools.

Caffe reads these by upgrading them (caffeio.upgrade); this is the inverse, so a modern net can be
saved the way old model files look: V1 `layers` with enum types, `blobs_lr`/`weight_decay`
instead of `param`, legacy 4-D blob shapes, and `input`/`input_dim` instead of an Input layer.
"""

from __future__ import annotations

import numpy as np

from . import caffe_pb2
from .blobs import array_to_blob, blob_to_array
from .upgrade import _V1_PARAM_FIELDS, V1_TYPE_NAMES

_TYPE_ENUMS = {name: enum for enum, name in V1_TYPE_NAMES.items() if name}


def to_v1(net: caffe_pb2.NetParameter) -> caffe_pb2.NetParameter:
    """caffe_pb2.NetParameter (current format) -> an equivalent NetParameter in V1 format.

    Raises ValueError for a layer type V1 cannot express (e.g. Crop, Python, Scale): V1 files
    predate them.
    """
    out = caffe_pb2.NetParameter(name=net.name)
    for layer in net.layer:
        if layer.type == "Input":
            for top, shape in zip(layer.top, layer.input_param.shape):
                dims = list(shape.dim)
                if len(dims) != 4:
                    raise ValueError(f"input '{top}': V1 input_dim needs 4 dims, got {dims}")
                out.input.append(top)
                out.input_dim.extend(dims)
            continue
        if layer.type not in _TYPE_ENUMS:
            raise ValueError(f"layer '{layer.name}': type {layer.type} has no V1 enum value")
        v1 = out.layers.add(name=layer.name, type=_TYPE_ENUMS[layer.type])
        v1.bottom.extend(layer.bottom)
        v1.top.extend(layer.top)
        v1.include.extend(layer.include)
        v1.exclude.extend(layer.exclude)
        v1.loss_weight.extend(layer.loss_weight)
        for spec in layer.param:
            v1.blobs_lr.append(spec.lr_mult)
            v1.weight_decay.append(spec.decay_mult)
            if spec.name:
                v1.param.append(spec.name)
        for i, b in enumerate(layer.blobs):
            arr = blob_to_array(b, f"layer '{layer.name}' blob {i}")
            v1.blobs.add().CopyFrom(array_to_blob(np.asarray(arr), legacy=arr.ndim <= 4))
        for field in _V1_PARAM_FIELDS:
            if layer.HasField(field):
                getattr(v1, field).CopyFrom(getattr(layer, field))
    return out
