"""Server paths confined to the roots an operator allows (INSPECTOR_ROOTS)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from inspector.errors import InspectorError

REPO_ROOT = Path(__file__).resolve().parents[1]
DEMO_DIR = REPO_ROOT / "demo"


def demo_dir() -> Path:
    """The bundled demo's directory; INSPECTOR_DEMO_DIR points the app at another one (or at none)."""
    return Path(os.environ.get("INSPECTOR_DEMO_DIR") or DEMO_DIR)


def configured_roots() -> list[str]:
    """The roots as the operator wrote them (INSPECTOR_ROOTS, os.pathsep-separated), for messages."""
    configured = os.environ.get("INSPECTOR_ROOTS", "")
    roots = [p.strip() for p in configured.split(os.pathsep) if p.strip()]
    return roots or [".", "demo/"]


def allowed_roots() -> list[Path]:
    """Resolved roots from INSPECTOR_ROOTS (os.pathsep-separated); default: the working directory and
    demo/."""
    configured = os.environ.get("INSPECTOR_ROOTS", "")
    roots = [Path(p) for p in configured.split(os.pathsep) if p.strip()] or [Path.cwd(), DEMO_DIR]
    return [r.expanduser().resolve() for r in roots]


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
