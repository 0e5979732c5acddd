"""caffeio: prototxt/caffemodel/solverstate round trips, legacy shapes, V1 upgrade, errors."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import caffeio
from caffeio import CaffeFormatError, caffe_pb2
from caffeio.__main__ import main as info_main
from caffeio.legacy import to_v1

SMALL_NET = """name: "tiny"
layer {
  name: "data"
  type: "Input"
  top: "data"
  input_param { shape { dim: 1 dim: 3 dim: 8 dim: 8 } }
}
layer {
  name: "conv1"
  type: "Convolution"
  bottom: "data"
  top: "conv1"
  param { lr_mult: 1 decay_mult: 1 }
  param { lr_mult: 2 decay_mult: 0 }
  convolution_param { num_output: 4 kernel_size: 3 pad: 1 }
}
layer {
  name: "relu1"
  type: "ReLU"
  bottom: "conv1"
  top: "conv1"
}
layer {
  name: "pool1"
  type: "Pooling"
  bottom: "conv1"
  top: "pool1"
  pooling_param { pool: MAX kernel_size: 2 stride: 2 }
}
layer {
  name: "fc"
  type: "InnerProduct"
  bottom: "pool1"
  top: "fc"
  inner_product_param { num_output: 5 }
}
layer {
  name: "prob"
  type: "Softmax"
  bottom: "fc"
  top: "prob"
}
"""


def _with_weights(net, rng):
    shapes = {"conv1": [(4, 3, 3, 3), (4,)], "fc": [(5, 64), (5,)]}
    out = caffe_pb2.NetParameter()
    out.CopyFrom(net)
    for layer in out.layer:
        for s in shapes.get(layer.name, []):
            layer.blobs.add().CopyFrom(caffeio.array_to_blob(rng.standard_normal(s)))
    return out


@pytest.fixture
def tiny(tmp_path):
    p = tmp_path / "tiny.prototxt"
    p.write_text(SMALL_NET)
    return p


def test_text_round_trip_is_byte_stable(tiny, tmp_path):
    net = caffeio.read_net(str(tiny))
    assert [l.name for l in net.layer] == ["data", "conv1", "relu1", "pool1", "fc", "prob"]
    assert net.layer[1].param[1].lr_mult == 2
    text = caffeio.to_text(net)
    again = caffeio.to_text(caffeio.net_from_text(text))
    assert text == again
    out = tmp_path / "out.prototxt"
    caffeio.write_net(net, str(out))
    assert out.read_text() == text


def test_caffemodel_round_trip(tiny, tmp_path):
    rng = np.random.default_rng(0)
    net = _with_weights(caffeio.read_net(str(tiny)), rng)
    path = tmp_path / "w.caffemodel"
    caffeio.write_caffemodel(net, str(path))
    params = caffeio.load_params(str(path))
    assert list(params) == ["conv1", "fc"]
    assert params["conv1"][0].shape == (4, 3, 3, 3) and params["fc"][1].shape == (5,)
    for layer in net.layer:
        for i, b in enumerate(layer.blobs):
            np.testing.assert_array_equal(params[layer.name][i], caffeio.blob_to_array(b))
    # params_to_net keeps the layer definitions and swaps in new blobs
    doubled = {k: [2 * a for a in v] for k, v in params.items()}
    net2 = caffeio.params_to_net(doubled, net)
    np.testing.assert_array_equal(
        caffeio.blob_to_array(net2.layer[1].blobs[0]), 2 * params["conv1"][0]
    )


def test_legacy_blob_shapes_double_data_and_unpacked_floats():
    b = caffe_pb2.BlobProto(num=1, channels=1, height=2, width=3)
    b.data.extend([1, 2, 3, 4, 5, 6])
    assert caffeio.blob_to_array(b).shape == (1, 1, 2, 3)
    assert caffeio.shapes_match((1, 1, 4096, 25088), (4096, 25088))
    assert not caffeio.shapes_match((1, 1, 4096, 25088), (4096, 512, 7, 7))
    d = caffe_pb2.BlobProto()
    d.shape.dim.extend([2])
    d.data.extend([9, 9])
    d.double_data.extend([0.5, 0.25])
    arr = caffeio.blob_to_array(d)
    assert arr.dtype == np.float64 and arr.tolist() == [0.5, 0.25]  # double_data wins
    # unpacked encoding of repeated float data (field 5, wire type 5, one tag per value)
    raw = b"".join(b"\x2d" + np.float32(v).tobytes() for v in (1.5, -2.0, 3.25))
    u = caffe_pb2.BlobProto.FromString(raw)
    assert caffeio.blob_to_array(u).tolist() == [1.5, -2.0, 3.25]


def test_large_caffemodel_over_64mb(tmp_path):
    # Protobuf's classic 64 MB limit must not bite: VGG FCNs are ~538 MB.
    net = caffe_pb2.NetParameter(name="big")
    layer = net.layer.add(name="fc6", type="InnerProduct")
    big = np.arange(18_000_000, dtype=np.float32).reshape(4500, 4000)
    layer.blobs.add().CopyFrom(caffeio.array_to_blob(big))
    path = tmp_path / "big.caffemodel"
    caffeio.write_caffemodel(net, str(path))
    assert path.stat().st_size > 64 * 2**20
    got = caffeio.load_params(str(path))["fc6"][0]
    assert got.shape == big.shape and got[-1, -1] == big[-1, -1]


def test_v1_upgrade_matches_modern_twin(tiny, tmp_path):
    rng = np.random.default_rng(1)
    modern = _with_weights(caffeio.read_net(str(tiny)), rng)
    v1 = to_v1(modern)
    assert len(v1.layers) == 5 and not len(v1.layer) and list(v1.input) == ["data"]
    assert v1.layers[0].type == caffe_pb2.V1LayerParameter.CONVOLUTION
    assert list(v1.layers[0].blobs_lr) == [1, 2] and list(v1.layers[0].weight_decay) == [1, 0]
    assert v1.layers[3].blobs[0].height == 5 and v1.layers[3].blobs[0].width == 64  # legacy 4-D
    # through files, in both forms
    (tmp_path / "v1.prototxt").write_text(caffeio.to_text(_strip_blobs(v1)))
    caffeio.write_caffemodel(v1, str(tmp_path / "v1.caffemodel"))
    up_text = caffeio.read_net(str(tmp_path / "v1.prototxt"))
    up_bin = caffeio.read_caffemodel(str(tmp_path / "v1.caffemodel"))
    want = _strip_blobs(modern)
    want.layer[0].name = "input"  # Caffe's upgrade names the Input layer it creates "input"
    assert caffeio.to_text(up_text) == caffeio.to_text(want)
    assert [l.name for l in up_bin.layer] == [l.name for l in want.layer]
    assert [l.type for l in up_bin.layer] == [l.type for l in modern.layer]
    got = caffeio.load_params(str(tmp_path / "v1.caffemodel"))
    for layer in modern.layer:
        for i, b in enumerate(layer.blobs):
            a = caffeio.blob_to_array(b)
            assert caffeio.shapes_match(got[layer.name][i].shape, a.shape)
            np.testing.assert_array_equal(got[layer.name][i].reshape(a.shape), a)


def _strip_blobs(net):
    out = caffe_pb2.NetParameter()
    out.CopyFrom(net)
    for layer in out.layer:
        layer.ClearField("blobs")
    for layer in out.layers:
        layer.ClearField("blobs")
    return out


def test_input_dim_and_input_shape_become_input_layer():
    a = caffeio.net_from_text(
        'input: "data" input_dim: 1 input_dim: 3 input_dim: 5 input_dim: 7\n'
        'layer { name: "r" type: "ReLU" bottom: "data" top: "r" }'
    )
    b = caffeio.net_from_text(
        'input: "data" input_shape { dim: 1 dim: 3 dim: 5 dim: 7 }\n'
        'layer { name: "r" type: "ReLU" bottom: "data" top: "r" }'
    )
    for net in (a, b):
        assert [l.type for l in net.layer] == ["Input", "ReLU"]
        assert list(net.layer[0].input_param.shape[0].dim) == [1, 3, 5, 7]
        assert not len(net.input) and not len(net.input_dim)
    with pytest.raises(CaffeFormatError, match="need 4 input_dim"):
        caffeio.net_from_text('input: "data" input_dim: 1 input_dim: 3')


def test_solver_and_solverstate_round_trip(tmp_path):
    text = (
        'train_net: "train.prototxt"\ntest_net: "val.prototxt"\ntest_iter: 736\n'
        'test_interval: 999999999\nbase_lr: 1e-14\nlr_policy: "fixed"\nmomentum: 0.99\n'
        "weight_decay: 0.0005\ndisplay: 20\naverage_loss: 20\nmax_iter: 100000\n"
        'snapshot: 4000\nsnapshot_prefix: "snapshot/train"\ntest_initialization: false\n'
    )
    p = tmp_path / "solver.prototxt"
    p.write_text(text)
    s = caffeio.read_solver(str(p))
    assert s.base_lr == pytest.approx(1e-14) and s.test_iter[0] == 736
    assert caffeio.to_text(
        caffeio.parse_text(caffeio.to_text(s), caffe_pb2.SolverParameter())
    ) == caffeio.to_text(s)
    state = caffe_pb2.SolverState(iter=20, learned_net="snap_iter_20.caffemodel")
    state.history.add().CopyFrom(caffeio.array_to_blob(np.ones((2, 3))))
    caffeio.write_solverstate(state, str(tmp_path / "s.solverstate"))
    back = caffeio.read_solverstate(str(tmp_path / "s.solverstate"))
    assert back.iter == 20 and caffeio.blob_to_array(back.history[0]).shape == (2, 3)


# ---- errors -------------------------------------------------------------------------------------


def test_syntax_error_names_file_line_column(tmp_path):
    p = tmp_path / "bad.prototxt"
    p.write_text('name: "x"\nlayer {\n  name: "a"\n  type: "ReLU"\n  bottom "x"\n}\n')
    with pytest.raises(CaffeFormatError) as e:
        caffeio.read_net(str(p))
    assert str(e.value).startswith(f"{p}:5:")


def test_unknown_field_is_named(tmp_path):
    p = tmp_path / "bad.prototxt"
    p.write_text(
        'layer {\n  name: "a"\n  type: "Convolution"\n  convolution_param { num_outputs: 3 }\n}\n'
    )
    with pytest.raises(CaffeFormatError, match=r":4:.*num_outputs") as e:
        caffeio.read_net(str(p))
    assert "unknown field 'num_outputs'" in str(e.value)


def test_unknown_enum_value_is_named(tmp_path):
    p = tmp_path / "bad.prototxt"
    p.write_text('layer { name: "p" type: "Pooling" pooling_param { pool: MEDIAN } }\n')
    with pytest.raises(CaffeFormatError, match="MEDIAN"):
        caffeio.read_net(str(p))


@pytest.mark.parametrize("content", [b"", b"   \n# only a comment\n"])
def test_empty_prototxt(tmp_path, content):
    p = tmp_path / "empty.prototxt"
    p.write_bytes(content)
    with pytest.raises(CaffeFormatError, match="empty"):
        caffeio.read_net(str(p))


def test_truncated_and_foreign_caffemodels(tiny, tmp_path):
    net = _with_weights(caffeio.read_net(str(tiny)), np.random.default_rng(2))
    data = net.SerializeToString()
    for cut in (len(data) // 3, len(data) - 7, 5):
        p = tmp_path / f"cut{cut}.caffemodel"
        p.write_bytes(data[:cut])
        with pytest.raises(CaffeFormatError, match=str(p)):
            caffeio.read_caffemodel(str(p))
    empty = tmp_path / "empty.caffemodel"
    empty.write_bytes(b"")
    with pytest.raises(CaffeFormatError, match="empty"):
        caffeio.read_caffemodel(str(empty))
    with pytest.raises(CaffeFormatError, match="text prototxt"):
        caffeio.read_caffemodel(str(tiny))
    jpeg = tmp_path / "photo.caffemodel"
    jpeg.write_bytes(b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(range(256)) * 4)
    with pytest.raises(CaffeFormatError, match="photo.caffemodel"):
        caffeio.read_caffemodel(str(jpeg))
    with pytest.raises(CaffeFormatError, match="no such file"):
        caffeio.read_caffemodel(str(tmp_path / "missing.caffemodel"))


def test_blob_count_mismatch_names_layer(tmp_path):
    net = caffe_pb2.NetParameter()
    layer = net.layer.add(name="fc7", type="InnerProduct")
    b = layer.blobs.add()
    b.shape.dim.extend([4, 4])
    b.data.extend([0.0] * 10)
    p = tmp_path / "short.caffemodel"
    caffeio.write_caffemodel(net, str(p))
    with pytest.raises(CaffeFormatError, match=r"fc7.*16 values but 10"):
        caffeio.read_caffemodel(str(p))


def test_atomic_write_leaves_old_file_on_failure(tmp_path, monkeypatch):
    p = tmp_path / "keep.caffemodel"
    p.write_bytes(b"old")

    class Boom(Exception):
        pass

    def bad_fsync(fd):
        raise Boom

    monkeypatch.setattr("os.fsync", bad_fsync)
    with pytest.raises(Boom):
        caffeio.atomic_write(str(p), b"new content")
    assert p.read_bytes() == b"old"
    assert [f.name for f in tmp_path.iterdir()] == ["keep.caffemodel"]


def test_info_command(tiny, tmp_path, capsys):
    net = _with_weights(caffeio.read_net(str(tiny)), np.random.default_rng(3))
    caffeio.write_caffemodel(net, str(tmp_path / "w.caffemodel"))
    assert info_main(["info", str(tmp_path / "w.caffemodel")]) == 0
    out = capsys.readouterr().out
    assert "conv1" in out and "4x3x3x3" in out and f"total {4 * 27 + 4 + 5 * 64 + 5:,}" in out
    assert info_main(["info", str(tiny)]) == 0
    assert "InnerProduct" in capsys.readouterr().out
    bad = tmp_path / "bad.caffemodel"
    bad.write_bytes(b"\x0a\xff\xff")
    assert info_main(["info", str(bad)]) == 2
    assert "error:" in capsys.readouterr().err


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_mangled_prototxt_gives_clean_error_or_correct_parse(data):
    """Mangled text gives CaffeFormatError or a parse that round-trips; nothing else."""
    text = SMALL_NET
    for _ in range(data.draw(st.integers(1, 4))):
        op = data.draw(st.sampled_from(["delete", "insert", "replace"]))
        i = data.draw(st.integers(0, len(text)))
        j = min(len(text), i + data.draw(st.integers(0, 12)))
        junk = data.draw(st.text(alphabet='{}:"#\n abc_019.-', max_size=6))
        if op == "delete":
            text = text[:i] + text[j:]
        elif op == "insert":
            text = text[:i] + junk + text[i:]
        else:
            text = text[:i] + junk + text[j:]
    try:
        net = caffeio.net_from_text(text, "mangled.prototxt")
    except CaffeFormatError as e:
        assert str(e).startswith("mangled.prototxt")
        return
    assert caffeio.to_text(caffeio.net_from_text(caffeio.to_text(net))) == caffeio.to_text(net)
