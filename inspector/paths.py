"""Server paths confined to the roots an operator allows (INSPECTOR_ROOTS)."""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path

from inspector.errors import InspectorError

REPO_ROOT = Path(__file__).resolve().parents[1]
DEMO_DIR = REPO_ROOT / "demo"


def demo_dir() -> Path:
    """The bundled demo's directory; INSPECTOR_DEMO_DIR points the app at another one (or at none)."""
    return Path(os.environ.get("INSPECTOR_DEMO_DIR") or DEMO_DIR)


# An INSPECTOR_ROOTS entry that is a URL scheme ("s3", "https") or a port ("8080" or "8080/prefix"): on
# POSIX os.pathsep is ":", which also separates a URL's scheme and port, so these pieces are re-joined.
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]+")
_PORT = re.compile(r"\d+(/.*)?")
_URL_WITHOUT_PATH = re.compile(r"[A-Za-z][A-Za-z0-9+.-]+://[^/:?#]*")


def split_roots(configured: str) -> list[str]:
    """The entries of an INSPECTOR_ROOTS value, os.pathsep-separated, with URLs kept whole.

    "runs:s3://bucket/prefix:https://host:8080/logs" gives ["runs", "s3://bucket/prefix",
    "https://host:8080/logs"]: a scheme piece followed by one starting with "//" is one URL, and so is a URL
    with no path yet followed by a port. An IPv6 host ("[::1]") cannot be written on POSIX; use its name.
    """
    entries: list[str] = []
    for piece in (p.strip() for p in configured.split(os.pathsep)):
        last = entries[-1] if entries else ""
        joins_url = piece.startswith("//") and _SCHEME.fullmatch(last)
        joins_port = _PORT.fullmatch(piece) and _URL_WITHOUT_PATH.fullmatch(last)
        if os.pathsep == ":" and (joins_url or joins_port):
            entries[-1] = f"{last}:{piece}"
        else:
            entries.append(piece)
    return [e for e in entries if e]


def _scheme(entry: str) -> str | None:
    """The entry's URL scheme, lower-cased, or None for a plain path."""
    scheme, sep, _ = entry.partition("://")
    return scheme.lower() if sep and _SCHEME.fullmatch(scheme) else None


def _is_remote(entry: str) -> bool:
    return _scheme(entry) not in (None, "file", "local")


def _entries() -> list[str]:
    return split_roots(os.environ.get("INSPECTOR_ROOTS", ""))


def configured_roots() -> list[str]:
    """The local roots as the operator wrote them (INSPECTOR_ROOTS, os.pathsep-separated), for messages.

    Default, when INSPECTOR_ROOTS lists nothing: the working directory and demo/. When it lists only remote
    roots, no local path is allowed: the variable is the whole allow-list.
    """
    entries = _entries()
    if not entries:
        return [".", "demo/"]
    # A file:// entry names a local directory.
    return [e.partition("://")[2] if _scheme(e) else e for e in entries if not _is_remote(e)]


def allowed_roots() -> list[Path]:
    """Resolved local roots from INSPECTOR_ROOTS (os.pathsep-separated); default: the working directory and
    demo/."""
    if not _entries():
        return [Path.cwd().resolve(), DEMO_DIR.resolve()]
    return [Path(p).expanduser().resolve() for p in configured_roots()]


def remote_roots() -> list[str]:
    """The remote roots in INSPECTOR_ROOTS (entries holding "://", file:// aside), as written.

    inspector.remote confines URLs to them. None by default: a remote URL must be allowed explicitly.
    """
    return [e for e in _entries() if _is_remote(e)]


def confined_path(text: str, roots: list[Path] | None = None) -> Path:
    """The resolved path for `text`, or InspectorError when it lies outside every allowed root.

    Symlinks and `..` are resolved before the check, so neither can lead outside a root. Only regular
    files and directories are accepted: opening a FIFO blocks its reader forever, and a device or socket
    is never a log. A name the OS cannot take (a component over 255 bytes) or a symlink loop is refused
    with a message, not an OSError.
    """
    shown_roots = configured_roots() if roots is None else [str(r) for r in roots]
    roots = allowed_roots() if roots is None else roots
    given = text.strip()
    if not given:
        raise InspectorError("no path given")
    if "\x00" in text:
        raise InspectorError("the path contains a NUL byte", path=text.replace("\x00", "\\0"))
    try:
        candidate = Path(given).expanduser()
        if not candidate.is_absolute():
            candidate = Path.cwd() / candidate
        resolved = candidate.resolve()
    except RuntimeError:  # Python 3.11's resolve() on a symlink loop
        raise InspectorError("a symlink loop", path=given) from None
    except OSError as exc:
        raise InspectorError(f"not a usable path ({exc.strerror or exc})", path=given) from None
    if not roots:
        raise InspectorError(
            "no local path is allowed here (INSPECTOR_ROOTS lists only remote roots)", path=given
        )
    # "Not found" comes before "outside the roots" (a mistyped path is the common case, and being told it
    # lies outside the roots sends the user to the wrong fix). Whether a path outside the roots exists can
    # thus be learned, never its content (SECURITY.md).
    try:
        os.lstat(resolved)
    except FileNotFoundError:
        raise InspectorError("no such file or directory", path=given) from None
    except OSError:
        pass  # a name too long, a loop, a permission: told below, inside the roots or not
    if not any(resolved == root or resolved.is_relative_to(root) for root in roots):
        # The roots as configured, not resolved: on a shared server the absolute layout is not the user's
        # business.
        raise InspectorError(
            f"outside the allowed roots ({', '.join(shown_roots)}); set INSPECTOR_ROOTS to allow more",
            path=given,
        )
    try:
        mode = os.stat(resolved).st_mode
    except FileNotFoundError:
        raise InspectorError("no such file or directory", path=given) from None
    except OSError as exc:  # ELOOP, ENAMETOOLONG, EACCES …
        raise InspectorError(f"cannot open ({exc.strerror or exc})", path=given) from None
    if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
        raise InspectorError(f"not a regular file or a directory (a {file_kind(mode)})", path=given)
    return resolved


def file_kind(mode: int) -> str:
    """A word for what a non-regular file is (for messages)."""
    for test, word in (
        (stat.S_ISFIFO, "FIFO"),
        (stat.S_ISSOCK, "socket"),
        (stat.S_ISCHR, "character device"),
        (stat.S_ISBLK, "block device"),
        (stat.S_ISLNK, "symlink"),
    ):
        if test(mode):
            return word
    return "special file"


def is_regular_file(path: str | os.PathLike) -> bool:
    """Whether `path` is a regular file (following symlinks); False for FIFOs, devices, sockets, missing."""
    try:
        return stat.S_ISREG(os.stat(path).st_mode)
    except (OSError, ValueError):
        return False
