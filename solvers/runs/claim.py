"""A run folder belongs to one run: a fresh run never adopts another run's snapshots.

(While a run lives, its folder is locked against any other: solvers.runs.lock. This module
deals with what earlier runs left.)

A fresh run (no --resume) in a folder that already holds `<prefix>_iter_N` snapshots stops and
says how to go on: --resume one of them, or --overwrite, which moves the old snapshot folder
aside (`snapshot.old-<time>/`) so nothing is lost. Every run starts by removing the temporary
files that killed runs left in the snapshot folder (caffeio.atomic's naming scheme only).
"""

from __future__ import annotations

import glob
import os
import re
import sys
import time

from .folder import RunSetupError

_SNAPSHOT_RE = re.compile(r"_iter_(\d+)\.(caffemodel|solverstate|rngstate|rank\d+\.rngstate)$")


def snapshot_files(prefix: str) -> list[str]:
    """Existing snapshot files of `prefix` (<prefix>_iter_N.caffemodel/.solverstate/.rngstate),
    sorted by iteration."""
    found = []
    for path in glob.glob(glob.escape(prefix) + "_iter_*"):
        m = _SNAPSHOT_RE.search(path)
        if m and path[: m.start()] == prefix:
            found.append((int(m.group(1)), path))
    return [p for _, p in sorted(found)]


def holds_snapshots(folder: str) -> bool:
    """Whether `folder` or its snapshot/ holds snapshot files (`*_iter_N.caffemodel`, ...) of
    some run."""
    for d in (folder, os.path.join(folder, "snapshot")):
        if os.path.isdir(d) and any(_SNAPSHOT_RE.search(name) for name in os.listdir(d)):
            return True
    return False


def latest_state(prefix: str) -> str | None:
    """The newest <prefix>_iter_N.solverstate whose caffemodel exists (None when none)."""
    states = [p for p in snapshot_files(prefix) if p.endswith(".solverstate")]
    for path in reversed(states):
        if os.path.exists(path[: -len(".solverstate")] + ".caffemodel"):
            return path
    return None


def _stamp():
    return time.strftime("%Y%m%d-%H%M%S")


def _free_name(base):
    name, k = base, 1
    while os.path.exists(name):
        k += 1
        name = f"{base}-{k}"
    return name


def move_aside(folder: str, prefix: str, jsonl: str) -> str:
    """Move the earlier run's snapshots out of the way -> the folder now holding them.

    A snapshot folder of its own (the usual snapshot/) is renamed to <it>.old-<time>; snapshots
    written straight into the run folder go, with `jsonl`, into <run>/snapshot.old-<time>/.
    """
    snap_dir = os.path.dirname(os.path.abspath(prefix))
    if os.path.abspath(snap_dir) != os.path.abspath(folder):
        dest = _free_name(f"{snap_dir}.old-{_stamp()}")
        os.rename(snap_dir, dest)
        return dest
    dest = _free_name(os.path.join(folder, f"snapshot.old-{_stamp()}"))
    os.makedirs(dest)
    for path in snapshot_files(prefix) + ([jsonl] if os.path.exists(jsonl) else []):
        os.rename(path, os.path.join(dest, os.path.basename(path)))
    return dest


def claim(folder: str, prefix: str, jsonl: str, overwrite: bool, act: bool = True) -> str | None:
    """Make `folder` this fresh run's own (see the module doc).

    Raises RunSetupError when snapshots of an earlier run are there and `overwrite` is off;
    with `overwrite`, moves them aside (when `act`: rank 0 only). A train.jsonl left by an
    earlier run that wrote no snapshot is renamed train.jsonl.old-<time>, so rows never mix.
    Returns a note for the user, or None.
    """
    found = snapshot_files(prefix)
    if found and not overwrite:
        snap_dir = os.path.dirname(os.path.abspath(prefix))
        latest = latest_state(prefix)
        resume = (
            f"--resume {os.path.abspath(latest)}"
            if latest
            else "--resume <prefix>_iter_N.solverstate"
        )
        raise RunSetupError(
            f"the run folder {snap_dir} holds snapshots of an earlier run ({len(found)} files, "
            f"the last {os.path.basename(found[-1])}); a fresh run there could publish them as "
            f"its own. Continue that run with {resume}, or start over with --overwrite (moves "
            f"{snap_dir} aside to {os.path.basename(snap_dir)}.old-<time>/, deleting nothing)"
        )
    if not act:
        return None
    if found:
        dest = move_aside(folder, prefix, jsonl)
        return f"--overwrite: the earlier run's snapshots were moved to {dest}"
    if os.path.exists(jsonl) and os.path.getsize(jsonl):
        dest = _free_name(f"{jsonl}.old-{_stamp()}")
        os.rename(jsonl, dest)
        return f"an earlier run's log (no snapshots) was moved to {dest}"
    return None


def remove_temps(folder: str, prefix: str) -> int:
    """Delete leftover temporary files of interrupted atomic writes in the snapshot folder and
    the run folder -> how many were removed."""
    from caffeio.atomic import remove_stale_temps

    dirs = {os.path.dirname(os.path.abspath(prefix)), os.path.abspath(folder)}
    return sum(remove_stale_temps(d) for d in sorted(dirs))


def say(note: str | None) -> None:
    """Print a note of this module to stderr (when there is one)."""
    if note:
        print(note, file=sys.stderr)
