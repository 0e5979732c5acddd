"""The FCN-ResNets' training recipes (netspec.recipe): data layers, solvers, auxiliary head."""

import ast

import pytest

from netspec import recipe, zoo
from netspec.errors import NetSpecError

RESNETS = [m for m in zoo.ALL_MODELS if zoo.has_recipe(m)]


def _params(layer):
    return ast.literal_eval(layer.python_param.param_str)


def _layers(net):
    return {x.name: x for x in net.layer}


def test_recipe_models():
    assert RESNETS == ["voc-fcn-resnet50", "voc-fcn-resnet101", "voc-fcn-resnet152",
                       "cityscapes-fcn-resnet101"]  # fmt: skip
    for m in ("voc-fcn8s", "voc-fcn-googlenet", "nyud-fcn32s-color"):
        with pytest.raises(NetSpecError, match="recipe"):
            zoo.build(m, "train", recipe="caffe")
        with pytest.raises(NetSpecError, match="recipe"):
            zoo.solver(m, batch_size=2)


@pytest.mark.parametrize("model", RESNETS)
def test_caffe_recipe_is_the_default(model):
    """docs/recipes.md (DeepLab-v2): 321 crops, scale 0.5-1.5, mirror, batch 10 by iter_size,
    poly 2.5e-4, momentum 0.9, wd 5e-4, 20k iterations, head at 10x, every BatchNorm frozen."""
    assert zoo.texts(model) == zoo.texts(model, recipe="caffe")
    net = zoo.build(model, "train", data_root="/d")
    p = _params(net.layer[0])
    assert (p["crop"], tuple(p["scale"]), p["mirror"], p["batch_size"]) == (321, (0.5, 1.5),
                                                                           True, 1)  # fmt: skip
    assert p["seed"] == 1337
    s = zoo.solver(model)
    assert (s.base_lr, s.momentum, s.weight_decay, s.lr_policy, s.power) == (
        pytest.approx(2.5e-4), pytest.approx(0.9), pytest.approx(5e-4), "poly",
        pytest.approx(0.9))  # fmt: skip
    assert (s.iter_size, s.max_iter) == (10, 20000)
    lay = _layers(net)
    assert [q.lr_mult for q in lay["score_fr"].param] == [10, 20]
    assert [q.lr_mult for q in lay["head"].param] == [10]
    assert not any("aux" in n for n in lay)
    bns = [x for x in net.layer if x.type == "BatchNorm"]
    assert bns and all(b.batch_norm_param.use_global_stats for b in bns)
    assert all(q.lr_mult == 0 for b in bns for q in b.param)


def test_voc_resnets_train_on_trainaug_and_score_voc2012_val():
    train = zoo.build("voc-fcn-resnet101", "train", data_root="/d").layer[0]
    assert (train.python_param.module, train.python_param.layer) == (
        "layers.voc12", "TrainAugSegDataLayer")  # fmt: skip
    p = _params(train)
    assert (p["voc_dir"], p["sbdd_dir"], p["split"]) == (
        "/d/pascal/VOC2012", "/d/sbdd/dataset", "trainaug")  # fmt: skip
    val = zoo.build("voc-fcn-resnet101", "val", data_root="/d").layer[0]
    assert (val.python_param.layer, _params(val)["voc_dir"], _params(val)["split"]) == (
        "VOCSegDataLayer", "/d/pascal/VOC2012", "val")  # fmt: skip
    assert list(zoo.solver("voc-fcn-resnet101").test_iter) == [1449]
    # the release's models keep SBD train -> seg11valid
    assert _params(zoo.build("voc-fcn8s", "val").layer[0])["split"] == "seg11valid"


@pytest.mark.parametrize("model", ["voc-fcn-resnet101", "cityscapes-fcn-resnet101"])
def test_torchvision_recipe(model):
    """crop 480, scale 0.5-2.0, lr 0.01, wd 1e-4, 30 epochs, head at 1x, auxiliary head on res4
    at 10x with loss weight 0.5 (train net only)."""
    net = zoo.build(model, "train", width=1 / 16, recipe="torchvision", batch_size=2)
    p = _params(net.layer[0])
    assert (p["crop"], tuple(p["scale"]), p["batch_size"]) == (480, (0.5, 2.0), 2)
    lay = _layers(net)
    assert [q.lr_mult for q in lay["score_fr"].param] == [1, 2]
    assert [q.lr_mult for q in lay["score_aux_fr"].param] == [10, 20]
    assert lay["head_aux"].bottom[0] == ("res4b22" if "101" in model else "res4f")
    assert list(lay["loss_aux"].loss_weight) == [0.5]
    assert list(lay["loss_aux"].bottom) == ["score_aux", "label"]
    assert lay["score_aux"].type == "Crop"
    s = zoo.solver(model, recipe="torchvision", batch_size=2)
    n_train = 10582 if model.startswith("voc") else 2975
    assert s.iter_size == 4 and s.max_iter == -(-30 * n_train // 8)
    assert (s.base_lr, s.weight_decay) == (pytest.approx(0.01), pytest.approx(1e-4))
    for split in ("val", "deploy"):
        assert not any("aux" in x.name for x in zoo.build(model, split, recipe="torchvision").layer)


def test_batch_must_divide_the_recipe_batch():
    assert recipe.split_batch(recipe.get("caffe"), None) == (1, 10)
    assert recipe.split_batch(recipe.get("caffe"), 5) == (5, 2)
    with pytest.raises(NetSpecError, match=r"divides it \(1, 2, 5, 10\)"):
        zoo.solver("voc-fcn-resnet101", batch_size=3)
    with pytest.raises(NetSpecError, match="unknown recipe 'deeplab'; known recipes: caffe"):
        zoo.build("voc-fcn-resnet101", "train", recipe="deeplab")


def test_make_cli_writes_the_recipe(tmp_path, capsys):
    from caffeio import read_net, read_solver
    from netspec.__main__ import main

    out = tmp_path / "runs"
    assert main(["make", "cityscapes-fcn-resnet101", "--recipe", "torchvision", "--batch", "4",
                 "--out-dir", str(out)]) == 0  # fmt: skip
    folder = out / "cityscapes-fcn-resnet101"
    assert read_solver(str(folder / "solver.prototxt")).iter_size == 2
    assert _params(read_net(str(folder / "train.prototxt")).layer[0])["batch_size"] == 4
    assert main(["make", "voc-fcn8s", "--recipe", "caffe", "--out-dir", str(out)]) == 1
    assert "recipe" in capsys.readouterr().err
