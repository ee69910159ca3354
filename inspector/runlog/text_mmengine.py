"""MMEngine text logs (MMDetection 3.x, MMYOLO, MMPretrain, …): training, val/test lines, per-class tables.

What the file holds (open-mmlab/mmengine: mmengine/runner/log_processor.py, mmengine/logging/logger.py,
mmengine/runner/runner.py; open-mmlab/mmdetection: mmdet/evaluation/metrics/coco_metric.py):

- every record starts with `%(asctime)s - %(name)s - %(levelname)s - ` (MMFormatter), the logger name
  being `mmengine` (MMLogger's `logger_name`); a multi-line message continues on bare lines;
- `LogProcessor.get_log_after_iter` with `by_epoch=True`: `Epoch(train)` + `[e]` right-aligned to the
  width of max_epochs + 3 + `[i/N]` with i right-aligned to the width of N
  (`Epoch(train)  [1][  50/1000]`), then `base_lr: … lr: …` (`{:.{num_digits}e}`),
  `eta: {timedelta}  time: …  data_time: …  memory: …` and the other scalars (`grad_norm`, `loss`,
  `loss_cls`, …, `{:.{num_digits}f}`), joined by two spaces. e = runner.epoch + 1 and i = batch_idx + 1
  (`_get_epoch`, `_get_iter`), so the global step is (e - 1)·N + i. With `by_epoch=False`:
  `Iter(train) [  50/90000]`, i = runner.iter + 1, already global;
- val/test progress lines (`Epoch(val)  [1][ 50/500]`, `Epoch(test) [ 50/500]`, `Iter(val) [ 50/500]`)
  hold only the eval loop's eta/time/data_time/memory: not read;
- `get_log_after_epoch`: `Epoch(val) [e][N/N]`, `Epoch(test) [N/N]`, `Iter(val) [N/N]` / `Iter(test)`,
  then `name: value` items joined by two spaces, the metrics first and the eval loop's time and
  data_time last. A val line goes on the last training step logged for its epoch e (runner.epoch, the
  epoch just trained); an `Iter(val)` or test line on the last training step logged before it.
  Metric names are kept as written (`coco/bbox_mAP`, `pascal_voc/mAP`, `coco/traffic light_precision`:
  keys may hold a space, so items are split at the double space, not read as free text). Test metrics
  get mmengine's own hierarchy prefix `test/` (`log_with_hierarchy`), so a test after the last val does
  not overwrite it; the eval loop's time, data_time, eta and memory are not training series and are
  dropped, as the scalars.json reader drops them;
- mmdet's CocoMetric with `classwise=True` logs, after "Evaluating bbox..." and before the val line, a
  terminaltables AsciiTable: mmdet 3.0 `| category | AP | category | AP | … |` (3 pairs a row, cells
  `round(ap, 3)`, "nan" for a class without ground truth, "None" padding), later 3.x `| category | mAP
  | mAP_50 | mAP_75 | mAP_s | mAP_m | mAP_l |`. Each cell becomes `<prefix><metric>_<column>/<class>`,
  e.g. `coco/bbox_mAP/person`, the prefix taken from the val line's own `…bbox_mAP` key. A table of
  another shape, or one without an "Evaluating" line before it or an eval line after it, is skipped
  with a warning.
- `Runner._log_env` prints "System environment:" once per launch: a launch marker (text.py starts a
  segment there), so concatenated logs of several runs stay apart.
"""

from __future__ import annotations

import re
from array import array
from dataclasses import dataclass, replace

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from inspector import limits
from inspector.runlog.text_evals import EvalRows
from inspector.runlog.text_table import (
    Collector,
    Forced,
    Table,
    UnforcedParser,
    bools,
    fields,
    matching,
    merge_rows,
    minus,
    rows_table,
    safe_ints,
)

FRAMEWORK = "mmdet"
TRAIN_EPOCH = r"\bEpoch\(train\)\s*\[\s*(?P<e>[0-9]+)\]\s*\[\s*(?P<i>[0-9]+)/(?P<n>[0-9]+)\]"
TRAIN_ITER = r"\bIter\(train\)\s*\[\s*(?P<i>[0-9]+)/(?P<n>[0-9]+)\]"
TRAIN_MARKER = r"\b(?:Epoch|Iter)\(train\)"
_BODY = r"(?P<body>.*)$"
EVAL_MARKER = r"\b(?:Epoch|Iter)\((?:val|test)\)\s*\["
_EVAL = re.compile(
    r"\b(?P<unit>Epoch|Iter)\((?P<mode>val|test)\)\s*(?:\[\s*(?P<e>\d+)\]\s*)?"
    r"\[\s*(?P<i>\d+)/(?P<n>\d+)\](?P<body>.*)$"
)
# The eval loop's own timings (get_log_after_epoch puts them last; log_with_hierarchy prefixes them).
EVAL_TIMINGS = frozenset(
    {"eta", "time", "data_time", "memory", "val/time", "val/data_time", "test/time", "test/data_time"}
)
TEST_PREFIX = "test/"
LAUNCH = r"^System environment:\s*$"
EVALUATING = re.compile(r"(?:^|\s-\s)Evaluating (?P<metric>[\w-]+)\.\.\.\s*$")
EVALUATING_RE2 = r"(?:^|\s-\s)Evaluating [A-Za-z0-9_-]+\.\.\.\s*$"
TABLE_LINE = r"^\s*(?:\+-[-+]*\+|\|.*\|)\s*$"
_BORDER = re.compile(r"^\s*\+-[-+]*\+\s*$")
# CocoMetric's per-class headers (mmdet 3.0: pairs of category/AP; later 3.x: one class per row).
PAIR_HEADER = ("category", "AP")
ROW_HEADER = ("category", "mAP", "mAP_50", "mAP_75", "mAP_s", "mAP_m", "mAP_l")
# Keys whose -1 means "no ground truth of that size" (CocoMetric writes COCOeval's -1 through).
_SIZED = re.compile(r"(?:mAP|AR)_[sml](?:@\d+)?$")
SHOWN = 5  # distinct table headers and -1 keys named in a warning
SNIFF = re.compile(
    r"\d\d:\d\d:\d\d - mmengine - |\b(?:Epoch|Iter)\((?:train|test)\)\s*\[\s*\d"
    r"|\bIter\(val\)\s*\[\s*\d|\bEpoch\(val\)\s*\[\s*\d+\]\s*\[\s*\d+/\d+\]"
)


def eval_items(body: str) -> dict[str, float]:
    """{name: value} of a val/test line's `name: value` items (two spaces apart); non-numbers left out."""
    out: dict[str, float] = {}
    for item in re.split(r"\s{2,}", body.strip()):
        key, sep, value = item.rpartition(": ")
        if not sep or not key.strip():
            continue
        try:
            out[key.strip()] = float(value)
        except ValueError:
            continue
    return out


def _number(cell: str) -> float | None:
    try:
        return float(cell)
    except ValueError:
        return None  # "None" padding of the last row, an empty cell


def table_shape(header: list[str]) -> str | None:
    """Which CocoMetric per-class table `header` starts: "pairs", "rows", or None (another table)."""
    if (
        len(header) >= 2
        and len(header) % 2 == 0
        and all(tuple(header[k : k + 2]) == PAIR_HEADER for k in range(0, len(header), 2))
    ):
        return "pairs"
    if len(header) >= 2 and header[0] == ROW_HEADER[0] and set(header[1:]) <= set(ROW_HEADER[1:]):
        return "rows"
    return None


def row_values(shape: str, header: list[str], row: list[str]) -> dict[tuple[str, str], float]:
    """{(column, class): value} of one row of a per-class table ("None" padding, empty cells left out)."""
    out: dict[tuple[str, str], float] = {}
    if shape == "pairs":
        for k in range(0, len(row) - 1, 2):
            value = _number(row[k + 1])
            if row[k] and row[k] != "None" and value is not None:
                out[("mAP", row[k])] = value
    elif row and row[0]:
        for column, cell in zip(header[1:], row[1:], strict=False):
            value = _number(cell)
            if value is not None:
                out[(column, row[0])] = value
    return out


@dataclass
class _OpenTable:
    """The AsciiTable being read, a line at a time (its lines are never held)."""

    last: int  # line index of its latest line
    borders: int = 0
    header: list[str] | None = None
    shape: str | None = None
    metric: str | None = None


class MmengineParser(UnforcedParser):
    """MMEngine text: `Epoch(train) [e][i/N]` → (e-1)·N + i, `Iter(train) [i/N]` → i; val/test; tables."""

    def __init__(self, forced: Forced | None = None) -> None:
        super().__init__(forced)
        self.train = Collector()
        self.launches: list[np.ndarray] = []
        self.n_rows = 0  # train rows so far: the index the next one gets
        self.epoch_end: dict[int, tuple[int, int]] = {}  # epoch → (row, step) of its last train row so far
        self.last_row: tuple[int, int] | None = None  # (row, step) of the last train row so far
        self.per_epoch: int | None = None  # N of the last epoch-based train line so far
        self.evals = EvalRows()
        # Per eval row: the train row it joins (-1: a row of its own) and its step.
        self.places = (array("q"), array("q"))
        self.limit = limits.max_series()
        # Per-class tables across pieces: the one being read, the metric "Evaluating" named, the values
        # waiting for the val/test line after them.
        self.table: _OpenTable | None = None
        self.metric: str | None = None
        self.pending: dict[tuple[str, str, str], float] = {}
        self.unknown_tables = 0
        self.unknown_headers: list[str] = []  # the first SHOWN distinct ones
        self.unnamed_tables = 0
        self.unplaced = 0
        self.before_training = 0
        self.minus_one: dict[str, int] = {}

    def feed(self, lines: pa.Array, first: int) -> None:
        rows, steps, epochs, lengths, bodies = _train_rows(lines)
        table = rows_table(FRAMEWORK, bodies, np.arange(rows.size), steps, drop=("eta",))
        kept = np.zeros(rows.size, dtype=bool)
        kept[table.rows] = True  # rows_table leaves out a line without any pair
        self.train.add(table.steps, table.columns, rows[kept] + first, dropped=table.dropped)
        self.bad.extend((minus(matching(lines, TRAIN_MARKER), rows[kept]) + first).tolist())
        self.launches.append(matching(lines, LAUNCH) + first)
        train = _TrainRows(rows[kept], steps[kept], epochs[kept], lengths[kept], self.n_rows)
        self.n_rows += train.rows.size
        # The lines read one by one, in file order: eval lines (not the progress ones), tables, "Evaluating".
        evals = matching(lines, EVAL_MARKER)
        if evals.size:
            progress = pc.match_substring_regex(lines.take(pa.array(evals, pa.int64())), r"\seta: ")
            evals = evals[~bools(progress)]
        picked = np.union1d(evals, np.union1d(matching(lines, TABLE_LINE), matching(lines, EVALUATING_RE2)))
        done = 0  # train rows of this piece already taken into the state
        if picked.size:
            texts = lines.take(pa.array(picked, pa.int64())).to_pylist()
            upto = np.searchsorted(train.rows, picked)  # train rows before each line
            is_eval = np.isin(picked, evals)
            for line, text, end, e in zip(
                picked.tolist(), texts, upto.tolist(), is_eval.tolist(), strict=True
            ):
                if end > done:
                    self._take(train, done, end)
                    done = end
                if e:
                    self.table = None
                    self._eval_line(line + first, text)
                else:
                    self._other_line(line + first, text)
        if train.rows.size > done:
            self._take(train, done, train.rows.size)

    def _take(self, train: _TrainRows, a: int, b: int) -> None:
        """The state after train rows a..b-1 of a piece: the last row of each epoch, the last row, N."""
        epochs = train.epochs[a:b]
        ends = a + epochs.size - 1 - np.unique(epochs[::-1], return_index=True)[1]
        for k in ends.tolist():
            if train.epochs[k] > 0:
                self.epoch_end[int(train.epochs[k])] = (train.base + k, int(train.steps[k]))
        self.last_row = (train.base + b - 1, int(train.steps[b - 1]))
        by_epoch = np.flatnonzero(epochs > 0)
        if by_epoch.size:
            self.per_epoch = int(train.lengths[a + by_epoch[-1]])

    def _eval_line(self, line: int, text: str) -> None:
        m = _EVAL.search(text)
        if m is None:
            self.bad.append(line)
            return
        values = {k: v for k, v in eval_items(m.group("body")).items() if k not in EVAL_TIMINGS}
        if not values:
            return
        if self.pending:
            values.update(self._class_metrics(values))
        for key, value in values.items():
            if value == -1 and _SIZED.search(key) and (key in self.minus_one or len(self.minus_one) < SHOWN):
                self.minus_one[key] = self.minus_one.get(key, 0) + 1
        if m.group("mode") == "test":
            values = {k if k.startswith(TEST_PREFIX) else TEST_PREFIX + k: v for k, v in values.items()}
        epoch = int(m.group("e")) if m.group("unit") == "Epoch" and m.group("e") is not None else None
        if epoch is not None and epoch in self.epoch_end:
            row, step = self.epoch_end[epoch]  # the last train row of the epoch it validates
        elif epoch is not None and epoch > 0 and self.per_epoch:
            row, step = -1, epoch * self.per_epoch  # an epoch without a train line: its last step
        elif self.last_row is not None:
            row, step = self.last_row  # Iter(val), a test: where training stands
        else:
            row, step = -1, 0
            self.before_training += 1
        if self.evals.add(line, values):
            self.places[0].append(row)
            self.places[1].append(step)

    def _class_metrics(self, values: dict[str, float]) -> dict[str, float]:
        """The waiting per-class values, named after this eval line's `<prefix><metric>_mAP` key."""
        pending, self.pending = self.pending, {}
        prefixes: dict[str, str | None] = {}
        out: dict[str, float] = {}
        for (metric, column, name), value in pending.items():
            if metric not in prefixes:
                mean = f"{metric}_mAP"
                named = (k[: -len(mean)] for k in values if k == mean or k.endswith("/" + mean))
                prefixes[metric] = next(named, None)
            prefix = prefixes[metric]
            if prefix is None:
                self.unplaced += 1
            else:
                out[f"{prefix}{metric}_{column}/{name}"] = value
        return out

    def _other_line(self, line: int, text: str) -> None:
        """An "Evaluating <metric>..." line or a line of an AsciiTable, read into the open table's state."""
        evaluating = EVALUATING.search(text)
        if evaluating:
            self.table = None
            self.metric = evaluating.group("metric")
            return
        if self.table is None or line != self.table.last + 1:
            self.table = _OpenTable(line, metric=self.metric)
        table = self.table
        table.last = line
        if _BORDER.match(text):
            table.borders += 1
            if table.borders == 3:  # the top border, the one under the header, the bottom one
                self.table = None
            return
        cells = [c.strip() for c in text.strip()[1:-1].split("|")]
        if table.header is None:
            table.header, table.shape = cells, table_shape(cells)
            if table.shape is None:
                self.unknown_tables += 1
                shown = " | ".join(cells)[:80]
                if shown not in self.unknown_headers and len(self.unknown_headers) < SHOWN:
                    self.unknown_headers.append(shown)
            elif table.metric is None:
                self.unnamed_tables += 1
            return
        if table.shape is None or table.metric is None:
            return
        for (column, name), value in row_values(table.shape, table.header, cells).items():
            key = (table.metric, column, name)
            if key in self.pending or len(self.pending) < self.limit:
                self.pending[key] = value

    def finish(self) -> Table:
        table = self.train.table(FRAMEWORK, bad_lines=sorted(self.bad))
        launches = np.sort(np.concatenate(self.launches)) if self.launches else np.zeros(0, np.int64)
        if self.evals.lines:
            rows, steps = (np.frombuffer(a, dtype=np.int64) for a in self.places)
            table = merge_rows(table, self.evals.table(FRAMEWORK, steps), rows)
        return replace(table, warnings=self._warnings(), launches=launches if launches.size else None)

    def _warnings(self) -> list[str]:
        warnings = []
        if self.before_training:
            warnings.append(
                f"{self.before_training} val/test line(s) before any training line: put at step 0."
            )
        if self.unnamed_tables:
            warnings.append(
                f'{self.unnamed_tables} per-class table(s) with no "Evaluating <metric>..." '
                "line before them skipped: which metric they hold is unknown."
            )
        if self.pending:
            warnings.append(
                f"{len(self.pending)} per-class value(s) from a table with no val/test line after it skipped."
            )
        if self.unplaced:
            warnings.append(
                f"{self.unplaced} per-class value(s) skipped: the val/test line after their "
                "table has no <metric>_mAP key to name them after."
            )
        if self.unknown_tables:
            warnings.append(
                f"{self.unknown_tables} table(s) of a shape this reader does not know skipped "
                f"(header: {'; '.join(self.unknown_headers)}); only mmdet CocoMetric's per-class "
                "tables are read."
            )
        if self.minus_one:
            detail = ", ".join(f"{k}: {v}" for k, v in self.minus_one.items())
            warnings.append(
                f"-1 logged for {detail} (evaluation(s)): COCOeval's value when the set has no "
                "object of that size, not a score; kept as logged."
            )
        return warnings


@dataclass(frozen=True)
class _TrainRows:
    """A piece's training rows (lines, steps, epochs (0: iteration-based), N), the first one's row index."""

    rows: np.ndarray
    steps: np.ndarray
    epochs: np.ndarray
    lengths: np.ndarray
    base: int


def _train_rows(lines: pa.Array) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, pa.Array]:
    """(lines, steps, epochs (0: iteration-based), N, text after `[i/N]`) of training lines, in file order.

    Only the text after the counters goes to the pair extractor: the counters are padded to their widths
    (`[  50/1000]`, `  [1]`), so whole lines come in many shapes, each an extra template pass; measured
    3.9 s → 1.3 s per 160k lines.
    """
    rows_e = matching(lines, TRAIN_EPOCH)
    f = fields(lines, rows_e, TRAIN_EPOCH + _BODY)
    (e, ok_e), (i, ok_i), (n, ok_n) = (safe_ints(pc.struct_field(f, k)) for k in "ein")
    ok = ok_e & ok_i & ok_n & (e >= 1) & (i >= 1) & (i <= n)  # _get_epoch and _get_iter count from 1
    rows_e, e, i, n = rows_e[ok], e[ok], i[ok], n[ok]
    body_e = pc.struct_field(f, "body").filter(pa.array(ok))
    rows_i = matching(lines, TRAIN_ITER)
    g = fields(lines, rows_i, TRAIN_ITER + _BODY)
    (gi, ok_gi), (gn, ok_gn) = (safe_ints(pc.struct_field(g, k)) for k in "in")
    ok = ok_gi & ok_gn & (gi >= 1) & (gi <= gn)
    rows_i, gi, gn = rows_i[ok], gi[ok], gn[ok]
    body_i = pc.struct_field(g, "body").filter(pa.array(ok))
    rows = np.concatenate([rows_e, rows_i])
    bodies = pa.concat_arrays([body_e.cast(pa.large_string()), body_i.cast(pa.large_string())])
    steps = np.concatenate([(e - 1) * n + i, gi])
    epochs = np.concatenate([e, np.zeros(gi.size, np.int64)])
    lengths = np.concatenate([n, gn])
    if rows_i.size and rows_e.size:  # a file is one or the other; both only when damaged or concatenated
        order = np.argsort(rows, kind="stable")
        return rows[order], steps[order], epochs[order], lengths[order], bodies.take(pa.array(order))
    return rows, steps, epochs, lengths, bodies
