"""Caffe file formats with numpy and protobuf only.

net = caffeio.read_net("deploy.prototxt")          # NetParameter, legacy forms upgraded
weights = caffeio.read_caffemodel("x.caffemodel")  # NetParameter with blobs, upgraded
params = caffeio.load_params("x.caffemodel")       # {layer: [ndarray, ...]} in file order
caffeio.write_net(net, "out.prototxt"); caffeio.write_caffemodel(net, "out.caffemodel")
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping, Sequence

import numpy as np

from . import caffe_pb2
from .binary import atomic_write, read_net_binary, read_solverstate, write_binary
from .blobs import array_to_blob, blob_shape, blob_to_array, fill_blob, shapes_match
from .errors import CaffeFormatError
from .fields import is_repeated
from .text import locate_layer, parse_text, read_text, to_text, write_text
from .upgrade import needs_upgrade, upgrade_net

__all__ = [
    "caffe_pb2",
    "CaffeFormatError",
    "read_net",
    "read_solver",
    "read_caffemodel",
    "read_solverstate",
    "write_net",
    "write_solver",
    "write_caffemodel",
    "write_solverstate",
    "load_params",
    "params_to_net",
    "net_from_text",
    "blob_to_array",
    "array_to_blob",
    "fill_blob",
    "blob_shape",
    "shapes_match",
    "to_text",
    "parse_text",
    "atomic_write",
    "upgrade_net",
    "is_repeated",
    "needs_upgrade",
    "locate_layer",
]


def read_net(path: str, upgrade: bool = True) -> caffe_pb2.NetParameter:
    """Read a net prototxt -> caffe_pb2.NetParameter (legacy V1/input forms upgraded by default)."""
    net = read_text(path, caffe_pb2.NetParameter())
    if not len(net.layer) and not len(net.layers) and not len(net.input):
        raise CaffeFormatError(f"{path}: a net prototxt with no layers")
    return upgrade_net(net, path) if upgrade else net


def net_from_text(
    text: str, filename: str = "<string>", upgrade: bool = True
) -> caffe_pb2.NetParameter:
    """Prototxt text -> caffe_pb2.NetParameter (upgraded by default)."""
    net = parse_text(text, caffe_pb2.NetParameter(), filename)
    return upgrade_net(net, filename) if upgrade else net


def read_solver(path: str) -> caffe_pb2.SolverParameter:
    """Read a solver prototxt -> caffe_pb2.SolverParameter."""
    return read_text(path, caffe_pb2.SolverParameter())


def read_caffemodel(path: str, upgrade: bool = True) -> caffe_pb2.NetParameter:
    """Read a binary caffemodel -> caffe_pb2.NetParameter with blobs (upgraded by default).

    Every blob's stored value count is checked against its shape; a truncated or foreign file
    raises CaffeFormatError naming the file (and layer).
    """
    net = read_net_binary(path)
    net = upgrade_net(net, path) if upgrade else net
    if upgrade:
        for layer in net.layer:
            for i, b in enumerate(layer.blobs):
                blob_to_array(b, f"{path}: layer '{layer.name}' blob {i}")
    return net


def write_net(net: caffe_pb2.NetParameter, path: str) -> None:
    """Write a NetParameter as prototxt text (atomically)."""
    write_text(net, path)


def write_solver(solver: caffe_pb2.SolverParameter, path: str) -> None:
    """Write a SolverParameter as prototxt text (atomically)."""
    write_text(solver, path)


def write_caffemodel(net: caffe_pb2.NetParameter, path: str) -> None:
    """Write a NetParameter (with blobs) as a binary caffemodel (atomically)."""
    write_binary(net, path)


def write_solverstate(state: caffe_pb2.SolverState, path: str) -> None:
    """Write a caffe_pb2.SolverState (atomically)."""
    write_binary(state, path)


def load_params(path: str) -> OrderedDict[str, list[np.ndarray]]:
    """caffemodel -> OrderedDict {layer name: [ndarray, ...]} for layers that hold blobs.

    Arrays keep their stored shapes (legacy 4-D shapes as stored: use shapes_match to compare).
    """
    net = read_caffemodel(path)
    out = OrderedDict()
    for layer in net.layer:
        if len(layer.blobs):
            out[layer.name] = [
                blob_to_array(b, f"{path}: layer '{layer.name}' blob {i}")
                for i, b in enumerate(layer.blobs)
            ]
    return out


def params_to_net(
    params: Mapping[str, Sequence[np.ndarray]],
    net: caffe_pb2.NetParameter | None = None,
    types: Mapping[str, str] | None = None,
) -> caffe_pb2.NetParameter:
    """{layer name: [ndarray, ...]} -> NetParameter holding only those layers' blobs.

    If `net` (a NetParameter) is given, its layer definitions are copied (in its order) and
    blobs attached to the layers named in `params`; otherwise bare layers are written with
    `types[name]` (default "") as their type. Caffe's copy_from matches layers by name only.
    """
    out = caffe_pb2.NetParameter()
    if net is not None:
        out.CopyFrom(net)
        for layer in out.layer:
            layer.ClearField("blobs")
            for arr in params.get(layer.name, []):
                fill_blob(layer.blobs.add(), arr)
        return out
    for name, arrays in params.items():
        layer = out.layer.add(name=name, type=(types or {}).get(name, ""))
        for arr in arrays:
            fill_blob(layer.blobs.add(), arr)
    return out
