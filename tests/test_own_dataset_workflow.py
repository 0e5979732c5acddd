"""The README's walk-through for your own dataset, as a user types it, on torchcaffe: raw folders
(the synthetic twin: images/, labels/, classes.txt) -> check, split, mean -> make-custom ->
solve.py (a few iterations at width 1/16) -> score.py -> make-custom of the next stage, trained
from the first (staged init) -> infer with the dataset's class names; and what make-custom
refuses."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

import caffeio
import zoo
from zoo import custom, userdata

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WIDTH = "0.0625"
CLASSES = ("background", "disc", "square", "ball")


def walkthrough(base, engine="torch", env_extra=None):
    """Run the walk-through's commands under `base` -> {step: CompletedProcess}."""
    env = dict(os.environ, FCN_ENGINE=engine, OMP_NUM_THREADS="1", PYTHONPATH=ROOT)
    env.update(env_extra or {})
    data, models, runs = (os.path.join(base, d) for d in ("data/shapes", "models", "runs"))
    train = ["--width", WIDTH, "--runs", runs, "--normalize", "--lr", "1e-4", "--seed", "0",
             "--gpu", "-1", "--no-progress", "--score-every", "4"]  # fmt: skip
    steps = [
        ("twin", ["-m", "layers.synth", "folder", data, "--n", "10", "--size", "40x48"]),
        ("check", ["-m", "layers.folder", "check", data]),
        ("split", ["-m", "layers.folder", "split", data, "--val", "0.3"]),
        ("mean", ["-m", "layers.folder", "mean", data]),
        (
            "make32",
            [
                "-m",
                "zoo",
                "make-custom",
                "--data",
                data,
                "--arch",
                "voc-fcn32s",
                "--out",
                os.path.join(models, "shapes-fcn32s"),
            ],
        ),  # fmt: skip
        (
            "classifier",
            [
                "-m",
                "zoo",
                "classifier",
                "vgg16",
                "--width",
                WIDTH,
                "--out",
                os.path.join(base, "cls"),
            ],
        ),  # fmt: skip
        (
            "fcnize",
            [
                "-m",
                "surgery",
                "fcnize",
                "--proto",
                os.path.join(base, "cls", "vgg16_deploy.prototxt"),
                "--weights",
                os.path.join(base, "cls", "vgg16.caffemodel"),
                "--out",
                os.path.join(runs, "ilsvrc-nets", "vgg16-fcn.caffemodel"),
            ],
        ),  # fmt: skip
        ("solve32", [os.path.join(models, "shapes-fcn32s", "solve.py"), *train, "--iters", "4"]),
        (
            "make16",
            [
                "-m",
                "zoo",
                "make-custom",
                "--data",
                data,
                "--arch",
                "voc-fcn16s",
                "--out",
                os.path.join(models, "shapes-fcn16s"),
            ],
        ),  # fmt: skip
        ("solve16", [os.path.join(models, "shapes-fcn16s", "solve.py"), *train, "--iters", "2"]),
        (
            "score16",
            [
                os.path.join(models, "shapes-fcn16s", "score.py"),
                "--width",
                WIDTH,
                "--runs",
                runs,
                "--normalize",
                "--gpu",
                "-1",
                "--weights",
                os.path.join(runs, "shapes-fcn16s", "shapes-fcn16s.caffemodel"),
            ],
        ),  # fmt: skip
        (
            "infer",
            [
                "-m",
                "solvers.infer",
                "--model",
                os.path.join(models, "shapes-fcn16s"),
                "--width",
                WIDTH,
                "--gpu",
                "-1",
                "--weights",
                os.path.join(runs, "shapes-fcn16s", "shapes-fcn16s.caffemodel"),
                "--out",
                os.path.join(base, "preds"),
                os.path.join(data, "images"),
            ],
        ),  # fmt: skip
    ]
    out = {}
    for name, args in steps:
        p = subprocess.run([sys.executable, *args], env=env, capture_output=True, text=True,
                           timeout=400, cwd=base)  # fmt: skip
        if p.returncode != 0:
            raise AssertionError(f"{name}: {' '.join(args)} -> {p.returncode}\n{p.stderr[-3000:]}")
        out[name] = p
    return out


def check_walkthrough(base, out):
    """What every engine's walk-through must have produced."""
    data, models, runs = (os.path.join(base, d) for d in ("data/shapes", "models", "runs"))
    assert "10 pairs, 4 classes" in out["check"].stdout and "10 palette" in out["check"].stdout
    assert len(userdata.split_ids(data, "val")[0]) == 3 and userdata.mean(data) is not None
    spec = json.load(open(os.path.join(models, "shapes-fcn32s", custom.FILE)))
    assert spec["classes"] == list(CLASSES) and spec["splits"] == {"train": 7, "val": 3}
    assert spec["data"] == os.path.join("..", "..", "data", "shapes")  # moves with the tree
    assert spec["mean"] == pytest.approx(list(userdata.mean(data)), abs=1e-5)
    # 16s started from the user's trained 32s (its score_fr), as the release's stages do
    trained = caffeio.load_params(os.path.join(runs, "shapes-fcn32s", "shapes-fcn32s.caffemodel"))
    init = caffeio.load_params(os.path.join(runs, "shapes-fcn16s", "snapshot", "init.caffemodel"))
    np.testing.assert_array_equal(init["score_fr"][0], trained["score_fr"][0])
    assert trained["score_fr"][0].shape[0] == 4  # the dataset's 4 classes
    scores = json.load(open(os.path.join(runs, "shapes-fcn16s", "score-val", "scores.json")))
    head = scores["results"]["score"]
    assert head["classes"] == list(CLASSES) and head["images"] == 3
    assert 0 <= head["mean_iu"] <= 1 and np.isfinite(head["loss"])
    assert "mean IU" in out["score16"].stdout and "background" in out["score16"].stdout
    # infer: every picture segmented, each line a class of the dataset with its colour
    lines = out["infer"].stdout.splitlines()
    assert sum(" -> " in line for line in lines) == 10
    legend = [line.split() for line in lines if line.startswith("  [")]
    assert legend and all(words[2] in CLASSES and words[-1].endswith("%") for words in legend)
    assert os.path.isfile(os.path.join(base, "preds", "shape_0000_overlay.png"))
    return head


def test_walkthrough_on_torchcaffe(tmp_path):
    out = walkthrough(str(tmp_path))
    head = check_walkthrough(str(tmp_path), out)
    assert "engine: torchcaffe" in out["solve32"].stderr
    assert "training starts from the trained shapes-fcn32s" in out["make16"].stdout
    assert "no mean.txt" not in out["make32"].stdout and "no train.txt" not in out["make32"].stdout
    print(f"mean IU {head['mean_iu']:.3f}")


@pytest.fixture()
def twin(tmp_path):
    from layers.synth import make_folder_dataset

    data = str(tmp_path / "data" / "shapes")
    make_folder_dataset(data, n=6, size=(32, 32), seed=1)
    made = []
    yield data, tmp_path, made
    for model in made:
        custom.unload(model)


def _make(twin, arch, out=None, **kw):
    data, tmp, made = twin
    folder, rec, notes = custom.make(data, arch, out, models_dir=str(tmp / "models"), **kw)
    made.append(rec.name)
    return folder, rec, notes


def test_every_architecture_builds_for_the_dataset(twin):
    wanted = {"voc-fcn32s", "voc-fcn16s", "voc-fcn8s", "voc-fcn8s-atonce", "voc-fcn-alexnet",
              "voc-fcn-googlenet", "voc-fcn-resnet50", "voc-fcn-resnet101",
              "voc-fcn-resnet152"}  # fmt: skip
    assert wanted <= set(custom.archs())
    assert "siftflow-fcn32s" not in custom.archs() and "nyud-fcn32s-hha" not in custom.archs()
    from netspec import shapes

    for arch in sorted(wanted):
        folder, rec, notes = _make(twin, arch)
        assert rec.name == f"shapes-{arch.split('-', 1)[1]}" and rec.classes == CLASSES
        assert rec.backbone is zoo.record(arch).backbone and rec.head == zoo.record(arch).head
        net = zoo.build(rec.name, "deploy", width=0.0625)
        assert shapes.infer(net, image_size=(64, 64))["score"] == (1, 4, 64, 64), arch
        layer = caffeio.read_net(os.path.join(folder, "train.prototxt")).layer[0]
        assert layer.python_param.module == "layers.folder" and "'classes': 4" in (
            layer.python_param.param_str
        )
        assert any("no mean.txt" in n for n in notes) and any("no train.txt" in n for n in notes)
    assert zoo.record("shapes-fcn8s").init.model == "shapes-fcn16s"
    assert zoo.record("shapes-fcn16s").init_sources == ("shapes-fcn32s",)


def test_run_folders_of_a_users_model(twin):
    from solvers.runs.folder import run_dir

    data, tmp, _ = twin
    folder, rec, _ = _make(twin, "voc-fcn32s")
    assert run_dir(rec.name) == folder  # the folder itself, wherever it lies
    runs = str(tmp / "runs")
    small = run_dir(rec.name, runs, width=0.0625)
    assert small == os.path.join(runs, rec.name)
    param = caffeio.read_net(os.path.join(small, "val.prototxt")).layer[0].python_param.param_str
    assert f"'data_dir': '{data}'" in param  # the user's dataset, not the toolkit's data/
    assert caffeio.read_net(os.path.join(folder, "val.prototxt")) != caffeio.read_net(
        os.path.join(small, "val.prototxt")
    )
    from solvers.runs.folder import RunSetupError

    with pytest.raises(RunSetupError, match=f"leave --runs out to use {folder}"):
        run_dir(rec.name, str(tmp / "elsewhere"))


def test_make_custom_refuses(twin, capsys):
    from zoo.__main__ import main

    data, tmp, made = twin
    folder, rec, _ = _make(twin, "voc-fcn32s")
    assert _make(twin, "voc-fcn32s")[0] == folder  # again: its own folder is rewritten
    with pytest.raises(custom.CustomModelError, match="holds shapes-fcn32s made from voc-fcn32s"):
        _make(twin, "voc-fcn8s", out=folder)
    other = tmp / "mine"
    other.mkdir()
    (other / "notes.txt").write_text("mine")
    with pytest.raises(custom.CustomModelError, match="files not made by make-custom"):
        _make(twin, "voc-fcn32s", out=str(other))
    assert (other / "notes.txt").read_text() == "mine"
    with pytest.raises(custom.CustomModelError, match="'voc-fcn8s' is a model of the zoo"):
        _make(twin, "voc-fcn8s", out=str(tmp / "voc-fcn8s"))
    with pytest.raises(custom.CustomModelError, match="'voc' is a dataset of the zoo"):
        _make(twin, "voc-fcn32s", out=str(tmp / "mine-fcn32s"), name="voc")
    with pytest.raises(custom.CustomModelError, match="ignore label must lie in 4..255"):
        _make(twin, "voc-fcn32s", void_label=2)
    with pytest.raises(SystemExit):  # two heads: not an architecture for one label
        main(["make-custom", "--data", data, "--arch", "siftflow-fcn32s"])
    assert "invalid choice: 'siftflow-fcn32s'" in capsys.readouterr().err
    assert main(["make-custom", "--data", str(tmp / "nodata"), "--arch", "voc-fcn32s"]) == 1
    assert "no such folder" in capsys.readouterr().err
    os.remove(os.path.join(data, "classes.txt"))
    assert main(["make-custom", "--data", data, "--arch", "voc-fcn32s",
                 "--out", str(tmp / "x" / "shapes-fcn32s")]) == 1  # fmt: skip
    assert "classes.txt: not found" in capsys.readouterr().err
    # a renamed folder no longer says which model it is
    moved = str(tmp / "models" / "renamed")
    os.rename(folder, moved)
    with pytest.raises(custom.CustomModelError, match="its folder is called 'renamed'"):
        custom.load(moved)


def test_scripts_of_a_folder_in_the_repository():
    assert custom.REPOSITORY == ROOT
    inside = custom.scripts.custom_root(os.path.join(ROOT, "models", "x-fcn8s"), ROOT)
    assert inside == 'os.path.join(HERE, "..", "..")'
    assert custom.scripts.custom_root("/elsewhere/x-fcn8s", ROOT) == repr(ROOT)
    text = custom.scripts.custom_solve_py("x-fcn8s", "voc-fcn8s", inside)
    assert "main(load(HERE))" in text and "solvers.training.cli" in text
    compile(text, "solve.py", "exec")


def test_legend_names_colours_and_shares():
    from solvers.inference.cli import legend_lines
    from solvers.inference.segment import legend
    from solvers.pictures import legend_panel

    lab = np.array([[0, 0, 0, 2], [2, 2, 0, 0]], np.uint8)
    rows = legend(lab, CLASSES)
    assert rows == [(0, "background", (0, 0, 0), 0.625), (2, "square", (0, 128, 0), 0.375)]
    lines = legend_lines(rows)
    assert lines[1].split() == ["[0,128,0]", "2", "square", "37.5%"]
    assert "\x1b[48;2;0;128;0m" in legend_lines(rows, colour=True)[1]  # a terminal swatch
    pic = legend_panel(rows, height=40)
    assert pic.shape[0] == 40 and (pic == (0, 128, 0)).all(axis=-1).sum() >= 80  # 10x10 swatch
    assert legend(lab, None)[1][1] == "2"  # no class names (--proto): the indices
