"""Command line: `python -m surgery fcnize ...`, `python -m surgery stage ...`.

    python -m surgery fcnize --proto VGG_ILSVRC_16_layers_deploy.prototxt \\
        --weights VGG_ILSVRC_16_layers.caffemodel --out models/ilsvrc-nets/vgg16-fcn.caffemodel
    python -m surgery fcnize --proto ResNet-50-deploy.prototxt \\
        --weights ResNet-50-model.caffemodel \\
        --out resnet50-fcn.caffemodel --out-proto resnet50-fcn_deploy.prototxt
    python -m surgery stage --from models/ilsvrc-nets/vgg16-fcn.caffemodel --to models/voc-fcn32s
    python -m surgery stage --from color=c.caffemodel --from hha=h.caffemodel \\
        --to models/nyud-fcn32s-color-hha
"""

from __future__ import annotations

import argparse
import os
import sys

import caffeio
import zoo
from netspec.argtypes import positive_width

from .errors import SurgeryError
from .fcnize import archs, fcnize
from .stage import staged_init


def _parser():
    p = argparse.ArgumentParser(prog="python -m surgery", description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    f = sub.add_parser(
        "fcnize",
        help="any Caffe classifier (VGG, AlexNet, GoogLeNet, ResNet, SqueezeNet, MobileNet, "
        "DenseNet, NiN, BN-Inception, PReLU nets, ...) caffemodel -> fully "
        "convolutional caffemodel (FCN init)",
    )
    f.add_argument(
        "--proto",
        required=True,
        help="classifier deploy prototxt (V1 or current; a train_val net needs --size)",
    )
    f.add_argument("--weights", required=True, help="classifier caffemodel (V1 or current)")
    f.add_argument("--out", required=True, help="caffemodel to write")
    f.add_argument(
        "--size",
        type=_size,
        help="native input size (S or HxW), only for a prototxt that states no input shape",
    )
    f.add_argument(
        "--arch", choices=sorted(archs()), help="as --size: the classifier's native input side"
    )
    f.add_argument("--out-proto", help="also write the fully convolutional deploy prototxt")
    f.add_argument("--force", action="store_true", help="overwrite existing output files")
    s = sub.add_parser("stage", help="write the init caffemodel a model's training starts from")
    s.add_argument(
        "--from",
        dest="sources",
        action="append",
        required=True,
        metavar="[SUFFIX=]CAFFEMODEL",
        help="source weights; twice with color=/hha= for nyud-fcn32s-color-hha",
    )
    s.add_argument(
        "--to",
        required=True,
        help="model folder (with train/trainval + deploy prototxt) or name: "
        + ", ".join(zoo.names()),
    )
    s.add_argument("--out", help="default: <model folder>/init.caffemodel")
    s.add_argument(
        "--width", type=positive_width, default=1.0, help="netspec width > 0 (models built here)"
    )
    s.add_argument("--force", action="store_true", help="overwrite an existing --out")
    return p


def _size(text):
    try:
        dims = tuple(int(v) for v in text.lower().split("x"))
    except ValueError:
        dims = ()
    if len(dims) not in (1, 2) or min(dims) < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: give S or HxW (positive integers)")
    return dims * (3 - len(dims))


def _sources(items):
    pairs = [x.split("=", 1) if "=" in x and not os.path.exists(x) else (None, x) for x in items]
    for _, path in pairs:
        if not os.path.exists(path):
            raise SurgeryError(f"{path}: no such caffemodel")
    if len(pairs) == 1 and pairs[0][0] is None:
        return pairs[0][1]
    if any(k is None for k, _ in pairs):
        raise SurgeryError("several --from need suffixes: --from color=A.caffemodel ...")
    return dict(pairs)


def main(argv: list[str] | None = None) -> int:
    """`python -m surgery fcnize|stage ...` -> exit status (0, or 2 after printing the error)."""
    args = _parser().parse_args(argv)
    try:
        if args.cmd == "fcnize":
            fcnize(
                args.proto,
                args.weights,
                args.out,
                arch=args.arch,
                size=args.size,
                force=args.force,
                out_proto=args.out_proto,
            )
        else:
            out = args.out
            if out is None:
                folder = args.to if os.path.isdir(args.to) else os.path.join("models", args.to)
                out = os.path.join(folder, "init.caffemodel")
            staged_init(args.to, _sources(args.sources), out, width=args.width, force=args.force)
    except (SurgeryError, caffeio.CaffeFormatError) as e:
        print(f"surgery {args.cmd}: error: {e}", file=sys.stderr)
        return 2
    except OSError as e:  # e.g. an output folder that cannot be created
        print(
            f"surgery {args.cmd}: error: {e.filename or ''}: {e.strerror or e}: check the "
            "input files and choose another --out",
            file=sys.stderr,
        )
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
