"""`python -m zoo`: make, list, shapes and profile of the zoo's models by name."""

import io
import os
import subprocess
import sys

import caffeio
from netspec import shapes
from zoo.__main__ import main

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_make_and_errors(tmp_path, capsys):
    assert main(["make", "voc-fcn32s", "--out-dir", str(tmp_path), "--width", "0.25"]) == 0
    written = sorted(os.listdir(tmp_path / "voc-fcn32s"))
    assert written == ["deploy.prototxt", "solver.prototxt", "train.prototxt", "val.prototxt"]
    net = caffeio.read_net(str(tmp_path / "voc-fcn32s" / "deploy.prototxt"))
    assert shapes.infer(net)["conv1_1"][1] == 16
    assert main(["make", "voc-fcn4s", "--out-dir", str(tmp_path)]) == 1
    assert "unknown model 'voc-fcn4s'" in capsys.readouterr().err
    assert main(["shapes", str(tmp_path / "nope.prototxt")]) == 1
    assert "no such file" in capsys.readouterr().err


def test_shapes_of_a_model_knows_its_data_layers():
    """SIFT Flow's test net: the data layer's sem/geo tops get their shapes from the zoo's
    dataset record (netspec alone knows data and label only)."""
    out = io.StringIO()
    assert main(["shapes", "siftflow-fcn8s", "--net", "test", "--input", "256x256"], out=out) == 0
    rows = {ln.split()[2]: ln for ln in out.getvalue().splitlines()[2:] if len(ln.split()) > 3}
    assert "1x1x256x256" in rows["sem"] and "1x1x256x256" in rows["geo"]
    assert "1x33x256x256" in rows["score_sem"] and "1x3x256x256" in rows["score_geo"]


def test_module_runs_as_a_command():
    r = subprocess.run(
        [sys.executable, "-m", "zoo", "list"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    assert r.stdout.count("\n") == 20 and "voc-fcn8s " in r.stdout  # release 15 + backbones 5
    assert "voc-fcn-resnet101 " in r.stdout
