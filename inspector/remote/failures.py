"""A backend's failure as the one line a user reads: what could not be done, where, and why.

fsspec backends raise what their transport raises: OSError subclasses (s3fs maps S3's error codes to
FileNotFoundError and PermissionError), botocore and aiohttp exceptions, asyncio timeouts, and fsspec's
HTTP file system wraps any failed request in FileNotFoundError(url) with the real cause chained. The cause
chain is read for the most telling kind, and the text is scrubbed: a backend's message may repeat the URL
with its userinfo or signed query, so neither ever reaches the message.
"""

from __future__ import annotations

import os

from inspector.errors import InspectorError
from inspector.remote.urls import display_url, split_url

# Longest backend detail kept: one line, enough for "The specified bucket does not exist".
_MAX_DETAIL = 200
# Environment variables whose values are secrets; a backend message that quotes one is scrubbed.
_SECRET_VARIABLES = ("AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_ACCESS_KEY_ID")
# Exception class names that mean "could not reach the server", from transports not imported here
# (botocore, aiohttp, requests).
_CONNECTION_ERRORS = frozenset(
    {
        "EndpointConnectionError",
        "ConnectTimeoutError",
        "ClientConnectorError",
        "ClientConnectionError",
        "ServerDisconnectedError",
        "ClientOSError",
        "ConnectionError",
    }
)
_TIMEOUTS = frozenset({"ReadTimeoutError", "FSTimeoutError", "ServerTimeoutError"})
_NO_CREDENTIALS = frozenset({"NoCredentialsError", "PartialCredentialsError", "DefaultCredentialsError"})


def _chain(exc: BaseException) -> list[BaseException]:
    """`exc` and what caused it, outermost first (cycles cut)."""
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in seen:
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen


def _kind(chain: list[BaseException]) -> str:
    """A few words for what went wrong, from the most specific exception in the chain."""
    names = [{k.__name__ for k in type(e).__mro__} for e in chain]
    if any(n & _NO_CREDENTIALS for n in names):
        return "no credentials (set them as the storage backend documents, e.g. AWS_ACCESS_KEY_ID)"
    if any(n & _CONNECTION_ERRORS for n in names):
        return "cannot connect"
    if any(n & _TIMEOUTS or "TimeoutError" in n for n in names):
        return "timed out"
    if any(isinstance(e, PermissionError) for e in chain):
        return "permission denied"
    if any(isinstance(e, FileNotFoundError) for e in chain):
        return "not found"
    return type(chain[-1]).__name__


def scrub(text: str, url: str) -> str:
    """`text` with `url`'s secrets (userinfo, query, fragment, the whole URL) and known secret variables
    replaced, so a backend message can be shown."""
    parts = split_url(url) if "://" in url else None
    text = text.replace(url, display_url(url))
    secrets = [os.environ.get(v, "") for v in _SECRET_VARIABLES]
    if parts is not None:
        secrets += [parts.userinfo, parts.userinfo.partition(":")[2], parts.query, parts.fragment]
    # Longest first, so a secret containing a shorter one is replaced whole.
    for secret in sorted((s for s in secrets if len(s) >= 4), key=len, reverse=True):
        text = text.replace(secret, "***")
    return text


def remote_error(exc: BaseException, url: str, doing: str) -> InspectorError:
    """InspectorError for a failed remote operation: `cannot {doing}: {kind} ({detail})`, naming the
    display form of `url`; never its secrets, never a traceback."""
    chain = _chain(exc)
    kind = _kind(chain)
    firsts = [str(e).strip().partition("\n")[0] for e in chain]
    # fsspec's HTTP errors carry only the URL; the cause says more.
    detail = next((d for d in firsts if d and d not in (url, display_url(url))), "")
    detail = scrub(detail, url)[:_MAX_DETAIL]
    message = f"cannot {doing}: {kind}" + (f" ({detail})" if detail and detail != kind else "")
    return InspectorError(message, path=display_url(url))
