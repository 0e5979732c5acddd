"""netspec.shapes rules and errors, and the `python -m netspec` command line."""

import io
import os
import subprocess
import sys

import pytest

from netspec import L, NetSpec, P, ShapeError, shapes
from netspec.__main__ import main

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _net(*build):
    n = NetSpec()
    n.data = L.Input(shape=dict(dim=[1, 3, 3, 3]))
    for name, fn in build:
        n[name] = fn(n)
    return n.to_proto()


def test_pooling_padded_window_rule_and_floor_mode():
    net = _net(
        ("p", lambda n: L.Pooling(n.data, kernel_size=2, stride=2, pad=1)),
        ("q", lambda n: L.Pooling(n.data, kernel_size=2, stride=2)),
        ("f", lambda n: L.Pooling(n.data, kernel_size=2, stride=2, round_mode="FLOOR")),
        ("g", lambda n: L.Pooling(n.data, pool=P.Pooling.AVE, global_pooling=True)),
    )
    got = shapes.infer(net, image_size=(3, 3))
    # ceil((3 + 2 - 2) / 2) + 1 = 3, but window 3 would start at 4 >= 3 + 1: dropped -> 2
    assert got["p"] == (1, 3, 2, 2)
    assert got["q"] == (1, 3, 2, 2)  # ceil((3 - 2) / 2) + 1
    assert got["f"] == (1, 3, 1, 1)  # floor
    assert got["g"] == (1, 3, 1, 1)
    assert shapes.infer(net, image_size=(7, 5))["p"] == (1, 3, 4, 3)


def test_conv_deconv_dilation_groups_concat_inner_product():
    net = _net(
        (
            "c",
            lambda n: L.Convolution(
                n.data, num_output=6, kernel_size=3, dilation=2, stride=2, pad=1, group=3
            ),
        ),
        (
            "d",
            lambda n: L.Deconvolution(
                n.c, convolution_param=dict(num_output=4, kernel_size=4, stride=3, pad=1, group=2)
            ),
        ),
        ("cat", lambda n: L.Concat(n.data, n.data)),
        ("ip", lambda n: L.InnerProduct(n.cat, num_output=7)),
    )
    got = shapes.infer(net, image_size=(20, 11))
    assert got["c"] == (1, 6, (20 + 2 - 5) // 2 + 1, (11 + 2 - 5) // 2 + 1)
    assert got["d"] == (1, 4, 3 * (9 - 1) + 4 - 2, 3 * (5 - 1) + 4 - 2)
    assert got["cat"] == (1, 6, 20, 11) and got["ip"] == (1, 7)
    ps = shapes.param_shapes(net, image_size=(20, 11))
    assert ps["c"] == [(6, 1, 3, 3), (6,)]
    assert ps["d"] == [(6, 2, 4, 4), (4,)]
    assert ps["ip"] == [(7, 6 * 20 * 11), (7,)]


def test_errors_name_the_layer():
    bad_crop = _net(
        ("c", lambda n: L.Convolution(n.data, num_output=2, kernel_size=3, pad=2)),
        ("s", lambda n: L.Crop(n.c, n.data, crop_param=dict(axis=2, offset=[3]))),
    )
    with pytest.raises(ShapeError, match=r"layer 's' \(Crop\).*out of range.*'c' has size 7"):
        shapes.infer(bad_crop, image_size=(5, 5))
    good_crop = _net(
        ("c", lambda n: L.Convolution(n.data, num_output=2, kernel_size=3, pad=2)),
        ("s", lambda n: L.Crop(n.c, n.data, crop_param=dict(axis=2, offset=[2]))),
    )
    assert shapes.infer(good_crop, image_size=(9, 9))["s"] == (1, 2, 9, 9)  # 11 - 2 >= 9
    mism = _net(
        ("p", lambda n: L.Pooling(n.data, kernel_size=2, stride=2)),
        ("e", lambda n: L.Eltwise(n.data, n.p)),
    )
    with pytest.raises(ShapeError, match=r"layer 'e' \(Eltwise\).*'p' 1x3x2x2 differs"):
        shapes.infer(mism)
    small = _net(("c", lambda n: L.Convolution(n.data, num_output=2, kernel_size=7)))
    with pytest.raises(ShapeError, match=r"layer 'c'.*too small"):
        shapes.infer(small)
    grp = _net(("c", lambda n: L.Convolution(n.data, num_output=4, kernel_size=1, group=2)))
    with pytest.raises(ShapeError, match=r"group 2 must divide input channels 3"):
        shapes.infer(grp)
    odd = _net(("w", lambda n: L.WeirdLayer(n.data)))
    with pytest.raises(ShapeError, match=r"layer 'w' \(WeirdLayer\): no shape rule"):
        shapes.infer(odd)
    n = NetSpec()
    n.data, n.label = L.Python(module="x", layer="Y", ntop=2)
    with pytest.raises(ShapeError, match=r"layer 'data' \(Python\).*input_shapes"):
        shapes.infer(n.to_proto())
    got = shapes.infer(n.to_proto(), image_size=(4, 6))
    assert got == {"data": (1, 3, 4, 6), "label": (1, 1, 4, 6)}


def test_unknown_ok_tolerates_unknown_tops_until_a_parameter_needs_one():
    n = NetSpec()
    n.data, n.label = L.Python(module="x", layer="Y", ntop=2)
    n.feat = L.Python(module="x", layer="Z")  # a top whose shape netspec.datatops cannot tell
    n.conv = L.Convolution(n.data, num_output=4, kernel_size=3)
    n.relu = L.ReLU(n.conv, in_place=True)
    n.fc = L.InnerProduct(n.feat, num_output=5)
    n.odd = L.WeirdLayer(n.conv)
    net = n.to_proto()
    with pytest.raises(ShapeError, match=r"layer 'feat' \(x.Z\).*top 'feat'"):
        shapes.infer(net, image_size=(6, 6))
    got = shapes.infer(net, image_size=(6, 6), unknown_ok=True)
    assert got == {"data": (1, 3, 6, 6), "label": (1, 1, 6, 6), "feat": None,
                   "conv": (1, 4, 4, 4), "fc": None, "odd": None}  # fmt: skip
    assert shapes.infer(net, {"data": (2, 3, 5, 5)}, unknown_ok=True)["conv"] == (2, 4, 3, 3)
    assert shapes.infer(net, unknown_ok=True)["conv"] is None
    # fc's weights depend on 'feat': an error naming the layer and the bottom
    with pytest.raises(ShapeError, match=r"layer 'fc' \(InnerProduct\).*bottom 'feat'.*unknown"):
        shapes.param_shapes(net, image_size=(6, 6), unknown_ok=True)
    with pytest.raises(ShapeError, match=r"layer 'conv' \(Convolution\).*bottom 'data'"):
        shapes.param_shapes(net, unknown_ok=True)
    ps = shapes.param_shapes(net, {"feat": (1, 2, 3, 3)}, image_size=(6, 6), unknown_ok=True)
    assert ps == {"conv": [(4, 3, 3, 3), (4,)], "fc": [(5, 18), (5,)]}


def test_cli_shapes_explains_the_pad_100_story():
    out = io.StringIO()
    path = os.path.join(ROOT, "models", "voc-fcn8s", "val.prototxt")
    assert main(["shapes", path, "--input", "500x500"], out=out) == 0
    text = out.getvalue()
    lines = {}
    for ln in text.splitlines():
        if ln and not ln.startswith(" "):
            lines.setdefault(ln.split()[0], ln)  # the table row, not the notes below it
    assert "1x64x698x698" in lines["conv1_1"] and "(500 + 2*100 - 3)" in lines["conv1_1"]
    assert "1x4096x16x16" in lines["fc6"] and "1x21x568x568" in lines["upscore8"]
    assert "1x21x500x500" in lines["score"] and "offset 31" in lines["score"]
    assert "upscore8 = x * 1 + 31" in text and "computed offset 31" in text
    assert "computed offset 5" in text and "computed offset 9" in text
    assert "pads by 100" in text


def test_cli_shapes_errors(tmp_path, capsys):
    assert main(["shapes", str(tmp_path / "nope.prototxt")]) == 1
    assert "no such file" in capsys.readouterr().err


def test_module_runs_as_a_command():
    path = os.path.join(ROOT, "models", "voc-fcn32s", "deploy.prototxt")
    r = subprocess.run(
        [sys.executable, "-m", "netspec", "shapes", path],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    assert "computed offset 19; the file says offset 19; 1x21x544x544 -> 1x21x500x500" in r.stdout
