"""A snapshot that cannot be written (full disk, read-only folder) ends in one line naming the
file and the snapshot to resume from, not a traceback."""

import os
import subprocess

import pytest
from tiny_training import command, env, make_world, runs_folder

FULL_DISK = """
import errno, os
_real = os.replace
def _replace(src, dst, *a, **k):
    if str(dst).endswith("_iter_4.caffemodel"):
        raise OSError(errno.ENOSPC, "No space left on device", str(dst))
    return _real(src, dst, *a, **k)
os.replace = _replace
"""


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    return make_world(str(tmp_path_factory.mktemp("werr")))


def test_full_disk_at_a_snapshot(world, tmp_path):
    (tmp_path / "sitecustomize.py").write_text(FULL_DISK)
    e = env()
    e["PYTHONPATH"] = os.pathsep.join([str(tmp_path), e.get("PYTHONPATH", "")])
    runs = runs_folder(world, "full")
    cmd = command(world, runs, "--iters", "4", "--snapshot-every", "2")
    p = subprocess.run(cmd, env=e, capture_output=True, text=True, timeout=300)
    assert p.returncode == 1, p.stderr[-2000:]
    last = p.stderr.strip().splitlines()[-1]
    assert "Traceback" not in p.stderr, p.stderr[-2000:]
    assert last.startswith("error: cannot write") and "train_iter_4.caffemodel" in last, last
    assert "No space left on device" in last and "train_iter_2.solverstate" in last, last


def test_failed_start_leaves_the_callers_signal_handlers(world, monkeypatch):
    """solve.py run in-process (tests, notebooks) that fails after setting up keeps the caller's
    SIGINT/SIGTERM handlers: its own are installed only around the training loop."""
    import signal

    from solvers.training import cli as train
    from solvers.training import session

    def broken_bar(*a):
        raise RuntimeError("progress bar broke")

    monkeypatch.setattr(session, "progress_bar", broken_bar)
    before = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    runs = runs_folder(world, "inproc")
    argv = command(world, runs, "--iters", "1")[2:]  # the flags after python solve.py
    with pytest.raises(RuntimeError, match="progress bar broke"):
        train.main("voc-fcn32s", [*argv, "--engine", "torch"])
    assert {s: signal.getsignal(s) for s in before} == before
