"""Prototxt (protobuf text format) reading and writing with file:line:column errors."""

from __future__ import annotations

import os
import re
from typing import TypeVar

from google.protobuf import text_format
from google.protobuf.message import Message

from . import caffe_pb2
from .errors import CaffeFormatError

M = TypeVar("M", bound=Message)

_FIELD_RE = re.compile(r'has no field named "([^"]+)"')
_ENUM_RE = re.compile(r'has no value named "?([^" ]+)"? for field|has no value named ([^ ]+)')


def parse_text(text: str, message: M, filename: str = "<string>") -> M:
    """Parse protobuf text into `message` (modified in place and returned).

    Errors become CaffeFormatError "FILE:LINE:COL: what ... (hint)".
    """
    try:
        text_format.Parse(text, message)
    except text_format.ParseError as e:
        line, col = e.GetLine(), e.GetColumn()
        msg = str(e)
        # protobuf prefixes "L:C : "; drop it, we add file:line:col ourselves.
        msg = re.sub(r"^\d+:\d+ ?: ?", "", msg)
        hint = ""
        m = _FIELD_RE.search(msg)
        if m:
            hint = f" (unknown field '{m.group(1)}': check its spelling and the message it is in)"
        elif "has no value" in msg or "Enum type" in msg:
            hint = " (unknown enum value: use one of the names the Caffe schema defines)"
        where = f"{filename}:{line}:{col}" if line else filename
        raise CaffeFormatError(f"{where}: {msg}{hint}") from None
    if not message.IsInitialized():  # Caffe's parser refuses these (clip_param's min, max)
        missing = ", ".join(message.FindInitializationErrors())
        raise CaffeFormatError(f"{filename}: required field(s) not set: {missing}")
    return message


def read_text(path: str, message: M) -> M:
    """Read the prototxt at `path` into `message`; a missing or empty file is an error."""
    if not os.path.exists(path):
        raise CaffeFormatError(f"{path}: no such file")
    with open(path, encoding="utf-8", errors="replace") as f:
        text = f.read()
    if not text.strip() or not _has_content(text):
        raise CaffeFormatError(f"{path}: empty file (no fields): expected a Caffe prototxt")
    return parse_text(text, message, path)


def _has_content(text):
    return any(ln.split("#", 1)[0].strip() for ln in text.splitlines())


def to_text(message: Message) -> str:
    """Message -> prototxt text in Caffe's style (2-space indent, trailing newline)."""
    return text_format.MessageToString(message)


def write_text(message: Message, path: str) -> None:
    """Write `message` as prototxt to `path` atomically (temporary file + rename)."""
    from .binary import atomic_write

    atomic_write(path, to_text(message).encode("utf-8"))


_NAME_RE = re.compile(r"""\bname\s*:\s*(["'])(.*?)\1""")


def layer_lines(path: str) -> dict[str, int]:
    """{name: 1-based line of its first `name: "..."`} for the prototxt at `path`, in one pass
    over the file ({} when it cannot be read). Use it for many lookups (see locate_layer)."""
    lines = {}
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            for i, line in enumerate(f, 1):
                for m in _NAME_RE.finditer(line):
                    lines.setdefault(m.group(2), i)
    except OSError:
        return {}
    return lines


def locate_layer(path: str, layer_name: str) -> int | None:
    """1-based line number where `name: "layer_name"` appears in the prototxt at `path`, or None.

    Reads the whole file: for a lookup per layer build layer_lines(path) once instead."""
    return layer_lines(path).get(layer_name)


def net_from_text(text: str, filename: str = "<string>") -> caffe_pb2.NetParameter:
    """Prototxt text -> caffe_pb2.NetParameter (not upgraded)."""
    return parse_text(text, caffe_pb2.NetParameter(), filename)
