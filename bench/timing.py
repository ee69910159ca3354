"""The one way the benches time contestants: interleaved rounds in one process, min and median.

Timing each contestant in a block of its own let background load hit one side only (under load the CSV ratio
swung from 1.18× to 3.20×); in interleaved rounds every round runs each contestant once, in turn, so load
hits both alike. Every A/B bench reports through here.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class Timing:
    """One contestant's wall times (seconds), one per round."""

    name: str
    times: tuple[float, ...]

    @property
    def min(self) -> float:
        return min(self.times)

    @property
    def median(self) -> float:
        return statistics.median(self.times)


def interleaved(
    contestants: Mapping[str, Callable[[], object]],
    rounds: int = 5,
    before_round: Callable[[int], None] | None = None,
) -> dict[str, Timing]:
    """Each contestant timed once per round, in turn, for `rounds` rounds (≥ 3); `before_round(r)` runs
    untimed before round r (e.g. to append to a growing log)."""
    if rounds < 3:
        raise ValueError("at least 3 interleaved rounds")
    times: dict[str, list[float]] = {name: [] for name in contestants}
    for r in range(rounds):
        if before_round is not None:
            before_round(r)
        for name, fn in contestants.items():
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    return {name: Timing(name, tuple(t)) for name, t in times.items()}


def report(timings: Mapping[str, Timing], baseline: str, unit: str = "s") -> str:
    """One line per contestant: min and median, and its median time as a multiple of `baseline`'s."""
    scale = {"s": 1.0, "ms": 1e3}[unit]
    base = timings[baseline].median
    width = max(len(n) for n in timings)
    return "\n".join(
        f"{t.name:<{width}}  min {t.min * scale:9.3f} {unit}  median {t.median * scale:9.3f} {unit}  "
        f"{t.median / base:5.2f}× {baseline}'s time"
        for t in timings.values()
    )


def speedup(timings: Mapping[str, Timing], slower: str, faster: str) -> float:
    """How many times `faster`'s median time goes into `slower`'s."""
    return timings[slower].median / timings[faster].median
