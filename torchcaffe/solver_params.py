"""The learnable parameters a solver updates, in Caffe's order, with their lr/decay multipliers.

Caffe's Net::learnable_params() lists every parameter blob bottom to top, layer by layer, blob by
blob, skipping blobs that share another layer's (ParamSpec `name`) storage; each carries its
ParamSpec lr_mult and decay_mult (default 1; BatchNorm's statistics are fixed at 0).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from caffeio import caffe_pb2


@dataclass
class LearnableParam:
    """One learnable blob: `layer`, blob `index`, multipliers and the blob itself."""

    layer: str
    index: int
    lr_mult: float
    decay_mult: float
    blob: object

    @property
    def name(self) -> str:
        return f"{self.layer}[{self.index}]"

    def data(self) -> torch.Tensor:
        """The data as a torch tensor sharing the blob's memory (float32, same shape)."""
        if hasattr(self.blob, "data_tensor"):
            return self.blob.data_tensor
        return torch.from_numpy(np.asarray(self.blob.data))

    def diff(self) -> torch.Tensor:
        """The diff as a torch tensor sharing the blob's memory."""
        if hasattr(self.blob, "diff_tensor"):
            return self.blob.diff_tensor
        return torch.from_numpy(np.asarray(self.blob.diff))

    def commit(self, data: torch.Tensor, diff: torch.Tensor) -> None:
        """Tell the blob its tensors were written on the engine side (GPU host mirrors go stale)."""
        if hasattr(self.blob, "data_tensor"):
            self.blob.data_tensor = data
            self.blob.diff_tensor = diff


def _fixed_lr_types():
    # Layers whose blobs Caffe keeps out of optimisation (lr_mult forced to 0 when unset).
    return {"BatchNorm"}


def learnable_params(net: Any, net_param: caffe_pb2.NetParameter) -> list[LearnableParam]:
    """List of LearnableParam for a pycaffe-style `net` built from (filtered) `net_param`.

    `net.params` gives the blobs (OrderedDict layer -> list of blobs, bottom to top);
    `net_param` (caffe_pb2.NetParameter after phase filtering) gives each blob's ParamSpec.
    Blobs shared through a ParamSpec name (or the same storage) appear once, at their owner.
    """
    info = getattr(net, "learnable_params_info", None)
    if info is not None:  # torchcaffe.Net knows its own (layer, index, blob, lr_mult, decay_mult)
        return [
            LearnableParam(p.layer, p.index, float(p.lr_mult), float(p.decay_mult), p.blob)
            for p in info
        ]
    specs = {layer.name: layer for layer in net_param.layer}
    out, seen_names, seen_storage = [], set(), set()
    for layer_name, blobs in net.params.items():
        layer = specs.get(layer_name, caffe_pb2.LayerParameter(name=layer_name))
        for i, blob in enumerate(blobs):
            spec = layer.param[i] if i < len(layer.param) else None
            if spec is not None and spec.name:
                if spec.name in seen_names:
                    continue
                seen_names.add(spec.name)
            if layer.type in _fixed_lr_types() and (spec is None or not spec.HasField("lr_mult")):
                lr, decay = 0.0, 0.0
            else:
                lr = spec.lr_mult if spec is not None else 1.0
                decay = spec.decay_mult if spec is not None else 1.0
            p = LearnableParam(layer_name, i, float(lr), float(decay), blob)
            key = _storage_key(p)
            if key in seen_storage:
                continue
            seen_storage.add(key)
            out.append(p)
    return out


def _storage_key(p):
    t = p.data()
    return (t.device.type, t.untyped_storage().data_ptr(), t.storage_offset(), tuple(t.shape))
