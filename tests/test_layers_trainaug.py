"""VOC 2012 trainaug (issue 16): the split derivation against a per-id rule written out here, the
TrainAugSegDataLayer's label source per id and its arrays against files read here, the missing
file messages, the synthetic twin (layers.synth voc12) and the zoo's VOC ResNet train net."""

import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest
import scipy.io
import torch
from PIL import Image

import caffeio
from layers.errors import DataError
from layers.splits import derive_voc12_trainaug
from layers.synth import make_voc12_family
from layers.voc12 import TrainAugSegDataLayer

torch.set_num_threads(1)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BGR_MEAN = np.array((104.00699, 116.66877, 122.67892))


def read_ids(path):
    with open(path) as f:
        return f.read().split()


def lists(voc, sbd):
    seg = os.path.join(voc, "ImageSets", "Segmentation")
    return {
        "sbd_train": read_ids(os.path.join(sbd, "train.txt")),
        "sbd_val": read_ids(os.path.join(sbd, "val.txt")),
        "voc_train": read_ids(os.path.join(seg, "train.txt")),
        "voc_val": read_ids(os.path.join(seg, "val.txt")),
    }


def expected_trainaug(voc, sbd):
    """Per-id rule over every id any list names: kept iff some training list names it and VOC
    val does not; then in string order (the file is sorted, each id once)."""
    ls = lists(voc, sbd)
    every = set().union(*ls.values())

    def kept(i):
        trained = i in ls["sbd_train"] or i in ls["sbd_val"] or i in ls["voc_train"]
        return trained and i not in ls["voc_val"]

    out = []
    for i in every:
        if kept(i):
            out.append(i)
    out.sort()
    return out


@pytest.fixture(scope="module")
def twin(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("voc12"))
    return root, make_voc12_family(root, n=12, seed=2)


def make_layer(voc, sbd, **extra):
    from torchcaffe.blob import Blob

    layer = TrainAugSegDataLayer()
    layer.param_str = repr(dict(voc_dir=voc, sbdd_dir=sbd, **extra))
    tops = [Blob((1,), name="data"), Blob((1,), name="label")]
    layer.setup([], tops)
    return layer, tops


# ---------------------------------------------------------------- the split


def test_twin_covers_every_case(twin):
    root, out = twin
    voc, sbd = out["voc_dir"], out["sbdd_dir"]
    assert voc == os.path.join(root, "pascal", "VOC2012")
    ls = lists(voc, sbd)
    sets = {k: set(v) for k, v in ls.items()}
    cases = {
        "only SBD train": sets["sbd_train"] - sets["voc_train"] - sets["voc_val"],
        "only SBD val": sets["sbd_val"] - sets["voc_train"] - sets["voc_val"],
        "SBD train and VOC train": sets["sbd_train"] & sets["voc_train"],
        "SBD val and VOC train": sets["sbd_val"] & sets["voc_train"],
        "only VOC train": sets["voc_train"] - sets["sbd_train"] - sets["sbd_val"],
        "SBD train and VOC val": sets["sbd_train"] & sets["voc_val"],
        "SBD val and VOC val": sets["sbd_val"] & sets["voc_val"],
        "only VOC val": sets["voc_val"] - sets["sbd_train"] - sets["sbd_val"],
    }
    assert all(cases.values()), {k: len(v) for k, v in cases.items()}
    assert not sets["voc_train"] & sets["voc_val"] and not sets["sbd_train"] & sets["sbd_val"]
    # the maker's groups are these cases
    g = out["groups"]
    assert set(g["voc_train_only"]) == cases["only VOC train"]
    assert set(g["voc_val_sbd_val"]) == cases["SBD val and VOC val"]
    assert set(g["sbd_train_only"]) == cases["only SBD train"]


def test_trainaug_ids_against_the_rule(twin):
    _, out = twin
    voc, sbd = out["voc_dir"], out["sbdd_dir"]
    want = expected_trainaug(voc, sbd)
    written = read_ids(os.path.join(voc, "ImageSets", "Segmentation", "trainaug.txt"))
    assert out["trainaug"] == written == want
    assert derive_voc12_trainaug(voc, sbd) == want
    assert written != sorted(written, key=lambda i: i.split("_")[1])  # sorting mattered
    g = out["groups"]
    n_kept = sum(len(g[k]) for k in g if not k.startswith("voc_val"))
    assert len(want) == n_kept == 12  # 6 SBD-only + 6 VOC train
    assert not set(want) & set(lists(voc, sbd)["voc_val"])


def test_derive_cli_and_its_errors(twin, tmp_path, capsys):
    from layers.splits import main

    _, out = twin
    cmd = [sys.executable, "-m", "layers.splits", "voc12-trainaug", out["voc_dir"], out["sbdd_dir"]]
    p = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, check=True, timeout=120)
    target = os.path.join(out["voc_dir"], "ImageSets", "Segmentation", "trainaug.txt")
    assert p.stdout.strip() == f"wrote 12 ids to {target} (10582 on the real VOC2012 + SBD)"
    # a missing list is named, with its dataset and split
    empty = str(tmp_path / "sbd")
    os.makedirs(empty)
    with open(os.path.join(empty, "train.txt"), "w") as f:
        f.write("2008_000001\n")
    with pytest.raises(DataError, match=re.escape(os.path.join(empty, "val.txt"))) as e:
        derive_voc12_trainaug(out["voc_dir"], empty)
    assert "SBD split 'val': split file not found" in str(e.value)
    assert main(["voc12-trainaug", out["voc_dir"], empty]) == 1
    assert capsys.readouterr().err.startswith("error: SBD split 'val': split file not found")


def test_everything_in_val_is_an_error(tmp_path):
    voc, sbd = tmp_path / "voc", tmp_path / "sbd"
    seg = voc / "ImageSets" / "Segmentation"
    seg.mkdir(parents=True)
    sbd.mkdir()
    for path, ids in ((seg / "train.txt", "a"), (seg / "val.txt", "a\nb"),
                      (sbd / "train.txt", "b"), (sbd / "val.txt", "a")):  # fmt: skip
        path.write_text(ids + "\n")
    with pytest.raises(ValueError, match="nothing left to train on"):
        derive_voc12_trainaug(str(voc), str(sbd))
    assert not (seg / "trainaug.txt").exists()


# ---------------------------------------------------------------- the layer


def test_label_source_and_arrays(twin):
    _, out = twin
    voc, sbd = out["voc_dir"], out["sbdd_dir"]
    ls = lists(voc, sbd)
    layer, tops = make_layer(voc, sbd, randomize=False, prefetch=False)
    assert layer.split == "trainaug" and layer.ids == expected_trainaug(voc, sbd)
    served = {}
    for _ in range(len(layer.ids)):
        layer.reshape([], tops)
        layer.forward([], tops)
        served[layer.last_id] = (tops[0].data[0].copy(), tops[1].data[0, 0].copy())
    assert sorted(served) == layer.ids
    sources = {"sbd": 0, "voc": 0}
    for i, (data, label) in served.items():
        from_sbd = i in ls["sbd_train"] or i in ls["sbd_val"]
        src = layer.label_source(i)
        assert src == ("sbd" if from_sbd else "voc"), i
        sources[src] += 1
        if from_sbd:
            mat = scipy.io.loadmat(os.path.join(sbd, "cls", f"{i}.mat"))
            want = mat["GTcls"]["Segmentation"][0, 0]
            picture = os.path.join(sbd, "img", f"{i}.jpg")
        else:
            want = np.asarray(Image.open(os.path.join(voc, "SegmentationClass", f"{i}.png")))
            picture = os.path.join(voc, "JPEGImages", f"{i}.jpg")
            assert (want == 255).any()  # VOC's void outlines came through
        np.testing.assert_array_equal(label, want, err_msg=i)
        rgb = np.asarray(Image.open(picture).convert("RGB"), np.float64)
        np.testing.assert_allclose(data, (rgb[:, :, ::-1] - BGR_MEAN).transpose(2, 0, 1), atol=1e-4)
    assert sources == {"sbd": 10, "voc": 2}
    # an id in both SBD and VOC train: SBD's label (no void), not VOC's PNG (with void)
    both = out["groups"]["voc_train_sbd_train"][0]
    assert layer.label_source(both) == "sbd" and not (served[both][1] == 255).any()
    png = np.asarray(Image.open(os.path.join(voc, "SegmentationClass", f"{both}.png")))
    assert (png == 255).any()
    with pytest.raises(KeyError, match="not in split 'trainaug'"):
        layer.label_source(out["groups"]["voc_val_only"][0])


def test_shuffled_by_default_and_seeded(twin):
    _, out = twin
    streams = []
    for _ in range(2):
        layer, tops = make_layer(out["voc_dir"], out["sbdd_dir"], seed=5, prefetch=False)
        ids = []
        for _ in range(10):
            layer.reshape([], tops)
            layer.forward([], tops)
            ids.append(layer.last_id)
        streams.append(ids)
    assert streams[0] == streams[1] and streams[0][:6] != sorted(streams[0])[:6]


def test_missing_split_file_says_how_to_make_it(twin, tmp_path):
    _, out = twin
    with pytest.raises(DataError) as e:
        make_layer(out["voc_dir"], out["sbdd_dir"], split="trainaug2")
    msg = str(e.value)
    assert "split file not found" in msg and "split 'trainaug2'" in msg
    assert f"python -m layers.splits voc12-trainaug {out['voc_dir']} {out['sbdd_dir']}" in msg
    assert os.path.join(out["voc_dir"], "ImageSets", "Segmentation", "trainaug2.txt") in msg
    with pytest.raises(DataError, match=re.escape(os.path.join(str(tmp_path), "train.txt"))):
        make_layer(out["voc_dir"], str(tmp_path))  # SBD lists missing


def test_missing_files_name_id_and_source(tmp_path):
    out = make_voc12_family(str(tmp_path), n=6, size=(24, 32), seed=1)
    voc, sbd, g = out["voc_dir"], out["sbdd_dir"], out["groups"]
    sbd_id, voc_id = g["voc_train_sbd_val"][0], g["voc_train_only"][0]
    mat = os.path.join(sbd, "cls", f"{sbd_id}.mat")
    os.rename(mat, mat + ".gone")
    # the VOC PNG of that id is still there: no silent fallback to it
    assert os.path.isfile(os.path.join(voc, "SegmentationClass", f"{sbd_id}.png"))
    with pytest.raises(DataError) as e:
        make_layer(voc, sbd)
    msg = str(e.value)
    assert f"id '{sbd_id}'" in msg and mat in msg and "label not found" in msg
    assert "SBD train.txt/val.txt" in msg
    os.rename(mat + ".gone", mat)
    jpg = os.path.join(voc, "JPEGImages", f"{voc_id}.jpg")
    os.remove(jpg)
    with pytest.raises(DataError, match=re.escape(jpg)) as e:
        make_layer(voc, sbd)
    assert f"id '{voc_id}'" in str(e.value) and "image not found" in str(e.value)
    os.remove(os.path.join(voc, "ImageSets", "Segmentation", "trainaug.txt"))
    with pytest.raises(DataError, match="split 'trainaug': split file not found") as e:
        make_layer(voc, sbd)
    assert "python -m layers.splits voc12-trainaug" in str(e.value)


def test_synth_cli(tmp_path):
    cmd = [sys.executable, "-m", "layers.synth", "voc12", str(tmp_path), "--n", "6"]
    p = subprocess.run(
        cmd + ["--size", "16x16"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert p.returncode == 0, p.stderr
    seg = tmp_path / "pascal" / "VOC2012" / "ImageSets" / "Segmentation"
    assert len(read_ids(seg / "trainaug.txt")) == 6  # 3 SBD-only + 3 VOC train
    assert len(read_ids(seg / "val.txt")) == 3
    assert (tmp_path / "sbdd" / "dataset" / "val.txt").is_file()


# ---------------------------------------------------------------- inside the zoo's net


def test_zoo_resnet_train_net_reads_trainaug(twin, tmp_path):
    import torchcaffe
    import zoo

    root, out = twin
    param = zoo.build("voc-fcn-resnet50", "train", width=1 / 64, data_root=root)
    data = [lp for lp in param.layer if lp.type == "Python"][0]
    assert (data.python_param.module, data.python_param.layer) == (
        "layers.voc12",
        "TrainAugSegDataLayer",
    )
    path = str(tmp_path / "train.prototxt")
    caffeio.write_net(param, path)
    net = torchcaffe.Net(path, torchcaffe.TRAIN)
    layer = net.layers[list(net._layer_names).index(data.name)]
    assert layer.ids == out["trainaug"] and layer.voc_dir == out["voc_dir"]
    loss = net.forward()["loss"]
    assert layer.last_id in out["trainaug"] and np.isfinite(float(np.asarray(loss).ravel()[0]))


# ---------------------------------------------------------------- scoring VOC 2012 val


def test_score_voc2012_val(twin, tmp_path):
    """models/voc-fcn-resnet50/score.py on the twin's VOC2012 val (named with --voc-dir while
    --data-root holds no VOC at all), against a confusion matrix computed here."""
    import torchcaffe
    import zoo
    from zoo.classifiers import random_weights

    _, out = twin
    voc = out["voc_dir"]
    deploy = zoo.build("voc-fcn-resnet50", "deploy", width=1 / 64)
    weights = str(tmp_path / "w.caffemodel")
    caffeio.write_caffemodel(caffeio.params_to_net(random_weights(deploy, seed=3), deploy), weights)
    net = torchcaffe.Net(deploy, torchcaffe.TEST, weights=weights)
    val = lists(voc, out["sbdd_dir"])["voc_val"]
    want = np.zeros((21, 21), np.int64)
    for i in val:
        rgb = np.asarray(Image.open(os.path.join(voc, "JPEGImages", f"{i}.jpg")), np.float64)
        image = (rgb[:, :, ::-1] - BGR_MEAN).transpose(2, 0, 1)
        net.blobs["data"].reshape(1, *image.shape)
        net.blobs["data"].data[...] = image
        pred = net.forward()["score"][0].argmax(0)
        gt = np.asarray(Image.open(os.path.join(voc, "SegmentationClass", f"{i}.png")))
        for g, p in zip(gt.ravel(), pred.ravel()):
            if g != 255:
                want[g, p] += 1
    empty = tmp_path / "no-data"
    empty.mkdir()
    res = tmp_path / "scores"
    cmd = [sys.executable, os.path.join(ROOT, "models", "voc-fcn-resnet50", "score.py")]
    cmd += ["--weights", weights, "--width", str(1 / 64), "--data-root", str(empty)]
    cmd += ["--voc-dir", voc, "--runs", str(tmp_path / "runs"), "--out", str(res)]
    env = dict(os.environ, FCN_ENGINE="torch", OMP_NUM_THREADS="1")
    p = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert p.returncode == 0, p.stderr[-3000:]
    assert f"on val ({len(val)} images, whole images)" in p.stdout
    data = json.loads((res / "scores.json").read_text())
    assert data["split"] == "val" and data["evaluation"]["mode"] == "whole"
    r = data["results"]["score"]
    assert r["images"] == len(val) == 6 and r["pixels"] == want.sum()
    np.testing.assert_array_equal(r["confusion"], want)
    scored = caffeio.read_net(str(res / "eval.prototxt"))
    params = [lp.python_param.param_str for lp in scored.layer if lp.type == "Python"]
    assert f"'voc_dir': '{voc}'" in params[0] and "'split': 'val'" in params[0]
