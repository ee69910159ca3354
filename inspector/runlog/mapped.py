"""A file mapped read-only for a one-pass read, whose pages leave the process once read.

Readers parse a mapped log piece by piece. Every page of a mapping that has been touched counts in the
process's resident memory (RSS) until it is unmapped, so reading a 290 MB log through one mapping put all
290 MB in RSS: 5× the numbers it holds (bench/bench_memory.py). `Mapped.release(end)` hands the pages
before `end` back with madvise(MADV_DONTNEED): for a file mapping this only drops them from this process
(the kernel's page cache keeps them), so a read's RSS holds the pieces in flight, not the file.
"""

from __future__ import annotations

import mmap
import os
from pathlib import Path
from types import TracebackType

import pyarrow as pa

from inspector.errors import InspectorError

_PAGE = mmap.ALLOCATIONGRANULARITY
_DONTNEED = getattr(mmap, "MADV_DONTNEED", None)  # absent off Linux/BSD: pages then stay until close


class Mapped:
    """`with Mapped(path) as m:` m.buffer is the whole file (zero-copy); m.release(end) drops the pages
    before end."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._map: mmap.mmap | None = None
        self._released = 0
        self.buffer = pa.py_buffer(b"")

    def __enter__(self) -> Mapped:
        try:
            with open(self.path, "rb") as fh:
                if os.fstat(fh.fileno()).st_size:
                    self._map = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
        except OSError as exc:
            raise InspectorError(f"cannot open ({exc.strerror or exc})", path=self.path) from None
        if self._map is not None:
            self.buffer = pa.py_buffer(self._map)
        return self

    def release(self, end: int) -> None:
        """Drop this process's pages of bytes [.., end) (whole pages only); they are read again if touched."""
        if self._map is None or _DONTNEED is None:
            return
        upto = min(end, len(self._map)) // _PAGE * _PAGE
        if upto > self._released:
            self._map.madvise(_DONTNEED, self._released, upto - self._released)
            self._released = upto

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.buffer = pa.py_buffer(b"")
        if self._map is not None:
            try:
                self._map.close()
            except BufferError:  # a slice of it is still referenced: the mapping goes when that does
                pass
            self._map = None
