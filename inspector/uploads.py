"""The upload store of a shared server: each upload a plain file in its own folder, one copy per content,
bounded.

Layout under the store's root:

    blobs/<sha256>            the bytes, written once per distinct content (atomically: temp file + rename)
    sets/<digest>/<name>      one folder per uploaded set of files (digest of names + content hashes),
                              each name a hard link to its blob, so a folder costs inodes, not bytes

A file's name comes from the browser and is untrusted: `safe_name` makes it one plain component (never
"", "." or ".."), so a saved path is always a regular file inside its own set folder. Nothing is skipped on
the strength of a size: a blob is named by the hash of the bytes it holds and only ever appears whole.

Eviction (`evict`) runs after every save: sets older than limits.max_upload_age_seconds() go, then the
least recently used sets until the blobs fit in limits.max_upload_bytes(); a blob no set links to any more
is deleted. The set just saved is never evicted.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from inspector import limits
from inspector.errors import InspectorError

DEFAULT_ROOT = Path(tempfile.gettempdir()) / "inspector-uploads"

# Longest saved name, in bytes of UTF-8: file systems take 255 per component; leave room for a suffix.
_MAX_NAME_BYTES = 200
_UNSAFE = re.compile(r"[^A-Za-z0-9._ ()+-]")


@dataclass(frozen=True)
class Upload:
    """One uploaded file as the browser gave it: its (untrusted) name and its bytes."""

    name: str
    data: bytes


@dataclass(frozen=True)
class EvictionReport:
    """What one eviction pass removed."""

    sets_removed: int
    blobs_removed: int
    bytes_freed: int
    bytes_kept: int


def store_root() -> Path:
    """The store's directory: INSPECTOR_UPLOAD_DIR, or inspector-uploads in the system's temp directory."""
    configured = os.environ.get("INSPECTOR_UPLOAD_DIR", "").strip()
    return Path(configured) if configured else DEFAULT_ROOT


def safe_name(name: str) -> str:
    """One plain, harmless file-name component for an uploaded name (keeps the suffix readers look at).

    Both separators are cut (a Windows browser may send "C:\\runs\\log.csv"), leading dots are dropped (no
    ".." and no hidden files), characters outside a small set become "_", and the result is shortened
    keeping its suffix. An empty result becomes "upload".
    """
    base = re.split(r"[/\\]", name or "")[-1].strip()
    base = _UNSAFE.sub("_", base).lstrip(". ")
    if not base:
        return "upload"
    if len(base.encode()) > _MAX_NAME_BYTES:
        stem, dot, suffix = base.rpartition(".")
        suffix = (dot + suffix) if dot and len(suffix) <= 16 else ""
        base = (stem if suffix else base)[: _MAX_NAME_BYTES - len(suffix)] + suffix
    return base


def _unique_names(names: Sequence[str]) -> list[str]:
    """`names` with repeats made distinct ("log.csv", "log (2).csv"), in order."""
    seen: set[str] = set()
    out = []
    for name in names:
        candidate, n = name, 1
        while candidate in seen:
            n += 1
            stem, dot, suffix = name.rpartition(".")
            candidate = f"{stem} ({n}).{suffix}" if dot and stem else f"{name} ({n})"
        seen.add(candidate)
        out.append(candidate)
    return out


def save(files: Sequence[Upload], root: Path | None = None) -> tuple[Path, ...]:
    """Paths of `files` saved as one set (a folder of plain files), after which old uploads are evicted."""
    if not files:
        raise InspectorError("nothing was uploaded")
    root = store_root() if root is None else root
    hashes = [hashlib.sha256(f.data).hexdigest() for f in files]
    names = _unique_names([safe_name(f.name) for f in files])
    digest = hashlib.sha256(
        "\0".join(f"{n}\0{h}" for n, h in zip(names, hashes, strict=True)).encode()
    ).hexdigest()[:32]
    folder = root / "sets" / digest
    try:
        folder.mkdir(parents=True, exist_ok=True)
        paths = tuple(
            _place(root, folder / name, h, f.data) for name, h, f in zip(names, hashes, files, strict=True)
        )
        os.utime(folder)  # most recently used: eviction keeps it longest
    except OSError as exc:
        raise InspectorError(
            f"cannot save the upload on the server ({exc.strerror or exc})", path=files[0].name
        ) from None
    evict(root, keep=folder)
    return paths


def _place(root: Path, target: Path, sha: str, data: bytes) -> Path:
    """`target` as a hard link to the blob holding `data` (written first if absent); returns `target`."""
    blobs = root / "blobs"
    blobs.mkdir(parents=True, exist_ok=True)
    blob = blobs / sha
    if not blob.is_file():
        _atomic_write(blob, data)
    try:
        if target.is_file() and not target.is_symlink() and os.path.samefile(target, blob):
            return target
    except OSError:
        pass
    temp = target.with_name(f".{target.name}.{os.getpid()}.{time.monotonic_ns()}")
    try:
        os.link(blob, temp)
    except OSError:  # a file system without hard links: a copy (costs the bytes again, still correct)
        _atomic_write(temp, data)
    os.replace(temp, target)
    return target


def _atomic_write(target: Path, data: bytes) -> None:
    """Write `data` to `target` so that no reader ever sees a partial file."""
    fd, temp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name[:32]}.")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(temp, target)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def touch(paths: Sequence[str | os.PathLike]) -> None:
    """Mark the sets holding `paths` as just used (a session re-reading its upload keeps it alive)."""
    for folder in {Path(p).parent for p in paths}:
        try:
            os.utime(folder)
        except OSError:
            continue


def evict(
    root: Path | None = None,
    *,
    keep: Path | None = None,
    now: float | None = None,
    max_bytes: int | None = None,
    max_age_s: float | None = None,
) -> EvictionReport:
    """Remove sets past the age limit, then the least recently used until the blobs fit the size limit."""
    root = store_root() if root is None else root
    now = time.time() if now is None else now
    max_bytes = limits.max_upload_bytes() if max_bytes is None else max_bytes
    max_age_s = limits.max_upload_age_seconds() if max_age_s is None else max_age_s
    sets = _sets_by_age(root / "sets")
    total = _blob_bytes(root / "blobs")
    removed_sets = removed_blobs = freed = 0
    for mtime, folder in sets:  # oldest first
        if keep is not None and folder == keep:
            continue
        if now - mtime <= max_age_s and total <= max_bytes:
            break
        blobs = _blobs_of(folder)
        shutil.rmtree(folder, ignore_errors=True)
        removed_sets += 1
        for blob in blobs:
            size = _unlink_if_orphan(blob)
            if size is not None:
                removed_blobs += 1
                freed += size
                total -= size
    for blob in _stray_blobs(root / "blobs", now):
        size = _unlink_if_orphan(blob)
        if size is not None:
            removed_blobs += 1
            freed += size
            total -= size
    return EvictionReport(removed_sets, removed_blobs, freed, total)


# A blob no set links to is normally removed with its last set; one left by a save that died between the
# write and the link is removed once it is this old (younger ones may be a concurrent save's).
_STRAY_AFTER_S = 600


def _stray_blobs(blobs_dir: Path, now: float) -> list[Path]:
    return [
        path for path, st in _entries(blobs_dir) if st.st_nlink <= 1 and now - st.st_mtime > _STRAY_AFTER_S
    ]


def _entries(folder: Path) -> list[tuple[Path, os.stat_result]]:
    """(path, lstat) of each entry of `folder`; entries removed meanwhile (a concurrent eviction) are left
    out."""
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return []
    found = []
    for entry in entries:
        try:
            found.append((Path(entry.path), entry.stat(follow_symlinks=False)))
        except OSError:
            continue
    return found


def _sets_by_age(sets_dir: Path) -> list[tuple[float, Path]]:
    found = []
    try:
        entries = list(os.scandir(sets_dir))
    except OSError:
        return []
    for entry in entries:
        try:
            if entry.is_dir(follow_symlinks=False):
                found.append((entry.stat().st_mtime, Path(entry.path)))
        except OSError:  # removed by a concurrent eviction
            continue
    return sorted(found)


def _blob_bytes(blobs_dir: Path) -> int:
    return sum(st.st_size for _, st in _entries(blobs_dir))


def _blobs_of(folder: Path) -> list[Path]:
    """The blobs a set's files link to (by inode), found before the set is removed."""
    blobs_dir = folder.parent.parent / "blobs"
    inodes = set()
    try:
        for entry in os.scandir(folder):
            try:
                inodes.add(entry.stat(follow_symlinks=False).st_ino)
            except OSError:
                continue
    except OSError:
        return []
    out = []
    try:
        for entry in os.scandir(blobs_dir):
            try:
                if entry.stat(follow_symlinks=False).st_ino in inodes:
                    out.append(Path(entry.path))
            except OSError:
                continue
    except OSError:
        return []
    return out


def _unlink_if_orphan(blob: Path) -> int | None:
    """Delete `blob` when no set links to it any more; its size when deleted, else None."""
    try:
        st = blob.stat()
        if st.st_nlink > 1:
            return None
        blob.unlink()
        return st.st_size
    except OSError:
        return None
