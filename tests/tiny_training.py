"""Test helpers: the smallest real training runs of models/voc-fcn32s/solve.py.

A world of synthetic VOC/SBD data (32 px scenes, from test_solvers_e2e.make_easy_voc) and a
random fcnized VGG-16 at width 1/32 (Dropout drop6/drop7 included); runs go through the real
driver in a subprocess (one intra-op thread, so results repeat bit for bit).
"""

import os
import subprocess
import sys

import numpy as np

import caffeio

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SOLVE = os.path.join(ROOT, "models", "voc-fcn32s", "solve.py")
WIDTH = "0.03125"
SIZE = 32
MODEL = "voc-fcn32s"


def make_world(base):
    """Synthetic data under <base>/data and the fcnized base net under <base>/ilsvrc-nets."""
    from test_solvers_e2e import make_easy_voc

    from surgery.fcnize import fcnize
    from zoo.classifiers import write_classifier

    make_easy_voc(os.path.join(base, "data"), n_train=4, n_val=2, size=SIZE)
    proto, weights = write_classifier(os.path.join(base, "cls"), "vgg16", width=float(WIDTH))
    out = os.path.join(base, "ilsvrc-nets", "vgg16-fcn.caffemodel")
    fcnize(proto, weights, out, verbose=False)
    return base


def runs_folder(world, name):
    """A fresh <world>/<name> runs folder sharing the world's base net -> its path."""
    runs = os.path.join(world, name)
    os.makedirs(runs, exist_ok=True)
    link = os.path.join(runs, "ilsvrc-nets")
    if not os.path.exists(link):
        os.symlink(os.path.join(world, "ilsvrc-nets"), link)
    return runs


def command(world, runs, *flags, lr="1e-3"):
    """The solve.py command line of a tiny run (seeded: Dropout masks repeat), on the CPU
    unless `flags` name a --gpu (solve.py itself would take a CUDA device where there is one)."""
    device = () if "--gpu" in flags else ("--gpu", "-1")
    return [
        sys.executable, SOLVE, "--width", WIDTH, "--data-root", os.path.join(world, "data"),
        "--runs", runs, "--no-progress", "--normalize", "--seed", "0", "--lr", lr, *device,
        *flags,
    ]  # fmt: skip


def env():
    """The environment of a tiny run: torchcaffe, one thread."""
    return dict(os.environ, OMP_NUM_THREADS="1", FCN_ENGINE="torch")


def solve(world, runs, *flags, lr="1e-3", check=True):
    """Run solve.py to the end -> CompletedProcess (AssertionError with stderr on failure)."""
    cmd = command(world, runs, *flags, lr=lr)
    p = subprocess.run(cmd, env=env(), capture_output=True, text=True, timeout=300)
    if check and p.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed ({p.returncode}):\n{p.stderr[-3000:]}")
    return p


def run_dir(runs):
    """<runs>/voc-fcn32s."""
    return os.path.join(runs, MODEL)


def snap_dir(runs):
    """<runs>/voc-fcn32s/snapshot."""
    return os.path.join(runs, MODEL, "snapshot")


def params(path):
    """{layer: [array]} of a caffemodel."""
    return caffeio.load_params(path)


def bit_equal(a, b):
    """Whether two caffemodels hold the same blobs bit for bit (NaN payloads included)."""
    pa, pb = params(a), params(b)
    if sorted(pa) != sorted(pb):
        return False
    for name in pa:
        if len(pa[name]) != len(pb[name]):
            return False
        for x, y in zip(pa[name], pb[name]):
            x, y = np.ascontiguousarray(x), np.ascontiguousarray(y)
            if x.shape != y.shape or x.tobytes() != y.tobytes():
                return False
    return True
