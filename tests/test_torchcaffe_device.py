"""Blob host/device synchronisation (exercised on the CPU with a forced host mirror), the
device functions, and CPU-vs-CUDA agreement where a CUDA GPU exists (skipped otherwise)."""

import numpy as np
import pytest
import torch

import torchcaffe as caffe
from torchcaffe.blob import Blob

torch.set_num_threads(1)
cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device in this run")


def test_blob_mirror_synchronises_both_ways():
    b = Blob((2, 3), "cpu", "x", mirror=True)
    host = b.data
    host[...] = 5  # script writes through the host array
    assert not np.shares_memory(host, b.data_tensor.numpy())
    assert (b.data_tensor == 5).all()  # the engine sees it
    b.data_tensor.add_(1)  # the engine writes in place
    assert (b.data == 6).all() and b.data is host  # same host array, refreshed
    b.data_tensor = torch.full((2, 3), 7.0)  # the engine rebinds the blob
    assert (host == 6).all() and (b.data == 7).all()  # a fresh read is current
    b.data.flat = np.arange(6)
    assert b.data_tensor.flatten().tolist() == list(range(6))
    b.diff[...] = 2
    assert (b.diff_tensor == 2).all()
    b.reshape(4)
    assert b.data.shape == (4,) and b.diff.shape == (4,)


def test_blob_cpu_arrays_are_views():
    b = Blob((2, 2), "cpu")
    b.data[...] = 3
    assert (b.data_tensor == 3).all() and np.shares_memory(b.data, b.data_tensor.numpy())
    assert (
        b.shape == (2, 2)
        and b.count == 4
        and (b.num, b.channels, b.height, b.width) == (2, 2, 1, 1)
    )


def test_device_functions():
    caffe.set_mode_cpu()
    assert caffe.describe_device().startswith("cpu")
    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError, match="no CUDA"):
            caffe.set_mode_gpu()
    assert "Convolution" in caffe.layer_type_list() and "SoftmaxWithLoss" in caffe.layer_type_list()


@cuda
def test_cpu_and_gpu_agree():
    zoo = pytest.importorskip("zoo")
    from test_torchcaffe_trainnets import fill_inputs, randomize, stand_in

    param = stand_in(zoo.build("voc-fcn8s", "train", width=1 / 16), 20, 24)
    results = []
    for mode in ("cpu", "gpu"):
        caffe.set_mode_gpu() if mode == "gpu" else caffe.set_mode_cpu()
        try:
            caffe.set_random_seed(3)
            net = caffe.Net(param, caffe.TEST)  # TEST: no dropout draws to differ
            net.record_grad = True
            randomize(net, np.random.default_rng(0))
            fill_inputs(net, np.random.default_rng(1))
            net.forward()
            net.backward()
            results.append(
                (net.blobs["score"].data.copy(), net.loss, net.params["conv1_1"][0].diff.copy())
            )
        finally:
            caffe.set_mode_cpu()
    (s0, l0, g0), (s1, l1, g1) = results
    assert np.abs(s0 - s1).max() <= 1e-4 * np.abs(s0).max()
    assert abs(l0 - l1) <= 1e-4 * abs(l0)
    assert np.abs(g0 - g1).max() <= 1e-3 * np.abs(g0).max()


def test_inference_records_nothing_and_bf16_autocast_is_opt_in():
    zoo = pytest.importorskip("zoo")
    from test_torchcaffe_opencv import randomize

    param = zoo.build("voc-fcn16s", "deploy", width=1 / 16)
    exact = caffe.Net(param, caffe.TEST)
    fast = caffe.Net(param, caffe.TEST, autocast=torch.bfloat16)
    randomize(exact, 0)
    fast.share_with(exact)
    x = np.random.default_rng(0).standard_normal((1, 3, 20, 20)).astype(np.float32) * 50
    a = exact.forward(data=x)["score"].copy()
    assert not exact._records  # inference: no autograd graph kept
    b = fast.forward(data=x)["score"]
    assert b.dtype == np.float32 and b.shape == a.shape
    err = np.abs(a - b).max() / np.abs(a).max()
    assert 0 < err < 0.1  # bf16 is close but not exact; the default is float32


def test_openmp_spin_wait_is_short_unless_chosen():
    """`import torchcaffe` before torch shortens libgomp's spin-wait (two jobs on the same cores
    otherwise spin away each other's time); an explicit choice is kept."""
    import functools
    import os
    import subprocess
    import sys

    code = "import os, torchcaffe; print(os.environ.get('GOMP_SPINCOUNT'))"
    base = {k: v for k, v in os.environ.items() if k not in ("GOMP_SPINCOUNT", "OMP_WAIT_POLICY")}
    run = functools.partial(subprocess.run, capture_output=True, text=True, timeout=120)
    out = run([sys.executable, "-c", code], env=base)
    from torchcaffe import tuning, waitpolicy

    mine = waitpolicy.policy_env(tuning.current().wait_policy)["GOMP_SPINCOUNT"]
    assert out.stdout.strip() == mine, out.stderr
    mine = dict(base, GOMP_SPINCOUNT="123")
    out = run([sys.executable, "-c", code], env=mine)
    assert out.stdout.strip() == "123"
    passive = dict(base, OMP_WAIT_POLICY="PASSIVE")
    out = run([sys.executable, "-c", code], env=passive)
    assert out.stdout.strip() == "None"


def test_cuda_float32_math_is_float32_unless_tf32_is_asked_for(monkeypatch):
    """GPU mode computes float32 layers in float32 (Caffe's semantics): torch's default TF32
    convolutions are turned off; TORCHCAFFE_TF32=1 turns them on (checked without a GPU: the
    switches are torch's global backend flags)."""
    from torchcaffe.device import cuda_math

    saved = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    try:
        torch.backends.cudnn.allow_tf32 = True  # torch's default
        monkeypatch.delenv("TORCHCAFFE_TF32", raising=False)
        assert cuda_math() is False
        assert not torch.backends.cudnn.allow_tf32 and not torch.backends.cuda.matmul.allow_tf32
        monkeypatch.setenv("TORCHCAFFE_TF32", "1")
        assert cuda_math() is True
        assert torch.backends.cudnn.allow_tf32 and torch.backends.cuda.matmul.allow_tf32
    finally:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = saved


@cuda
def test_gpu_mode_convolutions_are_float32_not_tf32():
    """A 3x3 convolution of 256 channels in GPU mode matches float64 to float32's rounding
    (TF32 would be off by ~1e-3 of the output's scale)."""
    caffe.set_mode_gpu()
    try:
        g = torch.Generator().manual_seed(0)
        x = torch.randn(1, 256, 32, 32, generator=g)
        w = torch.randn(256, 256, 3, 3, generator=g)
        ref = torch.nn.functional.conv2d(x.double(), w.double(), padding=1)
        y = torch.nn.functional.conv2d(x.cuda(), w.cuda(), padding=1).cpu().double()
        assert (y - ref).abs().max() / ref.abs().max() < 1e-5
    finally:
        caffe.set_mode_cpu()


def test_cpu_nets_skip_constant_areas_and_use_winograd_by_default(monkeypatch):
    """The CPU's FLOP-saving defaults (constant-area skipping, Winograd F(2x2)); the environment
    decides for both devices when set."""
    zoo = pytest.importorskip("zoo")
    param = zoo.build("voc-fcn32s", "deploy", width=1 / 16)
    monkeypatch.delenv("TORCHCAFFE_SKIP_CONST", raising=False)
    monkeypatch.delenv("TORCHCAFFE_WINOGRAD", raising=False)
    net = caffe.Net(param, caffe.TEST)
    assert net.skip_const and net.winograd == 2
    monkeypatch.setenv("TORCHCAFFE_SKIP_CONST", "0")
    monkeypatch.setenv("TORCHCAFFE_WINOGRAD", "0")
    net = caffe.Net(param, caffe.TEST)
    assert not net.skip_const and net.winograd == 0


@cuda
def test_cuda_nets_run_cudnn_directly_by_default(monkeypatch):
    """On CUDA the constant-area pieces and Winograd's small kernels cost more than they save
    (H100: FCN-8s forward 49 ms with them, 16 ms without): both off unless the environment
    asks, and the outputs match the CPU's."""
    zoo = pytest.importorskip("zoo")
    from test_torchcaffe_opencv import randomize

    monkeypatch.delenv("TORCHCAFFE_SKIP_CONST", raising=False)
    monkeypatch.delenv("TORCHCAFFE_WINOGRAD", raising=False)
    param = zoo.build("voc-fcn8s", "deploy", width=1 / 8)
    x = np.random.default_rng(0).standard_normal((1, 3, 64, 80)).astype(np.float32) * 50
    cpu = caffe.Net(param, caffe.TEST)
    randomize(cpu, 0)
    ref = cpu.forward(data=x)["score"].copy()
    caffe.set_mode_gpu()
    try:
        gpu = caffe.Net(param, caffe.TEST)
        assert not gpu.skip_const and gpu.winograd == 0
        for name, blobs in cpu.params.items():
            for a, b in zip(blobs, gpu.params[name]):
                b.data[...] = a.data
        out = gpu.forward(data=x)["score"]
    finally:
        caffe.set_mode_cpu()
    assert np.abs(out - ref).max() <= 1e-4 * np.abs(ref).max()
