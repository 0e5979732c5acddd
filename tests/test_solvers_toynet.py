"""A tiny pycaffe-style net for solver tests, and its NumPy twin.

ToyNet runs the three-InnerProduct MLP of TOY_NET (with a frozen middle layer and mixed
lr_mult/decay_mult) on torch autograd, keeps params in torchcaffe Blobs whose diffs accumulate
until cleared (Caffe's contract), and draws batch k of a fixed synthetic stream at its k-th
forward. The solver under test only sees the pycaffe surface (params, blobs, outputs, forward,
backward, share_with, save, copy_from). `np_grads` gives the same gradients in NumPy.
"""

import collections
import os

import numpy as np
import torch

import caffeio
from torchcaffe.blob import Blob
from torchcaffe.layer import Layer

D, H, C, N = 4, 5, 3, 2

TOY_NET = """name: "toy"
layer { name: "data" type: "Input" top: "data" top: "label"
  input_param { shape { dim: @N dim: @D } shape { dim: @N } } }
layer { name: "ip1" type: "InnerProduct" bottom: "data" top: "ip1"
  param { lr_mult: 1 decay_mult: 1 } param { lr_mult: 2 decay_mult: 0 }
  inner_product_param { num_output: @H } }
layer { name: "relu1" type: "ReLU" bottom: "ip1" top: "ip1" }
layer { name: "ip2" type: "InnerProduct" bottom: "ip1" top: "ip2"
  param { lr_mult: 0 decay_mult: 1 } param { lr_mult: 0 decay_mult: 0 }
  inner_product_param { num_output: @H } }
layer { name: "relu2" type: "ReLU" bottom: "ip2" top: "ip2" }
layer { name: "ip3" type: "InnerProduct" bottom: "ip2" top: "ip3"
  param { lr_mult: 0.5 decay_mult: 2 } param { lr_mult: 1 decay_mult: 0 }
  inner_product_param { num_output: @C } }
layer { name: "loss" type: "SoftmaxWithLoss" bottom: "ip3" bottom: "label" top: "loss" }
"""
for _k, _v in {"@N": N, "@D": D, "@H": H, "@C": C}.items():
    TOY_NET = TOY_NET.replace(_k, str(_v))

# The same net fed by a Python data layer, for torchcaffe.Net (and real pycaffe).
TOY_NET_PY = TOY_NET.replace(
    'type: "Input" top: "data" top: "label"',
    'type: "Python" top: "data" top: "label" '
    'python_param { module: "test_solvers_toynet" layer: "ToyDataLayer" }',
).replace(f"input_param {{ shape {{ dim: {N} dim: {D} }} shape {{ dim: {N} }} }} }}", "}")

# (layer, lr_mult, decay_mult) per learnable param, Caffe's order.
MULTS = [(1, 1), (2, 0), (0, 1), (0, 0), (0.5, 2), (1, 0)]


def init_params(seed=0):
    """Initial weights {layer: [W (out, in), b (out,)]} as float32."""
    rng = np.random.RandomState(seed)
    return collections.OrderedDict(
        ip1=[rng.randn(H, D).astype(np.float32) * 0.5, rng.randn(H).astype(np.float32) * 0.1],
        ip2=[rng.randn(H, H).astype(np.float32) * 0.5, rng.randn(H).astype(np.float32) * 0.1],
        ip3=[rng.randn(C, H).astype(np.float32) * 0.5, rng.randn(C).astype(np.float32) * 0.1],
    )


def batch(k, rank=0, world=1):
    """Example batch number k of the stream as seen by `rank` of `world` (round robin)."""
    j = k * world + rank
    rng = np.random.RandomState(1000 + j)
    x = rng.randn(N, D).astype(np.float32)
    y = rng.randint(0, C, size=N).astype(np.float32)
    return x, y


def np_grads(params, x, y):
    """(loss, [dW1, db1, dW2, db2, dW3, db3]) of the toy net in NumPy (float64 math)."""
    W1, b1, W2, b2, W3, b3 = [p.astype(np.float64) for ps in params.values() for p in ps]
    h1 = x @ W1.T + b1
    r1 = np.maximum(h1, 0)
    h2 = r1 @ W2.T + b2
    r2 = np.maximum(h2, 0)
    s = r2 @ W3.T + b3
    s = s - s.max(1, keepdims=True)
    p = np.exp(s) / np.exp(s).sum(1, keepdims=True)
    lab = y.astype(int)
    loss = -np.log(np.maximum(p[np.arange(len(lab)), lab], np.finfo(np.float32).tiny)).sum()
    loss /= len(lab)
    ds = p.copy()
    ds[np.arange(len(lab)), lab] -= 1
    ds /= len(lab)
    dW3, db3 = ds.T @ r2, ds.sum(0)
    dr2 = ds @ W3
    dh2 = dr2 * (h2 > 0)
    dr1 = dh2 @ W2
    dh1 = dr1 * (h1 > 0)
    dW1, db1 = dh1.T @ x, dh1.sum(0)
    zero = np.zeros_like
    return loss, [dW1, db1, zero(W2), zero(b2), dW3, db3]


class ToyDataLayer(Layer):
    """Python data layer serving `batch(k, rank, world)` at its k-th forward (rank from
    torch.distributed when it runs)."""

    def setup(self, bottom, top):
        self._k = 0
        dist = torch.distributed
        on = dist.is_available() and dist.is_initialized()
        self.rank, self.world = (dist.get_rank(), dist.get_world_size()) if on else (0, 1)

    def reshape(self, bottom, top):
        top[0].reshape(N, D)
        top[1].reshape(N)

    def forward(self, bottom, top):
        x, y = batch(self._k, self.rank, self.world)
        top[0].data[...] = x
        top[1].data[...] = y
        self._k += 1

    def seek(self, k):
        self._k = int(k)


def real_net(path, phase, **kw):
    """torchcaffe.Net over `path` with the toy initial weights."""
    import torchcaffe

    net = torchcaffe.Net(path, phase, **kw)
    for name, arrays in init_params().items():
        for b, a in zip(net.params[name], arrays):
            b.data[...] = a
    return net


class ToyData:
    """The toy net's data layer: position `_k` in the stream, `seek(k)` like the dataset layers."""

    def __init__(self):
        self._k = 0

    def seek(self, k):
        self._k = int(k)


class ToyNet:
    """pycaffe-style net over TOY_NET; `rank`/`world` pick its share of the batch stream."""

    def __init__(self, path, phase, rank=0, world=1, **_):
        self.path, self.phase, self.rank, self.world = path, phase, rank, world
        self.data_layer = ToyData()
        self.layers = [self.data_layer]
        self.params = collections.OrderedDict()
        for name, arrays in init_params().items():
            blobs = []
            for i, a in enumerate(arrays):
                b = Blob(a.shape, name=f"{name}[{i}]")
                b.data[...] = a
                blobs.append(b)
            self.params[name] = blobs
        self.blobs = collections.OrderedDict(
            (n, Blob((), name=n)) for n in ("data", "label", "ip3", "loss")
        )
        self.outputs = ["loss"]
        self.inject_nan = False

    def share_with(self, other):
        for name, blobs in self.params.items():
            for b, o in zip(blobs, other.params[name]):
                b.share_data(o)

    def forward(self):
        x, y = batch(self.data_layer._k, self.rank, self.world)
        self.data_layer._k += 1
        self._x, self._y = torch.from_numpy(x), torch.from_numpy(y).long()
        self._t = [
            b.data_tensor.clone().requires_grad_(True) for bs in self.params.values() for b in bs
        ]
        W1, b1, W2, b2, W3, b3 = self._t
        r1 = torch.relu(self._x @ W1.T + b1)
        r2 = torch.relu(r1 @ W2.T + b2)
        s = r2 @ W3.T + b3
        self._loss = torch.nn.functional.cross_entropy(s, self._y, reduction="sum") / N
        if self.inject_nan:
            self._loss = self._loss * float("nan")
        self.blobs["loss"].reshape(())
        self.blobs["loss"].data[...] = float(self._loss.detach())
        return {"loss": self.blobs["loss"].data}

    def backward(self):
        grads = torch.autograd.grad(self._loss, self._t)
        frozen = {2, 3}
        blobs = [b for bs in self.params.values() for b in bs]
        for i, (b, g) in enumerate(zip(blobs, grads)):
            if i not in frozen:
                b.diff_tensor.add_(g)

    def save(self, path):
        arrays = collections.OrderedDict(
            (k, [b.data.copy() for b in bs]) for k, bs in self.params.items()
        )
        caffeio.write_caffemodel(caffeio.params_to_net(arrays), path)

    def copy_from(self, path):
        for name, arrays in caffeio.load_params(path).items():
            for b, a in zip(self.params[name], arrays):
                b.data[...] = a.reshape(b.shape)

    def weights(self):
        return [b.data.copy() for bs in self.params.values() for b in bs]


def write_toy(folder, solver_fields, name="solver.prototxt", python_data=False):
    """Write toy net + solver prototxt (with `solver_fields` text) into `folder`; solver path.
    python_data: feed the net by ToyDataLayer (for torchcaffe.Net) instead of an Input layer."""
    net = os.path.join(folder, "toy.prototxt")
    with open(net, "w") as f:
        f.write(TOY_NET_PY if python_data else TOY_NET)
    path = os.path.join(folder, name)
    with open(path, "w") as f:
        f.write(f'net: "{net}"\n{solver_fields}\n')
    return path
