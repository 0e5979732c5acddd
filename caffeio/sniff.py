"""Tell Caffe's file kinds apart from their bytes: text prototxt (net or solver) vs binary
caffemodel vs solverstate, without trusting the file name or a few keywords."""

from __future__ import annotations

import re

from . import caffe_pb2

_CONTROL = re.compile(r"[\x00-\x08\x0e-\x1f\x7f]")
_FIELD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_NET_FIELDS = frozenset(caffe_pb2.NetParameter.DESCRIPTOR.fields_by_name)
_SOLVER_FIELDS = frozenset(caffe_pb2.SolverParameter.DESCRIPTOR.fields_by_name)


def is_text(head: bytes) -> bool:
    """True when bytes `head` (a file's start) are UTF-8 text without control characters.

    A multi-byte character cut at the end of `head` is allowed. Binary protobuf files fail
    this within their first bytes (tags and lengths are control or non-UTF-8 bytes).
    """
    if not head:
        return False
    for cut in range(4):
        try:
            text = head[: len(head) - cut].decode("utf-8")
            break
        except UnicodeDecodeError:
            continue
    else:
        return False
    return not _CONTROL.search(text)


def first_field(text: str) -> str | None:
    """Name of the first field in prototxt `text` (comments skipped), or None."""
    for line in text.splitlines():
        m = _FIELD.match(line.split("#", 1)[0].strip())
        if m:
            return m.group(0)
    return None


def text_kind(text: str) -> str:
    """'solver' when the first field of prototxt `text` belongs to SolverParameter only, else
    'net' (a net's errors then name the unknown field and line)."""
    f = first_field(text)
    return "solver" if f in _SOLVER_FIELDS and f not in _NET_FIELDS else "net"


def _varint(data, i):
    value, shift = 0, 0
    while i < len(data) and shift < 64:
        b = data[i]
        value |= (b & 0x7F) << shift
        i += 1
        if not b & 0x80:
            return value, i
        shift += 7
    return None, i


def binary_kind(data: bytes) -> str | None:
    """'caffemodel', 'solverstate' or None from the first protobuf tag of `data` (bytes).

    Caffe writes fields in number order: a NetParameter starts with its name (field 1,
    length-delimited), V1 `layers` (2) or `layer` (100); a SolverState with `iter` (field 1,
    varint).
    """
    tag, _ = _varint(data, 0)
    if tag is None:
        return None
    field, wire = tag >> 3, tag & 7
    if field == 1 and wire == 0:
        return "solverstate"
    if (field in (1, 2, 100) and wire == 2) or field in (5, 6, 7, 8):
        return "caffemodel"
    return None
