"""What a remote URL is: its parts, the form that may be shown, and whether the operator allows it.

A URL is taken apart by hand (`scheme://userinfo@host/path?query#fragment`, RFC 3986) rather than with
`urllib.parse.urlsplit`, which raises on a malformed port or IPv6 host: the redacting function must never
fail, or the message about a bad URL would be the one place its secret leaks. The same parser serves
confinement, so what is checked is what is accessed.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass, replace
from urllib.parse import unquote

import fsspec
from fsspec.core import split_protocol
from fsspec.registry import known_implementations

from inspector.errors import InspectorError
from inspector.paths import remote_roots

# Protocols that fsspec maps to the local file system: their "URLs" are local paths, which
# inspector.paths confines.
LOCAL_PROTOCOLS = frozenset({"file", "local"})
# Hosts that are DNS names, compared case-insensitively; a bucket or an in-memory root is compared as is.
_DNS_HOSTS = frozenset({"http", "https", "ftp", "sftp", "ssh", "webdav", "dav"})


@dataclass(frozen=True)
class UrlParts:
    """A URL taken apart. `path` is "" or starts with "/"; `userinfo` is never shown."""

    protocol: str
    userinfo: str
    host: str
    path: str
    query: str
    fragment: str

    def url(self, *, secrets: bool = True) -> str:
        """The URL again; with secrets=False without userinfo, query and fragment (display_url)."""
        auth = f"{self.userinfo}@" if secrets and self.userinfo else ""
        tail = ""
        if secrets and self.query:
            tail += "?" + self.query
        if secrets and self.fragment:
            tail += "#" + self.fragment
        return f"{self.protocol}://{auth}{self.host}{self.path}{tail}"


def is_remote(text: str) -> bool:
    """Whether `text` names something outside the local file system: `scheme://` with a scheme other than
    file (or fsspec's alias local). A Windows drive letter (`C:\\runs`, `c://x`) is not a scheme."""
    return _protocol(text) not in LOCAL_PROTOCOLS


def _protocol(text: str) -> str:
    """fsspec's reading of the protocol, lower-cased; "file" for a plain path or a drive letter."""
    return (split_protocol(str(text).strip())[0] or "file").lower()


def split_url(text: str) -> UrlParts:
    """The parts of `scheme://userinfo@host/path?query#fragment`; the protocol lower-cased."""
    scheme, _, rest = text.strip().partition("://")
    end = min((i for i in (rest.find(c) for c in "/?#") if i >= 0), default=len(rest))
    authority, tail = rest[:end], rest[end:]
    userinfo, _, host = authority.rpartition("@")
    tail, _, fragment = tail.partition("#")
    path, _, query = tail.partition("?")
    protocol = scheme.lower()
    if protocol in _DNS_HOSTS:
        host = host.lower()
    return UrlParts(protocol, userinfo, host, path, query, fragment)


def display_url(url: str) -> str:
    """`url` as labels, messages, findings and logs may show it: no userinfo (`KEY:SECRET@`, `user:pw@`),
    no query or fragment (a signed URL's token). A local path comes back as given."""
    text = str(url).strip()
    if "://" not in text:
        return text
    return split_url(text).url(secrets=False)


def check_protocol(url: str) -> None:
    """InspectorError unless the implementation of `url`'s protocol is importable, saying which package
    provides it (fsspec's registry carries that sentence, e.g. "Install s3fs to access S3")."""
    protocol = _protocol(url)
    try:
        fsspec.get_filesystem_class(protocol)
    except ImportError:
        hint = known_implementations.get(protocol, {}).get("err") or "its fsspec implementation is missing"
        raise InspectorError(f"{protocol}:// is not available here: {hint}", path=display_url(url)) from None
    except ValueError:
        raise InspectorError(f"unknown protocol {protocol}://", path=display_url(url)) from None


def normalized(text: str) -> UrlParts:
    """The parts of `text` with the path normalized: `//` collapsed, `.` dropped, `..` resolved, no
    trailing `/`. InspectorError for what cannot be checked safely: NUL, chained URLs (`zip::s3://`,
    whose inner URL this check would not see), no host, a `..` above the host, and an encoded `.`/`..`
    segment (`%2e%2e`), which a server may decode after the check."""
    shown = display_url(text)
    if "\x00" in text:
        raise InspectorError("the URL contains a NUL byte", path=shown.replace("\x00", "\\0"))
    if "::" in text:  # fsspec chains at any "::", even after the first "://"
        raise InspectorError("chained URLs (a::b://) are not supported", path=shown)
    if not is_remote(text):
        raise InspectorError("not a remote URL (scheme://...)", path=shown)
    parts = split_url(text)
    if not parts.host:
        raise InspectorError("the URL names no bucket or host", path=shown)
    kept: list[str] = []
    for segment in parts.path.split("/"):
        if segment in ("", "."):
            continue
        if segment == "..":
            if not kept:
                raise InspectorError("the path climbs above the bucket or host ('..')", path=shown)
            kept.pop()
        elif unquote(segment) in (".", ".."):
            raise InspectorError("an encoded '.' or '..' path segment", path=shown)
        else:
            kept.append(segment)
    return replace(parts, path=posixpath.join("/", *kept) if kept else "")


def within(url: UrlParts, root: UrlParts) -> bool:
    """Whether `url` is `root` or lies below it at a `/` boundary (s3://b/prefix2 is not under
    s3://b/prefix), on the same protocol and bucket or host. Both normalized."""
    if (url.protocol, url.host) != (root.protocol, root.host):
        return False
    return url.path == root.path or url.path.startswith(root.path + "/")


def _root(text: str) -> UrlParts:
    """A configured remote root, normalized; a malformed one is the operator's error and says so."""
    try:
        return normalized(text)
    except InspectorError as exc:
        reason = f"not a usable remote root in INSPECTOR_ROOTS ({exc.reason})"
        raise InspectorError(reason, path=exc.path) from None


def confined_url(text: str, roots: list[str] | None = None) -> str:
    """The normalized URL for `text`, or InspectorError when it lies outside every remote root.

    Remote roots are INSPECTOR_ROOTS entries holding `://` (inspector.paths.remote_roots); with none, no
    remote URL is allowed. The URL keeps its userinfo and query (a signed URL needs its token); only
    display_url's form appears in the error.
    """
    given = str(text).strip()
    if not given:
        raise InspectorError("no URL given")
    url = normalized(given)
    configured = remote_roots() if roots is None else roots
    if not configured:
        raise InspectorError(
            "remote URLs are not allowed here; "
            "add a remote root (e.g. s3://bucket/prefix) to INSPECTOR_ROOTS",
            path=display_url(given),
        )
    allowed = [_root(root) for root in configured]
    if not any(within(url, root) for root in allowed):
        shown = ", ".join(root.url(secrets=False) for root in allowed)
        raise InspectorError(
            f"outside the allowed remote roots ({shown}); set INSPECTOR_ROOTS to allow more",
            path=display_url(given),
        )
    return url.url()
