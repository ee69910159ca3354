"""A whole remote file (a checkpoint) copied into the cache, and copied again only when it changed.

Unlike a log, a checkpoint is rewritten whole on each save, so there is nothing to append: one `info`
per call decides, and the copy is reused while the remote size and version tag (ETag, generation or
modification time, whichever the backend gives) are those of the copy.
"""

from __future__ import annotations

from pathlib import Path

from inspector.errors import InspectorError
from inspector.remote import store
from inspector.remote.backend import Remote, size_of, version_of
from inspector.remote.store import FileState, check_limit, entry_dir, load_state, locked, save_state
from inspector.remote.urls import display_url


def fetch_file(url: str, cache_root: Path | None = None, max_bytes: int | None = None) -> Path:
    """The local copy of the remote file at `url`, downloaded unless the cached copy is current.

    InspectorError, naming the display URL, for a directory (prefix), a file over `max_bytes`
    (INSPECTOR_REMOTE_MAX_MB by default) or any failure of the backend.
    """
    shown = display_url(url)
    remote = Remote(url)
    remote.invalidate()
    info = remote.info()
    if info.get("type") == "directory":
        raise InspectorError("a directory (prefix), not a file", path=shown)
    size, version = size_of(info, shown), version_of(info)
    check_limit(size, store.max_bytes() if max_bytes is None else max_bytes, shown)
    folder = entry_dir(Path(cache_root or store.cache_root()), "file", shown)
    target = folder / "data" / store.local_name(shown)
    with locked(folder):
        state = load_state(folder, shown)
        current = FileState(size, version)
        if state.files.get("") == current and target.is_file() and target.stat().st_size == size:
            return target
        remote.download(remote.path, target)
        state.kind = "file"
        state.files = {"": FileState(target.stat().st_size, version)}
        save_state(folder, state)
    return target
