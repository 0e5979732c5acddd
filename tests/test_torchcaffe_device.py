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
    zoo = pytest.importorskip("netspec.zoo")
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
    zoo = pytest.importorskip("netspec.zoo")
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
    import os
    import subprocess
    import sys

    code = "import os, torchcaffe; print(os.environ.get('GOMP_SPINCOUNT'))"
    base = {k: v for k, v in os.environ.items() if k not in ("GOMP_SPINCOUNT", "OMP_WAIT_POLICY")}
    out = subprocess.run([sys.executable, "-c", code], env=base, capture_output=True, text=True)
    assert out.stdout.strip() == "10000", out.stderr
    mine = dict(base, GOMP_SPINCOUNT="123")
    out = subprocess.run([sys.executable, "-c", code], env=mine, capture_output=True, text=True)
    assert out.stdout.strip() == "123"
    passive = dict(base, OMP_WAIT_POLICY="PASSIVE")
    out = subprocess.run([sys.executable, "-c", code], env=passive, capture_output=True, text=True)
    assert out.stdout.strip() == "None"
