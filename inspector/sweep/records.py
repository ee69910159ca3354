"""The sweep's records: a run found under a root, what reading it gave, and the sweep as read.

Kept apart from the code that makes them so that discovery, reading, grouping, bands and the report each
import only these nouns. Every record is frozen; a run that could not be read is still a `RunRow`, with
`error` saying why, so one bad run never hides the others.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal, get_args

import numpy as np

# Which way a metric improves: AP, AR and ST-IoU up, losses down (`inspector.sweep.summaries.better`).
Better = Literal["max", "min"]
# What a run's log is: one file, or a TensorBoard run directory (all its event files are one run).
RunKind = Literal["file", "tensorboard_dir"]
RUN_KINDS: tuple[RunKind, ...] = get_args(RunKind)
# A config value as the run table and the grouping see it (RunLog.config flattened, scalars only).
ConfigValue = str | int | float | bool | None


@dataclass(frozen=True)
class RunSpec:
    """One run found under a sweep root: its name, its log, and the config files that ride along.

    `name` is the run's path relative to the root (its directory's when the directory holds one run).
    `format` is the detected reader, or None when it is detected as the run is read; `error` is set when
    the run is known to be unreadable before reading (an empty log file). `alternates` are logs of the
    same run in another format, not read.
    """

    name: str
    path: str
    kind: RunKind
    format: str | None
    companions: tuple[str, ...] = ()
    alternates: tuple[str, ...] = ()
    error: str | None = None


@dataclass(frozen=True)
class Discovery:
    """The runs under a root, in natural name order, and what the walk left out.

    `truncated` says why the walk stopped early (empty: it saw everything within its bounds); `skipped`
    names files that looked like logs but are no run, each with why.
    """

    root: str
    runs: tuple[RunSpec, ...]
    truncated: tuple[str, ...] = ()
    skipped: tuple[str, ...] = ()


@dataclass(frozen=True)
class MetricSummary:
    """One evaluation metric (or validation loss) of one run: its last and best defined values.

    NaN and −1 (pycocotools' "nothing to measure") are never values, as in `inspector.eval_state`.
    Values are on the log's own scale (a percentage stays a percentage).
    """

    name: str
    better: Better
    points: int
    last: float | None
    last_step: int | None
    best: float | None
    best_step: int | None


@dataclass(frozen=True)
class FindingBrief:
    """A finding of one run, as the sweep keeps it: its stable id, severity and title."""

    id: str
    severity: str
    title: str


@dataclass(frozen=True)
class TopFinding:
    """What to read first about a run: the triage's first root cause, else the first finding."""

    kind: Literal["cause", "finding"]
    id: str
    title: str


@dataclass(frozen=True)
class RunRow:
    """One run of a sweep as the table shows it; `error` set (and the rest empty) when it was unreadable."""

    name: str
    path: str
    format: str | None = None
    framework: str | None = None
    n_steps: int = 0
    last_step: int | None = None
    metrics: tuple[MetricSummary, ...] = ()
    loss_name: str | None = None  # the logged total, else "Σ weighted terms"
    last_loss: float | None = None
    top: TopFinding | None = None
    findings: tuple[FindingBrief, ...] = ()
    judged: bool = False  # whether the rules could judge the run ("no findings" means nothing only then)
    config: Mapping[str, ConfigValue] = field(default_factory=dict)
    error: str | None = None

    @property
    def read(self) -> bool:
        return self.error is None

    def metric(self, name: str) -> MetricSummary | None:
        return next((m for m in self.metrics if m.name == name), None)


@dataclass(frozen=True)
class Curve:
    """One series of one run as kept for bands: steps (int64, increasing) and values (float64, NaN kept).

    `width` is the step width of the bins a long series was averaged into when read (1: as logged).
    """

    steps: np.ndarray
    values: np.ndarray
    width: int = 1

    def __len__(self) -> int:
        return int(self.steps.shape[0])


@dataclass(frozen=True)
class RunResult:
    """What reading one run gives: its row, and its curves by series name (none when unreadable).

    `not_a_log` says why a candidate turned out to be no log at all (no reader claims it): it is then
    listed with the skipped files, not as a run.
    """

    row: RunRow
    curves: Mapping[str, Curve] = field(default_factory=dict)
    not_a_log: str | None = None


@dataclass(frozen=True)
class Sweep:
    """Every run under a root, read: rows in discovery order and each run's curves by run name."""

    discovery: Discovery
    rows: tuple[RunRow, ...]
    curves: Mapping[str, Mapping[str, Curve]] = field(default_factory=dict)

    @property
    def root(self) -> str:
        return self.discovery.root

    def row(self, name: str) -> RunRow | None:
        return next((r for r in self.rows if r.name == name), None)
