"""Adding a layer type, worked once (docs/adding.md): a toy type registered at run time in the two
places a layer type lives, its row in caffeio.layertypes.TYPES and its op in torchcaffe.ops.
Before, netspec cannot infer its shapes or carry a coordinate map through it and torchcaffe
cannot build it; after, a crop offset is computed through it, a net using it builds, trains a
step (the gradient goes through the op's backward) and exports to ONNX."""

import numpy as np
import pytest
import torch

import caffeio
import torchcaffe
from caffeio import layertypes as lt
from netspec import AlignmentError, L, NetSpec, ShapeError, crop, shapes
from torchcaffe.errors import NetError
from torchcaffe.ops import REGISTRY
from torchcaffe.ops.neuron_fn import ElementwiseLayer

TOY = "ToySoftsign"


class ToySoftsign(ElementwiseLayer):
    """x / (1 + |x|); bottom diff top diff / (1 + |x|)^2 (Caffe's neuron-layer form)."""

    type = TOY
    allows_in_place = False

    def compute(self, x):
        return x / (1 + torch.abs(x)), ()

    def gradient(self, x, y, g, extra):
        return g / (1 + torch.abs(x)) ** 2


# what the row in caffeio/layertypes.py's _ROWS would say: one bottom, one top of its shape,
# element by element (a neuron), pixel for pixel (pointwise), no parameter message, no blobs
ROW = lt.LayerType(TOY, "x / (1 + |x|)", None, (1, 1), (1, 1), lt.POINTWISE, neuron=True,
                   same_shape=True)  # fmt: skip


@pytest.fixture
def toy(monkeypatch):
    """The two registrations (undone after the test)."""
    monkeypatch.setitem(lt.TYPES, TOY, ROW)
    monkeypatch.setitem(REGISTRY, TOY, ToySoftsign)


def toy_net(deploy=False):
    """data -> conv (3x3, stride 2) -> ToySoftsign -> deconv (5x5, stride 2) -> crop to the
    data -> score (3 classes) [-> SoftmaxWithLoss with label]."""
    n = NetSpec()
    n.data = L.Input(shape=dict(dim=[2, 3, 13, 11]))
    if not deploy:
        n.label = L.Input(shape=dict(dim=[2, 1, 13, 11]))
    filler = dict(type="gaussian", std=0.3)
    n.conv = L.Convolution(n.data, num_output=4, kernel_size=3, stride=2, weight_filler=filler)
    n.toy = getattr(L, TOY)(n.conv)
    n.up = L.Deconvolution(n.toy, convolution_param=dict(num_output=3, kernel_size=5, stride=2,
                                                         weight_filler=filler))  # fmt: skip
    n.score = crop(n.up, n.data)
    if not deploy:
        n.loss = L.SoftmaxWithLoss(n.score, n.label)
    return n.to_proto()


def test_before_registration_nothing_knows_it(tmp_path):
    with pytest.raises(AlignmentError):  # no coordinate map through an unknown type
        toy_net()
    n = NetSpec()
    n.data = L.Input(shape=dict(dim=[1, 3, 8, 8]))
    n.toy = getattr(L, TOY)(n.data)
    with pytest.raises(ShapeError, match=f"no shape rule for layer type '{TOY}'"):
        shapes.infer(n.to_proto())
    path = str(tmp_path / "net.prototxt")
    caffeio.write_net(n.to_proto(), path)
    with pytest.raises(NetError, match=TOY):
        torchcaffe.Net(path, torchcaffe.TEST)


def test_the_table_and_netspec_know_it(toy):
    net = toy_net()
    layer = next(lp for lp in net.layer if lp.type == TOY)
    assert lt.spatial_kind(layer) == lt.POINTWISE and lt.counts(layer) == ((1, 1), (1, 1))
    (crop_layer,) = [lp for lp in net.layer if lp.type == "Crop"]
    # conv maps x to (x - 1) / 2, the toy passes that through, the deconvolution maps y to
    # 2 y + 2: 'up' is the image shifted by 1, the offset the coordinate maps give
    assert list(crop_layer.crop_param.offset) == [1]
    infer = shapes.infer(net)
    assert infer["toy"] == infer["conv"] == (2, 4, 6, 5)
    assert infer["score"] == (2, 3, 13, 11)


def test_a_net_using_it_trains_a_step(toy, tmp_path):
    """One SGD step on torchcaffe: the bottom diff of the toy layer is its formula applied to
    the top diff, and the first convolution's weights move."""
    net_path = str(tmp_path / "train.prototxt")
    caffeio.write_net(toy_net(), net_path)
    solver_path = str(tmp_path / "solver.prototxt")
    param = caffeio.caffe_pb2.SolverParameter(
        train_net=net_path, base_lr=0.1, lr_policy="fixed", momentum=0.9, max_iter=1,
        snapshot_prefix=str(tmp_path / "snap"), random_seed=3,
    )  # fmt: skip
    caffeio.write_solver(param, solver_path)
    solver = torchcaffe.get_solver(solver_path)
    net = solver.net
    rng = np.random.default_rng(0)
    net.blobs["data"].data[...] = rng.standard_normal(net.blobs["data"].data.shape)
    net.blobs["label"].data[...] = rng.integers(0, 3, net.blobs["label"].data.shape)
    before = net.params["conv"][0].data.copy()
    solver.step(1)
    x, top_diff = net.blobs["conv"].data, net.blobs["toy"].diff
    assert np.abs(top_diff).max() > 0
    np.testing.assert_allclose(
        net.blobs["conv"].diff, top_diff / (1 + np.abs(x)) ** 2, rtol=1e-5, atol=1e-7
    )
    assert np.isfinite(float(net.blobs["loss"].data))
    assert np.abs(net.params["conv"][0].data - before).max() > 0


def test_a_net_using_it_exports(toy, tmp_path):
    ort = pytest.importorskip("onnxruntime")
    from solvers import export

    assert TOY in export.exportable_types()
    proto = str(tmp_path / "deploy.prototxt")
    caffeio.write_net(toy_net(deploy=True), proto)
    tnet = torchcaffe.Net(proto, torchcaffe.TEST)
    weights = str(tmp_path / "w.caffemodel")
    tnet.save(weights)
    module = export.CaffeModule.from_files(proto, weights)
    x = np.random.default_rng(1).standard_normal((2, 3, 13, 11)).astype(np.float32)
    want = tnet.forward(data=x)["score"].copy()
    with torch.no_grad():
        np.testing.assert_allclose(module(torch.from_numpy(x)).numpy(), want, rtol=1e-5, atol=1e-6)
    onnx_path = export.export_onnx(module, str(tmp_path / "toy.onnx"), sizes=((13, 11),))
    sess = ort.InferenceSession(onnx_path, providers=["CPUExecutionProvider"])
    (got,) = sess.run(None, {"data": x})
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
