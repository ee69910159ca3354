"""inspector.remote against real servers: moto's S3 API and a Range-capable HTTP server on localhost."""

from __future__ import annotations

import hashlib
import re
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pytest

from inspector.errors import InspectorError
from inspector.paths import allowed_roots, configured_roots, remote_roots, split_roots
from inspector.remote import OVERLAP, Mirror, confined_url, display_url, fetch_file, is_remote
from inspector.remote.urls import check_protocol
from inspector.runlog import RunLog, RunWriter, read_logs

if TYPE_CHECKING:
    from tests.s3_server import Bucket

# The S3 server's fixtures: s3_server (its endpoint URL), s3_bucket (a fresh bucket for one test).
pytest_plugins = ["tests.s3_server"]

ROOTS = ["s3://bkt/runs"]


# ---- URLs: what is remote, what may be shown, what is allowed --------------------------------------------


def test_is_remote() -> None:
    assert is_remote("s3://bkt/runs/log.jsonl") and is_remote("https://host/x") and is_remote("gs://b")
    assert not is_remote("runs/log.jsonl") and not is_remote("/data/log.csv")
    assert not is_remote("file:///data/log.csv") and not is_remote("C:\\runs\\log.csv")
    assert not is_remote("c://runs")  # a drive letter, not a scheme


def test_display_url_drops_userinfo_query_and_fragment() -> None:
    assert display_url("s3://AKIAKEY:s3cr3t%2Fx@bkt/runs/log") == "s3://bkt/runs/log"
    assert display_url("https://user:pw@Host:8080/a/b?X-Amz-Signature=tok#frag") == "https://host:8080/a/b"
    assert display_url("https://host?token=abc") == "https://host"
    assert display_url("runs/log.csv") == "runs/log.csv"
    assert display_url("https://u:p@[::1/x?sig=1") == "https://[::1/x"  # a malformed URL does not raise


def test_confined_url_normalizes_inside_a_root() -> None:
    assert confined_url("s3://bkt/runs//exp1/./a/../log.jsonl/", ROOTS) == "s3://bkt/runs/exp1/log.jsonl"
    assert confined_url("s3://bkt/runs", ROOTS) == "s3://bkt/runs"
    # A signed URL keeps its token for the access; only messages drop it.
    roots = ["https://host/logs"]
    assert confined_url("https://host/logs/x?sig=1", roots) == "https://host/logs/x?sig=1"


@pytest.mark.parametrize(
    "url",
    [
        "s3://bkt/runs2/log",  # a prefix, not a folder boundary
        "s3://bkt/runsx",
        "s3://bkt/runs/../secret",  # .. out of the root
        "s3://bkt/runs/a/../../secret",
        "s3://bkt/other/log",
        "s3://other/runs/log",  # another bucket
        "gs://bkt/runs/log",  # another protocol
        "s3a://bkt/runs/log",
    ],
)
def test_confined_url_refuses_outside_the_roots(url: str) -> None:
    with pytest.raises(InspectorError, match="outside the allowed remote roots \\(s3://bkt/runs\\)"):
        confined_url(url, ROOTS)


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("s3://bkt/../bkt/runs/x", "climbs above the bucket"),
        ("s3://bkt/runs/%2e%2e/secret", "encoded '.' or '..'"),
        ("simplecache::s3://bkt/runs/x", "chained URLs"),
        ("s3://bkt/runs/a::zip://x", "chained URLs"),
        ("s3:///runs/x", "no bucket or host"),
        ("s3://bkt/runs/\x00x", "NUL"),
    ],
)
def test_confined_url_refuses_what_cannot_be_checked(url: str, why: str) -> None:
    with pytest.raises(InspectorError, match=re.escape(why)):
        confined_url(url, ROOTS)


def test_http_roots_compare_hosts_without_case_and_keep_schemes_apart() -> None:
    roots = ["https://Logs.example.com:8443/team"]
    assert (
        confined_url("https://logs.EXAMPLE.com:8443/team/a", roots) == "https://logs.example.com:8443/team/a"
    )
    for url in ("http://logs.example.com:8443/team/a", "https://logs.example.com/team/a"):
        with pytest.raises(InspectorError, match="outside"):
            confined_url(url, roots)


def test_no_remote_root_refuses_every_url_and_hides_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INSPECTOR_ROOTS", "runs")
    with pytest.raises(InspectorError, match="add a remote root .* to INSPECTOR_ROOTS") as err:
        confined_url("s3://KEY:SECRETVALUE@bkt/runs/x?sig=TOKENVALUE")
    assert "SECRETVALUE" not in str(err.value) and "TOKENVALUE" not in str(err.value)
    assert err.value.path == "s3://bkt/runs/x"


def test_inspector_roots_keep_urls_whole(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    value = f"{tmp_path}:s3://bkt/runs:https://host:8080/logs:gs://b/p:file://{tmp_path / 'f'}"
    assert split_roots(value) == [
        str(tmp_path),
        "s3://bkt/runs",
        "https://host:8080/logs",
        "gs://b/p",
        f"file://{tmp_path / 'f'}",
    ]
    monkeypatch.setenv("INSPECTOR_ROOTS", value)
    assert remote_roots() == ["s3://bkt/runs", "https://host:8080/logs", "gs://b/p"]
    assert configured_roots() == [str(tmp_path), str(tmp_path / "f")]
    assert allowed_roots() == [tmp_path.resolve(), (tmp_path / "f").resolve()]
    assert confined_url("https://host:8080/logs/a") == "https://host:8080/logs/a"
    # Only remote roots: no local path is allowed (the variable is the whole allow-list).
    monkeypatch.setenv("INSPECTOR_ROOTS", "s3://bkt/runs")
    assert configured_roots() == [] and allowed_roots() == []


def test_missing_backend_names_its_package() -> None:
    from fsspec.registry import known_implementations

    check_protocol("s3://bkt/x")  # installed
    for protocol in ("dropbox", "oci", "box", "wandb"):
        spec = known_implementations.get(protocol)
        if spec is None:
            continue
        try:
            __import__(spec["class"].rpartition(".")[0])
        except ImportError:
            with pytest.raises(InspectorError, match=f"{protocol}:// is not available here: .*nstall"):
                check_protocol(f"{protocol}://user:pw@x/y")
            break
    with pytest.raises(InspectorError, match="unknown protocol nosuch://"):
        check_protocol("nosuch://x/y")


# ---- S3: mirrors and copies against a real S3 API (moto) --------------------------------------------------


def _summary(received: list[dict]) -> list[tuple[str, str | None]]:
    """(method, Range header) for each request the server received."""
    return [(r["method"], r["headers"].get("Range")) for r in received]


def _log_lines(start: int, count: int) -> bytes:
    rows = (f'{{"step": {i}, "loss": {1 / (i + 1):.6f}, "pad": "{"x" * 40}"}}\n' for i in range(start, count))
    return "".join(rows).encode()


def test_mirror_of_a_file_fetches_only_the_appended_bytes(s3_bucket: Bucket, tmp_path: Path) -> None:
    first = _log_lines(0, 50)
    s3_bucket.put_all({"runs/exp1/log.jsonl": first})
    mirror = Mirror(s3_bucket.url("runs/exp1/log.jsonl"), cache_root=tmp_path)
    stats = mirror.sync()
    assert mirror.local.read_bytes() == first and mirror.local.name == "log.jsonl"
    assert (stats.files, stats.files_changed, stats.bytes_fetched, stats.requests) == (1, 1, len(first), 2)

    with s3_bucket.recording() as received:
        unchanged = mirror.sync()
    assert (unchanged.files_changed, unchanged.bytes_fetched, unchanged.requests) == (0, 0, 1)
    assert _summary(received) == [("HEAD", None)]

    grown = first + _log_lines(50, 60)
    s3_bucket.put("runs/exp1/log.jsonl", grown)  # the whole object replaced, as a flush does
    with s3_bucket.recording() as received:
        stats = mirror.sync()
    assert mirror.local.read_bytes() == grown
    assert stats.bytes_fetched == len(grown) - len(first) + OVERLAP
    assert (stats.requests, stats.files_changed, stats.rewritten) == (2, 1, 0)
    # At the server: one HEAD and one GET of exactly the overlap and the appended bytes.
    assert _summary(received) == [("HEAD", None), ("GET", f"bytes={len(first) - OVERLAP}-{len(grown) - 1}")]


def test_mirror_detects_a_rewritten_object(s3_bucket: Bucket, tmp_path: Path) -> None:
    s3_bucket.put_all({"runs/log.csv": b"step,loss\n" + b"1,0.5\n" * 40})
    mirror = Mirror(s3_bucket.url("runs/log.csv"), cache_root=tmp_path)
    mirror.sync()
    # Bigger, but not an extension of what the mirror holds: fetched whole again.
    replaced = b"step,loss,lr\n" + b"1,0.25,0.1\n" * 40
    s3_bucket.put("runs/log.csv", replaced)
    stats = mirror.sync()
    assert mirror.local.read_bytes() == replaced and stats.rewritten == 1
    assert stats.bytes_fetched == len(replaced) + (
        len(replaced) - len(b"step,loss\n" + b"1,0.5\n" * 40) + OVERLAP
    )
    # Smaller (a restarted run): fetched whole.
    s3_bucket.put("runs/log.csv", b"step,loss\n1,0.9\n")
    stats = mirror.sync()
    assert mirror.local.read_bytes() == b"step,loss\n1,0.9\n" and stats.rewritten == 1
    # The same size with other bytes (a new ETag): fetched whole.
    s3_bucket.put("runs/log.csv", b"step,loss\n1,0.8\n")
    stats = mirror.sync()
    assert mirror.local.read_bytes() == b"step,loss\n1,0.8\n" and stats.rewritten == 1


def test_mirror_of_a_directory(s3_bucket: Bucket, tmp_path: Path) -> None:
    objects = {
        "sweep/run1/events.out.tfevents.1.host": b"A" * 500,
        "sweep/run1/events.out.tfevents.2.host": b"B" * 300,
        "sweep/run1/eval/events.out.tfevents.3.host": b"C" * 200,
        "sweep/run10/other": b"not in the mirror",
    }
    s3_bucket.put_all(objects)
    mirror = Mirror(s3_bucket.url("sweep/run1"), cache_root=tmp_path)
    stats = mirror.sync()
    local = {
        p.relative_to(mirror.local).as_posix(): p.read_bytes() for p in mirror.local.rglob("*") if p.is_file()
    }
    assert local == {k.removeprefix("sweep/run1/"): v for k, v in objects.items() if "run1/" in k}
    assert (stats.files, stats.requests) == (3, 2 + 3)  # info, listing, three downloads

    with s3_bucket.recording() as received:
        stats = mirror.sync()
    assert (stats.requests, stats.bytes_fetched, stats.files_changed) == (1, 0, 0)
    assert len(received) == 1 and "list-type=2" in received[0]["url"]  # one listing, no GET per file

    s3_bucket.put("sweep/run1/events.out.tfevents.1.host", b"A" * 500 + b"a" * 100)
    s3_bucket.delete("sweep/run1/events.out.tfevents.2.host")
    s3_bucket.put("sweep/run1/eval/new.txt", b"new")
    with s3_bucket.recording() as received:
        stats = mirror.sync()
    assert (stats.files, stats.files_changed, stats.removed, stats.requests) == (3, 2, 1, 3)
    assert stats.bytes_fetched == 100 + OVERLAP + 3
    assert len(received) == 3
    assert (mirror.local / "events.out.tfevents.1.host").read_bytes() == b"A" * 500 + b"a" * 100
    assert not (mirror.local / "events.out.tfevents.2.host").exists()
    assert (mirror.local / "eval" / "new.txt").read_bytes() == b"new"


def test_mirror_never_writes_outside_its_folder(s3_bucket: Bucket, tmp_path: Path) -> None:
    # S3 keys may hold "..", "." and empty segments; none may become a path out of the cache.
    s3_bucket.put_all({"d/../../../escape.txt": b"x", "d/./dot": b"y", "d/ok": b"z"})
    stats = Mirror(s3_bucket.url("d"), cache_root=tmp_path / "cache").sync()
    assert stats.files == 1 and len(stats.skipped) == 2
    assert [p.name for p in tmp_path.rglob("*") if p.is_file() and p.name not in ("state.json", ".lock")] == [
        "ok"
    ]


def test_mirror_limit(s3_bucket: Bucket, tmp_path: Path) -> None:
    s3_bucket.put_all({"runs/a": b"x" * 600, "runs/b": b"y" * 600})
    with pytest.raises(
        InspectorError, match=f"s3://{s3_bucket.name}/runs: .*over the limit.*INSPECTOR_REMOTE_MAX_MB"
    ):
        Mirror(s3_bucket.url("runs"), cache_root=tmp_path, max_bytes=1000).sync()


def test_missing_bucket_and_object_are_one_line_messages(s3_bucket: Bucket, tmp_path: Path) -> None:
    s3_bucket.put_all({"runs/a": b"x"})
    with pytest.raises(InspectorError) as err:
        Mirror("s3://no-such-bucket-here/runs/log", cache_root=tmp_path).sync()
    assert str(err.value).startswith("s3://no-such-bucket-here/runs/log: cannot look up: not found")
    assert "bucket does not exist" in str(err.value) and "\n" not in str(err.value)
    with pytest.raises(InspectorError, match=f"s3://{s3_bucket.name}/runs/nope: cannot look up: not found"):
        fetch_file(s3_bucket.url("runs/nope"), cache_root=tmp_path)


def test_credentials_in_the_url_are_used_and_never_shown(s3_bucket: Bucket, tmp_path: Path) -> None:
    s3_bucket.put_all({"runs/a": b"payload"})
    secret = "SECRETxKEYxVALUE"
    mirror = Mirror(f"s3://testing:{secret}@{s3_bucket.name}/runs/a", cache_root=tmp_path)
    mirror.sync()
    assert mirror.local.read_bytes() == b"payload"
    with pytest.raises(InspectorError) as err:
        Mirror(f"s3://testing:{secret}@no-such-bucket-here/x", cache_root=tmp_path).sync()
    assert secret not in str(err.value)
    assert all(secret not in str(p) for p in tmp_path.rglob("*"))
    assert all(secret not in p.read_text() for p in tmp_path.rglob("state.json"))


def test_fetch_file_reuses_an_unchanged_copy(s3_bucket: Bucket, tmp_path: Path) -> None:
    s3_bucket.put_all({"ckpt/model.pt": b"weights-1" * 100})
    url = f"s3://{s3_bucket.name}/ckpt/model.pt"
    path = fetch_file(url, cache_root=tmp_path)
    assert path.read_bytes() == b"weights-1" * 100 and path.name == "model.pt"
    with s3_bucket.recording() as received:
        assert fetch_file(url, cache_root=tmp_path) == path
    assert _summary(received) == [("HEAD", None)]
    s3_bucket.put("ckpt/model.pt", b"weights-2" * 100)  # same size, new ETag
    with s3_bucket.recording() as received:
        assert fetch_file(url, cache_root=tmp_path).read_bytes() == b"weights-2" * 100
    assert _summary(received) == [("HEAD", None), ("GET", None)]
    with pytest.raises(InspectorError, match="over the limit"):
        fetch_file(url, cache_root=tmp_path, max_bytes=100)
    with pytest.raises(InspectorError, match="a directory \\(prefix\\), not a file"):
        fetch_file(s3_bucket.url("ckpt"), cache_root=tmp_path)


def _series(log: RunLog) -> dict[str, tuple[list, list]]:
    return {n: (s.steps.tolist(), np.nan_to_num(s.values, nan=-1.0).tolist()) for n, s in log.series.items()}


def test_a_native_log_read_through_the_mirror(s3_bucket: Bucket, tmp_path: Path) -> None:
    original = tmp_path / "train" / "log.jsonl"
    with RunWriter(original, config={"loss_weights": {"bbox": 7.5, "cls": 0.5}}) as log:
        for step in range(30):
            log.step(step, losses={"bbox": 1 / (step + 1), "cls": 0.5 - step / 100}, lr=1e-3)
    s3_bucket.put_all({"runs/exp/log.jsonl": original.read_bytes()})
    mirror = Mirror(s3_bucket.url("runs/exp/log.jsonl"), cache_root=tmp_path / "cache")
    mirror.sync()
    assert _series(read_logs([mirror.local])) == _series(read_logs([original]))

    before = original.stat().st_size
    with RunWriter(original) as log:  # the run goes on; the job re-uploads its whole log
        for step in range(30, 45):
            log.step(step, losses={"bbox": 1 / (step + 1), "cls": 0.2}, lr=5e-4)
    s3_bucket.put("runs/exp/log.jsonl", original.read_bytes())
    stats = mirror.sync()
    assert stats.bytes_fetched == original.stat().st_size - before + OVERLAP and stats.rewritten == 0
    grown = read_logs([mirror.local])
    assert _series(grown) == _series(read_logs([original])) and grown.last_step == 44


# ---- HTTP(S): a single file from a server that honours Range -----------------------------------------------


class _RangeHandler(BaseHTTPRequestHandler):
    """Serves `server.files` ({path: bytes}) with HEAD, GET, single byte ranges and an ETag; records
    (method, Range, bytes sent) of each request in `server.seen`."""

    def do_HEAD(self) -> None:
        self._answer(send_body=False)

    def do_GET(self) -> None:
        self._answer(send_body=True)

    def _answer(self, send_body: bool) -> None:
        data = self.server.files.get(self.path.partition("?")[0])  # type: ignore[attr-defined]
        if data is None:
            self.send_error(404)
            return
        start, end, status = 0, len(data), 200
        wanted = re.fullmatch(r"bytes=(\d+)-(\d*)", self.headers.get("Range", ""))
        if wanted and not self.server.ignore_range:  # type: ignore[attr-defined]
            start, status = int(wanted[1]), 206
            end = min(len(data), int(wanted[2]) + 1) if wanted[2] else len(data)
        body = data[start:end]
        sent = body if send_body else b""
        # Recorded before answering: the client may check `seen` as soon as it has the answer.
        self.server.seen.append((self.command, self.headers.get("Range"), len(sent)))  # type: ignore[attr-defined]
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("ETag", '"' + hashlib.md5(data).hexdigest() + '"')
        self.send_header("Accept-Ranges", "bytes")
        if status == 206:
            self.send_header("Content-Range", f"bytes {start}-{end - 1}/{len(data)}")
        self.end_headers()
        self.wfile.write(sent)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def http_server() -> Iterator[ThreadingHTTPServer]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _RangeHandler)
    server.files, server.seen, server.ignore_range = {}, [], False  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def test_http_mirror_and_fetch(http_server: ThreadingHTTPServer, tmp_path: Path) -> None:
    files, seen = http_server.files, http_server.seen  # type: ignore[attr-defined]
    files["/runs/log.jsonl"] = first = _log_lines(0, 40)
    base = f"http://127.0.0.1:{http_server.server_port}"
    mirror = Mirror(f"{base}/runs/log.jsonl?X-Amz-Signature=TOKENVALUE", cache_root=tmp_path)
    mirror.sync()
    assert mirror.local.read_bytes() == first
    files["/runs/log.jsonl"] = grown = first + _log_lines(40, 45)
    seen.clear()
    stats = mirror.sync()
    assert mirror.local.read_bytes() == grown and stats.requests == 2
    appended = len(grown) - len(first)
    assert seen == [
        ("HEAD", None, 0),
        ("GET", f"bytes={len(first) - OVERLAP}-{len(grown) - 1}", appended + OVERLAP),
    ]
    assert stats.bytes_fetched == appended + OVERLAP

    # A server that ignores Range answers with the whole object, which is kept (not fetched twice).
    files["/runs/log.jsonl"] = grown + b"tail\n"
    http_server.ignore_range = True  # type: ignore[attr-defined]
    stats = mirror.sync()
    assert mirror.local.read_bytes() == grown + b"tail\n" and (stats.requests, stats.rewritten) == (2, 1)
    http_server.ignore_range = False  # type: ignore[attr-defined]

    files["/ckpt.pt"] = b"w" * 1000
    path = fetch_file(f"{base}/ckpt.pt", cache_root=tmp_path)
    seen.clear()
    assert fetch_file(f"{base}/ckpt.pt", cache_root=tmp_path) == path and [s[0] for s in seen] == ["HEAD"]

    with pytest.raises(InspectorError, match="cannot look up: not found") as err:
        Mirror(f"{base}/missing?X-Amz-Signature=TOKENVALUE", cache_root=tmp_path).sync()
    assert "TOKENVALUE" not in str(err.value) and err.value.path == f"{base}/missing"
    assert all("TOKENVALUE" not in str(p) for p in tmp_path.rglob("*"))


def test_connection_refused_is_a_message(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again below: nothing listens there
    message = f"http://127.0.0.1:{port}/log.csv: cannot look up: cannot connect"
    with pytest.raises(InspectorError, match=message) as err:
        fetch_file(f"http://user:PASSWORDVALUE@127.0.0.1:{port}/log.csv?sig=TOKENVALUE", cache_root=tmp_path)
    assert "PASSWORDVALUE" not in str(err.value) and "TOKENVALUE" not in str(err.value)


def test_concurrent_syncs_append_once(s3_bucket: Bucket, tmp_path: Path) -> None:
    # Two sessions following one run share its mirror; the lock keeps them from appending twice.
    first = _log_lines(0, 30)
    s3_bucket.put_all({"runs/log.jsonl": first})
    url = f"s3://{s3_bucket.name}/runs/log.jsonl"
    Mirror(url, cache_root=tmp_path).sync()
    s3_bucket.put("runs/log.jsonl", grown := first + _log_lines(30, 60))
    mirrors = [Mirror(url, cache_root=tmp_path) for _ in range(4)]
    threads = [threading.Thread(target=m.sync) for m in mirrors]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert mirrors[0].local.read_bytes() == grown
