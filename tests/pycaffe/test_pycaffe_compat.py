"""The pycaffe compatibility checks (tests/pycaffe_compat.py) on real BVLC pycaffe, so that
each one is proven against the real thing (torchcaffe runs them in the main suite), and the
two engines side by side in one process on the same files: HDF5 and caffemodel weights of
Python layers across engines, coordinate maps, resizing, the Transformer, Classifier and the
diagram's graph."""

import numpy as np
import pytest
from pycaffe_compat import *  # noqa: F403 - the checks (test_*) and their fixtures
from pycaffe_compat import (
    CLASSIFIER,
    SIMPLE,
    coord_net_spec,
    draw_module,
    engine_module,
    lenet,
    python_net,
    write,
)


@pytest.fixture(scope="module")
def caffe():
    return engine_module("caffe")


@pytest.fixture(scope="module")
def torchcaffe():
    return engine_module("torchcaffe")


def _params(net):
    return {name: [b.data.copy() for b in blobs] for name, blobs in net.params.items()}


def _assert_same_params(a, b):
    assert list(a) == list(b)
    for name in a:
        for x, y in zip(a[name], b[name]):
            np.testing.assert_array_equal(x, y)


@pytest.mark.parametrize("fmt", ["caffemodel", "h5"])
def test_weights_cross_engines(caffe, torchcaffe, tmp_path, fmt):
    """Weights saved by one engine (binary caffemodel or HDF5) load into the other."""
    proto = write(tmp_path, "simple.prototxt", SIMPLE)
    for src, dst in ((caffe, torchcaffe), (torchcaffe, caffe)):
        net = src.Net(proto, src.TRAIN)
        path = str(tmp_path / f"{src.__name__}.{fmt}")
        net.save(path) if fmt == "caffemodel" else net.save_hdf5(path)
        other = dst.Net(proto, dst.TEST)
        other.copy_from(path)
        _assert_same_params(_params(net), _params(other))


def test_python_layer_blobs_cross_engines(caffe, torchcaffe, tmp_path):
    """A Python layer's blobs travel in both weight formats, both ways."""
    for src, dst in ((caffe, torchcaffe), (torchcaffe, caffe)):
        net = src.Net(
            python_net(src, tmp_path, [("layer", "ScaleLayer", "data", "top", "")]), src.TRAIN
        )
        net.params["layer"][0].data[...] = 3.5
        net.params["layer"][1].data[...] = np.arange(6).reshape(2, 3)
        model, h5 = str(tmp_path / "p.caffemodel"), str(tmp_path / "p.h5")
        net.save(model)
        net.save_hdf5(h5)
        for path in (model, h5):
            other = dst.Net(
                python_net(dst, tmp_path, [("layer", "ScaleLayer", "data", "top", "")]), dst.TEST
            )
            other.copy_from(path)
            _assert_same_params(_params(net), _params(other))


def test_forward_backward_start_end_agree(caffe, torchcaffe, tmp_path):
    proto = write(tmp_path, "simple.prototxt", SIMPLE)
    cnet = caffe.Net(proto, caffe.TRAIN)
    model = str(tmp_path / "w.caffemodel")
    cnet.save(model)
    tnet = torchcaffe.Net(proto, torchcaffe.TRAIN, weights=model)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((5, 11, 8, 9)).astype(np.float32)
    d = rng.standard_normal((5, 13)).astype(np.float32)
    results = []
    for net in (cnet, tnet):
        net.blobs["conv"].data[...] = x
        f = {k: v.copy() for k, v in net.forward(start="ip", end="ip").items()}
        net.blobs["ip_blob"].diff[...] = d
        b = {k: v.copy() for k, v in net.backward(start="ip", end="ip").items()}
        results.append((f, b, net.params["ip"][0].diff.copy()))
    (cf, cb, cw), (tf, tb, tw) = results
    assert set(cf) == set(tf) and set(cb) == set(tb)
    np.testing.assert_allclose(tf["ip_blob"], cf["ip_blob"], rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(tb["conv"], cb["conv"], rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(tw, cw, rtol=1e-5, atol=1e-3)


@pytest.mark.parametrize(
    "args",
    [
        {},
        {"pad": 5},
        {"pool": 4, "dstride": 4},
        {"ks": [3, 5], "stride": [1, 2], "pad": [0, 10]},
        {"dpad": 2},
    ],
)
def test_coord_maps_agree(caffe, torchcaffe, args):
    ours = torchcaffe.coord_map.coord_map_from_to
    theirs = caffe.coord_map.coord_map_from_to
    a, b = coord_net_spec(torchcaffe, **args), coord_net_spec(caffe, **args)
    for x, y in (("deconv", "data"), ("pool", "data"), ("data", "deconv"), ("deconv", "conv")):
        t, c = ours(getattr(a, x), getattr(a, y)), theirs(getattr(b, x), getattr(b, y))
        assert t[0] == c[0]
        np.testing.assert_allclose(np.broadcast_to(t[1], np.shape(c[1])), c[1])
        np.testing.assert_allclose(np.broadcast_to(t[2], np.shape(c[2])), c[2])


def test_resize_transformer_and_classifier_agree(caffe, torchcaffe, tmp_path):
    rng = np.random.default_rng(1)
    for shape, dims in (
        ((10, 12, 3), (5, 7)),
        ((10, 12, 3), (23, 17)),
        ((9, 8, 1), (4, 16)),
        ((8, 8, 2), (5, 11)),
    ):
        im = (rng.random(shape) * 200 - 50).astype(np.float32)
        np.testing.assert_array_equal(
            torchcaffe.io.resize_image(im, dims), caffe.io.resize_image(im, dims)
        )
    ts = [m.io.Transformer({"data": (1, 3, 6, 7)}) for m in (caffe, torchcaffe)]
    for t in ts:
        t.set_transpose("data", (2, 0, 1))
        t.set_channel_swap("data", (2, 1, 0))
        t.set_raw_scale("data", 255.0)
        t.set_mean("data", np.array([104.0, 117.0, 123.0]))
    image = rng.random((9, 11, 3)).astype(np.float32)
    np.testing.assert_allclose(
        ts[1].preprocess("data", image), ts[0].preprocess("data", image), atol=1e-4
    )
    proto = write(tmp_path, "cls.prototxt", CLASSIFIER)
    weights = str(tmp_path / "cls.caffemodel")
    caffe.Net(proto, caffe.TEST).save(weights)
    images = [rng.random((8, 7, 2)).astype(np.float32) for _ in range(3)]
    preds = [
        m.Classifier(proto, weights, image_dims=(6, 6), mean=np.array([0.5, 0.5])).predict(images)
        for m in (caffe, torchcaffe)
    ]
    np.testing.assert_allclose(preds[1], preds[0], rtol=1e-5, atol=1e-6)


def test_draw_graphs_agree(caffe, torchcaffe):
    """The same nodes (names, labels) and edges (ends, labels) for LeNet from both engines."""

    def shape(m):
        g = draw_module(m).get_pydot_graph(lenet(m), "LR")
        nodes = {n.get_name() for n in g.get_nodes()}
        edges = {(e.get_source(), e.get_destination(), e.get("label")) for e in g.get_edges()}
        return nodes, edges

    assert shape(torchcaffe) == shape(caffe)
