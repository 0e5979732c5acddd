"""docs/adding.md's worked examples: a dataset and a backbone added at run time from one module
(tests/toy_zoo.py) build, train a few iterations on torchcaffe, score and infer through the
same code paths as the zoo's own models (zoo.write, solvers.runs, surgery.stage, solvers.training,
solvers.evaluation, solvers.inference, layers.synth), with nothing else edited."""

import json
import os

import numpy as np
import pytest
import toy_zoo

import caffeio
import zoo
from layers.synth import write_twin
from netspec import shapes
from surgery.fcnize import fcnize
from zoo.classifiers import write_classifier

WIDTH = 1 / 32  # VGG-16 at 2..16 conv channels
SIZE = (40, 48)


@pytest.fixture(scope="module")
def toys():
    toy_zoo.register()
    yield
    toy_zoo.unregister()


def _base_net(runs, arch, width):
    """<runs>/ilsvrc-nets/<arch>-fcn.caffemodel from a random-weight classifier, fcnized."""
    proto, weights = write_classifier(os.path.join(runs, "cls"), arch, width=width, seed=3)
    out = os.path.join(runs, "ilsvrc-nets", f"{arch}-fcn.caffemodel")
    fcnize(proto, weights, out, verbose=False)
    return out


def _train(model, root, runs, width):
    from solvers.training import cli as train

    argv = ["--width", str(width), "--data-root", root, "--runs", runs, "--iters", "4",
            "--score-every", "4", "--lr", "1e-4", "--normalize", "--seed", "0", "--gpu", "-1",
            "--no-progress"]  # fmt: skip
    return train.main(model, argv)


def _score(model, root, runs, width, weights):
    from solvers.evaluation import cli as score_cli

    argv = ["--weights", weights, "--width", str(width), "--data-root", root, "--runs", runs,
            "--normalize", "--gpu", "-1"]  # fmt: skip
    return score_cli.main(model, argv)


def _check_run(model, runs, results, classes):
    folder = os.path.join(runs, model)
    (head,) = results.values()
    assert head["classes"] == list(classes) and len(head["per_class_iu"]) == len(classes)
    assert np.isfinite(head["loss"]) and 0 <= head["overall_acc"] <= 1
    rows = [json.loads(x) for x in open(os.path.join(folder, "snapshot", "train.jsonl"))]
    losses = [r["loss"] for r in rows if "loss" in r and "iter" in r]
    assert len(losses) >= 4 and all(np.isfinite(losses))
    assert os.path.isfile(os.path.join(folder, f"{model}.caffemodel"))
    return folder


def test_add_a_dataset(toys, tmp_path, monkeypatch):
    """toyshapes: the record says which data layer each split reads, with which keys; the twin
    is written where those keys point; VGG-16's FCN-32s trains, scores and infers on it."""
    monkeypatch.chdir(tmp_path)
    rec = zoo.record("toyshapes-fcn32s")
    assert "toyshapes-fcn32s" in zoo.names() and "toyshapes-fcn32s" not in zoo.ALL_MODELS
    assert rec.classes == toy_zoo.TOY_CLASSES and rec.eval_split == "val"
    root, runs = str(tmp_path / "data"), str(tmp_path / "runs")
    write_twin("toyshapes", root, n=6, size=SIZE, seed=1)
    assert len(open(os.path.join(root, "toyshapes", "val.txt")).read().split()) == 2

    net = zoo.build("toyshapes-fcn32s", "val", width=WIDTH, data_root=root)
    data = net.layer[0].python_param
    assert (data.module, data.layer) == ("toy_zoo", "ToySegDataLayer")
    assert f"'toy_dir': '{root}/toyshapes'" in data.param_str
    assert shapes.infer(net, image_size=SIZE)["score"] == (1, 3, *SIZE)
    assert zoo.solver("toyshapes-fcn32s").test_iter == [2]  # the eval split's size

    _base_net(runs, "vgg16", WIDTH)
    results = _train("toyshapes-fcn32s", root, runs, WIDTH)
    assert os.getcwd() == str(tmp_path)  # the run's paths resolve against its folder: no chdir
    folder = _check_run("toyshapes-fcn32s", runs, results, toy_zoo.TOY_CLASSES)
    weights = os.path.join(folder, "toyshapes-fcn32s.caffemodel")
    scored = _score("toyshapes-fcn32s", root, runs, WIDTH, weights)
    assert scored["score"]["images"] == 2 and scored["score"]["classes"] == list(
        toy_zoo.TOY_CLASSES
    )

    from solvers.inference import segment as infer

    image = os.path.join(root, "toyshapes", "images", "toy_0005.png")
    (row,) = infer.run([image], weights, model="toyshapes-fcn32s", out_dir=str(tmp_path / "p"),
                       width=WIDTH, overlay=False, progress=False)  # fmt: skip
    assert set(row["class_names"]) <= set(toy_zoo.TOY_CLASSES)
    mean, swap, names, heads = infer.model_info("toyshapes-fcn32s")
    assert tuple(mean) == toy_zoo.TOY_MEAN and swap and names == toy_zoo.TOY_CLASSES
    assert heads == [("score", "score")]


def test_add_a_backbone(toys, tmp_path, monkeypatch):
    """tinynet: its record names the trunk, the classifier and the classifier's files; surgery
    fcnizes its random-weight classifier, stages the init from it, and voc-fcn-tinynet trains
    and scores on the release's VOC layout."""
    from solvers.runs.folder import RunSetupError

    monkeypatch.chdir(tmp_path)
    root, runs = str(tmp_path / "data"), str(tmp_path / "runs")
    write_twin("voc", root, n=6, size=SIZE, seed=2)
    deploy = zoo.build("voc-fcn-tinynet", "deploy")
    crop = next(x for x in deploy.layer if x.type == "Crop")
    assert list(crop.crop_param.offset) == [99]  # computed from the coordinate maps
    assert shapes.infer(deploy, image_size=SIZE)["score"] == (1, 21, *SIZE)

    # before the base net exists, the run names the classifier files from the record
    with pytest.raises(RunSetupError, match="(?s)tinynet.caffemodel.*<tinynet_deploy.prototxt>"):
        _train("voc-fcn-tinynet", root, runs, 1.0)
    monkeypatch.chdir(tmp_path)
    _base_net(runs, "tinynet", 1.0)
    fcn = caffeio.load_params(os.path.join(runs, "ilsvrc-nets", "tinynet-fcn.caffemodel"))
    assert fcn["fc6"][0].shape == (64, 32, 2, 2)  # InnerProduct over 2x2 pool5 -> 2x2 conv
    results = _train("voc-fcn-tinynet", root, runs, 1.0)
    folder = _check_run("voc-fcn-tinynet", runs, results, zoo.dataset("voc").classes)
    init = caffeio.load_params(os.path.join(folder, "snapshot", "init.caffemodel"))
    assert np.array_equal(init["conv3"][0], fcn["conv3"][0])  # the trunk came from tinynet-fcn
    scored = _score(
        "voc-fcn-tinynet", root, runs, 1.0, os.path.join(folder, "voc-fcn-tinynet.caffemodel")
    )
    assert scored["score"]["images"] == 2
