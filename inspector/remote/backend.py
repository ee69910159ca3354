"""One remote location opened through fsspec: the four operations a mirror needs, each counted as one
request and each failure turned into InspectorError.

Credentials are the backend's business and come from the environment as it documents (s3fs:
AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN, AWS_PROFILE, and the endpoint from
AWS_ENDPOINT_URL_S3 or AWS_ENDPOINT_URL, which botocore reads itself; gcsfs: GOOGLE_APPLICATION_CREDENTIALS).
The one exception: `s3://KEY:SECRET@bucket/...` is accepted and its userinfo passed to s3fs as key and
secret, since s3fs would otherwise take "KEY:SECRET@bucket" for the bucket's name and quote it in errors.
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import fsspec
from fsspec.core import url_to_fs

from inspector.errors import InspectorError
from inspector.remote.failures import remote_error
from inspector.remote.store import temp_beside
from inspector.remote.urls import check_protocol, display_url, split_url

# What tells two versions of one object apart, in the order trusted: S3's and HTTP's ETag, GCS's
# generation and MD5, then modification times (the local and in-memory file systems have only those).
_VERSION_KEYS = ("ETag", "etag", "generation", "md5Hash", "LastModified", "Last-Modified", "mtime", "updated")


def size_of(info: dict[str, Any], shown_url: str) -> int:
    """The object's size from an fsspec `info` or listing entry; InspectorError when the server does not
    say (an HTTP server without Content-Length), since then no byte limit could be kept."""
    size = info.get("size")
    if size is None:
        raise InspectorError("the server does not give the file's size (no Content-Length)", path=shown_url)
    return int(size)


def version_of(info: dict[str, Any]) -> str:
    """The object's version tag from an fsspec `info` or listing entry ("" when the backend gives none)."""
    return next((str(info[k]) for k in _VERSION_KEYS if info.get(k) is not None), "")


class Remote:
    """`url` opened through fsspec; `requests` counts the operations made (listing, info, ranged GET,
    download), each one request to the server (a listing of over 1,000 S3 keys pages, which counts once)."""

    fs: fsspec.AbstractFileSystem
    path: str

    def __init__(self, url: str):
        check_protocol(url)
        self.url = url
        self.shown = display_url(url)
        self.requests = 0
        parts = split_url(url)
        options: dict[str, str] = {}
        if parts.userinfo and parts.protocol in ("s3", "s3a"):
            key, _, secret = parts.userinfo.partition(":")
            options = {"key": unquote(key), "secret": unquote(secret)}
            url = replace(parts, userinfo="").url()
        try:
            self.fs, self.path = url_to_fs(url, **options)
        except Exception as exc:
            raise remote_error(exc, self.url, "open") from None

    def _call(self, doing: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
        self.requests += 1
        try:
            return fn(*args, **kwargs)
        except InspectorError:
            raise
        except Exception as exc:  # any backend's failure: see failures.py
            raise remote_error(exc, self.url, doing) from None

    def invalidate(self) -> None:
        """Forget fsspec's cached listings, so the next info or listing asks the server."""
        self.fs.invalidate_cache()

    def info(self) -> dict[str, Any]:
        """The object (or prefix) at the URL: fsspec's info, with "type" file or directory."""
        return dict(self._call("look up", self.fs.info, self.path))

    def find(self) -> dict[str, dict[str, Any]]:
        """Every object below the URL's prefix: {full fsspec path: info}, from one listing."""
        return dict(self._call("list", self.fs.find, self.path, detail=True))

    def read(self, path: str, start: int, end: int) -> bytes:
        """Bytes [start, end) of `path` in one ranged GET."""
        return bytes(self._call("read", self.fs.cat_file, path, start=start, end=end))

    def download(self, path: str, target: Path) -> int:
        """The whole of `path` streamed into the local file `target`, which appears whole or not at all
        (temp file + rename: a reader never sees a partial download). Returns the bytes written."""
        temp = temp_beside(target)
        try:
            self._call("download", self.fs.get_file, path, str(temp))
            size = temp.stat().st_size
            os.replace(temp, target)
        finally:
            temp.unlink(missing_ok=True)
        return size
