"""The zoo models on other ILSVRC backbones (issue 15): FCN-GoogLeNet and the dilated FCN-ResNets.

Sizes come from Caffe's formulas written out here (not from netspec's shape code); graphs are
checked against the original layer names; deploy nets run in torchcaffe and agree with OpenCV
dnn; a few SGD steps on synthetic VOC data; staged inits copy the fcnized test classifiers'
trunks exactly (BatchNorm statistics and Scale blobs included).
"""

import math
import os

import numpy as np
import pytest
import torch
from optional_deps import opencv_with_caffe

import caffeio
import zoo
from netspec import shapes
from surgery.fcnize import fcnize
from surgery.stage import staged_init
from zoo.classifiers import write_classifier

torch.set_num_threads(1)

# model -> (backbone, classes, depth or None)
MODELS = {
    "voc-fcn-googlenet": ("googlenet", 21, None),
    "voc-fcn-resnet50": ("resnet50", 21, 50),
    "voc-fcn-resnet101": ("resnet101", 21, 101),
    "voc-fcn-resnet152": ("resnet152", 21, 152),
    "cityscapes-fcn-resnet101": ("resnet101", 19, 101),
}
RESNET_BLOCKS = {50: (3, 4, 6, 3), 101: (3, 4, 23, 3), 152: (3, 8, 36, 3)}
SIZES = [(31, 31), (37, 45), (64, 64), (321, 321), (500, 375)]
W = 1 / 16


def test_registry():
    assert zoo.BACKBONE_MODELS == tuple(MODELS)
    assert not set(zoo.BACKBONE_MODELS) & set(zoo.MODELS)
    for m, (_, k, _) in MODELS.items():
        assert zoo.net_files(m) == ("train", "val", "deploy")
        assert zoo.num_classes(m) == k


# ---------------------------------------------------------------- shapes, by the formulas


def conv(x, k, p=0, s=1, d=1):
    return (x + 2 * p - (d * (k - 1) + 1)) // s + 1


def pool(x, k=3, s=2):  # pad 0: ceil rounding
    return math.ceil((x - k) / s) + 1


def deconv(x, k, s):
    return s * (x - 1) + k


def reference(model, h, w):
    """Blob -> (H, W) of the main blobs, from Caffe's size formulas alone."""
    backbone, _, depth = MODELS[model]
    out = {}

    def both(f, *a):
        return tuple(f(x, *a) for x in (h, w))

    c1 = both(conv, 7, 3, 2)
    p1 = tuple(pool(x) for x in c1)
    if depth is None:
        out["conv1/7x7_s2"] = c1
        out["pool1/3x3_s2"] = p1
        out["pool2/3x3_s2"] = tuple(pool(x) for x in p1)
        out["inception_3b/output"] = out["pool2/3x3_s2"]
        out["pool3/3x3_s2"] = tuple(pool(x) for x in out["pool2/3x3_s2"])
        out["pool4/3x3_s2"] = tuple(pool(x) for x in out["pool3/3x3_s2"])
        out["inception_5b/output"] = out["pool4/3x3_s2"]
        out["score_fr"] = out["pool4/3x3_s2"]
        out["upscore"] = tuple(deconv(x, 63, 32) for x in out["score_fr"])
    else:
        out["conv1"], out["pool1"] = c1, p1
        out["res2c"] = p1
        s8 = tuple(conv(x, 1, 0, 2) for x in p1)  # res3a's stride-2 1x1 convolutions
        out["res3a"] = out["res4a"] = out["res5c"] = out["head"] = out["score_fr"] = s8
        out["upscore"] = tuple(deconv(x, 15, 8) for x in s8)
    out["score"] = (h, w)
    return out


@pytest.mark.parametrize("model", list(MODELS))
def test_shapes_match_caffe_formulas(model):
    backbone, k, depth = MODELS[model]
    stride = 32 if depth is None else 8
    for split in ("deploy", "val"):
        net = zoo.build(model, split)
        for h, w in SIZES:
            got = shapes.infer(net, image_size=(h, w))
            for blob, hw in reference(model, h, w).items():
                assert got[blob][2:] == hw, (model, split, h, w, blob)
            assert got["score"] == (1, k, h, w)
            # output stride of the trunk: one score per stride x stride pixels (+-1 at edges)
            fr = got["score_fr"][2:]
            assert all(abs(f - x / stride) <= 1 for x, f in zip((h, w), fr)), (model, h, w, fr)
    full = shapes.infer(zoo.build(model, "deploy"))
    want = (1024, 2048) if model.startswith("cityscapes") else (500, 500)
    assert full["data"] == (1, 3, *want) and full["score"] == (1, k, *want)


def test_googlenet_smallest_input_is_31():
    net = zoo.build("voc-fcn-googlenet", "deploy", width=W)
    assert shapes.infer(net, image_size=(31, 31))["score"][2:] == (31, 31)
    with pytest.raises(Exception, match="pool|size|small"):
        shapes.infer(net, image_size=(30, 30))


# ---------------------------------------------------------------- graphs and params


def resnet_param_layers(depth):
    """Names of the original release's parametrised layers (conv, bn, scale), stage by stage."""
    names = ["conv1", "bn_conv1", "scale_conv1"]
    for i, count in enumerate(RESNET_BLOCKS[depth]):
        s = i + 2
        if depth == 50 or count <= 3:
            blocks = [f"{s}{chr(97 + j)}" for j in range(count)]
        else:
            blocks = [f"{s}a"] + [f"{s}b{j}" for j in range(1, count)]
        for j, b in enumerate(blocks):
            for br in (["branch1"] if j == 0 else []) + ["branch2a", "branch2b", "branch2c"]:
                names += [f"res{b}_{br}", f"bn{b}_{br}", f"scale{b}_{br}"]
    return names


@pytest.mark.parametrize("model", [m for m in MODELS if MODELS[m][2]])
def test_resnet_graph_and_params(model):
    _, k, depth = MODELS[model]
    net = zoo.build(model, "train")
    layers = {x.name: x for x in net.layer}
    trunk = resnet_param_layers(depth)
    head = ["head", "head_bn", "head_scale", "score_fr", "upscore"]
    learned = [x.name for x in net.layer if x.type in ("Convolution", "BatchNorm", "Scale",
                                                        "Deconvolution")]  # fmt: skip
    assert learned == trunk + head
    for name in trunk:
        x = layers[name]
        if x.type == "BatchNorm":
            assert x.batch_norm_param.use_global_stats
            assert [(p.lr_mult, p.decay_mult) for p in x.param] == [(0, 0)] * 3
        elif x.type == "Scale":
            assert x.scale_param.bias_term
            assert [(p.lr_mult, p.decay_mult) for p in x.param] == [(0, 0)] * 2
        else:
            cp = x.convolution_param
            assert cp.bias_term == (name == "conv1" and depth == 50)
            assert [p.lr_mult for p in x.param] == ([1, 2] if cp.bias_term else [1])
            stage = 1 if name == "conv1" else int(name[3])
            stride = list(cp.stride) or [1]
            want_stride = 2 if name == "conv1" or (name.startswith("res3a_branch") and
                                                   name[-2:] in ("h1", "2a")) else 1  # fmt: skip
            assert stride == [want_stride], name
            d = {4: 2, 5: 4}.get(stage, 1) if name.endswith("branch2b") else 1
            assert (list(cp.dilation) or [1]) == [d], name
            if name.endswith("branch2b"):
                assert list(cp.pad) == [d]
    assert layers["res5c"].type == "Eltwise" and not layers["res5c"].HasField("eltwise_param")
    assert [p.lr_mult for p in layers["head"].param] == [10]
    assert layers["head"].convolution_param.num_output == 512
    assert not layers["head"].convolution_param.bias_term
    assert [p.lr_mult for p in layers["head_scale"].param] == [10, 20]
    assert [p.lr_mult for p in layers["head_bn"].param] == [0, 0, 0]
    assert [p.lr_mult for p in layers["score_fr"].param] == [10, 20]
    assert layers["score_fr"].convolution_param.num_output == k
    assert layers["head_drop"].dropout_param.dropout_ratio == pytest.approx(0.1)
    up = layers["upscore"].convolution_param
    assert (up.kernel_size, up.stride, up.bias_term) == ([15], [8], False)
    assert [p.lr_mult for p in layers["upscore"].param] == [0]
    assert list(layers["score"].crop_param.offset) == [5]
    assert layers["loss"].loss_param.normalize and layers["loss"].loss_param.ignore_label == 255
    assert "head_drop" not in {x.name for x in zoo.build(model, "deploy").layer}


def test_googlenet_graph():
    net = zoo.build("voc-fcn-googlenet", "train")
    names = [x.name for x in net.layer]
    layers = {x.name: x for x in net.layer}
    for m in ("3a", "3b", "4a", "4b", "4c", "4d", "4e", "5a", "5b"):
        for b in ("1x1", "3x3_reduce", "3x3", "5x5_reduce", "5x5", "pool_proj"):
            assert f"inception_{m}/{b}" in layers
        out = layers[f"inception_{m}/output"]
        assert out.type == "Concat" and [b.split("/")[1] for b in out.bottom] == [
            "1x1", "3x3", "5x5", "pool_proj"]  # fmt: skip
    assert not any(n.startswith(("loss1", "loss2", "loss3", "pool5")) for n in names)
    assert layers["score_fr"].bottom == ["inception_5b/output"]
    assert layers["inception_5b/drop"].dropout_param.dropout_ratio == pytest.approx(0.4)
    assert list(layers["conv1/7x7_s2"].convolution_param.pad) == [3]
    up = layers["upscore"].convolution_param
    assert (up.kernel_size, up.stride) == ([63], [32])
    assert list(layers["score"].crop_param.offset) == [1]
    assert layers["loss"].loss_param.normalize
    ps = shapes.param_shapes(net, image_size=(224, 224))
    total = sum(math.prod(s) for n, v in ps.items() for s in v if n not in ("upscore", "score_fr"))
    assert 5.9e6 < total < 6.1e6  # the paper's "6M" (trunk; upscore is fixed, score_fr new)


def test_solvers():
    for m in MODELS:
        s = zoo.solver(m)
        assert s.weight_decay == pytest.approx(5e-4)
        if m == "voc-fcn-googlenet":
            assert (s.lr_policy, s.momentum, s.iter_size) == ("fixed", pytest.approx(0.9), 20)
            assert s.base_lr == pytest.approx(5e-5)
            continue
        assert (s.lr_policy, s.power, s.momentum) == ("poly", pytest.approx(0.9),
                                                      pytest.approx(0.9))  # fmt: skip
        assert s.base_lr == pytest.approx(2.5e-4) and s.iter_size == 10 and s.max_iter == 20000
        # the FCN-ResNets evaluate on VOC 2012 val (1,449 images), Cityscapes on val (500)
        assert list(s.test_iter) == [500 if m.startswith("cityscapes") else 1449]


def test_cityscapes_data_layer_param():
    import ast

    lay = zoo.build("cityscapes-fcn-resnet101", "train", data_root="/d").layer[0]
    assert (lay.python_param.module, lay.python_param.layer) == (
        "layers.cityscapes", "CityscapesSegDataLayer")  # fmt: skip
    assert ast.literal_eval(lay.python_param.param_str) == dict(
        cityscapes_dir="/d/cityscapes", split="train", seed=1337, crop=321, scale=(0.5, 1.5),
        mirror=True, batch_size=1)  # fmt: skip
    val = zoo.build("cityscapes-fcn-resnet101", "val", data_root="/d").layer[0]
    assert ast.literal_eval(val.python_param.param_str) == dict(
        cityscapes_dir="/d/cityscapes", split="val")  # fmt: skip


# ---------------------------------------------------------------- engines


def randomize(net, seed):
    """Random weights of a sane scale; BatchNorm gets positive variances and factor 1."""
    rng = np.random.default_rng(seed)
    types = {x.name: x.type for x in net._param.layer}
    for name, blobs in net.params.items():
        if types[name] == "BatchNorm":
            c = blobs[0].data.shape
            blobs[0].data[...] = rng.standard_normal(c) * 0.1
            blobs[1].data[...] = rng.uniform(0.5, 2.0, c)
            blobs[2].data[...] = 1
            continue
        for b in blobs:
            fan_in = int(np.prod(b.shape[1:])) if len(b.shape) > 1 else 1
            b.data[...] = rng.standard_normal(b.shape) / np.sqrt(fan_in)


def _deploy(tmp_path, model, width=W):
    import torchcaffe as caffe

    proto = str(tmp_path / f"{model}.prototxt")
    caffeio.write_net(zoo.build(model, "deploy", width=width), proto)
    net = caffe.Net(proto, caffe.TEST)
    randomize(net, 0)
    return proto, net


def _forward(net, x):
    net.blobs["data"].reshape(*x.shape)
    net.blobs["data"].data[...] = x
    return net.forward()["score"].copy()


@pytest.mark.parametrize("model", list(MODELS))
def test_deploy_forward_and_opencv(tmp_path, model):
    cv2 = opencv_with_caffe()
    proto, net = _deploy(tmp_path, model)
    weights = str(tmp_path / "w.caffemodel")
    net.save(weights)
    cvnet = cv2.dnn.readNetFromCaffe(proto, weights)
    cvnet.setPreferableBackend(cv2.dnn.DNN_BACKEND_OPENCV)
    rng = np.random.default_rng(1)
    # OpenCV refuses a pooling window larger than its input (GoogLeNet's pool4 at 37 px, where
    # Caffe's ceil rule gives 1), so both sizes keep every window inside its map.
    for h, w in ((64, 50), (97, 75)):
        x = (rng.standard_normal((1, 3, h, w)) * 50).astype(np.float32)
        ours = _forward(net, x)
        assert ours.shape == (1, MODELS[model][1], h, w) and np.isfinite(ours).all()
        cvnet.setInput(x, "data")
        ref = cvnet.forward("score")
        scale = np.abs(ref).max()
        assert scale > 0
        err = np.abs(ours - ref).max() / scale
        assert err < 1e-4, f"{model} at {h}x{w}: relative error {err:.2e}"


# ---------------------------------------------------------------- staged init


@pytest.fixture(scope="module")
def fcnized(tmp_path_factory):
    """{backbone: fcnized random test classifier caffemodel} at width W."""
    root = tmp_path_factory.mktemp("bb")
    out = {}
    for arch in ("googlenet", "resnet50", "resnet101", "resnet152"):
        proto, weights = write_classifier(str(root / arch), arch, W, seed=5)
        out[arch] = str(root / f"{arch}-fcn.caffemodel")
        fcnize(proto, weights, out[arch], verbose=False)
    return out


@pytest.mark.parametrize("model", list(MODELS))
def test_staged_init_copies_trunk_exactly(fcnized, tmp_path, model):
    backbone, k, depth = MODELS[model]
    out = str(tmp_path / "init.caffemodel")
    _, report = staged_init(model, fcnized[backbone], out, width=W, verbose=False)
    src, got = caffeio.load_params(fcnized[backbone]), caffeio.load_params(out)
    classifier = "loss3/classifier" if depth is None else "fc1000"
    trunk = [n for n in src if n != classifier]
    for name in trunk:
        assert [a.tobytes() for a in got[name]] == [a.tobytes() for a in src[name]], name
    new = sorted(set(got) - set(trunk))
    if depth is None:
        assert new == ["score_fr", "upscore"]
    else:
        # head (random msra filler) is left out of the file: the net's filler runs at load
        assert new == ["head_bn", "head_scale", "score_fr", "upscore"]
        mean, var, factor = got["head_bn"]
        assert not mean.any() and (var == 1).all() and (factor == 1).all()
        np.testing.assert_array_equal(got["head_scale"][0], 1)
        assert not got["head_scale"][1].any()
        assert sum(1 for n in trunk if n.startswith("bn")) == 1 + 3 * sum(RESNET_BLOCKS[depth]) + 4
    assert not got["score_fr"][0].any()
    up = got["upscore"][0]
    assert up.shape == (k, k, *(2 * [63 if depth is None else 15]))
    assert np.count_nonzero(up[range(k), range(k)]) == k * np.count_nonzero(up[0, 0])
    assert report.interpolated
    # loads into the train net (the data layer aside) and runs
    import torchcaffe as caffe

    proto = str(tmp_path / "deploy.prototxt")
    caffeio.write_net(zoo.build(model, "deploy", width=W), proto)
    net = caffe.Net(proto, caffe.TEST, weights=out)
    x = np.random.default_rng(0).standard_normal((1, 3, 40, 48)).astype(np.float32) * 50
    assert np.isfinite(_forward(net, x)).all()


def test_stage_cli(fcnized, tmp_path):
    from surgery.__main__ import main

    out = str(tmp_path / "r50.caffemodel")
    args = ["stage", "--from", fcnized["resnet50"], "--to", "voc-fcn-resnet50", "--out", out]
    assert main([*args, "--width", str(W)]) == 0 and os.path.exists(out)
    # a stage-2 source (score layers, no classifier) is refused
    assert main(["stage", "--from", out, "--to", "voc-fcn-resnet50", "--width", str(W),
                 "--out", str(tmp_path / "again.caffemodel")]) == 2  # fmt: skip


# ---------------------------------------------------------------- SGD steps


@pytest.mark.parametrize(
    "model", ["voc-fcn-resnet50", "voc-fcn-resnet101", "voc-fcn-resnet152", "voc-fcn-googlenet"]
)
def test_sgd_steps_on_synthetic_voc(fcnized, tmp_path, model):
    """Two solver steps on the synthetic VOC/SBD twin from the staged init: finite losses, the
    frozen trunk BatchNorm/Scale blobs and the fixed upscore unchanged, the head learning."""
    from test_solvers_e2e import make_easy_voc

    import torchcaffe as caffe

    width = 1 / 32
    backbone = MODELS[model][0]
    root = str(tmp_path / "data")
    make_easy_voc(root, n_train=3, n_val=2, size=64)
    if "resnet" in model:  # the FCN-ResNets train on VOC 2012 trainaug (zoo.recipe)
        from layers.synth import make_voc12_family

        make_voc12_family(root, n=6, size=(64, 64))
    cls_proto, cls_w = write_classifier(str(tmp_path / "cls"), backbone, width, seed=2)
    base = str(tmp_path / "base.caffemodel")
    fcnize(cls_proto, cls_w, base, verbose=False)
    init = str(tmp_path / "init.caffemodel")
    staged_init(model, base, init, width=width, verbose=False)
    from train_files import zoo_train_solver

    spath = zoo_train_solver(model, tmp_path, width, root, iter_size=1, base_lr=1e-3)
    solver = caffe.get_solver(spath)
    solver.net.copy_from(init)
    before = {k: [b.data.copy() for b in v] for k, v in solver.net.params.items()}
    solver.step(2)
    losses = [float(solver.net.blobs["loss"].data)]
    assert solver.iter == 2 and np.isfinite(losses).all()
    after = {k: [b.data.copy() for b in v] for k, v in solver.net.params.items()}
    frozen = [k for k in after if k.startswith(("bn", "scale")) or k == "upscore"]
    assert depth_ok(model, frozen)
    for k in frozen:
        for a, b in zip(after[k], before[k]):
            np.testing.assert_array_equal(a, b, err_msg=k)
    assert not np.array_equal(after["score_fr"][1], before["score_fr"][1])


def depth_ok(model, frozen):
    """ResNets freeze every trunk BatchNorm/Scale; GoogLeNet has none (upscore only)."""
    return len(frozen) > 100 if "resnet" in model else frozen == ["upscore"]
