"""Every train net of the zoo (tiny width; Python data layers replaced by Input stand-ins):
torchcaffe builds it, runs forward and backward, and its loss and parameter gradients equal a
float64 NumPy run of the same net (gradients by central differences of that NumPy run)."""

import numpy as np
import pytest
import torch
from test_torchcaffe_ref import np_run_net

import torchcaffe as caffe
from caffeio import caffe_pb2

zoo = pytest.importorskip("zoo")
torch.set_num_threads(1)

LABEL_TOPS = {"label", "sem", "geo"}
ONE_CHANNEL = {"depth"}


def stand_in(param, h, w):
    """Copy of `param` with each Python data layer replaced by an Input layer of its tops."""
    out = caffe_pb2.NetParameter()
    out.CopyFrom(param)
    for lp in out.layer:
        if lp.type != "Python":
            continue
        tops = list(lp.top)
        lp.ClearField("python_param")
        lp.type = "Input"
        for t in tops:
            c = 1 if t in LABEL_TOPS | ONE_CHANNEL else 3
            lp.input_param.shape.add().dim.extend([1, c, h, w])
    return out


def fill_inputs(net, rng):
    feeds = {}
    for name in net.inputs:
        shape = net.blobs[name].shape
        if name in LABEL_TOPS:
            continue
        feeds[name] = rng.standard_normal(shape).astype(np.float32) * 30
    for lp in net._param.layer:
        if lp.type == "SoftmaxWithLoss":
            score, label = lp.bottom
            while label not in net.inputs:  # through Split layers
                label = next(x.bottom[0] for x in net._param.layer if label in x.top)
            c = net.blobs[score].shape[1]
            lab = rng.integers(0, c, net.blobs[label].shape).astype(np.float32)
            lab.flat[::7] = 255  # some ignored pixels
            feeds[label] = lab
    for k, v in feeds.items():
        net.blobs[k].data[...] = v
    return feeds


def randomize(net, rng):
    for blobs in net.params.values():
        for b in blobs:
            fan_in = int(np.prod(b.shape[1:])) if len(b.shape) > 1 else 10
            b.data[...] = rng.standard_normal(b.shape) / np.sqrt(fan_in)


@pytest.mark.parametrize("model", zoo.MODELS if hasattr(zoo, "MODELS") else [])
def test_train_net_loss_and_gradients(model):
    caffe.set_random_seed(5)
    rng = np.random.default_rng(11)
    stem = zoo.net_files(model)[0]
    param = stand_in(zoo.build(model, stem, width=1 / 32), 9, 11)
    net = caffe.Net(param, caffe.TRAIN)
    randomize(net, rng)
    feeds = fill_inputs(net, rng)
    net.clear_param_diffs()
    net.forward()
    loss = net.loss
    net.backward()
    masks = {}
    original = {lp.name: lp for lp in param.layer}
    for lp in param.layer:  # the Dropout masks the engine drew, read back from its tops
        if lp.type == "Dropout":
            masks[lp.name] = (net.blobs[lp.top[0]].data != 0).astype(np.float64)
    params = {k: [b.data.astype(np.float64) for b in v] for k, v in net.params.items()}
    # The reference is a separate NumPy pass over the original prototxt; Dropout tops are in
    # place, so the blob read back above holds the dropout output, as in Caffe.
    _, ref_loss = np_run_net(param, feeds, params, masks)
    assert np.isfinite(loss) and loss > 0
    assert abs(loss - ref_loss) <= 1e-5 * abs(ref_loss), (loss, ref_loss)
    # Gradient checks: the first convolution's weight and the last learnable convolution's
    # weight and bias, a few elements each, by central differences of the NumPy run.
    convs = [n for n, lp in original.items() if lp.type == "Convolution" and n in net.params]
    picks = [(convs[0], 0), (convs[-1], 0), (convs[-1], 1)]
    for name, k in picks:
        blob = net.params[name][k]
        got = blob.diff
        assert np.abs(got).max() > 0, f"{model}: {name}[{k}] got no gradient"
        for flat in rng.choice(blob.count, 1, replace=False):
            idx = np.unravel_index(flat, blob.shape)
            h = 1e-6  # small: a wider step crosses ReLU / max-pool kinks
            vals = []
            for sgn in (1, -1):
                p2 = {**params, name: [a.copy() for a in params[name]]}
                p2[name][k][idx] += sgn * h
                vals.append(np_run_net(param, feeds, p2, masks)[1])
            ref = (vals[0] - vals[1]) / (2 * h)
            tol = 2e-3 * abs(ref) + 1e-4 * np.abs(got).max()
            assert abs(got[idx] - ref) <= tol, f"{model} {name}[{k}]{idx}: {got[idx]} vs {ref}"
    # lr_mult 0 (the bilinear Deconvolutions) never get a diff
    for lp in param.layer:
        if lp.type == "Deconvolution" and lp.param and lp.param[0].lr_mult == 0:
            assert not net.params[lp.name][0].diff.any()
