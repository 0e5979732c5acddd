"""Inference on picture files: label PNGs, overlays, any size, folders, errors, infer.py."""

import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

import caffeio
import torchcaffe
import zoo
from layers.synth import make_voc
from solvers.inference import cli as infer
from solvers.pictures import legend_panel
from zoo.classifiers import random_weights

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WIDTH = 1 / 32


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("infer")
    voc = str(tmp / "voc")
    make_voc(voc, n=3)  # sizes vary (60..120 px)
    net = zoo.build("voc-fcn8s", "deploy", width=WIDTH)
    proto, weights = str(tmp / "deploy.prototxt"), str(tmp / "w.caffemodel")
    caffeio.write_net(net, proto)
    caffeio.write_caffemodel(caffeio.params_to_net(random_weights(net, seed=5), net), weights)
    return tmp, os.path.join(voc, "JPEGImages"), proto, weights


def reference_label(proto, weights, path):
    """What the net predicts for an image file, computed here step by step."""
    rgb = np.asarray(Image.open(path).convert("RGB"), np.float32)
    x = (rgb[:, :, ::-1] - np.array((104.00699, 116.66877, 122.67892))).transpose(2, 0, 1)
    net = torchcaffe.Net(proto, torchcaffe.TEST, weights=weights, fast=False)
    return net.forward(data=x[None].astype(np.float32))["score"][0].argmax(0)


def test_infer_folder_and_files(setup):
    tmp, folder, proto, weights = setup
    extra = str(tmp / "odd size.png")
    Image.new("RGB", (37, 23), (200, 30, 30)).save(extra)
    out = str(tmp / "preds")
    rows = infer.main(
        [folder, extra, "--weights", weights, "--width", str(WIDTH), "--out", out, "--quiet"]
    )
    assert len(rows) == 4
    for row in rows:
        rgb = np.asarray(Image.open(row["image"]).convert("RGB"))
        h, w = rgb.shape[:2]
        lab = Image.open(row["label"])
        assert lab.mode == "P" and lab.size == (w, h)  # any size, not resized
        np.testing.assert_array_equal(
            np.asarray(lab), reference_label(proto, weights, row["image"])
        )
        ov = np.asarray(Image.open(row["overlay"]))
        key = legend_panel(row["legend"], h)  # the classes' colours and names
        assert ov.shape == (h + 14, 3 * w + 12 + key.shape[1], 3)  # image | pred | blend | key
        np.testing.assert_array_equal(ov[14:, -key.shape[1] :], key)
        np.testing.assert_array_equal(ov[14:, :w], rgb)
    assert os.path.isfile(os.path.join(out, "odd size.png"))
    assert os.path.isfile(os.path.join(out, "voc-fcn8s-deploy.prototxt"))


def test_infer_errors(setup, capsys):
    tmp, folder, _, weights = setup
    with pytest.raises(SystemExit, match="missing.caffemodel: no such file"):
        infer.main([folder, "--weights", str(tmp / "missing.caffemodel"), "--quiet"])
    with pytest.raises(SystemExit, match="nothere.jpg: no such image"):
        infer.main([str(tmp / "nothere.jpg"), "--weights", weights, "--quiet"])
    empty = tmp / "empty"
    empty.mkdir()
    with pytest.raises(SystemExit, match="folder holds no images"):
        infer.main([str(empty), "--weights", weights, "--quiet"])
    with pytest.raises(SystemExit, match="two inputs"):
        infer.main([folder, "--model", "nyud-fcn32s-color-d", "--weights", weights, "--quiet"])
    bad = tmp / "bad.jpg"
    bad.write_bytes(b"not a jpeg")
    with pytest.raises(SystemExit, match="bad.jpg"):
        infer.main([str(bad), "--weights", weights, "--width", str(WIDTH), "--out", str(tmp / "b")])


def test_release_infer_script(setup):
    """models/voc-fcn8s/infer.py as the release used it: image, weights -> label PNG."""
    tmp, folder, proto, weights = setup
    model_dir = tmp / "voc-fcn8s"
    model_dir.mkdir()
    shutil.copy(os.path.join(ROOT, "models", "voc-fcn8s", "infer.py"), model_dir / "infer.py")
    shutil.copy(proto, model_dir / "deploy.prototxt")  # a reduced-width deploy net
    image = os.path.join(folder, sorted(os.listdir(folder))[0])
    out = str(tmp / "release.png")
    env = dict(os.environ, PYTHONPATH=ROOT, FCN_ENGINE="torch")
    res = subprocess.run(
        [sys.executable, str(model_dir / "infer.py"), image, weights, out],
        capture_output=True, text=True, env=env, timeout=120,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    np.testing.assert_array_equal(
        np.asarray(Image.open(out)), reference_label(proto, weights, image)
    )
    res = subprocess.run(
        [sys.executable, str(model_dir / "infer.py"), image, str(tmp / "none.caffemodel")],
        capture_output=True, text=True, env=env, timeout=120,
    )  # fmt: skip
    assert res.returncode != 0 and "none.caffemodel not found" in res.stderr


def test_infer_tiled_equals_whole_image(setup, monkeypatch):
    from solvers.evaluation import tiled

    calls = []
    real = tiled.tiled_forward
    monkeypatch.setattr(tiled, "tiled_forward", lambda *a, **k: calls.append(a[2]) or real(*a, **k))
    tmp, folder, proto, weights = setup
    big = str(tmp / "big.png")
    rng = np.random.default_rng(1)
    Image.fromarray(rng.integers(0, 255, (150, 170, 3), dtype=np.uint8)).save(big)
    whole = infer.main([big, "--weights", weights, "--width", str(WIDTH), "--out",
                        str(tmp / "whole"), "--quiet", "--no-overlay"])  # fmt: skip
    tiled = infer.main([big, "--weights", weights, "--width", str(WIDTH), "--out",
                        str(tmp / "tiled"), "--quiet", "--no-overlay", "--tile", "64"])  # fmt: skip
    a = np.asarray(Image.open(whole[0]["label"]))
    b = np.asarray(Image.open(tiled[0]["label"]))
    assert a.shape == (150, 170) and calls == [64]  # the tiled path ran, 3 x 3 tiles of 64
    np.testing.assert_array_equal(a, b)


def test_infer_fast_mode(setup, monkeypatch):
    """--fast (Winograd forced onto these narrow layers) labels as the exact mode does."""
    from torchcaffe import winograd

    monkeypatch.setenv("TORCHCAFFE_FAST", "0")  # --fast is passed to the net, not set here
    calls = []
    monkeypatch.setattr(
        winograd,
        "winograd_tile",
        lambda ci, co, h, w, k=3, rules=None: calls.append(k) or (4 if k == 3 else 2),
    )
    tmp, folder, proto, weights = setup
    out = str(tmp / "preds-fast")
    args = [folder, "--weights", weights, "--width", str(WIDTH), "--out", out, "--quiet"]
    rows = infer.main(args + ["--fast"])
    assert calls and os.environ["TORCHCAFFE_FAST"] == "0"  # the fast rule ran
    for row in rows:
        lab = np.asarray(Image.open(row["label"]))
        ref = reference_label(proto, weights, row["image"])
        assert (lab == ref).mean() > 0.999
