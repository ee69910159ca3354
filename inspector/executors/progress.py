"""Task progress on stderr: "evaluate: 2/3 tasks done, ETA 4 s"."""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from typing import TextIO


def eta_text(done: int, total: int, elapsed: float) -> str:
    """The remaining time at the pace so far, e.g. "ETA 4 s" ("ETA 2 min" from 2 minutes on)."""
    if done <= 0:
        return "ETA unknown"
    left = elapsed / done * (total - done)
    return f"ETA {left / 60:.0f} min" if left >= 120 else f"ETA {left:.0f} s"


@dataclass
class Progress:
    """Counts finished tasks of `total` and prints a line for each to `stream`."""

    command: str
    total: int
    stream: TextIO = field(default_factory=lambda: sys.stderr)
    done: int = 0
    started: float = field(default_factory=time.monotonic)

    def step(self) -> None:
        self.done += 1
        eta = eta_text(self.done, self.total, time.monotonic() - self.started)
        tail = f", {eta}" if self.done < self.total else f" in {time.monotonic() - self.started:.1f} s"
        print(f"{self.command}: {self.done}/{self.total} tasks done{tail}", file=self.stream, flush=True)
