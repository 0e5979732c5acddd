"""General fcnize (docs/backbones.md) on GoogLeNet, ResNet, VGG-16 and AlexNet classifiers.

Oracles: the float64 torch forward of tests.fixtures_ilsvrc run on the classifier (scores must
agree to 1e-9 relative) and torchcaffe in float32 (torchcaffe runs float32 only: 1e-4 relative
to the largest score). VGG-16 and AlexNet: the files are those of the dedicated fcnize of
commit 30d5df6 (SHA-256 recorded here from that code before it was removed).
"""

import hashlib

import numpy as np
import pytest

import caffeio
from surgery import ParamSet, SurgeryError
from surgery.__main__ import main
from surgery.fcnize import fcnize, fcnize_params
from tests import fixtures_ilsvrc as testnets
from tests.fixtures_ilsvrc import forward
from zoo.classifiers import random_weights

W = 1 / 16
# name -> (arch, builder options, legacy, score top, trunk top before the final pool, kernel)
NETS = {
    "googlenet": ("googlenet", dict(size=96), False, "loss3/classifier", "inception_5b/output", 3),
    "googlenet-v1-224": ("googlenet", dict(size=224), True, "loss3/classifier", None, 7),
    "resnet50": ("resnet50", dict(size=64), False, "fc1000", "res5c", 2),
    "resnet50-global": ("resnet50", dict(size=64, global_pool=True), False, "fc1000", "res5c", 2),
    "resnet101": ("resnet101", dict(size=64), False, "fc1000", "res5c", 2),
    "vgg16-v1": ("vgg16", dict(), True, "fc8", None, 7),
    "alexnet": ("alexnet", dict(), False, "fc8", None, 6),
}
SIZES = {"vgg16": 224, "alexnet": 227}


def _size(name):
    arch, opts = NETS[name][:2]
    return opts.get("size", SIZES.get(arch))


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    """{name: (proto, weights)} of every classifier in NETS, 10 classes, on disk."""
    root = tmp_path_factory.mktemp("classifiers")
    out = {}
    for name, (arch, opts, legacy, *_) in NETS.items():
        width = 1 / 8 if arch == "alexnet" else W
        out[name] = testnets.write_classifier(
            root / name, arch, width, num_classes=10, legacy=legacy, **opts
        )
    return out


def image(size, seed=0):
    return np.random.default_rng(seed).standard_normal((1, 3, size, size)) * 50


def _rel(a, b):
    return float(np.abs(a - b).max() / np.abs(b).max())


@pytest.mark.parametrize("name", list(NETS))
def test_native_size_gives_the_classifier_scores_float64(written, name):
    proto, weights = written[name]
    score = NETS[name][3]
    x = image(_size(name))
    ref = forward(caffeio.read_net(proto), caffeio.load_params(weights), {"data": x})
    pset, fc_def, _ = fcnize_params(proto, weights, verbose=False)
    out = forward(fc_def, pset.arrays(), {"data": x})
    assert out[score].shape == (1, 10, 1, 1)
    assert np.abs(ref[score]).max() > 1e-2  # not a trivially zero net
    assert _rel(out[score][:, :, 0, 0], ref[score]) <= 1e-9
    assert _rel(out["prob"][:, :, 0, 0], ref["prob"]) <= 1e-9


@pytest.mark.parametrize("name", ["googlenet", "googlenet-v1-224", "resnet50-global", "vgg16-v1"])
def test_native_size_gives_the_classifier_scores_in_torchcaffe(written, tmp_path, name):
    caffe = pytest.importorskip("torchcaffe")
    proto, weights = written[name]
    out, out_proto = str(tmp_path / "fcn.caffemodel"), str(tmp_path / "fcn.prototxt")
    fcnize(proto, weights, out, out_proto=out_proto, verbose=False)
    x = image(_size(name)).astype(np.float32)
    score = NETS[name][3]
    ref = caffe.Net(proto, caffe.TEST, weights=weights)
    ref.forward(data=x)
    fcn = caffe.Net(out_proto, caffe.TEST, weights=out)
    fcn.forward(data=x)
    a, b = fcn.blobs[score].data[:, :, 0, 0], ref.blobs[score].data
    assert _rel(a, b) <= 1e-4
    # a larger input runs and gives a dense map (stride 32: two more cells each way)
    fcn.forward(data=image(_size(name) + 64, seed=1).astype(np.float32))
    assert fcn.blobs[score].data.shape == (1, 10, 3, 3)


@pytest.mark.parametrize("name", ["googlenet", "resnet50", "resnet50-global"])
def test_score_map_is_the_head_on_each_window_of_the_last_map(written, name):
    # Zero padding inside the trunk makes a crop's classifier differ from the FCN at every
    # cell, so here each cell is checked against the head (AVE pool window -> fc) slid over
    # the last trunk map, which is exactly what fcnize claims to compute.
    proto, weights = written[name]
    _, _, _, score, trunk, k = NETS[name]
    pset, fc_def, _ = fcnize_params(proto, weights, verbose=False)
    out = forward(fc_def, pset.arrays(), {"data": image(_size(name) + 64, seed=2)})
    w, b = (a.astype(np.float64) for a in caffeio.load_params(weights)[score])
    assert out[score].shape == (1, 10, 3, 3)
    for i, j in ((0, 0), (1, 2), (2, 1)):
        window = out[trunk][0, :, i : i + k, j : j + k].mean(axis=(1, 2))
        ref = w.reshape(10, -1) @ window + b.reshape(-1)
        assert _rel(out[score][0, :, i, j], ref) <= 1e-9


@pytest.mark.parametrize("arch, size", [("vgg16", 212), ("alexnet", 227)])
def test_padding_free_score_cells_are_the_classifier_on_crops(arch, size):
    width = W if arch == "vgg16" else 1 / 8
    net = testnets.classifier_net(arch, width, num_classes=10, size=size, pad=False)
    params = random_weights(net, seed=3)
    pset, fc_def, _ = fcnize_params(net, ParamSet(params, net), verbose=False)
    big = image(size + 64, seed=4)
    score = forward(fc_def, pset.arrays(), {"data": big})["fc8"]
    assert score.shape == (1, 10, 3, 3)
    for i, j in ((0, 2), (2, 1)):
        crop = big[:, :, 32 * i : 32 * i + size, 32 * j : 32 * j + size]
        ref = forward(net, params, {"data": crop})["fc8"][0]
        assert _rel(score[0, :, i, j], ref) <= 1e-9


# Written by the dedicated VGG-16 / AlexNet fcnize of commit 30d5df6 for
# zoo.classifiers.write_classifier(arch, 1/16 or 1/8, 1000 classes, seed 0): (caffemodel,
# prototxt).
DEDICATED = {
    ("vgg16", False): (
        "784548f4391e11155685d87f8024b82cd26d40c1799c772824ff0d6254dc28db",
        "1bbaa866c2809e3cfb49d1255ee2c261e84e897d74046b2132a43f63e413d6a0",
    ),
    ("vgg16", True): (
        "53bca71fb409669358068dd7078011aad4539121b88a67be39b57049afa99964",
        "24bbdfba69ec0900d5c8d89643cef61f631962b56e087cd8038f306f26860d02",
    ),
    # the net named "CaffeNet" (it was "AlexNet": with that name the files are the former
    # command's d747f456../209d370d.. and c9614be9../3a0565b0.., byte for byte)
    ("alexnet", False): (
        "0a8154aa387856a95461a7005738f9b623b65ca85abccc25d97b50815b98c84a",
        "db82d66fe66e4fbae0986321a188211d1ff947ecdc954e83dcddf15f0077d01a",
    ),
    ("alexnet", True): (
        "f296d79f27b44b42e96fe024248a267cb58ce8620f6bcdc86d74caaa3a689ca3",
        "7f6cadd8214981aaf0eff51b6c48e1d123a2bae0aabb90b663740f2e79ea6fe1",
    ),
}


@pytest.mark.parametrize("arch, legacy", list(DEDICATED))
def test_vgg16_and_alexnet_give_the_dedicated_paths_files(tmp_path, arch, legacy):
    width = W if arch == "vgg16" else 1 / 8
    proto, weights = testnets.write_classifier(tmp_path, arch, width, legacy=legacy)
    out, out_proto = tmp_path / "fcn.caffemodel", tmp_path / "fcn.prototxt"
    fcnize(proto, weights, str(out), out_proto=str(out_proto), verbose=False)
    digests = tuple(hashlib.sha256(p.read_bytes()).hexdigest() for p in (out, out_proto))
    assert digests == DEDICATED[arch, legacy]


def test_googlenet_v1_and_current_give_the_same_weights(tmp_path):
    outs = []
    for legacy in (False, True):
        proto, weights = testnets.write_classifier(
            tmp_path / str(legacy), "googlenet", W, num_classes=10, legacy=legacy, size=96
        )
        assert ("layers {" in open(proto).read()) == legacy
        out = tmp_path / f"{legacy}.caffemodel"
        fcnize(proto, weights, str(out), verbose=False)
        outs.append(caffeio.load_params(str(out)))
    assert list(outs[0]) == list(outs[1]) and "inception_4e/5x5_reduce" in outs[0]
    for name in outs[0]:
        for a, b in zip(outs[0][name], outs[1][name]):
            assert a.shape == b.shape and a.tobytes() == b.tobytes(), name


def test_resnet_has_no_v1_form(tmp_path):
    with pytest.raises(ValueError, match="BatchNorm has no V1 enum"):
        testnets.write_classifier(tmp_path, "resnet50", W, legacy=True, size=64)


def test_resnet_layout():
    net = testnets.classifier_net("resnet101", width=W, size=64)
    names = [layer.name for layer in net.layer]
    assert "res4b22" in names and "res4b23" not in names and "res3b3" in names
    by = {layer.name: layer for layer in net.layer}
    assert list(by["res3a_branch2a"].convolution_param.stride) == [2]
    assert not by["res3a_branch2b"].convolution_param.stride
    assert by["bn3a_branch2a"].top == by["bn3a_branch2a"].bottom  # in place
    assert by["scale3a_branch2a"].scale_param.bias_term
    params = random_weights(net)
    assert [a.shape for a in params["bn_conv1"]] == [(4,), (4,), (1,)]


def test_cli_prints_the_conversions(written, tmp_path, capsys):
    proto, weights = written["resnet50-global"]
    out, out_proto = str(tmp_path / "r.caffemodel"), str(tmp_path / "r.prototxt")
    args = ["fcnize", "--proto", proto, "--weights", weights, "--out", out]
    assert main(args + ["--out-proto", out_proto]) == 0
    printed = capsys.readouterr().out
    assert "fcnize (ResNet-50)" in printed
    assert "pool5: global AVE pooling over 2x2 -> AVE 2x2 stride 1" in printed
    assert "fc1000: InnerProduct over 128x1x1 -> Convolution 1x1" in printed
    assert "copied: bn_conv1" in printed and "reshaped: fc1000" in printed
    pool5 = next(x for x in caffeio.read_net(out_proto).layer if x.name == "pool5")
    assert not pool5.pooling_param.global_pooling and pool5.pooling_param.kernel_size == 2


NOT_CONVERTIBLE = {
    "Reshape": ('type: "Reshape" reshape_param { shape { dim: 0 dim: 4 dim: -1 } }', "reshape"),
    "ArgMax": ('type: "ArgMax"', "argmax"),
    "MVN": ('type: "MVN"', "mvn"),
}


@pytest.mark.parametrize("kind", list(NOT_CONVERTIBLE))
def test_layers_without_a_convolutional_form_are_named(kind):
    text, name = NOT_CONVERTIBLE[kind]
    net = caffeio.net_from_text(
        'layer { name: "data" type: "Input" top: "data" '
        "input_param { shape { dim: 1 dim: 3 dim: 8 dim: 8 } } }\n"
        'layer { name: "conv/1" type: "Convolution" bottom: "data" top: "conv/1" '
        "convolution_param { num_output: 4 kernel_size: 3 } }\n"
        f'layer {{ name: "{name}" {text} bottom: "conv/1" top: "x" }}\n'
        'layer { name: "fc" type: "InnerProduct" bottom: "x" top: "fc" '
        "inner_product_param { num_output: 2 } }\n"
    )
    with pytest.raises(SurgeryError, match=f"layer '{name}' \\({kind}\\)"):
        fcnize_params(net, ParamSet({}), verbose=False)


def test_train_val_net_needs_the_native_size_and_drops_the_loss():
    text = (
        'layer { name: "data" type: "Data" top: "data" top: "label" }\n'
        'layer { name: "conv1" type: "Convolution" bottom: "data" top: "conv1" '
        "convolution_param { num_output: 4 kernel_size: 3 stride: 2 } }\n"
        'layer { name: "fc" type: "InnerProduct" bottom: "conv1" top: "fc" '
        "inner_product_param { num_output: 3 } }\n"
        'layer { name: "loss" type: "SoftmaxWithLoss" bottom: "fc" bottom: "label" top: "l" }\n'
        'layer { name: "acc" type: "Accuracy" bottom: "fc" bottom: "label" top: "a" }\n'
    )
    net = caffeio.net_from_text(text)
    params = {"conv1": [np.ones((4, 3, 3, 3), np.float32), np.zeros(4, np.float32)]}
    params["fc"] = [np.ones((3, 4 * 7 * 7), np.float32), np.zeros(3, np.float32)]
    with pytest.raises(SurgeryError, match="--size"):
        fcnize_params(net, ParamSet(params), verbose=False)
    _, fc_def, report = fcnize_params(net, ParamSet(params), size=15, verbose=False)
    assert [x.name for x in fc_def.layer] == ["data", "conv1", "fc"]
    assert list(fc_def.layer[2].convolution_param.kernel_size) == [7]
    assert any("loss: SoftmaxWithLoss dropped" in n for n in report.notes)
