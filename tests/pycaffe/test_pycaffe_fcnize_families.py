"""surgery fcnize on the six classifier families of tests.fixtures_families (SqueezeNet v1.1,
MobileNet-v1, DenseNet-121, NiN, BN-Inception, PReLU VGG-16; SqueezeNet and NiN also in V1) in
real BVLC Caffe: the classifier files and the fcnized prototxt + caffemodel load (Caffe checks
every blob shape, the channel-shared PReLU slope's 0-axis blob included), the FCN at the native
size gives the classifier's scores, its dense map on a larger input is torchcaffe's, and in the
padding-free variants each cell is the classifier on the matching crop.

The measured differences are printed (pytest -s); the README's fcnize table quotes them."""

import numpy as np
import pytest
from conftest import WIDTH

from surgery.fcnize import fcnize
from tests.fixtures_families import FAMILIES, write_family

CASES = [(name, False) for name in FAMILIES] + [
    (name, True) for name, f in FAMILIES.items() if f.v1
]
IDS = [f"{name}{'-v1' if legacy else ''}" for name, legacy in CASES]


def rel(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.abs(a - b).max() / np.abs(b).max())


def image(size, seed=0):
    return (np.random.default_rng(seed).standard_normal((1, 3, size, size)) * 50).astype(np.float32)


@pytest.fixture(scope="module")
def caffe():
    import caffe

    caffe.set_mode_cpu()
    return caffe


@pytest.fixture(scope="module")
def torchcaffe():
    import torchcaffe

    torchcaffe.set_mode_cpu()
    return torchcaffe


def run(net, x, blob):
    """Caffe forward of `net` on image `x` -> a copy of blob `blob`."""
    net.blobs["data"].reshape(*x.shape)
    net.blobs["data"].data[...] = x
    net.forward()
    return net.blobs[blob].data.copy()


def _fcnized(tmp_path, name, legacy=False, **variant):
    proto, weights = write_family(tmp_path / "cls", name, float(WIDTH), 10, legacy, **variant)
    out, out_proto = str(tmp_path / "fcn.caffemodel"), str(tmp_path / "fcn_deploy.prototxt")
    fcnize(proto, weights, out, out_proto=out_proto, verbose=False)
    return proto, weights, out_proto, out


@pytest.mark.parametrize("name, legacy", CASES, ids=IDS)
def test_fcnized_family_runs_in_caffe_as_in_torchcaffe(caffe, torchcaffe, tmp_path, name, legacy):
    f = FAMILIES[name]
    proto, weights, out_proto, out = _fcnized(tmp_path, name, legacy)
    x = image(f.size)
    cls, fcn = (
        caffe.Net(proto, caffe.TEST, weights=weights),
        caffe.Net(out_proto, caffe.TEST, weights=out),
    )
    ref, got = run(cls, x, f.score), run(fcn, x, f.score)
    assert got.shape == (1, 10, 1, 1) and np.abs(ref).max() > 1e-2
    native = rel(got.reshape(ref.shape), ref)
    final = cls.blobs[f.out].data
    assert rel(fcn.blobs[f.out].data.reshape(final.shape), final) <= 1e-5
    tnet = torchcaffe.Net(out_proto, torchcaffe.TEST, weights=out)
    tnet.forward(data=x)
    engines = rel(tnet.blobs[f.score].data, got)
    big = image(f.size + 2 * f.stride, seed=1)
    dense = run(fcn, big, f.score)
    assert dense.shape == (1, 10, 3, 3)
    tnet.forward(data=big)
    dense_engines = rel(tnet.blobs[f.score].data, dense)
    print(
        f"{name}{' V1' if legacy else ''}: Caffe FCN vs classifier at {f.size}: {native:.1e}; "
        f"torchcaffe vs Caffe (FCN): native {engines:.1e}, 3x3 map {dense_engines:.1e}"
    )
    assert native <= 1e-5 and engines <= 1e-5 and dense_engines <= 1e-4


@pytest.mark.parametrize("name", [n for n, f in FAMILIES.items() if f.pad_free_size])
def test_padding_free_cells_are_caffes_classifier_on_crops(caffe, tmp_path, name):
    f = FAMILIES[name]
    size = f.pad_free_size
    proto, weights, out_proto, out = _fcnized(tmp_path, name, size=size, pad=False)
    cls = caffe.Net(proto, caffe.TEST, weights=weights)
    big = image(size + 2 * f.stride, seed=2)
    score = run(caffe.Net(out_proto, caffe.TEST, weights=out), big, f.score)
    assert score.shape == (1, 10, 3, 3)
    worst = 0.0
    for i, j in ((0, 2), (2, 1), (1, 1)):
        y, x = f.stride * i, f.stride * j
        ref = run(cls, big[:, :, y : y + size, x : x + size], f.score).reshape(10)
        worst = max(worst, rel(score[0, :, i, j], ref))
    print(f"{name} (no padding, {size}): Caffe cells vs Caffe classifier on crops: {worst:.1e}")
    assert worst <= 1e-5
