"""Parse state kept between reads of a growing log, so a re-read parses only the bytes appended since.

A `Follower` (inspector/live) reads a log again and again while the trainer writes it. Inside
`following(store)`, the readers that can resume (JSON lines: `jsonlines.load`; TensorBoard event files:
`readers.tfevents`) look up their state for a file in the store, parse only what was appended after
the offset they stopped at, and save their state again; everything after that parse (steps, segments,
the RunLog) is built by the same code as a fresh read, so a resumed read equals one.

A state is only resumed while the file is the same file: the same device and inode, at least as long
as the offset, and with the same last bytes before the offset (a file rewritten in place, or truncated
and written again, is parsed from the start). Each reader stops at the end of its last complete
record (a newline; a TFRecord whose CRCs match), so a half-written last line is left for the next read,
never reported as damage.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path

# Bytes before the offset compared on resume: enough that a rewritten file is caught, cheap to read.
CHECK_BYTES = 64


@dataclass(frozen=True)
class FileIdentity:
    """Which file a state belongs to, and the bytes that end what was parsed."""

    device: int
    inode: int
    offset: int
    check: bytes


@dataclass
class Resumable:
    """One file's parse state: the reader's own object, where it stopped, and the line number there."""

    identity: FileIdentity
    state: object
    line: int = 1


@dataclass
class Increments:
    """Parse states per (reader, file, options), and what the last read parsed."""

    states: dict[tuple, Resumable] = field(default_factory=dict)
    parsed_bytes: int = 0  # bytes parsed by the resuming readers during the current read
    resumed: set[str] = field(default_factory=set)  # files read from a saved state (current read)
    handled: set[str] = field(default_factory=set)  # files a resuming reader read (current read)

    def begin(self) -> None:
        """Start counting a new read."""
        self.parsed_bytes = 0
        self.resumed = set()
        self.handled = set()

    def resume(self, key: tuple, path: Path, size: int) -> Resumable | None:
        """The saved state for `key` when `path` is still the file it was saved from; else None."""
        self.handled.add(str(path))
        saved = self.states.get(key)
        if saved is None:
            return None
        ident = saved.identity
        try:
            st = os.stat(path)
        except OSError:
            return None
        if (st.st_dev, st.st_ino) != (ident.device, ident.inode) or size < ident.offset:
            del self.states[key]
            return None
        if _bytes_before(path, ident.offset) != ident.check:
            del self.states[key]
            return None
        self.resumed.add(str(path))
        return saved

    def save(self, key: tuple, path: Path, offset: int, state: object, line: int = 1) -> None:
        """Remember that `path` was parsed up to byte `offset` into `state`."""
        st = os.stat(path)
        identity = FileIdentity(st.st_dev, st.st_ino, offset, _bytes_before(path, offset))
        self.states[key] = Resumable(identity, state, line)

    def forget_missing(self, present: set[str]) -> None:
        """Drop the states of files no longer read (deleted, or no longer part of the run)."""
        for key in [k for k in self.states if k[1] not in present]:
            del self.states[key]


def _bytes_before(path: Path, offset: int) -> bytes:
    start = max(0, offset - CHECK_BYTES)
    with open(path, "rb") as fh:
        fh.seek(start)
        return fh.read(offset - start)


_ACTIVE: ContextVar[Increments | None] = ContextVar("inspector_increments", default=None)


def active() -> Increments | None:
    """The store of the read in progress, when it is a follower's; None for a plain read."""
    return _ACTIVE.get()


@contextmanager
def following(store: Increments) -> Iterator[Increments]:
    """Readers called inside resume from, and save to, `store`."""
    token = _ACTIVE.set(store)
    store.begin()
    try:
        yield store
    finally:
        _ACTIVE.reset(token)
