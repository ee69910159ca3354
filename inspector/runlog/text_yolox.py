"""YOLOX (Megvii-BaseDetection/YOLOX) train_log.txt, written through loguru: training lines, launches, evals.

What the file holds (yolox/core/trainer.py, yolox/utils/logger.py, yolox/evaluators/coco_evaluator.py):

- every record starts with loguru's prefix. `setup_logger` adds the file sink with loguru's default
  format, `{time:YYYY-MM-DD HH:mm:ss.SSS} | {level: <8} | {name}:{function}:{line} - {message}`
  (Delgan/loguru, loguru/_defaults.py: LOGURU_FORMAT); a console capture has YOLOX's own
  `{time:YYYY-MM-DD HH:mm:ss} | {level: <8} | {name}:{line} - {message}`. Nothing in the prefix is a
  metric: only the message after " - " is read;
- `Trainer.after_iter`, every `exp.print_interval` (10) iterations: "epoch: {e}/{max_epoch}, iter:
  {i}/{max_iter}, " then `mem: {:.0f}Mb` (newer: `gpu mem: {:.0f}Mb, mem: {:.1f}Gb`), the time meters
  `{k}: {:.3f}s` (iter_time, data_time), the loss meters `{k}: {:.1f}` (total_loss, iou_loss, l1_loss,
  conf_loss, cls_loss), `lr: {:.3e}`, `size: {:d}` and `ETA: {timedelta}`, joined by ", ". Each item is a
  series named as written ("gpu mem", "mem", "iter_time", …), its number kept without the unit;
  `max_iter` is `len(train_loader)`, the iterations per epoch of that launch;
- `Trainer.before_train` logs "args: …", the exp table, "Training start..." and the model: a banner per
  launch. `train_log.txt` is opened in append mode, so a resumed (or repeated) run appends a launch;
- `Trainer.before_epoch` logs "---> start train epoch{e}";
- `Trainer.evaluate_and_save_model`, after an epoch, logs "\\n" + the evaluator's summary, which holds
  pycocotools' 12-line block (COCOEvaluator.evaluate_prediction). It becomes `val/AP`, `val/AP50`, …
  (coco_summary) at the step of the epoch it follows.

Global step of iteration i of epoch e: start(e) + i, where start(e) is the sum of the lengths of the
epochs before e, and an epoch's length is the `max_iter` of the last line logged for it (in file order:
the later launch wins where launches overlap). When a run is relaunched with another batch size,
`max_iter` changes, and (e - 1)·n of the current line would put the relaunch's rows on a different
scale from the epochs before it; summing the lengths as logged keeps one axis. An epoch no line logs
takes the length of the next logged epoch (the last logged one after the last), so a log that starts
at a resumed epoch gets (e - 1)·n + i. These steps are only known at the end of the file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from inspector.runlog import coco_summary
from inspector.runlog.step_column import MAX_EXACT_STEP
from inspector.runlog.text_evals import EvalRows
from inspector.runlog.text_pairs import column_of, to_float
from inspector.runlog.text_table import (
    Collector,
    Forced,
    Selection,
    Table,
    UnforcedParser,
    bools,
    fields,
    matching,
    merge_rows,
    minus,
    safe_ints,
    take,
)

FRAMEWORK = "yolox"
# The summary is of the validation set (exp.get_evaluator); YOLOX's TensorBoard tags are "val/COCOAP50".
EVAL_PREFIX = "val/"
# Where the message starts: after loguru's " - " (or at the line's start, when the prefix was cut off).
_MESSAGE = r"(?:^|\s-\s)"
TRAIN = _MESSAGE + r"epoch: (?P<e>[0-9]+)/(?P<E>[0-9]+), iter: (?P<i>[0-9]+)/(?P<n>[0-9]+), (?P<rest>.*)$"
TRAIN_MARKER = r"\bepoch: [0-9]+/[0-9]+, iter:"  # a line meant as a training line, parsed or not
# One ", "-separated item: a key, then a number with after_iter's unit (Mb, Gb, s) or none. "ETA: 2 days"
# and the "3:04:05" after it are no item. The value is a run of the characters a number may hold (to_float
# then checks it): a full number pattern measured 0.77 s vs 0.43 s per 2M items.
ITEM = r"^(?P<k>[A-Za-z_][^:,]*): (?P<v>[-+0-9.eEnNaAiIfF]+)(?:Mb|Gb|s)?$"
LAUNCH = _MESSAGE + r"Training start\.\.\.\s*$"
EPOCH_START = _MESSAGE + r"---> start train epoch(?P<e>[0-9]+)\s*$"
SNIFF = re.compile(
    r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d+)? \| [A-Z]+ *\| yolox\.[\w.]+:"
    r"|epoch: \d+/\d+, iter: \d+/\d+, .*\biter_time: [\d.]+s, .*\btotal_loss: ",
    re.M,
)


@dataclass(frozen=True)
class EpochLengths:
    """Distinct logged epochs (ascending), the length of each, the step before each one's first iteration.

    float64: exact below 2**53, where int64 sums of damaged counters could wrap.
    """

    epochs: np.ndarray
    lengths: np.ndarray
    starts: np.ndarray

    @staticmethod
    def of(epochs: np.ndarray, lengths: np.ndarray) -> EpochLengths:
        """From per-row epochs and max_iter in file order: an epoch's length is that of its last row, and an
        epoch no row logs has the length of the next logged one."""
        U, last = np.unique(epochs[::-1], return_index=True)
        L = lengths[::-1][last].astype(np.float64)
        unlogged = np.diff(np.concatenate([[0], U])) - 1  # epochs between each U and the one before
        return EpochLengths(U, L, np.cumsum(unlogged * L + L) - L)

    def start(self, epochs: np.ndarray) -> np.ndarray:
        """The step before the first iteration of each of `epochs` (logged or not; at least 1 each)."""
        U, L, S = self.epochs, self.lengths, self.starts
        k = np.searchsorted(U, epochs)
        inside = k < U.size
        at = np.minimum(k, U.size - 1)
        # An epoch in the run of unlogged epochs before U[k] has U[k]'s length; after the last, the last's.
        return np.where(inside, S[at] - (U[at] - epochs) * L[at], S[-1] + (epochs - U[-1]) * L[-1])

    def end(self, epochs: np.ndarray) -> np.ndarray:
        """The step of the last iteration of each of `epochs`."""
        k = np.minimum(np.searchsorted(self.epochs, epochs), self.epochs.size - 1)
        return self.start(epochs) + self.lengths[k]


def _items(rest: pa.Array) -> tuple[np.ndarray, dict[str, tuple[np.ndarray, np.ndarray]]]:
    """Which of `rest` hold an item, and per key (index into `rest`, value) of each. Vectorised."""
    lists = pc.split_pattern(rest, ", ")
    parent = np.asarray(pc.list_parent_indices(lists).to_numpy(zero_copy_only=False), dtype=np.int64)
    kv = pc.extract_regex(pc.list_flatten(lists), ITEM)
    hit = bools(kv.is_valid())
    parent, kv = parent[hit], kv.filter(pa.array(hit))
    values, ok = to_float(pc.struct_field(kv, "v"))
    encoded = pc.dictionary_encode(pc.struct_field(kv, "k").filter(pa.array(ok)))
    parent, values = parent[ok], values[ok]
    ids = np.asarray(encoded.indices.to_numpy(zero_copy_only=False), dtype=np.int64)
    names = encoded.dictionary.to_pylist()
    order = np.argsort(ids, kind="stable")  # grouped by key, lines in order within a key
    ids, parent, values = ids[order], parent[order], values[order]
    bounds = np.flatnonzero(np.r_[True, ids[1:] != ids[:-1], True]) if ids.size else np.zeros(1, np.int64)
    has = np.zeros(len(rest), dtype=bool)
    has[parent] = True
    return has, {
        names[int(ids[a])]: (parent[a:b], values[a:b]) for a, b in zip(bounds[:-1], bounds[1:], strict=False)
    }


def _concat(parts: list[np.ndarray], columns: int = 0) -> np.ndarray:
    if parts:
        return np.concatenate(parts)
    return np.zeros((0, columns) if columns else 0, dtype=np.int64)


class YoloxParser(UnforcedParser):
    """YOLOX train_log.txt: training rows, "Training start..." launches, pycocotools summaries as `val/…`."""

    def __init__(self, forced: Forced | None = None) -> None:
        super().__init__(forced)
        self.train = Collector()
        self.counters: list[np.ndarray] = []  # per piece, per kept row: epoch, iteration, max_iter
        self.launches: list[np.ndarray] = []  # per piece: lines of "Training start..."
        self.epoch_marks: list[np.ndarray] = []  # per piece: (line, epoch) of "---> start train epoch{e}"
        self.evals = EvalRows()
        self.block: tuple[int, dict[str, float]] | None = None  # the summary being read: last line, values
        self.not_measured: dict[str, int] = {}

    def feed(self, lines: pa.Array, first: int) -> None:
        self._feed_train(lines, first)
        self.launches.append(matching(lines, LAUNCH) + first)
        marks = matching(lines, EPOCH_START)
        if marks.size:
            epochs, ok = safe_ints(pc.struct_field(fields(lines, marks, EPOCH_START), "e"))
            self.epoch_marks.append(np.stack([marks[ok] + first, epochs[ok]], axis=1))
        summary = matching(lines, coco_summary.SUMMARY_RE2)
        if summary.size:
            texts = lines.take(pa.array(summary, pa.int64())).to_pylist()
            for line, text in zip((summary + first).tolist(), texts, strict=True):
                self._summary_line(line, text)

    def _feed_train(self, lines: pa.Array, first: int) -> None:
        marked = matching(lines, TRAIN_MARKER)
        f = fields(lines, marked, TRAIN)
        parsed = bools(f.is_valid()) if marked.size else np.zeros(0, dtype=bool)
        rows, f = marked[parsed], f.filter(pa.array(parsed))
        (e, ok_e), (top, ok_top), (i, ok_i), (n, ok_n) = (safe_ints(pc.struct_field(f, k)) for k in "eEin")
        # after_iter prints epoch + 1 of max_epoch and iter + 1 of max_iter: anything else is a damaged line.
        ok = ok_e & ok_top & ok_i & ok_n & (e >= 1) & (e <= top) & (i >= 1) & (i <= n)
        has, items = _items(pc.struct_field(f, "rest").filter(pa.array(ok)))
        kept = np.flatnonzero(ok)[has]
        position = np.cumsum(has) - 1  # index among the rows that hold an item
        columns = {k: column_of(position[at], v, kept.size) for k, (at, v) in items.items()}
        self.train.add(np.zeros(kept.size, np.int64), columns, rows[kept] + first)
        self.counters.append(np.stack([e[kept], i[kept], n[kept]], axis=1))
        self.bad.extend((minus(marked, rows[kept]) + first).tolist())

    def _summary_line(self, line: int, text: str) -> None:
        parsed = coco_summary.parse_line(text)
        if parsed is None:
            self.bad.append(line)
            return
        name = EVAL_PREFIX + parsed.name
        # A block is one run of consecutive lines; a line after a gap, or repeating a name, starts another.
        if self.block is not None and (line != self.block[0] + 1 or name in self.block[1]):
            self._close_block()
        values = {} if self.block is None else self.block[1]
        values[name] = parsed.value
        self.block = (line, values)
        if parsed.not_measured:
            self.not_measured[name] = self.not_measured.get(name, 0) + 1

    def _close_block(self) -> None:
        if self.block is not None:
            last, values = self.block
            self.evals.add(last - len(values) + 1, values)
            self.block = None

    def finish(self) -> Table:
        self._close_block()
        table = self.train.table(FRAMEWORK)
        counters = _concat(self.counters, 3)
        bad = list(self.bad)
        lengths = EpochLengths.of(counters[:, 0], counters[:, 2]) if table.rows.size else None
        if lengths is not None:
            steps = lengths.start(counters[:, 0]) + counters[:, 1]
            fits = steps <= MAX_EXACT_STEP  # only damaged counters get beyond
            if not fits.all():
                bad.extend(table.rows[~fits].tolist())
                table, steps, counters = take(table, Selection.of(fits)), steps[fits], counters[fits]
            table = replace(table, steps=steps.astype(np.int64))
        launches = np.sort(_concat(self.launches))
        table = replace(table, bad_lines=sorted(bad), launches=launches if launches.size else None)
        warnings: list[str] = []
        if self.evals.lines:
            table, warnings = self._place_evals(table, counters[:, 0], lengths, launches)
        if self.not_measured:
            warnings.append(coco_summary.not_measured_warning(self.not_measured))
        return replace(table, warnings=warnings)

    def _place_evals(
        self, table: Table, epochs: np.ndarray, lengths: EpochLengths | None, launches: np.ndarray
    ) -> tuple[Table, list[str]]:
        """`table` with the summaries merged in at the step of the epoch each follows, and what to warn.

        The epoch a summary follows is that of the training line or "start train epoch" line just before
        it. When the training line just before it is of that epoch and launch, the summary joins that very
        row (its epoch's last logged iteration, where MMDetection also puts its val metrics); otherwise it
        goes on the epoch's last iteration by the epoch lengths. A log with no training line at all (an
        epoch shorter than print_interval prints none) puts it at its epoch: its steps are epochs then.
        """
        lines = np.asarray(self.evals.lines, dtype=np.int64)
        rows = table.rows
        marks = _concat(self.epoch_marks, 2)
        before = np.searchsorted(rows, lines) - 1
        mark = np.searchsorted(marks[:, 0], lines) - 1
        row_line = rows[before] if rows.size else np.full(lines.size, -1)
        row_line = np.where(before >= 0, row_line, -1)
        row_epoch = np.where(before >= 0, epochs[before] if rows.size else -1, -1)
        mark_line = np.where(mark >= 0, marks[mark, 0] if marks.size else -1, -1)
        epoch = np.where(mark_line > row_line, marks[mark, 1] if marks.size else -1, row_epoch)
        launch = np.searchsorted(launches, lines, "right")
        same_launch = np.searchsorted(launches, row_line, "right") == launch
        on_row = (before >= 0) & (row_epoch == epoch) & same_launch
        known = epoch >= 1
        steps = np.zeros(lines.size, dtype=np.float64)
        warnings = []
        if lengths is not None:
            steps[on_row] = table.steps[before[on_row]]
            off = known & ~on_row
            steps[off] = lengths.end(epoch[off])
        elif known.any():
            steps[known] = epoch[known]
            table = replace(table, step_unit="epoch")
            warnings.append(
                "no training line (YOLOX prints one every exp.print_interval iterations, so an "
                "epoch shorter than that prints none): evaluation metrics are placed at their "
                "epoch."
            )
        if not known.all():
            warnings.append(
                f"{int((~known).sum())} evaluation summary(ies) before any training or epoch "
                "line: no epoch to place them at; put at step 0."
            )
        fits = steps <= MAX_EXACT_STEP  # beyond it only after a damaged epoch counter
        evals = self.evals.table(FRAMEWORK, np.where(fits, steps, 0).astype(np.int64), keep=fits)
        table = replace(table, bad_lines=sorted([*table.bad_lines, *lines[~fits].tolist()]))
        # The very row, not "the last row of that step": a later launch may log the same step elsewhere.
        return merge_rows(table, evals, np.where(on_row, before, -1)[fits]), warnings
