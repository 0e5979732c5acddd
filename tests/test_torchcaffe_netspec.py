# ruff: noqa: E501  (prototxt one-liners read better unbroken)
"""`from caffe import layers as L, params as P` scripts under FCN_ENGINE=torch: torchcaffe
re-exports netspec's builder lazily, and a net written that way runs in torchcaffe. Also
Caffe's Split insertion when a loss top feeds other layers."""

import numpy as np
import pytest
import torch

import torchcaffe as caffe
from caffeio import net_from_text
from torchcaffe.netstate import insert_splits

torch.set_num_threads(1)


def test_netspec_reexports_build_a_runnable_net(tmp_path):
    pytest.importorskip("netspec.builder")
    from torchcaffe import NetSpec, to_proto  # noqa: F401  (both must resolve)
    from torchcaffe import layers as L
    from torchcaffe import params as P

    n = NetSpec()
    n.data = L.Input(shape=dict(dim=[1, 2, 6, 6]))
    n.conv = L.Convolution(
        n.data, num_output=3, kernel_size=3, pad=1, weight_filler=dict(type="gaussian", std=0.1)
    )
    n.relu = L.ReLU(n.conv, in_place=True)
    n.pool = L.Pooling(n.relu, pool=P.Pooling.MAX, kernel_size=2, stride=2)
    path = tmp_path / "ns.prototxt"
    path.write_text(str(n.to_proto()))
    net = caffe.Net(str(path), caffe.TEST)
    x = np.random.default_rng(0).standard_normal((1, 2, 6, 6)).astype(np.float32)
    out = net.forward(data=x)["pool"]
    assert out.shape == (1, 3, 3, 3) and (out >= 0).all()


def test_split_insertion_moves_loss_weight_to_split_top_0():
    text = """
layer { name: "in" type: "Input" top: "x" input_param { shape { dim: 1 } } }
layer { name: "a" type: "ReLU" bottom: "x" top: "y" loss_weight: 3 }
layer { name: "b" type: "TanH" bottom: "y" top: "z" }
"""
    out = insert_splits(net_from_text(text))
    names = [(l.name, l.type, list(l.bottom), list(l.top), list(l.loss_weight)) for l in out.layer]
    assert names[1] == ("a", "ReLU", ["x"], ["y"], [])
    assert names[2] == (
        "y_a_0_split",
        "Split",
        ["y"],
        ["y_a_0_split_0", "y_a_0_split_1"],
        [3.0, 0.0],
    )
    assert names[3] == ("b", "TanH", ["y_a_0_split_1"], ["z"], [])
