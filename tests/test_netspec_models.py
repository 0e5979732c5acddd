"""The 15 FCN models: graph (names, types, bottoms, tops), params, crop offsets, shapes, solvers.

Expected graphs and sizes are written out here from the release's description and Caffe's
formulas, independently of netspec's own builders and shape code.
"""

import math
import os
import re

import pytest

import caffeio
import zoo
from caffeio import caffe_pb2
from netspec import shapes
from zoo import ilsvrc

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

VGG_BLOCKS = [(1, 2, 64), (2, 2, 128), (3, 3, 256), (4, 3, 512), (5, 3, 512)]
SIZES = [(1, 1), (256, 256), (425, 560), (500, 500)]

# model -> (head, classes, crop offsets by crop layer)
MODELS = {
    "voc-fcn32s": ("32s", 21, {"score": 19}),
    "voc-fcn16s": ("16s", 21, {"score_pool4c": 5, "score": 27}),
    "voc-fcn8s": ("8s", 21, {"score_pool4c": 5, "score_pool3c": 9, "score": 31}),
    "voc-fcn8s-atonce": ("8s-atonce", 21, {"score_pool4c": 5, "score_pool3c": 9, "score": 31}),
    "voc-fcn-alexnet": ("alexnet", 21, {"score": 18}),
    "nyud-fcn32s-color": ("32s", 40, {"score": 19}),
    "nyud-fcn32s-hha": ("32s", 40, {"score": 19}),
    "nyud-fcn32s-color-d": ("32s", 40, {"score": 19}),
    "nyud-fcn32s-color-hha": ("color-hha", 40, {"score": 19}),
    "siftflow-fcn32s": ("32s", (33, 3), {"score_sem": 19, "score_geo": 19}),
    "siftflow-fcn16s": (
        "16s",
        (33, 3),
        {"score_pool4_semc": 5, "score_sem": 27, "score_pool4_geoc": 5, "score_geo": 27},
    ),
    "siftflow-fcn8s": (
        "8s",
        (33, 3),
        {
            "score_pool4_semc": 5,
            "score_pool3_semc": 9,
            "score_sem": 31,
            "score_pool4_geoc": 5,
            "score_pool3_geoc": 9,
            "score_geo": 31,
        },
    ),
    "pascalcontext-fcn32s": ("32s", 60, {"score": 19}),
    "pascalcontext-fcn16s": ("16s", 60, {"score_pool4c": 5, "score": 27}),
    "pascalcontext-fcn8s": ("8s", 60, {"score_pool4c": 5, "score_pool3c": 9, "score": 31}),
}

# Models on other ILSVRC backbones (issue 15; their graphs are checked in
# test_netspec_backbones.py): the committed files and deploy inputs are checked here too.
BACKBONE_MODELS = (
    "voc-fcn-googlenet",
    "voc-fcn-resnet50",
    "voc-fcn-resnet101",
    "voc-fcn-resnet152",
    "cityscapes-fcn-resnet101",
)


ALEXNET_TRUNK = re.compile(r"^(conv[1-5]|fc[67])$")

# ---------------------------------------------------------------- expected graphs


def vgg_rows(data, s="", conv1=None, dropout=True):
    rows, prev = [], data
    for b, reps, _ in VGG_BLOCKS:
        for i in range(1, reps + 1):
            name = conv1 if (conv1 and (b, i) == (1, 1)) else f"conv{b}_{i}{s}"
            rows += [
                (name, "Convolution", [prev], [name]),
                (f"relu{b}_{i}{s}", "ReLU", [name], [name]),
            ]
            prev = name
        rows.append((f"pool{b}{s}", "Pooling", [prev], [f"pool{b}{s}"]))
        prev = f"pool{b}{s}"
    return rows + fc_rows(prev, s, dropout)


def fc_rows(prev, s="", dropout=True):
    rows = []
    for i in (6, 7):
        rows += [
            (f"fc{i}{s}", "Convolution", [prev], [f"fc{i}{s}"]),
            (f"relu{i}{s}", "ReLU", [f"fc{i}{s}"], [f"fc{i}{s}"]),
        ]
        if dropout:
            rows.append((f"drop{i}{s}", "Dropout", [f"fc{i}{s}"], [f"fc{i}{s}"]))
        prev = f"fc{i}{s}"
    return rows


def alexnet_rows(data, dropout=True):
    rows, prev = [], data
    for i in range(1, 6):
        rows += [
            (f"conv{i}", "Convolution", [prev], [f"conv{i}"]),
            (f"relu{i}", "ReLU", [f"conv{i}"], [f"conv{i}"]),
        ]
        prev = f"conv{i}"
        if i in (1, 2):
            rows += [
                (f"pool{i}", "Pooling", [prev], [f"pool{i}"]),
                (f"norm{i}", "LRN", [f"pool{i}"], [f"norm{i}"]),
            ]
            prev = f"norm{i}"
    rows.append(("pool5", "Pooling", ["conv5"], ["pool5"]))
    return rows + fc_rows("pool5", "", dropout)


def head_rows(head, image, s=""):
    fc7 = "fc7"
    r = [(f"score_fr{s}", "Convolution", [fc7], [f"score_fr{s}"])]
    if head in ("32s", "alexnet"):
        return r + [
            (f"upscore{s}", "Deconvolution", [f"score_fr{s}"], [f"upscore{s}"]),
            (f"score{s}", "Crop", [f"upscore{s}", image], [f"score{s}"]),
        ]
    r.append((f"upscore2{s}", "Deconvolution", [f"score_fr{s}"], [f"upscore2{s}"]))
    up = f"upscore2{s}"
    pools = ["pool4"] if head == "16s" else ["pool4", "pool3"]
    for pool in pools:
        src = pool
        if head == "8s-atonce":
            r.append((f"scale_{pool}", "Scale", [pool], [f"scale_{pool}"]))
            src = f"scale_{pool}"
        sp, spc, fuse = f"score_{pool}{s}", f"score_{pool}{s}c", f"fuse_{pool}{s}"
        r += [
            (sp, "Convolution", [src], [sp]),
            (spc, "Crop", [sp, up], [spc]),
            (fuse, "Eltwise", [up, spc], [fuse]),
        ]
        nxt = (
            f"upscore16{s}"
            if head == "16s"
            else (f"upscore_pool4{s}" if pool == "pool4" else f"upscore8{s}")
        )
        r.append((nxt, "Deconvolution", [fuse], [nxt]))
        up = nxt
    return r + [(f"score{s}", "Crop", [up, image], [f"score{s}"])]


def expected_rows(model, split):
    head, _, _ = MODELS[model]
    deploy = split == "deploy"
    loss = [] if deploy else [("loss", "SoftmaxWithLoss", ["score", "label"], ["loss"])]
    if model.startswith(("voc", "pascalcontext")) or model in (
        "nyud-fcn32s-color",
        "nyud-fcn32s-hha",
    ):
        data = (
            [("input", "Input", [], ["data"])]
            if deploy
            else [("data", "Python", [], ["data", "label"])]
        )
        trunk = (
            alexnet_rows("data", not deploy)
            if head == "alexnet"
            else vgg_rows("data", dropout=not deploy)
        )
        return data + trunk + head_rows(head, "data") + loss
    if model == "nyud-fcn32s-color-d":
        data = (
            [("color", "Input", [], ["color"]), ("depth", "Input", [], ["depth"])]
            if deploy
            else [("color", "Python", [], ["color", "depth", "label"])]
        )
        data.append(("data", "Concat", ["color", "depth"], ["data"]))
        return (
            data
            + vgg_rows("data", conv1="conv1_1_bgrd", dropout=not deploy)
            + head_rows("32s", "data")
            + loss
        )
    if model == "nyud-fcn32s-color-hha":
        data = (
            [("color", "Input", [], ["color"]), ("hha", "Input", [], ["hha"])]
            if deploy
            else [("color", "Python", [], ["color", "hha", "label"])]
        )
        rows = list(data)
        for m in ("color", "hha"):
            rows += vgg_rows(m, m, dropout=not deploy)
            rows.append((f"score_fr{m}", "Convolution", [f"fc7{m}"], [f"score_fr{m}"]))
        return (
            rows
            + [
                ("score_fused", "Eltwise", ["score_frcolor", "score_frhha"], ["score_fused"]),
                ("upscore", "Deconvolution", ["score_fused"], ["upscore"]),
                ("score", "Crop", ["upscore", "color"], ["score"]),
            ]
            + loss
        )
    # siftflow
    data = (
        [("input", "Input", [], ["data"])]
        if deploy
        else [("data", "Python", [], ["data", "sem", "geo"])]
    )
    rows = data + vgg_rows("data", dropout=not deploy)
    for s, lossname, label in (("_sem", "loss", "sem"), ("_geo", "loss_geo", "geo")):
        rows += head_rows(head, "data", s)
        if not deploy:
            rows.append((lossname, "SoftmaxWithLoss", [f"score{s}", label], [lossname]))
    return rows


def _rows(net):
    return [(x.name, x.type, list(x.bottom), list(x.top)) for x in net.layer]


CASES = [(m, s) for m in MODELS for s in zoo.net_files(m)]


def test_registry():
    assert zoo.MODELS == tuple(MODELS)
    assert len(zoo.MODELS) == 15
    assert zoo.BACKBONE_MODELS == BACKBONE_MODELS
    assert zoo.ALL_MODELS == zoo.MODELS + BACKBONE_MODELS
    for m in BACKBONE_MODELS:
        assert zoo.net_files(m) == ("train", "val", "deploy")
    for m in MODELS:
        eval_stems = (
            ("trainval", "test") if m.startswith(("nyud", "siftflow")) else ("train", "val")
        )
        assert zoo.net_files(m) == eval_stems + ("deploy",)


@pytest.mark.parametrize("model,split", CASES)
def test_graph_params_and_crops(model, split):
    net = zoo.build(model, split)
    assert _rows(net) == expected_rows(model, split)
    head, classes, crops = MODELS[model]
    layers = {x.name: x for x in net.layer}
    for x in net.layer:
        if x.type == "Convolution":
            # The release's AlexNet trunk has no param blocks (Caffe's defaults apply).
            want = [] if ALEXNET_TRUNK.match(x.name) and head == "alexnet" else [(1, 1), (2, 0)]
            assert [(p.lr_mult, p.decay_mult) for p in x.param] == want, x.name
            cp = x.convolution_param
            if x.name.startswith("score"):
                assert list(cp.kernel_size) == [1] and not cp.HasField("weight_filler")
        elif x.type == "Deconvolution":
            cp = x.convolution_param
            assert [p.lr_mult for p in x.param] == [0] and not cp.bias_term and cp.group == 1
            assert cp.kernel_size[0] == (63 if head == "alexnet" else 2 * cp.stride[0])
        elif x.type == "Scale":
            assert [p.lr_mult for p in x.param] == [0]
            want = {"scale_pool4": 0.01, "scale_pool3": 0.0001}[x.name]
            assert x.scale_param.filler.type == "constant"
            assert x.scale_param.filler.value == pytest.approx(want)
        elif x.type == "SoftmaxWithLoss":
            assert x.loss_param.ignore_label == 255
            assert x.loss_param.normalize == (head == "alexnet")
        elif x.type == "Dropout":
            assert x.dropout_param.dropout_ratio == pytest.approx(0.5)
        elif x.type == "Eltwise":
            assert x.eltwise_param.operation == caffe_pb2.EltwiseParameter.SUM
            if x.name == "score_fused":
                assert list(x.eltwise_param.coeff) == [0.5, 0.5]
    got = {x.name: list(x.crop_param.offset) for x in net.layer if x.type == "Crop"}
    assert got == {k: [v] for k, v in crops.items()}
    assert all(x.crop_param.axis == 2 for x in net.layer if x.type == "Crop")
    first = (
        layers.get("conv1_1")
        or layers.get("conv1")
        or layers.get("conv1_1_bgrd")
        or layers["conv1_1color"]
    )
    assert list(first.convolution_param.pad) == [100]
    for name, x in layers.items():
        if name.startswith("fc6"):
            assert x.convolution_param.kernel_size == [6 if head == "alexnet" else 7]


def test_python_data_layers():
    def params(model, split):
        lay = zoo.build(model, split).layer[0]
        import ast

        return (
            lay.python_param.module,
            lay.python_param.layer,
            ast.literal_eval(lay.python_param.param_str),
        )

    mean = (104.00699, 116.66877, 122.67892)
    assert params("voc-fcn8s", "train") == (
        "layers.voc",
        "SBDDSegDataLayer",
        dict(sbdd_dir="../../data/sbdd/dataset", split="train", seed=1337, mean=mean),
    )
    assert params("voc-fcn8s", "val") == (
        "layers.voc",
        "VOCSegDataLayer",
        dict(voc_dir="../../data/pascal/VOC2011", split="seg11valid", mean=mean),
    )
    assert params("nyud-fcn32s-color-hha", "test") == (
        "layers.nyud",
        "NYUDSegDataLayer",
        dict(nyud_dir="../../data/nyud", split="test", tops=["color", "hha", "label"], seed=1337),
    )
    assert params("nyud-fcn32s-hha", "trainval")[2]["tops"] == ["hha", "label"]
    assert params("siftflow-fcn8s", "trainval") == (
        "layers.siftflow",
        "SIFTFlowSegDataLayer",
        dict(siftflow_dir="../../data/sift-flow", split="trainval", seed=1337),
    )
    assert params("pascalcontext-fcn8s", "val") == (
        "layers.pascalcontext",
        "PASCALContextSegDataLayer",
        dict(
            voc_dir="../../data/pascal",
            context_dir="../../data/pascal-context",
            split="val",
            seed=1337,
        ),
    )
    lay = zoo.build("voc-fcn8s", "val", data_root="/srv/data/").layer[0]
    assert "'/srv/data/pascal/VOC2011'" in lay.python_param.param_str


# ---------------------------------------------------------------- shapes, by the formulas


def conv(x, k, p=0, s=1):
    return (x + 2 * p - k) // s + 1


def pool(x, k=2, s=2):  # pad 0: ceil rounding only
    return math.ceil((x - k) / s) + 1


def deconv(x, k, s):
    return s * (x - 1) + k


def reference(model, h, w):
    """Blob -> (C, H, W) for the FCN blobs, from the formulas alone."""
    head, classes, _ = MODELS[model]
    k = classes[0] if isinstance(classes, tuple) else classes
    out = {}

    def both(f):
        return f(h), f(w)

    if head == "alexnet":
        c1 = both(lambda x: conv(x, 11, 100, 4))
        p1 = tuple(pool(x, 3) for x in c1)
        p2 = tuple(pool(x, 3) for x in p1)
        p5 = tuple(pool(x, 3) for x in p2)
        f6 = tuple(conv(x, 6) for x in p5)
        out.update(
            conv1=(96, *c1),
            pool1=(96, *p1),
            conv2=(256, *p1),
            pool2=(256, *p2),
            pool5=(256, *p5),
            fc6=(4096, *f6),
            fc7=(4096, *f6),
            score_fr=(k, *f6),
        )
        out["upscore"] = (k, *(deconv(x, 63, 32) for x in f6))
        out["score"] = (k, h, w)
        return out
    size = both(lambda x: conv(x, 3, 100))
    out["conv1_1"] = (64, *size)
    for b, _, c in VGG_BLOCKS:
        size = tuple(pool(x) for x in size)
        out[f"pool{b}"] = (c, *size)
    f6 = tuple(conv(x, 7) for x in size)
    out.update(fc6=(4096, *f6), fc7=(4096, *f6))
    s = "_sem" if model.startswith("siftflow") else ""
    out[f"score_fr{s}"] = (k, *f6)
    if head in ("32s", "color-hha"):
        out[f"upscore{s}"] = (k, *(deconv(x, 64, 32) for x in f6))
    else:
        up2 = tuple(deconv(x, 4, 2) for x in f6)
        out[f"upscore2{s}"] = (k, *up2)
        out[f"score_pool4{s}"] = (k, *out["pool4"][1:])
        out[f"score_pool4{s}c"] = (k, *up2)
        if head == "16s":
            out[f"upscore16{s}"] = (k, *(deconv(x, 32, 16) for x in up2))
        else:
            up4 = tuple(deconv(x, 4, 2) for x in up2)
            out[f"upscore_pool4{s}"] = (k, *up4)
            out[f"score_pool3{s}c"] = (k, *up4)
            out[f"upscore8{s}"] = (k, *(deconv(x, 16, 8) for x in up4))
    out[f"score{s}"] = (k, h, w)
    if model == "nyud-fcn32s-color-hha":  # both trunks, suffixed
        shared = ("upscore", "score")
        out = {(n if n in shared else n + m): v for m in ("color", "hha") for n, v in out.items()}
        out["score_fused"] = out["score_frcolor"]
    return out


@pytest.mark.parametrize("model", list(MODELS))
def test_shapes_match_caffe_formulas(model):
    for split in ("deploy", zoo.net_files(model)[1]):
        net = zoo.build(model, split)
        for h, w in SIZES:
            got = shapes.infer(net, image_size=(h, w))
            for blob, chw in reference(model, h, w).items():
                if model == "nyud-fcn32s-color-d" and blob == "conv1_1":
                    blob = "conv1_1_bgrd"
                assert got[blob] == (1, *chw), (model, split, h, w, blob)
            head, classes, crops = MODELS[model]
            for crop in crops:  # every crop window fits: offset + output <= input
                lay = next(x for x in net.layer if x.name == crop)
                src = got[lay.bottom[0]]
                assert all(src[i] - crops[crop] >= got[crop][i] for i in (2, 3))


def test_published_numbers_at_500():
    got = shapes.infer(zoo.build("voc-fcn8s", "val"), image_size=(500, 500))
    want = dict(
        conv1_1=698,
        pool1=349,
        pool2=175,
        pool3=88,
        pool4=44,
        pool5=22,
        fc6=16,
        upscore2=34,
        upscore_pool4=70,
        upscore8=568,
        score=500,
    )
    assert {b: got[b][2] for b in want} == want
    assert got["loss"] == () and got["label"] == (1, 1, 500, 500)
    alex = shapes.infer(zoo.build("voc-fcn-alexnet", "deploy"))
    assert alex["upscore"] == (1, 21, 543, 543) and alex["score"] == (1, 21, 500, 500)
    nyud = shapes.infer(zoo.build("nyud-fcn32s-color-d", "trainval"), image_size=(425, 560))
    assert nyud["data"] == (1, 4, 425, 560) and nyud["depth"] == (1, 1, 425, 560)


def test_width_scales_channels_not_classes():
    got = shapes.infer(zoo.build("voc-fcn8s", "deploy", width=0.125), image_size=(64, 64))
    assert got["conv1_1"][1] == 8 and got["pool5"][1] == 64 and got["fc7"][1] == 512
    assert got["score"] == (1, 21, 64, 64)
    tiny = shapes.infer(zoo.build("voc-fcn-alexnet", "deploy", width=0.01))
    assert all(tiny[b][1] % 2 == 0 for b in ("conv1", "conv2", "conv3", "conv4", "conv5"))
    ps = shapes.param_shapes(zoo.build("voc-fcn-alexnet", "deploy", width=0.01))
    assert ps["conv2"][0][1] * 2 == tiny["norm1"][1]  # group 2 halves the input channels
    sift = shapes.infer(zoo.build("siftflow-fcn16s", "deploy", num_classes=(10, 2)))
    assert sift["score_sem"][1] == 10 and sift["score_geo"][1] == 2


def test_param_shapes():
    ps = shapes.param_shapes(zoo.build("voc-fcn8s", "deploy"))
    assert ps["conv1_1"] == [(64, 3, 3, 3), (64,)]
    assert ps["fc6"] == [(4096, 512, 7, 7), (4096,)]
    assert ps["upscore8"] == [(21, 21, 16, 16)]
    assert "score" not in ps and "relu1_1" not in ps
    assert shapes.param_shapes(zoo.build("voc-fcn8s-atonce", "deploy"))["scale_pool4"] == [(512,)]
    assert shapes.param_shapes(zoo.build("nyud-fcn32s-color-d", "deploy"))["conv1_1_bgrd"][0] == (
        64,
        4,
        3,
        3,
    )
    n_vgg = sum(math.prod(s) for v in shapes.param_shapes(ilsvrc.vgg16()).values() for s in v)
    assert n_vgg == 138357544  # the published VGG-16 parameter count


def test_ilsvrc_classifiers_and_twins():
    for fn, size, k, pool5 in (
        (ilsvrc.vgg16, 224, 7, (512, 7, 7)),
        (ilsvrc.alexnet, 227, 6, (256, 6, 6)),
    ):
        ip, fc = fn(), fn(fully_conv=True)
        assert [x.name for x in ip.layer] == [x.name for x in fc.layer]
        assert ip.layer[0].input_param.shape[0].dim == [1, 3, size, size]
        assert {x.name: x.type for x in ip.layer}["fc6"] == "InnerProduct"
        assert {x.name: x.type for x in fc.layer}["fc6"] == "Convolution"
        s_ip, s_fc = shapes.infer(ip), shapes.infer(fc)
        assert s_ip["pool5"] == (1, *pool5) and s_ip["prob"] == (1, 1000)
        assert s_fc["prob"] == (1, 1000, 1, 1)
        p_ip, p_fc = shapes.param_shapes(ip), shapes.param_shapes(fc)
        assert p_ip["fc6"][0] == (4096, math.prod(pool5)) and p_fc["fc6"][0] == (
            4096,
            *pool5[:1],
            k,
            k,
        )
        assert p_fc["fc8"][0] == (1000, 4096, 1, 1)
        assert all(math.prod(a) == math.prod(b) for n in p_ip for a, b in zip(p_ip[n], p_fc[n]))
    small = shapes.infer(
        ilsvrc.vgg16(width=0.25, num_classes=10, fully_conv=True, input_size=(256, 320))
    )
    assert small["fc8"] == (1, 10, 2, 4) and small["conv1_1"][1] == 16


# ---------------------------------------------------------------- solvers, files


# The release's solver files, field by field (docs/models.md): model -> (base_lr, momentum,
# iter_size, max_iter, snapshot or None where the file has no snapshot field, test_iter).
RELEASE_SOLVERS = {
    "voc-fcn32s": (1e-10, 0.99, 1, 100000, 4000, 736),
    "voc-fcn16s": (1e-12, 0.99, 1, 100000, 4000, 736),
    "voc-fcn8s": (1e-14, 0.99, 1, 100000, 4000, 736),
    "voc-fcn8s-atonce": (1e-10, 0.99, 1, 300000, 4000, 736),
    "voc-fcn-alexnet": (1e-4, 0.9, 20, 100000, 4000, 736),
    "nyud-fcn32s-color": (1e-10, 0.99, 1, 300000, 2000, 654),
    "nyud-fcn32s-hha": (1e-10, 0.99, 1, 300000, 2000, 654),
    "nyud-fcn32s-color-d": (1e-10, 0.99, 1, 300000, 2000, 654),
    "nyud-fcn32s-color-hha": (1e-12, 0.99, 1, 300000, 2000, 654),
    "siftflow-fcn32s": (1e-10, 0.99, 1, 300000, None, 200),
    "siftflow-fcn16s": (1e-12, 0.99, 1, 300000, None, 200),
    "siftflow-fcn8s": (1e-12, 0.99, 1, 300000, None, 200),
    "pascalcontext-fcn32s": (1e-10, 0.99, 1, 300000, 4000, 5105),
    "pascalcontext-fcn16s": (1e-12, 0.99, 1, 300000, 4000, 5105),
    "pascalcontext-fcn8s": (1e-14, 0.99, 1, 300000, 4000, 5105),
}


@pytest.mark.parametrize("model", list(MODELS))
def test_solvers_match_release(model):
    base_lr, momentum, iter_size, max_iter, snapshot, test_iter = RELEASE_SOLVERS[model]
    s = zoo.solver(model)
    assert s.base_lr == pytest.approx(base_lr, rel=1e-6)
    assert s.momentum == pytest.approx(momentum)
    assert s.iter_size == iter_size
    assert s.max_iter == max_iter
    assert list(s.test_iter) == [test_iter]
    if snapshot is None:
        assert not s.HasField("snapshot")
        with open(os.path.join(ROOT, "models", model, "solver.prototxt"), encoding="utf-8") as f:
            assert not re.search(r"^snapshot:", f.read(), re.M)
    else:
        assert s.HasField("snapshot") and s.snapshot == snapshot
    train, test, _ = zoo.net_files(model)
    assert s.train_net == f"{train}.prototxt" and list(s.test_net) == [f"{test}.prototxt"]
    assert s.lr_policy == "fixed" and s.weight_decay == pytest.approx(0.0005)
    assert (s.display, s.average_loss, s.test_initialization) == (20, 20, False)
    assert s.test_interval == 999999999 and s.snapshot_prefix == "snapshot/train"


def test_alexnet_trunk_has_no_param_blocks():
    """Release voc-fcn-alexnet: conv1..conv5, fc6, fc7 bare; score_fr and upscore set."""
    for split in zoo.net_files("voc-fcn-alexnet"):
        layers = {x.name: x for x in zoo.build("voc-fcn-alexnet", split).layer}
        for name in ("conv1", "conv2", "conv3", "conv4", "conv5", "fc6", "fc7"):
            assert len(layers[name].param) == 0, (split, name)
        fr = [(p.lr_mult, p.decay_mult) for p in layers["score_fr"].param]
        assert fr == [(1, 1), (2, 0)]
        up = layers["upscore"].param
        assert len(up) == 1 and up[0].lr_mult == 0 and not up[0].HasField("decay_mult")
    # The VGG models keep theirs.
    vgg = {x.name: x for x in zoo.build("voc-fcn32s", "train").layer}
    for name in ("conv1_1", "conv5_3", "fc6", "fc7"):
        assert [(p.lr_mult, p.decay_mult) for p in vgg[name].param] == [(1, 1), (2, 0)]


def test_deploy_input_layer_is_named_input():
    """Release voc-fcn8s deploy: first layer Input 'input', top 'data', 1x3x500x500.

    Every deploy net with one image input follows it; NYUD color-d/color-hha have two Input
    layers, which keep their tops' names (color, depth / hha)."""
    with open(os.path.join(ROOT, "models", "voc-fcn8s", "deploy.prototxt"), encoding="utf-8") as f:
        first = caffeio.net_from_text(f.read()).layer[0]
    assert (first.name, first.type, list(first.top)) == ("input", "Input", ["data"])
    assert [list(sh.dim) for sh in first.input_param.shape] == [[1, 3, 500, 500]]
    for m in (*MODELS, *BACKBONE_MODELS):
        inputs = [x for x in zoo.build(m, "deploy").layer if x.type == "Input"]
        if m in ("nyud-fcn32s-color-d", "nyud-fcn32s-color-hha"):
            assert [x.name for x in inputs] == [x.top[0] for x in inputs], m
        else:
            assert [(x.name, list(x.top)) for x in inputs] == [("input", ["data"])], m


def test_committed_files_match_generator_and_round_trip():
    for m in (*MODELS, *BACKBONE_MODELS):
        folder = os.path.join(ROOT, "models", m)
        for name, text in zoo.texts(m).items():
            path = os.path.join(folder, name)
            assert os.path.exists(path), f"{path} missing: run `make models`"
            with open(path, encoding="utf-8") as f:
                committed = f.read()
            assert committed == text, f"{path} drifted from netspec: run `make {m}` and commit"
            msg = (
                caffe_pb2.SolverParameter()
                if name == "solver.prototxt"
                else (caffe_pb2.NetParameter())
            )
            caffeio.parse_text(committed, msg, path)
            assert caffeio.to_text(msg) == committed
            if name != "solver.prototxt":
                again = caffeio.read_net(path)  # the reader (with upgrade) keeps it intact
                assert caffeio.to_text(again) == committed
    for net in (ilsvrc.vgg16(), ilsvrc.alexnet(fully_conv=True)):
        text = caffeio.to_text(net)
        assert caffeio.to_text(caffeio.net_from_text(text)) == text


def test_write_is_byte_stable(tmp_path):
    p1 = zoo.write("voc-fcn16s", str(tmp_path / "a"), width=0.5)
    p2 = zoo.write("voc-fcn16s", str(tmp_path / "b"), width=0.5)
    for a, b in zip(p1, p2):
        with open(a, "rb") as fa, open(b, "rb") as fb:
            assert fa.read() == fb.read()
    assert sorted(os.path.basename(p) for p in p1) == [
        "deploy.prototxt",
        "solver.prototxt",
        "train.prototxt",
        "val.prototxt",
    ]


def test_unknown_model_and_split():
    from netspec import NetSpecError

    with pytest.raises(NetSpecError, match="unknown model 'voc-fcn4s'.*voc-fcn8s"):
        zoo.build("voc-fcn4s", "train")
    with pytest.raises(NetSpecError, match="nyud-fcn32s-color: no net 'val'.*'trainval'"):
        zoo.build("nyud-fcn32s-color", "val")
