"""fcnize on six more classifier families (tests.fixtures_families): SqueezeNet v1.1,
MobileNet-v1, DenseNet-121, NiN, BN-Inception and a PReLU VGG-16, width 1/16, 10 classes, random
weights, current format and (SqueezeNet, NiN) V1.

Oracles: the float64 forward of tests.fixtures_ilsvrc (the classifier and its FCN agree at the
native size; each cell of the dense map on a larger input is the classifier's head on its window
of the last trunk map; in the padding-free variants, the classifier on the matching crop) and
torchcaffe (float32). The measured differences are printed (pytest -s); the README quotes them.
"""

import numpy as np
import pytest

import caffeio
from caffeio import caffe_pb2
from surgery import ParamSet, SurgeryError
from surgery.__main__ import main
from surgery.fcnize import fcnize, fcnize_params
from tests.fixtures_families import FAMILIES, family_net, prelu_vgg16, write_family
from tests.fixtures_ilsvrc import forward
from zoo.classifiers import random_weights

W = 1 / 16
CASES = [(name, False) for name in FAMILIES] + [
    (name, True) for name, f in FAMILIES.items() if f.v1
]
IDS = [f"{name}{'-v1' if legacy else ''}" for name, legacy in CASES]
# what fcnize must report converting, per family
CONVERSIONS = {
    "squeezenet": "pool10: global AVE pooling over 14x14 -> AVE 14x14 stride 1",
    "mobilenet": "pool6: global AVE pooling over 7x7 -> AVE 7x7 stride 1",
    "densenet121": "pool5: global AVE pooling over 7x7 -> AVE 7x7 stride 1",
    "nin": "pool4: AVE 6x6 covers the 6x6 map and slides with stride 1",
    "bn_inception": "fc: InnerProduct over 64x1x1 -> Convolution 1x1",
    "prelu_vgg16": "fc6: InnerProduct over 32x7x7 -> Convolution 7x7",
}


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    """{(family, legacy): (proto, weights)} on disk."""
    root = tmp_path_factory.mktemp("families")
    return {
        (name, legacy): write_family(root / name, name, W, num_classes=10, legacy=legacy)
        for name, legacy in CASES
    }


def image(size, seed=0):
    return np.random.default_rng(seed).standard_normal((1, 3, size, size)) * 50


def rel(a, b):
    """max |a - b| / max |b|."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.abs(a - b).max() / np.abs(b).max())


def head_net(net, trunk, shape):
    """The layers of classifier `net` from its final pooling (the first layer reading `trunk`
    without writing it) on, fed by an Input `trunk` of `shape`: the classifier's head."""
    start = next(i for i, x in enumerate(net.layer) if trunk in x.bottom and trunk not in x.top)
    head = caffe_pb2.NetParameter()
    data = head.layer.add(name="window", type="Input", top=[trunk])
    data.input_param.shape.add().dim.extend(shape)
    head.layer.extend(net.layer[start:])
    return head


@pytest.mark.parametrize("name, legacy", CASES, ids=IDS)
def test_native_size_gives_the_classifier_outputs_float64(written, name, legacy):
    f = FAMILIES[name]
    proto, weights = written[name, legacy]
    x = image(f.size)
    ref = forward(caffeio.read_net(proto), caffeio.load_params(weights), {"data": x})
    pset, fc_def, report = fcnize_params(proto, weights, verbose=False)
    assert CONVERSIONS[name] in report.notes
    out = forward(fc_def, pset.arrays(), {"data": x})
    assert out[f.score].shape == (1, 10, 1, 1)
    assert np.abs(ref[f.score]).max() > 1e-2  # not a trivially zero net
    d = rel(out[f.score].reshape(ref[f.score].shape), ref[f.score])
    print(f"{name}{' V1' if legacy else ''}: native size, float64: score rel diff {d:.1e}")
    assert d <= 1e-12
    assert rel(out[f.out].reshape(ref[f.out].shape), ref[f.out]) <= 1e-12


@pytest.mark.parametrize("name", list(FAMILIES))
def test_native_size_and_dense_map_in_torchcaffe(written, tmp_path, name):
    caffe = pytest.importorskip("torchcaffe")
    f = FAMILIES[name]
    proto, weights = written[name, False]
    out, out_proto = str(tmp_path / "fcn.caffemodel"), str(tmp_path / "fcn.prototxt")
    fcnize(proto, weights, out, out_proto=out_proto, verbose=False)
    x = image(f.size).astype(np.float32)
    ref = caffe.Net(proto, caffe.TEST, weights=weights)
    ref.forward(data=x)
    fcn = caffe.Net(out_proto, caffe.TEST, weights=out)
    fcn.forward(data=x)
    a, b = fcn.blobs[f.score].data, ref.blobs[f.score].data
    d = rel(a.reshape(b.shape), b)
    print(f"{name}: native size, torchcaffe float32: score rel diff {d:.1e}")
    assert d <= 1e-5
    # two strides more each way: a 3 x 3 map, equal to the float64 FCN's
    big = image(f.size + 2 * f.stride, seed=1)
    fcn.forward(data=big.astype(np.float32))
    dense = fcn.blobs[f.score].data
    assert dense.shape == (1, 10, 3, 3)
    pset, fc_def, _ = fcnize_params(proto, weights, verbose=False)
    d = rel(dense, forward(fc_def, pset.arrays(), {"data": big})[f.score])
    print(f"{name}: dense 3x3 map, torchcaffe float32 vs float64: rel diff {d:.1e}")
    assert d <= 1e-4


@pytest.mark.parametrize("name", list(FAMILIES))
def test_each_cell_is_the_classifier_head_on_its_window(written, name):
    # With zero padding inside the trunk a crop's classifier sees zeros where the FCN sees
    # neighbours, so every family is checked here against the classifier's own head layers run
    # on the cell's window of the last trunk map (the padding-free crops follow below).
    f = FAMILIES[name]
    proto, weights = written[name, False]
    net, params = caffeio.upgrade_net(caffeio.read_net(proto)), caffeio.load_params(weights)
    native = forward(net, params, {"data": image(f.size)})[f.trunk].shape
    pset, fc_def, _ = fcnize_params(proto, weights, verbose=False)
    out = forward(fc_def, pset.arrays(), {"data": image(f.size + 2 * f.stride, seed=2)})
    assert out[f.score].shape == (1, 10, 3, 3)
    k = native[2]
    head = head_net(net, f.trunk, native)
    worst = 0.0
    for i, j in ((0, 0), (1, 2), (2, 1)):
        window = out[f.trunk][:, :, i : i + k, j : j + k]
        ref = forward(head, params, {f.trunk: window})[f.score].reshape(10)
        worst = max(worst, rel(out[f.score][0, :, i, j], ref))
    print(f"{name}: cells vs the head on their {k}x{k} windows, float64: rel diff {worst:.1e}")
    assert worst <= 1e-12


PAD_FREE = [name for name, f in FAMILIES.items() if f.pad_free_size]


@pytest.mark.parametrize("name", PAD_FREE)
def test_padding_free_cells_are_the_classifier_on_crops(name):
    f = FAMILIES[name]
    size = f.pad_free_size
    net = family_net(name, W, num_classes=10, size=size, pad=False)
    params = random_weights(net, seed=3)
    pset, fc_def, _ = fcnize_params(net, ParamSet(params, net), verbose=False)
    big = image(size + 2 * f.stride, seed=4)
    score = forward(fc_def, pset.arrays(), {"data": big})[f.score]
    assert score.shape == (1, 10, 3, 3)
    worst = 0.0
    for i, j in ((0, 2), (2, 1), (1, 1)):
        y, x = f.stride * i, f.stride * j
        ref = forward(net, params, {"data": big[:, :, y : y + size, x : x + size]})[f.score]
        worst = max(worst, rel(score[0, :, i, j], ref.reshape(10)))
    print(f"{name} (no padding, {size}): cells vs classifier on crops, float64: {worst:.1e}")
    assert worst <= 1e-12


def test_families_without_padding_free_form_say_why():
    for name in ("squeezenet", "densenet121", "bn_inception"):
        with pytest.raises(ValueError, match="pad 1"):
            family_net(name, W, pad=False)


@pytest.mark.parametrize("name", [n for n, f in FAMILIES.items() if f.v1])
def test_v1_and_current_give_the_same_fcn_weights(written, tmp_path, name):
    outs = []
    for legacy in (False, True):
        proto, weights = written[name, legacy]
        assert ("layers {" in open(proto).read()) == legacy
        out = tmp_path / f"{legacy}.caffemodel"
        fcnize(proto, weights, str(out), verbose=False)
        outs.append(caffeio.load_params(str(out)))
    assert list(outs[0]) == list(outs[1])
    for layer in outs[0]:
        for a, b in zip(outs[0][layer], outs[1][layer]):
            assert a.shape == b.shape and a.tobytes() == b.tobytes(), layer


@pytest.mark.parametrize(
    "name, first",
    [("mobilenet", "conv1/bn"), ("densenet121", "conv1/bn"), ("bn_inception", "conv1/7x7_s2_bn"),
     ("prelu_vgg16", "relu1_1")],
)  # fmt: skip
def test_v1_cannot_write_batchnorm_scale_or_prelu(tmp_path, name, first):
    with pytest.raises(ValueError, match=f"layer '{first}': type \\w+ has no V1 enum value"):
        write_family(tmp_path, name, W, num_classes=10, legacy=True)


def test_release_input_fields_become_an_input_layer(written, tmp_path):
    proto, weights = written["mobilenet", False]
    text = open(proto).read()
    assert 'input: "data"' in text and "input_dim: 224" in text and "Input" not in text
    out, out_proto = str(tmp_path / "m.caffemodel"), str(tmp_path / "m.prototxt")
    fcnize(proto, weights, out, out_proto=out_proto, verbose=False)
    fc = caffeio.read_net(out_proto)
    assert fc.layer[0].type == "Input" and list(fc.layer[0].input_param.shape[0].dim) == [
        1,
        3,
        224,
        224,
    ]
    # group = channels survives, and every BatchNorm keeps the stored statistics
    dw = next(x for x in fc.layer if x.name == "conv5_6/dw").convolution_param
    assert dw.group == dw.num_output == 32
    bns = [x for x in fc.layer if x.type == "BatchNorm"]
    assert len(bns) == 27 and all(x.batch_norm_param.use_global_stats for x in bns)


def test_cli_on_densenet_prints_the_conversions(written, tmp_path, capsys):
    proto, weights = written["densenet121", False]
    out, out_proto = str(tmp_path / "d.caffemodel"), str(tmp_path / "d.prototxt")
    args = ["fcnize", "--proto", proto, "--weights", weights, "--out", out]
    assert main(args + ["--out-proto", out_proto]) == 0
    printed = capsys.readouterr().out
    assert "fcnize (DENSENET_121)" in printed
    assert "pool5: global AVE pooling over 7x7 -> AVE 7x7 stride 1" in printed
    assert "121 BatchNorm layer(s) (conv1/bn, ...): use_global_stats: true written" in printed
    assert "copied: conv1" in printed and "copied: fc6" in printed
    pools = {x.name: x.pooling_param for x in caffeio.read_net(out_proto).layer}
    assert pools["pool5"].kernel_size == 7 and not pools["pool5"].global_pooling
    assert pools["pool1"].round_mode == caffe_pb2.PoolingParameter.FLOOR


def _nin_train_val(width):
    """NiN as released: V1 train_val with TRAIN/TEST Data layers, accuracy and loss."""
    from caffeio.legacy import to_v1

    deploy = family_net("nin", width, num_classes=10)
    net = caffe_pb2.NetParameter(name="nin_imagenet")
    for phase, batch in ((caffe_pb2.TRAIN, 64), (caffe_pb2.TEST, 89)):
        data = net.layer.add(name="data", type="Data", top=["data", "label"])
        data.data_param.source, data.data_param.batch_size = "imagenet-lmdb", batch
        data.data_param.backend = caffe_pb2.DataParameter.LMDB
        data.transform_param.crop_size = 224
        data.include.add(phase=phase)
    net.layer.extend(deploy.layer[1:-1])  # no Input, no prob
    acc = net.layer.add(name="accuracy", type="Accuracy", bottom=["pool4", "label"])
    acc.top.append("accuracy")
    acc.include.add(phase=caffe_pb2.TEST)
    loss = net.layer.add(name="loss", type="SoftmaxWithLoss", bottom=["pool4", "label"])
    loss.include.add(phase=caffe_pb2.TRAIN)
    return to_v1(net), deploy


def test_nin_train_val_as_released_gives_a_deploy_fcn(tmp_path, capsys):
    train_val, deploy = _nin_train_val(W)
    proto = tmp_path / "train_val.prototxt"
    caffeio.write_net(train_val, str(proto))
    params = random_weights(deploy, seed=5)
    weights = tmp_path / "nin.caffemodel"
    caffeio.write_caffemodel(caffeio.params_to_net(params, deploy), str(weights))
    out, out_proto = str(tmp_path / "n.caffemodel"), str(tmp_path / "n.prototxt")
    args = ["fcnize", "--proto", str(proto), "--weights", str(weights), "--out", out]
    assert main(args + ["--out-proto", out_proto]) == 2  # no input shape stated
    assert "--size" in capsys.readouterr().err
    assert main(args + ["--out-proto", out_proto, "--size", "224"]) == 0
    printed = capsys.readouterr().out
    assert "data: Data -> Input 1x3x224x224 (the deploy input)" in printed
    assert "accuracy: Accuracy dropped" in printed and "loss: SoftmaxWithLoss dropped" in printed
    fc = caffeio.read_net(out_proto)
    assert [x.type for x in fc.layer[:2]] == ["Input", "Convolution"]
    assert not any("label" in x.bottom or "label" in x.top for x in fc.layer)
    x = image(224, seed=6)
    ref = forward(deploy, params, {"data": x})["pool4"]
    got = forward(fc, caffeio.load_params(out), {"data": x})["pool4"]
    assert rel(got, ref) <= 1e-12


def _net(text):
    return caffeio.net_from_text(
        'layer { name: "data" type: "Input" top: "data" '
        "input_param { shape { dim: 1 dim: 3 dim: 8 dim: 8 } } }\n"
        'layer { name: "conv" type: "Convolution" bottom: "data" top: "conv" '
        "convolution_param { num_output: 4 kernel_size: 3 } }\n" + text
    )


REFUSED = {
    "fork type": (
        'layer { name: "conv_bn" type: "BN" bottom: "conv" top: "conv" }',
        "layer 'conv_bn' \\(BN\\): no fully convolutional form: 'BN' is not a layer type of "
        "BVLC Caffe.*BatchNorm \\+ Scale",
    ),
    "batch statistics": (
        'layer { name: "bn" type: "BatchNorm" bottom: "conv" top: "conv" '
        "batch_norm_param { use_global_stats: false } }",
        "layer 'bn' \\(BatchNorm\\): .*use_global_stats: false.*write use_global_stats: true",
    ),
    "spatial softmax": (
        'layer { name: "sm" type: "Softmax" bottom: "conv" top: "sm" softmax_param { axis: 2 } }',
        "layer 'sm' \\(Softmax\\): .*across positions",
    ),
}


@pytest.mark.parametrize("case", list(REFUSED))
def test_layers_without_a_fully_convolutional_form_say_why(case):
    text, message = REFUSED[case]
    with pytest.raises(SurgeryError, match=message):
        fcnize_params(_net(text), ParamSet({}), verbose=False)


def test_prelu_net_with_spp_is_refused_naming_the_layer():
    # as "Delving deep into rectifiers" pools before fc6 (the graph is refused before weights)
    net = prelu_vgg16(W, num_classes=10, spp=True)
    with pytest.raises(SurgeryError, match="layer 'pool5' \\(SPP\\): .*fixed pyramid of bins"):
        fcnize_params(net, ParamSet({}), verbose=False)


def test_prelu_slopes_move_with_their_shapes(written, tmp_path):
    proto, weights = written["prelu_vgg16", False]
    out = tmp_path / "p.caffemodel"
    fcnize(proto, weights, str(out), verbose=False)
    got, src = caffeio.load_params(str(out)), caffeio.load_params(weights)
    assert got["relu1_1"][0].shape == (4,) and got["fc6"][0].shape == (256, 32, 7, 7)
    for layer in ("relu1_1", "relu6", "relu7"):
        assert got[layer][0].tobytes() == src[layer][0].tobytes()
    # relu7's shared slope is a 0-axis blob: one value and no shape, as Caffe writes it (a
    # `shape { dim: 1 }` would not match the layer's blob when Caffe loads the file)
    model = caffeio.read_caffemodel(str(out))
    shared = next(x for x in model.layer if x.name == "relu7").blobs[0]
    assert not shared.HasField("shape") and len(shared.data) == 1


def test_zero_axis_blob_is_written_as_caffe_writes_it():
    # Caffe stores a 0-axis blob (PReLU channel_shared) as one value without a shape; numpy's
    # ascontiguousarray once turned it into shape (1,), which Caffe refuses to load
    from caffeio.blobs import array_to_blob, blob_to_array, shapes_match

    for scalar in (np.float32(0.25), np.array(0.25, np.float32)):
        blob = array_to_blob(scalar)
        assert not blob.HasField("shape") and list(blob.data) == [0.25]
        assert shapes_match(blob_to_array(blob).shape, ())
    assert ParamSet({"p": [np.array(0.5, np.float32)]}).params["p"][0].shape == ()
