"""Command line for any Caffe net prototxt: blob shapes and crop offsets, or costs.

python -m netspec shapes net.prototxt [--input 500x500]
python -m netspec profile deploy.prototxt [more files] --input 500x500 [--per-layer]
    [--json out.json]

The zoo's models by name (write their prototxt, list them, shapes and profiles of a model):
python -m zoo --help.
"""

from __future__ import annotations

import argparse
import sys
from typing import TextIO

import caffeio

from . import profile_report, validate
from .argtypes import image_size
from .errors import NetSpecError, ShapeError
from .explain import explain


def cmd_shapes(args: argparse.Namespace, out: TextIO) -> None:
    """`shapes FILE [--input HxW]`: print the blob shapes and crop offsets of a net to `out`."""
    net = caffeio.read_net(args.file)
    # what the engines refuse first (every layer counts: no phase is chosen here)
    validate.check_net(net, where=args.file, path=args.file, image_size=args.input)
    print(
        f"{args.file}" + (f" at input {args.input[0]}x{args.input[1]}" if args.input else ""),
        file=out,
    )
    try:
        explain(net, image_size=args.input, out=out)
    except ShapeError as e:
        about_size = "too small" in str(e) or "out of range" in str(e)
        hint = " (give the image size with --input HxW)" if about_size and not args.input else ""
        raise ShapeError(f"{args.file}: {e}{hint}") from None


def cmd_profile(args: argparse.Namespace, out: TextIO) -> None:
    """`profile FILES --input HxW`: print (and with --json write) the nets' costs."""
    nets = [(path, caffeio.read_net(path), None) for path in args.files]
    profile_report.report(nets, args.input, out, args.per_layer, args.json)


def main(argv: list[str] | None = None, out: TextIO = sys.stdout) -> int:
    """Entry point; returns the exit status (errors print one clear line to stderr, status 1)."""
    ap = argparse.ArgumentParser(prog="python -m netspec", description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    sh = sub.add_parser("shapes", help="print blob shapes and explain crop offsets")
    sh.add_argument("file", help="a net prototxt")
    sh.add_argument("--input", type=image_size, default=None, help="image size HxW (e.g. 500x500)")
    pr = sub.add_parser(
        "profile", help="parameters, MACs, FLOPs, receptive field, stride of deploy prototxt"
    )
    pr.add_argument("files", nargs="+", help="deploy net prototxt files")
    pr.add_argument("--input", type=image_size, required=True, help="image size HxW")
    pr.add_argument("--per-layer", action="store_true", help="print every layer's counts")
    pr.add_argument("--json", default=None, help="also write the profiles to this JSON file")
    args = ap.parse_args(argv)
    try:
        if args.cmd == "shapes":
            cmd_shapes(args, out)
        else:
            cmd_profile(args, out)
    except (NetSpecError, caffeio.CaffeFormatError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except OSError as e:  # a file that cannot be written (a folder in the way, no permission)
        print(f"error: {e.filename or ''}: {e.strerror or e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
