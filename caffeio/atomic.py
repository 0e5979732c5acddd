"""Atomic file writes: a private temporary file in the target's folder, then a rename.

    atomic_write("x.caffemodel", data)            # bytes
    with atomic_path("curves.png") as tmp:        # for writers that want a path
        fig.savefig(tmp, format="png")

The temporary file is created with O_EXCL|O_NOFOLLOW under an unpredictable name
`.<name>.tmp-<pid>-<host>-<token>`, so nothing planted next to the target (a symlink, a file
of the old predictable name) is followed or overwritten; its mode is 0666 minus the umask, as
a plain open() gives. Writers that open a path themselves (atomic_path) get one inside a
private folder of that name (mode 0700), so no one can swap the file between their opens.
A crash leaves at most that hidden file or folder behind: the first write into a folder (and
remove_stale_temps) deletes such leftovers of processes that no longer run.
OS failures (read-only folder, full disk, the file-size limit, a directory in the way) become
CaffeWriteError naming the destination file and what to do; the previous file under that name
is left as it was.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import re
import resource
import secrets
import shutil
import socket
import time
from collections.abc import Iterator

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


def remove_stale_temps(folder: str) -> int:
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
            elif m and e.is_dir(follow_symlinks=False):  # atomic_path's private folder
                shutil.rmtree(e.path)
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
    if code == errno.EFBIG:
        return (
            f"the file-size limit of this process ({_fsize_limit()}; ulimit -f) stops it: raise "
            "the limit or write a smaller file"
        )
    if code in (errno.ENOSPC, errno.EDQUOT):
        return f"the disk holding {folder} is full: free some space or write elsewhere"
    if code == errno.EISDIR or os.path.isdir(path):
        return f"{path} is a directory: pass a file name (e.g. {os.path.join(path, 'out')})"
    if code in (errno.ENOTDIR, errno.ENOENT):
        return f"a part of {folder} is not a folder: check the output path"
    return "check the output path and the disk"


def _fsize_limit():
    soft, _ = resource.getrlimit(resource.RLIMIT_FSIZE)
    return "no limit" if soft == resource.RLIM_INFINITY else f"{soft} bytes"


def _fail(e, path, folder):
    strerror = getattr(e, "strerror", None)
    err = CaffeWriteError(
        f"{path}: cannot write ({strerror or e}): {_hint(e, path, folder)}; "
        "any earlier file of that name is unchanged"
    )
    err.errno, err.filename, err.strerror = e.errno, path, strerror
    return err


def _folder(path):
    """The folder of `path`, made if needed and cleaned of stale temporary files once."""
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
    return folder


def _prepare(path):
    folder = _folder(path)
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
    """Any exception in the block removes the temporary file (or private folder); OS errors
    become one CaffeWriteError naming `path` (not the temporary name) and what to do."""
    try:
        yield
    except BaseException as e:
        _remove(tmp)
        inner = isinstance(e, CaffeWriteError) and str(e.filename or "").startswith(tmp)
        if inner or (isinstance(e, OSError) and not isinstance(e, CaffeWriteError)):
            raise _fail(e, path, folder) from None
        raise


def _remove(tmp):
    with contextlib.suppress(OSError):
        if os.path.isdir(tmp) and not os.path.islink(tmp):
            shutil.rmtree(tmp)
        else:
            os.unlink(tmp)


def atomic_write(path: str, data: bytes) -> None:
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
def atomic_path(path: str) -> Iterator[str]:
    """Context manager for a writer that takes a file name (savefig, PIL, torch.save, ONNX
    export): yields a path named like `path` inside a private folder (mode 0700, made next to
    `path` under an unpredictable name), so that nobody else can replace the file between the
    writer's opens; the file is renamed onto `path` when the block ends without an exception,
    and the folder removed either way. Errors as in atomic_write, naming `path`."""
    folder = _folder(path)
    private = os.path.join(folder, _temp_name(path))
    try:
        os.mkdir(private, 0o700)
    except OSError as e:
        raise _fail(e, path, folder) from None
    tmp = os.path.join(private, os.path.basename(path))
    try:
        with _discarded_on_failure(private, path, folder):
            yield tmp
            if not os.path.isfile(tmp):
                raise CaffeWriteError(f"{path}: the writer wrote no file (nothing was published)")
            with open(tmp, "rb+") as f:
                os.fsync(f.fileno())
            _publish(tmp, path, folder)
    finally:
        _remove(private)
