"""How deeply a JSON line nests, measured on the bytes before any parser sees it: pyarrow's parser recurses
per level, so a 63 kB line of 30,000 `[` killed the process."""

from __future__ import annotations

import re

import numpy as np
import pyarrow as pa

from inspector import limits

_DEPTH_MARKS = bytes(b for b in range(256) if b not in b"[]{}")
_OPEN_MARKS = bytes(b for b in range(256) if b not in b"[{\n")
_DELTA = np.zeros(256, dtype=np.int8)
_DELTA[[ord("["), ord("{")]] = 1
_DELTA[[ord("]"), ord("}")]] = -1
_BLOCK = 64 << 10
_STRING = re.compile(rb'"(?:[^"\\\n]|\\.)*"?')


def deep_lines(data: bytes | memoryview | pa.Buffer, limit: int | None = None) -> np.ndarray:
    """0-based indices of the lines of `data` nested deeper than
    `limit` (MAX_JSON_DEPTH), brackets in strings aside.

    A line can only be that deep if it holds more than `limit` opening brackets, so first only the
    `[`, `{` and newline bytes are kept (bytes.translate, ~4 ms per 8 MB piece; a metric line has a
    handful) and counted per line. The few lines over the count are then measured exactly.
    """
    limit = limits.MAX_JSON_DEPTH if limit is None else limit
    view = memoryview(data)
    # 64 KiB at a time: translating a copy of the whole piece would add the piece to the read's peak, and a
    # copy under glibc's mmap threshold (runlog/allocator.py) is reused, not a fresh page-faulting mapping.
    opens = np.frombuffer(
        b"".join(
            bytes(view[i : i + _BLOCK]).translate(None, _OPEN_MARKS) for i in range(0, len(view), _BLOCK)
        ),
        dtype=np.uint8,
    )
    newlines = np.flatnonzero(opens == 10)
    if opens.size - newlines.size <= limit:  # not enough openings in the whole piece
        return np.zeros(0, dtype=np.int64)
    before = np.concatenate([[0], newlines - np.arange(newlines.size), [opens.size - newlines.size]])
    candidates = np.flatnonzero(np.diff(before) > limit)
    if candidates.size == 0:
        return candidates.astype(np.int64)
    raw = bytes(view)
    ends = np.flatnonzero(np.frombuffer(raw, dtype=np.uint8) == 10)
    starts = np.concatenate([[0], ends + 1])
    ends = np.append(ends, len(raw))
    deep = [i for i in candidates.tolist() if _exact_depth(raw[starts[i] : ends[i]]) > limit]
    return np.array(deep, dtype=np.int64)


def _exact_depth(line: bytes) -> int:
    """Deepest bracket nesting of one line, strings (with their escapes) skipped."""
    stripped = _STRING.sub(b'""', line)
    marks = np.frombuffer(stripped.translate(None, _DEPTH_MARKS), dtype=np.uint8)
    return int(np.cumsum(_DELTA[marks], dtype=np.int64).max(initial=0)) if marks.size else 0
