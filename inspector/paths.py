"""Server paths confined to the roots an operator allows (INSPECTOR_ROOTS)."""

from __future__ import annotations

import os
from pathlib import Path

from inspector.errors import InspectorError

REPO_ROOT = Path(__file__).resolve().parents[1]
DEMO_DIR = REPO_ROOT / "demo"


def demo_dir() -> Path:
    """The bundled demo's directory; INSPECTOR_DEMO_DIR points the app at another one (or at none)."""
    return Path(os.environ.get("INSPECTOR_DEMO_DIR") or DEMO_DIR)


def allowed_roots() -> list[Path]:
    """Resolved roots from INSPECTOR_ROOTS (os.pathsep-separated); default: the working directory and demo/."""
    configured = os.environ.get("INSPECTOR_ROOTS", "")
    roots = [Path(p) for p in configured.split(os.pathsep) if p.strip()] or [Path.cwd(), DEMO_DIR]
    return [r.expanduser().resolve() for r in roots]


def confined_path(text: str, roots: list[Path] | None = None) -> Path:
    """The resolved path for `text`, or InspectorError when it lies outside every allowed root.

    Symlinks and `..` are resolved before the check, so neither can lead outside a root.
    """
    roots = allowed_roots() if roots is None else roots
    if not text.strip():
        raise InspectorError("no path given")
    if "\x00" in text:
        raise InspectorError("the path contains a NUL byte", path=text.replace("\x00", "\\0"))
    candidate = Path(text.strip()).expanduser()
    if not candidate.is_absolute():
        candidate = Path.cwd() / candidate
    resolved = candidate.resolve()
    if not any(resolved == root or resolved.is_relative_to(root) for root in roots):
        shown = ", ".join(str(r) for r in roots)
        raise InspectorError(f"outside the allowed roots ({shown}); set INSPECTOR_ROOTS to allow more",
                             path=text.strip())
    if not resolved.exists():
        raise InspectorError("no such file or directory", path=text.strip())
    return resolved
