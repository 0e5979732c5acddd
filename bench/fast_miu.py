"""Mean IU of a *trained* FCN-8s in torchcaffe's fast mode against the exact mode.

    python -m bench.fast_miu [--demo demo]      # after `make demo`

Scores the demo's trained voc-fcn8s (width 1/16) on its synthetic seg11valid three times with
the scoring command: exact mode with Winograd off (mkldnn's direct convolutions), the default
mode, and the fast mode with Winograd *forced* on every eligible layer (all thirteen 3x3 layers
by F(4x4, 3x3), fc6 by F(2x2, 7x7)): at width 1/16 the layers are narrower than the speed
heuristic's thresholds, which would leave them on the direct path and make the comparison
vacuous. Prints each mode's mean IU, the differences and the share of pixels whose predicted
class differs from the exact one.
"""

import argparse
import json
import os

import numpy as np


def _score(demo_dir, mode, out):
    from solvers.demos import staged as demo
    from solvers.evaluation import cli as score_cli
    from torchcaffe import options, winograd

    before = options.set_defaults(fast=mode == "fast", winograd=0 if mode == "direct" else 2)
    saved = winograd.winograd_tile
    if mode == "fast":
        winograd.winograd_tile = lambda *a, k=3, rules=None: 4 if k == 3 else 2
    try:
        runs = os.path.join(demo_dir, "runs")
        weights = os.path.join(runs, demo.MODEL, f"{demo.MODEL}.caffemodel")
        if not os.path.exists(weights):
            raise SystemExit(f"{weights}: no trained demo net; run `make demo` first")
        argv = [
            "--weights", weights, "--runs", runs, "--width", f"{demo.DEFAULTS['width']:g}",
            "--data-root", os.path.join(demo_dir, "data"), "--out", out, "--png",
            "--normalize", "--gpu", "-1",
            "--engine", "torch",  # the modes compared are torchcaffe's (pycaffe may be built)
        ]  # fmt: skip
        return score_cli.main(demo.MODEL, argv)["score"]
    finally:
        winograd.winograd_tile = saved
        options.reset_defaults(before)


def _labels(folder):
    from PIL import Image

    names = sorted(n for n in os.listdir(folder) if n.endswith(".png"))
    return {n: np.array(Image.open(os.path.join(folder, n))) for n in names}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--demo", default="demo", help="the demo's output folder (default demo/)")
    args = ap.parse_args(argv)
    demo_dir = os.path.abspath(args.demo)
    res, preds = {}, {}
    for mode in ("direct", "default", "fast"):
        out = os.path.join(demo_dir, f"score-{mode}")
        res[mode] = _score(demo_dir, mode, out)
        preds[mode] = _labels(os.path.join(out, "score"))
    base = res["direct"]["mean_iu"]
    summary = {}
    for mode in ("default", "fast"):
        a, b = preds["direct"], preds[mode]
        differ = sum(int((a[k] != b[k]).sum()) for k in a) / sum(a[k].size for k in a)
        summary[mode] = {
            "mean_iu": res[mode]["mean_iu"],
            "mean_iu_diff": res[mode]["mean_iu"] - base,
            "pixels_differing": differ,
        }
    summary["direct"] = {"mean_iu": base}
    print(json.dumps(summary, indent=1))
    return summary


if __name__ == "__main__":
    main()
