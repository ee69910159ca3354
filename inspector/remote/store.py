"""Where mirrors live on disk, how much they may hold, and what each one remembers between syncs.

Layout under the cache root (INSPECTOR_REMOTE_CACHE, else ~/.cache/inspector/remote, beside the
evaluation cache of inspector/batch):

    <purpose>-<sha256 of the display URL>/
        .lock        held (flock) while a sync runs, so two sessions never append the same bytes twice
        state.json   {"url", "kind", "files": {relative name: {"size", "version"}}}, replaced atomically
        data/<name>  the mirrored file, or the mirrored tree with the remote's relative layout

The folder is named by the URL as display_url shows it, so no credential is ever part of a cache path.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal
from urllib.parse import unquote

from inspector.errors import InspectorError
from inspector.remote.urls import split_url
from inspector.uploads import safe_name

Kind = Literal["file", "directory"]
Purpose = Literal["mirror", "file"]

# Default bound on one mirror's bytes (INSPECTOR_REMOTE_MAX_MB): the upload store's default, which a run
# directory of TensorBoard event files (tens to hundreds of MB) stays well under.
DEFAULT_MAX_MB = 2048


def cache_root() -> Path:
    """INSPECTOR_REMOTE_CACHE, else ~/.cache/inspector/remote."""
    configured = os.environ.get("INSPECTOR_REMOTE_CACHE")
    return Path(configured).expanduser() if configured else Path.home() / ".cache" / "inspector" / "remote"


def max_bytes() -> int:
    """Most bytes one mirror or fetched file may hold: INSPECTOR_REMOTE_MAX_MB (MB), else 2048 MB."""
    raw = os.environ.get("INSPECTOR_REMOTE_MAX_MB", "").strip()
    try:
        mb = int(raw) if raw else DEFAULT_MAX_MB
    except ValueError:
        mb = DEFAULT_MAX_MB
    return (mb if mb > 0 else DEFAULT_MAX_MB) * 1024 * 1024


def check_limit(total: int, limit: int, shown_url: str) -> None:
    """InspectorError naming the URL when `total` bytes would exceed `limit`."""
    if total > limit:
        raise InspectorError(
            f"{_amount(total)} would be copied, over the limit of {_amount(limit)} "
            "(set INSPECTOR_REMOTE_MAX_MB to allow more)",
            path=shown_url,
        )


def _amount(count: int) -> str:
    """Bytes as people read them, in the MB (2**20 bytes) that INSPECTOR_REMOTE_MAX_MB counts."""
    return f"{count:,} bytes" if count < 2**20 else f"{count / 2**20:,.1f} MB"


def local_name(shown_url: str) -> str:
    """The mirror's file or folder name: the URL's last path segment (readers look at names and suffixes),
    else its bucket or host, made one harmless component."""
    parts = split_url(shown_url)
    return safe_name(unquote(parts.path.rstrip("/").rpartition("/")[2]) or parts.host)


def entry_dir(root: Path, purpose: Purpose, shown_url: str) -> Path:
    """The folder of one URL's mirror: keyed by the display URL (never a credential) and the purpose."""
    return root / f"{purpose}-{hashlib.sha256(shown_url.encode()).hexdigest()[:32]}"


@dataclass(frozen=True)
class FileState:
    """What the mirror holds of one remote file: its size then and the version tag the backend gave."""

    size: int
    version: str


@dataclass
class State:
    """A mirror's memory between syncs (state.json)."""

    url: str
    kind: Kind | None = None
    files: dict[str, FileState] = field(default_factory=dict)


def load_state(folder: Path, shown_url: str) -> State:
    """The saved state, or an empty one (first sync, or a state file that is missing or unreadable)."""
    try:
        raw = json.loads((folder / "state.json").read_text())
        files = {name: FileState(int(f["size"]), str(f["version"])) for name, f in raw["files"].items()}
        kind = raw["kind"] if raw["kind"] in ("file", "directory") else None
        return State(url=shown_url, kind=kind, files=files)
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return State(url=shown_url)


def save_state(folder: Path, state: State) -> None:
    """Write state.json whole or not at all (temp file + rename)."""
    raw = {"url": state.url, "kind": state.kind, "files": {k: asdict(v) for k, v in state.files.items()}}
    replace_atomically(folder / "state.json", json.dumps(raw, indent=1).encode())


def temp_beside(target: Path) -> Path:
    """A fresh temporary file in `target`'s folder (same file system, so a rename is atomic)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=".partial-", dir=target.parent)
    os.close(fd)
    return Path(name)


def replace_atomically(target: Path, data: bytes) -> None:
    """`target` holding `data`, never half-written."""
    temp = temp_beside(target)
    try:
        temp.write_bytes(data)
        os.replace(temp, target)
    finally:
        temp.unlink(missing_ok=True)


@contextmanager
def locked(folder: Path) -> Iterator[None]:
    """Hold `folder`'s lock: one sync of a mirror at a time, across threads and processes."""
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / ".lock", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
