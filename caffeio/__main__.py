"""python -m caffeio info FILE: layers, types, blob shapes and parameter counts of a Caffe file."""

from __future__ import annotations

import argparse
import sys
from typing import TextIO

from . import (
    CaffeFormatError,
    blob_shape,
    caffe_pb2,
    read_caffemodel,
    read_net,
    read_solver,
    read_solverstate,
)
from .sniff import binary_kind, is_text, text_kind


def _kind(path):
    """'empty', 'net', 'solver', 'caffemodel', 'solverstate' or 'binary' (not told apart)."""
    with open(path, "rb") as f:
        head = f.read(4096)
    if not head:
        return "empty"
    if is_text(head):
        with open(path, encoding="utf-8", errors="replace") as f:
            return text_kind(f.read())
    return binary_kind(head) or "binary"


def _binary(path, kind):
    """Read a binary file as the kind its first bytes announce (unknown: caffemodel first);
    when that fails the other kind is tried, and if both fail the first error is reported."""
    readers = {"caffemodel": read_caffemodel, "solverstate": read_solverstate}
    order = ["solverstate", "caffemodel"] if kind == "solverstate" else list(readers)
    try:
        return readers[order[0]](path)
    except CaffeFormatError as first:
        try:
            return readers[order[1]](path)
        except CaffeFormatError:
            raise CaffeFormatError(f"{first} (Nor is it a valid {order[1]}.)") from None


def _print_state(path, state, out):
    print(
        f"{path}: solverstate at iter {state.iter}, learned_net {state.learned_net!r}, "
        f"{len(state.history)} history blobs",
        file=out,
    )
    total = 0
    for i, b in enumerate(state.history):
        n = len(b.data) or len(b.double_data)
        total += n
        print(f"  history[{i}] {blob_shape(b)} ({n} values)", file=out)
    print(f"  total {total:,} values", file=out)


def _print_net(path, net, label, out):
    print(f"{path}: {label} '{net.name}', {len(net.layer)} layers", file=out)
    print(f"  {'layer':<24} {'type':<20} {'bottom -> top':<40} blobs", file=out)
    total = 0
    for layer in net.layer:
        shapes = [blob_shape(b) for b in layer.blobs]
        n = sum(len(b.data) or len(b.double_data) for b in layer.blobs)
        total += n
        io = ",".join(layer.bottom) + " -> " + ",".join(layer.top)
        desc = " ".join("x".join(map(str, s)) for s in shapes)
        count = f" ({n:,} params)" if n else ""
        print(f"  {layer.name:<24} {layer.type:<20} {io:<40} {desc}{count}", file=out)
    print(f"  total {total:,} parameters", file=out)


def info(path: str, out: TextIO | None = None) -> None:
    """Print a summary of a prototxt, caffemodel or solverstate to `out` (default stdout).

    The kind is told from the content (text vs binary, first field or tag), not the name."""
    out = out or sys.stdout
    kind = _kind(path)
    if kind == "empty":
        raise CaffeFormatError(f"{path}: empty file")
    if kind == "solver":
        s = read_solver(path)
        print(f"{path}: solver", file=out)
        for f, v in s.ListFields():
            print(f"  {f.name}: {v}", file=out)
    elif kind == "net":
        _print_net(path, read_net(path), "net prototxt", out)
    else:
        msg = _binary(path, kind)
        if isinstance(msg, caffe_pb2.SolverState):
            _print_state(path, msg, out)
        else:
            _print_net(path, msg, "caffemodel", out)


def main(argv: list[str] | None = None) -> int:
    """`python -m caffeio info FILE` -> exit status (0, or 2 after printing the error)."""
    p = argparse.ArgumentParser(prog="python -m caffeio", description=__doc__)
    sub = p.add_subparsers(dest="cmd", required=True)
    pi = sub.add_parser("info", help="summarise a prototxt, caffemodel or solverstate")
    pi.add_argument("file")
    args = p.parse_args(argv)
    try:
        info(args.file)
    except (CaffeFormatError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
