"""Command line of the model zoo: write a model's prototxt, list the models, show a model's
blob shapes and crop offsets, profile its deploy net.

python -m zoo make voc-fcn8s [more models | all] [--out-dir models] [--width 1]
python -m zoo make-custom --data data/mydata --arch voc-fcn8s [--out models/mydata-fcn8s]
    [--name mydata] [--void-label 255]          (your own dataset: zoo/userdata.py's layout)
python -m zoo classifier vgg16 --out DIR [--width 0.0625] [--seed 0]   (random-weight stand-in)
python -m zoo make voc-fcn-resnet101 --recipe torchvision [--batch 2] --out-dir runs
python -m zoo list [--names]
python -m zoo shapes voc-fcn8s [--net val] --input 500x500      (or a prototxt file)
python -m zoo profile voc-fcn8s [more models] --input 500x500 [--width 1] [--per-layer]
    [--json out.json]

Measured forward speed with the profile: python -m bench.timed_profile (same arguments; torchcaffe).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TextIO

import caffeio
from netspec import profile_report
from netspec.argtypes import image_size, positive_width
from netspec.errors import NetSpecError, ShapeError
from netspec.explain import explain

from . import netfiles, recipe, registry
from .userdata import UserDataError

if TYPE_CHECKING:
    from netspec.profile_report import Measure

# The repository root: a model folder two levels below it (models/<model>) gets solve.py and
# score.py too (their sys.path entry is "../..").
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _check(models):
    for m in models:
        registry.record(m)  # NetSpecError naming the known models


def cmd_make(args: argparse.Namespace, out: TextIO) -> None:
    """`make MODELS`: write each model's folder (prototxt, solver; solve.py/score.py under
    the repository's models/)."""
    models = list(registry.names()) if args.models == ["all"] else args.models
    _check(models)
    for m in models:
        folder = os.path.join(args.out_dir, m)
        scripts = os.path.abspath(os.path.join(folder, "..", "..")) == ROOT
        paths = netfiles.write(
            m, folder, width=args.width, data_root=args.data_root, recipe=args.recipe,
            batch_size=args.batch, scripts=scripts,
        )  # fmt: skip
        print(f"{m}: wrote {', '.join(paths)}", file=out)


def cmd_make_custom(args: argparse.Namespace, out: TextIO) -> None:
    """`make-custom --data DIR --arch MODEL`: a model folder for the user's own dataset."""
    from . import custom

    folder, rec, notes = custom.make(args.data, args.arch, args.out, args.name, args.void_label)
    rel = os.path.relpath(folder)
    names = ", ".join(rec.classes)
    print(f"{rec.name}: {args.arch} ({rec.backbone.title}, {rec.head} head) for the "
          f"{len(rec.classes)} classes of {rec.dataset.root} ({names})", file=out)  # fmt: skip
    splits = ", ".join(f"{s} {n}" for s, n in rec.dataset.splits.items())
    print(f"  wrote {rel}/ ({custom.FILE}, {', '.join(rec.net_files)}, solver, solve.py, "
          f"score.py); images: {splits}", file=out)  # fmt: skip
    src = rec.init_sources[0]
    if rec.init.kind == "model":
        parent = os.path.relpath(os.path.dirname(folder))
        start = f"the trained {src} ({parent}/{src}/{src}.caffemodel): make and train it first"
    else:
        start = f"the fcnized classifier {src} (python -m solvers.weights fetch {src[:-4]})"
    print(f"  training starts from {start}", file=out)
    for note in notes:
        print(f"  note: {note}", file=out)
    print(f"next: python {rel}/solve.py   then: python {rel}/score.py --weights "
          f"{rel}/{rec.name}.caffemodel", file=out)  # fmt: skip


def cmd_classifier(args: argparse.Namespace, out: TextIO) -> None:
    """`classifier ARCH --out DIR`: a random-weight ILSVRC classifier (prototxt + caffemodel)."""
    from .classifiers import write_classifier

    proto, weights = write_classifier(args.out, args.arch, width=args.width, seed=args.seed)
    print(f"wrote {proto} and {weights}: RANDOM weights (a stand-in to try the workflow; "
          "no ImageNet training)", file=out)  # fmt: skip
    print(
        f"make the base net: python -m surgery fcnize --proto {proto} --weights {weights} "
        f"--out <runs>/ilsvrc-nets/{args.arch}-fcn.caffemodel",
        file=out,
    )


def cmd_list(args: argparse.Namespace, out: TextIO) -> None:
    """`list [--names]`: the models, with their net files unless --names."""
    for m in registry.names():
        if args.names:
            print(m, file=out)
        else:
            print(f"{m:<24} {', '.join(netfiles.net_files(m))}, solver", file=out)


def cmd_shapes(args: argparse.Namespace, out: TextIO) -> None:
    """`shapes MODEL|FILE [--net N] [--input HxW]`: blob shapes and crop offsets of a net."""
    if os.path.exists(args.model) or args.model.endswith(".prototxt"):
        net, what = caffeio.read_net(args.model), args.model
    else:
        _check([args.model])
        net = netfiles.build(args.model, args.net, width=args.width)
        what = f"{args.model} {args.net} net"
    size = f" at input {args.input[0]}x{args.input[1]}" if args.input else ""
    print(what + size, file=out)
    try:
        explain(net, image_size=args.input, out=out)
    except ShapeError as e:
        about_size = "too small" in str(e) or "out of range" in str(e)
        hint = " (give the image size with --input HxW)" if about_size and not args.input else ""
        raise ShapeError(f"{what}: {e}{hint}") from None


def profile_models(
    models: list[str],
    size: tuple[int, int],
    width: float = 1.0,
    out: TextIO = sys.stdout,
    per_layer: bool = False,
    json_path: str | None = None,
    measure: Measure | None = None,
) -> list[dict[str, Any]]:
    """Print (and return) the profile of each model's deploy net at `size` (H, W) and `width`;
    measure: see netspec.profile_report.report (bench.timed_profile passes torchcaffe's timing)."""
    _check(models)
    nets = [(m, netfiles.build(m, "deploy", width=width), width) for m in models]
    return profile_report.report(nets, size, out, per_layer, json_path, measure)


def profile_parser(prog: str, doc: str) -> argparse.ArgumentParser:
    """The `profile` arguments (models, --input, --width, --per-layer, --json)."""
    ap = argparse.ArgumentParser(prog=prog, description=doc)
    _profile_args(ap)
    return ap


def _profile_args(pr):
    pr.add_argument("models", nargs="+", help="model names")
    pr.add_argument("--input", type=image_size, required=True, help="image size HxW")
    pr.add_argument(
        "--width", type=positive_width, default=1.0, help="channel multiplier > 0 (default 1)"
    )
    pr.add_argument("--per-layer", action="store_true", help="print every layer's counts")
    pr.add_argument("--json", default=None, help="also write the profiles to this JSON file")


def _custom_args(sub):
    from .custom import archs

    mc = sub.add_parser(
        "make-custom", help="a model folder for your own dataset from a zoo architecture"
    )
    mc.add_argument("--data", required=True, help="your dataset folder (zoo/userdata.py layout)")
    mc.add_argument(
        "--arch", required=True, choices=archs(), metavar="ARCH",
        help=f"the zoo model whose net and recipe to use: {', '.join(archs())}",
    )  # fmt: skip
    mc.add_argument("--out", help="the model folder (default models/<name>-<arch suffix>)")
    mc.add_argument("--name", help="the dataset's name (default: the data folder's name)")
    mc.add_argument(
        "--void-label", type=int, default=255,
        help="label value of pixels to ignore in your label PNGs (default 255)",
    )  # fmt: skip
    cl = sub.add_parser(
        "classifier", help="a random-weight ILSVRC classifier (to try the workflow without one)"
    )
    cl.add_argument("arch", choices=sorted(b.name for b in registry.backbones()))
    cl.add_argument("--out", required=True, help="folder for <arch>_deploy.prototxt + .caffemodel")
    cl.add_argument("--width", type=positive_width, default=1.0, help="channel multiplier")
    cl.add_argument("--seed", type=int, default=0)


def run(call: Callable[[], object]) -> int:
    """Run call(); NetSpecError, format and file errors -> one line on stderr and status 1."""
    try:
        call()
    except (NetSpecError, caffeio.CaffeFormatError, UserDataError) as e:
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


def main(argv: list[str] | None = None, out: TextIO = sys.stdout) -> int:
    """Entry point; returns the exit status (errors print one clear line to stderr, status 1)."""
    ap = argparse.ArgumentParser(prog="python -m zoo", description=__doc__.splitlines()[0])
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
    _custom_args(sub)
    ls = sub.add_parser("list", help="list the models")
    ls.add_argument("--names", action="store_true", help="names only, one a line")
    sh = sub.add_parser("shapes", help="print a model's blob shapes and explain crop offsets")
    sh.add_argument("model", help="a model name (or a net prototxt)")
    sh.add_argument("--net", default="deploy", help="which of the model's nets (default deploy)")
    sh.add_argument("--input", type=image_size, default=None, help="image size HxW (e.g. 500x500)")
    sh.add_argument(
        "--width", type=positive_width, default=1.0, help="channel multiplier > 0 (default 1)"
    )
    pr = sub.add_parser(
        "profile", help="parameters, MACs, FLOPs, receptive field, stride of the deploy net"
    )
    _profile_args(pr)
    args = ap.parse_args(argv)
    if args.cmd == "make":
        return run(lambda: cmd_make(args, out))
    if args.cmd == "make-custom":
        return run(lambda: cmd_make_custom(args, out))
    if args.cmd == "classifier":
        return run(lambda: cmd_classifier(args, out))
    if args.cmd == "list":
        return run(lambda: cmd_list(args, out))
    if args.cmd == "shapes":
        return run(lambda: cmd_shapes(args, out))
    return run(
        lambda: profile_models(args.models, args.input, args.width, out, args.per_layer, args.json)
    )


if __name__ == "__main__":
    sys.exit(main())
