"""Binary caffemodel / solverstate reading and writing."""

from __future__ import annotations

import os
from typing import TypeVar

from google.protobuf.message import DecodeError, Message

from . import caffe_pb2
from .atomic import atomic_write
from .blobs import blob_to_array
from .errors import CaffeFormatError
from .sniff import binary_kind, is_text

__all__ = ["atomic_write", "parse_binary", "read_net_binary", "read_solverstate", "write_binary"]

M = TypeVar("M", bound=Message)


def _read_bytes(path, what):
    if not os.path.exists(path):
        raise CaffeFormatError(f"{path}: no such file (expected a {what})")
    with open(path, "rb") as f:
        data = f.read()
    if not data:
        raise CaffeFormatError(f"{path}: empty file (expected a binary {what})")
    return data


def _looks_like_text(data):
    return is_text(data[:4096])


def parse_binary(data: bytes, message: M, path: str, what: str) -> M:
    """Parse serialized protobuf `data` into `message`; errors name `path` and say what is wrong."""
    if _looks_like_text(data):
        raise CaffeFormatError(
            f"{path}: this is a text prototxt (or other text), not a binary {what}: pass it "
            "where a .prototxt goes, or give the binary file"
        )
    try:
        message.ParseFromString(data)
    except (DecodeError, RuntimeError, ValueError) as e:
        other = {"caffemodel": "solverstate", "solverstate": "caffemodel"}.get(what)
        hint = "The file is truncated (an interrupted download?) or is another kind of file."
        if other and binary_kind(data) == other:
            hint = f"It starts like a {other}: pass it where a .{other} goes."
        raise CaffeFormatError(
            f"{path}: not a valid binary {what} ({len(data)} bytes): {e}. {hint}"
        ) from None
    return message


def read_net_binary(path: str) -> caffe_pb2.NetParameter:
    """Read a caffemodel -> NetParameter as stored (not upgraded); no layers is an error."""
    data = _read_bytes(path, "caffemodel")
    net = parse_binary(data, caffe_pb2.NetParameter(), path, "caffemodel")
    if not len(net.layer) and not len(net.layers):
        if binary_kind(data) == "solverstate":
            raise CaffeFormatError(
                f"{path}: this is a solverstate, not a caffemodel: pass the .caffemodel its "
                "learned_net names (or resume the solver from this file)"
            )
        raise CaffeFormatError(
            f"{path}: parsed as a NetParameter but holds no layers: not a caffemodel "
            "(or truncated before its first layer)"
        )
    _check_names(net, path)
    return net


def _strings(layer, modern):
    """(field, value) for the name strings of a LayerParameter (modern) or a V1 layer."""
    yield "name", layer.name
    if modern:
        yield "type", layer.type
    for p in layer.param:
        yield "param name", p.name if modern else p
    for v in layer.bottom:
        yield "bottom", v
    for v in layer.top:
        yield "top", v


def _check_names(net, path):
    """Names, types, bottoms and tops must be text: upb hands back bytes for strings that are
    not UTF-8 (a corrupt file, whose names would match nothing or fail later)."""
    if isinstance(net.name, bytes) or any(isinstance(v, bytes) for v in net.input):
        raise CaffeFormatError(
            f"{path}: the net name or an input name is not UTF-8 text: the file is corrupt"
        )
    for i, layer in enumerate(list(net.layer) + list(net.layers)):
        for what, v in _strings(layer, i < len(net.layer)):
            if isinstance(v, bytes):
                raise CaffeFormatError(
                    f"{path}: layer {i} ({layer.name!r}) has a {what} that is not UTF-8 text: "
                    "the file is corrupt (re-download or re-create it)"
                )


def write_binary(message: Message, path: str) -> None:
    """Serialize `message` to `path` atomically."""
    atomic_write(path, message.SerializeToString())


def read_solverstate(path: str) -> caffe_pb2.SolverState:
    """Read a .solverstate -> caffe_pb2.SolverState.

    Besides parsing, the content must look like one: an iteration >= 0, history blobs whose
    value counts fit their shapes, and without history a learned_net naming a .caffemodel
    (random bytes often parse as a bare iteration number)."""
    data = _read_bytes(path, "solverstate")
    state = parse_binary(data, caffe_pb2.SolverState(), path, "solverstate")
    learned = state.learned_net
    learned = None if isinstance(learned, bytes) else learned  # not UTF-8: upb gives bytes
    what = None
    if learned is None:
        what = "its learned_net is not text"
    elif not state.HasField("iter") and not len(state.history):
        what = "no iteration and no history"
    elif state.iter < 0:
        what = f"a negative iteration {state.iter}"
    elif not len(state.history) and not learned.endswith((".caffemodel", ".h5")):
        what = "no history blobs and no learned_net naming a .caffemodel"
    if what:
        if binary_kind(data) == "caffemodel":
            what += "; it starts like a caffemodel: load it as weights instead"
        raise CaffeFormatError(f"{path}: not a valid solverstate ({what})")
    for i, b in enumerate(state.history):
        blob_to_array(b, f"{path}: history blob {i}")
    return state
