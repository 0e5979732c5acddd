"""Run folders on real BVLC pycaffe: two solve.py started together on one folder (one refuses
naming the other's pid, the other's files and train.jsonl rows are its own), and a snapshot is
named good only after a forward on its weights (Caffe has applied the update before it returns
the NaN loss, so this is its own path)."""

import json
import os
import subprocess
import sys

import numpy as np
from conftest import NOTORCH, ROOT, WIDTH, run, share_base, solve

import caffeio


def rows(folder):
    path = folder / "snapshot" / "train.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def test_two_runs_started_together(world):
    share_base(world, "together")
    args = [sys.executable, os.path.join(ROOT, "models/voc-fcn32s/solve.py"), "--width", WIDTH,
            "--data-root", str(world / "data"), "--runs", str(world / "together"),
            "--no-progress", "--normalize", "--seed", "0", "--lr", "1e-4",
            "--iters", "40", "--snapshot-every", "20"]  # fmt: skip
    env = dict(os.environ, FCN_ENGINE="caffe", OMP_NUM_THREADS="1")
    env["PYTHONPATH"] = NOTORCH + os.pathsep + ROOT  # torch blocked, as for every caffe run
    procs = [subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                              text=True) for _ in range(2)]  # fmt: skip
    errs = [p.communicate(timeout=600)[1] for p in procs]
    codes = [p.returncode for p in procs]
    assert sorted(codes) == [0, 1], [e[-2000:] for e in errs]
    win = codes.index(0)
    folder = world / "together" / "voc-fcn32s"
    refusal = errs[1 - win].strip().splitlines()[-1]
    assert refusal.startswith(f"error: the run folder {folder} is in use by another run"), refusal
    assert f"pid {procs[win].pid} " in refusal and "Traceback" not in errs[1 - win]

    logged = rows(folder)
    assert {r["run"] for r in logged} == {logged[0]["run"]}
    assert logged[0]["run"].split("-")[2] == str(procs[win].pid)
    assert [r["iter"] for r in logged if "loss" in r] == list(range(1, 41))
    final = caffeio.load_params(str(folder / "voc-fcn32s.caffemodel"))
    last = caffeio.load_params(str(folder / "snapshot" / "train_iter_40.caffemodel"))
    assert all(np.array_equal(a, b) for k in final for a, b in zip(final[k], last[k]))


def test_a_snapshot_is_good_only_after_a_forward_on_it(world):
    """--diverge-weights 0 --lr 1e10: iteration 1's weights are finite (~1e10) and their forward
    is NaN; the stop used to name them the last good snapshot."""
    p = solve(world, "voc-fcn32s", "--iters", "10", "--snapshot-every", "1",
              "--diverge-weights", "0", "--lr", "1e10", runs="nan-snap", check=False)  # fmt: skip
    assert p.returncode == 1, p.stderr[-2000:]
    named = p.stderr.split("last good snapshot: ")[1].splitlines()[0]
    assert named.startswith("none (train_iter_1 is bad"), named
    folder = world / "nan-snap" / "voc-fcn32s"
    weights = caffeio.load_params(str(folder / "snapshot" / "train_iter_1.caffemodel"))
    peak = max(float(np.abs(a).max()) for blobs in weights.values() for a in blobs)
    assert np.isfinite(peak) and peak > 1e6, peak
    snaps = [(r["iter"], r["status"]) for r in rows(folder) if "status" in r]
    assert snaps == [(1, "unverified"), (2, "bad")], snaps

    # a healthy run: each snapshot but the last is verified by the forward after it
    p = solve(world, "voc-fcn32s", "--iters", "4", "--snapshot-every", "2", runs="good-snap")
    snaps = [(r["iter"], os.path.basename(r["snapshot"]), r["status"])
             for r in rows(world / "good-snap" / "voc-fcn32s") if "status" in r]  # fmt: skip
    assert snaps == [(2, "train_iter_2", "unverified"), (3, "train_iter_2", "good"),
                     (4, "train_iter_4", "unverified")], snaps  # fmt: skip


def test_infer_refuses_other_and_diverged_weights_in_one_line(world, tmp_path):
    """Another width's weights (Caffe would abort) and finite weights whose forward is NaN
    (an all-background label map before): one line naming the file, on real Caffe."""
    import zoo
    from zoo.classifiers import random_weights

    w = world / "runs/voc-fcn32s/voc-fcn32s.caffemodel"
    if not w.exists():
        solve(world, "voc-fcn32s", "--iters", "2")
    huge = caffeio.read_caffemodel(str(w))
    for layer in huge.layer:
        for b in layer.blobs:
            b.data[:] = [v * 1e12 for v in b.data]
    caffeio.write_caffemodel(huge, str(tmp_path / "huge.caffemodel"))
    net = zoo.build("voc-fcn32s", "deploy", width=2 * float(WIDTH))
    wide = caffeio.params_to_net(random_weights(net, seed=1), net)
    caffeio.write_caffemodel(wide, str(tmp_path / "wide.caffemodel"))
    img = world / "data/pascal/VOC2011/JPEGImages/2011_000000.jpg"
    for name, says in (("huge", "earlier snapshot"), ("wide", "different net")):
        weights = tmp_path / f"{name}.caffemodel"
        args = ["-m", "solvers.infer", "--model", "voc-fcn32s", "--width", WIDTH, "--weights",
                weights, img, "--out", tmp_path / name, "--quiet"]  # fmt: skip
        p = run(args, check=False)
        last = p.stderr.strip().splitlines()[-1]
        assert p.returncode == 1 and "Traceback" not in p.stderr, p.stderr[-2000:]
        assert last.startswith("error: ") and str(weights) in last and says in last, last
