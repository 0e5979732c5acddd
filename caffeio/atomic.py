"""Atomic file writes: a private temporary file in the target's folder, then a rename.

    atomic_write("x.caffemodel", data)            # bytes
    with atomic_path("curves.png") as tmp:        # for writers that want a path
        fig.savefig(tmp, format="png")

The temporary file is created with O_EXCL|O_NOFOLLOW under an unpredictable name
`.<name>.tmp-<pid>-<host>-<token>`, so nothing planted next to the target (a symlink, a file
of the old predictable name) is followed or overwritten; its mode is 0666 minus the umask, as
a plain open() gives. A crash leaves at most that hidden file behind: the first write into a
folder (and remove_stale_temps) deletes such leftovers of processes that no longer run.
OS failures (read-only folder, full disk, a directory in the way) become CaffeWriteError
naming the file and what to do; the previous file under that name is left as it was.
"""

import contextlib
import errno
import hashlib
import os
import re
import secrets
import socket
import time

from .errors import CaffeWriteError

_TEMP_RE = re.compile(r"^\..+\.tmp-(\d+)-([0-9a-f]{8})-[0-9a-z]+$")
_OLD_TEMP_RE = re.compile(r"^\..+\.[0-9a-z_]{8}\.tmp$")  # tempfile.mkstemp names (older code)
_OLD_AGE_S = 3600.0  # those carry no pid: only ones older than this are presumed dead
_cleaned = set()  # folders whose leftovers this process already removed


def _host_tag():
    return hashlib.sha1(socket.gethostname().encode()).hexdigest()[:8]


def _temp_name(path):
    base = os.path.basename(path)
    return f".{base}.tmp-{os.getpid()}-{_host_tag()}-{secrets.token_hex(6)}"


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # EPERM: it exists but belongs to someone else
        return True
    return True


def remove_stale_temps(folder):
    """Delete temporary files that interrupted atomic writes left in `folder` -> their count.

    Only files of this module's naming scheme whose writing process (on this host) is gone,
    and tempfile-style leftovers of older versions idle for an hour, are removed; files of
    live writers and anything else are left alone.
    """
    removed = 0
    host = _host_tag()
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return 0
    for e in entries:
        m = _TEMP_RE.match(e.name)
        try:
            if m:
                pid, tag = int(m.group(1)), m.group(2)
                if tag != host or pid == os.getpid() or _alive(pid):
                    continue
            elif not (
                _OLD_TEMP_RE.match(e.name)
                and time.time() - e.stat(follow_symlinks=False).st_mtime > _OLD_AGE_S
            ):
                continue
            if e.is_file(follow_symlinks=False):
                os.unlink(e.path)
                removed += 1
        except OSError:
            continue
    return removed


def _hint(e, path, folder):
    code = getattr(e, "errno", None)
    if code in (errno.EACCES, errno.EPERM, errno.EROFS):
        return (
            f"the folder {folder} is not writable for you: choose another output location "
            "or fix its permissions"
        )
    if code in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
        return f"the disk holding {folder} is full: free some space or write elsewhere"
    if code == errno.EISDIR or os.path.isdir(path):
        return f"{path} is a directory: pass a file name (e.g. {os.path.join(path, 'out')})"
    if code in (errno.ENOTDIR, errno.ENOENT):
        return f"a part of {folder} is not a folder: check the output path"
    return "check the output path and the disk"


def _fail(e, path, folder):
    err = CaffeWriteError(
        f"{path}: cannot write ({e.strerror or e}): {_hint(e, path, folder)}; "
        "any earlier file of that name is unchanged"
    )
    err.errno, err.filename = e.errno, path
    return err


def _prepare(path):
    folder = os.path.dirname(os.path.abspath(path))
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError as e:
        raise _fail(e, path, folder) from None
    if os.path.isdir(path):
        raise _fail(OSError(errno.EISDIR, "is a directory"), path, folder)
    if folder not in _cleaned:
        _cleaned.add(folder)
        remove_stale_temps(folder)
    tmp = os.path.join(folder, _temp_name(path))
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(tmp, flags | getattr(os, "O_CLOEXEC", 0), 0o666)  # umask applies
    except OSError as e:
        raise _fail(e, path, folder) from None
    return folder, tmp, fd


def _publish(tmp, path, folder):
    os.replace(tmp, path)
    with contextlib.suppress(OSError):  # the rename itself durable (not on every filesystem)
        dfd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)


@contextlib.contextmanager
def _discarded_on_failure(tmp, path, folder):
    """Any exception in the block removes the temporary file; OS errors become one
    CaffeWriteError naming `path` and what to do."""
    try:
        yield
    except BaseException as e:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(e, OSError) and not isinstance(e, CaffeWriteError):
            raise _fail(e, path, folder) from None
        raise


def atomic_write(path, data):
    """Write bytes `data` to `path` atomically (temporary file in the same folder + rename).

    A crash or Ctrl-C mid-write never leaves a half-written file under `path`; OS errors
    raise CaffeWriteError naming `path` and what to do.
    """
    folder, tmp, fd = _prepare(path)
    with _discarded_on_failure(tmp, path, folder):
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        _publish(tmp, path, folder)


@contextlib.contextmanager
def atomic_path(path):
    """Context manager: yields a fresh temporary path next to `path` for a writer that takes
    a file name (savefig, torch.save, ONNX export); renamed onto `path` when the block ends
    without an exception, deleted otherwise. Errors as in atomic_write."""
    folder, tmp, fd = _prepare(path)
    os.close(fd)
    with _discarded_on_failure(tmp, path, folder):
        yield tmp
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        _publish(tmp, path, folder)
