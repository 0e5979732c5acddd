"""python -m caffeio info FILE: layers, types, blob shapes and parameter counts of a Caffe file."""

import argparse
import sys

from . import CaffeFormatError, blob_shape, read_caffemodel, read_net, read_solver, read_solverstate
from .binary import _looks_like_text


def _kind(path):
    with open(path, "rb") as f:
        head = f.read(4096)
    if not head:
        return "empty"
    if _looks_like_text(head):
        text = head.decode("utf-8", "replace")
        solver_keys = ("base_lr", "train_net", "lr_policy", "max_iter", "net:")
        return "solver" if any(k in text for k in solver_keys) else "net"
    return "binary"


def info(path, out=None):
    """Print a summary of a prototxt, caffemodel or solverstate to `out` (default stdout)."""
    out = out or sys.stdout
    kind = _kind(path)
    if kind == "empty":
        raise CaffeFormatError(f"{path}: empty file")
    if kind == "solver":
        s = read_solver(path)
        print(f"{path}: solver", file=out)
        for f, v in s.ListFields():
            print(f"  {f.name}: {v}", file=out)
        return
    if kind == "net":
        net = read_net(path)
        label = "net prototxt"
    else:
        try:
            net = read_caffemodel(path)
            label = "caffemodel"
        except CaffeFormatError as first:
            try:
                state = read_solverstate(path)
            except CaffeFormatError:
                raise first from None
            print(
                f"{path}: solverstate at iter {state.iter}, learned_net {state.learned_net!r}, "
                f"{len(state.history)} history blobs",
                file=out,
            )
            total = 0
            for i, b in enumerate(state.history):
                shape = blob_shape(b)
                n = len(b.data) or len(b.double_data)
                total += n
                print(f"  history[{i}] {shape} ({n} values)", file=out)
            print(f"  total {total:,} values", file=out)
            return
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


def main(argv=None):
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
