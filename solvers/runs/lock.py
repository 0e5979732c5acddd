"""One run at a time in a run folder: a lock that lives exactly as long as its process.

A run holds `<run>/run.lock` open with an exclusive `fcntl.flock` for its whole life; the file
says who holds it (pid, host, start time, command) as one JSON object. The kernel drops the lock
when the process ends however it ends (kill -9 included), so a dead run never blocks the next
and there is no stale lock to delete; the file itself stays (an unlocked file means nothing).
A second run finds the lock taken and refuses at once, naming the holder, or with `--new-run`
takes the next free folder beside it (`<run>-run2`, `<run>-run3`, ...). Under torchrun, rank 0
takes the lock and the other ranks share it (solvers.training.session broadcasts the outcome).
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import shlex
import socket
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

from .folder import RunSetupError

LOCK_NAME = "run.lock"
READ_PATIENCE = 2.0  # s: a holder that has just taken the lock writes its name right after


@dataclass(frozen=True)
class Owner:
    """Who holds a run folder: pid and host of the process, its start (epoch s), its command."""

    pid: int
    host: str
    started: float
    command: str

    @classmethod
    def me(cls) -> Owner:
        """This process."""
        argv = getattr(sys, "orig_argv", None) or [sys.executable, *sys.argv]
        return cls(os.getpid(), socket.gethostname(), time.time(), shlex.join(argv))

    def describe(self) -> str:
        """'pid 12 on host h, started 2026-12-06 17:22:06, 40 s ago'."""
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(self.started))
        ago = max(0, int(time.time() - self.started))
        return f"pid {self.pid} on host {self.host}, started {when}, {ago} s ago"

    def short_command(self, limit: int = 300) -> str:
        """The holder's command line, cut to `limit` characters."""
        return self.command if len(self.command) <= limit else self.command[: limit - 3] + "..."

    def stop_hint(self) -> str:
        """How to stop that process from here."""
        here = self.host == socket.gethostname()
        return f"kill {self.pid}" + ("" if here else f" on {self.host}")


class FolderBusy(RunSetupError):
    """The run folder is held by another live run (`owner`, None when it wrote no name)."""

    def __init__(self, folder: str, owner: Owner | None) -> None:
        self.folder, self.owner = folder, owner
        if owner is None:
            who, stop, command = "a process that wrote no name in run.lock", "", ""
        else:
            who, stop = owner.describe(), f" (or stop it: {owner.stop_hint()})"
            command = f"; that run's command: {owner.short_command()}"
        super().__init__(
            f"the run folder {folder} is in use by another run ({who}): wait for it to end"
            f"{stop}, or start this run in a new folder beside it with --new-run{command}"
        )


class RunLock:
    """The lock of one run folder, held by this process until `release` or its end."""

    def __init__(self, folder: str, fd: int, owner: Owner, locked: bool = True) -> None:
        self.folder, self.fd, self.owner, self.locked = folder, fd, owner, locked

    @property
    def path(self) -> str:
        return os.path.join(self.folder, LOCK_NAME)

    def release(self) -> None:
        """Clear the holder's name and drop the lock (idempotent)."""
        if self.fd < 0:
            return
        if self.locked:
            try:
                os.ftruncate(self.fd, 0)
            except OSError:
                pass  # a full or read-only disk: the unlocked file's text means nothing anyway
            fcntl.flock(self.fd, fcntl.LOCK_UN)
        os.close(self.fd)
        self.fd = -1


def _unwritable(folder: str, e: OSError) -> RunSetupError:
    where = e.filename or folder
    return RunSetupError(
        f"cannot write in the run folder {folder} ({where}: {e.strerror or e}): make it "
        "writable, or train elsewhere with --runs <a writable folder>"
    )


def _alive_here(owner: Owner) -> bool:
    """False when `owner` names a process of this host that no longer runs."""
    if owner.host != socket.gethostname():
        return True
    try:
        os.kill(owner.pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def read_owner(folder: str, patience: float = READ_PATIENCE) -> Owner | None:
    """The holder named in <folder>/run.lock; waits up to `patience` s for a holder that has
    just taken the lock to write its name (None when none appears)."""
    path = os.path.join(folder, LOCK_NAME)
    deadline = time.monotonic() + patience
    while True:
        owner = None
        try:
            with open(path) as f:
                owner = Owner(**json.load(f))
        except (OSError, ValueError, TypeError):
            pass
        if owner is not None and _alive_here(owner):
            return owner
        if time.monotonic() >= deadline:
            return None
        time.sleep(0.02)


def try_lock(folder: str) -> RunLock | None:
    """Take `folder`'s lock for this process -> RunLock, or None when another process holds it.
    The folder is made when missing; RunSetupError when it cannot be written."""
    try:
        os.makedirs(folder, exist_ok=True)
        flags = os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) | os.O_CLOEXEC
        fd = os.open(os.path.join(folder, LOCK_NAME), flags, 0o644)
    except OSError as e:
        raise _unwritable(folder, e) from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as e:
        if e.errno in (errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS):
            print(
                f"warning: {folder}: this filesystem cannot lock files ({e.strerror}); nothing "
                "stops a second run from using this folder at the same time: start one at a time",
                file=sys.stderr,
            )
            return RunLock(folder, fd, Owner.me(), locked=False)
        os.close(fd)
        if e.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
            return None
        raise _unwritable(folder, e) from None
    owner = Owner.me()
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, (json.dumps(asdict(owner)) + "\n").encode(), 0)
    except OSError as e:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)
        raise _unwritable(folder, e) from None
    return RunLock(folder, fd, owner)


def acquire(folder: str) -> RunLock:
    """Take `folder`'s lock -> RunLock; FolderBusy (naming the holder) when a live run has it."""
    lock = try_lock(folder)
    if lock is None:
        raise FolderBusy(folder, read_owner(folder))
    return lock


def acquire_free(folder: str, has_earlier_run: Callable[[str], bool], tries: int = 100) -> RunLock:
    """--new-run: `folder` when it is free, else the first of `<folder>-run2`, `-run3`, ...
    that no run holds and `has_earlier_run(candidate)` says holds no earlier run -> its lock.
    (A folder holding an earlier run's snapshots is skipped, never claimed.)"""
    for k in range(1, tries + 1):
        candidate = folder if k == 1 else f"{folder}-run{k}"
        lock = try_lock(candidate)
        if lock is None:
            continue
        if has_earlier_run(candidate):
            lock.release()
            continue
        return lock
    raise RunSetupError(f"--new-run: {folder} and {tries - 1} folders beside it are all taken")
