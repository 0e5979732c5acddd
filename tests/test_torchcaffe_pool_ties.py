"""MAX pooling where Caffe's own rule decides: bit-equal values in a window.

Caffe keeps the first maximum in scan order (strict ``>`` from -FLT_MAX) and its backward adds the
whole top diff there. torchcaffe follows that rule on every path it takes (inference autograd,
the training buffers' NCHW byte offsets, NHWC runs of rows, overlapping windows' int64 indices):
on maps made of a few integer values (ties everywhere) with integer top diffs the bottom diffs
equal a NumPy transcription of Caffe's rule bit for bit. Values within float rounding of each
other are not ties for Caffe either; tests/exactness.py says what is comparable then.
"""

import numpy as np
import pytest
from exactness import caffe_max_pool_backward, max_pools, tie_dependent_blobs

import torchcaffe
from caffeio import caffe_pb2


def _pool_net(shape, k, s, p):
    net = caffe_pb2.NetParameter(name="ties", force_backward=True)
    inp = net.layer.add(name="x", type="Input", top=["x"])
    inp.input_param.shape.add(dim=list(shape))
    pool = net.layer.add(name="pool", type="Pooling", bottom=["x"], top=["y"])
    pool.pooling_param.pool = caffe_pb2.PoolingParameter.MAX
    pool.pooling_param.kernel_size, pool.pooling_param.stride = k, s
    pool.pooling_param.pad = p
    return net


def test_reference_is_first_maximum_in_scan_order():
    x = np.zeros((1, 1, 2, 2), np.float32)  # one window, four bit-equal values
    got = caffe_max_pool_backward(x, np.ones((1, 1, 1, 1)), (2, 2), (2, 2), (0, 0))
    assert got[0, 0].tolist() == [[1, 0], [0, 0]]
    x[0, 0, 1, 0] = x[0, 0, 1, 1] = 5  # the later two tie above the rest: the first of them
    got = caffe_max_pool_backward(x, np.ones((1, 1, 1, 1)), (2, 2), (2, 2), (0, 0))
    assert got[0, 0].tolist() == [[0, 0], [1, 0]]


@pytest.mark.parametrize("phase", ["TEST", "TRAIN"])
@pytest.mark.parametrize("channels_last", [False, True])
@pytest.mark.parametrize(
    "k,s,p,hw", [(2, 2, 0, (12, 14)), (2, 2, 0, (13, 9)), (3, 2, 1, (11, 10)), (3, 1, 1, (7, 8))]
)
def test_bit_equal_ties_go_to_the_first_maximum(k, s, p, hw, channels_last, phase):
    shape = (2, 5, *hw)
    param = _pool_net(shape, k, s, p)
    net = torchcaffe.Net(
        param, getattr(torchcaffe, phase), channels_last=channels_last, buffers=phase == "TRAIN"
    )
    rng = np.random.default_rng(k * 10 + s)
    x = rng.integers(0, 3, shape).astype(np.float32)  # three values: ties in most windows
    x[0, 0] = 1.0  # and one channel constant, as pad 100's areas are
    net.blobs["x"].data[...] = x
    net.forward()
    top = net.blobs["y"]
    d = rng.integers(-4, 5, top.data.shape).astype(np.float32)
    top.diff[...] = d
    net.backward()
    want = caffe_max_pool_backward(x, d, (k, k), (s, s), (p, p))
    np.testing.assert_array_equal(net.blobs["x"].diff, want.astype(np.float32))


def test_tie_dependent_blobs_are_those_below_a_max_pooling():
    import zoo

    param = zoo.build("voc-fcn8s", "train", width=1 / 16)
    tied = tie_dependent_blobs(param)
    assert [p[0] for p in max_pools(param)] == [f"pool{i}" for i in range(1, 6)]
    assert {"data", "conv1_1", "pool4", "conv5_3"} <= tied
    assert not {"pool5", "fc6", "fc7", "score_fr", "score_pool4", "score", "upscore8"} & tied
