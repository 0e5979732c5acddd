"""End to end: models/voc-fcn32s -> 16s -> 8s solve.py on a synthetic VOC layout at width 1/16,
score.py on the result, SIGINT snapshots, NaN stops, the ln(C) hint.

Small-run flags (not the release's recipe): --normalize (loss per valid pixel, instead of the
release's summed loss with lr 1e-10..1e-14) and --lr 1e-4.
"""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

import caffeio

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WIDTH = "0.0625"
SIZE = 128  # at 64 px a stride-32 map has ~2 cells: nothing spatial to learn


def make_easy_voc(root, n_train=16, n_val=6, size=SIZE, classes=(1, 2, 3), seed=0):
    """VOC2011 + SBD layout (seg11valid derived) whose scenes are one big box whose class is
    given by its colour, on textured background; VOC labels carry a void (255) edge."""
    from layers.splits import derive_seg11valid
    from layers.synth import make_sbdd, make_voc
    from layers.synth.scenes import class_colour, texture

    rng = np.random.default_rng(seed)

    def scenes(n, void):
        out = []
        for _ in range(n):
            img = texture(rng, size, size, class_colour(0, 21))
            label = np.zeros((size, size), np.int32)
            c = int(rng.choice(classes))
            bh, bw = (int(rng.integers(size // 2, size * 4 // 5)) for _ in range(2))
            y0, x0 = int(rng.integers(0, size - bh)), int(rng.integers(0, size - bw))
            img[y0 : y0 + bh, x0 : x0 + bw] = class_colour(c, 21) + rng.normal(0, 6, (bh, bw, 3))
            label[y0 : y0 + bh, x0 : x0 + bw] = c
            if void:
                label[y0, x0 : x0 + bw] = 255
            out.append((np.clip(np.rint(img), 0, 255).astype(np.uint8), label))
        return out

    voc_dir = os.path.join(root, "pascal", "VOC2011")
    sbdd_dir = os.path.join(root, "sbdd", "dataset")
    make_voc(voc_dir, ids=[f"2011_{i:06d}" for i in range(2 * n_val)], scenes=scenes(2 * n_val, 1))
    train_ids = [f"2008_{i:06d}" for i in range(n_train)]
    make_sbdd(sbdd_dir, ids=train_ids, scenes=scenes(n_train, 0))
    with open(os.path.join(sbdd_dir, "train.txt"), "w") as f:
        f.write("\n".join(train_ids) + "\n")
    return derive_seg11valid(voc_dir, sbdd_dir)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """Synthetic data + a random width-1/16 fcnized VGG-16 under <runs>/ilsvrc-nets/."""
    from surgery.fcnize import fcnize
    from zoo.classifiers import write_classifier

    base = tmp_path_factory.mktemp("e2e")
    make_easy_voc(str(base / "data"))
    proto, weights = write_classifier(str(base / "cls"), "vgg16", width=float(WIDTH))
    runs = base / "runs"
    fcnize(proto, weights, str(runs / "ilsvrc-nets" / "vgg16-fcn.caffemodel"), verbose=False)
    return base


def run(model, world, *flags, script="solve.py", check=True, popen=False):
    cmd = [sys.executable, os.path.join(ROOT, "models", model, script), "--width", WIDTH]
    cmd += ["--data-root", str(world / "data"), "--runs", str(world / "runs"), *flags]
    if script == "solve.py":
        cmd += ["--no-progress", "--normalize", "--seed", "0"]  # repeatable dropout masks
        if "--resume" not in flags:  # tests share run folders: a fresh run moves the old aside
            cmd += ["--overwrite"]
    else:
        cmd += ["--normalize"]
    env = dict(os.environ, OMP_NUM_THREADS="1", FCN_ENGINE="torch")
    if popen:
        return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    if check and p.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed ({p.returncode}):\n{p.stderr[-3000:]}")
    return p


def train_rows(world, model):
    path = world / "runs" / model / "snapshot" / "train.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()]


def _single_class_mean_iu(world):
    """Mean IU of the best constant prediction on seg11valid: the chance level to beat."""
    from PIL import Image

    voc = world / "data" / "pascal" / "VOC2011"
    ids = (voc / "ImageSets" / "Segmentation" / "seg11valid.txt").read_text().split()
    labels = np.concatenate(
        [np.array(Image.open(voc / "SegmentationClass" / f"{i}.png")).ravel() for i in ids]
    )
    labels = labels[labels != 255]
    present = np.unique(labels)
    # predicting class c everywhere: IU_c = freq_c, every other present class 0
    return max(np.mean(labels == c) for c in present) / len(present)


def test_staged_chain_and_score(world):
    chance = _single_class_mean_iu(world)
    schedule = {"voc-fcn32s": (150, 50), "voc-fcn16s": (40, 20), "voc-fcn8s": (40, 20)}
    for model, (iters, every) in schedule.items():
        p = run(model, world, "--iters", str(iters), "--score-every", str(every), "--lr", "1e-4")
        assert f"{model}: trained weights" in p.stderr
        assert "Solving" in p.stderr and "Optimization Done." in p.stderr
        rows = train_rows(world, model)
        losses = [r["loss"] for r in rows if "loss" in r]
        assert len(losses) == iters and all(np.isfinite(losses))
        scored = [r for r in rows if "scores" in r]
        assert [r["iter"] for r in scored] == list(range(every, iters + 1, every))
        assert 0 <= scored[-1]["scores"]["score"]["overall_acc"] <= 1
        # it learns: mean IU well above the best constant prediction (about 0.15 here)
        assert scored[-1]["scores"]["score"]["mean_iu"] > max(0.25, 1.6 * chance), scored
    # each stage started from the previous one's trained weights (staged init written once)
    for prev, model in (("voc-fcn32s", "voc-fcn16s"), ("voc-fcn16s", "voc-fcn8s")):
        trained = caffeio.load_params(str(world / "runs" / prev / f"{prev}.caffemodel"))
        init = caffeio.load_params(str(world / "runs" / model / "snapshot" / "init.caffemodel"))
        assert np.abs(trained["score_fr"][0]).max() > 0  # trained away from its zero init
        np.testing.assert_array_equal(init["score_fr"][0], trained["score_fr"][0])
        np.testing.assert_array_equal(init["conv1_1"][0], trained["conv1_1"][0])
    weights = world / "runs" / "voc-fcn8s" / "voc-fcn8s.caffemodel"
    out = world / "score8s"
    out.mkdir()  # an existing output folder is fine
    p = run(
        "voc-fcn8s", world, "--weights", str(weights), "--out", str(out), "--png", script="score.py"
    )
    assert "mean IU" in p.stdout and "aeroplane" in p.stdout
    result = json.loads((out / "scores.json").read_text())
    r = result["results"]["score"]
    assert result["split"] == "seg11valid" and r["images"] == 6
    assert 0 <= r["mean_iu"] <= 1 and r["per_class_iu"][5] is None  # absent class -> null
    pngs = sorted(os.listdir(out / "score"))
    assert len(pngs) == 6 and pngs[0].endswith(".png")


def test_missing_base_weights_message(tmp_path):
    runs = tmp_path / "runs"
    p = run("voc-fcn16s", tmp_path, "--iters", "1", check=False)
    assert p.returncode != 0
    assert "train voc-fcn32s first" in p.stderr and str(runs / "voc-fcn32s") in p.stderr


def _rows_since(log, start):
    """Loss rows this run wrote (the earlier run's log is moved aside by --overwrite)."""
    try:
        lines = log.read_text().splitlines()
    except FileNotFoundError:
        return 0
    return sum('"loss"' in x and json.loads(x).get("time", 0) > start for x in lines[:-1])


def test_sigint_leaves_loadable_snapshot_and_resume(world):
    proc = run(
        "voc-fcn32s",
        world,
        "--iters",
        "100000",
        "--lr",
        "1e-4",
        "--score-every",
        "100000",
        popen=True,
    )
    log = world / "runs" / "voc-fcn32s" / "snapshot" / "train.jsonl"
    start = time.time()
    try:
        while time.time() - start < 60 and _rows_since(log, start) < 3:
            time.sleep(0.2)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:  # never leave a 100000-iteration run behind (slow machine, failed wait)
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    err = err.decode()
    assert proc.returncode == 128 + signal.SIGINT, err[-2000:]
    assert "SIGINT: stopped at iteration" in err
    state_path = err.split("--resume ")[1].split(")")[0]
    state = caffeio.read_solverstate(state_path)
    model = caffeio.read_caffemodel(
        state.learned_net
        if os.path.isabs(state.learned_net)
        else os.path.join(world / "runs" / "voc-fcn32s", state.learned_net)
    )
    assert state.iter >= 3 and any(layer.name == "score_fr" for layer in model.layer)
    p = run("voc-fcn32s", world, "--resume", state_path, "--iters", "2", "--lr", "1e-4")
    assert f"at iteration {state.iter}" in p.stderr


def test_nan_loss_stops_and_keeps_last_snapshot(world):
    # the divergence rules off: the NaN guard itself (tests/test_solvers_runsafety.py has them on)
    off = ("--diverge-loss", "0", "--diverge-weights", "0")
    p = run("voc-fcn32s", world, "--iters", "50", "--lr", "1", "--snapshot-every", "1", *off,
            check=False)  # fmt: skip
    assert p.returncode == 1
    assert "loss = nan" in p.stderr or "loss = inf" in p.stderr
    last = p.stderr.split("last good snapshot: ")[1].split()[0]
    for layer in caffeio.read_caffemodel(last).layer:
        for b in layer.blobs:
            assert np.isfinite(caffeio.blob_to_array(b)).all()


def test_uninitialised_weights_hint(world, tmp_path):
    # the world's own base net (not a file another test writes: under pytest-xdist that test may
    # run in the other worker), zeroed; layers it lacks keep the prototxt's zero fillers
    base = world / "runs" / "ilsvrc-nets" / "vgg16-fcn.caffemodel"
    net = caffeio.read_caffemodel(str(base))
    for layer in net.layer:
        for b in layer.blobs:
            b.CopyFrom(caffeio.array_to_blob(np.zeros(caffeio.blob_shape(b), np.float32)))
    zero = tmp_path / "zero.caffemodel"
    caffeio.write_caffemodel(net, str(zero))
    p = run(
        "voc-fcn32s",
        world,
        "--weights",
        str(zero),
        "--iters",
        "6",
        "--hint-iters",
        "5",
        "--lr",
        "1e-6",
    )
    assert "weights were probably not initialised" in p.stderr
