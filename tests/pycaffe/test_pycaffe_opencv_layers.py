"""ImageData and WindowData against real Caffe built with OpenCV (make pycaffe OPENCV=1: its
own cache variant, <cpu>-opencv-py3.X-npN), in a subprocess that imports that build.

With caffe.set_random_seed / torchcaffe.set_random_seed equal, the batches are bit-identical:
shuffles, rand_skip, random crops and mirrors, window choices (torchcaffe.caffe_rng reproduces
Caffe's Mersenne Twister draws), resizing and warping (OpenCV's INTER_LINEAR on PNG images)."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from conftest import ROOT

HERE = os.path.dirname(os.path.abspath(__file__))


def opencv_pycaffe():
    """The python/ folder of the OpenCV build for this interpreter and numpy, or None."""
    cache = os.environ.get("FCN_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "fcn-toolkit"
    )
    v = sys.version_info
    variant = f"cpu-opencv-py{v[0]}.{v[1]}-np{np.__version__.split('.')[0]}"
    build = os.path.join(cache, "caffe", variant)
    return os.path.join(build, "python") if os.path.isfile(os.path.join(build, ".built")) else None


def test_image_and_window_data_agree_with_caffe(tmp_path):
    python = opencv_pycaffe()
    if python is None:
        pytest.skip(
            "Caffe with OpenCV is not built for this Python/numpy (ImageData and WindowData "
            "exist only there): make pycaffe OPENCV=1"
        )
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([python, ROOT]), GLOG_minloglevel="2")
    env["FCN_ENGINE"] = "torch"
    p = subprocess.run(
        [sys.executable, os.path.join(HERE, "opencv_side.py"), str(tmp_path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert p.returncode == 0, p.stderr[-4000:]
    rows = [json.loads(line) for line in p.stdout.splitlines() if line.startswith("{")]
    assert {r["type"] for r in rows} == {"ImageData", "WindowData"}
    assert len(rows) == 33
    for r in rows:
        print(f"{r['type']} [{r['case']}, seed {r['seed']}]: max abs diff {r['worst']:.1e}")
    bad = [r for r in rows if not r["same"]]
    assert not bad, bad
