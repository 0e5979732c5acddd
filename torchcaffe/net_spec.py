"""pycaffe's `caffe.net_spec`: the toolkit's NetSpec builder (netspec.builder) under pycaffe's
names. `layers` is netspec's L, `params` its P; NetSpec, to_proto, Top and Function are the
same classes. Differences from pycaffe's module, on purpose: layer kwargs are checked against
the schema (NetSpecError naming the layer and the field), Deconvolution's kwargs go to
convolution_param (pycaffe's `L.Deconvolution(num_output=...)` fails), and a bottom that is
not a Top is a TypeError with pycaffe's message that is also a NetSpecError.
"""

from __future__ import annotations

from typing import Any

from google.protobuf.message import Message

from netspec.builder import (
    _PARAM_FIELDS,
    Function,
    Layers,
    NetSpec,
    Parameters,
    Top,
    _set_checked,
    to_proto,
)
from netspec.builder import L as layers
from netspec.builder import P as params

__all__ = [
    "NetSpec",
    "Top",
    "Function",
    "Layers",
    "Parameters",
    "layers",
    "params",
    "to_proto",
    "param_name_dict",
    "assign_proto",
]


def param_name_dict() -> dict[str, str]:
    """{layer type: name of its parameter message field without '_param'}, e.g.
    'Convolution' -> 'convolution' (Deconvolution -> 'convolution' too)."""
    return {kind: field[: -len("_param")] for kind, field in _PARAM_FIELDS.items()}


def assign_proto(proto: Message, name: str, val: Any) -> None:
    """Set field `name` of protobuf message `proto` from a Python value: lists fill repeated
    fields (a single value becomes a one-element list), dicts fill messages."""
    _set_checked(proto, name, val, proto.DESCRIPTOR.name)
