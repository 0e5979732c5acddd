"""netspec.profile: parameter, MAC and FLOP counts against hand formulas, receptive fields and
strides against the paper's Table 1, and the output of `python -m zoo profile`, `python -m
bench.timed_profile` (with measured speed) and `python -m netspec profile` (prototxt files)."""

import io
import json
import math

import pytest

import caffeio
import zoo
from bench.timed_profile import main as bench_main
from caffeio import caffe_pb2
from netspec import L, NetSpec, P, profile, shapes
from netspec.__main__ import main as netspec_main
from zoo.__main__ import main


def _small():
    n = NetSpec()
    n.data = L.Input(shape=dict(dim=[1, 3, 20, 24]))
    n.conv = L.Convolution(n.data, num_output=8, kernel_size=3, pad=1)
    n.bn = L.BatchNorm(n.conv, use_global_stats=True)
    n.sc = L.Scale(n.bn, bias_term=True, param=[dict(lr_mult=0), dict(lr_mult=0)])
    n.relu = L.ReLU(n.sc, in_place=True)
    n.pool = L.Pooling(n.relu, pool=P.Pooling.MAX, kernel_size=2, stride=2)
    n.dil = L.Convolution(
        n.pool, num_output=6, kernel_size=3, dilation=2, stride=2, pad=2, group=2, bias_term=False
    )
    n.up = L.Deconvolution(
        n.dil,
        convolution_param=dict(num_output=6, kernel_size=4, stride=2, group=3, bias_term=False),
        param=[dict(lr_mult=0)],
    )
    n.fc = L.InnerProduct(n.up, num_output=5)
    return n.to_proto()


def _rows(net, size):
    return {r["name"]: r for r in profile.layer_costs(net, size)}


def test_small_net_parameters_by_kind():
    rows = _rows(_small(), (20, 24))
    assert rows["conv"]["params"]["trainable"] == 8 * 3 * 3 * 3 + 8
    assert rows["bn"]["params"]["bn_statistics"] == 8 + 8 + 1  # mean, variance, factor
    assert rows["sc"]["params"]["frozen"] == 8 + 8  # gamma, beta at lr_mult 0
    assert rows["dil"]["params"]["trainable"] == 6 * (8 // 2) * 3 * 3
    assert rows["up"]["params"]["fixed_upsampling"] == 6 * (6 // 3) * 4 * 4
    # dil 5x6 (see below); up 2 * (5 - 1) + 4 = 12 by 2 * (6 - 1) + 4 = 14 -> K = 6 * 12 * 14
    assert rows["up"]["top"] == [1, 6, 12, 14]
    assert rows["fc"]["params"]["trainable"] == 6 * 12 * 14 * 5 + 5
    p = profile.profile_net(_small(), (20, 24))
    t = p["totals"]
    assert t["parameters"] == t["trainable"] + t["frozen"] == 224 + 16 + 216 + 5045
    assert (t["fixed_upsampling"], t["bn_statistics"]) == (6 * 2 * 16, 17)


def test_macs_and_flops_of_single_layers():
    rows = _rows(_small(), (20, 24))
    assert rows["conv"]["macs"] == (20 * 24) * 8 * 3 * 3 * 3
    # dilated grouped strided conv: out (10 + 4 - 5) // 2 + 1 = 5, (12 + 4 - 5) // 2 + 1 = 6;
    # dilation does not change the MACs: out pixels x Cout x Cin/g x k x k
    assert rows["dil"]["top"] == [1, 6, 5, 6]
    assert rows["dil"]["macs"] == 5 * 6 * 6 * (8 // 2) * 3 * 3
    # Deconvolution on its input side: in pixels x Cin x Cout/g x k x k
    assert rows["up"]["macs"] == 5 * 6 * 6 * (6 // 3) * 4 * 4
    assert rows["fc"]["macs"] == 6 * 12 * 14 * 5
    for name in ("conv", "dil", "up", "fc"):
        assert rows[name]["flops"] == 2 * rows[name]["macs"]
    n = 8 * 20 * 24
    assert (rows["relu"]["flops"], rows["bn"]["flops"], rows["sc"]["flops"]) == (n, 2 * n, 2 * n)
    assert rows["pool"]["flops"] == 8 * 10 * 12 * 4  # kernel area per output element
    assert rows["relu"]["macs"] == rows["pool"]["macs"] == 0


def _vgg_params(head):
    """VGG-16 conv layers and fc6/fc7 as convolutions, weights + biases, plus `head`."""
    convs = [(3, 64), (64, 64), (64, 128), (128, 128), (128, 256)] + [(256, 256)] * 2
    convs += [(256, 512)] + [(512, 512)] * 5
    n = sum(ci * co * 9 + co for ci, co in convs)
    n += 512 * 7 * 7 * 4096 + 4096 + 4096 * 4096 + 4096
    return n + sum(ci * co + co for ci, co in head)


def test_fcn8s_parameters_exact_and_fcn32s_is_the_papers_134m():
    t = _profile_model("voc-fcn8s", (500, 500))["totals"]
    assert t["parameters"] == _vgg_params([(4096, 21), (512, 21), (256, 21)]) == 134_362_751
    # upscore2, upscore_pool4 (k4) and upscore8 (k16): 21 x 21 x k x k, no bias, lr_mult 0
    assert t["fixed_upsampling"] == 21 * 21 * (16 + 16 + 256)
    t32 = _profile_model("voc-fcn32s", (500, 500))["totals"]
    assert t32["parameters"] == _vgg_params([(4096, 21)]) == 134_346_581
    assert round(t32["parameters"] / 1e6) == 134  # paper, Table 1


def test_fcn8s_macs_at_500():
    t = _profile_model("voc-fcn8s", (500, 500))["totals"]
    assert t["macs"] == 181_529_034_048  # docs/models.md: ~181.5 GMAC (363 GFLOP)
    assert t["flops"] == 2 * t["macs"] + t["elem_ops"]
    assert round(2 * t["macs"] / 1e9) == 363


def test_backbone_parameters():
    r101 = _profile_model("voc-fcn-resnet101", (321, 321))["totals"]
    assert round(r101["parameters"] / 1e6, 2) == 51.95  # pytorch-auto-drive's FCN-ResNet-101
    net = zoo.build("voc-fcn-resnet101", "deploy")
    every = sum(
        math.prod(b) for bs in shapes.param_shapes(net, image_size=(321, 321)).values() for b in bs
    )
    assert every == r101["parameters"] + r101["fixed_upsampling"] + r101["bn_statistics"]
    assert r101["frozen"] > 0 and r101["bn_statistics"] > 0
    g = _profile_model("voc-fcn-googlenet", (224, 224))["totals"]
    assert round(g["parameters"] / 1e6) == 6  # paper, Table 1


@pytest.mark.parametrize(
    "model, field, stride",
    [
        ("voc-fcn32s", 404, 32),  # paper: 404 / 32
        ("voc-fcn8s", 404, 32),  # score_fr, before the skips
        ("voc-fcn-alexnet", 355, 32),  # paper: 355 / 32
        ("voc-fcn-googlenet", 715, 32),  # paper: 907 = 715 + (7 - 1) x 32 with pool5 7x7
        ("voc-fcn-resnet101", 1043, 8),
    ],
)
def test_receptive_field_and_stride(model, field, stride):
    s = _profile_model(model, (500, 500))["score"]
    assert (s["blob"], s["receptive_field"], s["stride"]) == ("score_fr", field, stride)
    assert s["max_stride"] == stride


def test_pad_100_does_not_change_the_receptive_field():
    net = zoo.build("voc-fcn32s", "deploy")
    before = profile.receptive_fields(net)["score_fr"]
    conv = next(lp for lp in net.layer if lp.name == "conv1_1")
    conv.convolution_param.pad[:] = [1]
    after = profile.receptive_fields(net)["score_fr"]
    assert [hi - lo for _, lo, hi in before] == [hi - lo for _, lo, hi in after]
    assert before[0][1] - after[0][1] == -99  # only the offset moves


def test_googlenet_with_its_pool5_has_the_papers_907():
    net = zoo.build("voc-fcn-googlenet", "deploy")
    keep = caffe_pb2.NetParameter()
    for lp in net.layer:
        keep.layer.add().CopyFrom(lp)
        if lp.name == "inception_5b/output":
            break
    pool = keep.layer.add()
    pool.name, pool.type = "pool5/7x7_s1", "Pooling"
    pool.pooling_param.pool = caffe_pb2.PoolingParameter.AVE
    pool.pooling_param.kernel_size, pool.pooling_param.stride = 7, 1
    pool.bottom.append("inception_5b/output")
    pool.top.append("pool5")
    (jh, lo, hi), _ = profile.receptive_fields(keep)["pool5"]
    assert (hi - lo + 1, jh) == (907, 32)


def _profile_model(model, size):
    return profile.profile_net(zoo.build(model, "deploy"), size)


def _cli(*argv, entry=None):
    out = io.StringIO()
    rc = entry(list(argv), out=out) if entry else main(["profile", *argv], out=out)
    return rc, out.getvalue()


def test_cli_output(tmp_path):
    path = tmp_path / "p.json"
    rc, text = _cli("voc-fcn32s", "voc-fcn-alexnet", "--input", "500x500", "--json", str(path))
    assert rc == 0
    lines = text.splitlines()
    assert lines[0] == "voc-fcn32s: deploy net at 500x500, width 1"
    assert lines[1] == "  parameters       134,346,581 (trainable 134,346,581, frozen 0)"
    assert lines[2].startswith("  apart            fixed bilinear upsampling 1,806,336,")
    assert lines[3].startswith("  multiply-adds    181.366 GMAC (")
    assert "GFLOP = 2 x MACs + " in lines[4]
    assert lines[5] == "  receptive field  404 px at score_fr, stride 32 (max stride 32)"
    assert "| voc-fcn-alexnet | 500x500 | 56.95M | 21.424 |" in text
    assert text.rstrip().splitlines()[-2].startswith("counting: parameters = trainable + frozen")
    data = json.loads(path.read_text())
    assert [p["model"] for p in data] == ["voc-fcn32s", "voc-fcn-alexnet"]
    assert data[0]["totals"]["macs"] == 181_365_854_976
    assert data[0]["layers"][1]["name"] == "conv1_1"


def test_cli_per_layer_and_measure():
    rc, text = _cli(
        "voc-fcn8s", "--input", "64x64", "--width", "0.0625", "--per-layer", entry=bench_main
    )
    assert rc == 0
    assert "  forward cpu      " in text and "images/s (" in text
    assert "forward cuda" in text
    lines = [ln.split() for ln in text.splitlines()]
    conv = next(ln for ln in lines if ln and ln[0] == "conv1_1")
    assert conv[:3] == ["conv1_1", "Convolution", "1x4x262x262"]
    assert conv[3] == str(4 * 3 * 9 + 4)


def test_cli_errors(capsys):
    assert _cli("no-such-model", "--input", "500x500")[0] == 1
    assert "unknown model 'no-such-model'" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        _cli("voc-fcn8s", "--input", "0x5")


def test_netspec_cli_profiles_prototxt_files(tmp_path):
    path = tmp_path / "deploy.prototxt"
    caffeio.write_net(zoo.build("voc-fcn32s", "deploy"), str(path))
    out = io.StringIO()
    assert netspec_main(["profile", str(path), "--input", "500x500"], out=out) == 0
    lines = out.getvalue().splitlines()
    assert lines[0] == f"{path}: deploy net at 500x500"
    assert lines[1] == "  parameters       134,346,581 (trainable 134,346,581, frozen 0)"
    assert "forward cpu" not in out.getvalue()  # netspec runs nothing
    assert netspec_main(["profile", str(tmp_path / "none.prototxt"), "--input", "9x9"]) == 1
