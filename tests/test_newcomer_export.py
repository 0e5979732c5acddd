"""Conversion out of Caffe: ONNX of every deploy net (dynamic H x W) and Caffe-named
state_dicts that reload into plain PyTorch modules."""

import os

import numpy as np
import pytest
import torch

import caffeio
import torchcaffe
import zoo
from solvers import export
from solvers.export import cli as export_cli
from zoo.classifiers import random_weights

WIDTH = 1 / 64  # the same graphs with fewer channels (VGG conv 1..8, fc 64)
SIZES = ((27, 41), (50, 33))  # two sizes, neither the tracing size
TOL = 1e-4  # max |diff| / max |score|, as the engine tests


def write_model(tmp_path, model, width=WIDTH, seed=3):
    """Deploy prototxt + random-weight caffemodel (He-scaled, every layer random, the fixed
    Deconvolutions and Scales included) -> (proto, weights)."""
    net = zoo.build(model, "deploy", width=width)
    proto = str(tmp_path / f"{model}.prototxt")
    weights = str(tmp_path / f"{model}.caffemodel")
    caffeio.write_net(net, proto)
    caffeio.write_caffemodel(caffeio.params_to_net(random_weights(net, seed=seed), net), weights)
    return proto, weights


def torchcaffe_outputs(proto, weights, feeds):
    net = torchcaffe.Net(proto, torchcaffe.TEST, weights=weights)
    return {k: v.copy() for k, v in net.forward(**feeds).items()}


def feeds_for(module, size, seed=0):
    rng = np.random.default_rng(seed)
    return {
        name: (rng.random((1, c, *size), dtype=np.float32) * 255 - 128)
        for name, c in zip(module.inputs, module.input_channels)
    }


def rel_err(a, b):
    return float(np.abs(a - b).max()) / float(np.abs(b).max())


BACKBONE_SIZES = ((45, 37), (50, 33))  # FCN-GoogLeNet takes inputs from 31 px


@pytest.mark.parametrize("model", zoo.ALL_MODELS)
def test_onnx_every_deploy_net_two_sizes(tmp_path, model):
    import onnxruntime as ort

    sizes = BACKBONE_SIZES if model in zoo.BACKBONE_MODELS else SIZES
    proto, weights = write_model(tmp_path, model)
    module = export.CaffeModule.from_files(proto, weights)
    onnx_path = str(tmp_path / f"{model}.onnx")
    export.export_onnx(module, onnx_path, sizes=((64, 64),))
    sess = ort.InferenceSession(onnx_path, providers=["CPUExecutionProvider"])
    assert [i.name for i in sess.get_inputs()] == module.inputs
    dims = sess.get_inputs()[0].shape
    assert isinstance(dims[2], str) and isinstance(dims[3], str), dims  # dynamic H, W
    for k, size in enumerate(sizes):
        feeds = feeds_for(module, size, seed=k)
        want = torchcaffe_outputs(proto, weights, feeds)
        got = dict(zip([o.name for o in sess.get_outputs()], sess.run(None, feeds)))
        assert set(got) == set(want)
        for name, ref in want.items():
            assert ref.shape == (1, ref.shape[1], *size)  # crops follow the input size
            assert np.abs(ref).max() > 0
            assert got[name].shape == ref.shape
            assert rel_err(got[name], ref) < TOL, (model, size, name)
        # the plain module agrees too
        with torch.no_grad():
            outs = module(*[torch.from_numpy(feeds[n]) for n in module.inputs])
        outs = outs if isinstance(outs, tuple) else (outs,)
        for name, out in zip(module.outputs, outs):
            assert rel_err(out.numpy(), want[name]) < TOL


def test_onnx_crop_is_not_frozen_to_the_tracing_size(tmp_path):
    """The Crop offsets stay fixed but the crop sizes come from the reference blob at run
    time: a graph traced at 64 x 64 serves 1 x 1 and 90 x 37 inputs."""
    import onnxruntime as ort

    proto, weights = write_model(tmp_path, "voc-fcn8s")
    module = export.CaffeModule.from_files(proto, weights)
    path = export.export_onnx(module, str(tmp_path / "m.onnx"), sizes=((64, 64),))
    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    for size in ((1, 1), (90, 37)):
        x = feeds_for(module, size)["data"]
        out = sess.run(None, {"data": x})[0]
        ref = torchcaffe_outputs(proto, weights, {"data": x})["score"]
        assert out.shape == (1, 21, *size)
        assert rel_err(out, ref) < TOL
    x = np.concatenate([feeds_for(module, (20, 30), seed=s)["data"] for s in range(2)])
    assert sess.run(None, {"data": x})[0].shape == (2, 21, 20, 30)  # dynamic batch too


@pytest.mark.parametrize("suffix", [".pt", ".safetensors"])
def test_state_dict_reloads_into_plain_modules(tmp_path, suffix):
    width = 1 / 16
    proto, weights = write_model(tmp_path, "voc-fcn8s", width=width)
    out = str(tmp_path / f"fcn8s{suffix}")
    assert export_cli.main(["--proto", proto, "--weights", weights, "--state-dict", out]) == 0
    state = export.load_state_dict_file(out)
    params = caffeio.load_params(weights)
    if suffix == ".pt":  # torch.save keeps the caffemodel's order (safetensors sorts)
        assert list(state)[:3] == ["conv1_1.weight", "conv1_1.bias", "conv1_2.weight"]
    assert "upscore8.weight" in state and "upscore8.bias" not in state  # bias_term false
    assert set(state) == {
        f"{k}.{n}" for k, v in params.items() for n in ("weight", "bias")[: len(v)]
    }
    for k, v in params.items():
        np.testing.assert_array_equal(state[f"{k}.weight"].numpy(), v[0])

    x = torch.from_numpy(feeds_for(export.CaffeModule(proto), (45, 52))["data"])
    ref = torchcaffe_outputs(proto, weights, {"data": x.numpy()})["score"]
    # 1) the generic module built from the prototxt, loaded with torch's load_state_dict
    generic = export.CaffeModule(proto)
    generic.load_state_dict(state)
    with torch.no_grad():
        assert rel_err(generic.eval()(x).numpy(), ref) < TOL
    # 2) an independent hand-written FCN-8s (bench/eager_fcn8s.py) fed the same tensors
    from bench.eager_fcn8s import EagerFCN8s

    eager = EagerFCN8s(num_classes=21, width=width)
    layers = {key.rsplit(".", 1)[0] for key in state}
    by_layer = {
        n: [state[f"{n}.{b}"].numpy() for b in ("weight", "bias") if f"{n}.{b}" in state]
        for n in layers
    }
    eager.load_caffe_params(by_layer).eval()
    with torch.no_grad():
        assert rel_err(eager(x).numpy(), ref) < TOL
    if suffix == ".safetensors":
        from safetensors import safe_open

        with safe_open(out, "pt") as f:
            assert "BGR" in f.metadata()["input"]


def test_export_cli_onnx_with_check(tmp_path, capsys):
    proto, weights = write_model(tmp_path, "voc-fcn-alexnet")
    out = str(tmp_path / "alex.onnx")
    rc = export_cli.main(
        ["--proto", proto, "--weights", weights, "--onnx", out, "--check-sizes", "30x40,41x23"]
    )
    text = capsys.readouterr().out
    assert rc == 0 and os.path.isfile(out)
    assert "onnxruntime vs torchcaffe at 30x40" in text and "at 41x23" in text
    assert "BGR" in text


def test_export_errors_name_the_problem(tmp_path, capsys):
    proto, weights = write_model(tmp_path, "voc-fcn32s")
    assert export_cli.main(["--proto", proto, "--weights", str(tmp_path / "no.caffemodel"),
                        "--onnx", str(tmp_path / "x.onnx")]) == 1  # fmt: skip
    assert "no.caffemodel: no such file" in capsys.readouterr().err
    # a training net (Python data layer, loss) is not a deploy net
    train = str(tmp_path / "train.prototxt")
    caffeio.write_net(zoo.build("voc-fcn32s", "train", width=WIDTH), train)
    with pytest.raises(export.ExportError, match=r"train.prototxt:\d+: layer 'data' has type"):
        export.CaffeModule(train)
    # weights of another width do not fit
    other_proto, other = write_model(tmp_path / "..", "voc-fcn32s", width=1 / 32)
    with pytest.raises(export.ExportError, match="conv1_1.*does not fit"):
        export.CaffeModule(proto).load_caffe_params(caffeio.load_params(other))
    assert export_cli.main(["--proto", proto, "--weights", weights]) == 1
    assert "nothing to do" in capsys.readouterr().err
    with pytest.raises(export.ExportError, match="use a .pt"):
        export.save_state_dict({}, str(tmp_path / "x.bin"))


def _net_file(tmp_path, body, name="net"):
    text = (
        'layer { name: "data" type: "Input" top: "data" '
        "input_param { shape { dim: 1 dim: 3 dim: 24 dim: 20 } } }\n" + body
    )
    path = tmp_path / f"{name}.prototxt"
    path.write_text(text)
    return str(path)


def test_the_module_is_made_of_torchcaffes_ops(tmp_path):
    """CaffeModule runs torchcaffe's layer implementations: any type torchcaffe runs on
    tensors exports (ArgMax over channels: not in the former hand-written list), and the traced
    LRN (whose torchcaffe form uses a divisor ONNX drops) matches at large activations."""
    import onnxruntime as ort

    from torchcaffe.ops import REGISTRY

    proto = _net_file(
        tmp_path,
        'layer { name: "conv" type: "Convolution" bottom: "data" top: "conv" '
        "convolution_param { num_output: 6 kernel_size: 3 pad: 1 } }\n"
        'layer { name: "norm" type: "LRN" bottom: "conv" top: "norm" '
        "lrn_param { local_size: 5 alpha: 0.001 beta: 0.75 } }\n"
        'layer { name: "top2" type: "ArgMax" bottom: "norm" top: "top2" '
        "argmax_param { axis: 1 top_k: 2 out_max_val: true } }\n",
    )
    net = caffeio.read_net(proto)
    weights = str(tmp_path / "net.caffemodel")
    caffeio.write_caffemodel(caffeio.params_to_net(random_weights(net, seed=1), net), weights)
    module = export.CaffeModule.from_files(proto, weights)
    assert [type(impl) for impl, *_ in module.steps] == [
        REGISTRY["Convolution"],
        REGISTRY["LRN"],
        REGISTRY["ArgMax"],
    ]
    assert {"ArgMax", "LRN", "Input"} <= set(export.exportable_types())
    assert not {"Data", "Python", "SoftmaxWithLoss", "Accuracy"} & set(export.exportable_types())
    path = export.export_onnx(module, str(tmp_path / "m.onnx"))
    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    for size in ((24, 20), (13, 31)):
        x = feeds_for(module, size)["data"] * 40  # LRN's sum of squares matters at this scale
        ref = torchcaffe_outputs(proto, weights, {"data": x})["top2"]
        got = sess.run(None, {"data": x})[0]
        assert got.shape == ref.shape == (1, 2, *size)
        assert rel_err(got, ref) < TOL


def test_pooling_whose_torch_size_differs_is_refused(tmp_path):
    """kernel < stride without padding: Caffe's ceil rule keeps a last window torch drops at
    some sizes, so no single traced graph fits; floor rounding agrees at every size."""
    pool = (
        'layer { name: "pool" type: "Pooling" bottom: "data" top: "pool" '
        "pooling_param { pool: MAX kernel_size: 1 stride: 3 %s } }\n"
    )
    proto = _net_file(tmp_path, pool % "")
    with pytest.raises(export.ExportError, match=r"net.prototxt:\d+: pooling 'pool'.*kernel < s"):
        export.CaffeModule(proto)
    floor = _net_file(tmp_path, pool % "round_mode: FLOOR", name="floor")
    assert export.CaffeModule(floor).outputs == ["pool"]
