"""The scoring command behind every models/<m>/score.py.

    python models/voc-fcn8s/score.py --weights voc-fcn8s.caffemodel [--split seg11valid]
        [--out DIR] [--png] [--n N] [--width W --data-root D --runs R]

Prints overall/mean accuracy, mean IU, fwavacc and a per-class IU table per head, writes
DIR/scores.json (and DIR/<head>/<id>.png predictions with --png). DIR may already exist.
"""

import argparse
import os
import sys

from netspec.argtypes import positive_int, positive_width


def parse_args(model, argv):
    p = argparse.ArgumentParser(prog=f"models/{model}/score.py", description=f"Score {model}.")
    p.add_argument("--weights", required=True, help="caffemodel to score")
    p.add_argument("--split", help="evaluation split (default: the eval net's)")
    p.add_argument("--out", help="output folder (default <run>/score-<split>)")
    p.add_argument("--png", action="store_true", help="write colourised prediction PNGs")
    p.add_argument("--n", type=positive_int, help="score only the first N images (N >= 1)")
    p.add_argument("--engine", choices=("auto", "caffe", "torch"))
    p.add_argument("--gpu", type=int, default=None, help="GPU id (-1: CPU)")
    p.add_argument("--width", type=positive_width, default=1.0, help="channel multiplier > 0")
    p.add_argument("--data-root")
    p.add_argument("--runs")
    p.add_argument("--normalize", action="store_true", help="as used for training (loss only)")
    p.add_argument(
        "--fast", action="store_true", help="torchcaffe channels_last + Winograd (not bit-exact)"
    )
    return p.parse_args(argv)


def main(model, argv=None):
    """Score `model` with --weights on its eval split -> results dict (also printed/written)."""
    args = parse_args(model, argv)
    if args.engine:
        os.environ["FCN_ENGINE"] = args.engine
    import caffeio

    from . import engine
    from .recipes import recipe as get_recipe
    from .run import RunSetupError, run_dir, stems, with_python_params
    from .score import image_count, report, seg_tests, to_json

    caffe = engine.caffe
    engine.announce()
    if args.fast:
        engine.use_fast_mode(sys.stderr)
    engine.set_device(args.gpu)
    weights = os.path.abspath(args.weights)
    if not os.path.exists(weights):
        raise RunSetupError(f"--weights {args.weights}: no such file")
    out = os.path.abspath(args.out) if args.out else None
    folder = run_dir(
        model,
        os.path.abspath(args.runs) if args.runs else None,
        args.width,
        args.data_root,
        args.normalize,
    )
    os.chdir(folder)
    _, eval_file = stems(folder)
    net_param = caffeio.read_net(eval_file)
    if args.split:
        net_param = with_python_params(net_param, split=args.split, randomize=False)
    split = args.split or _split_of(net_param) or "eval"
    out = out or os.path.join(folder, f"score-{split}")
    os.makedirs(out, exist_ok=True)
    net_file = os.path.join(out, "eval.prototxt")
    caffeio.write_net(net_param, net_file)
    net = engine.open_net(net_file, caffe.TEST, weights=weights, require_weights=True)
    n = image_count(net)
    if args.n:
        n = min(n, args.n)
    rec = get_recipe(model)
    results = seg_tests(net, n, rec.heads, png_dir=out if args.png else None)
    print(f"{model}: {weights} on {split} ({n} images)")
    report(results, file=sys.stdout)
    to_json(results, os.path.join(out, "scores.json"), model=model, weights=weights, split=split)
    print(f"wrote {os.path.join(out, 'scores.json')}")
    return results


def _split_of(net_param):
    import ast

    for layer in net_param.layer:
        if layer.type == "Python" and layer.python_param.param_str:
            return ast.literal_eval(layer.python_param.param_str).get("split")
    return None
