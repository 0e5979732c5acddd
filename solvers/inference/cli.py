"""`python -m solvers.infer`: segment your own pictures with a trained FCN.

    python -m solvers.infer --model voc-fcn8s --weights voc-fcn8s.caffemodel photo.jpg
    python -m solvers.infer --model voc-fcn8s --weights W img1.jpg img2.png folder/ --out preds/
    python -m solvers.infer --proto my_deploy.prototxt --weights W --mean 104,117,123 x.jpg
    python -m solvers.infer --model models/mydata-fcn8s --weights W x.jpg   # your own dataset

For each image `<id>.<ext>` it writes `<out>/<id>.png` (palette PNG: pixel value = class index,
coloured with the VOC palette) and `<out>/<id>_overlay.png` (image | prediction | blend | the
legend of the class names); it prints each picture's classes with their colours and shares.
Models with two heads (SIFT Flow) also write `<id>_<head>.png` for the second head. `<id>` is
the file's stem; outputs never replace an input, each other, or a file already in --out
(`a.png` there: `a-2.png`, and the summary says so) unless --overwrite (segment.output_ids).
"""

from __future__ import annotations

import argparse
import sys

import engine

from .segment import InferError, parse_mean, run


def parser() -> argparse.ArgumentParser:
    """The command's flags."""
    from netspec.argtypes import positive_int, positive_width

    p = argparse.ArgumentParser(
        prog="python -m solvers.infer",
        description="Segment images with a trained FCN; writes <id>.png and <id>_overlay.png.",
        epilog="Input convention: RGB file -> BGR float 0..255 minus the mean, net reshaped "
        "per image (any size).",
    )
    p.add_argument("images", nargs="+", help="image files and/or folders of images")
    p.add_argument(
        "--model", default="voc-fcn8s",
        help="zoo model name, or the folder of your own model (make-custom; default voc-fcn8s)",
    )  # fmt: skip
    p.add_argument("--weights", required=True, help="trained caffemodel")
    p.add_argument("--proto", help="deploy prototxt instead of the zoo model's")
    p.add_argument("--out", default="predictions", help="output folder (default predictions/)")
    p.add_argument(
        "--width", type=positive_width, default=1.0, help="channel width the net was built at"
    )
    p.add_argument("--mean", help="B,G,R mean to subtract (default: the model's dataset mean)")
    p.add_argument("--no-overlay", action="store_true", help="write label PNGs only")
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="replace files already in --out (default: keep them and take free names; input "
        "images are never replaced)",
    )
    p.add_argument("--gpu", type=int, default=None, help="GPU id (-1: CPU; default: the engine's)")
    p.add_argument("--engine", choices=engine.CHOICES, help="default: FCN_ENGINE, else auto")
    p.add_argument("--quiet", action="store_true", help="no progress bar or summary")
    p.add_argument(
        "--tile",
        type=positive_int,
        help="tile side in px for images too large for one pass (exact)",
    )
    p.add_argument(
        "--fast", action="store_true", help="torchcaffe channels_last + Winograd (not bit-exact)"
    )
    return p


def main(argv: list[str] | None = None) -> list[dict]:
    """Command line (see the module docstring); returns the per-image results."""
    args = parser().parse_args(argv)
    model = _model(args.model)
    engine.use(args.engine)
    if not args.quiet:
        engine.announce()
    if args.gpu is not None:
        engine.set_device(args.gpu)
    results = run(
        args.images,
        args.weights,
        model=model,
        proto=args.proto,
        out_dir=args.out,
        width=args.width,
        mean=parse_mean(args.mean) if args.mean else None,
        overlay=not args.no_overlay,
        progress=not args.quiet,
        tile=args.tile,
        fast=args.fast and engine.fast_mode(sys.stderr),
        overwrite=args.overwrite,
    )
    if not args.quiet:
        colour = sys.stdout.isatty()
        for r in results:
            print(f"{r['image']} ({r['size'][0]}x{r['size'][1]}) -> {r['label']}:")
            for line in legend_lines(r["legend"], colour):
                print(line)
        renamed = [r for r in results if "instead_of" in r]
        for r in renamed:
            print(f"note: wrote {r['label']}, not {r['instead_of']}: {r['why']}")
        if any("not written" in r["why"] for r in renamed):
            print("note: files already in --out are kept; --overwrite replaces them")
    return results


def legend_lines(legend: list[tuple], colour: bool = False) -> list[str]:
    """One line per (index, name, (r, g, b), share) of a result's legend: '  [r,g,b] name
    share%' (colour: a swatch in the terminal's 24-bit colour instead of the numbers)."""
    out = []
    for c, name, (r, g, b), share in legend:
        swatch = f"\x1b[48;2;{r};{g};{b}m  \x1b[0m" if colour else f"[{r},{g},{b}]".ljust(13)
        out.append(f"  {swatch} {c:>3} {name:<24} {100 * share:5.1f}%")
    return out


def _model(model: str) -> str:
    """--model as a name: the folder of a user's model (zoo.custom) is loaded first."""
    from solvers.runs.folder import MODELS_DIR
    from zoo.custom import resolve
    from zoo.userdata import UserDataError

    try:
        return resolve(model, MODELS_DIR)
    except UserDataError as e:
        raise InferError(str(e)) from None
