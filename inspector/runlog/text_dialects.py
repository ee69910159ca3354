"""Which program wrote a console log, and its step counters: mmdet 2.x, Detectron2, Ultralytics, epoch-local.

MMEngine and YOLOX are dialects too, in modules of their own (text_mmengine, text_yolox).

Each dialect is a parser that is fed the cleaned lines a piece at a time (`feed(lines, first)`,
`first` being the index of the piece's first line in the file) and returns a `Table` (row-aligned
columns in file order) from `finish()`, which `text.read` hands to `assemble`. Per-piece results
are small NumPy columns; what crosses pieces is small state (the last step, a header, eval blocks).

A few dialects make one file-wide choice (which key is the step, whether epochs count from 0,
epoch- or iteration-based mmdet). The parser guesses it from the first piece that decides it; when a
later piece contradicts the guess, `settled` is False and the file is read again with `wanted`
forced, so the result is the one a whole-file parse gives. Numbers come from the vectorised pair
extractor (text_pairs); the per-line Python here only touches the few lines a dialect owns
(headers, val rows, copypaste).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from inspector import limits
from inspector.registry import Registry, doc_summary
from inspector.runlog import text_mmengine, text_yolox
from inspector.runlog.step_column import MAX_EXACT_STEP as MAX_STEP  # the step rule's bound, one place
from inspector.runlog.text_pairs import NUM_RE2, extract_pairs
from inspector.runlog.text_table import (
    Collector,
    Column,
    FileChoice,
    Forced,
    PieceParser,
    Selection,
    Table,
    UnforcedParser,
    fields,
    matching,
    merge_rows,
    minus,
    rows_table,
    safe_ints,
)

MMDET_TRAIN = r"Epoch \[(?P<e>\d+)\]\[(?P<i>\d+)/(?P<n>\d+)\]"
MMDET_ITER = r"Iter \[(?P<i>\d+)/(?P<n>\d+)\]"
MMDET_VAL = r"Epoch\(val\) \[(?P<e>\d+)\]\[\d+\]"
D2_ITER = r"\biter: (?P<i>\d+)\s"
ULTRA_HEADER = re.compile(r"^\s*Epoch\s+GPU_mem\s+(?P<cols>.+?)\s+Instances\s+Size\s*$")
# "Epoch 2 (268/500): loss=…" and tqdm's "Epoch 2:  54%|███ | 268/500 [… loss=…]".
EPOCH_LOCAL = r"(?i:epoch)\s*\[?(?P<e>\d+)\]?\D{0,40}?\b(?P<i>\d+)/(?P<n>\d+)\b"

MMDET_MARKER = re.compile(r"Epoch(?:\(val\))? \[\d+\]\[\d+(?:/\d+)?\]|\bIter \[\d+/\d+\]\s+lr:")
D2_MARKER = re.compile(r"d2\.utils\.events|\beta: \S+\s+iter: \d+\s")
ULTRA_MARKER = re.compile(r"^\s*Epoch\s+GPU_mem\s+\w*_loss", re.M)
EPOCH_LOCAL_MARKER = re.compile(EPOCH_LOCAL + r".{0,200}?[A-Za-z_]\w*\s*[=:]\s*[-+.\d]")
GENERIC = "generic"
# mmdet's config dump before the first training line is 20-200 KB in the logs we have seen.
DETECT_CHARS = 512 * 1024
STEP_KEYS = ("global_step", "step", "iteration", "iter", "it", "batch")
FIRST_BAD_LINES = 5
ULTRA_VAL = (
    r"(?:^|\]\s*)\s*all\s+(?P<images>\d+)\s+(?P<inst>\d+)"
    + "".join(rf"\s+(?P<m{i}>{NUM_RE2})" for i in range(4))
    + "(?:"
    + "".join(rf"\s+(?P<m{i}>{NUM_RE2})" for i in range(4, 8))
    + r")?\s*$"
)
_ULTRA_VAL_PY = re.compile(ULTRA_VAL)
ULTRA_ROW = re.compile(r"^\s*(?P<e>\d+)/(?P<n>\d+)\s+(?P<mem>[\d.]+)G\s+(?P<rest>.*?)(?::\s|$)")
ULTRA_METRICS = ("precision", "recall", "mAP50", "mAP50-95")


def detect_dialect(text: str) -> str:
    """The first dialect in DIALECTS whose marker appears in `text`, else generic.

    Only the first DETECT_CHARS are searched: every dialect prints its marker within the first
    training lines, and a full-text Python regex search costs seconds on a million-line log.
    """
    head = text[:DETECT_CHARS]
    for name, dialect in DIALECTS:
        if dialect.marker is not None and dialect.marker.search(head):
            return name
    return GENERIC


class MmdetParser:
    """mmdet 2.x text: `Epoch [e][i/N]` → step (e-1)·N + i; `Epoch(val) [e][n]` at its epoch's last step.

    File-wide choice: "epoch" when any `Epoch [e][i/N]` line exists, else "iter" (IterBasedRunner,
    where `Iter [i/N]` is already global).
    """

    def __init__(self, forced: Forced | None = None) -> None:
        self.mode: FileChoice = forced.value if forced else None  # "epoch", "iter", or not yet known
        self.wanted, self.settled = self.mode, True
        self.train = Collector()
        self.last: dict[int, int] = {}  # epoch → its last train step so far
        self.per_epoch: int | None = None  # N of the file's first train row
        self.val = Collector()
        self.bad: list[int] = []

    def feed(self, lines: pa.Array, first: int) -> None:
        train = matching(lines, MMDET_TRAIN)
        markers = matching(lines, r"Epoch \[|Iter \[")
        if self.mode is None:
            if train.size:
                self.mode = self.wanted = "epoch"
            elif matching(lines, MMDET_ITER).size:
                self.mode = self.wanted = "iter"
        elif self.mode == "iter" and train.size:
            self.wanted, self.settled = "epoch", False
        if self.mode == "epoch":
            f = fields(lines, train, MMDET_TRAIN)
            (e, ok_e), (i, ok_i), (n, ok_n) = (safe_ints(pc.struct_field(f, k)) for k in "ein")
            ok = ok_e & ok_i & ok_n
            train, e, i, n = train[ok], e[ok], i[ok], n[ok]
            steps = (e - 1) * n + i
            if self.per_epoch is None and n.size:
                self.per_epoch = int(n[0])
        elif self.mode == "iter":
            train = matching(lines, MMDET_ITER)
            steps, ok = safe_ints(pc.struct_field(fields(lines, train, MMDET_ITER), "i"))
            train, steps = train[ok], steps[ok]
            e = np.zeros(train.size, np.int64)
            self.per_epoch = 0
        else:
            train, e, steps = np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.int64)
        table = rows_table("mmdet", lines, train, steps, drop=("eta",))
        self.train.add(table.steps, table.columns, table.rows + first, dropped=table.dropped)
        if train.size:
            # A val line reports the epoch that just ended: the last train step logged for that epoch.
            ends = e.size - 1 - np.unique(e[::-1], return_index=True)[1]
            self.last.update(zip(e[ends].tolist(), steps[ends].tolist(), strict=True))
        val = matching(lines, MMDET_VAL)
        if val.size:
            ve, ok = safe_ints(pc.struct_field(fields(lines, val, MMDET_VAL), "e"))
            vt = rows_table("mmdet", lines, val[ok], ve[ok])
            self.val.add(vt.steps, vt.columns, vt.rows + first, dropped=vt.dropped)
        self.bad.extend((minus(markers, table.rows) + first).tolist())

    def finish(self) -> Table:
        table = self.train.table("mmdet", bad_lines=self.bad)
        val = self.val.table("mmdet")
        if val.rows.size:
            per_epoch = self.per_epoch or 0
            vsteps = np.array([self.last.get(int(x), int(x) * per_epoch) for x in val.steps], dtype=np.int64)
            table = merge_rows(table, Table("mmdet", vsteps, val.columns, val.rows, dropped=val.dropped))
        return table


def _number(cell: str) -> float | None:
    """A copypaste cell as a float; None for anything else (a damaged or reordered log puts words there)."""
    try:
        return float(cell)
    except ValueError:
        return None


def columns_of(records: list[dict[str, float]]) -> dict[str, Column]:
    """Columns of per-row {key: value} dicts (a key missing from a row: not logged there), in O(values)."""
    at: dict[str, tuple[list[int], list[float]]] = {}
    for row, record in enumerate(records):
        for key, value in record.items():
            rows, values = at.setdefault(key, ([], []))
            rows.append(row)
            values.append(value)
    n = len(records)
    return {
        k: Column(np.array(v, dtype=np.float64))
        if len(r) == n
        else Column(np.array(v, dtype=np.float64), np.array(r, dtype=np.int64))
        for k, (r, v) in at.items()
    }


class Detectron2Parser(UnforcedParser):
    """Detectron2 log.txt: `iter: N` lines; `copypaste:` eval tables at the iteration they precede."""

    def __init__(self, forced: Forced | None = None) -> None:
        super().__init__(forced)
        self.train = Collector()
        self.copypaste: list[tuple[int, str]] = []

    def feed(self, lines: pa.Array, first: int) -> None:
        rows = matching(lines, D2_ITER)
        steps, ok = safe_ints(pc.struct_field(fields(lines, rows, D2_ITER), "i"))
        table = rows_table("detectron2", lines, rows[ok], steps[ok], drop=("iter", "eta"))
        self.train.add(table.steps, table.columns, table.rows + first, dropped=table.dropped)
        self.bad.extend((minus(matching(lines, r"\biter:"), table.rows) + first).tolist())
        cp = matching(lines, r"copypaste: ")
        if cp.size:
            self.copypaste.extend(
                zip((cp + first).tolist(), lines.take(pa.array(cp, pa.int64())).to_pylist(), strict=True)
            )

    def finish(self) -> Table:
        table = self.train.table("detectron2", bad_lines=self.bad)
        # EvalHook runs before the PeriodicWriter of the same iteration, so a copypaste block belongs to
        # the next `iter:` line; a final evaluation after training belongs to the last one.
        task, names = "bbox", None
        eval_rows, eval_steps, eval_cols = [], [], []
        for row, line in self.copypaste:
            body = line.split("copypaste: ", 1)[1].strip()
            if body.startswith("Task: "):
                task = body[6:].strip()
            elif names is None:
                names = [x.strip() for x in body.split(",")]
            else:
                values = [_number(x) for x in body.split(",")]
                after = np.searchsorted(table.rows, row)
                step = (
                    table.steps[after]
                    if after < table.rows.size
                    else (table.steps[-1] if table.steps.size else 0)
                )
                eval_rows.append(row)
                eval_steps.append(int(step))
                eval_cols.append(
                    {f"{task}/{k}": v for k, v in zip(names, values, strict=False) if v is not None}
                )
                names = None
        if eval_rows:
            evals = Collector()
            evals.add(np.array(eval_steps, np.int64), columns_of(eval_cols), np.array(eval_rows, np.int64))
            table = merge_rows(table, evals.table("detectron2"))
        return table


class UltralyticsParser(UnforcedParser):
    """Ultralytics console: one row per epoch (its final tqdm state), its `all` val row at that epoch."""

    def __init__(self, forced: Forced | None = None) -> None:
        super().__init__(forced)
        self.loss_names: list[str] = []
        self.rows: list[int] = []
        self.steps: list[int] = []
        self.cols: list[dict[str, float]] = []
        self.epoch_has_val = True

    def feed(self, lines: pa.Array, first: int) -> None:
        marked = matching(lines, r"Epoch\s+GPU_mem|^\s*\d+/\d+\s+[\d.]+G\s|\ball\s+\d+\s+\d+\s")
        texts = lines.take(pa.array(marked, pa.int64())).to_pylist() if marked.size else []
        for row, line in zip((marked + first).tolist(), texts, strict=True):
            header = ULTRA_HEADER.match(line)
            if header:
                self.loss_names = header.group("cols").split()
                continue
            m = ULTRA_ROW.match(line)
            if m and self.loss_names:
                values = m.group("rest").split()
                if len(values) < len(self.loss_names) + 2:
                    self.bad.append(row)
                    continue
                try:
                    numbers = [float(v) for v in values[: len(self.loss_names)]]
                except ValueError:
                    self.bad.append(row)
                    continue
                self.rows.append(row)
                self.steps.append(int(m.group("e")))
                self.cols.append(
                    {f"train/{k}": v for k, v in zip(self.loss_names, numbers, strict=False)}
                    | {"GPU_mem": float(m.group("mem"))}
                )
                self.epoch_has_val = False
                continue
            v = _ULTRA_VAL_PY.search(line)
            if v and self.rows and not self.epoch_has_val:
                # Only the first `all` row after an epoch's progress row is that epoch's validation;
                # a later one (the final best.pt check) would overwrite it.
                suffixes = ["B"] if v.group("m4") is None else ["B", "M"]
                got = {}
                for si, suffix in enumerate(suffixes):
                    for mi, name in enumerate(ULTRA_METRICS):
                        got[f"metrics/{name}({suffix})"] = float(v.group(f"m{si * 4 + mi}"))
                self.cols[-1] = self.cols[-1] | got
                self.epoch_has_val = True

    def finish(self) -> Table:
        rows = Collector()
        rows.add(np.array(self.steps, np.int64), columns_of(self.cols), np.array(self.rows, np.int64))
        return rows.table("ultralytics", step_unit="epoch", bad_lines=self.bad)


class EpochLocalParser:
    """`Epoch e (i/N): k=v …` → step (e - e0)·N + i, e0 = 0 if any epoch 0 is logged, else 1.

    Epochs are numbered from 0 or 1 depending on the script; choosing e0 from the log keeps a
    resumed log (which starts at, say, epoch 5) on the same absolute steps as the original run.
    File-wide choice: e0.
    """

    def __init__(self, forced: Forced | None = None) -> None:
        self.e0 = int(forced.value) if forced and forced.value is not None else None
        self.wanted: FileChoice = self.e0
        self.settled = True
        self.rows = Collector()
        self.bad: list[int] = []

    def feed(self, lines: pa.Array, first: int) -> None:
        rows = matching(lines, EPOCH_LOCAL)
        f = fields(lines, rows, EPOCH_LOCAL)
        (e, ok_e), (i, ok_i), (n, ok_n) = (safe_ints(pc.struct_field(f, k)) for k in "ein")
        ok = ok_e & ok_i & ok_n
        rows, e, i, n = rows[ok], e[ok], i[ok], n[ok]
        if self.e0 is None and rows.size:
            self.e0 = self.wanted = 0 if (e == 0).any() else 1
        elif self.e0 == 1 and (e == 0).any():
            self.wanted, self.settled = 0, False
        steps = (e - (self.e0 if self.e0 is not None else 1)) * n + i
        table = rows_table("generic", lines, rows, steps)
        self.rows.add(table.steps, table.columns, table.rows + first, dropped=table.dropped)

    def finish(self) -> Table:
        return self.rows.table("generic")


def _step_key(keys: Collection[str]) -> str | None:
    return next((k for k in STEP_KEYS if k in keys), "epoch" if "epoch" in keys else None)


class GenericParser:
    """`step=120 loss=0.53` / `step: 120, loss: 0.53` lines; rows without a step join the last step.

    File-wide choice: the step key, the first of STEP_KEYS that any line has (else `epoch`, else none:
    rows are numbered in file order). A step beyond ±MAX_STEP (or NaN) makes its line a bad one; a
    fractional step is cut to its whole part and flagged (`Table.fractional`, settled by text_steps).
    """

    def __init__(self, forced: Forced | None = None) -> None:
        self.forced = self.known = forced is not None  # known: the step key is chosen (None is a choice)
        self.key = None if forced is None or forced.value is None else str(forced.value)
        self.wanted: FileChoice = self.key
        self.settled = True
        self.keys: set[str] = set()  # step keys seen so far (not every key: a sparse log has millions)
        self.rows = Collector()
        self.bad: list[int] = []
        self.last: float | None = None  # the last step value logged before this piece (NaN kept)
        self.numbered = 0  # rows numbered so far when there is no step key

    def feed(self, lines: pa.Array, first: int) -> None:
        pairs = extract_pairs(lines, keep=limits.max_series() + 1)  # + 1: the step key is no series
        self.keys.update(k for k in pairs.columns if k in STEP_KEYS or k == "epoch")
        if not self.known:
            self.key = self.wanted = _step_key(pairs.columns)
            self.known = True
        elif not self.forced and (want := _step_key(self.keys)) != self.key:
            self.wanted, self.settled = want, False
        key = self.key
        n = pairs.rows.size
        if key is None:
            steps = np.arange(self.numbered, self.numbered + n, dtype=np.int64)
            self.numbered += n
            self.rows.add(steps, dict(pairs.columns), pairs.rows + first, dropped=pairs.dropped)
            return
        column = pairs.columns.get(key)
        raw, has = column.dense(n) if column is not None else (np.full(n, np.nan), np.zeros(n, dtype=bool))
        raw = raw.copy()
        valid = has & (np.abs(raw) <= MAX_STEP)  # False for NaN and ±inf too
        raw[has & ~valid] = np.nan
        # Lines that name the step key without a usable step are bad ones (usually none); their other
        # pairs are no row of the step before them.
        unparsed = minus(np.arange(len(lines)), pairs.rows[valid])
        if unparsed.size:
            named = unparsed[
                matching(lines.take(pa.array(unparsed)), rf"(?:^|[^\w./\-]){re.escape(key)}\s*[=:]")
            ]
            if named.size:
                self.bad.extend((named + first).tolist())
                has |= np.isin(pairs.rows, named)  # a bad step: no row, and no step for its followers
        # Rows without a step (e.g. a validation line) belong to the last step logged before them,
        # which may sit in an earlier piece. A bad step is no step to join: its followers are dropped.
        idx = np.where(has, np.arange(n), -1)
        np.maximum.accumulate(idx, out=idx)
        step = raw[np.maximum(idx, 0)]
        before = idx < 0
        step[before] = np.nan if self.last is None else self.last
        good = np.isfinite(step)
        if has.any():
            self.last = float(raw[idx[-1]])
        keep = Selection.of(good)
        columns = {
            k: c
            for k, c in ((k, keep.column(c)) for k, c in pairs.columns.items() if k != key)
            if c is not None
        }
        own = has[good]
        self.rows.add(
            step[good].astype(np.int64),
            columns,
            pairs.rows[good] + first,
            inherited=~own,
            fractional=own & (step[good] != np.trunc(step[good])),
            dropped=pairs.dropped,
        )

    def finish(self) -> Table:
        key = self.key
        unit = "epoch" if key == "epoch" else "iteration"
        warnings = (
            []
            if key is not None
            else ["no step counter (step=, iter=, …) in the log; rows are numbered in file order."]
        )
        return self.rows.table("generic", step_unit=unit, warnings=warnings, bad_lines=self.bad)


@dataclass(frozen=True)
class Dialect:
    """A program's console log: the marker its lines carry, and the parser that reads them."""

    marker: re.Pattern[str] | None  # None: the fallback, claimed by no marker
    parser: Callable[[Forced | None], PieceParser]


# Searched in this order: MMEngine's `Epoch(val) [1][500/500]` also matches mmdet 2.x's marker. Both name
# their program in every line's prefix (`- mmengine -`, `| yolox.core.trainer:`), so they are found in the
# first line of a file whose head is a long environment or config dump.
DIALECTS: Registry[Dialect] = Registry("console-log dialect", lambda d: doc_summary(d.parser))
DIALECTS.add("mmengine", Dialect(text_mmengine.SNIFF, text_mmengine.MmengineParser))
DIALECTS.add("yolox", Dialect(text_yolox.SNIFF, text_yolox.YoloxParser))
DIALECTS.add("mmdet", Dialect(MMDET_MARKER, MmdetParser))
DIALECTS.add("detectron2", Dialect(D2_MARKER, Detectron2Parser))
DIALECTS.add("ultralytics", Dialect(ULTRA_MARKER, UltralyticsParser))
DIALECTS.add("epoch_local", Dialect(EPOCH_LOCAL_MARKER, EpochLocalParser))
DIALECTS.add(GENERIC, Dialect(None, GenericParser))


def markers() -> list[re.Pattern[str]]:
    """The markers of every dialect that has one, in search order."""
    return [d.marker for _, d in DIALECTS if d.marker is not None]
