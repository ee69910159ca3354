"""JSON-lines loading shared by the JSON readers: numeric columns in file order, bad lines skipped.

`load` reads a file with a `json_loader.Loader` (pyarrow by line-aligned pieces, bounded, with a tolerant
per-line fallback; how and why is in json_loader.py). Under a follower (runlog/increments.py) it parses only
the complete lines appended since the last read, keeping the loader and the rows so far
(json_growing.GrowingRows) between reads.
"""

from __future__ import annotations

from pathlib import Path
from typing import cast

import numpy as np
import pyarrow as pa

from inspector.errors import InspectorError
from inspector.runlog import increments
from inspector.runlog.allocator import large_blocks_returned
from inspector.runlog.json_columns import JsonRows
from inspector.runlog.json_growing import GrowingRows
from inspector.runlog.json_loader import MAX_LINE_BYTES, Loader
from inspector.runlog.mapped import Mapped

__all__ = ["MAX_LINE_BYTES", "load"]


def load(path: Path, *, start: int = 0, first_line: int = 1, lists: bool = False) -> JsonRows:
    """Rows of the JSON-lines file at `path` from byte `start` on; InspectorError if none is readable.

    `first_line` is the line number of the line that begins at `start` (for warnings). With `lists`,
    a list of numbers is opened into columns "key[i]" and the keys that held lists are named in
    `JsonRows.lists`; without it, lists are skipped.
    """
    store = increments.active()
    if store is not None:
        return _load_appended(path, start, first_line, lists, store)
    loader = Loader(lists)
    with large_blocks_returned(), Mapped(path) as mapped:
        buf = mapped.buffer[start:]
        if buf.size == 0:
            raise InspectorError("the file is empty", path=path)
        tail = buf[max(0, buf.size - 1) :].to_pybytes()
        head = buf[:4096].to_pybytes()
        loader.feed(buf, first_line, consumed=lambda n: mapped.release(start + n))
        del buf
    rows = loader.finish(path, tail)
    if rows.n_rows == 0:
        if not (loader.notes.bad or loader.notes.deep or loader.notes.too_long):
            raise InspectorError("the file is empty (only blank lines)", path=path)
        what = "binary content" if b"\x00" in head else "no JSON object on any line"
        raise InspectorError(f"not a JSON-lines log ({what})", path=path)
    return rows


def _load_appended(
    path: Path, start: int, first_line: int, lists: bool, store: increments.Increments
) -> JsonRows:
    """`load` for a follower: parse only the complete lines appended since the last read of `path`.

    The state kept between reads is the loader (known schema, admitted keys, skipped lines) and the rows
    so far (json_growing.GrowingRows), so the rows equal a fresh `load` of the file up to its last
    newline. Bytes after the last newline are a line still being written: left for the next read, never
    called malformed.
    """
    key = ("jsonl", str(path), start, first_line, lists)
    try:
        mapped = pa.memory_map(str(path), "r")
    except OSError as exc:
        raise InspectorError(f"cannot open ({exc.strerror or exc})", path=path) from None
    with mapped:
        size = mapped.size()
        saved = store.resume(key, path, size)
        if saved is None:
            loader, so_far, offset, line = Loader(lists), GrowingRows(), start, first_line
        else:
            loader, so_far = cast(tuple[Loader, GrowingRows], saved.state)
            offset, line = saved.identity.offset, saved.line
        appended = mapped.read_buffer()[offset:]
        cut = _after_last_newline(appended)
        store.parsed_bytes += cut
        line = loader.feed(appended.slice(0, cut), line) if cut else line
    new = loader.finish(path, b"\n")  # the new rows only; warnings from every line read so far
    so_far.extend(new)
    store.save(key, path, offset + cut, (loader, so_far), line)
    if so_far.n == 0:
        raise InspectorError("no complete line yet (the run has not logged a row)", path=path)
    return so_far.rows(new.warnings, new.lists)


def _after_last_newline(buf: pa.Buffer, block: int = 1 << 16) -> int:
    """The offset just past the last newline of `buf` (0: none), searched backwards a block at a time."""
    raw = np.frombuffer(buf, dtype=np.uint8)
    end = raw.shape[0]
    while end > 0:
        begin = max(0, end - block)
        found = np.flatnonzero(raw[begin:end] == 10)
        if found.size:
            return begin + int(found[-1]) + 1
        end = begin
    return 0
