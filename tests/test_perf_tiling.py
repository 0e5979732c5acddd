"""Tiled inference (solvers.evaluation.tiled) equals the whole-image forward; too small a margin
does not."""

import numpy as np
import pytest
import torch

import torchcaffe as caffe
from bench import fixtures as fx
from solvers.evaluation.tiled import TilingError, receptive_field, tiled_forward, tiling_geometry

zoo = pytest.importorskip("zoo")
torch.set_num_threads(1)


@pytest.fixture(scope="module")
def fcn8s():
    param = zoo.build("voc-fcn8s", "deploy", width=1 / 16)
    return param, fx.torchcaffe_net(param, caffe.TEST)


def test_receptive_field_of_fcn8s(fcn8s):
    param, _ = fcn8s
    margin, align = tiling_geometry(param)
    assert align == 32
    jump, lo, hi = receptive_field(param)["score"]
    assert jump == 1 and lo < -200 and hi > 200  # VGG-16 + fc6 7x7 at stride 32
    assert margin % 32 == 0 and margin >= max(-lo, hi)


def test_tiled_equals_whole_image(fcn8s):
    param, net = fcn8s
    img = fx.image(690, 420)[0]
    whole = net.forward(data=img[None])["score"][0].copy()
    tiled = tiled_forward(net, img, tile=352)
    assert tiled.shape == whole.shape
    assert np.abs(tiled - whole).max() <= 2e-5 * np.abs(whole).max()
    labels = tiled_forward(net, img, tile=352, labels=True)
    assert labels.dtype == np.uint8 and (labels == whole.argmax(0)).mean() > 0.999
    # the margin is what makes it exact: a small one changes the result near tile seams
    rough = tiled_forward(net, img, tile=352, margin=64)
    assert np.abs(rough - whole).max() > 1e-3 * np.abs(whole).max()


def test_tiling_errors(fcn8s):
    _, net = fcn8s
    with pytest.raises(TilingError, match="multiple of the net's alignment 32"):
        tiled_forward(net, np.zeros((3, 40, 40), np.float32), margin=50)
    with pytest.raises(TilingError, match="C x H x W"):
        tiled_forward(net, np.zeros((40, 40), np.float32))
    with pytest.raises(TilingError, match="does not depend"):
        tiling_geometry(fcn8s[0], output_blob="nope")
