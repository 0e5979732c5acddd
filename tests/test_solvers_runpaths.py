"""Paths in a run folder's files resolve against the run folder, never the working directory
(solvers.runs.paths): the release's layout (nets reading '../../data/...', a solver naming
'train.prototxt' and 'snapshot/train') trains and scores from anywhere, through the library
functions, and the working directory is never changed."""

import ast
import os

import numpy as np
import torch

import caffeio
import zoo
from caffeio import caffe_pb2
from solvers.runs.paths import path_keys, resolve_net, resolve_solver

torch.set_num_threads(1)

MODEL = "voc-fcn32s"
WIDTH = 1 / 32


def _params(layer):
    return ast.literal_eval(layer.python_param.param_str)


def test_resolve_net_and_solver(tmp_path):
    folder = str(tmp_path / "models" / MODEL)
    net = zoo.build(MODEL, "train", width=WIDTH, data_root="../../data")
    assert {"sbdd_dir", "voc_dir", "nyud_dir", "siftflow_dir", "cityscapes_dir"} <= path_keys()
    assert not {"split", "seed", "mean", "tops"} & path_keys()
    lmdb = net.layer.add(name="lmdb", type="Data")
    lmdb.data_param.source = "lmdb/train"
    lmdb.transform_param.mean_file = "/abs/mean.binaryproto"
    out = resolve_net(net, folder)
    params = _params(out.layer[0])
    assert params["sbdd_dir"] == str(tmp_path / "data" / "sbdd" / "dataset")
    assert params["split"] == "train" and params["seed"] == 1337  # not paths: as they were
    assert out.layer[-1].data_param.source == os.path.join(folder, "lmdb", "train")
    assert out.layer[-1].transform_param.mean_file == "/abs/mean.binaryproto"  # absolute: kept
    assert _params(net.layer[0])["sbdd_dir"] == "../../data/sbdd/dataset"  # a copy was changed

    solver = caffe_pb2.SolverParameter(train_net="train.prototxt", snapshot_prefix="snapshot/x")
    solver.test_net.append("val.prototxt")
    got = resolve_solver(solver, folder)
    assert got.train_net == os.path.join(folder, "train.prototxt")
    assert list(got.test_net) == [os.path.join(folder, "val.prototxt")]
    assert got.snapshot_prefix == os.path.join(folder, "snapshot", "x")
    assert not got.HasField("net")  # Caffe refuses a solver naming two train nets, even ""


def test_release_layout_trains_and_scores_from_anywhere(tmp_path, monkeypatch):
    from layers.synth import make_voc_family
    from solvers.evaluation.score_model import ScoreOptions, score_model
    from solvers.training import TrainOptions, train

    data = make_voc_family(str(tmp_path / "data"), n=4, size=(40, 48))
    folder = tmp_path / "runs" / MODEL  # as models/<m>: data two folders up
    zoo.write(MODEL, str(folder), width=WIDTH, data_root="../../data")
    net = caffeio.read_net(str(folder / "train.prototxt"))
    assert _params(net.layer[0])["sbdd_dir"] == "../../data/sbdd/dataset"
    init = str(tmp_path / "init.caffemodel")
    caffeio.write_caffemodel(caffeio.params_to_net(_random_params(net, folder), net), init)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    runs = str(tmp_path / "runs")

    train(MODEL, TrainOptions(runs=runs, weights=init, iters=2, score_every=2, score_images=1,
                              lr=1e-4, seed=0, gpu=-1, progress=False))  # fmt: skip
    assert os.getcwd() == str(elsewhere) and not os.listdir(elsewhere)
    snap = folder / "snapshot"
    assert (snap / "train_iter_2.caffemodel").is_file() and (
        folder / f"{MODEL}.caffemodel"
    ).is_file()
    run_solver = caffeio.read_solver(str(snap / "solver.prototxt"))
    assert run_solver.train_net == str(snap / "train.prototxt")
    assert run_solver.snapshot_prefix == str(snap / "train")
    copy = caffeio.read_net(run_solver.train_net)
    assert _params(copy.layer[0])["sbdd_dir"] == str(tmp_path / "data" / "sbdd" / "dataset")

    results = score_model(
        MODEL, str(folder / f"{MODEL}.caffemodel"), ScoreOptions(runs=runs, n=2, gpu=-1)
    )
    assert results["score"]["images"] == len(data["seg11valid"]) and os.getcwd() == str(elsewhere)
    assert (folder / "score-seg11valid" / "scores.json").is_file()


def _random_params(net, folder):
    """Small random weights for every layer of the train net (its shapes from torchcaffe)."""
    import torchcaffe

    path = str(folder / "deploy.prototxt")
    deploy = torchcaffe.Net(path, torchcaffe.TEST)
    rng = np.random.default_rng(0)
    return {
        name: [rng.normal(0, 0.05, b.data.shape).astype(np.float32) for b in blobs]
        for name, blobs in deploy.params.items()
    }
