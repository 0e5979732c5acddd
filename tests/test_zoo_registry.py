"""The model registry (zoo): one record per model that every reader uses; the arrows between
the packages (netspec below zoo, zoo below surgery/solvers/layers); the Makefile's and the model
folders' files agree with the records."""

import ast
import os
import re
import subprocess
import sys

import numpy as np
import pytest

import zoo
from netspec.errors import NetSpecError
from zoo import scripts

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _imports(package):
    """{module file: top-level package names it imports} of every module of `package`."""
    out = {}
    for folder, _, files in os.walk(os.path.join(ROOT, package)):
        for f in files:
            if not f.endswith(".py"):
                continue
            path = os.path.join(folder, f)
            tree = ast.parse(open(path, encoding="utf-8").read())
            names = set()
            for node in ast.walk(tree):
                if isinstance(node, ast.Import):
                    names.update(a.name.split(".")[0] for a in node.names)
                elif isinstance(node, ast.ImportFrom) and node.level == 0:
                    names.add(node.module.split(".")[0])
            out[os.path.relpath(path, ROOT)] = names
    return out


@pytest.mark.parametrize(
    "package, forbidden",
    [
        ("zoo", {"layers", "solvers", "surgery", "torchcaffe", "torch", "bench"}),
        ("netspec", {"zoo", "layers", "solvers", "surgery", "torchcaffe", "torch", "bench"}),
    ],
)
def test_arrows_point_down(package, forbidden):
    bad = {m: sorted(names & forbidden) for m, names in _imports(package).items()}
    assert not {m: b for m, b in bad.items() if b}
    code = "import sys, zoo, zoo.__main__; print(sorted({m.split('.')[0] for m in sys.modules}))"
    loaded = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                            text=True, check=True, timeout=120).stdout  # fmt: skip
    assert not {"torch", "torchcaffe", "layers", "solvers", "surgery"} & set(
        ast.literal_eval(loaded)
    )


def test_makefile_models_are_the_registry():
    text = open(os.path.join(ROOT, "Makefile"), encoding="utf-8").read()
    block = re.search(r"^MODELS = ((?:.*\\\n)*.*)$", text, re.M).group(1)
    assert tuple(block.replace("\\", " ").split()) == zoo.ALL_MODELS


def test_model_folders_scripts_are_the_template():
    for m in zoo.ALL_MODELS:
        rec = zoo.record(m)
        for name, text in (("solve.py", scripts.solve_py(m, rec.release)),
                           ("score.py", scripts.score_py(m))):  # fmt: skip
            path = os.path.join(ROOT, "models", m, name)
            assert open(path, encoding="utf-8").read() == text, f"{path}: run `make {m}`"


def test_a_record_holds_what_the_toolkit_needs():
    rec = zoo.record("voc-fcn8s")
    assert (rec.dataset.name, rec.backbone.name, rec.head) == ("voc", "vgg16", "8s")
    assert (rec.train_split, rec.dataset.train_size) == ("train", 8498)
    assert (rec.eval_split, rec.eval_size) == ("seg11valid", 736)
    assert rec.net_files == ("train", "val", "deploy") and rec.num_classes == 21
    assert rec.mean == (104.00699, 116.66877, 122.67892) and rec.image_input.bgr
    assert (rec.init.kind, rec.init.model, rec.score_every) == ("model", "voc-fcn16s", 4000)
    assert rec.solver.base_lr == 1e-14 and not rec.recipe and rec.release
    assert rec.classifier_files == (
        "VGG_ILSVRC_16_layers_deploy.prototxt",
        "VGG_ILSVRC_16_layers.caffemodel",
    )
    (head,) = rec.heads
    assert (head.score, head.label, head.loss, len(head.classes)) == ("score", "label", "loss", 21)
    sift = zoo.record("siftflow-fcn16s")
    assert [(h.name, h.score, h.loss) for h in sift.heads] == [
        ("sem", "score_sem", "loss"),
        ("geo", "score_geo", "loss_geo"),
    ]
    assert [sift.heads[0].classes[i] for i in sift.heads[0].exclude] == ["cow", "desert", "moon"]
    assert sift.num_classes == (33, 3) and sift.solver.snapshot is None
    hha = zoo.record("nyud-fcn32s-hha")
    assert not hha.image_input.bgr and hha.mean == (132.431, 94.076, 118.477)
    late = zoo.record("nyud-fcn32s-color-hha")
    assert late.init.kind == "late" and dict(late.init.late)["hha"] == "nyud-fcn32s-hha"
    r101 = zoo.record("voc-fcn-resnet101")
    assert (r101.dataset.name, r101.recipe, r101.eval_size, r101.release) == (
        "voc12",
        "caffe",
        1449,
        False,
    )


@pytest.mark.parametrize("model", zoo.ALL_MODELS)
def test_every_record_agrees_with_its_files(model):
    rec = zoo.record(model)
    assert list(zoo.solver(model).test_iter) == [rec.eval_size]
    assert zoo.net_files(model) == rec.net_files
    if rec.init.kind == "model":  # staged from an earlier model of the same dataset
        src = zoo.record(rec.init.model)
        assert src.dataset is rec.dataset and zoo.ALL_MODELS.index(src.name) < zoo.ALL_MODELS.index(
            model
        )
    score = {x.name: x for x in zoo.build(model, "deploy", width=1 / 16).layer}
    for head, k in zip(rec.heads, np.atleast_1d(rec.num_classes)):
        assert score[head.score].type == "Crop" and len(head.classes) == k
    val = zoo.build(model, rec.dataset.stems[1], width=1 / 16)
    layer = val.layer[0].python_param
    data = rec.dataset.layers[rec.eval_split]
    assert (layer.module, layer.layer) == (data.module, data.layer)
    params = ast.literal_eval(layer.param_str)
    assert list(params) == [k for k, _ in data.params] and params["split"] == rec.eval_split


def test_layers_read_classes_and_means_from_the_records():
    from layers import cityscapes, nyud, pascalcontext, siftflow, voc

    assert voc.VOC_MEAN.dtype == np.float64 and tuple(voc.VOC_MEAN) == zoo.record("voc-fcn8s").mean
    assert nyud.NYUD_MEAN_BGR.dtype == np.float32
    assert tuple(nyud.NYUD_MEAN_HHA) == tuple(np.float32(zoo.dataset("nyud").inputs["hha"].mean))
    assert siftflow.SIFTFLOW_MEAN.dtype == pascalcontext.CONTEXT_MEAN.dtype == np.float32
    assert cityscapes.CITYSCAPES_MEAN.dtype == np.float64
    assert len(zoo.dataset("cityscapes").classes) == len(cityscapes.CITYSCAPES_LABEL_IDS) == 19


def test_register_errors():
    rec = zoo.record("voc-fcn32s")
    with pytest.raises(NetSpecError, match="model 'voc-fcn32s' is registered already"):
        zoo.register(zoo.ModelRecord("voc-fcn32s", rec.dataset, rec.backbone, "16s", rec.init))
    zoo.register(rec)  # the same record again is no change
    with pytest.raises(NetSpecError, match="unknown model 'voc-fcn4s'; known models: voc-fcn32s"):
        zoo.record("voc-fcn4s")
    with pytest.raises(NetSpecError, match="unknown backbone 'vgg19'; known backbones: vgg16"):
        zoo.backbone("vgg19")
    with pytest.raises(NetSpecError, match="unknown dataset 'ade20k'"):
        zoo.dataset("ade20k")
    with pytest.raises(NetSpecError, match="give a DatasetRecord, Backbone or ModelRecord"):
        zoo.register("voc-fcn32s")
    assert zoo.backbone("resnet101-fcn") is zoo.backbone("resnet101")
