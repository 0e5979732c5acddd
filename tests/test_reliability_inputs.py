"""Issue 14 (reliability): bad weights, bad inputs and unsafe writes end in one clear error naming
the file/layer/blob/flag, never in silently wrong results or raw numpy/torch tracebacks."""

import builtins
import os
import stat
import subprocess
import sys

import numpy as np
import pytest
from test_solvers_toynet import ToyNet, write_toy

import caffeio
import torchcaffe
from caffeio import CaffeFormatError, caffe_pb2
from caffeio.__main__ import main as info_main
from torchcaffe.errors import NetError
from torchcaffe.solver import get_solver

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

NET = """name: "tiny"
layer { name: "data" type: "Input" top: "data"
        input_param { shape { dim: 1 dim: 3 dim: 8 dim: 8 } } }
layer { name: "conv1" type: "Convolution" bottom: "data" top: "conv1"
        convolution_param { num_output: 4 kernel_size: 3 pad: 1 } }
layer { name: "pool1" type: "Pooling" bottom: "conv1" top: "pool1"
        pooling_param { pool: MAX kernel_size: 2 stride: 2 } }
layer { name: "fc" type: "InnerProduct" bottom: "pool1" top: "fc"
        inner_product_param { num_output: 5 } }
"""
SHAPES = {"conv1": [(4, 3, 3, 3), (4,)], "fc": [(5, 64), (5,)]}


def _write(tmp_path, name, text):
    p = tmp_path / name
    p.write_text(text)
    return str(p)


def _weights(shapes=SHAPES, seed=0):
    rng = np.random.default_rng(seed)
    out = caffe_pb2.NetParameter(name="tiny")
    for name, blobs in shapes.items():
        layer = out.layer.add(name=name, type="Convolution" if "conv" in name else "InnerProduct")
        for s in blobs:
            caffeio.fill_blob(layer.blobs.add(), rng.standard_normal(s).astype(np.float32))
    return out


def _model(tmp_path, net, name="w.caffemodel"):
    path = str(tmp_path / name)
    caffeio.write_caffemodel(net, path)
    return path


def _run(*args, cwd=ROOT):
    return subprocess.run(
        [sys.executable, "-m", *args], capture_output=True, text=True, cwd=cwd, timeout=120
    )


# ---------------------------------------------------------------- item 3: weights
def test_nonfinite_weights_refused_with_layer_and_blob(tmp_path):
    from caffeio.weights_check import check_weights

    proto = _write(tmp_path, "net.prototxt", NET)
    w = _weights()
    w.layer[1].blobs[0].data[7] = float("nan")
    path = _model(tmp_path, w)
    with pytest.raises(CaffeFormatError, match=r"w\.caffemodel: layer 'fc' blob 0.*1 NaN"):
        check_weights(caffeio.read_net(proto), path)
    with pytest.raises(CaffeFormatError, match=r"layer 'fc' blob 0.*allow_nonfinite"):
        torchcaffe.Net(proto, torchcaffe.TEST, weights=path)
    net = torchcaffe.Net(proto, torchcaffe.TEST)
    with pytest.raises(NetError, match="CAFFEIO_ALLOW_NONFINITE"):
        net.copy_from(path)
    assert net.copy_from(path, allow_nonfinite=True) == []
    assert np.isnan(net.params["fc"][0].data).sum() == 1


def test_nonfinite_weights_env_opt_in(tmp_path, monkeypatch):
    proto = _write(tmp_path, "net.prototxt", NET)
    w = _weights()
    w.layer[0].blobs[1].data[0] = float("inf")
    path = _model(tmp_path, w)
    with pytest.raises(CaffeFormatError, match=r"layer 'conv1' blob 1 \(bias.*1 inf"):
        torchcaffe.Net(proto, torchcaffe.TEST, weights=path)
    monkeypatch.setenv("CAFFEIO_ALLOW_NONFINITE", "1")
    net = torchcaffe.Net(proto, torchcaffe.TEST, weights=path)
    assert np.isinf(net.params["conv1"][1].data[0])


def test_weights_of_another_net_name_layer_blob_and_shapes(tmp_path):
    from caffeio.weights_check import check_weights

    proto = _write(tmp_path, "net.prototxt", NET)
    other = _weights({"conv1": [(6, 3, 3, 3), (6,)], "fc": [(5, 96), (5,)]})
    path = _model(tmp_path, other)
    msg = r"layer 'conv1' blob 0 \(weights\).*\(6, 3, 3, 3\) vs target \(4, \?, 3 per"
    with pytest.raises(CaffeFormatError, match=msg):
        check_weights(caffeio.read_net(proto), path)
    with pytest.raises(CaffeFormatError, match=r"\(6, 3, 3, 3\) vs target \(4, 3, 3, 3\)"):
        torchcaffe.Net(proto, torchcaffe.TEST, weights=path)
    nobias = _weights({"conv1": [(4, 3, 3, 3)]})
    with pytest.raises(CaffeFormatError, match=r"layer 'conv1' holds 1 blobs.*has 2"):
        check_weights(caffeio.read_net(proto), nobias, source="nobias.caffemodel")


def test_caffemodel_cut_at_a_layer_boundary_reports_missing_layers(tmp_path, capsys):
    from caffeio.weights_check import check_weights

    proto = _write(tmp_path, "net.prototxt", NET)
    full = _weights()
    first = caffe_pb2.NetParameter(name="tiny")
    first.layer.add().CopyFrom(full.layer[0])
    data = full.SerializeToString()
    cut = len(first.SerializeToString())
    assert data[:cut] == first.SerializeToString()  # the cut parses as a smaller net
    path = tmp_path / "cut.caffemodel"
    path.write_bytes(data[:cut])
    assert check_weights(caffeio.read_net(proto), str(path)) == ["fc"]
    net = torchcaffe.Net(proto, torchcaffe.TEST, weights=str(path))
    err = capsys.readouterr().err
    assert "1 learnable layer(s) get no weights" in err and "cut.caffemodel" in err
    assert "fc" in err and net.layers_without_weights == ["fc"]
    foreign = _weights({"conv_x": [(4, 3, 3, 3), (4,)]})
    assert check_weights(caffeio.read_net(proto), foreign) == ["conv1", "fc"]


def test_legacy_shapes_and_phase_filter_in_check_weights(tmp_path):
    from caffeio.weights_check import check_weights

    net = caffeio.read_net(_write(tmp_path, "net.prototxt", NET))
    legacy = caffe_pb2.NetParameter()
    for name, blobs in SHAPES.items():
        layer = legacy.layer.add(name=name)
        for s in blobs:
            caffeio.fill_blob(layer.blobs.add(), np.zeros(s), legacy=True)
    assert check_weights(net, legacy) == []
    net.layer[3].include.add(phase=caffe_pb2.TRAIN)
    assert check_weights(net, _weights({"conv1": SHAPES["conv1"]}), phase=caffe_pb2.TEST) == []


def _solver(tmp_path):
    fields = 'base_lr: 0.05 momentum: 0.9 max_iter: 8 snapshot_prefix: "{}"'
    path = write_toy(str(tmp_path), fields.format(tmp_path / "snap" / "toy"))
    return get_solver(path, net_factory=ToyNet)


def test_restore_refuses_negative_iter_nonfinite_history_and_no_learned_net(tmp_path):
    s = _solver(tmp_path)
    s.step(2)
    _, state_path = s.snapshot()
    good = caffeio.read_solverstate(state_path)

    def broken(change, name):
        st = caffe_pb2.SolverState()
        st.CopyFrom(good)
        change(st)
        path = str(tmp_path / name)
        caffeio.write_solverstate(st, path)
        return path

    cases = [
        (lambda st: setattr(st, "iter", -3), "neg.solverstate", r"neg\.solverstate.*negative.*-3"),
        (
            lambda st: st.history[1].data.__setitem__(0, float("nan")),
            "nan.solverstate",
            r"nan\.solverstate: history blob 1.*NaN",
        ),
        (lambda st: st.ClearField("learned_net"), "nonet.solverstate", "no learned_net"),
    ]
    for change, name, msg in cases:
        fresh = _solver(tmp_path)
        with pytest.raises(CaffeFormatError, match=msg):
            fresh.restore(broken(change, name))
        assert fresh.iter == 0


# ---------------------------------------------------------------- item 7: blob dims
@pytest.mark.parametrize(
    "dims, msg",
    # (2**62 + 1) * 4 wraps to 4 in int64: the four stored values looked like a full blob
    [((2**62 + 1, 4), rf"needs {(2**62 + 1) * 4} values but 4 are"), ((-1, 4), "negative")],
)
def test_blob_dims_overflow_or_negative(tmp_path, dims, msg):
    net = caffe_pb2.NetParameter()
    blob = net.layer.add(name="fc", type="InnerProduct").blobs.add()
    blob.shape.dim.extend(dims)
    blob.data.extend([1.0, 2.0, 3.0, 4.0])
    path = _model(tmp_path, net, "dims.caffemodel")
    with pytest.raises(CaffeFormatError, match=rf"dims\.caffemodel: layer 'fc' blob 0.*{msg}"):
        caffeio.read_caffemodel(path)


# ---------------------------------------------------------------- item 8: caffeio info
def test_info_tells_prototxt_with_long_header_and_corrupt_caffemodel(tmp_path, capsys):
    header = "".join(f"# line {i} of a long licence header, no fields here\n" for i in range(200))
    proto = _write(tmp_path, "net.prototxt", header + NET)
    assert info_main(["info", proto]) == 0
    assert "net prototxt 'tiny'" in capsys.readouterr().out
    solver = _write(tmp_path, "solver.prototxt", header + 'net: "x"\nbase_lr: 0.01\n')
    assert info_main(["info", solver]) == 0
    assert ": solver" in capsys.readouterr().out
    data = _weights().SerializeToString()
    bad = tmp_path / "bad.caffemodel"
    bad.write_bytes(data[: len(data) // 2])
    assert info_main(["info", str(bad)]) == 2
    out = capsys.readouterr()
    assert "bad.caffemodel: not a valid binary caffemodel" in out.err and not out.out
    bad.write_bytes(b"\x08\x03\x85\xf8\xcb" + data[5:])  # parses as a bare iteration number
    assert info_main(["info", str(bad)]) == 2
    out = capsys.readouterr()
    assert "bad.caffemodel: not a valid solverstate" in out.err and "at iter" not in out.out


# ---------------------------------------------------------------- item 9: file safety
def test_atomic_write_honours_umask(tmp_path):
    old = os.umask(0o022)
    try:
        caffeio.atomic_write(str(tmp_path / "a.txt"), b"x")
        os.umask(0o077)
        caffeio.write_caffemodel(_weights(), str(tmp_path / "b.caffemodel"))
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(tmp_path / "a.txt").st_mode) == 0o644
    assert stat.S_IMODE(os.stat(tmp_path / "b.caffemodel").st_mode) == 0o600


def test_atomic_write_ignores_planted_symlink_and_cleans_stale_temps(tmp_path):
    from caffeio.atomic import atomic_path, remove_stale_temps

    victim = tmp_path / "victim"
    victim.write_bytes(b"keep")
    os.symlink(victim, tmp_path / "out.png.tmp.png")  # the old predictable temp name
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        timeout=120,
    ).stdout.strip()
    from caffeio.atomic import _host_tag

    stale = tmp_path / f".out.png.tmp-{dead}-{_host_tag()}-abc123"
    stale.write_bytes(b"half a file")
    with atomic_path(str(tmp_path / "out.png")) as tmp:
        # a path in a private folder next to the target: no one else can swap the file
        private = os.path.dirname(tmp)
        assert os.path.dirname(private) == str(tmp_path) and os.path.basename(tmp) == "out.png"
        assert stat.S_IMODE(os.stat(private).st_mode) == 0o700 and not os.path.exists(tmp)
        with open(tmp, "wb") as f:
            f.write(b"png")
    assert victim.read_bytes() == b"keep" and (tmp_path / "out.png").read_bytes() == b"png"
    assert not stale.exists() and not os.path.exists(private)
    assert remove_stale_temps(str(tmp_path)) == 0


def test_atomic_write_read_only_folder_is_one_clear_error(tmp_path, monkeypatch):
    from caffeio.errors import CaffeWriteError

    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    if os.geteuid() == 0:  # root writes anyway: refuse the way a read-only mount does
        real = os.open

        def read_only(path, *a, **k):
            if str(path).startswith(str(ro) + os.sep):
                raise OSError(30, "Read-only file system")
            return real(path, *a, **k)

        monkeypatch.setattr(os, "open", read_only)
    try:
        with pytest.raises(CaffeWriteError, match=r"ro/x\.caffemodel: cannot write.*not writable"):
            caffeio.write_caffemodel(_weights(), str(ro / "x.caffemodel"))
    finally:
        ro.chmod(0o755)
    assert os.listdir(ro) == []


def test_atomic_write_errors_name_the_file(tmp_path, monkeypatch):
    from caffeio.errors import CaffeWriteError

    (tmp_path / "adir").mkdir()
    with pytest.raises(CaffeWriteError, match=r"adir: cannot write.*is a directory: pass a file"):
        caffeio.atomic_write(str(tmp_path / "adir"), b"x")

    def full(fd):
        raise OSError(28, "No space left on device")

    (tmp_path / "s.json").write_bytes(b"old")
    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(CaffeWriteError, match=r"s\.json: cannot write.*full") as e:
        caffeio.atomic_write(str(tmp_path / "s.json"), b"new")
    assert isinstance(e.value, OSError) and e.value.errno == 28
    monkeypatch.undo()
    assert (tmp_path / "s.json").read_bytes() == b"old"
    assert sorted(os.listdir(tmp_path)) == ["adir", "s.json"]


# ---------------------------------------------------------------- item 10: linear build
def test_net_from_path_reads_the_prototxt_a_constant_number_of_times(tmp_path, monkeypatch):
    lines = [NET.split("layer {")[0] + "layer {" + NET.split("layer {")[1]]
    prev = "data"
    for i in range(60):
        lines.append(f'layer {{ name: "r{i}" type: "ReLU" bottom: "{prev}" top: "r{i}" }}\n')
        prev = f"r{i}"
    proto = _write(tmp_path, "chain.prototxt", "".join(lines))
    opens = []
    real_open = builtins.open

    def counting_open(file, *a, **k):
        if str(file) == proto:
            opens.append(file)
        return real_open(file, *a, **k)

    monkeypatch.setattr(builtins, "open", counting_open)
    net = torchcaffe.Net(proto, torchcaffe.TEST)
    assert len(net.layers) > 60
    assert len(opens) <= 2, f"the prototxt was opened {len(opens)} times for 62 layers"


# ---------------------------------------------------------------- items 6-8: bad nets
BAD_NETS = {
    "pool stride 0": (
        "pooling_param { pool: MAX kernel_size: 2 stride: 2 }",
        "pooling_param { pool: MAX kernel_size: 2 stride: 0 }",
        "pool1",
        "stride",
    ),
    "group 0": (
        "num_output: 4 kernel_size: 3",
        "num_output: 4 group: 0 kernel_size: 3",
        "conv1",
        "group 0",
    ),
    "kernel 0": ("num_output: 4 kernel_size: 3", "num_output: 4 kernel_size: 0", "conv1", "kernel"),
    "0 channels": ("dim: 1 dim: 3 dim: 8", "dim: 1 dim: 0 dim: 8", "data", "size < 1"),
    "num_output 0": ("num_output: 5", "num_output: 0", "fc", "num_output"),
    "negative dim": ("dim: 1 dim: 3", "dim: 1 dim: -3", "data", "-3"),
}


@pytest.mark.parametrize("case", sorted(BAD_NETS))
def test_invalid_nets_are_clear_errors_in_torchcaffe_and_netspec_shapes(tmp_path, case):
    old, new, layer, what = BAD_NETS[case]
    assert old in NET
    proto = _write(tmp_path, "bad.prototxt", NET.replace(old, new, 1))
    with pytest.raises(NetError, match=rf"bad\.prototxt:\d+: layer '({layer})'.*({what})"):
        torchcaffe.Net(proto, torchcaffe.TEST).forward()
    from netspec.__main__ import main as netspec_main

    assert netspec_main(["shapes", proto]) == 1  # an error line, not shapes


def test_netspec_shapes_refuses_a_blob_written_twice(tmp_path, capsys):
    from netspec.__main__ import main as netspec_main

    twice = NET.replace(
        'layer { name: "pool1"',
        'layer { name: "conv1b" type: "Convolution" bottom: "data" top: "conv1"\n'
        "        convolution_param { num_output: 4 kernel_size: 3 pad: 1 } }\n"
        'layer { name: "pool1"',
    )
    assert netspec_main(["shapes", _write(tmp_path, "twice.prototxt", twice)]) == 1
    err = capsys.readouterr().err
    assert "'conv1b'" in err and "top 'conv1' is already written by layer 'conv1'" in err
    phased = twice.replace('top: "conv1"\n', 'top: "conv1" include { phase: TRAIN }\n', 1)
    phased = phased.replace(
        'bottom: "data" top: "conv1"\n        convolution_param { num_output: 4 kernel_size: 3 pad',
        'bottom: "data" top: "conv1" include { phase: TEST }\n'
        "        convolution_param { num_output: 4 kernel_size: 3 pad",
    )
    assert netspec_main(["shapes", _write(tmp_path, "phased.prototxt", phased)]) == 0


CROP_NET = """layer { name: "data" type: "Input" top: "data"
        input_param { shape { dim: 1 dim: 3 dim: 8 dim: 8 } } }
layer { name: "conv" type: "Convolution" bottom: "data" top: "conv"
        convolution_param { num_output: 2 kernel_size: 3 stride: 2 } }
layer { name: "up" type: "Deconvolution" bottom: "conv" top: "up"
        convolution_param { num_output: 2 kernel_size: 4 stride: 2 bias_term: false } }
layer { name: "crop" type: "Crop" bottom: "up" bottom: "data" top: "crop"
        crop_param { axis: 2 offset: 0 } }
"""


def test_crop_axis_beyond_the_blob_is_an_error(tmp_path, capsys):
    from netspec.__main__ import main as netspec_main

    proto = _write(tmp_path, "crop.prototxt", CROP_NET.replace("axis: 2", "axis: 7"))
    with pytest.raises(NetError, match=r"crop\.prototxt:\d+: layer 'crop'.*axis 7 is beyond"):
        torchcaffe.Net(proto, torchcaffe.TEST)
    assert netspec_main(["shapes", proto]) == 1
    assert "axis 7 is beyond" in capsys.readouterr().err


def test_deconvolution_stride_0_blames_the_deconvolution(tmp_path, capsys):
    from netspec import coord
    from netspec.__main__ import main as netspec_main
    from netspec.errors import NetSpecError

    proto = _write(tmp_path, "d.prototxt", CROP_NET.replace("stride: 2 bias", "stride: 0 bias"))
    assert netspec_main(["shapes", proto]) == 1
    err = capsys.readouterr().err
    assert "layer 'up' (Deconvolution): stride 0" in err and "'crop'" not in err
    with pytest.raises(NetSpecError, match=r"layer 'up' \(Deconvolution\): stride 0"):
        coord.blob_maps(caffeio.read_net(proto))


@pytest.mark.parametrize("size", ["0x0", "-1x5", "axb", "5x0"])
def test_netspec_shapes_input_must_be_positive(tmp_path, size):
    proto = _write(tmp_path, "net.prototxt", NET)
    r = _run("netspec", "shapes", proto, f"--input={size}")
    assert r.returncode == 2 and "--input" in r.stderr and "HxW" in r.stderr and not r.stdout


@pytest.mark.parametrize("width", ["nan", "inf", "0", "-1", "x"])
def test_width_flags_refuse_non_positive_or_non_finite(tmp_path, width):
    for args in (
        ("zoo", "make", "voc-fcn32s", "--out-dir", str(tmp_path)),
        ("surgery", "stage", "--from", "x.caffemodel", "--to", "voc-fcn32s"),
    ):
        r = _run(*args, f"--width={width}")
        assert r.returncode == 2, (args, r.stderr)
        assert "--width" in r.stderr and "> 0" in r.stderr
    assert not os.listdir(tmp_path)


def test_huge_parameters_and_inputs_refused_before_allocating(tmp_path, monkeypatch):
    from torchcaffe.errors import MemoryBudgetError

    proto = _write(tmp_path, "big.prototxt", NET.replace("num_output: 5", "num_output: 2000000000"))
    with pytest.raises(MemoryBudgetError, match=r"big\.prototxt:\d+: layer 'fc'.*parameter blob 0"):
        torchcaffe.Net(proto, torchcaffe.TEST)
    # an input the size of a 20000 x 20000 photo, against a 100 MB budget
    monkeypatch.setenv("TORCHCAFFE_MEMORY_LIMIT", str(100 << 20))
    net = torchcaffe.Net(_write(tmp_path, "net.prototxt", NET), torchcaffe.TEST)
    net.blobs["data"].reshape(1, 3, 20000, 20000)
    with pytest.raises(MemoryError, match=r"blob 'data' \(1, 3, 20000, 20000\) needs 4\.8 GB"):
        net.forward()
    net.blobs["data"].reshape(1, 3, 8, 8)  # a sane size still runs afterwards
    assert net.forward()["fc"].shape == (1, 5)
    no_fc = NET.split('layer { name: "fc"')[0]
    pad = _write(tmp_path, "pad.prototxt", no_fc.replace("pad: 1", "pad: 3000"))
    with pytest.raises(MemoryError, match=r"layer 'conv1'.*top 'conv1' \(1, 4, 6006, 6006\)"):
        torchcaffe.Net(pad, torchcaffe.TEST).forward()


@pytest.mark.parametrize("force", [[], ["--force"]])
def test_fcnize_onto_a_directory_says_what_to_pass(tmp_path, force):
    out = tmp_path / "outdir"
    out.mkdir()
    r = _run(
        "surgery",
        "fcnize",
        "--proto",
        "p.prototxt",
        "--weights",
        "vgg.caffemodel",
        "--out",
        str(out),
        *force,
    )
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert f"{out}: is a directory; pass the file to write instead" in r.stderr
    assert os.path.join(str(out), "vgg-fcn.caffemodel") in r.stderr


# ---------------------------------------------------------------- item 6: 16-bit PNGs, --n
def test_16_bit_png_labels_read_exactly_or_refused(tmp_path):
    from PIL import Image

    from layers.errors import DataError
    from layers.io import load_png_label, read_rgb

    small = np.array([[0, 1, 20], [255, 7, 3]], np.uint16)
    Image.fromarray(small).save(tmp_path / "lab16.png")
    assert Image.open(tmp_path / "lab16.png").mode.startswith("I")
    np.testing.assert_array_equal(load_png_label(str(tmp_path / "lab16.png"))[0], small)
    Image.fromarray(np.array([[0, 300]], np.uint16)).save(tmp_path / "big16.png")
    with pytest.raises(DataError, match=r"class index 300 > 255.*big16\.png"):
        load_png_label(str(tmp_path / "big16.png"))
    grey = np.array([[0, 257, 32768, 65535]], np.uint16)
    Image.fromarray(grey).save(tmp_path / "img16.png")
    rgb = read_rgb(str(tmp_path / "img16.png"))
    assert rgb.shape == (1, 4, 3) and rgb[0, :, 1].tolist() == [0, 1, 128, 255]


@pytest.mark.parametrize("n", ["-3", "0", "x"])
def test_score_n_must_be_positive(n, capsys):
    from solvers.evaluation.cli import parse_args

    with pytest.raises(SystemExit) as e:
        parse_args("voc-fcn32s", ["--weights", "w.caffemodel", f"--n={n}"])
    assert e.value.code == 2 and "--n" in capsys.readouterr().err


# ---------------------------------------------------------------- item 9: plotlog, export
def _plant(tmp_path, name):
    victim = tmp_path / "victim.txt"
    victim.write_bytes(b"keep")
    os.symlink(victim, tmp_path / name)
    return victim


def test_plotlog_and_export_do_not_follow_planted_temp_names(tmp_path):
    import torch

    from solvers import export
    from solvers.pictures import plotlog

    log = tmp_path / "train.log"
    log.write_text("".join(f"Iteration {i}, loss = {1.0 / (i + 1)}\n" for i in range(5)))
    out = tmp_path / "curves.png"
    victim = _plant(tmp_path, "curves.png.tmp.png")
    old = os.umask(0o022)
    try:
        assert plotlog.main([str(log), "--out", str(out)]) == 0
        pt = tmp_path / "w.pt"
        _plant(tmp_path, "w.pt.tmp")
        export.save_state_dict({"a": torch.zeros(2)}, str(pt))
    finally:
        os.umask(old)
    assert victim.read_bytes() == b"keep"
    assert out.read_bytes()[:4] == b"\x89PNG" and stat.S_IMODE(out.stat().st_mode) == 0o644
    assert torch.load(str(pt))["a"].shape == (2,)
    assert not [f for f in os.listdir(tmp_path) if ".tmp-" in f]


def test_zoo_make_into_an_unwritable_place_is_one_line(tmp_path):
    (tmp_path / "afile").write_text("")
    r = _run("zoo", "make", "voc-fcn32s", "--out-dir", str(tmp_path / "afile" / "models"))
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert r.stderr.startswith(f"error: {tmp_path / 'afile'}") and "--out-dir" in r.stderr
