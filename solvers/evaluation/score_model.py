"""Scoring a zoo model's trained weights on its eval split (what models/<m>/score.py does).

    from solvers.evaluation.score_model import ScoreOptions, score_model
    results = score_model("voc-fcn8s", "voc-fcn8s.caffemodel", ScoreOptions(n=100))

Prints overall/mean accuracy, mean IU, fwavacc and a per-class IU table per head, writes
<out>/scores.json (with each head's confusion matrix; <out>/<head>/<id>.png predictions with
png). The eval net is the run folder's (solvers.runs), its data paths resolved against the run
folder, written to <out>/eval.prototxt with this scoring's split or VOC folder.
"""

from __future__ import annotations

import ast
import os
import sys
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from .splitnet import Evaluation


@dataclass(frozen=True)
class ScoreOptions:
    """How to score: split (default: the eval net's); out: output folder (default
    <run>/score-<split>); png: write prediction PNGs; n: only the first n images; engine,
    gpu: as for training; fast: torchcaffe's fast inference mode; width, data_root, recipe,
    batch, crop, runs, normalize: the run folder (as used for training); voc_dir: another VOC
    folder for the voc-* models; evaluation: whole images, tiled or sliding windows."""

    split: str | None = None
    out: str | None = None
    png: bool = False
    n: int | None = None
    engine: str | None = None
    gpu: int | None = None
    fast: bool = False
    width: float = 1.0
    data_root: str | None = None
    recipe: str | None = None
    batch: int | None = None
    crop: int | None = None
    runs: str | None = None
    normalize: bool = False
    voc_dir: str | None = None
    evaluation: Evaluation = field(default_factory=Evaluation)


def _python_params(net_param: Any) -> dict:
    """The param_str dict of the eval net's first Python layer with one ({} without)."""
    for layer in net_param.layer:
        if layer.type == "Python" and layer.python_param.param_str:
            return ast.literal_eval(layer.python_param.param_str)
    return {}


def with_voc_dir(net_param: Any, voc_dir: str, model: str) -> Any:
    """The eval net reading `voc_dir` (VOC 2012, say) in place of its own VOC folder."""
    from solvers.runs.folder import RunSetupError
    from solvers.runs.paths import with_python_params

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


def eval_net(model: str, folder: str, options: ScoreOptions) -> tuple[Any, str]:
    """The run folder's eval NetParameter with its data paths resolved against `folder`, the
    split and VOC folder of `options` -> (net, its split)."""
    import caffeio
    from solvers.runs.folder import stems
    from solvers.runs.paths import resolve_net, with_python_params

    _, eval_file = stems(folder)
    net_param = resolve_net(caffeio.read_net(eval_file), folder)
    if options.split:
        net_param = with_python_params(net_param, split=options.split, randomize=False)
    if options.voc_dir:
        net_param = with_voc_dir(net_param, os.path.abspath(options.voc_dir), model)
    return net_param, options.split or _python_params(net_param).get("split") or "eval"


def _run(net_file: str, weights: str, heads: Any, out: str, options: ScoreOptions):
    """Score the eval net at `net_file` -> (results, images scored)."""
    import engine
    from solvers.runs.folder import RunSetupError

    from .score import image_count, seg_tests
    from .splitnet import open_eval_nets, seg_tests_split

    png_dir = out if options.png else None
    evaluation = options.evaluation
    if evaluation.mode == "whole":
        net = engine.open_net(
            net_file, engine.current().TEST, weights, require_weights=True, fast=options.fast
        )
        n = min(image_count(net), options.n or image_count(net))
        return seg_tests(net, n, heads, png_dir=png_dir, confusion=True), n
    try:
        data_net, net, param = open_eval_nets(net_file, weights, heads, out, fast=options.fast)
    except ValueError as e:
        raise RunSetupError(f"--eval {evaluation.mode}: {e}") from None
    n = min(image_count(data_net), options.n or image_count(data_net))
    results = seg_tests_split(
        data_net, net, n, heads, evaluation, param, png_dir=png_dir, confusion=True
    )
    return results, n


def score_model(model: str, weights: str, options: ScoreOptions | None = None) -> dict:
    """Score `model`'s caffemodel `weights` on its eval split -> {head: metrics} (also printed
    and written to <out>/scores.json)."""
    import caffeio
    import engine
    import zoo
    from solvers.runs.folder import RunSetupError, run_dir

    from .score import report, to_json

    options = options or ScoreOptions()
    engine.use(options.engine)
    engine.announce()
    fast = options.fast and engine.fast_mode(sys.stderr)
    options = replace(options, fast=fast)
    engine.set_device(options.gpu)
    weights = os.path.abspath(weights)
    if not os.path.exists(weights):
        raise RunSetupError(f"--weights {weights}: no such file")
    o = options
    runs = os.path.abspath(o.runs) if o.runs else None
    folder = run_dir(model, runs, o.width, o.data_root, o.normalize, o.recipe, o.batch, o.crop)
    net_param, split = eval_net(model, folder, options)
    out = os.path.abspath(options.out) if options.out else os.path.join(folder, f"score-{split}")
    os.makedirs(out, exist_ok=True)
    net_file = os.path.join(out, "eval.prototxt")
    caffeio.write_net(net_param, net_file)
    results, n = _run(net_file, weights, zoo.record(model).heads, out, options)
    print(f"{model}: {weights} on {split} ({n} images, {options.evaluation.describe()})")
    report(results, file=sys.stdout)
    evaluation = asdict(options.evaluation)
    scores_json = os.path.join(out, "scores.json")
    to_json(results, scores_json, model=model, weights=weights, split=split, evaluation=evaluation)
    print(f"wrote {scores_json}")
    return results
