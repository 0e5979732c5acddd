"""Resumable, verified downloads of the catalog's files (zoo.catalog).

    from zoo.download import fetch, verify
    path = fetch(get("vgg16"), root)        # -> absolute path of the verified, installed file
    status = verify(get("vgg16"), root)     # Verification: ok / missing / mismatch / unverified

How a file arrives:
- bytes go to `<dest>.part` in the destination folder; a cut connection is resumed with an
  HTTP Range request (a few times in one call, and by the next call: the .part is kept); a
  server that ignores Range (200 instead of 206) restarts the file from its first byte;
- a server announcing another length than the published size is not serving the file: the next
  mirror is tried;
- the finished .part is checked against the published size and every published checksum; a
  file that fails is moved to `<dest>.bad` (kept for inspection, never installed) and the next
  mirror is tried;
- it is installed by an atomic rename (caffeio.atomic: fsync, rename, fsync of the folder), so
  `<dest>` is either absent or complete;
- a record `<dest>.download.json` (URL, size, SHA-256, date) is written beside it; a file
  without a published checksum is checked against that record afterwards.

Nothing existing is overwritten: a file already at `<dest>` that passes verification is kept,
one that fails is left alone unless `replace_bad` (then it is moved to `<dest>.bad` first).
Errors (DownloadError) name the URL, the path and what to do: another mirror, a rerun to
resume, freeing disk space, or downloading by hand and putting the file at `<dest>`.
"""

from __future__ import annotations

import contextlib
import datetime
import errno
import hashlib
import http.client
import json
import os
import shutil
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .catalog import Published

__all__ = [
    "DownloadError",
    "HTTPStatusError",
    "ConnectionFailed",
    "ChecksumMismatch",
    "DiskFull",
    "ExistingFileError",
    "Verification",
    "fetch",
    "verify",
    "download",
    "record_path",
    "file_digests",
]

CHUNK = 1 << 20
RECORD_SUFFIX = ".download.json"
USER_AGENT = "fcn-toolkit-weights/1"
_DISK_FULL = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)


class DownloadError(Exception):
    """A file could not be fetched or verified; the message says what to do."""


class HTTPStatusError(DownloadError):
    """The server answered with an HTTP error (404, 403, 500, ...)."""


class ConnectionFailed(DownloadError):
    """The connection failed or was cut more often than the retries allow."""


class ChecksumMismatch(DownloadError):
    """The bytes received are not the published file (kept as <dest>.bad)."""


class DiskFull(DownloadError):
    """No space left while writing the .part file (kept for resuming)."""


class ExistingFileError(DownloadError):
    """A file at the destination fails verification and was left alone."""


class _WrongLength(DownloadError):
    """A server announces another length than the published size (tries the next mirror)."""


def record_path(dest: str) -> str:
    """The JSON record written beside a downloaded file."""
    return dest + RECORD_SUFFIX


def file_digests(path: str, kinds: Iterable[str] = ("sha256",)) -> dict[str, str]:
    """{kind: hex digest} of a file, read once (kinds: hashlib names)."""
    hashes = {k: hashlib.new(k) for k in kinds}
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(CHUNK), b""):
            for h in hashes.values():
                h.update(chunk)
    return {k: h.hexdigest() for k, h in hashes.items()}


@dataclass
class Verification:
    """status: 'ok' (published or recorded size/checksums match), 'mismatch', 'missing' or
    'unverified' (present, nothing published nor recorded to check it against); problems:
    what differs; checked: what was compared ('size', 'sha1 (source)', 'recorded sha256')."""

    path: str
    status: str
    problems: list
    checked: list

    @property
    def ok(self) -> bool:
        return self.status == "ok"


def _expectations(rec, path):
    """[(what, kind, expected, source)] for the file at `path`: size and checksums published in
    the catalog, then those recorded at its download."""
    out = []
    if rec.size is not None:
        out.append(("size", "size", rec.size, rec.size_source or "catalog"))
    for c in rec.checksums:
        out.append((c.kind, c.kind, c.value.lower(), c.source))
    rp = record_path(path)
    if os.path.exists(rp):
        try:
            with open(rp) as f:
                saved = json.load(f)
            out.append(("recorded size", "size", int(saved["size"]), rp))
            out.append(("recorded sha256", "sha256", str(saved["sha256"]).lower(), rp))
        except (OSError, ValueError, KeyError, TypeError) as e:
            out.append(("record", "record", f"a readable record ({e})", rp))
    return out


def _check(path, expectations):
    problems, checked = [], []
    kinds = sorted({k for _, k, _, _ in expectations if k not in ("size", "record")})
    digests = file_digests(path, kinds) if kinds else {}
    size = os.path.getsize(path)
    for what, kind, expected, source in expectations:
        if kind == "record":
            problems.append(f"{source}: not {expected}")
            continue
        actual = size if kind == "size" else digests[kind]
        checked.append(what)
        if actual != expected:
            problems.append(f"{what} {actual}, expected {expected} ({source})")
    return problems, checked


def verify(rec: Published, root: str) -> Verification:
    """Check the installed file of catalog record `rec` under project root `root`."""
    path = os.path.join(root, rec.dest)
    if not os.path.isfile(path):
        return Verification(path, "missing", [], [])
    exp = _expectations(rec, path)
    if not exp:
        return Verification(path, "unverified", [], [])
    problems, checked = _check(path, exp)
    return Verification(path, "mismatch" if problems else "ok", problems, checked)


def _aside(src, base, suffix=".bad"):
    """Move `src` to base+suffix (base+suffix.N when taken) -> the new path."""
    target, n = base + suffix, 1
    while os.path.lexists(target):
        target, n = f"{base}{suffix}.{n}", n + 1
    os.replace(src, target)
    return target


def _by_hand(rec, path):
    return f"or download {rec.urls[0]} by hand and put it at {path}"


def _open(url, start, timeout):
    headers = {"User-Agent": USER_AGENT}
    if start:
        headers["Range"] = f"bytes={start}-"
    return urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=timeout)


def _span(resp):
    """(first byte, total size or None) of a response: its Content-Range for a 206, else
    (0, Content-Length); first is None for a 206 whose Content-Range cannot be read."""
    if resp.status == 206:
        try:  # bytes a-b/total
            span, total = resp.headers.get("Content-Range", "").split(" ", 1)[1].split("/")
            return int(span.split("-")[0]), (None if total.strip() == "*" else int(total))
        except (IndexError, ValueError):
            return None, None
    length = resp.headers.get("Content-Length")
    return 0, (int(length) if length is not None and length.isdigit() else None)


def _write(f, data):
    """One chunk to the .part file (a function of its own so that tests can fail it)."""
    f.write(data)


def _transfer(url, part, size, timeout, progress, desc):
    """Append `url`'s bytes to `part` from its current length; -> total length. Raises the
    transport errors (cut, HTTP) for the caller to retry or report."""
    start = os.path.getsize(part) if os.path.exists(part) else 0
    if size is not None and start > size:  # longer than the file: not a prefix of it
        os.remove(part)
        start = 0
    if size is not None and start == size:
        return size
    try:
        resp = _open(url, start, timeout)
    except urllib.error.HTTPError as e:
        if e.code == 416 and start:  # nothing left past the .part: it may be complete
            cr = e.headers.get("Content-Range", "") if e.headers else ""
            if cr.endswith(f"/{start}"):
                return start
            os.remove(part)  # the .part is no prefix the server knows: start over
            return _transfer(url, part, size, timeout, progress, desc)
        raise
    with resp:
        first, total = _span(resp)
        if first not in (0, start):  # a range other than asked for: start over without one
            resp.close()
            os.remove(part)
            return _transfer(url, part, size, timeout, progress, desc)
        if total is not None and size is not None and total != size:
            raise _WrongLength(
                f"{url} serves {total} bytes; the published file has {size}: not the file"
            )
        offset = first
        if start and not first:
            print(
                f"{desc}: the server ignored the range request: restarting from byte 0",
                file=sys.stderr,
            )
        _check_space(part, (total or 0) - offset)
        from tqdm import tqdm

        bar = tqdm(
            total=total,
            initial=offset,
            unit="B",
            unit_scale=True,
            unit_divisor=1024,
            desc=desc,
            disable=not progress,
            file=sys.stderr,
            leave=False,
        )
        got = offset
        with bar, open(part, "ab" if offset else "wb") as f:
            for chunk in iter(lambda: resp.read(CHUNK), b""):
                _write(f, chunk)
                got += len(chunk)
                bar.update(len(chunk))
            f.flush()
            os.fsync(f.fileno())
        if total is not None and got < total:  # closed early without an exception
            raise http.client.IncompleteRead(b"", total - got)
        return got


def _check_space(part, need):
    folder = os.path.dirname(os.path.abspath(part))
    free = shutil.disk_usage(folder).free
    if need > free:
        raise OSError(errno.ENOSPC, f"{need} more bytes needed, {free} free", part)


def _retry_or_fail(e, cuts, retries, rec, url, part, path):
    """After a transport failure: -> the new count of cuts, or raise ConnectionFailed."""
    if cuts > retries:
        have = os.path.getsize(part) if os.path.exists(part) else 0
        kept = (
            f"; {have} bytes kept in {part}: run the same command again to resume" if have else ""
        )
        reason = getattr(e, "reason", None) or f"{type(e).__name__}: {e}"
        raise ConnectionFailed(
            f"{url}: connection failed or cut ({reason}){kept}; or try another mirror, "
            f"{_by_hand(rec, path)}"
        ) from None
    time.sleep(min(0.1 * 2.0**cuts, 2.0))
    return cuts


def _download_one(rec, url, part, path, timeout, retries, progress):
    """Bring `url` into `part` completely, resuming after cuts up to `retries` times."""
    cuts = 0
    while True:
        try:
            _transfer(url, part, rec.size, timeout, progress, rec.name)
            return
        except urllib.error.HTTPError as e:
            hint = "the file is no longer there" if e.code in (404, 410) else "the server refused"
            raise HTTPStatusError(
                f"{url}: HTTP {e.code} {e.reason} ({hint}); try another mirror, "
                f"{_by_hand(rec, path)}"
            ) from None
        except urllib.error.URLError as e:  # no connection at all: name, refused, timeout
            transient = isinstance(e.reason, (TimeoutError, ConnectionResetError))
            cuts = _retry_or_fail(e, cuts + 1 if transient else retries + 1, retries, rec, url,
                                  part, path)  # fmt: skip
        except http.client.HTTPException as e:  # IncompleteRead, RemoteDisconnected, ...
            cuts = _retry_or_fail(e, cuts + 1, retries, rec, url, part, path)
        except OSError as e:
            if e.errno in _DISK_FULL:
                have = os.path.getsize(part) if os.path.exists(part) else 0
                raise DiskFull(
                    f"{part}: disk full after {have} bytes"
                    + (f" of {rec.size}" if rec.size else "")
                    + f" ({e.strerror or e}): the partial download is kept; free some space "
                    "and run the same command again to resume"
                ) from None
            if isinstance(e, (ConnectionError, TimeoutError)):  # cut mid-transfer
                cuts = _retry_or_fail(e, cuts + 1, retries, rec, url, part, path)
                continue
            raise DownloadError(
                f"{e.filename or part}: cannot write ({e.strerror or e}): make "
                f"{os.path.dirname(part)} writable, {_by_hand(rec, path)}"
            ) from None


def _install(part, path):
    """Rename the verified .part onto `path` atomically (caffeio.atomic's rename and fsyncs)."""
    from caffeio.atomic import atomic_path

    with atomic_path(path) as tmp:
        os.replace(part, tmp)


def _write_record(rec, url, path):
    from caffeio.atomic import atomic_write

    digests = file_digests(path, ("sha256",))
    data = {
        "name": rec.name,
        "url": url,
        "size": os.path.getsize(path),
        "sha256": digests["sha256"],
        "downloaded": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "published": [f"{c.kind} {c.value} ({c.source})" for c in rec.checksums],
    }
    atomic_write(record_path(path), (json.dumps(data, indent=1) + "\n").encode())


def download(
    rec: Published,
    root: str,
    timeout: float = 60.0,
    retries: int = 3,
    progress: bool = True,
    log: Callable[[str], object] | None = None,
) -> str:
    """Download catalog record `rec` to `root`/rec.dest, trying its URLs in order; -> path.

    The file must not exist (see fetch). Raises DownloadError subclasses; the .part of a cut
    or disk-full download is kept for the next call."""
    log = log or (lambda msg: print(msg, file=sys.stderr))
    path = os.path.join(root, rec.dest)
    part = path + ".part"
    os.makedirs(os.path.dirname(path), exist_ok=True)
    failures = []  # (error class, message) per URL
    for i, url in enumerate(rec.urls):
        if i:
            log(f"{rec.name}: trying mirror {url}")
        try:
            _download_one(rec, url, part, path, timeout, retries, progress)
        except DiskFull:
            raise
        except _WrongLength as e:
            failures.append((DownloadError, str(e)))
            continue
        except DownloadError as e:
            failures.append((type(e), str(e)))
            continue
        problems, _ = _check(part, _expectations(rec, part))
        if problems:
            bad = _aside(part, path)
            msg = (
                f"{url}: the file received is not the published one ({'; '.join(problems)}); "
                f"kept as {bad}, not installed"
            )
            failures.append((ChecksumMismatch, msg))
            log(f"{rec.name}: {msg}")
            continue
        _install(part, path)
        _write_record(rec, url, path)
        return path
    facts = []
    if rec.size:
        facts.append(f"{rec.size} bytes")
    facts += [f"{c.kind} {c.value}" for c in rec.checksums]
    check = f" (it has {', '.join(facts)}; `python -m solvers.weights verify` checks it)"
    raise failures[-1][0](
        f"{rec.name}: not downloaded: "
        + " | ".join(m for _, m in failures)
        + ". Nothing was installed: try again later (a cut download resumes), "
        + _by_hand(rec, path)
        + (check if facts else "")
    )


def fetch(
    rec: Published,
    root: str,
    replace_bad: bool = False,
    timeout: float = 60.0,
    retries: int = 3,
    progress: bool = True,
    log: Callable[[str], object] | None = None,
) -> str:
    """Make sure catalog record `rec`'s file is at root/rec.dest and verified; -> its path.

    An existing file that verifies (or has nothing to verify against) is kept as it is; one
    that fails verification raises ExistingFileError unless replace_bad (then it is moved to
    <dest>.bad and downloaded again)."""
    log = log or (lambda msg: print(msg, file=sys.stderr))
    path = os.path.join(root, rec.dest)
    if os.path.lexists(path):
        if not os.path.isfile(path):
            raise ExistingFileError(f"{path}: exists and is not a file: move it away")
        v = verify(rec, root)
        if v.status == "ok":
            log(f"{rec.name}: {path} already there ({', '.join(v.checked)} match)")
            return path
        if v.status == "unverified":
            log(
                f"{rec.name}: {path} already there; nothing published or recorded to check it "
                "against (to check it, move it away and fetch again)"
            )
            return path
        if not replace_bad:
            raise ExistingFileError(
                f"{path}: exists but fails verification ({'; '.join(v.problems)}): left as it "
                "is; pass --replace-bad to move it to .bad and download it again"
            )
        bad = _aside(path, path)
        with contextlib.suppress(FileNotFoundError):
            os.replace(record_path(path), record_path(bad))
        log(f"{rec.name}: moved the failing file to {bad}")
    return download(rec, root, timeout=timeout, retries=retries, progress=progress, log=log)
