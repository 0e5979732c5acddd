"""Reliability round two: memory under an address-space limit, duplicated caffemodel layers,
counters Caffe cannot hold, non-finite param_str numbers, the file-size limit, and the
pycaffe path's checks that need no Caffe (engine.pycaffe_checks on torchcaffe nets)."""

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from test_reliability_inputs import NET, _model, _solver, _weights, _write

import caffeio
import torchcaffe
from caffeio import CaffeFormatError, caffe_pb2
from engine import pycaffe_checks
from layers.params import parse_param_str
from netspec import hostmem
from torchcaffe import budget
from torchcaffe.errors import MemoryBudgetError, WeightsError

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LIMIT_AS = """
import resource
def vm():
    for line in open("/proc/self/status"):
        if line.startswith("VmSize:"):
            return int(line.split()[1]) * 1024
def limit(extra):
    resource.setrlimit(resource.RLIMIT_AS, (vm() + extra, resource.RLIM_INFINITY))
"""


def _python(code, timeout=300):
    env = dict(os.environ, PYTHONPATH=ROOT, OMP_NUM_THREADS="1")
    env.pop("TORCHCAFFE_MEMORY_LIMIT", None)
    return subprocess.run(
        [sys.executable, "-c", LIMIT_AS + textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        cwd=ROOT,
    )


# ---------------------------------------------------------------- memory limits
def test_hostmem_reads_the_address_space_limit_minus_what_is_mapped():
    p = _python(
        """
        from netspec import hostmem
        limit(300 << 20)
        free, why = hostmem.available()
        print(free, why)
        """
    )
    assert p.returncode == 0, p.stderr
    free, why = p.stdout.split(" ", 1)
    assert 200 << 20 < int(free) <= 300 << 20 and "address-space limit" in why


def test_a_big_input_under_ulimit_v_is_a_budget_error_naming_the_blob(tmp_path):
    """1 x 3 x 12000 x 12000 (1.7 GB) under 600 MB of address space: torchcaffe refuses with
    the blob, the size and what to do, instead of the allocator's bare RuntimeError."""
    proto = _write(tmp_path, "big.prototxt", NET.replace("dim: 8 dim: 8", "dim: 12000 dim: 12000"))
    p = _python(
        f"""
        import torchcaffe
        from torchcaffe.errors import MemoryBudgetError
        net = torchcaffe.Net({proto!r}, torchcaffe.TEST)
        limit(600 << 20)
        try:
            net.forward()
        except MemoryBudgetError as e:
            print("refused:", e)
        """
    )
    assert p.returncode == 0, p.stderr[-2000:]
    assert "refused:" in p.stdout and "'data'" in p.stdout, p.stdout
    assert "(1, 3, 12000, 12000)" in p.stdout and "--tile" in p.stdout
    assert "address-space limit" in p.stdout


def test_the_channels_last_copy_of_a_bottom_is_checked(tmp_path, monkeypatch):
    text = NET.replace("dim: 8 dim: 8", "dim: 64 dim: 64").replace(
        "num_output: 4 kernel_size: 3 pad: 1", "num_output: 1 kernel_size: 3 stride: 4"
    )
    net = torchcaffe.Net(_write(tmp_path, "cl.prototxt", text), torchcaffe.TEST, channels_last=True)
    net.blobs["data"].data[...] = 1.0  # 48 kB, in NCHW layout; conv1's top is 1 kB
    monkeypatch.setattr(budget, "MIN_CHECKED", 0)
    monkeypatch.setattr(budget, "_free", lambda device: (10_000, "a test limit"))
    with pytest.raises(MemoryBudgetError, match=r"channels_last copy of bottom 'data'.*a test"):
        net.forward()


def test_the_tops_of_same_shape_layers_are_checked_unless_in_place(tmp_path, monkeypatch):
    text = NET.replace("dim: 8 dim: 8", "dim: 64 dim: 64").split('layer { name: "conv1"')[0]
    text += 'layer { name: "relu" type: "ReLU" bottom: "data" top: "data" }\n'
    text += 'layer { name: "sig" type: "Sigmoid" bottom: "data" top: "sig" }\n'
    net = torchcaffe.Net(_write(tmp_path, "s.prototxt", text), torchcaffe.TEST)
    net.blobs["data"].data[...] = 1.0  # 48 kB
    monkeypatch.setattr(budget, "MIN_CHECKED", 0)
    monkeypatch.setattr(budget, "_free", lambda device: (10_000, "a test limit"))
    with pytest.raises(
        MemoryBudgetError, match=r"'sig'.*top 'sig' \(1, 3, 64, 64\) needs 49\.2 kB"
    ):
        net.forward()  # the in-place ReLU allocates nothing and passes


def test_pycaffe_path_refuses_a_net_bigger_than_what_may_be_allocated(tmp_path, monkeypatch):
    proto = _write(tmp_path, "n.prototxt", NET)
    assert pycaffe_checks.check_net_file(proto, 1).name == "tiny"
    monkeypatch.setattr(hostmem, "available", lambda: (1000, "a test limit"))
    with pytest.raises(pycaffe_checks.CaffeInputError, match=r"n\.prototxt: the net needs about"):
        pycaffe_checks.check_net_file(proto, 1)


# ---------------------------------------------------------------- duplicated caffemodel layers
def _duplicated(tmp_path, scale=2.0, reverse=False):
    model = _weights()
    copy = model.layer.add()
    copy.CopyFrom(model.layer[0])  # conv1 again
    arr = caffeio.blob_to_array(copy.blobs[0]) * scale
    copy.blobs[0].CopyFrom(caffeio.array_to_blob(arr.T if reverse else arr))
    return _model(tmp_path, model, "dup.caffemodel"), arr


def test_a_duplicated_layer_is_loaded_as_caffe_does_with_a_warning(tmp_path, capsys):
    weights, second = _duplicated(tmp_path)
    net = torchcaffe.Net(_write(tmp_path, "n.prototxt", NET), torchcaffe.TEST, weights=weights)
    np.testing.assert_array_equal(net.params["conv1"][0].data, second)  # the last copy wins
    err = capsys.readouterr().err
    assert "duplicate layer 'conv1'" in err and "copies that differ" in err and "last" in err


def test_a_duplicated_layer_that_does_not_fit_is_refused(tmp_path):
    weights, _ = _duplicated(tmp_path, reverse=True)
    with pytest.raises(WeightsError, match=r"dup\.caffemodel: cannot copy layer 'conv1' blob 0"):
        torchcaffe.Net(_write(tmp_path, "n.prototxt", NET), torchcaffe.TEST, weights=weights)


def test_pycaffe_path_warns_about_duplicates_and_checks_every_copy(tmp_path, capsys):
    """check_weights_fit reads only net._layer_names and net.layers[i].blobs[k].data: a
    torchcaffe Net stands in for pycaffe's."""
    net = torchcaffe.Net(_write(tmp_path, "n.prototxt", NET), torchcaffe.TEST)
    weights, _ = _duplicated(tmp_path)
    net.layers = [torchcaffe.net.LayerView(i) for i in net._impls]
    assert pycaffe_checks.check_weights_fit(net, weights) == []
    assert "duplicate layer 'conv1'" in capsys.readouterr().err
    weights, _ = _duplicated(tmp_path, reverse=True)
    with pytest.raises(pycaffe_checks.CaffeInputError, match="layer 'conv1' blob 0 has shape"):
        pycaffe_checks.check_weights_fit(net, weights)


# ---------------------------------------------------------------- counters and history
def _state(tmp_path, change, name):
    s = _solver(tmp_path)
    s.step(1)
    _, path = s.snapshot()
    st = caffe_pb2.SolverState()
    st.CopyFrom(caffeio.read_solverstate(path))
    change(st)
    out = str(tmp_path / name)
    caffeio.write_solverstate(st, out)
    return out, s.net


def _transpose(st):
    dims = list(st.history[0].shape.dim)
    st.history[0].shape.ClearField("dim")
    st.history[0].shape.dim.extend(dims[::-1])


BAD_STATES = [
    (lambda st: setattr(st, "iter", 2**31 - 1), "max.solverstate", "at most 2147483646"),
    (lambda st: setattr(st, "current_step", -3), "step.solverstate", "negative"),
]


@pytest.mark.parametrize("change, name, msg", BAD_STATES, ids=["iter-2^31-1", "current-step-3"])
def test_restore_refuses_counters_caffe_cannot_hold(tmp_path, change, name, msg):
    path, _ = _state(tmp_path, change, name)
    fresh = _solver(tmp_path)
    with pytest.raises(CaffeFormatError, match=rf"{name}: iteration .*{msg}"):
        fresh.restore(path)
    assert fresh.iter == 0


@pytest.mark.parametrize(
    "change, name, msg",
    BAD_STATES + [(_transpose, "t.solverstate", r"history blob 0 has shape \(")],
    ids=["iter-2^31-1", "current-step-3", "transposed"],
)
def test_pycaffe_path_refuses_the_same_solverstates(tmp_path, change, name, msg):
    path, net = _state(tmp_path, change, name)
    with pytest.raises(ValueError, match=rf"{name}: .*{msg}"):
        pycaffe_checks.check_solverstate(path, net)


# ---------------------------------------------------------------- param_str
@pytest.mark.parametrize(
    "text, key",
    [
        ("{'mean': 1e309}", "mean"),
        ("{'mean': (104.0, -1e999, 1)}", "mean"),
        ("{'s': [3e308]}", "s"),
    ],
)
def test_param_str_numbers_must_be_finite(text, key):
    with pytest.raises(ValueError, match=rf"L: param_str key '{key}' holds a number that is not"):
        parse_param_str(text, "L", optional={"mean": 0, "s": 0})
    assert parse_param_str("{'mean': 1e308}", "L", optional={"mean": 0}) == {"mean": 1e308}


# ---------------------------------------------------------------- the file-size limit
def test_a_file_size_limit_is_named_as_such_with_the_destination(tmp_path):
    """A caffemodel written through atomic_path (a nested atomic write, as a snapshot is) under
    `ulimit -f`: the error names the destination, not a temporary name, and says file-size
    limit; nothing is left behind."""
    dest = tmp_path / "snap_iter_7.caffemodel"
    p = _python(
        f"""
        import resource
        import numpy as np
        import caffeio
        import caffeio.errors
        from caffeio.atomic import atomic_path
        model = caffeio.params_to_net({{"fc": [np.ones((64, 64), np.float32)]}})
        resource.setrlimit(resource.RLIMIT_FSIZE, (1000, resource.RLIM_INFINITY))
        for how in ("nested", "direct"):
            try:
                if how == "nested":
                    with atomic_path({str(dest)!r}) as tmp:
                        caffeio.write_caffemodel(model, tmp)
                else:
                    caffeio.write_caffemodel(model, {str(dest)!r})
            except caffeio.errors.CaffeWriteError as e:
                print(how, e.errno, e)
        """
    )
    assert p.returncode == 0, p.stderr
    lines = p.stdout.strip().splitlines()
    assert len(lines) == 2, p.stdout
    for line in lines:
        assert f"{dest}: cannot write" in line and "file-size limit" in line, line
        assert "1000 bytes" in line and ".tmp-" not in line and "disk" not in line, line
    assert os.listdir(tmp_path) == []
