"""A caffemodel laid out as the FCN release's scored through models/voc-fcn8s/score.py: the
check shared by tests/test_zoo_weights.py (torchcaffe) and the pycaffe tier (real Caffe)."""

import json
import os
import subprocess
import sys

import numpy as np

import caffeio

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WIDTH = "0.0625"

# scores several caffemodels in one process (score.py's own main, one start-up of the engine)
DRIVER = """
import json, os, sys
sys.path.insert(0, sys.argv[1])
from solvers.evaluation.cli import main
for weights, out, flags in json.loads(sys.argv[2]):
    try:
        main("voc-fcn8s", flags + ["--weights", weights, "--out", out, "--png"])
    except SystemExit as e:
        print(f"{out}: exit {e.code}", file=sys.stderr)
"""


def _flags(world):
    return ["--width", WIDTH, "--data-root", str(world / "data"), "--runs", str(world / "runs")]


def _pngs(folder):
    return {p: (folder / "score" / p).read_bytes() for p in sorted(os.listdir(folder / "score"))}


def check_release_layout_scores(tmp_path, env):
    """A caffemodel laid out as the release's (its layers in another order, bare definitions,
    an extra layer the zoo's net lacks) scores exactly as the same weights written in the
    zoo net's own order: score.py copies weights by layer name. Changed weights change the
    predictions; a missing layer is refused by name. `env`: the subprocesses' environment
    (FCN_ENGINE picks the engine). Returns score.py's stderr (it names the engine)."""
    from layers.synth import make_voc_family
    from solvers.runs.folder import run_dir
    from surgery.paramset import ParamSet

    make_voc_family(str(tmp_path / "data"), n=8, size=(64, 80))
    folder = run_dir("voc-fcn8s", str(tmp_path / "runs"), float(WIDTH), str(tmp_path / "data"))
    deploy = caffeio.read_net(os.path.join(folder, "deploy.prototxt"))
    pset = ParamSet.from_definition(deploy, fill=False)
    rng = np.random.default_rng(0)
    arrays = {
        k: [rng.normal(0, 0.05, b.shape).astype(np.float32) for b in v]
        for k, v in pset.params.items()
    }
    types = {layer.name: layer.type for layer in deploy.layer}
    assert {"conv1_1", "fc6", "score_fr", "score_pool4", "score_pool3", "upscore8"} <= set(arrays)

    def release_like(params, path):
        ordered = dict(reversed(list(params.items())))
        ordered["fc8_extra"] = [np.ones((3, 3), np.float32)]  # a layer this net does not have
        caffeio.write_caffemodel(caffeio.params_to_net(ordered, types=types), str(path))
        return str(path)

    release = release_like(arrays, tmp_path / "release.caffemodel")
    stored = [layer.name for layer in caffeio.read_caffemodel(release).layer]
    assert stored[0] == "upscore8" and stored[-1] == "fc8_extra"
    ours = str(tmp_path / "ours.caffemodel")
    caffeio.write_caffemodel(caffeio.params_to_net(arrays, deploy), ours)
    flipped = dict(arrays, score_fr=[-a for a in arrays["score_fr"]])
    missing = {k: v for k, v in arrays.items() if k != "score_fr"}

    # the release-like file through models/voc-fcn8s/score.py itself
    cmd = [sys.executable, os.path.join(ROOT, "models", "voc-fcn8s", "score.py"), *_flags(tmp_path)]
    cmd += ["--weights", release, "--out", str(tmp_path / "release"), "--png"]
    p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr[-3000:]
    engine_line = p.stderr
    jobs = [
        (ours, str(tmp_path / "ours"), _flags(tmp_path)),
        (
            release_like(flipped, tmp_path / "f.caffemodel"),
            str(tmp_path / "flip"),
            _flags(tmp_path),
        ),
        (
            release_like(missing, tmp_path / "m.caffemodel"),
            str(tmp_path / "miss"),
            _flags(tmp_path),
        ),
    ]
    cmd = [sys.executable, "-c", DRIVER, ROOT, json.dumps(jobs)]
    p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr[-3000:]

    def result(tag):
        return json.load(open(tmp_path / tag / "scores.json"))["results"]["score"]

    assert result("release") == result("ours")
    assert result("release")["images"] == len(_pngs(tmp_path / "release")) > 0
    assert _pngs(tmp_path / "release") == _pngs(tmp_path / "ours")
    assert _pngs(tmp_path / "flip") != _pngs(tmp_path / "release")  # the file's weights ran
    assert f"{tmp_path / 'miss'}: exit" in p.stderr and "score_fr" in p.stderr
    assert "has no weights" in p.stderr and not (tmp_path / "miss" / "scores.json").exists()
    return engine_line
