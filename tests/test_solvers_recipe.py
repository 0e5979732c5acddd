"""The FCN-ResNet recipe through the training driver on torchcaffe: crops + real batches + poly
lr learn on synthetic Cityscapes data; the torchvision recipe's auxiliary loss trains; bad
recipe flags are clear errors."""

import json
import os

import numpy as np
import pytest

import caffeio
from solvers.demos import cli as demo
from solvers.demos import resnet as demo_resnet


def test_recipe_demo_learns(tmp_path, capsys):
    """A reduced run of `python -m solvers.demo --recipe resnet` (150 steps, width 1/16 ResNet-101,
    64 px crops, 5 per forward x iter_size 2, poly lr): the mean IoU over the 19 classes ends
    well above predicting the majority class everywhere."""
    out = str(tmp_path / "demo")
    argv = ["--recipe", "resnet", "--out", out, "--iters", "150", "--lr", "0.002", "--n", "32",
            "--crop", "64", "--batch", "5", "--overlays", "1", "--no-progress"]  # fmt: skip
    results = demo.main(argv)
    text = capsys.readouterr().out
    chance = results["majority_baseline"]
    print(f"recipe demo: mean IoU {results['mean_iu']:.3f}, majority baseline {chance:.3f}")
    assert chance < 0.1
    assert results["mean_iu"] > 3 * chance  # measured 0.26-0.30 at these settings
    assert "mean IoU on the synthetic val split" in text
    run = os.path.join(out, "runs", demo_resnet.MODEL)
    train = caffeio.read_net(os.path.join(run, "train.prototxt"))
    params = eval(train.layer[0].python_param.param_str, {})  # our own file: a dict literal
    assert (params["crop"], params["batch_size"], params["mirror"]) == (64, 5, True)
    solver = caffeio.read_solver(os.path.join(run, "snapshot", "solver.prototxt"))
    assert (solver.iter_size, solver.lr_policy, solver.max_iter) == (2, "poly", 150)
    rows = [json.loads(x) for x in open(os.path.join(run, "snapshot", "train.jsonl"))]
    lrs = [r["lr"] for r in rows if "lr" in r]
    assert lrs[0] == pytest.approx(0.002) and lrs[-1] < 0.1 * lrs[0]  # poly decays to ~0
    assert os.listdir(os.path.join(out, "overlays"))


@pytest.fixture(scope="module")
def city(tmp_path_factory):
    from layers.synth import make_cityscapes

    root = tmp_path_factory.mktemp("city")
    make_cityscapes(str(root / "cityscapes"), n=4, size=(48, 96), seed=3)
    return str(root)


def test_torchvision_recipe_trains_with_its_auxiliary_loss(city, tmp_path):
    """The torchvision recipe's train net (batch 2 of 49 px crops) with its res4 auxiliary head
    and loss: two SGD steps give finite losses, the auxiliary scores match the main ones."""
    from train_files import zoo_train_solver

    import torchcaffe
    import zoo

    model = "cityscapes-fcn-resnet101"
    spath = zoo_train_solver(model, tmp_path, 1 / 32, city, base_lr=1e-4)
    net = zoo.build(model, "train", width=1 / 32, data_root=city, recipe="torchvision",
                    batch_size=2)  # fmt: skip
    for layer in net.layer:
        if layer.type == "Python":
            p = eval(layer.python_param.param_str, {})
            p["crop"] = 49
            layer.python_param.param_str = str(p)
    caffeio.write_net(net, str(tmp_path / "train.prototxt"))
    s = torchcaffe.get_solver(spath)
    bns = [x.name for x in net.layer if x.type == "BatchNorm"]
    for name in bns:  # identity statistics (the fillers leave zeros: x / sqrt(eps))
        for blob, value in zip(s.net.params[name], (0, 1, 1)):
            blob.data[...] = value
    s.step(2)
    assert s.net.blobs["data"].data.shape == (2, 3, 49, 49)
    loss, aux = float(s.net.blobs["loss"].data), float(s.net.blobs["loss_aux"].data)
    assert np.isfinite(loss) and np.isfinite(aux)
    assert s.net.blobs["score_aux"].data.shape == s.net.blobs["score"].data.shape


def test_recipe_flags_errors(tmp_path, capsys):
    from solvers.runs.folder import RunSetupError
    from solvers.training import cli as train

    with pytest.raises(RunSetupError, match=r"--batch 3: the caffe recipe steps on 10 images"):
        train.main("cityscapes-fcn-resnet101", ["--batch", "3", "--runs", str(tmp_path)])
    with pytest.raises(RunSetupError, match="recipe"):
        train.main("voc-fcn8s", ["--recipe", "torchvision", "--runs", str(tmp_path)])


def test_width1_recipe_run_folder_uses_the_shared_base(tmp_path, monkeypatch):
    """A width-1 run folder of another recipe/batch (runs/w1-b2/<model>) starts from
    models/ilsvrc-nets/<x>-fcn.caffemodel when its own ilsvrc-nets/ lacks it; at another width
    the missing base is the usual error naming the path."""
    import surgery.stage
    from solvers.runs import base_weights as run

    models = tmp_path / "models"
    (models / "ilsvrc-nets").mkdir(parents=True)
    shared = models / "ilsvrc-nets" / "resnet101-fcn.caffemodel"
    shared.write_bytes(b"")
    monkeypatch.setattr(run, "MODELS_DIR", str(models))
    seen = []
    monkeypatch.setattr(surgery.stage, "staged_init", lambda folder, src, **kw: seen.append(src))
    runs = tmp_path / "runs" / "w1-b2"
    folder = runs / "cityscapes-fcn-resnet101"
    folder.mkdir(parents=True)
    run.base_weights("cityscapes-fcn-resnet101", str(folder), str(runs), width=1.0)
    assert seen == [str(shared)]
    with pytest.raises(run.RunSetupError, match=r"w1-b2/ilsvrc-nets/resnet101-fcn.caffemodel"):
        run.base_weights("cityscapes-fcn-resnet101", str(folder), str(runs), width=0.5)
