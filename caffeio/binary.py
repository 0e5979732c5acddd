"""Binary caffemodel / solverstate reading and writing."""

import os
import tempfile

from google.protobuf.message import DecodeError

from . import caffe_pb2
from .errors import CaffeFormatError


def atomic_write(path, data):
    """Write bytes to `path` through a temporary file in the same folder and a rename.

    A crash or Ctrl-C mid-write never leaves a half-written file under `path`.
    """
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix="." + os.path.basename(path) + ".", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _read_bytes(path, what):
    if not os.path.exists(path):
        raise CaffeFormatError(f"{path}: no such file (expected a {what})")
    with open(path, "rb") as f:
        data = f.read()
    if not data:
        raise CaffeFormatError(f"{path}: empty file (expected a binary {what})")
    return data


def _looks_like_text(data):
    head = data[:512]
    try:
        s = head.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return any(k in s for k in ("layer {", "layers {", "name:", "net:", "base_lr"))


def parse_binary(data, message, path, what):
    """Parse serialized protobuf `data` into `message`; errors name `path` and say what is wrong."""
    if _looks_like_text(data):
        raise CaffeFormatError(
            f"{path}: this is a text prototxt, not a binary {what} (pass it where a .prototxt goes)"
        )
    try:
        message.ParseFromString(data)
    except (DecodeError, RuntimeError, ValueError) as e:
        raise CaffeFormatError(
            f"{path}: not a valid binary {what} ({len(data)} bytes): {e}. "
            "The file is truncated (an interrupted download?) or is another kind of file."
        ) from None
    return message


def read_net_binary(path):
    """Read a caffemodel -> NetParameter as stored (not upgraded); no layers is an error."""
    net = parse_binary(
        _read_bytes(path, "caffemodel"), caffe_pb2.NetParameter(), path, "caffemodel"
    )
    if not len(net.layer) and not len(net.layers):
        raise CaffeFormatError(
            f"{path}: parsed as a NetParameter but holds no layers: not a caffemodel "
            "(or truncated before its first layer)"
        )
    return net


def write_binary(message, path):
    """Serialize `message` to `path` atomically."""
    atomic_write(path, message.SerializeToString())


def read_solverstate(path):
    """Read a .solverstate -> caffe_pb2.SolverState."""
    state = parse_binary(
        _read_bytes(path, "solverstate"), caffe_pb2.SolverState(), path, "solverstate"
    )
    if not state.HasField("iter") and not len(state.history):
        raise CaffeFormatError(f"{path}: holds no iteration and no history: not a solverstate")
    return state
