"""random_seed in solver.prototxt makes runs repeatable (Dropout masks), as Caffe's does."""

import numpy as np

from caffeio import caffe_pb2, write_net, write_solver
from torchcaffe.solver import get_solver

NET = """name: "drop"
layer { name: "data" type: "Input" top: "data" top: "label"
  input_param { shape { dim: 4 dim: 6 } shape { dim: 4 } } }
layer { name: "drop" type: "Dropout" bottom: "data" top: "drop"
  dropout_param { dropout_ratio: 0.5 } }
layer { name: "fc" type: "InnerProduct" bottom: "drop" top: "fc"
  inner_product_param { num_output: 3 weight_filler { type: "gaussian" std: 0.1 } } }
layer { name: "loss" type: "SoftmaxWithLoss" bottom: "fc" bottom: "label" top: "loss" }
"""


def train(tmp_path, seed):
    from caffeio import net_from_text

    write_net(net_from_text(NET), str(tmp_path / "net.prototxt"))
    s = caffe_pb2.SolverParameter(
        train_net=str(tmp_path / "net.prototxt"), base_lr=0.1, lr_policy="fixed", momentum=0.9
    )
    if seed is not None:
        s.random_seed = seed
    write_solver(s, str(tmp_path / "solver.prototxt"))
    solver = get_solver(str(tmp_path / "solver.prototxt"))
    rng = np.random.default_rng(0)
    solver.net.blobs["data"].data[...] = rng.standard_normal((4, 6))
    solver.net.blobs["label"].data[...] = [0, 1, 2, 1]
    solver.step(3)
    return solver.net.params["fc"][0].data.copy()


def test_same_seed_same_weights_other_seed_differs(tmp_path):
    for name in ("a", "b", "c"):
        (tmp_path / name).mkdir()
    a = train(tmp_path / "a", 7)
    b = train(tmp_path / "b", 7)
    c = train(tmp_path / "c", 8)
    np.testing.assert_array_equal(a, b)  # same filler draw and the same dropout masks
    assert not np.array_equal(a, c)
