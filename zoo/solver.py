"""solver.prototxt for an FCN model, with the release's hyperparameters (docs/models.md)."""

from __future__ import annotations

from caffeio import caffe_pb2


def solver(
    base_lr: float,
    test_iter: int,
    train_net: str = "train.prototxt",
    test_net: str = "val.prototxt",
    momentum: float = 0.99,
    iter_size: int = 1,
    max_iter: int = 100000,
    snapshot: int | None = 4000,
    lr_policy: str = "fixed",
    power: float | None = None,
    weight_decay: float = 0.0005,
) -> caffe_pb2.SolverParameter:
    """SolverParameter: weight decay 5e-4 (the release), display/average_loss 20, testing from
    Python.

    lr_policy 'fixed' (the release) or 'poly' with `power` (the ResNet recipe: lr = base_lr *
    (1 - iter / max_iter) ^ power).

    test_interval is 999999999 (the solver builds the test net but never runs it itself;
    score.py does) and test_initialization is false. Paths are relative to the model folder.
    snapshot=None leaves the field out (Caffe's default 0: the solver itself never snapshots),
    as the release's SIFT Flow solvers do.
    """
    s = caffe_pb2.SolverParameter()
    s.train_net = train_net
    s.test_net.append(test_net)
    s.test_iter.append(test_iter)
    s.test_interval = 999999999
    s.test_initialization = False
    s.display = 20
    s.average_loss = 20
    s.lr_policy = lr_policy
    if power is not None:
        s.power = power
    s.base_lr = base_lr
    s.momentum = momentum
    s.iter_size = iter_size
    s.max_iter = max_iter
    s.weight_decay = weight_decay
    if snapshot is not None:
        s.snapshot = snapshot
    s.snapshot_prefix = "snapshot/train"
    return s
