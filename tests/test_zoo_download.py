"""zoo.download against a local HTTP server on the loopback interface (no network needed).

The server serves generated files and can cut the connection mid-file, ignore Range requests,
answer 404 or serve other bytes than the published ones; every request is logged with its
Range header so that the tests can see resumes happen.
"""

import errno
import hashlib
import json
import os
import socket
import time
from dataclasses import replace

import numpy as np
import pytest
from http_server import Route, serve

from zoo import download as dl
from zoo.catalog import Checksum, Published

DATA = np.random.default_rng(0).integers(0, 256, 300_000, dtype=np.uint8).tobytes()
SHA256 = hashlib.sha256(DATA).hexdigest()
SHA1 = hashlib.sha1(DATA).hexdigest()


@pytest.fixture
def server():
    with serve() as srv:
        yield srv


def record(server, name="w", size=300_000, checksums=None, urls=("/w.caffemodel",)):
    if checksums is None:
        checksums = (Checksum("sha256", SHA256, "test"), Checksum("sha1", SHA1, "test"))
    return Published(
        name=name,
        urls=tuple(server.url + u for u in urls),  # installed at models/<name>/<name>.caffemodel
        what="test file",
        source="test server",
        size=size,
        size_source="test" if size else None,
        checksums=checksums,
    )


def quiet(msg):
    quiet.lines.append(msg)


quiet.lines = []


@pytest.fixture(autouse=True)
def _fresh_log():
    quiet.lines.clear()


def get(rec, root, **kw):
    kw.setdefault("progress", False)
    kw.setdefault("log", quiet)
    return dl.fetch(rec, str(root), **kw)


def test_download_verify_install_and_record(server, tmp_path):
    server.routes["/w.caffemodel"] = Route(DATA)
    rec = record(server)
    path = get(rec, tmp_path)
    assert path == str(tmp_path / rec.dest)
    assert open(path, "rb").read() == DATA
    saved = json.load(open(dl.record_path(path)))
    assert saved["sha256"] == SHA256 and saved["size"] == len(DATA)
    assert saved["url"] == rec.urls[0]
    assert sorted(os.listdir(tmp_path / "models" / "w")) == [
        "w.caffemodel",
        "w.caffemodel" + dl.RECORD_SUFFIX,
    ]
    v = dl.verify(rec, str(tmp_path))
    assert v.ok and "sha1" in v.checked and "size" in v.checked
    # a second fetch keeps the verified file and does not download again
    n = len(server.log)
    assert get(rec, tmp_path) == path and len(server.log) == n


def test_cut_connection_resumes_in_the_same_call(server, tmp_path):
    server.routes["/w.caffemodel"] = Route(DATA, cut_at=120_000, cuts=1)
    path = get(record(server), tmp_path)
    assert open(path, "rb").read() == DATA
    assert server.log == [("/w.caffemodel", None), ("/w.caffemodel", "bytes=120000-")]


def test_cut_connection_resumes_on_the_next_run(server, tmp_path):
    server.routes["/w.caffemodel"] = Route(DATA, cut_at=100_000, cuts=1)
    rec = record(server)
    with pytest.raises(dl.ConnectionFailed) as e:
        get(rec, tmp_path, retries=0)
    msg = str(e.value)
    part = str(tmp_path / rec.dest) + ".part"
    assert rec.urls[0] in msg and "100000 bytes kept" in msg and "run the same command again" in msg
    assert f"put it at {tmp_path / rec.dest}" in msg
    assert os.path.getsize(part) == 100_000 and not os.path.exists(tmp_path / rec.dest)
    path = get(rec, tmp_path, retries=0)
    assert open(path, "rb").read() == DATA and not os.path.exists(part)
    assert server.log[-1] == ("/w.caffemodel", "bytes=100000-")


def test_server_ignoring_range_restarts_from_zero(server, tmp_path, capsys):
    server.routes["/w.caffemodel"] = Route(DATA, mode="ignore_range")
    rec = record(server)
    part = tmp_path / (rec.dest + ".part")
    part.parent.mkdir(parents=True)
    part.write_bytes(b"x" * 5000)  # a prefix that is not the file's
    path = get(rec, tmp_path)
    assert open(path, "rb").read() == DATA
    assert server.log == [("/w.caffemodel", "bytes=5000-")]
    assert "ignored the range request" in capsys.readouterr().err


def test_complete_part_is_not_downloaded_again(server, tmp_path):
    server.routes["/w.caffemodel"] = Route(DATA)
    rec = record(server, size=None, checksums=(Checksum("sha256", SHA256, "test"),))
    part = tmp_path / (rec.dest + ".part")
    part.parent.mkdir(parents=True)
    part.write_bytes(DATA)  # a previous run got every byte, then stopped before installing
    path = get(rec, tmp_path)
    assert open(path, "rb").read() == DATA
    assert server.log == [("/w.caffemodel", f"bytes={len(DATA)}-")]  # answered 416: complete


def test_wrong_bytes_kept_as_bad_and_next_mirror_used(server, tmp_path):
    wrong = bytes(255 - b for b in DATA[:1000]) + DATA[1000:]
    server.routes["/bad"] = Route(wrong)
    rec = record(server, urls=("/bad",))
    with pytest.raises(dl.ChecksumMismatch) as e:
        get(rec, tmp_path)
    dest = tmp_path / rec.dest
    msg = str(e.value)
    assert "not the published one" in msg and SHA256 in msg and f"{dest}.bad" in msg
    assert "Nothing was installed" in msg
    assert not dest.exists() and (tmp_path / (rec.dest + ".bad")).read_bytes() == wrong
    # with a good mirror after the bad one: installed, the bad bytes still kept aside
    server.routes["/good"] = Route(DATA)
    rec2 = record(server, urls=("/bad", "/good"))
    path = get(rec2, tmp_path)
    assert open(path, "rb").read() == DATA
    assert (tmp_path / (rec.dest + ".bad")).read_bytes() == wrong
    assert (tmp_path / (rec.dest + ".bad.1")).read_bytes() == wrong


def test_wrong_length_is_not_the_file(server, tmp_path):
    server.routes["/page"] = Route(b"<html>moved</html>")
    server.routes["/w.caffemodel"] = Route(DATA)
    rec = record(server, urls=("/page", "/w.caffemodel"))
    path = get(rec, tmp_path)
    assert open(path, "rb").read() == DATA
    assert quiet.lines == [f"w: trying mirror {server.url}/w.caffemodel"]
    with pytest.raises(dl.DownloadError, match="serves 18 bytes; the published file has 300000"):
        get(record(server, name="v", urls=("/page",)), tmp_path)


def test_http_errors(server, tmp_path):
    server.routes["/gone"] = Route(b"", mode="404")
    server.routes["/broken"] = Route(b"", mode="500")
    rec = record(server, urls=("/gone",))
    with pytest.raises(dl.HTTPStatusError) as e:
        get(rec, tmp_path)
    msg = str(e.value)
    assert "HTTP 404" in msg and server.url + "/gone" in msg and "no longer there" in msg
    assert f"put it at {tmp_path / rec.dest}" in msg and "another mirror" in msg
    with pytest.raises(dl.HTTPStatusError, match="HTTP 500"):
        get(record(server, urls=("/broken",)), tmp_path)
    assert not (tmp_path / rec.dest).exists()


def test_connection_refused(tmp_path):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now
    rec = Published(
        name="w",
        urls=(f"http://127.0.0.1:{port}/w.caffemodel",),
        what="",
        source="",
    )
    with pytest.raises(dl.ConnectionFailed) as e:
        get(rec, tmp_path)
    msg = str(e.value)
    assert f"127.0.0.1:{port}/w.caffemodel" in msg and "connection failed" in msg
    assert "by hand and put it at" in msg


def test_disk_full_keeps_the_part_and_resumes(server, tmp_path, monkeypatch):
    server.routes["/w.caffemodel"] = Route(DATA)
    rec = record(server)
    written = []
    real = dl._write

    def full_after(f, data):
        if sum(written) + len(data) > 150_000:
            raise OSError(errno.ENOSPC, "No space left on device")
        written.append(len(data))
        real(f, data)

    monkeypatch.setattr(dl, "CHUNK", 50_000)
    monkeypatch.setattr(dl, "_write", full_after)
    with pytest.raises(dl.DiskFull) as e:
        get(rec, tmp_path)
    part = str(tmp_path / rec.dest) + ".part"
    msg = str(e.value)
    assert part in msg and "partial download is kept" in msg and "free some space" in msg
    assert os.path.getsize(part) == sum(written) == 150_000
    assert not (tmp_path / rec.dest).exists()
    monkeypatch.setattr(dl, "_write", real)  # space freed
    path = get(rec, tmp_path)
    assert open(path, "rb").read() == DATA and server.log[-1][1] == "bytes=150000-"


def test_not_enough_space_is_said_before_downloading(server, tmp_path, monkeypatch):
    server.routes["/w.caffemodel"] = Route(DATA)
    rec = record(server)
    real = dl.shutil.disk_usage
    monkeypatch.setattr(dl.shutil, "disk_usage", lambda p: real(p)._replace(free=1000))
    with pytest.raises(dl.DiskFull, match="300000 more bytes needed, 1000 free"):
        get(rec, tmp_path)
    assert not (tmp_path / rec.dest).exists()


def test_install_is_atomic(server, tmp_path, monkeypatch):
    seen = []
    rec = record(server)
    dest = tmp_path / rec.dest

    def halfway():  # the server waits until the client wrote some bytes, then looks
        part = str(dest) + ".part"
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not (
            os.path.exists(part) and os.path.getsize(part) > 0
        ):
            time.sleep(0.01)
        seen.append(sorted(os.listdir(dest.parent)))

    monkeypatch.setattr(dl, "CHUNK", 10_000)
    server.routes["/w.caffemodel"] = Route(DATA, hook=halfway)
    get(rec, tmp_path)
    # mid-transfer only the .part exists; afterwards only the file and its record
    assert seen == [["w.caffemodel.part"]]
    assert sorted(os.listdir(dest.parent)) == ["w.caffemodel", "w.caffemodel.download.json"]


def test_existing_files_are_never_overwritten(server, tmp_path):
    server.routes["/w.caffemodel"] = Route(DATA)
    rec = record(server)
    dest = tmp_path / rec.dest
    dest.parent.mkdir(parents=True)
    dest.write_bytes(b"my own file")
    with pytest.raises(dl.ExistingFileError) as e:
        get(rec, tmp_path)
    assert "fails verification" in str(e.value) and "--replace-bad" in str(e.value)
    assert dest.read_bytes() == b"my own file" and server.log == []
    path = get(rec, tmp_path, replace_bad=True)
    assert open(path, "rb").read() == DATA
    assert (tmp_path / (rec.dest + ".bad")).read_bytes() == b"my own file"


def test_recorded_at_first_download_then_checked(server, tmp_path):
    server.routes["/w.caffemodel"] = Route(DATA)
    rec = record(server, size=None, checksums=())  # nothing published
    assert dl.verify(rec, str(tmp_path)).status == "missing"
    path = get(rec, tmp_path)
    v = dl.verify(rec, str(tmp_path))
    assert v.ok and v.checked == ["recorded size", "recorded sha256"]
    with open(path, "r+b") as f:  # one byte changes on disk
        f.seek(1234)
        f.write(bytes([DATA[1234] ^ 1]))
    v = dl.verify(rec, str(tmp_path))
    assert v.status == "mismatch" and "recorded sha256" in v.problems[0]
    with pytest.raises(dl.ExistingFileError, match="recorded sha256"):
        get(rec, tmp_path)
    # a file placed by hand with nothing to check it against is kept and called unverified
    os.remove(dl.record_path(path))
    assert dl.verify(rec, str(tmp_path)).status == "unverified"
    assert get(rec, tmp_path) == path
    assert any("nothing published or recorded" in m for m in quiet.lines)


def test_published_size_alone_is_checked(server, tmp_path):
    server.routes["/w.caffemodel"] = Route(DATA)
    rec = record(server, checksums=())
    get(rec, tmp_path)
    bad = replace(rec, size=len(DATA) + 1)
    v = dl.verify(bad, str(tmp_path))
    assert v.status == "mismatch" and "size 300000, expected 300001" in v.problems[0]
