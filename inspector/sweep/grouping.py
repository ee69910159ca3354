"""Runs grouped into configs — by a config value or by name — and what a group's members have in common.

A group is meant to be one config's seeds, so that its spread is the seed-to-seed spread.

By name (`group_by_pattern`): a run's group is named by `pattern`'s first capture group, or its whole match
when it has no group (no pattern: the whole run name), with every seed number in that text replaced by `*`
(`SEED`: `seed2`, `Seed-12`, `seed=3`). So `lr1e-3_seed2` and `lr1e-3_seed5` are both `lr1e-3_seed*`, and
`lr1e-3/seed2` is `lr1e-3/seed*`; with `--pattern '^(lr[^_/]+)'` both are `lr1e-3`. A name the pattern does
not match is in the group `NO_MATCH`. Replacing the number rather than deleting it keeps a group's name
readable as a glob of its members' names.

By config key (`group_by_key`): a run's group is `key=value` of its flattened config (`model.lr=0.001`);
runs without the key, and unreadable runs, are in `key unset`.

`group_findings` counts, for every finding id that fired in any read member, the members it fired in:
"lr_collapsed in 7 of 10 runs".
"""

from __future__ import annotations

import re
import statistics
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, get_args

from inspector.errors import InspectorError
from inspector.findings import SEVERITIES
from inspector.sweep.discovery import natural_key
from inspector.sweep.records import Better, ConfigValue, RunRow

GroupKind = Literal["pattern", "key", "none"]
GROUP_KINDS: tuple[GroupKind, ...] = get_args(GroupKind)
# A seed in a run name: the word "seed", an optional separator, digits (the digits become `*`).
SEED = re.compile(r"(seed[_\-=]?)\d+", re.IGNORECASE)
NO_MATCH = "(no match)"


@dataclass(frozen=True)
class GroupBy:
    """How runs are grouped: by name (`value` the pattern, None for whole names), by a config key, or not."""

    kind: GroupKind = "pattern"
    value: str | None = None

    def describe(self) -> str:
        if self.kind == "key":
            return f"config key {self.value}"
        if self.kind == "none":
            return "none (each run alone)"
        shown = f"pattern {self.value!r}" if self.value else "run name"
        return f"{shown}, seed numbers as *"


@dataclass(frozen=True)
class Group:
    """A named set of runs (names, in the sweep's order)."""

    name: str
    members: tuple[str, ...]


@dataclass(frozen=True)
class FindingCount:
    """One finding id across a group: the read members it fired in, out of `of` read members."""

    id: str
    title: str  # the title most members gave it
    severity: str  # the most severe it had in any member
    runs: tuple[str, ...]
    of: int

    @property
    def text(self) -> str:
        return f"{self.id} in {len(self.runs)} of {self.of} runs"


@dataclass(frozen=True)
class Spread:
    """One metric's last and best values across a group's members that logged it."""

    name: str
    better: Better
    n: int
    last_mean: float
    last_std: float | None  # sample std (n − 1); None with one member
    best_mean: float
    best_std: float | None
    best_min: float
    best_max: float


def seed_glob(text: str) -> str:
    """`text` with each seed number replaced by `*` (`lr1e-3_seed2` → `lr1e-3_seed*`)."""
    return SEED.sub(r"\1*", text)


def compile_pattern(pattern: str | None) -> re.Pattern[str] | None:
    """The compiled name pattern (None for whole names); InspectorError naming what is wrong with it."""
    if not pattern:
        return None
    try:
        return re.compile(pattern)
    except re.error as exc:
        raise InspectorError(f"not a valid name pattern {pattern!r} ({exc})") from None


def name_group(name: str, pattern: re.Pattern[str] | None) -> str:
    """The group a run name belongs to (see the module docstring)."""
    if pattern is None:
        return seed_glob(name)
    m = pattern.search(name)
    if m is None:
        return NO_MATCH
    part = m.group(1) if pattern.groups and m.group(1) is not None else m.group(0)
    return seed_glob(part) or NO_MATCH


def _collect(names: Sequence[str], keys: Sequence[str]) -> tuple[Group, ...]:
    """Groups in order of first appearance; each group's members in the order given."""
    members: dict[str, list[str]] = {}
    for name, key in zip(names, keys, strict=True):
        members.setdefault(key, []).append(name)
    return tuple(Group(k, tuple(v)) for k, v in members.items())


def group_by_pattern(rows: Sequence[RunRow], pattern: str | None = None) -> tuple[Group, ...]:
    """Runs grouped by name: `pattern`'s capture (or match), seed numbers as `*`."""
    compiled = compile_pattern(pattern)
    groups = _collect([r.name for r in rows], [name_group(r.name, compiled) for r in rows])
    return tuple(sorted(groups, key=lambda g: (g.name == NO_MATCH, natural_key(g.name))))


def _shown(value: ConfigValue) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def group_by_key(rows: Sequence[RunRow], key: str) -> tuple[Group, ...]:
    """Runs grouped by the value of config `key`; numbers in numeric order, `key unset` last."""
    unset = f"{key} unset"
    names = [r.name for r in rows]
    labels = [f"{key}={_shown(r.config[key])}" if key in r.config else unset for r in rows]
    values = {label: r.config.get(key) for label, r in zip(labels, rows, strict=True)}

    def order(g: Group) -> tuple:
        v = values[g.name]
        number = isinstance(v, (int, float)) and not isinstance(v, bool)
        return (g.name == unset, not number, v if number else 0, natural_key(g.name))

    return tuple(sorted(_collect(names, labels), key=order))


def group_runs(rows: Sequence[RunRow], by: GroupBy) -> tuple[Group, ...]:
    """`rows` grouped as `by` says; with kind "none", each run is a group of its own."""
    if by.kind == "key":
        if not by.value:
            raise InspectorError("grouping by config key needs a key")
        return group_by_key(rows, by.value)
    if by.kind == "none":
        return tuple(Group(r.name, (r.name,)) for r in rows)
    return group_by_pattern(rows, by.value)


def varying_keys(rows: Sequence[RunRow]) -> list[str]:
    """Config keys whose value differs between read runs (or that some lack): what a sweep varied."""
    read = [r for r in rows if r.read]
    keys = sorted({k for r in read for k in r.config}, key=natural_key)
    out = []
    for k in keys:
        values = {repr(r.config.get(k, "\0unset")) for r in read}
        if len(values) > 1:
            out.append(k)
    return out


def group_findings(rows: Sequence[RunRow]) -> tuple[FindingCount, ...]:
    """For every finding id that fired in any read row: the rows it fired in, most widespread first."""
    read = [r for r in rows if r.read]
    fired: dict[str, list[str]] = {}
    titles: dict[str, Counter[str]] = {}
    worst: dict[str, int] = {}
    for r in read:
        for f in r.findings:
            if r.name not in fired.setdefault(f.id, []):
                fired[f.id].append(r.name)
            titles.setdefault(f.id, Counter())[f.title] += 1
            rank = SEVERITIES.index(f.severity) if f.severity in SEVERITIES else len(SEVERITIES)
            worst[f.id] = min(worst.get(f.id, rank), rank)
    counts = [
        FindingCount(
            fid,
            titles[fid].most_common(1)[0][0],
            SEVERITIES[worst[fid]] if worst[fid] < len(SEVERITIES) else "info",
            tuple(names),
            len(read),
        )
        for fid, names in fired.items()
    ]
    return tuple(sorted(counts, key=lambda c: (-len(c.runs), SEVERITIES.index(c.severity), c.id)))


def spread(rows: Sequence[RunRow], metric: str) -> Spread | None:
    """`metric`'s last and best values across the read rows that have it defined (None when none has)."""
    found = [m for r in rows if r.read and (m := r.metric(metric)) is not None and m.best is not None]
    if not found:
        return None
    lasts = [m.last for m in found if m.last is not None]
    bests = [m.best for m in found if m.best is not None]

    def std(xs: list[float]) -> float | None:
        return statistics.stdev(xs) if len(xs) > 1 else None

    return Spread(
        metric,
        found[0].better,
        len(found),
        statistics.fmean(lasts),
        std(lasts),
        statistics.fmean(bests),
        std(bests),
        min(bests),
        max(bests),
    )


def main_metric(rows: Sequence[RunRow]) -> str | None:
    """The eval metric the table leads with: the higher-is-better metric most runs have, AP50-like first.

    Ties go to a name with 50 and without 95 (mAP50, nAP50: what few-shot papers report), then to `map`
    or `ap` in the name, then to natural order.
    """
    counts: Counter[str] = Counter(
        m.name for r in rows if r.read for m in r.metrics if m.better == "max" and m.best is not None
    )
    if not counts:
        return None

    def rank(name: str) -> tuple:
        low = name.lower()
        ap50 = "50" in low and "95" not in low
        ap = "map" in low or "ap" in low
        return (-counts[name], not ap50, not ap, natural_key(name))

    return min(counts, key=rank)
