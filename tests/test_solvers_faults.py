"""Fault injection: a tiny training run (Dropout drop6/drop7 in the net, a snapshot every
iteration) is killed with SIGKILL at random points, snapshot writes included, and resumed from
its latest complete snapshot each time; its final weights and every logged loss must equal an
uninterrupted run's bit for bit, train.jsonl must hold each iteration once and no temporary
file may be left behind.

Two kinds of kill, alternating: from outside, at a random moment shortly after the run has
logged a random number (2..4) of iterations, and from inside, at the rename that publishes its
k-th snapshot file (k random: a caffemodel, rngstate or solverstate), so that kill lands
mid-snapshot for certain.
"""

import json
import os
import random
import signal
import subprocess
import sys
import time

import pytest
import tiny_training as tt

from solvers.runs.claim import latest_state

ITERS = 20
KILLS = 4
SEED = 14
WAIT = 300  # s: no tiny run takes this long; a stuck one fails the test instead of hanging it

# Runs solve.py (argv[2:]) in a process that SIGKILLs itself when it is about to rename a
# temporary file onto its argv[1]-th <prefix>_iter_N.* snapshot file.
INJECT = r"""
import os, runpy, signal, sys
left, rename = [int(sys.argv[1])], os.replace
def replace(src, dst, *a, **k):
    if "_iter_" in os.path.basename(dst):
        left[0] -= 1
        if left[0] == 0:
            os.kill(os.getpid(), signal.SIGKILL)
    return rename(src, dst, *a, **k)
os.replace = replace
sys.argv = sys.argv[2:]
runpy.run_path(sys.argv[0], run_name="__main__")
"""


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    return tt.make_world(str(tmp_path_factory.mktemp("faults")))


def start(world, runs, flags, log, inject=None):
    cmd = tt.command(world, runs, "--snapshot-every", "1", *flags)
    if inject is not None:
        cmd = [sys.executable, "-c", INJECT, str(inject), *cmd[1:]]
    return subprocess.Popen(cmd, env=tt.env(), stdout=subprocess.DEVNULL, stderr=log)


def wait(proc, log):
    """proc's exit status, killing it and failing after WAIT s (its stderr tail in the message)."""
    try:
        return proc.wait(timeout=WAIT)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        log.flush()
        with open(log.name, "rb") as f:
            tail = f.read()[-3000:].decode(errors="replace")
        raise AssertionError(f"solve.py did not end within {WAIT} s:\n{tail}") from None


def loss_rows(runs):
    """(iter, loss) of train.jsonl's complete loss rows."""
    path = os.path.join(tt.snap_dir(runs), "train.jsonl")
    try:
        with open(path) as f:
            lines = f.read().split("\n")[:-1]  # the last piece may be a row being written
    except FileNotFoundError:
        return []
    rows = [json.loads(x) for x in lines if x.strip()]
    return [(r["iter"], r["loss"], r["time"]) for r in rows if "loss" in r]


def temps(runs):
    """Hidden temporary files of atomic writes in the run and snapshot folders."""
    found = []
    for d in (tt.run_dir(runs), tt.snap_dir(runs)):
        if os.path.isdir(d):
            found += [n for n in os.listdir(d) if n.startswith(".") and ".tmp-" in n]
    return found


def kill_after(proc, runs, began, steps, delay, log):
    """SIGKILL `proc` `delay` s after it logged `steps` iterations -> whether it was killed
    (False: it ended first)."""
    deadline = time.monotonic() + WAIT
    while proc.poll() is None and sum(t > began for _, _, t in loss_rows(runs)) < steps:
        if time.monotonic() > deadline:
            wait(proc, log)  # kills it and fails with its stderr: it logged nothing for WAIT s
        time.sleep(0.01)
    time.sleep(delay)
    if proc.poll() is not None:
        return False
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    return True


def test_sigkill_anywhere_then_resume_is_bit_exact(world, tmp_path):
    rng = random.Random(SEED)
    straight_runs = tt.runs_folder(world, "straight")
    runs = tt.runs_folder(world, "killed")
    prefix = os.path.join(tt.snap_dir(runs), "train")
    logs = open(tmp_path / "stderr.txt", "wb")
    straight = start(world, straight_runs, ["--iters", str(ITERS)], logs)  # alongside

    kills = in_write = resumes = 0
    trace = []  # (kind of kill, iteration resumed from, mid-write) per killed attempt
    while True:
        state = latest_state(prefix)
        done = int(state.rsplit("_iter_", 1)[1].split(".")[0]) if state else 0
        flags = ["--iters", str(ITERS - done)]
        if state:
            assert os.path.exists(state[: -len(".solverstate")] + ".rngstate")
            flags += ["--resume", state]
            resumes += 1
        else:
            flags += ["--overwrite"]  # killed before its first snapshot: start again
        last = kills >= KILLS
        inject = None if last or kills % 2 == 0 else rng.randint(4, 9)
        began = time.time()
        proc = start(world, runs, flags, logs, inject=inject)
        if last:
            assert wait(proc, logs) == 0, (tmp_path / "stderr.txt").read_text()[-3000:]
            break
        if inject is None:
            killed = kill_after(proc, runs, began, rng.randint(2, 4), rng.uniform(0, 0.1), logs)
        else:
            killed = wait(proc, logs) == -signal.SIGKILL
        if not killed:  # it ended before the kill came: it must have finished
            assert proc.returncode == 0, (tmp_path / "stderr.txt").read_text()[-3000:]
            break
        kills += 1
        mid = bool(temps(runs))  # a temporary snapshot file was being written
        in_write += mid
        trace.append(("outside" if inject is None else "in-write", done, mid))
    assert wait(straight, logs) == 0, (tmp_path / "stderr.txt").read_text()[-3000:]

    final = os.path.join(tt.run_dir(runs), f"{tt.MODEL}.caffemodel")
    reference = os.path.join(tt.run_dir(straight_runs), f"{tt.MODEL}.caffemodel")
    exact = tt.bit_equal(final, reference)
    got = [(i, loss) for i, loss, _ in loss_rows(runs)]
    want = [(i, loss) for i, loss, _ in loss_rows(straight_runs)]
    print(
        f"\nfault injection: {kills} SIGKILLs ({in_write} inside a snapshot write), "
        f"{resumes} resumes, final weights bit-exact: {exact}, losses bit-exact: {got == want}"
        f"\n(kill, resumed from iteration, mid-write): {trace}"
    )
    assert kills == KILLS and in_write >= 2 and resumes >= 2
    assert exact
    assert [i for i, _ in got] == list(range(1, ITERS + 1))  # each iteration logged once
    assert got == want
    assert temps(runs) == []
