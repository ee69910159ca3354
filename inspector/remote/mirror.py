"""A remote file or directory (prefix) mirrored into a local folder that every reader can read.

Readers work on local paths (memory maps, os.stat), so a remote log is copied, and kept in step by
fetching only what was appended. Object stores have no append: a training job that flushes its log
re-uploads the whole object, so "grew" is inferred from the size, and the last OVERLAP bytes the mirror
already holds are fetched again with the new ones and compared, to catch an object that was replaced by
different content rather than extended. One sync costs one listing (a directory) or one info (a file),
plus one ranged GET per grown file; an unchanged file costs nothing more.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from inspector.errors import InspectorError
from inspector.remote import store
from inspector.remote.backend import Remote, size_of, version_of
from inspector.remote.store import (
    FileState,
    Kind,
    State,
    check_limit,
    entry_dir,
    load_state,
    locked,
    replace_atomically,
    save_state,
)
from inspector.remote.urls import check_protocol, display_url

# Bytes of the mirrored copy fetched again before each append and compared: a JSON-lines row is 100-300
# bytes and a TensorBoard record header 12, so 64 bytes of a replaced object almost never match by chance.
OVERLAP = 64
# Longest name component most file systems store (ext4, APFS, NTFS).
_MAX_COMPONENT_BYTES = 255

Change = Literal["unchanged", "new", "grown", "rewritten"]


@dataclass(frozen=True)
class SyncStats:
    """What one sync did. `requests` counts the mirror's own requests (listing, info, ranged GETs and
    downloads); `rewritten` the files fetched whole again because they shrank or their overlap differed;
    `skipped` the remote names that cannot be stored locally, each with why."""

    files: int
    files_changed: int
    bytes_fetched: int
    requests: int
    elapsed_s: float
    rewritten: int = 0
    removed: int = 0
    skipped: tuple[str, ...] = ()


@dataclass(frozen=True)
class _Listed:
    """One remote file found by a sync: its fsspec path, size and version."""

    path: str
    size: int
    version: str


def _unsafe_reason(relative: str) -> str | None:
    """Why a remote name cannot be a local path below the mirror, or None when it can. An object key may
    hold "..", "." or empty segments, which would otherwise lead out of the cache folder."""
    for part in relative.split("/"):
        if part in ("", ".", ".."):
            return "an empty, '.' or '..' path segment"
        if "\x00" in part or "\\" in part:
            return "a NUL or backslash in its name"
        if len(part.encode()) > _MAX_COMPONENT_BYTES:
            return "a name component over 255 bytes"
    return None


def _tail(path: Path, size: int, count: int) -> bytes:
    """The `count` bytes before offset `size` of the local file."""
    with open(path, "rb") as fh:
        fh.seek(size - count)
        return fh.read(count)


def _prune(path: Path, stop: Path) -> None:
    """Remove `path`'s empty parent folders up to (not including) `stop`."""
    parent = path.parent
    while parent != stop and stop in parent.parents:
        try:
            parent.rmdir()
        except OSError:
            return
        parent = parent.parent


class Mirror:
    """A remote file or directory (prefix) mirrored under a local cache folder.

    `local` is what readers read: the mirrored file, or the folder holding the mirrored tree with the
    remote's relative layout. It exists after the first `sync()`. Callers confine the URL first
    (confined_url); the cache folder is keyed by its display form, so credentials never reach a path.
    """

    def __init__(self, url: str, cache_root: Path | None = None, max_bytes: int | None = None):
        check_protocol(url)
        self.url = url
        self.shown = display_url(url)
        self.folder = entry_dir(Path(cache_root or store.cache_root()), "mirror", self.shown)
        self.local: Path = self.folder / "data" / store.local_name(self.shown)
        self.max_bytes = store.max_bytes() if max_bytes is None else max_bytes
        self._remote: Remote | None = None

    def __repr__(self) -> str:
        return f"Mirror({self.shown!r} -> {self.local})"

    def sync(self) -> SyncStats:
        """Bring the mirror up to date with the remote (see the module's docstring for the cost)."""
        started = time.perf_counter()
        remote = self._remote = self._remote or Remote(self.url)
        before = remote.requests
        with locked(self.folder):
            state = load_state(self.folder, self.shown)
            remote.invalidate()
            listed, skipped = self._list(remote, state)
            check_limit(sum(f.size for f in listed.values()), self.max_bytes, self.shown)
            removed = 0
            for name in [n for n in state.files if n not in listed]:
                try:
                    self._target(name).unlink(missing_ok=True)
                except OSError:  # a folder now stands there; the next download replaces or skips it
                    pass
                _prune(self._target(name), self.local)
                del state.files[name]
                removed += 1
            changes: list[Change] = []
            fetched = 0
            for name, found in listed.items():
                target = self._target(name)
                try:
                    change, count = self._sync_file(remote, found, target, state.files.get(name))
                except OSError as exc:  # a file where the remote has a folder, a full disk …
                    skipped.append(f"{name}: cannot be stored here ({exc.strerror or exc})")
                    state.files.pop(name, None)
                    continue
                state.files[name] = FileState(target.stat().st_size, found.version)
                changes.append(change)
                fetched += count
            if state.kind == "directory":
                self.local.mkdir(parents=True, exist_ok=True)  # an empty prefix is an empty folder
            save_state(self.folder, state)
        return SyncStats(
            files=len(changes),
            files_changed=sum(c != "unchanged" for c in changes),
            bytes_fetched=fetched,
            requests=remote.requests - before,
            elapsed_s=time.perf_counter() - started,
            rewritten=changes.count("rewritten"),
            removed=removed,
            skipped=tuple(skipped),
        )

    def _target(self, name: str) -> Path:
        return self.local / name if name else self.local

    def _list(self, remote: Remote, state: State) -> tuple[dict[str, _Listed], list[str]]:
        """{relative name ("" for a single file): what the remote holds}, and the names skipped.

        The first sync asks `info` whether the URL is a file or a prefix; later ones remember.
        """
        if state.kind != "directory":
            info = remote.info()
            kind: Kind = "directory" if info.get("type") == "directory" else "file"
            if state.kind == "file" and kind == "directory":
                raise InspectorError(
                    "was a file and is now a directory (prefix); open it again", path=self.shown
                )
            state.kind = kind
            if kind == "file":
                return {"": _Listed(remote.path, size_of(info, self.shown), version_of(info))}, []
        root = remote.path.rstrip("/")
        listed: dict[str, _Listed] = {}
        skipped: list[str] = []
        for path, info in remote.find().items():
            if info.get("type", "file") != "file" or not path.startswith(root + "/") or path.endswith("/"):
                continue  # the prefix itself, and S3's zero-byte "folder" markers
            name = path[len(root) + 1 :]
            reason = _unsafe_reason(name)
            if reason is not None:
                skipped.append(f"{name!r}: {reason}")
                continue
            listed[name] = _Listed(path, size_of(info, self.shown), version_of(info))
        return listed, skipped

    def _sync_file(
        self, remote: Remote, found: _Listed, target: Path, known: FileState | None
    ) -> tuple[Change, int]:
        """Bring one mirrored file up to date: (what changed, bytes fetched)."""
        have = target.stat().st_size if target.is_file() else None
        if have is None or known is None:
            target.parent.mkdir(parents=True, exist_ok=True)
            return "new", remote.download(found.path, target)
        if found.size == have and found.version == known.version:
            return "unchanged", 0
        if found.size > have:
            start = max(0, have - OVERLAP)
            data = remote.read(found.path, start, found.size)
            overlap = have - start
            if start > 0 and len(data) == found.size:
                # A server that ignores Range sends the whole object: keep it rather than fetch it twice.
                replace_atomically(target, data)
                return "rewritten", len(data)
            if len(data) == found.size - start and data[:overlap] == _tail(target, have, overlap):
                # Appending is safe for readers: they already tolerate a half-written last line or record.
                with open(target, "ab") as fh:
                    fh.write(data[overlap:])
                return "grown", len(data)
            return "rewritten", len(data) + remote.download(found.path, target)
        return "rewritten", remote.download(found.path, target)


def describe(stats: SyncStats) -> str:
    """ "3 files, 1 changed, 12.3 kB in 2 requests": a sync in one line for logs and the page."""
    text = f"{stats.files} files, {stats.files_changed} changed, {stats.bytes_fetched / 1e3:,.1f} kB"
    text += f" in {stats.requests} requests"
    extra = {"rewritten": stats.rewritten, "removed": stats.removed, "skipped": len(stats.skipped)}
    return text + "".join(f", {v} {k}" for k, v in extra.items() if v)
