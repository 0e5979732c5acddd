"""Snapshots: Caffe's file names and SolverState layout; restore-and-continue is exact; logs."""

import os
import re

import numpy as np
import pytest
from test_solvers_toynet import MULTS, ToyNet, write_toy

from caffeio import caffe_pb2
from solvers.training.streams import seek_data
from torchcaffe.solver import get_solver
from torchcaffe.solver_log import SolverLog

FIELDS = (
    'type: "{kind}" base_lr: 0.05 lr_policy: "multistep" gamma: 0.5 stepvalue: 3 '
    "stepvalue: 5 momentum: 0.9 weight_decay: 0.001 iter_size: 2 display: 2 average_loss: 3 "
    'max_iter: 8 snapshot_prefix: "{prefix}"'
)


def make(tmp_path, kind="SGD", log=None):
    path = write_toy(str(tmp_path), FIELDS.format(kind=kind, prefix=tmp_path / "snap" / "toy"))
    return get_solver(path, net_factory=ToyNet, log=log)


@pytest.mark.parametrize("kind", ["SGD", "Adam"])
def test_solverstate_layout_and_exact_resume(tmp_path, kind):
    full = make(tmp_path, kind)
    full.step(8)

    first = make(tmp_path, kind)
    first.step(4)
    model, state_path = first.snapshot()
    assert model == f"{tmp_path}/snap/toy_iter_4.caffemodel"
    assert state_path == f"{tmp_path}/snap/toy_iter_4.solverstate"
    state = caffe_pb2.SolverState()
    with open(state_path, "rb") as f:
        state.ParseFromString(f.read())
    assert state.iter == 4 and state.learned_net == model and state.current_step == 1
    blocks = 2 if kind == "Adam" else 1
    assert len(state.history) == blocks * len(MULTS)
    shapes = [tuple(b.data.shape) for bs in first.net.params.values() for b in bs]
    assert [tuple(h.shape.dim) for h in state.history] == shapes * blocks
    # no temporary files left behind; the random state beside the snapshot (exact resume)
    assert sorted(os.listdir(tmp_path / "snap")) == [
        "toy_iter_4.caffemodel",
        "toy_iter_4.rngstate",
        "toy_iter_4.solverstate",
    ]

    resumed = make(tmp_path, kind)
    resumed.restore(state_path)
    assert resumed.iter == 4 and resumed.current_step == 1
    seek_data(resumed.net, resumed.iter * resumed.param.iter_size)
    resumed.step(4)
    for a, b in zip(resumed.net.weights(), full.net.weights()):
        np.testing.assert_array_equal(a, b)


def test_restore_rejects_foreign_state(tmp_path):
    sgd = make(tmp_path, "SGD")
    sgd.step(1)
    _, state_path = sgd.snapshot()
    adam = make(tmp_path, "Adam")
    with pytest.raises(Exception, match="6 history blobs but this Adam solver has 12"):
        adam.restore(state_path)


def test_solve_snapshots_every_n_and_at_end(tmp_path):
    path = write_toy(
        str(tmp_path),
        FIELDS.format(kind="SGD", prefix=tmp_path / "s") + " snapshot: 3",
    )
    solver = get_solver(path, net_factory=ToyNet)
    solver.solve()
    names = sorted(n for n in os.listdir(tmp_path) if n.startswith("s_iter_"))
    kinds = ("caffemodel", "rngstate", "solverstate")
    assert names == [f"s_iter_{i}.{e}" for i in (3, 6, 8) for e in kinds]


# A parser of Caffe's log format written from docs/solvers.md (what Caffe's parse_log reads).
ITER = re.compile(
    r"Iteration (\d+)(?: \(([\d.e+-]+) iter/s, ([\d.e+-]+)s/(\d+) iters\))?, loss = (\S+)"
)
LR = re.compile(r"Iteration (\d+), lr = (\S+)")
TRAIN = re.compile(r"Train net output #(\d+): (\S+) = (\S+)(?: \(\* (\S+) = (\S+) loss\))?")
PREFIX = re.compile(r"^I\d{4} \d\d:\d\d:\d\d\.\d{6} +\d+ [\w.]+:\d+\] ")


def parse_caffe_log(text):
    rows, it = {}, None
    for line in text.splitlines():
        assert PREFIX.match(line), f"not a glog line: {line!r}"
        if m := ITER.search(line):
            it = int(m.group(1))
            rows.setdefault(it, {})["loss"] = float(m.group(5))
        elif m := LR.search(line):
            rows.setdefault(int(m.group(1)), {})["lr"] = float(m.group(2))
        elif (m := TRAIN.search(line)) and it is not None:
            rows[it]["output " + m.group(2)] = float(m.group(3))
    return rows


def test_log_is_caffe_format(tmp_path):
    log_path = tmp_path / "train.log"
    with open(os.devnull, "w") as devnull:
        solver = make(tmp_path, "SGD", log=SolverLog(str(log_path), stream=devnull))
        losses = []
        solver.on_iteration.append(lambda s, loss: losses.append(loss))
        solver.solve()
    text = log_path.read_text()
    assert "] Solving toy" in text and text.rstrip().endswith("Optimization Done.")
    rows = parse_caffe_log(text)
    assert sorted(rows) == [0, 2, 4, 6, 8]
    # lr: multistep 0.05 -> 0.025 at 3 -> 0.0125 at 5
    assert [rows[i]["lr"] for i in (0, 2, 4, 6)] == [0.05, 0.05, 0.025, 0.0125]
    # smoothed loss over average_loss = 3 iterations, as Caffe's UpdateSmoothedLoss
    assert rows[0]["loss"] == pytest.approx(losses[0], rel=1e-5)
    assert rows[2]["loss"] == pytest.approx(np.mean(losses[0:3]), rel=1e-5)
    assert rows[6]["loss"] == pytest.approx(np.mean(losses[4:7]), rel=1e-5)
    # the train output is the last forward's (of iter_size), with its loss weight
    assert 0 < rows[0]["output loss"] < 10 and "Train net output #0: loss = " in text
    assert re.search(r"Train net output #0: loss = (\S+) \(\* 1 = \1 loss\)", text)
