"""Plain-text console logs: generic `key=value` lines, mmdet 2.x, Detectron2 log.txt, Ultralytics stdout.

The reader the registry calls for anything printed to a terminal. Decoding and tqdm clean-up live
in text_decode, the vectorised pair extraction in text_pairs, the per-program step counters in
text_dialects, the step repairs (damaged, constant and shared steps) in text_steps; this module only
picks the dialect, feeds it the file a piece at a time, caps the keys at limits.max_series() and hands
the columns to `assemble`. The file is never held whole (issue 7: a 1M-line log peaks at ≤ 3× its
numeric payload; measured 2.67× with bench/bench_memory.py, from 13× when the whole text was decoded),
and a key costs its values only (issue 11: 2 MB of lines that each add new keys read in ~3 s and
~250 MB, where a dense rows × keys table needed more than 4 GB).
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from inspector import limits
from inspector.errors import InspectorError
from inspector.runlog.record import RunLog, Series, assemble, latest_segment_wins, segment_ids
from inspector.runlog.text_decode import MAX_LINE_CHARS, NotUtf8, TextLines, sniff_text, text_pieces
from inspector.runlog.text_dialects import DETECT_CHARS, DIALECTS, FIRST_BAD_LINES, detect_dialect, markers
from inspector.runlog.text_pairs import as_lines
from inspector.runlog.text_steps import StepRepair, repair_steps
from inspector.runlog.text_table import Column, Forced, PieceParser, Selection, Table, cap_series, take

NAME = "text"
DESCRIPTION = "Plain-text console log (key=value lines, mmdet 2.x, Detectron2 log.txt, Ultralytics stdout)"

# Lines with a pair in the head before a file counts as a generic key=value log.
MIN_PAIR_LINES = 3
_PAIR_LINE = re.compile(r"(?m)^.*?(?<![\w\"'])[A-Za-z_][\w./\-]*\s*[=:]\s*[-+]?(?:\d|\.\d)[^\n]*$")
SNIFF_SCORE = 0.5  # a fallback reader: any more specific format that claims the file wins


def sniff(path: Path, head: bytes) -> float:
    """0.5 when `head` reads as text with a known dialect or ≥ 3 key=value lines; else 0.0.

    A head that starts with a UTF-16/32 byte-order mark (PowerShell's `>` writes UTF-16) is decoded
    in that encoding; a few NUL bytes (a crash's zero-filled block) do not make text binary.
    """
    try:
        text = sniff_text(head)
        if text is None:
            return 0.0
        if any(p.search(text) for p in markers()):
            return SNIFF_SCORE
        return SNIFF_SCORE if len(_PAIR_LINE.findall(text)) >= MIN_PAIR_LINES else 0.0
    except Exception:  # sniffing must never fail detection
        return 0.0


def _line_list(numbers: Sequence[int] | np.ndarray) -> str:
    shown = ", ".join(str(int(x)) for x in list(numbers)[:FIRST_BAD_LINES])
    return shown + (", …" if len(numbers) > FIRST_BAD_LINES else "")


def _logs_row(column: Column, row: int) -> bool:
    """Whether `column` has a value on `row`, one of the table's last two rows (its rows increase)."""
    return column.rows is None or bool(np.any(column.rows[-2:] == row))


def _drop_truncated_tail(table: Table, last_line: int) -> tuple[Table, bool]:
    """`table` without its last row when that row is the file's unterminated, incomplete last line."""
    n = table.rows.size
    if n == 0 or table.rows[-1] != last_line:
        return table, False
    if n > 1:
        have = {k for k, c in table.columns.items() if _logs_row(c, n - 1)}
        before = {k for k, c in table.columns.items() if _logs_row(c, n - 2)}
        if before <= have:
            return table, False  # as complete as the row before it: only the newline is missing
    keep = np.ones(n, dtype=bool)
    keep[-1] = False
    return take(table, Selection.of(keep)), True


@dataclass
class LineMap:
    """File line of each clean line index, kept per piece: an offset when a piece's lines are contiguous.

    Only tqdm captures (a `\r` run becomes several clean lines of one file line) keep their numbers,
    so a 1M-line log costs a few integers here instead of an 8 MB array.
    """

    starts: list[int] = field(default_factory=list)  # first clean line index of each piece
    firsts: list[int] = field(default_factory=list)  # its file line
    numbers: list[np.ndarray | None] = field(default_factory=list)

    def add(self, piece: TextLines) -> None:
        numbers = piece.line_numbers
        if numbers.size == 0:
            return
        contiguous = int(numbers[-1]) - int(numbers[0]) == numbers.size - 1
        self.starts.append(piece.first_line)
        self.firsts.append(int(numbers[0]))
        self.numbers.append(None if contiguous else numbers)

    def __call__(self, index: int) -> int:
        at = bisect.bisect_right(self.starts, index) - 1
        numbers = self.numbers[at]
        offset = index - self.starts[at]
        return self.firsts[at] + offset if numbers is None else int(numbers[offset])


@dataclass
class _Pass:
    """One read of the file: the dialect's table and what the reader warns about."""

    dialect: str
    table: Table
    lines: int = 0  # clean lines in the file
    last_number: int = 0  # file line of the last clean line
    truncated: bool = False
    long_lines: list[np.ndarray] = field(default_factory=list)
    nul_lines: list[np.ndarray] = field(default_factory=list)
    line_of: LineMap = field(default_factory=LineMap)  # clean line index → file line


def _head(pieces: list[TextLines]) -> str:
    """The first DETECT_CHARS of the clean text, as the whole-file text would begin."""
    return "\n".join(p.text[:-1] if p.text.endswith("\n") else p.text for p in pieces)[:DETECT_CHARS]


def _replay(buffered: list[TextLines], rest: Iterator[TextLines]) -> Iterator[TextLines]:
    while buffered:
        yield buffered.pop(0)  # dropped from the buffer as soon as it is parsed
    yield from rest


def _read_pass(path: Path, encoding: str, piece_bytes: int | None, forced: Forced | None = None) -> _Pass:
    """Parse the file a piece at a time; stops early once a later piece unsettles a file-wide guess."""
    pieces = text_pieces(path, encoding, piece_bytes)
    buffered: list[TextLines] = []
    chars = 0
    for piece in pieces:
        buffered.append(piece)
        chars += len(piece.text)
        if chars >= DETECT_CHARS:
            break
    dialect = detect_dialect(_head(buffered))
    parser: PieceParser = DIALECTS.get(dialect).parser(forced)
    out = _Pass(dialect, Table("generic", np.zeros(0, np.int64), {}, np.zeros(0, np.int64)))
    for piece in _replay(buffered, pieces):
        parser.feed(as_lines(piece.text), piece.first_line)
        out.line_of.add(piece)
        out.lines = piece.first_line + piece.line_numbers.size
        if piece.line_numbers.size:
            out.last_number = int(piece.line_numbers[-1])
        out.truncated = piece.truncated_last
        if piece.long_lines.size:
            out.long_lines.append(piece.long_lines)
        if piece.nul_lines.size:
            out.nul_lines.append(piece.nul_lines)
        if not parser.settled:
            break
    if not parser.settled:
        return _read_pass(path, encoding, piece_bytes, Forced(parser.wanted))
    out.table = parser.finish()
    return out


def _read_pieces(path: Path, piece_bytes: int | None) -> _Pass:
    """The file parsed in its BOM's encoding, else as UTF-8 or, when any piece is not UTF-8, as Latin-1."""
    try:
        return _read_pass(path, "utf-8", piece_bytes)
    except NotUtf8:
        return _read_pass(path, "latin-1", piece_bytes)


def _shown(indices: np.ndarray, count: int, line_of: LineMap) -> str:
    """File lines of the first line indices, with "…" when `count` says there are more."""
    shown = [line_of(int(i)) for i in indices[:FIRST_BAD_LINES]]
    return ", ".join(map(str, shown)) + (", …" if count > len(shown) else "")


def _step_warnings(repair: StepRepair, line_of: LineMap) -> list[str]:
    """What repair_steps did, with counts and file lines."""
    out = []
    if repair.fraction_dropped.size:
        out.append(
            f"{repair.fraction_dropped.size} row(s) with a fractional step among whole ones skipped "
            f"as damaged (line {_shown(repair.fraction_dropped, repair.fraction_dropped.size, line_of)})."
        )
    if repair.fraction_order is not None:
        fractional, rows = repair.fraction_order
        out.append(
            f"the step is fractional in {fractional} of {rows} row(s): not a step counter; rows are "
            "numbered in file order instead."
        )
    if repair.outliers.size:
        shown = "; ".join(
            f"line {line_of(i)}: step {s} after {a}, before {b}"
            for i, s, a, b in repair.outlier_steps.tolist()
        )
        more = "; …" if repair.outliers.size > len(repair.outlier_steps) else ""
        out.append(
            f"{repair.outliers.size} row(s) with a step out of order with the rows around them "
            f"skipped as damaged, not read as a restart ({shown}{more})."
        )
    if repair.constant is not None:
        out.append(f"every row has step {repair.constant}; rows are numbered in file order instead.")
    if repair.repeated.size:
        out.append(
            f"{repair.repeated.size} line(s) without a step repeat a key already logged at the step "
            f"they follow (line {_shown(repair.repeated, repair.repeated.size, line_of)}); skipped."
        )
    out.extend(repair.resolution.warnings(lambda at: f"line {_shown(at, at.size, line_of)}"))
    if repair.merged:
        out.append(
            f"{repair.merged} row(s) share their step with a later row that logs the same key "
            f"(line {_shown(repair.merged_lines, repair.merged, line_of)}); merged, the later value kept."
        )
    return out


def read(path: Path, companions: Sequence[Path] = (), *, piece_bytes: int | None = None) -> RunLog:
    """RunLog of a console log; InspectorError naming the file when it is not text or holds no metrics.

    The file is read `piece_bytes` (default text_decode.PIECE_BYTES) at a time, cut after a newline,
    so a large log is never held whole; the result does not depend on the piece size.
    """
    path = Path(path)
    done = _read_pieces(path, piece_bytes)
    table = done.table
    line_of = done.line_of
    warnings = list(table.warnings)
    if done.long_lines:
        long_lines = np.concatenate(done.long_lines)
        warnings.append(
            f"{long_lines.size} line(s) over {MAX_LINE_CHARS} characters skipped "
            f"(line {_line_list(long_lines)})."
        )
    if done.nul_lines:
        nul_lines = np.concatenate(done.nul_lines)
        warnings.append(
            f"{nul_lines.size} line(s) holding NUL bytes (a crash leaves zero-filled blocks) "
            f"skipped (line {_line_list(nul_lines)})."
        )
    bad = set(table.bad_lines)
    last = done.lines - 1
    if done.truncated:
        table, dropped = _drop_truncated_tail(table, last)
        if dropped or last in bad:
            bad.discard(last)
            warnings.append(
                f"the last line ({done.last_number}) is cut off (no newline at the end of the file); skipped."
            )
    if bad:
        numbers = [line_of(i) for i in sorted(bad)]
        warnings.append(
            f"{len(numbers)} line(s) look like metrics but could not be parsed "
            f"(line {_line_list(numbers)}); skipped."
        )
    repair = repair_steps(table)
    table = repair.table
    warnings.extend(_step_warnings(repair, line_of))
    del repair
    limit = limits.max_series()
    table = cap_series(table, limit)
    if table.dropped:
        warnings.append(
            f"{len(table.dropped)} series dropped: the log has {len(table.columns) + len(table.dropped)} "
            f"distinct keys and only the first {limit} are kept (INSPECTOR_MAX_SERIES); a log "
            "with that many is usually machine-generated."
        )
    if not table.columns or table.rows.size == 0:
        raise InspectorError(
            "no metric lines found (expected key=value pairs, an mmdet, "
            "Detectron2 or Ultralytics console log)",
            path=path,
        )
    config = dict(table.config)
    config["dialect"] = done.dialect
    del done  # the line map and buffers are not needed while assembling
    return _runlog(str(path), table, config, warnings)


def _runlog(source: str, table: Table, config: dict, warnings: list[str]) -> RunLog:
    """`assemble` of the table's keys logged on every row, plus its sparse keys as series of their own.

    `assemble` takes row-aligned columns; a sparse key would need a rows-long column and mask each
    (the dense table issue 11 measured at 2.3 GB), so its series is cut out of the rows `assemble`'s
    restart rule keeps (`latest_segment_wins`), with the same steps, order and non-finite count.
    """
    dense = {k: c.values for k, c in table.columns.items() if c.rows is None}
    sparse = {k: (c.rows, c.values) for k, c in table.columns.items() if c.rows is not None}
    order = list(table.columns)
    steps = table.steps
    launches = _launch_rows(table)
    log = assemble(
        source,
        NAME,
        table.framework,
        steps,
        dense,
        epochs=table.epochs,
        config=config,
        warnings=warnings,
        step_unit=table.step_unit,
        launches=launches,
    )
    if not sparse:
        return log
    del dense, table
    in_order = bool(np.all(steps[1:] > steps[:-1]))
    keep = None if in_order else latest_segment_wins(steps, segment_ids(steps, launches))
    non_finite: dict[str, int] = {}
    for name, (rows, all_values) in sparse.items():
        at = rows if keep is None else rows[keep[rows]]
        values = all_values if keep is None else all_values[keep[rows]]
        if at.size == 0:
            continue
        s = steps[at]
        if not in_order:
            by_step = np.argsort(s, kind="stable")
            s, values = s[by_step], values[by_step]
        bad = ~np.isfinite(values)
        if bad.any():
            values = values.copy()
            values[bad] = np.nan
            non_finite[name] = int(bad.sum())
        log.series[name] = Series(name, s, values)
    log.series = {k: log.series[k] for k in order if k in log.series}
    if non_finite:
        if log.non_finite:
            log.warnings.pop()  # assemble's count of the dense keys, the last warning it adds: one for all
        log.non_finite.update(non_finite)
        total = sum(log.non_finite.values())
        detail = ", ".join(f"{k}: {v}" for k, v in sorted(log.non_finite.items()))
        log.warnings.append(f"{total} non-finite value(s) kept as NaN ({detail}).")
    return log


def _launch_rows(table: Table) -> np.ndarray | None:
    """Row index of the first row at or after each launch line the dialect marked (None: it marked none).

    The table's rows are file lines in increasing order, also after step repairs dropped or merged some,
    so a launch starts at the first row logged after its banner.
    """
    if table.launches is None or table.launches.size == 0:
        return None
    return np.unique(np.searchsorted(table.rows, table.launches))


def read_log(path: str | Path) -> RunLog:
    """Shortcut used by the benchmark: `read` without companions."""
    return read(Path(path))
