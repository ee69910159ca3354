"""Rows that share a step: which add eval values, which start a new launch, which only complement each other.

The table, JSON-lines and console readers merge consecutive rows that share a step into one row
(step_column.plan_steps, steps.fold, text_steps.repair_steps). That is right for rows that complement
each other — a train row, then an eval row logging other keys at the same step (Detectron2's and
MMEngine's eval lines, Lightning's `CSVLogger`, HF `Trainer`'s `log_history`, our own `eval` rows) —
and silently wrong in two common cases. `resolve` decides each row from evidence, vectorised, and
says what it decided and why:

- **A split column** (`mode`, `split`, `phase`, `stage`, `subset`) whose value is not a training one
  makes its row an eval row: every key it logs (but those already prefixed eval/val/test) is kept as
  '<value>/<key>' (`val/loss`), so a val row that reuses `loss` never replaces a train value. The
  column counts as a split column only when one of its values is a known split name (mmdet 2.x
  writes `mode` train/val; Lightning's `RunningStage` values are train/validate/test/…).
- **Without one**, a row that logs a key again at a step a row before it logged, with another value,
  beside an eval-like key (mAP/AP/accuracy/precision/recall…, or any key prefixed eval/val/test) is
  an eval row: its repeated keys (but those prefixed eval/val/test) are kept under the row's own
  prefix ('val_' beside `val_acc`), else under 'val/' — `acc` too, when the train rows log it.
- **A relaunch**: a row that repeats, with other values, exactly the keys of the first row of its
  step is the step a resumed run re-logs. Where such rows are rare (under RELAUNCH_SHARE of the
  steps) each starts a new launch, for `assemble(launches=)`; where most steps repeat, the log was
  written twice and the rows are merged by the reader as before, with its count. A clock column
  that goes back while the step repeats or goes on also starts a launch (Ultralytics' `time` is
  `time.time() - self.train_time_start`, reset by every launch, ultralytics/engine/trainer.py
  `save_metrics`), as do the launches a reader was given (a header line again).
- **Anything else** that logs a key again with another value is kept apart, the later value as
  '<key> (repeat k)', since nothing says which value the key means.

Equal values are no conflict: Lightning adds the same `epoch` to a val row as to the train row of
that step (`scalar_metrics.setdefault("epoch", trainer.current_epoch)`, step
`fit_loop.epoch_loop._batches_that_stepped`, in `_LoggerConnector.log_metrics`), and HF `Trainer.log`
adds the same `epoch` and `step` to its eval entry; merging those loses nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd

from inspector.runlog.row_names import (
    DEFAULT_EVAL_PREFIX,
    EVAL_SPLITS,
    TRAIN_SPLITS,
    eval_prefix,
    is_eval_name,
)

# A clock goes back only where a trainer was relaunched; a per-iteration duration (Detectron2's and
# MMEngine's `time`) goes back about every other row. A column that goes back in more than 1 pair of
# rows in this many is no clock (the step rule's 1-in-10 argument, step_column.ISOLATED_FRACTION).
CLOCK_BACKWARDS = 10
# A relaunch re-logs one step per launch; a log written twice repeats every step. Repeated steps at
# fewer than this share of the steps are relaunches; at more, the log is a duplicate (merged, counted).
RELAUNCH_SHARE = 0.5
# Names a warning lists before it says "…".
NAMES_SHOWN = 4

Kind = Literal["split", "eval", "apart", "relaunch", "clock"]


@dataclass(frozen=True)
class Keyed:
    """One key's values at the rows that logged it: increasing row indices and one float64 each."""

    name: str
    rows: np.ndarray
    values: np.ndarray


@dataclass(frozen=True)
class Labels:
    """A text column naming each row's split: `codes` per row (-1: no value) into `values`."""

    name: str
    codes: np.ndarray
    values: tuple[str, ...]

    @staticmethod
    def of(name: str, texts: np.ndarray) -> Labels:
        """Labels of one string (or None) per row; blank strings are no value."""
        # Distinct values first, hashed (a split column holds a handful; sorting 1M Python strings took
        # seconds), then each one stripped once: no per-row Python, no fixed-width copy of the strings.
        raw_codes, raw = pd.factorize(np.asarray(texts, dtype=object), use_na_sentinel=True)
        cleaned = [str(v).strip() for v in raw]
        values = sorted({v for v in cleaned if v})
        index = {v: i for i, v in enumerate(values)}
        remap = np.array([index.get(v, -1) for v in cleaned] + [-1], dtype=np.int64)
        return Labels(name, remap[raw_codes], tuple(values))  # code -1 (no value) picks the trailing -1

    def take(self, rows: np.ndarray | None) -> Labels:
        """The labels of `rows` (indices; None: all), in that order."""
        return self if rows is None else Labels(self.name, self.codes[rows], self.values)

    @property
    def is_split(self) -> bool:
        """Whether any value is a known split name (else the column is no evidence)."""
        return any(v.lower() in TRAIN_SPLITS or v.lower() in EVAL_SPLITS for v in self.values)


@dataclass(frozen=True)
class Move:
    """The values of key `source` at `rows` (indices of the rows given to `resolve`) belong under `target`."""

    source: str
    target: str
    rows: np.ndarray


@dataclass(frozen=True)
class Finding:
    """One thing `resolve` decided: its kind, the lines of the rows it concerns, the names it gave."""

    kind: Kind
    lines: np.ndarray
    detail: tuple[str, ...] = ()


@dataclass(frozen=True)
class Resolution:
    """What the rows that share a step are: values to move under other names, rows that start a launch.

    `launches` are indices of the rows given to `resolve` (increasing, > 0): the given ones and those found.
    """

    moves: tuple[Move, ...] = ()
    launches: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    findings: tuple[Finding, ...] = ()

    def warnings(self, where: Callable[[np.ndarray], str]) -> list[str]:
        """One warning per finding; `where(lines)` renders the lines in the reader's style ("line 3, 5")."""
        return [_sentence(f, where) for f in self.findings]


def runs(steps: np.ndarray, launches: np.ndarray | None = None) -> np.ndarray:
    """Index of the run each row belongs to: a run is consecutive rows of one step within one launch."""
    run = np.zeros(steps.size, dtype=np.int64)
    if steps.size > 1:
        change = steps[1:] != steps[:-1]
        at = _valid_rows(launches, steps.size)
        change[at - 1] = True
        np.cumsum(change, out=run[1:])
    return run


def resolve(
    steps: np.ndarray,
    keys: Callable[[], Sequence[Keyed]],
    lines: np.ndarray,
    *,
    labels: Labels | None = None,
    launches: np.ndarray | None = None,
    clock: Keyed | None = None,
) -> Resolution:
    """The Resolution of rows in file order with `steps`: moves of eval and apart values, launches, findings.

    `keys()` gives every metric key (called only when a step repeats or `labels` are given); `lines`
    labels each row in the warnings; `labels` is a split column; `launches` are rows where the log
    itself marks a new launch (a header line again); `clock` a column that may be a clock.
    """
    steps = np.asarray(steps, dtype=np.int64)
    n = steps.size
    given = _valid_rows(launches, n)
    resets, findings = _clock_resets(steps, clock, lines)
    launch = np.union1d(given, resets) if resets.size else given
    split = labels is not None and labels.is_split and bool((labels.codes >= 0).any())
    repeated = n > 1 and bool(np.any(steps[1:] == steps[:-1]))
    if not (split or repeated):
        return Resolution((), launch, tuple(findings))
    columns = list(keys())
    moves: list[Move] = []
    train = np.zeros(n, dtype=bool)
    if split and labels is not None:  # split implies labels is not None; restated for the type checker
        split_moves, train, found = _split_moves(columns, labels, lines)
        moves += split_moves
        findings += found
        columns = move_keyed(columns, split_moves, n)
    if repeated:
        shared_moves, relaunch, found = _shared_steps(steps, columns, lines, launch, train)
        moves += shared_moves
        findings += found
        if relaunch.size:
            launch = np.union1d(launch, relaunch)
    return Resolution(tuple(moves), launch, tuple(findings))


def move_keyed(keys: Sequence[Keyed], moves: Sequence[Move], n: int) -> list[Keyed]:
    """`keys` with each move applied: the moved values leave their source for their target (in order)."""
    out = {k.name: k for k in keys}
    for move in moves:
        source = out[move.source]
        mark = np.zeros(n, dtype=bool)
        mark[move.rows] = True
        taken = mark[source.rows]
        out[move.source] = Keyed(source.name, source.rows[~taken], source.values[~taken])
        rows, values = source.rows[taken], source.values[taken]
        target = out.get(move.target)
        if target is not None:
            rows, values = np.concatenate([target.rows, rows]), np.concatenate([target.values, values])
            order = np.argsort(rows, kind="stable")
            rows, values = rows[order], values[order]
        out[move.target] = Keyed(move.target, rows, values)
    return [k for k in out.values() if k.rows.size]


# --- the rules --------------------------------------------------------------------------------------


def _free(target: str, rows: np.ndarray, taken: dict[str, np.ndarray]) -> str:
    """`target`, or `target (2)`, `(3)`… when a key of that name is already logged on one of `rows`."""
    name, i = target, 1
    while name in taken and bool(np.isin(rows, taken[name]).any()):
        i += 1
        name = f"{target} ({i})"
    return name


def _valid_rows(rows: np.ndarray | None, n: int) -> np.ndarray:
    """Sorted unique row indices in 1..n-1 (a launch at row 0 starts nothing)."""
    if rows is None:
        return np.zeros(0, dtype=np.int64)
    rows = np.unique(np.asarray(rows, dtype=np.int64))
    return rows[(rows > 0) & (rows < n)]


def _clock_resets(
    steps: np.ndarray, clock: Keyed | None, lines: np.ndarray
) -> tuple[np.ndarray, list[Finding]]:
    """Rows where a clock goes back while the step repeats or goes on (a step going back restarts anyway)."""
    if clock is None or clock.rows.size < 3:
        return np.zeros(0, dtype=np.int64), []
    values = clock.values
    ok = np.isfinite(values)
    rows, values = clock.rows[ok], values[ok]
    back = values[1:] < values[:-1]
    if not back.any() or int(back.sum()) * CLOCK_BACKWARDS > back.size:
        return np.zeros(0, dtype=np.int64), []  # never back, or too often: a duration, not a clock
    at = np.flatnonzero(back)
    at = at[steps[rows[at + 1]] >= steps[rows[at]]]
    if at.size == 0:
        return np.zeros(0, dtype=np.int64), []
    example = f"{values[at[0]]:g} → {values[at[0] + 1]:g}"
    return rows[at + 1], [Finding("clock", lines[rows[at + 1]], (clock.name, example))]


def _split_moves(
    columns: Sequence[Keyed], labels: Labels, lines: np.ndarray
) -> tuple[list[Move], np.ndarray, list[Finding]]:
    """Moves of every key a non-training row logs to '<split>/<key>'; the training rows; what was done."""
    kind = np.array([v.lower() in TRAIN_SPLITS for v in labels.values] + [False], dtype=bool)
    train = kind[labels.codes]  # code -1 picks the trailing False
    prefixes = [f"{v}/" for v in labels.values]
    moves: list[Move] = []
    targets: dict[str, None] = {}
    taken = {c.name: c.rows for c in columns}
    for key in columns:
        if eval_prefix(key.name):
            continue  # already named as an eval value
        codes = labels.codes[key.rows]
        for code in np.unique(codes[codes >= 0]).tolist():
            if kind[code]:
                continue
            rows = key.rows[codes == code]
            target = _free(prefixes[code] + key.name, rows, taken)
            moves.append(Move(key.name, target, rows))
            targets[target] = None
    other = (labels.codes >= 0) & ~train
    if not moves:
        return [], train, []
    shown = sorted({labels.values[c] for c in np.unique(labels.codes[other]).tolist()})
    detail = (
        labels.name,
        " or ".join(repr(v) for v in shown),
        " ".join(repr(f"{v}/") for v in shown),
        _names(list(targets)[:NAMES_SHOWN]) + (", …" if len(targets) > NAMES_SHOWN else ""),
    )
    return moves, train, [Finding("split", lines[np.flatnonzero(other)], detail)]


def _shared_steps(
    steps: np.ndarray, columns: Sequence[Keyed], lines: np.ndarray, launch: np.ndarray, train: np.ndarray
) -> tuple[list[Move], np.ndarray, list[Finding]]:
    """Moves for eval and apart rows, the rows that start a relaunch, what was done: for shared steps."""
    n = steps.size
    run = runs(steps, launch)
    sizes = np.bincount(run)
    multi = sizes[run] > 1
    if not multi.any():
        return [], np.zeros(0, dtype=np.int64), []
    first = np.flatnonzero(np.concatenate([[True], run[1:] != run[:-1]]))[run]
    facts = _RowFacts.of(run, multi, columns, n)
    conflict = facts.conflict
    repeat = conflict & (facts.signature == facts.signature[first]) & (facts.keys == facts.keys[first])
    evalish = conflict & ~repeat & facts.has_eval & ~train
    apart = conflict & ~repeat & ~evalish
    relaunch = np.zeros(0, dtype=np.int64)
    findings: list[Finding] = []
    n_repeat = int(repeat.sum())
    if n_repeat and n_repeat < RELAUNCH_SHARE * (int(run[-1]) + 1):
        relaunch = np.flatnonzero(repeat)
        findings.append(Finding("relaunch", lines[relaunch]))
    moves: list[Move] = []
    eval_targets: dict[str, None] = {}
    apart_targets: dict[str, None] = {}
    # Eval rows whose repeated keys are all eval keys (two evals of one step) move nothing: the reader
    # merges them, counted; only the rows that kept a training key apart are said here.
    moved_eval = np.zeros(n, dtype=bool)
    moved_sources: set[str] = set()
    eval_names = [c.name for c in columns if is_eval_name(c.name)]
    prefixes = [eval_prefix(c.name) for c in columns]
    taken = {c.name: c.rows for c in columns}
    for k, key in enumerate(columns):
        rows = facts.conflicts[k]
        if rows.size == 0:
            continue
        if not eval_prefix(key.name):  # a train key, or a metric the train rows log too (`acc`)
            at = rows[evalish[rows]]
            ranks = facts.prefix_rank[at]
            for rank in np.unique(ranks).tolist():
                prefix = prefixes[rank] if rank < len(columns) else DEFAULT_EVAL_PREFIX
                target = _free(prefix + key.name, at[ranks == rank], taken)
                moves.append(Move(key.name, target, at[ranks == rank]))
                eval_targets[target] = None
            moved_eval[at] = True
            if at.size:
                moved_sources.add(key.name)
        at = rows[apart[rows]]
        if at.size:
            occurrence = facts.occurrence(k, at)
            for occ in np.unique(occurrence).tolist():
                target = _free(f"{key.name} (repeat {occ - 1})", at[occurrence == occ], taken)
                moves.append(Move(key.name, target, at[occurrence == occ]))
                apart_targets[target] = None
    if moved_eval.any():
        beside = [e for e in eval_names if e not in moved_sources and facts.logs(e, moved_eval)][:NAMES_SHOWN]
        targets = list(eval_targets)[:NAMES_SHOWN]
        findings.append(Finding("eval", lines[moved_eval], (_names(beside), *targets)))
    if apart.any():
        findings.append(Finding("apart", lines[apart], tuple(list(apart_targets)[:NAMES_SHOWN])))
    return moves, relaunch, findings


@dataclass(frozen=True)
class _RowFacts:
    """Per row of runs with 2+ rows: its key count and key-set signature, whether it logs an eval key,
    its first eval-prefixed key (rank), whether a key it logs repeats an earlier row of its run with
    another value; per key, the rows where it does."""

    keys: np.ndarray
    signature: np.ndarray
    has_eval: np.ndarray
    prefix_rank: np.ndarray
    conflict: np.ndarray
    conflicts: list[np.ndarray]
    at: list[np.ndarray]  # per key: its rows within runs of 2+ rows
    run: np.ndarray
    columns: Sequence[Keyed]

    @staticmethod
    def of(run: np.ndarray, multi: np.ndarray, columns: Sequence[Keyed], n: int) -> _RowFacts:
        keys = np.zeros(n, dtype=np.int64)
        signature = np.zeros(n, dtype=np.uint64)
        has_eval = np.zeros(n, dtype=bool)
        prefix_rank = np.full(n, len(columns), dtype=np.int64)
        conflict = np.zeros(n, dtype=bool)
        conflicts: list[np.ndarray] = []
        ats: list[np.ndarray] = []
        # A random 64-bit weight per key: two rows have the same key set when their sums agree
        # (a collision needs 2**-64 luck). Fixed seed: the same file reads the same way every time.
        weights = np.random.default_rng(0).integers(
            1, np.iinfo(np.uint64).max, size=len(columns), dtype=np.uint64
        )
        for k, key in enumerate(columns):
            inside = multi[key.rows]
            at, values = key.rows[inside], key.values[inside]
            ats.append(at)
            if at.size == 0:
                conflicts.append(at)
                continue
            keys[at] += 1
            signature[at] += weights[k]
            if eval_prefix(key.name):
                prefix_rank[at] = np.minimum(prefix_rank[at], k)
            same = run[at[1:]] == run[at[:-1]]
            before, after = values[:-1][same], values[1:][same]
            differ = (before != after) & ~(np.isnan(before) & np.isnan(after))
            clash = np.zeros(at.size, dtype=bool)
            clash[np.flatnonzero(same)[differ] + 1] = True
            conflicts.append(at[clash])
            conflict[at[clash]] = True
            if is_eval_name(key.name):
                # Evidence of an eval row: an eval key it adds, not one it logs again with another value
                # (`acc` on a train row and on the row after it says nothing about which is the eval).
                has_eval[at[~clash]] = True
        return _RowFacts(keys, signature, has_eval, prefix_rank, conflict, conflicts, ats, run, columns)

    def occurrence(self, k: int, rows: np.ndarray) -> np.ndarray:
        """1-based count of key k's values in its run up to each of `rows` (rows where key k is logged)."""
        at = self.at[k]
        new = np.concatenate([[True], self.run[at[1:]] != self.run[at[:-1]]])
        start = np.maximum.accumulate(np.where(new, np.arange(at.size), 0))
        i = np.searchsorted(at, rows)
        return i - start[i] + 1

    def logs(self, name: str, rows: np.ndarray) -> bool:
        """Whether key `name` is logged on any row of the mask `rows`."""
        k = next(i for i, c in enumerate(self.columns) if c.name == name)
        return bool(rows[self.at[k]].any())


# --- the words ---------------------------------------------------------------------------------------


def _names(names: Sequence[str]) -> str:
    return ", ".join(repr(x) for x in names)


def _sentence(f: Finding, where: Callable[[np.ndarray], str]) -> str:
    """The warning for one finding."""
    n = int(f.lines.size)
    at = where(f.lines)
    if f.kind == "split":
        column, values, prefixes, examples = f.detail
        return (
            f"{n} row(s) whose {column!r} is {values} ({at}) are not training rows: every value they "
            f"log is kept under {prefixes} ({examples}), apart from the training values."
        )
    if f.kind == "eval":
        beside, *targets = f.detail
        return (
            f"{n} row(s) log a training key again at a step already logged, beside eval metrics "
            f"({beside}) ({at}): read as eval rows, their values are kept as {_names(targets)} "
            "instead of replacing the training values."
        )
    if f.kind == "apart":
        return (
            f"{n} row(s) log a key again at a step already logged, with another value, and nothing says "
            f"whether they are eval rows or a relaunch ({at}): both values are kept, the later as "
            f"{_names(f.detail)}."
        )
    if f.kind == "relaunch":
        return (
            f"{n} row(s) repeat the step and the keys of the row before them with other values, as a "
            f"resumed run re-logs the step it resumed from ({at}): each starts a new launch."
        )
    name, example = f.detail
    return (
        f"{name!r} goes back at {n} row(s) while the step repeats or goes on ({at}; {example}): a "
        "relaunched trainer restarts its clock, so each starts a new launch."
    )
