"""glibc's malloc, told to hand large blocks straight back to the system while JSON lines are parsed.

glibc serves a block of 128 KiB or more with its own mmap, but after freeing one it raises that threshold
to the block's size (up to 32 MiB), so later blocks come from the heap, whose free holes stay resident.
`jsonlines.load` makes many piece-sized blocks that live until the pieces are joined, between short-lived
ones: reading a 1M-step native log peaked at RSS 5.8× the numbers it holds and kept 5.4× after the read
(bench/bench_memory.py), against 1.4× of live arrays; malloc_trim after every piece changed nothing. With
the threshold held at 128 KiB while the lines are parsed, the read peaks at 3.4× (2.7× at 5M steps). The
loader's own temporaries are cut to 64 KiB blocks (json_arrow.count, json_depth), so they stay on the heap
and cost no page faults. The other readers were within bounds and are left alone.

Held there for everything, the analysis afterwards would pay a page fault per fresh page of each large
temporary (1M steps × 8 terms on one core: 1.15 → 1.53 s CPU), so once the last load ends the threshold
goes to 32 MiB, glibc's own upper bound, where its dynamic rule settles in a process that works on large
arrays. Elsewhere than glibc this does nothing.
"""

from __future__ import annotations

import ctypes
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_M_MMAP_THRESHOLD = -3
_READING = 128 << 10  # glibc's default before its dynamic rule moves it
_AFTER = 32 << 20  # DEFAULT_MMAP_THRESHOLD_MAX on 64-bit

_lock = threading.Lock()
_reads = 0


def _glibc() -> ctypes.CDLL | None:
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt, libc.malloc_trim  # noqa: B018 - both exist only in glibc
    except (OSError, AttributeError):
        return None
    return libc


_LIBC = _glibc()


@contextmanager
def large_blocks_returned() -> Iterator[None]:
    """While any read is inside, blocks ≥ 128 KiB are mmapped and unmapped when freed; after the last one,
    free heap memory is trimmed and the threshold set to 32 MiB."""
    global _reads
    if _LIBC is None:
        yield
        return
    with _lock:
        _reads += 1
        if _reads == 1:
            _LIBC.mallopt(_M_MMAP_THRESHOLD, _READING)
    try:
        yield
    finally:
        with _lock:
            _reads -= 1
            if _reads == 0:
                _LIBC.mallopt(_M_MMAP_THRESHOLD, _AFTER)
                _LIBC.malloc_trim(0)
