"""A real S3 API on localhost for the remote-path tests: moto's server mode, one per test session.

A test module registers it with `pytest_plugins = ["tests.s3_server"]` and asks for `s3_server` (the
endpoint URL) or `s3_bucket` (a fresh bucket for the test, with helpers to put, delete and record). The
server fixture sets dummy credentials and AWS_ENDPOINT_URL_S3, which botocore (and so s3fs) reads itself,
and points AWS's config files at nothing, so a developer's ~/.aws never takes part.

`recording(endpoint)` collects the requests the server received, through moto's recorder API
(/moto-api/recorder/...): a test counts what reached the server, not what the client believes it sent.
"""

from __future__ import annotations

import hashlib
import json
import logging
import urllib.request
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

BUCKET_REGION = "us-east-1"


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The endpoint URL ("http://127.0.0.1:PORT") of a moto S3 server running for the session."""
    recording_file = tmp_path_factory.mktemp("moto") / "recording.jsonl"
    with pytest.MonkeyPatch.context() as env:
        # Read when moto's recorder is created (on import), so set before importing moto.
        env.setenv("MOTO_RECORDER_FILEPATH", str(recording_file))
        for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_ENDPOINT_URL", "AWS_SESSION_TOKEN"):
            env.delenv(name, raising=False)
        env.setenv("AWS_ACCESS_KEY_ID", "testing")
        env.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        env.setenv("AWS_DEFAULT_REGION", BUCKET_REGION)
        env.setenv("AWS_CONFIG_FILE", str(recording_file.parent / "no-config"))
        env.setenv("AWS_SHARED_CREDENTIALS_FILE", str(recording_file.parent / "no-credentials"))
        from moto.server import ThreadedMotoServer

        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        server.start()
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        env.setenv("AWS_ENDPOINT_URL_S3", endpoint)
        try:
            yield endpoint
        finally:
            server.stop()


def client(endpoint: str) -> Any:
    """A boto3 S3 client for the server: how tests arrange objects, independently of the code under test."""
    import boto3

    return boto3.client("s3", endpoint_url=endpoint, region_name=BUCKET_REGION)


def make_bucket(endpoint: str, bucket: str, objects: dict[str, bytes] | None = None) -> None:
    """Create `bucket` and put `objects` ({key: bytes}) in it."""
    client(endpoint).create_bucket(Bucket=bucket)
    for key, data in (objects or {}).items():
        put(endpoint, bucket, key, data)


def put(endpoint: str, bucket: str, key: str, data: bytes) -> None:
    """Put (or replace whole, as a flushing training job does) one object."""
    client(endpoint).put_object(Bucket=bucket, Key=key, Body=data)


def delete(endpoint: str, bucket: str, key: str) -> None:
    client(endpoint).delete_object(Bucket=bucket, Key=key)


def upload_file(endpoint: str, bucket: str, key: str, path: Path) -> None:
    put(endpoint, bucket, key, path.read_bytes())


def _recorder(endpoint: str, action: str) -> str:
    method = "GET" if action == "download-recording" else "POST"
    request = urllib.request.Request(f"{endpoint}/moto-api/recorder/{action}", method=method)
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.read().decode()


@contextmanager
def recording(endpoint: str) -> Iterator[list[dict[str, Any]]]:
    """The requests the server receives inside the block, filled in when it ends: each a dict with
    "method", "url" and "headers" (as moto's recorder stores them)."""
    _recorder(endpoint, "reset-recording")
    _recorder(endpoint, "start-recording")
    received: list[dict[str, Any]] = []
    try:
        yield received
    finally:
        _recorder(endpoint, "stop-recording")
        lines = _recorder(endpoint, "download-recording").splitlines()
        received.extend(json.loads(line) for line in lines if line.strip())


@dataclass(frozen=True)
class Bucket:
    """One test's bucket on the server, with what tests do to it."""

    endpoint: str
    name: str

    def url(self, key: str = "") -> str:
        """s3://<bucket>/<key> (s3://<bucket> for the bucket itself)."""
        return f"s3://{self.name}/{key}".rstrip("/")

    def put(self, key: str, data: bytes) -> None:
        put(self.endpoint, self.name, key, data)

    def put_all(self, objects: dict[str, bytes]) -> None:
        for key, data in objects.items():
            self.put(key, data)

    def delete(self, key: str) -> None:
        delete(self.endpoint, self.name, key)

    def recording(self) -> AbstractContextManager[list[dict[str, Any]]]:
        return recording(self.endpoint)


@pytest.fixture
def s3_bucket(s3_server: str, request: pytest.FixtureRequest) -> Bucket:
    """A fresh, empty bucket named after the test (the server is shared by the session)."""
    name = "t-" + hashlib.sha256(request.node.nodeid.encode()).hexdigest()[:20]
    make_bucket(s3_server, name)
    return Bucket(s3_server, name)
