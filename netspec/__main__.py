"""Command line: write model prototxt, or show every blob's shape and each crop's offset.

python -m netspec make voc-fcn8s [more models | all] [--out-dir models] [--width 1]
python -m netspec make voc-fcn-resnet101 --recipe torchvision [--batch 2] --out-dir runs
python -m netspec shapes models/voc-fcn8s/val.prototxt --input 500x500
python -m netspec list
python -m netspec profile voc-fcn8s [more models] --input 500x500 [--width 1] [--measure]
    [--per-layer] [--json out.json]
"""

import argparse
import os
import sys

import caffeio

from . import coord, profile_report, recipe, shapes, zoo
from .argtypes import image_size, positive_width
from .errors import NetSpecError, ShapeError


def cmd_make(args, out):
    models = list(zoo.ALL_MODELS) if args.models == ["all"] else args.models
    for m in models:
        if m not in zoo.ALL_MODELS:
            raise NetSpecError(f"unknown model '{m}'; known models: {', '.join(zoo.ALL_MODELS)}")
    for m in models:
        paths = zoo.write(
            m, os.path.join(args.out_dir, m), width=args.width, data_root=args.data_root,
            recipe=args.recipe, batch_size=args.batch,
        )  # fmt: skip
        print(f"{m}: wrote {', '.join(paths)}", file=out)


def explain(net, image_size=None, input_shapes=None, out=sys.stdout):
    """Print each layer's top shapes (with the size rule) and why each Crop offset is what it is."""
    rows = shapes.infer_layers(net, input_shapes, image_size)
    maps = coord.blob_maps(net)
    w_name = max([len(r.layer.name) for r in rows] + [5])
    w_type = max([len(r.layer.type) for r in rows] + [4])
    w_shape = max([len(shapes._fmt(t)) for r in rows for t in r.tops] + [5])
    head = f"{'layer':<{w_name}}  {'type':<{w_type}}  {'top':<{w_name}}  {'shape':<{w_shape}}"
    print(head + "  rule", file=out)
    for r in rows:
        for i, (top, shape) in enumerate(zip(r.layer.top, r.tops)):
            shp = f"{shapes._fmt(shape):<{w_shape}}"
            rule = f"  H: {r.rule}" if r.rule and i == 0 and r.layer.type != "Crop" else ""
            if r.layer.type == "Crop":
                rule = f"  cropped from {shapes._fmt(r.bottoms[0])} at {r.rule}"
            line = (
                f"{r.layer.name:<{w_name}}  {r.layer.type:<{w_type}}  {top:<{w_name}}  {shp}{rule}"
            )
            print(line.rstrip(), file=out)
    crops = [r for r in rows if r.layer.type == "Crop"]
    if crops:
        print(
            "\ncrop offsets (coordinate maps: position in the blob = a * input position + b):",
            file=out,
        )
    for r in crops:
        a, b = r.layer.bottom[0], r.layer.bottom[1]
        try:
            computed = coord.align_offset(maps[a], maps[b], a, b)
            why = f"computed offset {computed[0] if computed[0] == computed[1] else computed}"
        except NetSpecError as e:
            why = f"cannot be computed: {e}"
        print(f"  {r.layer.name}: {a} = {coord.describe(maps[a])}", file=out)
        print(f"  {' ' * len(r.layer.name)}  {b} = {coord.describe(maps[b])}", file=out)
        print(
            f"  {' ' * len(r.layer.name)}  -> {why}; the file says {r.rule}; "
            f"{shapes._fmt(r.bottoms[0])} -> {shapes._fmt(r.tops[0])}",
            file=out,
        )
    pads = [
        r for r in rows if r.layer.type == "Convolution" and 100 in r.layer.convolution_param.pad
    ]
    for r in pads[:1]:
        print(
            f"\n{r.layer.name} pads by 100: the image is embedded in a larger frame so that any "
            "input (even 1x1) survives the five poolings and fc6's window; the final crop cuts "
            "the score back to the input's size at the offset above.",
            file=out,
        )


def cmd_shapes(args, out):
    net = caffeio.read_net(args.file)
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


def main(argv=None, out=sys.stdout):
    """Entry point; returns the exit status (errors print one clear line to stderr, status 1)."""
    ap = argparse.ArgumentParser(prog="python -m netspec", description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    mk = sub.add_parser("make", help="write models/<model>/*.prototxt")
    mk.add_argument("models", nargs="+", help="model names, or 'all'")
    mk.add_argument("--out-dir", default="models", help="parent folder (default: models)")
    mk.add_argument(
        "--width", type=positive_width, default=1.0, help="channel multiplier > 0 (default 1)"
    )
    mk.add_argument("--data-root", default=None, help="dataset root (default ../../data)")
    mk.add_argument(
        "--recipe", choices=sorted(recipe.RECIPES), help="FCN-ResNets: training recipe (caffe)"
    )
    mk.add_argument("--batch", type=int, help="FCN-ResNets: images per forward of the train net")
    sh = sub.add_parser("shapes", help="print blob shapes and explain crop offsets")
    sh.add_argument("file", help="a net prototxt")
    sh.add_argument("--input", type=image_size, default=None, help="image size HxW (e.g. 500x500)")
    sub.add_parser("list", help="list the models")
    pr = sub.add_parser(
        "profile", help="parameters, MACs, FLOPs, receptive field, stride (and measured speed)"
    )
    pr.add_argument("models", nargs="+", help="model names")
    pr.add_argument("--input", type=image_size, required=True, help="image size HxW")
    pr.add_argument(
        "--width", type=positive_width, default=1.0, help="channel multiplier > 0 (default 1)"
    )
    pr.add_argument(
        "--measure", action="store_true", help="time torchcaffe's forward (CPU; CUDA if seen)"
    )
    pr.add_argument("--per-layer", action="store_true", help="print every layer's counts")
    pr.add_argument("--json", default=None, help="also write the profiles to this JSON file")
    args = ap.parse_args(argv)
    try:
        if args.cmd == "make":
            cmd_make(args, out)
        elif args.cmd == "shapes":
            cmd_shapes(args, out)
        elif args.cmd == "profile":
            profile_report.run(args, out)
        else:
            for m in zoo.ALL_MODELS:
                print(f"{m:<24} {', '.join(zoo.net_files(m))}, solver", file=out)
    except (NetSpecError, caffeio.CaffeFormatError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except OSError as e:  # a folder that cannot be created (a file in the way, no permission)
        print(
            f"error: {e.filename or ''}: {e.strerror or e}: choose another --out-dir "
            "(or fix that path's permissions)",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
