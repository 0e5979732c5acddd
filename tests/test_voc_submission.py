"""score.py --submit: the PASCAL VOC2012 test submission on a synthetic test folder (JPEGImages
+ ImageSets/Segmentation/test.txt, no labels): one palette PNG per test id under the devkit's
results/VOC2012/Segmentation/comp6_test_cls/, the VOC colour map, class indices 0..20, the size
of its picture, the same predictions as inference, and a tar.gz of exactly that tree."""

import os
import tarfile

import numpy as np
import pytest
from PIL import Image

import caffeio
import zoo
from layers.synth import make_voc_test
from solvers.evaluation import cli
from solvers.evaluation.submission import SubmissionError
from solvers.pictures import make_palette
from zoo.classifiers import random_weights

WIDTH = "0.0625"
COMP_DIR = "results/VOC2012/Segmentation/comp6_test_cls"


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    base = tmp_path_factory.mktemp("voctest")
    voc = str(base / "VOCdevkit" / "VOC2012")
    ids = make_voc_test(voc, n=5, seed=2)  # sizes vary, 60..120 px
    net = zoo.build("voc-fcn8s", "deploy", width=float(WIDTH))
    weights = str(base / "w.caffemodel")
    caffeio.write_caffemodel(caffeio.params_to_net(random_weights(net, seed=5), net), weights)
    return base, voc, ids, weights


def submit(world, out, *more, model="voc-fcn8s"):
    base, voc, _, weights = world
    argv = ["--weights", weights, "--width", WIDTH, "--gpu", "-1", "--submit", voc, "--out", out]
    return cli.main(model, argv + list(more))


def test_layout_palette_sizes_and_archive(world, capsys):
    base, voc, ids, weights = world
    out = str(base / "sub")
    result = submit(world, out)
    printed = capsys.readouterr().out
    assert "comp6" in printed and result["archive"] in printed and result["images"] == 5
    folder = os.path.join(out, COMP_DIR)
    assert result["folder"] == folder and sorted(os.listdir(folder)) == sorted(
        f"{i}.png" for i in ids
    )
    from solvers.inference.segment import run

    preds = {r["image"]: r["label"] for r in run(
        [os.path.join(voc, "JPEGImages")], weights, model="voc-fcn8s", out_dir=str(base / "p"),
        width=float(WIDTH), overlay=False, progress=False)}  # fmt: skip
    for idx in ids:
        png = Image.open(os.path.join(folder, f"{idx}.png"))
        picture = Image.open(os.path.join(voc, "JPEGImages", f"{idx}.jpg"))
        assert png.mode == "P" and png.size == picture.size
        assert bytes(png.getpalette()[: 21 * 3]) == make_palette(21).tobytes()  # VOC's colours
        values = np.asarray(png)
        assert values.max() <= 20
        same = np.asarray(Image.open(preds[os.path.join(voc, "JPEGImages", f"{idx}.jpg")]))
        np.testing.assert_array_equal(values, same)  # what infer predicts for that picture
    with tarfile.open(result["archive"]) as tar:
        members = tar.getmembers()
        assert sorted(m.name for m in members) == sorted(f"{COMP_DIR}/{i}.png" for i in ids)
        assert all(m.isfile() for m in members)
        for m in members:
            data = tar.extractfile(m).read()
            assert data == open(os.path.join(out, m.name), "rb").read()


def test_refusals(world, capsys):
    base, voc, ids, weights = world
    out = str(base / "twice")
    submit(world, out)
    with pytest.raises(SubmissionError, match="hold an earlier submission"):
        submit(world, out)  # nothing is overwritten
    with pytest.raises(SystemExit):
        submit(world, str(base / "x"), "--png")
    assert "--submit predicts every test image whole; drop --png" in capsys.readouterr().err
    with pytest.raises(SubmissionError, match="the VOC server scores the 21 VOC classes"):
        submit(world, str(base / "y"), model="pascalcontext-fcn32s")
    with pytest.raises(SubmissionError, match=r"give the VOC2012 folder inside it"):
        cli.main("voc-fcn8s", ["--weights", weights, "--width", WIDTH, "--submit",
                               str(base / "VOCdevkit"), "--out", str(base / "z")])  # fmt: skip
    os.remove(os.path.join(voc, "JPEGImages", f"{ids[2]}.jpg"))
    try:
        with pytest.raises(SubmissionError, match=f"1 of the 5 test ids have no picture.*{ids[2]}"):
            submit(world, str(base / "w"))
    finally:
        make_voc_test(voc, n=5, seed=2)
