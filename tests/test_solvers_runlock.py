"""A run folder is one run's at a time (solvers.runs.lock), with real solve.py processes on a
tiny world (width 1/32, 32 px): two runs started together on one folder (one refuses naming the
other's pid; the other's weights, snapshots and train.jsonl rows are its own), a live run's
folder refused and taken with --new-run, a kill -9'd run's folder taken at once by the next run,
and a read-only run folder ending in one line."""

import glob
import json
import os
import subprocess
import sys
import time

import pytest
import tiny_training as tt

from solvers.runs import lock as runlock
from solvers.runs.claim import holds_snapshots

WAIT = 300  # s: no tiny run takes this long


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    return tt.make_world(str(tmp_path_factory.mktemp("runlock")))


def rows(folder):
    path = os.path.join(folder, "snapshot", "train.jsonl")
    if not os.path.exists(path):
        return []
    with open(path) as f:
        lines = f.read().split("\n")[:-1]  # the last piece may be a row being written
    return [json.loads(x) for x in lines if x.strip()]


def start(world, runs, *flags):
    cmd = tt.command(world, runs, *flags)
    return subprocess.Popen(cmd, env=tt.env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True)  # fmt: skip


def finish(proc):
    """(exit status, stderr) of `proc`, killing it and failing after WAIT s."""
    try:
        _, err = proc.communicate(timeout=WAIT)
    except subprocess.TimeoutExpired:
        proc.kill()
        _, err = proc.communicate()
        raise AssertionError(f"solve.py did not end within {WAIT} s:\n{err[-3000:]}") from None
    return proc.returncode, err


def only_run(folder):
    """The one run id of `folder`'s train.jsonl rows (fails when rows of several runs or rows
    without one are there)."""
    ids = {r.get("run") for r in rows(folder)}
    assert len(ids) == 1 and None not in ids, ids
    return ids.pop()


def test_the_lock_names_its_holder_and_dies_with_it(tmp_path):
    """In-process holder vs another process: refused with pid, host and command; free after
    release; --new-run's choice skips held folders and folders holding an earlier run."""
    folder = str(tmp_path / "voc-fcn32s")
    held = runlock.acquire(folder)
    probe = [sys.executable, "-c", "import sys; from solvers.runs import lock; "
             "lock.acquire(sys.argv[1]); print('took it')", folder]  # fmt: skip
    p = subprocess.run(probe, capture_output=True, text=True, timeout=120)
    assert p.returncode == 1 and "took it" not in p.stdout
    msg = p.stderr.strip()
    assert msg.startswith("error: the run folder") and len(msg.splitlines()) == 1, msg
    assert f"pid {os.getpid()} " in msg and held.owner.host in msg and "--new-run" in msg
    assert f"kill {os.getpid()}" in msg and "command:" in msg

    other = runlock.acquire_free(folder, holds_snapshots)  # held: the next folder beside it
    assert other.folder == folder + "-run2"
    os.makedirs(folder + "-run3/snapshot")
    open(folder + "-run3/snapshot/train_iter_4.caffemodel", "wb").close()  # an earlier run's
    third = runlock.acquire_free(folder, holds_snapshots)
    assert third.folder == folder + "-run4"
    for lock in (other, third):
        lock.release()

    held.release()
    assert open(os.path.join(folder, "run.lock")).read() == ""  # no name left behind
    p = subprocess.run(probe, capture_output=True, text=True, timeout=120)
    assert p.returncode == 0 and "took it" in p.stdout, p.stderr
    runlock.acquire(folder).release()  # the probe's end released it


def test_two_runs_started_together(world):
    """The audit's case: two solve.py with the same --runs started together used to both exit 0,
    publish one run's weights and mix their train.jsonl rows."""
    runs = tt.runs_folder(world, "together")
    folder = tt.run_dir(runs)
    flags = ("--iters", "60", "--snapshot-every", "30")
    a, b = start(world, runs, *flags), start(world, runs, *flags)
    (rc_a, err_a), (rc_b, err_b) = finish(a), finish(b)
    assert sorted([rc_a, rc_b]) == [0, 1], (err_a[-2000:], err_b[-2000:])
    winner, loser_err = (a, err_b) if rc_a == 0 else (b, err_a)
    last = loser_err.strip().splitlines()[-1]
    assert last.startswith(f"error: the run folder {folder} is in use by another run"), last
    assert f"pid {winner.pid} " in last and "Traceback" not in loser_err
    assert "Solving" not in loser_err  # refused before building anything

    run = only_run(folder)
    assert run.split("-")[2] == str(winner.pid)
    losses = [r["iter"] for r in rows(folder) if "loss" in r]
    assert losses == list(range(1, 61))  # each iteration once: one run's rows
    snaps = [r["snapshot"] for r in rows(folder) if r.get("status") == "unverified"]
    assert [os.path.basename(s) for s in snaps] == ["train_iter_30", "train_iter_60"]
    final = os.path.join(folder, f"{tt.MODEL}.caffemodel")
    assert tt.bit_equal(final, os.path.join(folder, "snapshot", "train_iter_60.caffemodel"))


def _wait_for_rows(proc, folder):
    deadline = time.monotonic() + WAIT
    while not [r for r in rows(folder) if "loss" in r]:
        assert proc.poll() is None, proc.communicate()[1][-3000:]
        assert time.monotonic() < deadline, "the first run logged no iteration"
        time.sleep(0.05)


def test_a_live_runs_folder_is_refused_and_a_killed_runs_is_free(world):
    runs = tt.runs_folder(world, "killed")
    folder = tt.run_dir(runs)
    first = start(world, runs, "--iters", "100000", "--snapshot-every", "100000")
    try:
        _wait_for_rows(first, folder)
        first_run = only_run(folder)
        # a second run is refused at once, naming the first; the first's files are untouched
        p = tt.solve(world, runs, "--iters", "2", check=False)
        assert p.returncode == 1 and f"pid {first.pid} " in p.stderr.strip().splitlines()[-1]
        assert not glob.glob(os.path.join(folder, "snapshot", "*.old-*"))
        # --overwrite never moves a live run's files aside either
        p = tt.solve(world, runs, "--iters", "2", "--overwrite", check=False)
        assert p.returncode == 1 and f"pid {first.pid} " in p.stderr
        # --new-run trains beside it, in a folder of its own
        p = tt.solve(world, runs, "--iters", "2", "--new-run")
        beside = folder + "-run2"
        assert os.path.exists(os.path.join(beside, f"{tt.MODEL}.caffemodel"))
        assert f"trained weights {beside}/" in p.stderr
        assert only_run(beside) != first_run
        assert only_run(folder) == first_run  # nothing of the others in the first's log
    finally:
        first.kill()  # SIGKILL: no handler runs, the lock goes with the process
        first.communicate()
    p = tt.solve(world, runs, "--iters", "2")  # at once: no stale lock to wait for or delete
    assert "in use" not in p.stderr
    second = only_run(folder)  # the killed run's rows were moved aside with its log
    assert second != first_run
    assert [r["iter"] for r in rows(folder) if "loss" in r] == [1, 2]
    (old,) = glob.glob(os.path.join(folder, "snapshot", "train.jsonl.old-*"))
    with open(old) as f:
        assert {json.loads(x)["run"] for x in f if x.strip()} == {first_run}


def _read_only(folder):
    """A command prefix running a command with `folder` read-only (a private read-only bind
    mount for root, whom permissions do not stop; chmod for anyone else) -> (prefix, undo)."""
    if os.geteuid() != 0:
        os.chmod(folder, 0o555)
        return [], lambda: os.chmod(folder, 0o755)
    probe = subprocess.run(["unshare", "-m", "true"], capture_output=True)
    if probe.returncode != 0:
        pytest.skip("running as root without mount namespaces: cannot make a folder read-only")
    script = 'mount --bind -o ro "$0" "$0" && exec "$@"'
    return ["unshare", "-m", "sh", "-c", script, folder], lambda: None


@pytest.mark.parametrize("where", ["run folder", "snapshot folder"])
def test_read_only_folder_at_start(world, where):
    runs = tt.runs_folder(world, f"ro-{where.split()[0]}")
    tt.solve(world, runs, "--iters", "1")
    folder = tt.run_dir(runs)
    for path in glob.glob(os.path.join(folder, "snapshot", "train_iter_*")):
        os.remove(path)  # no earlier snapshots: the run would start, and must write
    target = folder if where == "run folder" else os.path.join(folder, "snapshot")
    prefix, undo = _read_only(target)
    try:
        cmd = prefix + tt.command(world, runs, "--iters", "1")
        p = subprocess.run(cmd, env=tt.env(), capture_output=True, text=True, timeout=WAIT)
    finally:
        undo()
    assert p.returncode == 1, p.stderr[-2000:]
    assert "Traceback" not in p.stderr, p.stderr[-3000:]
    last = p.stderr.strip().splitlines()[-1]
    assert last.startswith("error: ") and target in last and "writable" in last, last
    assert "--runs" in last, last


def test_rows_of_another_run_are_never_read_as_this_runs(tmp_path):
    """Readers take their own run's rows: a good-snapshot row of another run naming the same
    file is not this run's verdict."""
    from solvers.training.runlog import Journal
    from solvers.training.snapshots import SnapshotBook

    path = str(tmp_path / "train.jsonl")
    prefix = str(tmp_path / "train")
    for ext in (".caffemodel", ".solverstate"):
        open(f"{prefix}_iter_5{ext}", "wb").close()
    other = SnapshotBook(prefix, Journal(path, "other-run"), 5)
    other.record(5, None, 1.0)
    other.forward(6, 0.5, None)
    assert other.latest_good()[0].endswith("train_iter_5.caffemodel")
    mine = SnapshotBook(prefix, Journal(path, "this-run"), 5)
    assert mine.latest_good() is None and mine.explain_none() == "none written yet"
    mine.record(5, None, 1.0)
    assert mine.latest_good() is None and "no forward" in mine.explain_none()
    mine.forward(6, float("nan"), None)
    assert mine.latest_good() is None and "is bad" in mine.explain_none()


def test_plotlog_reads_the_last_runs_rows(tmp_path):
    """A train.jsonl with an older run's rows before (a log from before the lock) plots only
    the last run's; a log without run ids plots every row."""
    from solvers.pictures.plotlog import parse_log

    path = tmp_path / "train.jsonl"
    lines = [{"run": "a", "iter": i, "loss": 9.0} for i in (1, 2, 3)]
    lines += [{"run": "b", "iter": i, "loss": 1.0 / i} for i in (1, 2)]
    path.write_text("".join(json.dumps(r) + "\n" for r in lines))
    assert parse_log(str(path))["loss"] == [(1, 1.0), (2, 0.5)]
    path.write_text("".join(json.dumps({"iter": i, "loss": 2.0}) + "\n" for i in (1, 2, 3)))
    assert [i for i, _ in parse_log(str(path))["loss"]] == [1, 2, 3]


def test_a_filesystem_without_locks_warns_and_trains(tmp_path, monkeypatch, capsys):
    """flock fails with ENOLCK on some network filesystems: the run goes on, warned that
    nothing stops a second one (refusing would make training there impossible)."""
    import errno

    def no_locks(fd, op):
        raise OSError(errno.ENOLCK, "No locks available")

    monkeypatch.setattr(runlock.fcntl, "flock", no_locks)
    held = runlock.acquire(str(tmp_path / "m"))
    assert not held.locked and "cannot lock files" in capsys.readouterr().err
    held.release()
    assert held.fd == -1
