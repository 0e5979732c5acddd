"""BlobProto <-> numpy conversion with Caffe's legacy-shape rules."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from . import caffe_pb2


def blob_shape(blob: caffe_pb2.BlobProto) -> tuple[int, ...]:
    """Shape of a BlobProto: `shape.dim` if set, else legacy (num, channels, height, width)."""
    if blob.HasField("shape"):
        return tuple(int(d) for d in blob.shape.dim)
    if any(blob.HasField(f) for f in ("num", "channels", "height", "width")):
        return (blob.num, blob.channels, blob.height, blob.width)
    n = len(blob.double_data) or len(blob.data)
    return (n,) if n else ()


def blob_to_array(blob: caffe_pb2.BlobProto, name: str = "blob") -> np.ndarray:
    """BlobProto -> float32 ndarray of `blob_shape(blob)` (float64 when only double_data is set).

    Raises CaffeFormatError when the stored element count does not match the shape
    (the usual sign of a truncated or corrupt file); `name` goes into the message.
    """
    from .errors import CaffeFormatError

    shape = blob_shape(blob)
    if any(d < 0 for d in shape):
        raise CaffeFormatError(
            f"{name}: negative dimension in shape {shape} (corrupt file, or written by a broken "
            "tool): re-create or re-download it"
        )
    if not shape and not blob.HasField("shape"):
        shape = (0,)  # nothing stored at all
    count = math.prod(shape)  # Python ints: no int64 overflow; () is a scalar, as in Caffe
    n = len(blob.double_data) or len(blob.data)
    if n != count:
        raise CaffeFormatError(
            f"{name}: shape {shape} needs {count} values but {n} are stored "
            "(truncated or corrupt file?)"
        )
    if len(blob.double_data):
        arr = np.asarray(blob.double_data, dtype=np.float64)
    else:
        arr = np.asarray(blob.data, dtype=np.float32)
    return arr.reshape(shape)


def array_to_blob(
    arr: np.ndarray, legacy: bool = False, diff: np.ndarray | None = None
) -> caffe_pb2.BlobProto:
    """ndarray -> BlobProto with float32 `data` (and `diff` if given).

    legacy=True writes num/channels/height/width instead of `shape` (arr must have <= 4 dims),
    as in pre-2015 files such as the ILSVRC VGG-16 release.
    """
    return fill_blob(caffe_pb2.BlobProto(), arr, legacy, diff)


def fill_blob(
    blob: caffe_pb2.BlobProto,
    arr: np.ndarray,
    legacy: bool = False,
    diff: np.ndarray | None = None,
) -> caffe_pb2.BlobProto:
    """Write ndarray `arr` into the (empty) BlobProto `blob` in place and return it.

    Use this on `layer.blobs.add()` for big arrays: it avoids the copy that
    `layer.blobs.add().CopyFrom(array_to_blob(arr))` makes.
    """
    arr = np.asarray(arr, dtype=np.float32)
    if arr.ndim == 0 and not legacy:
        # a 0-axis blob (a channel-shared PReLU slope): Caffe writes its one value and no shape
        # (a `shape { dim: 1 }` would not match the layer's blob when Caffe loads the file)
        _merge_packed_floats(blob, 5, arr.reshape(1))
        if diff is not None:
            _merge_packed_floats(blob, 6, np.asarray(diff, dtype=np.float32).reshape(1))
        return blob
    arr = np.ascontiguousarray(arr)
    if legacy:
        if arr.ndim > 4:
            raise ValueError(f"a legacy blob holds at most 4 dims, got shape {arr.shape}")
        dims = (1,) * (4 - arr.ndim) + arr.shape
        blob.num, blob.channels, blob.height, blob.width = dims
    else:
        blob.shape.dim.extend(arr.shape)
    _merge_packed_floats(blob, 5, arr)
    if diff is not None:
        _merge_packed_floats(blob, 6, np.ascontiguousarray(diff, dtype=np.float32))
    return blob


def _varint(n):
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _merge_packed_floats(blob, field_number, arr):
    # Appending element by element is slow for 100M-value blobs; a packed float field is
    # tag + length + little-endian float32 bytes, which protobuf merges in one pass.
    if arr.size == 0:
        return
    payload = arr.astype("<f4", copy=False).tobytes()
    blob.MergeFromString(_varint(field_number << 3 | 2) + _varint(len(payload)) + payload)


def shapes_match(stored: Sequence[int], wanted: Sequence[int]) -> bool:
    """True when a stored blob shape matches `wanted`, right-aligning legacy 4-D shapes.

    A legacy (1, 1, 4096, 25088) matches (4096, 25088): leading 1s are ignored on both sides.
    A one-value blob saved without any shape (Caffe's file of a 0-axis blob, e.g. a shared
    PReLU slope) matches the scalar shape ().
    """

    def strip(s):
        s = list(s)
        while s and s[0] == 1:
            s.pop(0)
        return tuple(s)

    return strip(stored) == strip(wanted)
