"""Cityscapes data layer (issue 16) on the synthetic twin: ids, label-id -> train-id mapping
against a table written out here, preprocessing, the zoo's cityscapes-fcn-resnet101 nets in
torchcaffe, missing files, and two SGD steps of the train net."""

import os
import re
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

import caffeio
import zoo
from layers.augment import apply_augment
from layers.cityscapes import (
    CityscapesSegDataLayer,
    cityscapes_ids,
    label_ids_to_train_ids,
    load_cityscapes_image,
    load_cityscapes_label,
)
from layers.errors import DataError
from layers.synth import make_cityscapes

torch.set_num_threads(1)

MODEL = "cityscapes-fcn-resnet101"
WIDTH = 1 / 64
# The 19 evaluated classes as (name, label id), train ids 0..18 in this order (docs/datasets.md).
TABLE = [
    ("road", 7), ("sidewalk", 8), ("building", 11), ("wall", 12), ("fence", 13), ("pole", 17),
    ("traffic light", 19), ("traffic sign", 20), ("vegetation", 21), ("terrain", 22),
    ("sky", 23), ("person", 24), ("rider", 25), ("car", 26), ("truck", 27), ("bus", 28),
    ("train", 31), ("motorcycle", 32), ("bicycle", 33),
]  # fmt: skip
TRAIN_ID = {label_id: j for j, (_, label_id) in enumerate(TABLE)}
IGNORED = {0, 1, 2, 3, 4, 5, 6, 9, 10, 14, 15, 16, 18, 29, 30}
BGR_MEAN = (104.00699, 116.66877, 122.67892)
NAME = re.compile(r"^([a-z]+)/\1_\d{6}_\d{6}$")


def expected_train_ids(raw):
    """Independent mapping: a Python dict lookup per distinct value."""
    out = np.full(raw.shape, 255, np.uint8)
    for v in np.unique(raw):
        out[raw == v] = TRAIN_ID.get(int(v), 255)
    return out


def walk_ids(cs, split):
    """Ids found by walking leftImg8bit/{split} with os.walk (not the layer's listing)."""
    top = os.path.join(cs, "leftImg8bit", split)
    found = []
    for d, _, files in os.walk(top):
        for f in files:
            if f.endswith("_leftImg8bit.png"):
                found.append(os.path.relpath(os.path.join(d, f), top)[: -len("_leftImg8bit.png")])
    return sorted(found)


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    r = str(tmp_path_factory.mktemp("cs"))
    written = make_cityscapes(os.path.join(r, "cityscapes"), n=6, seed=3)
    return r, os.path.join(r, "cityscapes"), written


def make_layer(cs, split, **extra):
    from torchcaffe.blob import Blob

    layer = CityscapesSegDataLayer()
    layer.param_str = repr(dict(cityscapes_dir=cs, split=split, **extra))
    tops = [Blob((1,), name="data"), Blob((1,), name="label")]
    layer.setup([], tops)
    return layer, tops


def serve(layer, tops):
    layer.reshape([], tops)
    layer.forward([], tops)
    return layer.last_id, tops[0].data[0].copy(), tops[1].data[0].copy()


# ---------------------------------------------------------------- ids, mapping, preprocessing


def test_ids_and_counts(root):
    _, cs, written = root
    counts = {}
    for split in ("train", "val"):
        ids = walk_ids(cs, split)
        counts[split] = len(ids)
        assert ids == written[split] == cityscapes_ids(cs, split)
        assert all(NAME.match(i) for i in ids), ids
        for i in ids:
            assert os.path.isfile(os.path.join(cs, "gtFine", split, i + "_gtFine_labelIds.png"))
        assert len({i.split("/")[0] for i in ids}) > 1  # several cities
    assert counts == {"train": 4, "val": 2}
    layer, _ = make_layer(cs, "val")
    assert layer.ids == walk_ids(cs, "val")


def test_label_table_matches_class_names():
    from zoo.classes import CITYSCAPES_CLASSES

    assert tuple(name for name, _ in TABLE) == CITYSCAPES_CLASSES


def test_label_function_on_every_value():
    raw = np.arange(256, dtype=np.uint8).reshape(16, 16)
    got = label_ids_to_train_ids(raw)
    assert got.dtype == np.uint8 and got.shape == raw.shape
    np.testing.assert_array_equal(got, expected_train_ids(raw))
    assert sorted(np.unique(got)) == list(range(19)) + [255]
    wide = np.array([[-1, 7, 33, 300]], np.int32)  # -1 'license plate', out-of-range id
    np.testing.assert_array_equal(label_ids_to_train_ids(wide), [[255, 0, 18, 255]])
    with pytest.raises(TypeError):
        label_ids_to_train_ids(np.zeros((2, 2), np.float32))


def test_labels_on_the_twin(root):
    _, cs, written = root
    seen = set()
    for split, ids in written.items():
        for i in ids:
            path = os.path.join(cs, "gtFine", split, i + "_gtFine_labelIds.png")
            with Image.open(path) as im:
                assert im.mode == "L"
                raw = np.asarray(im)
            seen |= set(np.unique(raw).tolist())
            got = load_cityscapes_label(cs, split, i)
            assert got.dtype == np.uint8 and got.shape == (1, *raw.shape)
            np.testing.assert_array_equal(got[0], expected_train_ids(raw))
    assert len(seen & IGNORED) >= 4, seen  # the twin holds ids that must become 255
    assert len(seen & set(TRAIN_ID)) >= 3, seen


def test_image_preprocessing(root):
    _, cs, written = root
    i = written["train"][0]
    with Image.open(os.path.join(cs, "leftImg8bit", "train", i + "_leftImg8bit.png")) as im:
        assert im.mode == "RGB"
        rgb = np.asarray(im).astype(np.float64)
    want = (rgb[:, :, ::-1] - np.array(BGR_MEAN)).transpose(2, 0, 1)
    got = load_cityscapes_image(cs, "train", i)
    assert got.dtype == np.float32 and got.shape == want.shape
    np.testing.assert_allclose(got, want, atol=1e-4)
    layer, tops = make_layer(cs, "val", mean=(1.0, 2.0, 3.0))
    idx, data, _ = serve(layer, tops)
    raw = load_cityscapes_image(cs, "val", idx, mean=np.zeros(3))
    np.testing.assert_allclose(data, raw - np.array([1.0, 2.0, 3.0])[:, None, None], atol=1e-4)


def test_order_and_seeds(root):
    _, cs, written = root
    layer, tops = make_layer(cs, "val")
    assert [serve(layer, tops)[0] for _ in range(4)] == (written["val"] * 2)[:4]
    streams = []
    for _ in range(2):
        layer, tops = make_layer(cs, "train", seed=7)
        streams.append([serve(layer, tops)[0] for _ in range(8)])
    assert streams[0] == streams[1] and set(streams[0]) <= set(written["train"])
    layer, tops = make_layer(cs, "train", randomize=False)
    assert [serve(layer, tops)[0] for _ in range(4)] == written["train"]


# ---------------------------------------------------------------- inside the zoo's nets


@pytest.mark.parametrize("split", ["train", "val"])
def test_zoo_net_serves_the_loaders_arrays(root, tmp_path, split):
    import torchcaffe

    data_root, cs, _ = root
    path = str(tmp_path / f"{split}.prototxt")
    caffeio.write_net(zoo.build(MODEL, split, width=WIDTH, data_root=data_root), path)
    net = torchcaffe.Net(path, torchcaffe.TRAIN if split == "train" else torchcaffe.TEST)
    layer = net.layers[list(net._layer_names).index("data")]
    assert layer.cityscapes_dir == cs
    for _ in range(2):
        out = net.forward()
        idx = layer.last_id
        data, label = net.blobs["data"].data, net.blobs["label"].data
        want = load_cityscapes_image(cs, split, idx), load_cityscapes_label(cs, split, idx)
        if split == "train":  # the recipe's random scale / crop / mirror (layers.augment)
            assert layer.augment["crop"] and data.shape[2:] == layer.augment["crop"]
            want = apply_augment(want, layer.last_augment[0], layer.augment["crop"])
        np.testing.assert_array_equal(data[0], want[0])
        np.testing.assert_array_equal(label[0], want[1])
        assert net.blobs["score"].data.shape == (1, 19, *data.shape[2:])
        assert np.isfinite(float(np.asarray(out["loss"]).ravel()[0]))


# ---------------------------------------------------------------- missing files


def test_missing_folders_and_files(tmp_path):
    cs = str(tmp_path / "cityscapes")
    with pytest.raises(DataError, match=re.escape(cs)):
        make_layer(cs, "train")
    written = make_cityscapes(cs, n=4, seed=1)
    with pytest.raises(DataError, match="splits found: train, val") as e:
        make_layer(cs, "test")
    assert os.path.join(cs, "leftImg8bit", "test") in str(e.value)
    victim = written["val"][0]
    label = os.path.join(cs, "gtFine", "val", victim + "_gtFine_labelIds.png")
    os.remove(label)
    with pytest.raises(DataError, match=re.escape(label)) as e:
        make_layer(cs, "val")
    assert victim in str(e.value) and "data/README.md" in str(e.value)
    with pytest.raises(DataError, match=re.escape(label)):
        load_cityscapes_label(cs, "val", victim)
    gt_train = os.path.join(cs, "gtFine", "train")
    os.rename(gt_train, gt_train + ".moved")
    with pytest.raises(DataError, match=re.escape(gt_train)):
        make_layer(cs, "train")


def test_synth_cli(tmp_path):
    out = str(tmp_path / "cs")
    subprocess.run(
        [sys.executable, "-m", "layers.synth", "cityscapes", out, "--n", "3", "--size", "32x64"],
        check=True,
        capture_output=True,
        timeout=120,
    )
    assert [len(walk_ids(out, s)) for s in ("train", "val")] == [2, 1]
    assert load_cityscapes_image(out, "val", walk_ids(out, "val")[0]).shape == (3, 32, 64)


# ---------------------------------------------------------------- SGD


def test_two_sgd_steps_on_the_twin(root, tmp_path):
    from train_files import zoo_train_solver

    import torchcaffe as caffe
    from zoo.classifiers import random_weights

    data_root, _, _ = root
    spath = zoo_train_solver(MODEL, tmp_path, WIDTH, data_root, iter_size=1, base_lr=1e-3)
    solver = caffe.get_solver(spath)
    deploy = zoo.build(MODEL, "deploy", width=WIDTH)  # same parameters, stated input shape
    for name, arrays in random_weights(deploy, seed=5).items():
        if name == "upscore":  # keep the fixed bilinear upsampling
            continue
        for blob, a in zip(solver.net.params[name], arrays):
            blob.data[...] = a
    before = {k: [b.data.copy() for b in v] for k, v in solver.net.params.items()}
    losses = []
    for _ in range(2):
        solver.step(1)
        losses.append(float(np.asarray(solver.net.blobs["loss"].data).ravel()[0]))
    assert solver.iter == 2 and np.isfinite(losses).all() and min(losses) > 0
    after = {k: [b.data.copy() for b in v] for k, v in solver.net.params.items()}
    assert not np.array_equal(after["score_fr"][0], before["score_fr"][0])
    for k in [k for k in after if k.startswith("bn")]:  # frozen trunk statistics
        for a, b in zip(after[k], before[k]):
            np.testing.assert_array_equal(a, b, err_msg=k)
