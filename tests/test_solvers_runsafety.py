"""Issue 14, items 1, 4, 5 through the real driver on a tiny world (width 1/32, 32 px images):
a fresh run never adopts another run's snapshots, the snapshot named after a divergence stop is
one a forward has shown good (never merely finite), and a resume with Dropout is bit-exact
without duplicate train.jsonl rows."""

import glob
import json
import os
import shutil

import numpy as np
import pytest
import tiny_training as tt

import caffeio


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    return tt.make_world(str(tmp_path_factory.mktemp("tiny")))


def rows(runs):
    with open(os.path.join(tt.snap_dir(runs), "train.jsonl")) as f:
        return [json.loads(line) for line in f]


def foreign_model(path, like):
    """Write at `path` a caffemodel shaped like `like` whose weights are all 0.5."""
    net = caffeio.read_caffemodel(like)
    for layer in net.layer:
        for b in layer.blobs:
            a = np.full(caffeio.blob_shape(b), 0.5, np.float32)
            b.CopyFrom(caffeio.array_to_blob(a))
    caffeio.write_caffemodel(net, path)


def test_fresh_run_never_adopts_an_earlier_runs_snapshots(world):
    runs = tt.runs_folder(world, "item1")
    snap = tt.snap_dir(runs)
    final = os.path.join(tt.run_dir(runs), f"{tt.MODEL}.caffemodel")
    tt.solve(world, runs, "--iters", "2", "--snapshot-every", "1")
    # an earlier run's file under the name this run's last iteration will have
    planted = os.path.join(snap, "train_iter_2.caffemodel")
    foreign_model(planted, planted)
    foreign = open(planted, "rb").read()

    # resumed to iteration 2 without a scheduled snapshot there: it writes its own, never
    # publishes the file it found (the old driver published the planted one)
    tt.solve(world, runs, "--resume", os.path.join(snap, "train_iter_1.solverstate"),
             "--iters", "1", "--snapshot-every", "100")  # fmt: skip
    assert open(final, "rb").read() != foreign
    assert tt.bit_equal(final, planted)  # the published file is this run's snapshot

    # a fresh run refuses the folder, naming it and both ways on; nothing is touched
    before = sorted(os.listdir(snap))
    p = tt.solve(world, runs, "--iters", "1", check=False)
    assert p.returncode != 0
    assert snap in p.stderr and "--resume" in p.stderr and "--overwrite" in p.stderr
    assert "train_iter_2.solverstate" in p.stderr
    assert sorted(os.listdir(snap)) == before

    # --overwrite moves the old snapshots aside (kept) and publishes this run's own weights
    foreign_model(planted, planted)
    p = tt.solve(world, runs, "--iters", "2", "--overwrite")
    aside = glob.glob(os.path.join(tt.run_dir(runs), "snapshot.old-*"))
    assert len(aside) == 1 and aside[0] in p.stderr
    assert open(os.path.join(aside[0], "train_iter_2.caffemodel"), "rb").read() == foreign
    assert tt.bit_equal(final, os.path.join(snap, "train_iter_2.caffemodel"))
    assert open(final, "rb").read() != foreign
    assert [r["iter"] for r in rows(runs) if "loss" in r] == [1, 2]  # a log of its own


def test_divergence_names_a_sane_snapshot(world):
    runs = tt.runs_folder(world, "item4")
    # lr 1: the weights reach ~1e18 at iteration 3 while the loss is still finite
    p = tt.solve(world, runs, "--iters", "40", "--snapshot-every", "1", lr="1", check=False)
    assert p.returncode == 1, p.stderr[-2000:]
    assert "training diverged" in p.stderr
    named = p.stderr.split("last good snapshot: ")[1].split()[0]
    weights = tt.params(named)
    peak = max(float(np.abs(a).max()) for blobs in weights.values() for a in blobs)
    assert np.isfinite(peak) and peak < 1e4, (named, peak)
    # its forward is finite (the old driver named a snapshot whose forward was all NaN)
    import torchcaffe

    net = torchcaffe.Net(os.path.join(tt.run_dir(runs), "deploy.prototxt"), torchcaffe.TEST)
    net.copy_from(named)
    net.blobs["data"].reshape(1, 3, tt.SIZE, tt.SIZE)
    net.blobs["data"].data[...] = np.random.default_rng(0).uniform(-50, 50, (1, 3, 32, 32))
    out = net.forward()
    assert all(np.isfinite(v).all() for v in out.values())
    # each snapshot carries its verdict in train.jsonl; the named one is the latest good one
    verdicts = {int(r["snapshot"].rsplit("_iter_", 1)[1]): r["status"] for r in rows(runs)
                if "status" in r}  # fmt: skip
    assert "bad" in verdicts.values()
    latest_good = max(i for i, status in verdicts.items() if status == "good")
    assert named.endswith(f"train_iter_{latest_good}.caffemodel")


def verdicts(runs, iteration):
    """[(row iter, status)] of the snapshot of `iteration`, in order."""
    stem = f"train_iter_{iteration}"
    return [(r["iter"], r["status"]) for r in rows(runs)
            if "status" in r and os.path.basename(r["snapshot"]) == stem]  # fmt: skip


def test_a_snapshot_is_good_only_after_a_forward_on_it(world):
    """The audit's case: with the weight rule off (--diverge-weights 0) and lr 1e10, iteration
    1's snapshot holds finite weights of ~1e10 whose forward is all NaN; the stop named it as
    the last good snapshot ("finite weights, sane loss") because it was judged when written."""
    runs = tt.runs_folder(world, "item4-nan")
    p = tt.solve(world, runs, "--iters", "10", "--snapshot-every", "1", "--diverge-weights", "0",
                 lr="1e10", check=False)  # fmt: skip
    assert p.returncode == 1, p.stderr[-2000:]
    named = p.stderr.split("last good snapshot: ")[1].splitlines()[0]
    assert named.startswith("none (train_iter_1 is bad"), named
    assert "--resume" not in p.stderr
    weights = tt.params(os.path.join(tt.snap_dir(runs), "train_iter_1.caffemodel"))
    peak = max(float(np.abs(a).max()) for blobs in weights.values() for a in blobs)
    assert np.isfinite(peak) and peak > 1e6, peak  # finite: a weight check alone passes it
    assert verdicts(runs, 1) == [(1, "unverified"), (2, "bad")]


def test_resume_with_dropout_is_bit_exact_and_logs_once(world):
    runs = tt.runs_folder(world, "item5")
    snap = tt.snap_dir(runs)
    tt.solve(world, runs, "--iters", "8", "--snapshot-every", "4")
    # 4 was verified by iteration 5's forward; nothing ran on 8's weights yet
    assert verdicts(runs, 4) == [(4, "unverified"), (5, "good")]
    assert verdicts(runs, 8) == [(8, "unverified")]
    (first,) = {r["run"] for r in rows(runs)}
    straight = os.path.join(world, "item5-straight.caffemodel")
    shutil.copy(os.path.join(snap, "train_iter_8.caffemodel"), straight)
    # a temporary file a killed writer (a pid that no longer runs) left behind
    from caffeio.atomic import _host_tag

    stale = os.path.join(snap, f".train_iter_5.caffemodel.tmp-999999999-{_host_tag()}-abc123")
    open(stale, "wb").write(b"x" * 1000)

    tt.solve(world, runs, "--resume", os.path.join(snap, "train_iter_4.solverstate"),
             "--iters", "4", "--snapshot-every", "4")  # fmt: skip
    # the old driver restarted the Dropout masks (and lost a randomly drawn data order)
    assert tt.bit_equal(os.path.join(snap, "train_iter_8.caffemodel"), straight)
    assert os.path.exists(os.path.join(snap, "train_iter_4.rngstate"))
    iters = [r["iter"] for r in rows(runs) if "loss" in r]
    assert iters == list(range(1, 9))  # iterations 5..8 ran twice, logged once
    assert {r["run"] for r in rows(runs)} == {first}  # a resumed run continues its run
    assert verdicts(runs, 4) == [(4, "unverified"), (5, "good")]  # re-verified once
    assert not os.path.exists(stale)


@pytest.mark.skipif(
    not __import__("torch").cuda.is_available(), reason="needs CUDA (resume on a GPU)"
)
def test_cuda_resume_is_bit_exact_in_deterministic_mode(world, monkeypatch):
    """On a GPU cuDNN's fastest backward kernels add with atomics, so resumes match only to
    float rounding; TORCHCAFFE_DETERMINISTIC=1 makes a resumed run bit-equal to a straight one
    (Dropout masks from the saved CUDA generator included)."""
    monkeypatch.setenv("TORCHCAFFE_DETERMINISTIC", "1")
    runs = tt.runs_folder(world, "cuda-det")
    snap = tt.snap_dir(runs)
    tt.solve(world, runs, "--gpu", "0", "--iters", "8", "--snapshot-every", "4")
    straight = os.path.join(world, "cuda-det-straight.caffemodel")
    shutil.copy(os.path.join(snap, "train_iter_8.caffemodel"), straight)
    tt.solve(world, runs, "--gpu", "0", "--resume", os.path.join(snap, "train_iter_4.solverstate"),
             "--iters", "4", "--snapshot-every", "4")  # fmt: skip
    assert tt.bit_equal(os.path.join(snap, "train_iter_8.caffemodel"), straight)
