"""torchcaffe against an independent Caffe reader: OpenCV 4.x dnn (readNetFromCaffe).

Every deploy net of the zoo at a small width, and voc-fcn8s / voc-fcn-alexnet at width 1, with
random weights saved by Net.save: OpenCV's outputs for the same prototxt and caffemodel equal
torchcaffe's at two input sizes (max abs error / max |output| < 1e-4).
"""

import os
import pathlib
import tempfile

import numpy as np
import pytest
import torch
from optional_deps import opencv_with_caffe

import caffeio
import torchcaffe as caffe

cv2 = opencv_with_caffe(module_level=True)
zoo = pytest.importorskip("zoo")
torch.set_num_threads(1)

SIZES = [(13, 17), (30, 22)]  # odd and even, H != W: exercises ceil pooling and crop offsets


def randomize(net, seed):
    """Random weights of a sane scale (std 1/sqrt(fan_in)), biases included."""
    rng = np.random.default_rng(seed)
    for blobs in net.params.values():
        for b in blobs:
            fan_in = int(np.prod(b.shape[1:])) if len(b.shape) > 1 else 10
            w = rng.standard_normal(b.shape, dtype=np.float32)
            w *= 1 / np.sqrt(fan_in)
            b.data[...] = w


def compare_with_opencv(tmp_path, model, width, seed=0):
    param = zoo.build(model, "deploy", width=width)
    proto = str(tmp_path / f"{model}.prototxt")
    weights = str(tmp_path / f"{model}.caffemodel")
    caffeio.write_net(param, proto)
    net = caffe.Net(proto, caffe.TEST)
    randomize(net, seed)
    net.save(weights)
    cvnet = cv2.dnn.readNetFromCaffe(proto, weights)
    cvnet.setPreferableBackend(cv2.dnn.DNN_BACKEND_OPENCV)
    rng = np.random.default_rng(seed + 1)
    for h, w in SIZES:
        feeds = {}
        for name in net.inputs:
            c = net.blobs[name].shape[1]
            feeds[name] = (rng.standard_normal((1, c, h, w)) * 50).astype(np.float32)
            net.blobs[name].reshape(1, c, h, w)
            net.blobs[name].data[...] = feeds[name]
        out = net.forward()
        for name, x in feeds.items():
            cvnet.setInput(x, name)
        cv_out = cvnet.forward(list(net.outputs))
        for name, ref in zip(net.outputs, cv_out):
            ours = out[name]
            assert ours.shape == ref.shape, (
                f"{model} {name} at {h}x{w}: {ours.shape} vs {ref.shape}"
            )
            assert ours.shape[2:] == (h, w)
            scale = np.abs(ref).max()
            assert scale > 0, f"{model} {name}: all-zero output, the comparison would be empty"
            err = np.abs(ours - ref).max() / scale
            assert err < 1e-4, f"{model} {name} at {h}x{w}: relative error {err:.2e}"
    return net


@pytest.mark.parametrize("model", zoo.MODELS if hasattr(zoo, "MODELS") else [])
def test_zoo_deploy_matches_opencv(tmp_path, model):
    compare_with_opencv(tmp_path, model, width=1 / 16)


@pytest.fixture()
def big_tmp(tmp_path):
    """A folder in RAM when /dev/shm exists: the width-1 caffemodels are 0.2-0.5 GB and the
    atomic writer fsyncs them, which on a busy disk costs more than the whole comparison."""
    if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK):
        with tempfile.TemporaryDirectory(dir="/dev/shm") as d:
            yield pathlib.Path(d)
    else:
        yield tmp_path


@pytest.mark.parametrize("model", ["voc-fcn8s", "voc-fcn-alexnet"])
def test_full_width_matches_opencv(big_tmp, model):
    net = compare_with_opencv(big_tmp, model, width=1.0)
    assert net.params["fc6"][0].shape[0] == 4096  # the real width, not a thinned one
    assert os.path.getsize(big_tmp / f"{model}.caffemodel") > 100e6


def test_train_snapshot_runs_with_deploy_prototxt_in_opencv(tmp_path):
    """The FCN workflow: a TRAIN net (data layer, Split layers, loss) saved by Net.save, then
    loaded with the deploy prototxt by both torchcaffe and OpenCV."""
    from test_torchcaffe_trainnets import stand_in

    train = caffe.Net(stand_in(zoo.build("voc-fcn8s", "train", width=1 / 16), 20, 24), caffe.TRAIN)
    randomize(train, 3)
    snap = str(tmp_path / "train_iter_1.caffemodel")
    train.save(snap)
    saved = caffeio.read_caffemodel(snap)
    types = {l.type for l in saved.layer}
    assert {"Input", "Split", "SoftmaxWithLoss"} <= types
    proto = str(tmp_path / "deploy.prototxt")
    caffeio.write_net(zoo.build("voc-fcn8s", "deploy", width=1 / 16), proto)
    net = caffe.Net(proto, caffe.TEST, weights=snap)
    x = (np.random.default_rng(0).standard_normal((1, 3, 21, 19)) * 50).astype(np.float32)
    ours = net.forward(data=x)["score"]
    cvnet = cv2.dnn.readNetFromCaffe(proto, snap)
    cvnet.setInput(x, "data")
    ref = cvnet.forward("score")
    assert np.abs(ours - ref).max() / np.abs(ref).max() < 1e-4
