"""Scoring large images (issue 16): whole, exact tiles (solvers.evaluation.tiled) and sliding
windows (solvers.evaluation.sliding) on the synthetic Cityscapes twin with a width-1/64
cityscapes-fcn-resnet101, against a confusion matrix computed here from the label-id PNGs and an
independent forward;
the split of the eval net, the sliding windows against a loop written here, 2048x1024 images,
and the score.py options."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

import caffeio
import engine
import zoo
from layers.synth import make_cityscapes
from solvers.evaluation.score import image_count, seg_tests
from solvers.evaluation.sliding import SlidingError, sliding_forward, window_starts
from solvers.evaluation.splitnet import Evaluation, eval_net_parts, open_eval_nets, seg_tests_split
from zoo.classifiers import random_weights

torch.set_num_threads(1)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODEL = "cityscapes-fcn-resnet101"
WIDTH = 1 / 64
HEADS = zoo.record(MODEL).heads
BGR_MEAN = np.array((104.00699, 116.66877, 122.67892))
# label id -> train id, written out (docs/datasets.md); everything else is ignored
TRAIN_ID = {7: 0, 8: 1, 11: 2, 12: 3, 13: 4, 17: 5, 19: 6, 20: 7, 21: 8, 22: 9, 23: 10,
            24: 11, 25: 12, 26: 13, 27: 14, 28: 15, 31: 16, 32: 17, 33: 18}  # fmt: skip


def write_world(root, size, n):
    """Synthetic Cityscapes under root/cityscapes, the val net, random weights."""
    written = make_cityscapes(os.path.join(root, "cityscapes"), n=n, size=size, seed=0)
    val = os.path.join(root, "val.prototxt")
    caffeio.write_net(zoo.build(MODEL, "val", width=WIDTH, data_root=root), val)
    deploy = zoo.build(MODEL, "deploy", width=WIDTH)
    weights = os.path.join(root, "w.caffemodel")
    caffeio.write_caffemodel(caffeio.params_to_net(random_weights(deploy, seed=5), deploy), weights)
    return {"root": root, "val": val, "weights": weights, "ids": written["val"]}


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    return write_world(str(tmp_path_factory.mktemp("cs")), (96, 192), 4)


@pytest.fixture(scope="module")
def want(world):
    return independent_confusion(world)


def deploy_net(weights):
    import torchcaffe

    return torchcaffe.Net(zoo.build(MODEL, "deploy", width=WIDTH), torchcaffe.TEST, weights=weights)


def run(net, image):
    net.blobs["data"].reshape(1, *image.shape)
    net.blobs["data"].data[...] = image
    net.forward()
    return net.blobs["score"].data[0].copy()


def read_example(root, idx):
    """(image C x H x W BGR minus mean, train ids H x W) read here with PIL and the table."""
    cs = os.path.join(root, "cityscapes")
    rgb = np.asarray(Image.open(f"{cs}/leftImg8bit/val/{idx}_leftImg8bit.png"), np.float64)
    image = (rgb[:, :, ::-1] - BGR_MEAN).transpose(2, 0, 1).astype(np.float32)
    raw = np.asarray(Image.open(f"{cs}/gtFine/val/{idx}_gtFine_labelIds.png"))
    label = np.full(raw.shape, 255, np.int64)
    for y in range(raw.shape[0]):
        for x in range(raw.shape[1]):
            label[y, x] = TRAIN_ID.get(int(raw[y, x]), 255)
    return image, label


def independent_confusion(world):
    net = deploy_net(world["weights"])
    conf = np.zeros((19, 19), np.int64)
    for idx in world["ids"]:
        image, label = read_example(world["root"], idx)
        pred = run(net, image).argmax(0)
        keep = label != 255
        np.add.at(conf, (label[keep], pred[keep]), 1)
    return conf


def split_scores(world, evaluation):
    data_net, net, param = open_eval_nets(world["val"], world["weights"], HEADS)
    n = image_count(data_net)
    return seg_tests_split(data_net, net, n, HEADS, evaluation, param, confusion=True)["score"]


# ---------------------------------------------------------------- windows


def test_window_starts():
    assert window_starts(100, 321, 214) == [0]
    assert window_starts(321, 321, 214) == [0]
    assert window_starts(1024, 321, 214) == [0, 214, 428, 642, 703]
    for length, win, stride in ((2048, 321, 214), (97, 10, 3), (50, 7, 7)):
        starts = window_starts(length, win, stride)
        covered = np.zeros(length, bool)
        for s in starts:
            covered[s : s + win] = True
        assert covered.all() and starts[-1] == length - win
        assert all(0 < b - a <= stride for a, b in zip(starts, starts[1:]))


def test_sliding_against_a_loop_written_here(world):
    net = deploy_net(world["weights"])
    image, _ = read_example(world["root"], world["ids"][0])
    _, H, W = image.shape
    win, overlap = 64, 0.5
    stride = 32  # ceil(64 * (1 - 0.5))
    got = sliding_forward(net, image, win, overlap)
    total = np.zeros((19, H, W), np.float64)
    count = np.zeros((H, W))
    for y0 in sorted(set(list(range(0, H - win, stride)) + [H - win])):
        for x0 in sorted(set(list(range(0, W - win, stride)) + [W - win])):
            part = (slice(y0, y0 + win), slice(x0, x0 + win))
            total[(slice(None),) + part] += run(net, image[(slice(None),) + part])
            count[part] += 1
    assert count.min() >= 1 and count.max() == 4
    np.testing.assert_allclose(got, total / count, rtol=1e-5, atol=1e-5 * np.abs(total).max())
    whole = run(net, image)
    assert np.abs(got - whole).max() > 1e-3 * np.abs(whole).max()  # windows change the result
    # a window larger than the image: padded with 0 at bottom/right, output cropped back
    padded = np.zeros((3, 128, 256), np.float32)
    padded[:, :H, :W] = image
    np.testing.assert_allclose(
        sliding_forward(net, image, (128, 256)), run(net, padded)[:, :H, :W], rtol=1e-6, atol=1e-6
    )
    # unpadded, a window covering the image is the whole-image forward, exactly
    np.testing.assert_array_equal(sliding_forward(net, image, 500, pad=False), whole)
    np.testing.assert_array_equal(sliding_forward(net, image, (H, W)), whole)
    listed = sliding_forward(net, image, 500, pad=False, output_blob=["score"])
    assert isinstance(listed, list) and len(listed) == 1
    np.testing.assert_array_equal(listed[0], whole)
    with pytest.raises(SlidingError, match="'score_fr' has shape .* at the input's size"):
        sliding_forward(net, image, 64, output_blob="score_fr")
    with pytest.raises(SlidingError, match="overlap must be in"):
        sliding_forward(net, image, 64, overlap=1.0)
    with pytest.raises(SlidingError, match="C x H x W"):
        sliding_forward(net, image[0], 64)


# ---------------------------------------------------------------- the split eval net


def test_eval_net_parts():
    param = zoo.build(MODEL, "val", width=WIDTH)
    data, inp, images = eval_net_parts(param, ["label"], {"data": (1, 3, 40, 80)})
    assert images == ["data"] and [lp.type for lp in data.layer] == ["Python"]
    assert list(data.layer[0].top) == ["data", "label"]
    assert inp.layer[0].type == "Input" and list(inp.layer[0].input_param.shape[0].dim) == [
        1,
        3,
        40,
        80,
    ]
    types = [lp.type for lp in inp.layer]
    assert "Python" not in types and "SoftmaxWithLoss" not in types
    assert [lp.name for lp in inp.layer[1:]] == [
        lp.name for lp in param.layer if lp.type not in ("Python", "SoftmaxWithLoss")
    ]
    two = zoo.build("nyud-fcn32s-color-hha", "test", width=1 / 16)
    assert eval_net_parts(two, ["label"])[2] == ["color", "hha"]


# ---------------------------------------------------------------- scores


def test_modes_against_the_independent_confusion(world, want):
    assert (want.sum(0) > 0).sum() >= 3  # predictions spread over several classes
    assert want.sum() == sum((read_example(world["root"], i)[1] != 255).sum() for i in world["ids"])
    net = engine.open_net(world["val"], engine.use("torch").TEST, weights=world["weights"])
    whole = seg_tests(net, image_count(net), HEADS, confusion=True)["score"]
    np.testing.assert_array_equal(whole["confusion"], want)
    assert whole["images"] == 2 and whole["pixels"] == want.sum()
    iu = np.diag(want) / (want.sum(0) + want.sum(1) - np.diag(want))
    assert whole["mean_iu"] == pytest.approx(np.nanmean(iu))
    for ev in (
        Evaluation("whole"),
        Evaluation("tiled", tile=40),
        Evaluation("sliding", window=200, pad=False),
    ):
        got = split_scores(world, ev)
        np.testing.assert_array_equal(got["confusion"], want, err_msg=str(ev))
        assert got["mean_iu"] == whole["mean_iu"] and np.isnan(got["loss"])
    slid = split_scores(world, Evaluation("sliding", window=64, overlap=0.5))
    assert np.sum(slid["confusion"]) == want.sum() and slid["confusion"] != want.tolist()


def test_full_resolution(tmp_path):
    """2048x1024: tiles of 1024 (the margin of 536 px really crops the windows) equal the whole
    image; sliding 321 px windows (overlap 0 here: 4 x 7 windows, to keep the test short)
    cover it."""
    w = write_world(str(tmp_path), (1024, 2048), 2)
    data_net, net, param = open_eval_nets(w["val"], w["weights"], HEADS)
    assert image_count(data_net) == 1  # the val split wraps around: one net pair for all modes

    def score(ev):
        return seg_tests_split(data_net, net, 1, HEADS, ev, param, confusion=True)["score"]

    whole = score(Evaluation("whole"))
    tiled = score(Evaluation("tiled", tile=1024))
    diff = np.abs(np.subtract(tiled["confusion"], whole["confusion"])).sum()
    assert diff <= 1e-5 * whole["pixels"], diff  # argmax ties after float rounding, if any
    assert abs(tiled["mean_iu"] - whole["mean_iu"]) < 1e-5
    slid = score(Evaluation("sliding", window=321, overlap=0))
    assert slid["pixels"] == whole["pixels"] > 1_000_000 and slid["images"] == 1


def test_score_cli(world, want, tmp_path):
    out = tmp_path / "out"
    cmd = [sys.executable, os.path.join(ROOT, "models", MODEL, "score.py")]
    cmd += ["--weights", world["weights"], "--width", str(WIDTH), "--data-root", world["root"]]
    cmd += ["--runs", str(tmp_path / "runs"), "--out", str(out), "--eval", "tiled", "--tile", "48"]
    env = dict(os.environ, FCN_ENGINE="torch", OMP_NUM_THREADS="1")
    p = subprocess.run(cmd + ["--png"], capture_output=True, text=True, env=env, timeout=300)
    assert p.returncode == 0, p.stderr[-3000:]
    assert "2 images, tiled, 48 px tiles (exact)" in p.stdout and "loss not computed" in p.stdout
    data = json.loads((out / "scores.json").read_text())
    assert data["evaluation"] == {
        "mode": "tiled",
        "tile": 48,
        "window": 321,
        "overlap": pytest.approx(1 / 3),
        "pad": True,
    }
    r = data["results"]["score"]
    np.testing.assert_array_equal(r["confusion"], want)
    assert r["loss"] is None
    pngs = sorted(os.listdir(out / "score" / world["ids"][0].split("/")[0]))
    assert pngs == [world["ids"][0].split("/")[1] + ".png"]
    assert (out / "eval-input.prototxt").is_file() and (out / "eval-data.prototxt").is_file()


def test_score_cli_options():
    from solvers.evaluation.cli import parse_args
    from solvers.evaluation.score_model import with_voc_dir as _with_voc_dir
    from solvers.runs.folder import RunSetupError

    args = parse_args(MODEL, ["--weights", "w", "--eval", "sliding", "--overlap", "1/2"])
    assert (args.eval, args.window, args.overlap, args.no_pad) == ("sliding", 321, 0.5, False)
    for bad in (["--eval", "whole", "--tile", "64"], ["--window", "100"], ["--no-pad"],
                ["--eval", "sliding", "--overlap", "1"], ["--eval", "big"]):  # fmt: skip
        with pytest.raises(SystemExit) as e:
            parse_args(MODEL, ["--weights", "w", *bad])
        assert e.value.code == 2, bad
    with pytest.raises(RunSetupError, match="reads no PASCAL VOC segmentation folder"):
        _with_voc_dir(zoo.build(MODEL, "val", width=WIDTH), "/x/VOC2012", MODEL)
    with pytest.raises(ValueError, match="mode 'big'"):
        Evaluation("big")
