"""The scoring command behind every models/<m>/score.py.

    python models/voc-fcn8s/score.py --weights voc-fcn8s.caffemodel [--split seg11valid]
        [--out DIR] [--png] [--n N] [--width W --data-root D --runs R] [--voc-dir DIR]
        [--eval whole|tiled|sliding [--tile N] [--window N --overlap F --no-pad]]

Prints overall/mean accuracy, mean IU, fwavacc and a per-class IU table per head, writes
DIR/scores.json (with each head's confusion matrix; DIR/<head>/<id>.png predictions with --png).
DIR may already exist. --eval: whole images through the eval net (default), exact tiles of the
image (memory of one tile; same scores) or sliding windows of the training crop (scores averaged
where windows overlap); the last two split the eval net into its data layer and the rest.
"""

import argparse
import os
import sys
from dataclasses import asdict
from fractions import Fraction

from netspec.argtypes import positive_int, positive_width

from .score import EVAL_MODES  # numpy and PIL only: no engine is imported here


def parse_args(model, argv):
    p = argparse.ArgumentParser(prog=f"models/{model}/score.py", description=f"Score {model}.")
    p.add_argument("--weights", required=True, help="caffemodel to score")
    p.add_argument("--split", help="evaluation split (default: the eval net's)")
    p.add_argument("--out", help="output folder (default <run>/score-<split>)")
    p.add_argument("--png", action="store_true", help="write colourised prediction PNGs")
    p.add_argument("--n", type=positive_int, help="score only the first N images (N >= 1)")
    p.add_argument(
        "--engine", choices=("auto", "caffe", "torch"), help="default: FCN_ENGINE, else auto"
    )
    p.add_argument("--gpu", type=int, default=None, help="GPU id (-1: CPU)")
    p.add_argument("--width", type=positive_width, default=1.0, help="channel multiplier > 0")
    p.add_argument("--data-root")
    p.add_argument("--recipe", choices=("caffe", "torchvision"), help="as used for training")
    p.add_argument("--batch", type=positive_int, help="as used for training (run folder)")
    p.add_argument("--crop", type=positive_int, help="as used for training (run folder)")
    p.add_argument("--runs")
    p.add_argument("--normalize", action="store_true", help="as used for training (loss only)")
    p.add_argument(
        "--fast", action="store_true", help="torchcaffe channels_last + Winograd (not bit-exact)"
    )
    p.add_argument(
        "--voc-dir",
        help="score on this VOC folder instead of the eval net's (e.g. data/pascal/VOC2012 with "
        "--split val)",
    )
    p.add_argument(
        "--eval",
        choices=EVAL_MODES,
        default="whole",
        help="whole images (default); tiled: exact tiles, memory of one tile; sliding: windows "
        "of the training crop, scores averaged over overlaps",
    )
    p.add_argument("--tile", type=positive_int, default=512, help="tiled: tile side (512)")
    p.add_argument("--window", type=positive_int, default=321, help="sliding: window side (321)")
    p.add_argument(
        "--overlap", type=_fraction, default=1 / 3, help="sliding: overlap of windows, 0..<1 (1/3)"
    )
    p.add_argument(
        "--no-pad",
        action="store_true",
        help="sliding: images smaller than the window run at their size (default: padded with 0)",
    )
    args = p.parse_args(argv)
    if args.eval != "sliding" and (args.no_pad or args.overlap != 1 / 3 or args.window != 321):
        p.error("--window, --overlap and --no-pad apply to --eval sliding")
    if args.eval != "tiled" and args.tile != 512:
        p.error("--tile applies to --eval tiled")
    return args


def _fraction(text):
    try:
        f = float(Fraction(text))
    except (ValueError, ZeroDivisionError):
        f = -1.0
    if not 0 <= f < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: use a fraction in [0, 1), e.g. 0.33 or 1/3")
    return f


def main(model, argv=None):
    """Score `model` with --weights on its eval split -> results dict (also printed/written)."""
    args = parse_args(model, argv)
    import caffeio
    import engine
    from zoo import record as model_record

    from .run import RunSetupError, run_dir, stems, with_python_params
    from .score import (
        Evaluation,
        image_count,
        open_eval_nets,
        report,
        seg_tests,
        seg_tests_split,
        to_json,
    )

    caffe = engine.use(args.engine)
    engine.announce()
    if args.fast:
        engine.use_fast_mode(sys.stderr)
    engine.set_device(args.gpu)
    weights = os.path.abspath(args.weights)
    voc_dir = os.path.abspath(args.voc_dir) if args.voc_dir else None
    evaluation = Evaluation(args.eval, args.tile, args.window, args.overlap, not args.no_pad)
    if not os.path.exists(weights):
        raise RunSetupError(f"--weights {args.weights}: no such file")
    out = os.path.abspath(args.out) if args.out else None
    folder = run_dir(
        model,
        os.path.abspath(args.runs) if args.runs else None,
        args.width,
        args.data_root,
        args.normalize,
        args.recipe,
        args.batch,
        args.crop,
    )
    os.chdir(folder)
    _, eval_file = stems(folder)
    net_param = caffeio.read_net(eval_file)
    if args.split:
        net_param = with_python_params(net_param, split=args.split, randomize=False)
    if voc_dir:
        net_param = _with_voc_dir(net_param, voc_dir, model)
    split = args.split or _split_of(net_param) or "eval"
    out = out or os.path.join(folder, f"score-{split}")
    os.makedirs(out, exist_ok=True)
    net_file = os.path.join(out, "eval.prototxt")
    caffeio.write_net(net_param, net_file)
    rec = model_record(model)  # the zoo record: heads scored
    png_dir = out if args.png else None
    if evaluation.mode == "whole":
        net = engine.open_net(net_file, caffe.TEST, weights=weights, require_weights=True)
        n = min(image_count(net), args.n or image_count(net))
        results = seg_tests(net, n, rec.heads, png_dir=png_dir, confusion=True)
    else:
        try:
            data_net, net, param = open_eval_nets(net_file, weights, rec.heads, out)
        except ValueError as e:
            raise RunSetupError(f"--eval {evaluation.mode}: {e}") from None
        n = min(image_count(data_net), args.n or image_count(data_net))
        results = seg_tests_split(
            data_net, net, n, rec.heads, evaluation, param, png_dir=png_dir, confusion=True
        )
    print(f"{model}: {weights} on {split} ({n} images, {evaluation.describe()})")
    report(results, file=sys.stdout)
    to_json(
        results,
        os.path.join(out, "scores.json"),
        model=model,
        weights=weights,
        split=split,
        evaluation=asdict(evaluation),
    )
    print(f"wrote {os.path.join(out, 'scores.json')}")
    return results


def _with_voc_dir(net_param, voc_dir, model):
    """The eval net reading `voc_dir` (VOC 2012, say) in place of its own VOC folder."""
    import ast

    from .run import RunSetupError, with_python_params

    keys = []
    for layer in net_param.layer:
        if layer.type == "Python" and layer.python_param.param_str:
            keys += list(ast.literal_eval(layer.python_param.param_str))
    if "voc_dir" not in keys or "context_dir" in keys:
        raise RunSetupError(
            f"--voc-dir: the eval net of {model} reads no PASCAL VOC segmentation folder "
            "(its data layer has no voc_dir); use it with the voc-* models"
        )
    return with_python_params(net_param, voc_dir=voc_dir)


def _split_of(net_param):
    import ast

    for layer in net_param.layer:
        if layer.type == "Python" and layer.python_param.param_str:
            return ast.literal_eval(layer.python_param.param_str).get("split")
    return None
