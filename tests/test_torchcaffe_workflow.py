# ruff: noqa: E501  (prototxt one-liners read better unbroken)
"""The pycaffe workflow FCN scripts use, state rules, Split/loss/backward semantics, Python
layers, Data (LMDB) and the clear errors for bad input."""

import os
import sys
import textwrap

import numpy as np
import pytest
import torch
from test_torchcaffe_ref import np_conv, numeric_grad

import caffeio
import torchcaffe as caffe
from caffeio import caffe_pb2

torch.set_num_threads(1)

DEPLOY = """name: "tiny"
layer { name: "input" type: "Input" top: "data" input_param { shape { dim: 1 dim: 3 dim: 8 dim: 10 } } }
layer { name: "conv1" type: "Convolution" bottom: "data" top: "conv1"
  convolution_param { num_output: 4 kernel_size: 3 pad: 1 weight_filler { type: "gaussian" std: 0.1 } } }
layer { name: "relu1" type: "ReLU" bottom: "conv1" top: "conv1" }
layer { name: "pool1" type: "Pooling" bottom: "conv1" top: "pool1" pooling_param { pool: MAX kernel_size: 2 stride: 2 } }
layer { name: "score" type: "Convolution" bottom: "pool1" top: "score" convolution_param { num_output: 5 kernel_size: 1 } }
layer { name: "upscore" type: "Deconvolution" bottom: "score" top: "upscore"
  convolution_param { num_output: 5 kernel_size: 4 stride: 2 bias_term: false weight_filler { type: "bilinear" } }
  param { lr_mult: 0 } }
layer { name: "crop" type: "Crop" bottom: "upscore" bottom: "data" top: "out" crop_param { offset: 1 } }
"""


def write(tmp_path, name, text):
    p = tmp_path / name
    p.write_text(text)
    return str(p)


def test_pycaffe_workflow(tmp_path):
    proto = write(tmp_path, "deploy.prototxt", DEPLOY)
    net = caffe.Net(proto, caffe.TEST)
    assert list(net.blobs) == [
        "data",
        "data_input_0_split_0",
        "data_input_0_split_1",
        "conv1",
        "pool1",
        "score",
        "upscore",
        "out",
    ]
    assert list(net.params) == ["conv1", "score", "upscore"]
    assert net.inputs == ["data"] and net.outputs == ["out"]
    assert net.layer_dict["conv1"].type == "Convolution" and net.layers[2].blobs[0].shape == (
        4,
        3,
        3,
        3,
    )
    assert net.top_names["relu1"] == ["conv1"] and net.bottom_names["crop"] == [
        "upscore",
        "data_input_0_split_1",
    ]
    rng = np.random.default_rng(0)
    w = rng.standard_normal((4, 3, 3, 3)).astype(np.float32)
    net.params["conv1"][0].data[...] = w
    net.params["conv1"][1].data.flat = np.arange(4)
    net.params["score"][0].data[...] = rng.standard_normal((5, 4, 1, 1))
    b = net.blobs["data"]
    assert (b.num, b.channels, b.height, b.width, b.count) == (1, 3, 8, 10, 240)
    im = rng.standard_normal((1, 3, 8, 10)).astype(np.float32)
    b.data[...] = im
    out = net.forward()["out"]
    assert out.shape == (1, 5, 8, 10)
    ref = out.copy()
    b.data[...] = 0
    net.forward()
    assert np.shares_memory(out, net.blobs["out"].data)  # output arrays stay live
    assert not np.array_equal(out, ref)
    b.data[...] = im
    net.forward()
    np.testing.assert_array_equal(out, ref)
    # pycaffe's reshape-then-forward for another image size
    b.reshape(1, 3, 13, 7)
    net.reshape()
    assert net.blobs["out"].data.shape == (1, 5, 13, 7)
    b.data[...] = rng.standard_normal((1, 3, 13, 7))
    assert net.forward()["out"].shape == (1, 5, 13, 7)
    # save / reload, with both constructor forms; outputs identical
    weights = str(tmp_path / "tiny.caffemodel")
    net.save(weights)
    saved = caffeio.read_caffemodel(weights)
    assert [l.name for l in saved.layer][:3] == ["input", "data_input_0_split", "conv1"]
    assert saved.layer[2].phase == caffe.TEST
    np.testing.assert_array_equal(caffeio.load_params(weights)["conv1"][0], w)
    for net2 in (
        caffe.Net(proto, weights, caffe.TEST),
        caffe.Net(proto, caffe.TEST, weights=weights),
    ):
        out2 = net2.forward(data=im)["out"]
        np.testing.assert_array_equal(out2, ref)
        np.testing.assert_array_equal(net2.params["conv1"][1].data, np.arange(4))
    # copy_from ignores layers the net lacks
    extra = caffeio.read_caffemodel(weights)
    extra.layer.add(name="not_in_net", type="InnerProduct").blobs.add().CopyFrom(
        caffeio.array_to_blob(np.ones(3))
    )
    caffeio.write_caffemodel(extra, str(tmp_path / "extra.caffemodel"))
    net3 = caffe.Net(proto, caffe.TEST)
    net3.copy_from(str(tmp_path / "extra.caffemodel"))
    np.testing.assert_array_equal(net3.params["conv1"][0].data, w)


def test_copy_from_legacy_shapes_and_share_with(tmp_path):
    text = """layer { name: "in" type: "Input" top: "x" input_param { shape { dim: 2 dim: 6 } } }
layer { name: "fc" type: "InnerProduct" bottom: "x" top: "y" inner_product_param { num_output: 3 } }"""
    proto = write(tmp_path, "ip.prototxt", text)
    w = np.arange(18, dtype=np.float32).reshape(3, 6)
    model = caffe_pb2.NetParameter()
    layer = model.layer.add(name="fc", type="InnerProduct")
    layer.blobs.add().CopyFrom(caffeio.array_to_blob(w, legacy=True))  # stored 1x1x3x6
    layer.blobs.add().CopyFrom(caffeio.array_to_blob(np.ones(3), legacy=True))
    caffeio.write_caffemodel(model, str(tmp_path / "legacy.caffemodel"))
    a = caffe.Net(proto, caffe.TEST, weights=str(tmp_path / "legacy.caffemodel"))
    np.testing.assert_array_equal(a.params["fc"][0].data, w)
    b = caffe.Net(proto, caffe.TRAIN)
    b.share_with(a)
    a.params["fc"][0].data[0, 0] = 42
    assert b.params["fc"][0].data[0, 0] == 42


def test_state_rules_filter_layers(tmp_path):
    text = """name: "rules"
layer { name: "in" type: "Input" top: "x" input_param { shape { dim: 1 dim: 2 } } }
layer { name: "train_only" type: "ReLU" bottom: "x" top: "a" include { phase: TRAIN } }
layer { name: "test_only" type: "ReLU" bottom: "x" top: "b" include { phase: TEST } }
layer { name: "staged" type: "ReLU" bottom: "x" top: "c" include { stage: "deploy" } }
layer { name: "not_staged" type: "ReLU" bottom: "x" top: "d" include { not_stage: "deploy" } }
layer { name: "leveled" type: "ReLU" bottom: "x" top: "e" include { min_level: 2 } }
layer { name: "excluded" type: "ReLU" bottom: "x" top: "f" exclude { phase: TEST max_level: 0 } }
"""
    proto = write(tmp_path, "rules.prototxt", text)

    def names(net):  # the layers after the Input and its Split
        return [n for n in net._layer_names if n != "in" and not n.endswith("_split")]

    assert names(caffe.Net(proto, caffe.TRAIN)) == ["train_only", "not_staged", "excluded"]
    assert names(caffe.Net(proto, caffe.TEST)) == ["test_only", "not_staged"]
    assert names(caffe.Net(proto, caffe.TEST, stages=["deploy"], level=3)) == [
        "test_only",
        "staged",
        "leveled",
        "excluded",
    ]


TRAIN_NET = """name: "train"
force_backward: false
layer { name: "input" type: "Input" top: "data" top: "label" input_param { shape { dim: 2 dim: 3 dim: 5 dim: 5 } shape { dim: 2 dim: 1 dim: 5 dim: 5 } } }
layer { name: "conv" type: "Convolution" bottom: "data" top: "conv" param { lr_mult: 1 decay_mult: 1 } param { lr_mult: 2 decay_mult: 0 }
  convolution_param { num_output: 4 kernel_size: 3 pad: 1 weight_filler { type: "gaussian" std: 0.3 } } }
layer { name: "a" type: "Convolution" bottom: "conv" top: "a" param { name: "shared_w" } convolution_param { num_output: 4 kernel_size: 1 bias_term: false weight_filler { type: "gaussian" std: 0.3 } } }
layer { name: "b" type: "Convolution" bottom: "conv" top: "b" param { name: "shared_w" } convolution_param { num_output: 4 kernel_size: 1 bias_term: false } }
layer { name: "sum" type: "Eltwise" bottom: "a" bottom: "b" top: "score" }
layer { name: "loss" type: "SoftmaxWithLoss" bottom: "score" bottom: "label" top: "loss" loss_weight: 0.5 }
layer { name: "aux" type: "SoftmaxWithLoss" bottom: "a" bottom: "label" top: "aux" propagate_down: false propagate_down: false }
"""


def test_backward_semantics(tmp_path):
    proto = write(tmp_path, "train.prototxt", TRAIN_NET)
    net = caffe.Net(proto, caffe.TRAIN)
    rng = np.random.default_rng(1)
    net.blobs["data"].data[...] = rng.standard_normal((2, 3, 5, 5))
    net.blobs["label"].data[...] = rng.integers(0, 4, (2, 1, 5, 5))
    # shared params: learnable once, both layers see the same blob
    assert [(p.layer, p.index) for p in net.learnable_params_info] == [
        ("conv", 0),
        ("conv", 1),
        ("a", 0),
    ]
    assert net.params_lr == [1, 2, 1] and net.params_weight_decay == [1, 0, 1]
    assert net.params["b"][0] is net.params["a"][0]
    assert net.blob_loss_weights["loss"] == 0.5 and net.blob_loss_weights["aux"] == 1.0
    out = net.forward()
    net.backward()
    g1 = [p.diff.copy() for p in net.learnable_params]
    assert all(np.abs(g).max() > 0 for g in g1)
    assert abs(net.loss - (0.5 * float(out["loss"]) + float(out["aux"]))) < 1e-5
    # diffs accumulate across forward/backward passes (iter_size) until cleared
    net.forward()
    net.backward()
    for p, g in zip(net.learnable_params, g1):
        np.testing.assert_allclose(p.diff, 2 * g, rtol=1e-5, atol=1e-7)
    net.clear_param_diffs()
    assert not any(p.diff.any() for p in net.learnable_params)
    # propagate_down false on 'aux': a finite-difference check of the shared weight sees only
    # the main loss through 'a' and 'b' (the aux loss adds no bottom gradient)
    net.forward()
    net.backward()
    gw = net.params["a"][0].diff.copy()
    w = net.params["a"][0].data
    idx = (1, 2, 0, 0)
    old = float(w[idx])
    vals = []
    for d in (1e-2, -1e-2):
        w[idx] = old + d
        vals.append(0.5 * float(net.forward()["loss"]))
    w[idx] = old
    assert abs((vals[0] - vals[1]) / 2e-2 - gw[idx]) < 2e-3 * max(1, abs(gw[idx]))
    # partial backward: only layers start..end run
    net.clear_param_diffs()
    net.forward()
    net.backward(start="sum", end="a")
    assert net.params["a"][0].diff.any() and not net.params["conv"][0].diff.any()
    # a second backward without a forward computes from the blobs as they are (pycaffe's
    # rule): the same gradients again, accumulated
    g = net.params["a"][0].diff.copy()
    net.backward(start="sum", end="a")
    np.testing.assert_allclose(net.params["a"][0].diff, 2 * g, rtol=1e-5, atol=1e-7)


def test_deploy_backward_needs_force_backward(tmp_path):
    proto = write(tmp_path, "deploy.prototxt", DEPLOY)
    net = caffe.Net(proto, caffe.TEST)
    assert not net.record_grad and not any(net.layer_need_backward)
    net.forward()
    assert all(v is None or not v.requires_grad for v in [net.blobs["out"].data_tensor])
    text = "force_backward: true\n" + DEPLOY
    forced = caffe.Net(write(tmp_path, "forced.prototxt", text), caffe.TEST)
    forced.params["score"][0].data[...] = 1  # default filler is constant 0: no gradient
    forced.blobs["data"].data[...] = np.random.default_rng(0).standard_normal((1, 3, 8, 10))
    forced.forward()
    d = forced.backward(out=np.ones((1, 5, 8, 10)))["data"]
    assert d.shape == (1, 3, 8, 10) and np.abs(d).max() > 0
    assert forced.params["upscore"][0].diff.any()  # force_backward computes every param diff


# ------------------------------------------------------------------ Python layers
PY_LAYERS = '''
import ast
import numpy as np
import torchcaffe as caffe


class VaryingData(caffe.Layer):
    """Whole "images" of a different size every forward."""

    def setup(self, bottom, top):
        self.params = ast.literal_eval(self.param_str)
        self.sizes = self.params["sizes"]
        self.i = 0
        self.reshapes = 0

    def reshape(self, bottom, top):
        h, w = self.sizes[self.i % len(self.sizes)]
        top[0].reshape(1, 2, h, w)
        top[1].reshape(1, 1, h, w)
        self.reshapes += 1

    def forward(self, bottom, top):
        h, w = top[0].data.shape[2:]
        top[0].data[...] = np.arange(2 * h * w).reshape(1, 2, h, w) % 5
        top[1].data[...] = (np.arange(h * w) % 3).reshape(1, 1, h, w)
        self.i += 1

    def backward(self, top, propagate_down, bottom):
        pass


class EuclideanLoss(caffe.Layer):
    def reshape(self, bottom, top):
        top[0].reshape(1)

    def forward(self, bottom, top):
        self.d = bottom[0].data - bottom[1].data
        top[0].data[0] = 0.5 * np.sum(self.d ** 2)

    def backward(self, top, propagate_down, bottom):
        assert isinstance(top[0].diff, np.ndarray)
        if propagate_down[0]:
            bottom[0].diff[...] = self.d * top[0].diff[0]
'''


@pytest.fixture()
def pymods(tmp_path, monkeypatch):
    pkg = tmp_path / "mypkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "pylayers.py").write_text(textwrap.dedent(PY_LAYERS))
    monkeypatch.chdir(tmp_path)  # pycaffe: the working directory is importable
    yield tmp_path
    for m in [m for m in sys.modules if m.startswith("mypkg")]:
        del sys.modules[m]


def test_python_layers_varying_shapes(pymods):
    text = """name: "py"
layer { name: "data" type: "Python" top: "data" top: "label" python_param { module: "mypkg.pylayers" layer: "VaryingData" param_str: "{'sizes': [(4, 5), (7, 3), (6, 6)]}" } }
layer { name: "conv" type: "Convolution" bottom: "data" top: "conv" convolution_param { num_output: 1 kernel_size: 3 pad: 1 weight_filler { type: "gaussian" std: 0.5 } } }
layer { name: "loss" type: "Python" bottom: "conv" bottom: "label" top: "loss" loss_weight: 1 python_param { module: "mypkg.pylayers" layer: "EuclideanLoss" } }
"""
    proto = write(pymods, "py.prototxt", text)
    net = caffe.Net(proto, caffe.TRAIN)
    layer = net.layer_dict["data"]
    assert layer.phase == caffe.TRAIN and layer.params["sizes"][0] == (4, 5)
    shapes = []
    for _ in range(3):
        net.clear_param_diffs()
        net.forward()
        net.backward()
        shapes.append(net.blobs["conv"].shape)
        x, lab = net.blobs["data"].data, net.blobs["label"].data
        w, b = net.params["conv"][0].data, net.params["conv"][1].data

        # NumPy reference of conv + Euclidean loss and its weight gradient
        def loss_of(w_, x=x, b=b, lab=lab):
            return 0.5 * np.sum((np_conv(x.astype(np.float64), w_, b, pad=(1, 1)) - lab) ** 2)

        assert abs(float(net.blobs["loss"].data[0]) - loss_of(w)) < 1e-3
        ref = numeric_grad(loss_of, w, 1.0)
        np.testing.assert_allclose(net.params["conv"][0].diff, ref, rtol=1e-3, atol=1e-3)
    assert shapes == [(1, 1, 4, 5), (1, 1, 7, 3), (1, 1, 6, 6)]
    assert layer.reshapes >= 3  # reshape before every forward


# ------------------------------------------------------------------ Data layer (LMDB)
def test_data_layer_lmdb(tmp_path):
    lmdb = pytest.importorskip("lmdb")
    env = lmdb.open(str(tmp_path / "db"), map_size=1 << 24)
    imgs = [np.random.default_rng(i).integers(0, 256, (3, 6, 7), dtype=np.uint8) for i in range(3)]
    with env.begin(write=True) as txn:
        for i, im in enumerate(imgs):
            d = caffe_pb2.Datum(channels=3, height=6, width=7, data=im.tobytes(), label=i)
            txn.put(f"{i:08d}".encode(), d.SerializeToString())
    env.close()
    text = f"""layer {{ name: "data" type: "Data" top: "data" top: "label"
  data_param {{ source: "{tmp_path / "db"}" batch_size: 2 backend: LMDB }}
  transform_param {{ crop_size: 4 scale: 0.5 mean_value: 10 mean_value: 20 mean_value: 30 }} }}"""
    net = caffe.Net(caffeio.net_from_text(text), caffe.TEST)
    assert net.blobs["data"].shape == (2, 3, 4, 4)
    mean = np.array([10, 20, 30], np.float32)[:, None, None]
    for batch in ([0, 1], [2, 0]):
        net.forward()
        for k, i in enumerate(batch):
            want = (imgs[i][:, 1:5, 1:5].astype(np.float32) - mean) * 0.5  # centred crop in TEST
            np.testing.assert_array_equal(net.blobs["data"].data[k], want)
        np.testing.assert_array_equal(net.blobs["label"].data, batch)


def test_v1_prototxt_upgrades(tmp_path):
    text = """name: "old"
input: "data"
input_dim: 1 input_dim: 2 input_dim: 5 input_dim: 5
layers { name: "conv" type: CONVOLUTION bottom: "data" top: "conv" blobs_lr: 1 blobs_lr: 2 convolution_param { num_output: 3 kernel_size: 3 } }
layers { name: "relu" type: RELU bottom: "conv" top: "conv" }
"""
    net = caffe.Net(write(tmp_path, "v1.prototxt", text), caffe.TEST)
    assert net.inputs == ["data"] and net.blobs["conv"].shape == (1, 3, 3, 3)
    assert net.params_lr == [1, 2]


# ------------------------------------------------------------------ bad input
def test_errors_name_the_layer(tmp_path, pymods):
    bad = DEPLOY.replace('type: "ReLU"', 'type: "ReLUX"')
    with pytest.raises(
        caffe.NetError, match=r"bad1.prototxt:\d+.*layer 'relu1' has unknown type 'ReLUX'"
    ):
        caffe.Net(write(tmp_path, "bad1.prototxt", bad), caffe.TEST)
    bad = DEPLOY.replace('bottom: "pool1"', 'bottom: "pool_1"')
    with pytest.raises(caffe.NetError, match=r"bad2.prototxt:\d+: layer 'score'.*'pool_1'"):
        caffe.Net(write(tmp_path, "bad2.prototxt", bad), caffe.TEST)
    bad = 'layer { name: "feed" type: "Python" top: "x" python_param { module: "no_such_mod" layer: "L" } }'
    with pytest.raises(caffe.NetError, match=r"layer 'feed'.*'no_such_mod'.*sys.path"):
        caffe.Net(write(tmp_path, "bad3.prototxt", bad), caffe.TEST)
    proto = write(tmp_path, "deploy.prototxt", DEPLOY)
    other = DEPLOY.replace("num_output: 5 kernel_size: 1", "num_output: 7 kernel_size: 1")
    net = caffe.Net(write(tmp_path, "other.prototxt", other), caffe.TEST)
    net.save(str(tmp_path / "other.caffemodel"))
    with pytest.raises(
        caffe.NetError, match=r"layer 'score'.*\(7, 4, 1, 1\) vs target \(5, 4, 1, 1\)"
    ):
        caffe.Net(proto, caffe.TEST, weights=str(tmp_path / "other.caffemodel"))
    # crop out of range at a given input size: the upscored map is too small for offset 9
    bad = DEPLOY.replace("offset: 1", "offset: 9")
    net = None
    with pytest.raises(caffe.NetError, match=r"layer 'crop'.*offset 9 \+ size 8.*> 10"):
        caffe.Net(write(tmp_path, "bad5.prototxt", bad), caffe.TEST)
    net = caffe.Net(proto, caffe.TEST)
    net.blobs["data"].reshape(1, 3, 9, 9)  # upscore 10x10 from a 9x9 input: offset 1 still fits
    net.forward()
    with pytest.raises(caffe.NetError, match="layer 'crop'"):
        caffe.Net(
            write(tmp_path, "bad6.prototxt", DEPLOY.replace("offset: 1", "offset: 3")), caffe.TEST
        )
    assert os.path.exists(proto)
