"""fcnize: a classifier and its fully convolutional twin compute the same scores (paper 3.1)."""

import numpy as np
import pytest

import caffeio
from surgery import SurgeryError, param_shapes
from surgery.__main__ import main
from surgery.fcnize import fcnize, fcnize_params, fully_conv_definition
from tests import fixtures_ilsvrc as testnets
from tests.fixtures_ilsvrc import forward
from zoo.classifiers import random_weights

VGG_W, ALEX_W = 1 / 16, 1 / 8


@pytest.fixture(scope="module")
def classifiers(tmp_path_factory):
    """{(arch, legacy): (proto, weights)} written once per module."""
    root = tmp_path_factory.mktemp("ilsvrc")
    out = {}
    for arch, width in (("vgg16", VGG_W), ("alexnet", ALEX_W)):
        for legacy in (False, True):
            out[arch, legacy] = testnets.write_classifier(root, arch, width, legacy=legacy)
    return out


def image(size, seed=0):
    return np.random.default_rng(seed).standard_normal((1, 3, size, size)) * 50


def fcnized(proto, weights):
    pset, fc_def, report = fcnize_params(proto, weights, verbose=False)
    return fc_def, pset.arrays(), report


@pytest.mark.parametrize("arch, size", [("vgg16", 224), ("alexnet", 227)])
def test_same_scores_at_the_classifier_input_size(classifiers, arch, size):
    proto, weights = classifiers[arch, False]
    x = image(size)
    ref = forward(caffeio.read_net(proto), caffeio.load_params(weights), {"data": x})
    fc_def, params, report = fcnized(proto, weights)
    out = forward(fc_def, params, {"data": x})
    assert out["fc8"].shape == (1, 1000, 1, 1)
    assert len(report.reshaped) == 3  # fc6, fc7, fc8 weights
    assert np.abs(ref["fc8"]).max() > 1e-3  # not a trivially zero net
    np.testing.assert_allclose(out["fc8"][:, :, 0, 0], ref["fc8"], rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(out["prob"][:, :, 0, 0], ref["prob"], rtol=1e-10, atol=1e-14)


def _head(params, window):
    """Classifier head (fc6 -> relu -> fc7 -> relu -> fc8) with InnerProduct weights."""
    h = window.reshape(-1)
    for name in ("fc6", "fc7", "fc8"):
        w, b = params[name]
        h = w.reshape(w.shape[-2:]).astype(np.float64) @ h + b.reshape(-1)
        if name != "fc8":
            h = np.maximum(h, 0)
    return h


@pytest.mark.parametrize("arch, size, k", [("vgg16", 224, 7), ("alexnet", 227, 6)])
def test_score_map_is_the_classifier_head_slid_over_pool5(classifiers, arch, size, k):
    proto, weights = classifiers[arch, False]
    fc_def, params, _ = fcnized(proto, weights)
    src = caffeio.load_params(weights)
    out = forward(fc_def, params, {"data": image(size + 64, seed=1)})
    score = out["fc8"]
    assert score.shape[2:] == (3, 3)  # stride 32: two more positions each way
    for i in range(3):
        for j in range(3):
            window = out["pool5"][0, :, i : i + k, j : j + k]
            np.testing.assert_allclose(score[0, :, i, j], _head(src, window), rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize(
    "arch, size",
    [("vgg16", 212), ("alexnet", 227)],
)
def test_padding_free_fcn_contains_the_classifier_scores_of_every_crop(tmp_path, arch, size):
    # With no zero padding inside the trunk, the FCN's score at (i, j) on a larger image is
    # exactly the classifier's score on the crop at (32 i, 32 j): section 3.1 in full.
    if arch == "vgg16":
        net = testnets.classifier_net("vgg16", VGG_W, num_classes=10, size=size, pad=False)
    else:
        net = testnets.classifier_net("alexnet", ALEX_W, num_classes=10, size=size, pad=False)
    params = random_weights(net, seed=3)
    fc_def, fc_params, _ = fcnized(net, _pset(params, net))
    big = image(size + 64, seed=2)
    score = forward(fc_def, fc_params, {"data": big})["fc8"]
    assert score.shape == (1, 10, 3, 3)
    for i in range(3):
        for j in range(3):
            crop = big[:, :, 32 * i : 32 * i + size, 32 * j : 32 * j + size]
            ref = forward(net, params, {"data": crop})["fc8"][0]
            np.testing.assert_allclose(score[0, :, i, j], ref, rtol=1e-9, atol=1e-9)


def _pset(params, net):
    from surgery import ParamSet

    return ParamSet(params, net)


@pytest.mark.parametrize("arch", ["vgg16", "alexnet"])
def test_v1_inputs_give_the_same_weights(classifiers, tmp_path, arch):
    outs = []
    for legacy in (False, True):
        proto, weights = classifiers[arch, legacy]
        assert ("layers {" in open(proto).read()) == legacy
        out = tmp_path / f"{arch}-{legacy}.caffemodel"
        fcnize(proto, weights, str(out), verbose=False)
        outs.append(caffeio.load_params(str(out)))
    assert list(outs[0]) == list(outs[1])
    for name in outs[0]:
        for a, b in zip(outs[0][name], outs[1][name]):
            assert a.shape == b.shape and a.tobytes() == b.tobytes(), name


def test_fcnized_caffemodel_holds_the_fully_conv_net(classifiers, tmp_path):
    proto, weights = classifiers["vgg16", True]
    out, out_proto = tmp_path / "vgg16-fcn.caffemodel", tmp_path / "fcn.prototxt"
    fcnize(proto, weights, str(out), out_proto=str(out_proto), verbose=False)
    stored = caffeio.read_caffemodel(str(out))
    types = {layer.name: layer.type for layer in stored.layer}
    assert types["fc6"] == types["fc7"] == types["fc8"] == "Convolution"
    fc6 = next(layer for layer in stored.layer if layer.name == "fc6")
    assert list(fc6.convolution_param.kernel_size) == [7]
    assert caffeio.blob_shape(fc6.blobs[0]) == (256, 32, 7, 7)
    assert caffeio.read_net(str(out_proto)).layer[-1].name == "prob"


def test_netspec_fully_conv_twin_has_the_same_param_shapes():
    ilsvrc = pytest.importorskip("zoo.ilsvrc")
    for build, w in ((ilsvrc.vgg16, VGG_W), (ilsvrc.alexnet, ALEX_W)):
        ours, _, _ = fully_conv_definition(build(width=w))
        assert param_shapes(ours) == param_shapes(build(width=w, fully_conv=True))


def test_cli_prints_and_never_overwrites(classifiers, tmp_path, capsys):
    proto, weights = classifiers["alexnet", True]
    out = str(tmp_path / "alexnet-fcn.caffemodel")
    args = ["fcnize", "--proto", proto, "--weights", weights, "--out", out]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "fcnize (CaffeNet)" in printed and "reshaped: fc6" in printed and out in printed
    assert "fc6: InnerProduct over 32x6x6 -> Convolution 6x6" in printed
    before = open(out, "rb").read()
    assert main(args) == 2
    assert "already exists" in capsys.readouterr().err
    assert main(args + ["--force", "--arch", "alexnet"]) == 0
    assert open(out, "rb").read() == before


def test_weights_of_another_net_are_refused(classifiers, tmp_path):
    proto, _ = classifiers["vgg16", False]
    _, alex_weights = classifiers["alexnet", False]
    with pytest.raises(SurgeryError, match="holds no weights for layer.*conv1_1"):
        fcnize(proto, alex_weights, str(tmp_path / "x.caffemodel"), verbose=False)


def test_train_val_net_takes_the_native_size_from_arch():
    # a prototxt that states no input shape (Data layers): --arch or --size gives it
    deploy = testnets.classifier_net("vgg16", VGG_W)
    net = testnets.classifier_net("vgg16", VGG_W)
    net.layer[0].type = "Data"
    net.layer[0].ClearField("input_param")
    params = _pset(random_weights(deploy), deploy)
    with pytest.raises(SurgeryError, match="--size"):
        fcnize_params(net, params, verbose=False)
    for kw in (dict(arch="vgg16"), dict(size=224)):
        _, fc_def, _ = fcnize_params(net, params, verbose=False, **kw)
        fc6 = next(layer for layer in fc_def.layer if layer.name == "fc6")
        assert list(fc6.convolution_param.kernel_size) == [7]
