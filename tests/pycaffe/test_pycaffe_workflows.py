"""Every workflow on real BVLC pycaffe, with torch blocked from import: the staged training chain
(surgery inits, snapshots, periodic scoring, Caffe-format train.log, lr in the JSON log),
resume, Ctrl-C, the NaN guard, the ln(C) hint, score.py, infer (whole and tiled), the release
infer.py, torchrun refusal, and the checks made before Caffe would abort."""

import json
import os
import re
import signal
import subprocess
import sys
import time

import numpy as np
from conftest import NOTORCH, ROOT, WIDTH, run, share_base, solve

import caffeio


def rows(world, model, runs="runs"):
    path = world / runs / model / "snapshot" / "train.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_staged_chain_score_and_logs(world):
    for model, iters in (("voc-fcn32s", 40), ("voc-fcn16s", 10), ("voc-fcn8s", 10)):
        p = solve(world, model, "--iters", str(iters), "--score-every", "10", "--display", "5")
        assert "engine: BVLC pycaffe" in p.stderr
        assert f"{model}: trained weights" in p.stderr and "Optimization Done." in p.stderr
        data = rows(world, model)
        losses = [r for r in data if "loss" in r]
        assert len(losses) == iters and all(np.isfinite(r["loss"]) for r in losses)
        assert all(abs(r["lr"] - 1e-4) < 1e-10 for r in losses), losses[:2]  # the rate, not null
        assert [r["iter"] for r in data if "scores" in r] == list(range(10, iters + 1, 10))
        log = (world / "runs" / model / "snapshot" / "train.log").read_text().splitlines()
        glog = re.compile(r"^I\d{4} \d\d:\d\d:\d\d\.\d{6} +\d+ [\w.]+:\d+\] ")
        assert log and all(glog.match(line) for line in log)
        text = "\n".join(log)
        assert re.search(r"Iteration 5 \([\d.e+-]+ iter/s, [\d.e+-]+s/5 iters\), loss = ", text)
        assert "Iteration 5, lr = 0.0001" in text and "Train net output #0: loss = " in text
        snap = world / "runs" / model / "snapshot" / f"train_iter_{iters}.caffemodel"
        assert f"Snapshotting to binary proto file {snap}" in text  # absolute: no chdir
    # staged: 16s started from the trained 32s (its init holds 32s's score_fr)
    trained = caffeio.load_params(str(world / "runs/voc-fcn32s/voc-fcn32s.caffemodel"))
    init = caffeio.load_params(str(world / "runs/voc-fcn16s/snapshot/init.caffemodel"))
    np.testing.assert_array_equal(init["score_fr"][0], trained["score_fr"][0])
    # Caffe's own parser reads our train.log: the plotter takes it
    out = world / "curves.png"
    run(["-m", "solvers.plotlog", str(world / "runs/voc-fcn32s/snapshot/train.log"), "--out", out])
    assert out.stat().st_size > 1000
    # score.py on the trained 8s
    w = world / "runs/voc-fcn8s/voc-fcn8s.caffemodel"
    args = [os.path.join(ROOT, "models/voc-fcn8s/score.py"), "--width", WIDTH, "--normalize"]
    args += ["--data-root", str(world / "data"), "--runs", str(world / "runs"), "--weights", w]
    p = run(args)
    assert "mean IU" in p.stdout
    r = json.loads((world / "runs/voc-fcn8s/score-seg11valid/scores.json").read_text())
    assert r["results"]["score"]["images"] == 6


def test_resume_continues_and_sigint_snapshots(world):
    solve(world, "voc-fcn32s", "--iters", "6", runs="resume")
    state = world / "resume/voc-fcn32s/snapshot/train_iter_6.solverstate"
    p = solve(world, "voc-fcn32s", "--iters", "4", "--resume", str(state), runs="resume")
    assert "resumed from" in p.stderr and "at iteration 6" in p.stderr
    assert (world / "resume/voc-fcn32s/snapshot/train_iter_10.caffemodel").exists()
    # Ctrl-C: snapshot at the current iteration, exit 130, the resume hint
    args = [os.path.join(ROOT, "models/voc-fcn32s/solve.py"), "--width", WIDTH, "--normalize"]
    args += ["--data-root", str(world / "data"), "--runs", str(world / "sigint")]
    args += ["--no-progress", "--iters", "100000", "--lr", "1e-4"]
    share_base(world, "sigint")
    env = dict(os.environ, FCN_ENGINE="caffe", PYTHONPATH=NOTORCH + os.pathsep + ROOT)
    proc = subprocess.Popen([sys.executable, *args], env=env, stderr=subprocess.PIPE, text=True)
    log = world / "sigint/voc-fcn32s/snapshot/train.jsonl"
    deadline = time.time() + 120
    try:
        while time.time() < deadline and not (log.exists() and log.read_text().count("\n") >= 3):
            time.sleep(0.2)
        proc.send_signal(signal.SIGINT)
        err = proc.communicate(timeout=120)[1]
    finally:  # never leave a 100000-iteration run behind
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 130, err[-2000:]
    m = re.search(r"--resume (\S+_iter_(\d+)\.solverstate)", err)
    assert m and os.path.exists(m.group(1)), err[-2000:]


def test_nan_guard_never_publishes(world):
    p = solve(world, "voc-fcn32s", "--iters", "20", "--lr", "1e6", runs="nan", check=False)
    assert p.returncode == 1, p.stderr[-2000:]
    assert "training diverged" in p.stderr and "last good snapshot" in p.stderr
    assert not (world / "nan/voc-fcn32s/voc-fcn32s.caffemodel").exists()
    assert "double free" not in p.stderr


def test_ln_c_hint_on_zero_weights(world, tmp_path):
    init = caffeio.read_caffemodel(str(world / "runs/ilsvrc-nets/vgg16-fcn.caffemodel"))
    for layer in init.layer:
        for b in layer.blobs:
            b.ClearField("data")
            b.data.extend([0.0] * int(np.prod(caffeio.blob_shape(b))))
    zero = tmp_path / "zero.caffemodel"
    caffeio.write_caffemodel(init, str(zero))
    p = solve(world, "voc-fcn32s", "--iters", "5", "--hint-iters", "5", "--weights", str(zero),
              runs="hint")  # fmt: skip
    assert "stayed at ln(21)" in p.stderr


def test_infer_whole_tiled_and_release_script(world, tmp_path):
    w = world / "runs/voc-fcn32s/voc-fcn32s.caffemodel"
    if not w.exists():
        solve(world, "voc-fcn32s", "--iters", "5")
    img = world / "data/pascal/VOC2011/JPEGImages/2011_000000.jpg"
    base = ["-m", "solvers.infer", "--model", "voc-fcn32s", "--width", WIDTH, "--weights", w]
    run([*base, img, "--out", tmp_path / "whole"])
    run([*base, img, "--out", tmp_path / "tiled", "--tile", "48"])
    from PIL import Image

    a = np.array(Image.open(tmp_path / "whole/2011_000000.png"))
    b = np.array(Image.open(tmp_path / "tiled/2011_000000.png"))
    np.testing.assert_array_equal(a, b)
    # the release's infer.py (voc-fcn8s at full width): random 8s weights from the deploy net
    deploy = os.path.join(ROOT, "models/voc-fcn8s/deploy.prototxt")
    wts = tmp_path / "fcn8s.caffemodel"
    code = (  # random small weights written by pycaffe itself
        "import caffe,sys,numpy as np; n=caffe.Net(sys.argv[1], caffe.TEST); "
        "r=np.random.RandomState(0);"
        "[b.data.__setitem__(Ellipsis, r.randn(*b.data.shape)*1e-3) for v in n.params.values()"
        " for b in v]; n.save(sys.argv[2])"
    )
    run(["-c", code, deploy, wts])
    small = tmp_path / "small.jpg"
    Image.open(img).resize((64, 48)).save(small)
    p = run([os.path.join(ROOT, "models/voc-fcn8s/infer.py"), small, wts, tmp_path / "o.png"])
    assert np.array(Image.open(tmp_path / "o.png")).shape == (48, 64), p.stdout


def test_torchrun_refused(world):
    p = solve(world, "voc-fcn32s", "--iters", "1", runs="ddp", check=False,
              env={"WORLD_SIZE": "2", "RANK": "0", "LOCAL_RANK": "0"})  # fmt: skip
    assert p.returncode != 0 and "does not support Python data layers" in p.stderr


def test_checks_before_caffe_aborts(world, tmp_path):
    """Where Caffe would die with a CHECK (exit 134), a clear Python error names the file."""
    w32 = world / "runs/voc-fcn32s/voc-fcn32s.caffemodel"
    if not w32.exists():
        solve(world, "voc-fcn32s", "--iters", "2")
    # weights of another width: shape mismatch
    p = solve(world, "voc-fcn32s", "--iters", "1", "--width", "0.125", "--weights", str(w32),
              runs="mismatch", check=False)  # fmt: skip
    assert p.returncode not in (0, -6, 134), p.stderr[-1500:]
    assert "conv1_1" in p.stderr and "blob 0 has shape" in p.stderr
    # a missing bottom, a malformed prototxt, an unknown type: via solvers.infer --proto
    good = caffeio.read_net(os.path.join(ROOT, "models/voc-fcn32s/deploy.prototxt"))
    cases = {
        "bottom": lambda n: n.layer[3].bottom.__setitem__(0, "nosuchblob"),
        "type": lambda n: setattr(n.layer[3], "type", "NoSuchLayer"),
    }
    img = world / "data/pascal/VOC2011/JPEGImages/2011_000000.jpg"
    for what, edit in cases.items():
        bad = caffeio.caffe_pb2.NetParameter()
        bad.CopyFrom(good)
        edit(bad)
        path = tmp_path / f"{what}.prototxt"
        caffeio.write_net(bad, str(path))
        p = run(["-m", "solvers.infer", "--proto", path, "--mean", "104,117,123", "--weights",
                 w32, img, "--out", tmp_path / what], check=False)  # fmt: skip
        assert p.returncode not in (0, -6, 134), p.stderr[-1500:]
        assert str(path) in p.stderr and ("nosuchblob" in p.stderr or "NoSuchLayer" in p.stderr)
    text = tmp_path / "broken.prototxt"
    text.write_text('name: "x"\nlayer { name: "a" type: "Input" top: "data" \n')
    p = run(["-m", "solvers.infer", "--proto", text, "--mean", "1,2,3", "--weights", w32, img,
             "--out", tmp_path / "broken"], check=False)  # fmt: skip
    assert p.returncode not in (0, -6, 134) and "broken.prototxt" in p.stderr, p.stderr[-1500:]
    # a truncated solverstate
    state = sorted((world / "runs/voc-fcn32s/snapshot").glob("*.solverstate"))[-1]
    cut = tmp_path / "cut.solverstate"
    cut.write_bytes(state.read_bytes()[:7])
    p = solve(world, "voc-fcn32s", "--iters", "1", "--resume", str(cut), check=False)
    assert p.returncode not in (0, -6, 134) and "cut.solverstate" in p.stderr, p.stderr[-1500:]


def test_demo_on_caffe_without_torch(tmp_path):
    """`make demo`'s job (python -m solvers.demo) with FCN_ENGINE=caffe at tiny size."""
    out = tmp_path / "demo"
    p = run(["-m", "solvers.demo", "--out", out, "--width", "0.03125", "--iters", "3", "3", "6",
             "--n-train", "4", "--n-val", "2", "--size", "48", "56", "--overlays", "2",
             "--no-progress"])  # fmt: skip
    assert "engine: BVLC pycaffe" in p.stderr, p.stderr[-2000:]
    metrics = json.loads((out / "metrics.json").read_text())
    assert 0.0 <= metrics["results"]["score"]["mean_iu"] <= 1.0
    assert (out / "curves.png").exists() and len(list((out / "overlays").glob("*.png"))) == 2


def test_nonfinite_weights_refused(world, tmp_path):
    w = world / "runs/voc-fcn32s/voc-fcn32s.caffemodel"
    if not w.exists():
        solve(world, "voc-fcn32s", "--iters", "2")
    net = caffeio.read_caffemodel(str(w))
    layer = next(layer for layer in net.layer if layer.name == "score_fr")
    layer.blobs[0].data[0] = float("nan")
    bad = tmp_path / "nan.caffemodel"
    caffeio.write_caffemodel(net, str(bad))
    img = world / "data/pascal/VOC2011/JPEGImages/2011_000000.jpg"
    args = ["-m", "solvers.infer", "--model", "voc-fcn32s", "--width", WIDTH, "--weights", bad, img]
    p = run([*args, "--out", tmp_path / "a"], check=False)
    assert p.returncode != 0 and "score_fr" in p.stderr and "NaN" in p.stderr, p.stderr[-1500:]
    last = p.stderr.strip().splitlines()[-1]  # one line naming the file, no traceback
    assert "Traceback" not in p.stderr and last.startswith(f"error: {bad}"), last
    run([*args, "--out", tmp_path / "b"], env={"CAFFEIO_ALLOW_NONFINITE": "1"})


def test_missing_layer_weights_refused(world, tmp_path):
    w = world / "runs/voc-fcn32s/voc-fcn32s.caffemodel"
    if not w.exists():
        solve(world, "voc-fcn32s", "--iters", "2")
    from train_files import caffemodel_without

    cut = caffemodel_without(w, "score_fr", tmp_path / "cut.caffemodel")
    img = world / "data/pascal/VOC2011/JPEGImages/2011_000000.jpg"
    args = ["-m", "solvers.infer", "--model", "voc-fcn32s", "--width", WIDTH, "--weights", cut]
    p = run([*args, img, "--out", tmp_path / "o"], check=False)
    assert p.returncode == 1 and "score_fr" in p.stderr and "fillers" in p.stderr, p.stderr[-1500:]


def test_release_layout_runs_from_anywhere(tmp_path, monkeypatch):
    """Real Caffe reads a solver's nets and snapshot prefix, and the data layers their folders,
    relative to the working directory: the run's copies make them absolute, so the release's
    layout (nets reading ../../data) trains and scores from another folder on Caffe too."""
    from test_solvers_runpaths import test_release_layout_trains_and_scores_from_anywhere as check

    import engine

    check(tmp_path, monkeypatch)
    assert engine.chosen() == "caffe"
