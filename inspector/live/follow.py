"""A Follower re-reads a growing log on each poll, parsing only the bytes appended since the last one.

Each poll first compares the log's files (sizes and modification times: one stat each, one listing for
a run directory); when nothing changed it returns the last read without opening anything. When a file
grew, the log is read again inside `increments.following`, where the JSON-lines and TensorBoard readers
resume from their saved state (runlog/increments.py), so the cost of a poll follows the appended bytes.
Other formats (CSV tables, text logs) are read again whole when they change, and the poll says so.
A remote log (s3://, gs://, https://) is followed through its local mirror (inspector/remote), synced
before each poll with ranged reads of the appended bytes.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from inspector.errors import InspectorError
from inspector.runlog import RunLog, increments, read_logs
from inspector.runlog.registry import HEAD_BYTES, is_companion

if TYPE_CHECKING:  # fsspec is imported only when a remote log is followed
    from inspector.remote import Mirror

# Files in a run directory that are looked at for changes: its own and one level below, as the
# TensorBoard reader reads them.
_DIR_GLOBS = ("*", "*/*")


@dataclass(frozen=True)
class Poll:
    """One look at a followed log.

    `log` is the latest good read (kept when a later read fails: `error` then says why). `version`
    grows by one whenever the data changed. `parsed_bytes` is what this poll parsed; `total_bytes`
    the log's size; `incremental` is False when the poll read a file whole (a format without a resuming
    reader, or a file that was rewritten rather than appended to). `data_at` is when the log's files last
    changed (their newest modification time), `polled_at` when this poll ran (both UNIX seconds).
    """

    log: RunLog | None
    version: int
    changed: bool
    parsed_bytes: int
    total_bytes: int
    incremental: bool
    data_at: float
    polled_at: float
    error: str | None = None
    remote_requests: int | None = None
    remote_bytes: int | None = None

    @property
    def last_step(self) -> int | None:
        return None if self.log is None else self.log.last_step


def freshness(poll: Poll, now: float | None = None) -> str:
    """ "last step 12,340, data 4 s old": what the page and the CLI show beside a followed log."""
    now = time.time() if now is None else now
    age = max(0.0, now - poll.data_at)
    shown = f"{age:.0f} s" if age < 120 else f"{age / 60:.0f} min" if age < 7200 else f"{age / 3600:.1f} h"
    step = "no step yet" if poll.last_step is None else f"last step {poll.last_step:,}"
    return f"{step}, data {shown} old"


def _files(paths: Sequence[Path]) -> list[Path]:
    """The regular files that make up the log: the given files, and a directory's files (one level down)."""
    found: list[Path] = []
    for p in paths:
        if p.is_dir():
            found += sorted(f for pattern in _DIR_GLOBS for f in p.glob(pattern) if f.is_file())
        else:
            found.append(p)
    return found


def _fingerprint(files: Sequence[Path]) -> tuple[tuple[str, int, int], ...]:
    out = []
    for f in files:
        try:
            st = os.stat(f)
        except OSError:
            continue
        out.append((str(f), st.st_size, st.st_mtime_ns))
    return tuple(out)


class Follower:
    """Follows one log (its files, or a TensorBoard run directory), given as read_logs takes it.

    Thread-safe: the app shares one follower among the sessions that follow the same log.
    """

    def __init__(
        self, paths: Sequence[str | os.PathLike], format: str | None = None, mirror: Mirror | None = None
    ) -> None:
        self.mirror = mirror
        self.paths = [mirror.local] if mirror is not None else [Path(p) for p in paths]
        self.format = format
        self._store = increments.Increments()
        self._lock = threading.Lock()
        self._seen: tuple[tuple[str, int, int], ...] | None = None
        self._last: Poll | None = None

    @property
    def last(self) -> Poll | None:
        """The last poll's result (None before the first)."""
        return self._last

    def poll(self) -> Poll:
        """Read what was appended since the last poll (nothing, when no file changed)."""
        with self._lock:
            return self._poll()

    def _poll(self) -> Poll:
        requests = fetched = None
        if self.mirror is not None:
            stats = self.mirror.sync()
            requests, fetched = stats.requests, stats.bytes_fetched
        logs = [p for p in self.paths if not is_companion(p)]
        files = _files(logs)
        seen = _fingerprint(files)
        total = sum(size for _, size, _ in seen)
        data_at = max((mtime for _, _, mtime in seen), default=0) / 1e9
        now = time.time()
        last = self._last
        if last is not None and seen == self._seen and last.error is None:
            return Poll(last.log, last.version, False, 0, total, True, data_at, now, None, requests, fetched)
        version = 0 if last is None else last.version
        try:
            with increments.following(self._store) as store:
                log = read_logs(self.paths, format=self.format)
        except InspectorError as exc:
            # Not readable yet (no complete line), or damaged: keep the last good read and say why.
            self._seen = seen
            kept = None if last is None else last.log
            self._last = Poll(
                kept, version, False, 0, total, False, data_at, now, str(exc), requests, fetched
            )
            return self._last
        store.forget_missing(store.handled)
        if self.format is None and all(p.is_dir() or p.stat().st_size >= HEAD_BYTES for p in logs):
            # Detection reads only the first HEAD_BYTES: once those are written it cannot change.
            self.format = log.format
        # A log file no resuming reader read was read whole; so was a known file read from its start.
        whole = {str(f) for f in logs if f.is_file() and str(f) not in store.handled}
        known = {name for name, _, _ in self._seen or ()}
        whole |= (store.handled - store.resumed) & known
        parsed = store.parsed_bytes + sum(size for name, size, _ in seen if name in whole - store.handled)
        self._seen = seen
        # Only a part of a line or record was appended: nothing new to show yet.
        changed = last is None or last.error is not None or parsed > 0 or bool(whole)
        self._last = Poll(
            log, version + changed, changed, parsed, total, not whole, data_at, now, None, requests, fetched
        )
        return self._last
