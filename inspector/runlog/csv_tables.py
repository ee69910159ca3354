"""CSV tables for the CSV-family readers (csv, ultralytics, wandb_csv): the tolerant parser, the step
column.

`read_table`: pyarrow parses well-formed files at C speed; anything odd (short or long rows, a truncated
last row, a repeated header, a stray word in a numeric column, a quote left open, bytes that are not UTF-8)
goes through the standard `csv` module instead, which knows line numbers. There a bad row costs only its
own line (csv_records). `table_steps` settles the step column's rows through `step_column.plan_steps`.
"""

from __future__ import annotations

import codecs
import csv
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from inspector import limits
from inspector.errors import InspectorError
from inspector.runlog.csv_records import first_line_number, read_records
from inspector.runlog.row_names import clock_key, split_key
from inspector.runlog.shared_steps import Labels
from inspector.runlog.step_column import RowEvidence, StepPlan, lines_text, moved, plan_steps

# Step column names, most specific first; matched case-insensitively after stripping.
STEP_COLUMNS = ("step", "global_step", "iteration", "iter", "it", "epoch")
DELIMITERS = (",", "\t", ";")
# Most distinct values a column of words may hold to be read as a text column by the fast path (a
# split column holds 2-4, a run-name column a few); more goes to the tolerant parser, which decides
# per cell (a repeated header line among numbers is not a text column).
MAX_WORDS = 64


@dataclass(frozen=True)
class Table:
    """Numeric columns of a CSV file, row-aligned in file order.

    `columns[name]` is float64 per kept row (NaN where the cell was empty); `present[name]`
    exists only for columns with empty cells and marks the rows where a value was written.
    `lines` is the 1-based line number of each kept row. `labels` holds the split column's words
    per kept row (a text column named as row_names.SPLIT_KEYS), `headers` the lines where the
    header line was written again (a relaunched trainer appending to its table).
    """

    names: tuple[str, ...]
    columns: dict[str, np.ndarray]
    present: dict[str, np.ndarray]
    text_columns: tuple[str, ...]
    lines: np.ndarray
    warnings: tuple[str, ...]
    labels: Labels | None = None
    headers: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))


def header_fields(path: Path, head: bytes) -> tuple[list[str], str] | None:
    """Stripped header names and the delimiter of a table's first line; None if it is not one."""
    if not head or b"\x00" in head[:4096]:
        return None
    # Only the header line must be UTF-8: a stray byte in a later row is the tolerant parser's to
    # report (with its line), not a reason to call the whole file something else.
    body = head.removeprefix(codecs.BOM_UTF8).lstrip(b"\r\n")
    line_end = body.find(b"\n")
    first_bytes = body if line_end < 0 else body[:line_end]
    try:
        text = first_bytes.decode("utf-8", errors="strict")
    except UnicodeDecodeError as exc:
        # A 64 KiB head may cut a multi-byte character of a very long header at its very end.
        if line_end >= 0 or exc.start < len(first_bytes) - 4:
            return None
        text = first_bytes[: exc.start].decode("utf-8")
    # splitlines: a lone CR (old Mac, a console capture mixing CR and CRLF) ends the header too.
    first = (text.lstrip("\r\n").splitlines() or [""])[0]
    delimiter = max(DELIMITERS, key=first.count)
    if first.count(delimiter) < 1:
        return None
    try:
        fields = next(csv.reader([first], delimiter=delimiter))
    except csv.Error:  # a NUL or an over-long field: not a header we can use
        return None
    return [f.strip() for f in fields], delimiter


def _unique_names(names: Sequence[str]) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for i, name in enumerate(names):
        name = name or f"column_{i + 1}"
        if name in seen:
            seen[name] += 1
            name = f"{name} ({seen[name]})"
        else:
            seen[name] = 1
        out.append(name)
    return out


def _convert_options(column_types: dict[str, pa.DataType] | None = None) -> pacsv.ConvertOptions:
    # Only empty cells are absent: "nan"/"NaN" are logged values, counted as non-finite.
    return pacsv.ConvertOptions(
        null_values=[""], strings_can_be_null=True, true_values=[], false_values=[], column_types=column_types
    )


def _numeric_hints(head: bytes, names: list[str], delimiter: str) -> dict[str, pa.DataType]:
    """float64 for every column the complete rows of `head` show as numbers; {} when they show nothing.

    Told the types, pyarrow converts each block once; left to infer them on a 1M-row file, its pool
    peaked at 2.7× the finished table (239 MB vs 99 MB measured, bench/bench_memory.py). A column that
    holds a word further down still fails the read, and the tolerant parser takes the file as before.
    """
    complete = head[: head.rfind(b"\n") + 1]
    if complete.count(b"\n") < 2:  # the header alone: nothing to learn from
        return {}
    try:
        sample = pacsv.read_csv(
            pa.py_buffer(complete),
            read_options=pacsv.ReadOptions(column_names=names, skip_rows=1, use_threads=False),
            parse_options=pacsv.ParseOptions(delimiter=delimiter),
            convert_options=_convert_options(),
        )
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return {}
    return {
        name: pa.float64()
        for name, col in zip(names, sample.columns, strict=False)
        if pa.types.is_integer(col.type) or pa.types.is_floating(col.type)
    }


def _data_lines(path: Path, block: int = 1 << 24) -> int:
    """Lines after the header (LF, CRLF, or CR alone in a file without LF), counted in 16 MiB blocks."""
    newlines = returns = 0
    last = b""
    with open(path, "rb") as fh:
        while chunk := fh.read(block):
            newlines += chunk.count(b"\n")
            returns += chunk.count(b"\r")
            last = chunk[-1:]
    breaks = newlines or returns
    return breaks - 1 + (last not in (b"\n", b"\r"))


def _fast_table(path: Path, names: list[str], delimiter: str, head: bytes = b"") -> Table | None:
    """The table via pyarrow, or None when the file needs the tolerant parser."""
    try:
        # A row of the wrong width raises here (no invalid_row_handler: pyarrow decodes the row's text
        # for the handler and prints an ignored UnicodeDecodeError when it is not UTF-8).
        table = pacsv.read_csv(
            path,
            read_options=pacsv.ReadOptions(column_names=names, skip_rows=1),
            parse_options=pacsv.ParseOptions(delimiter=delimiter),
            convert_options=_convert_options(_numeric_hints(head, names, delimiter) or None),
        )
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None
    columns: dict[str, np.ndarray] = {}
    present: dict[str, np.ndarray] = {}
    text: list[str] = []
    labels: Labels | None = None
    n = table.num_rows
    if n != _data_lines(path):
        # pyarrow skips blank lines and joins a quoted cell's lines: row i is then not line i + 2, and
        # a warning would name the wrong line (line 3 for line 4). The tolerant parser counts them.
        return None
    # Each Arrow column is released as soon as its NumPy copy exists: the peak holds one column twice,
    # not the whole table.
    pending = dict(zip(names, table.columns, strict=False))
    del table
    for name in names:
        col = pending.pop(name)
        if pa.types.is_null(col.type):
            continue  # an all-empty column logs nothing
        if pa.types.is_binary(col.type) or pa.types.is_large_binary(col.type):
            return None  # bytes that are not UTF-8: the tolerant parser names their lines
        if pa.types.is_string(col.type) or pa.types.is_large_string(col.type):
            # pyarrow reads a quote left open on through the line ends ('2,0.4,"0.1\n' gave lr "0.1\n"):
            # a line break in a cell is for the tolerant parser to judge, with its line numbers.
            if pc.any(pc.match_substring_regex(col, r"[\r\n]")).as_py():
                return None
            trimmed = pc.utf8_trim_whitespace(col)
            trimmed = pc.if_else(pc.equal(trimmed, ""), pa.scalar(None, pa.string()), trimmed)
            try:
                col = pc.cast(trimmed, pa.float64())
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                if not _all_words(trimmed):
                    return None  # a word among numbers: the tolerant parser decides what it is
                text.append(name)  # words only (a split column, run names): a text column, as parsed
                if labels is None and split_key([name]) is not None:
                    labels = _labels(name, trimmed)
                continue
        elif not (pa.types.is_integer(col.type) or pa.types.is_floating(col.type)):
            text.append(name)  # timestamps, booleans: not metrics
            continue
        col = col.cast(pa.float64())
        if col.null_count:
            present[name] = col.is_valid().to_numpy(zero_copy_only=False)
            col = col.fill_null(np.nan)
        columns[name] = col.to_numpy()
        del col
    return Table(tuple(names), columns, present, tuple(text), np.arange(2, n + 2, dtype=np.int64), (), labels)


def _all_words(column: pa.ChunkedArray) -> bool:
    """Whether the non-empty cells of a string column take at most MAX_WORDS values, none of them a number."""
    distinct = pc.unique(column.drop_null())
    if len(distinct) > MAX_WORDS:
        return False
    return all(parse_float(v) is None for v in distinct.to_pylist())


def _labels(name: str, column: pa.ChunkedArray) -> Labels:
    """The split column's words per row (None where empty), dictionary-encoded: no Python object per row."""
    encoded = pc.dictionary_encode(column).combine_chunks()
    words = np.array(encoded.dictionary.to_pylist() + [None], dtype=object)
    codes = encoded.indices.fill_null(len(words) - 1).to_numpy(zero_copy_only=False)
    return Labels.of(name, words).take(codes)


def parse_float(cell: str) -> float | None:
    try:
        return float(cell)
    except ValueError:
        return None


def _tolerant_table(path: Path, names: list[str], delimiter: str, raw: bytes) -> Table:
    """The table via the csv module: bad rows are skipped and reported with their line numbers."""
    text = raw.decode("utf-8-sig", errors="replace")
    warnings: list[str] = []
    ends_with_newline = text.endswith(("\n", "\r"))
    rows: list[list[str]] = []
    lines: list[int] = []
    bad_lines: list[int] = []
    replaced_lines: list[int] = []
    header_lines: list[int] = []
    truncated_line = None
    header_line = first_line_number(text)
    records = [r for r in read_records(text, delimiter, len(names), bad_lines) if r[0] != header_line]
    bad_lines = [n for n in bad_lines if n != header_line]  # the header is already parsed
    for i, (line, row) in enumerate(records):
        if not row or all(not c.strip() for c in row):
            continue
        if "\ufffd" in text and any("\ufffd" in c for c in row):
            replaced_lines.append(line)
        if len(row) == len(names) and _unique_names([c.strip() for c in row]) == names:
            # The header again: a trainer that writes its header on each start appended a new launch
            # (Ultralytics and Lightning write it only into a new file; custom loggers often do not check).
            # It is no row: counted with the skipped ones, as it always was, and said to start a launch.
            header_lines.append(line)
            bad_lines.append(line)
            continue
        if len(row) != len(names):
            if i == len(records) - 1 and not ends_with_newline and len(row) < len(names):
                truncated_line = line
            else:
                bad_lines.append(line)
            continue
        rows.append([c.strip() for c in row])
        lines.append(line)
    if replaced_lines:
        warnings.append(
            f"{len(replaced_lines)} row(s) hold bytes that are not UTF-8, replaced by U+FFFD "
            f"(line {lines_text(replaced_lines)})."
        )
    if header_lines:
        warnings.append(
            f"the header line is written again (line {lines_text(header_lines)}): a relaunched "
            "trainer appended to the table; the rows after it are a new launch."
        )

    cells = list(zip(*rows, strict=False)) if rows else [() for _ in names]
    parsed: dict[str, list[float | None]] = {}
    text_columns: list[str] = []
    for name, col in zip(names, cells, strict=False):
        values = [None if c == "" else parse_float(c) for c in col]
        written = sum(c != "" for c in col)
        failed = sum(v is None for v, c in zip(values, col, strict=True) if c != "")
        if written == 0:
            continue
        if failed * 2 > written:
            text_columns.append(name)  # mostly words: a text column, not a metric
            continue
        parsed[name] = values
    keep = np.ones(len(rows), dtype=bool)
    for name, values in parsed.items():
        for r, (v, c) in enumerate(zip(values, cells[names.index(name)], strict=False)):
            if v is None and c != "":
                keep[r] = False
    bad_lines.extend(int(n) for n in np.asarray(lines, dtype=np.int64)[~keep])
    if truncated_line is not None:
        warnings.append(f"the last row (line {truncated_line}) is truncated and was skipped.")
    if bad_lines:
        bad_lines.sort()
        warnings.append(f"{len(bad_lines)} malformed row(s) skipped (line {lines_text(bad_lines)}).")

    columns: dict[str, np.ndarray] = {}
    present: dict[str, np.ndarray] = {}
    for name, values in parsed.items():
        arr = np.array([np.nan if v is None else v for v in values], dtype=np.float64)[keep]
        mask = np.array([v is not None for v in values], dtype=bool)[keep]
        if not mask.all():
            present[name] = mask
        columns[name] = arr
    split = split_key(text_columns)
    labels = None
    if split is not None:
        cells_of = cells[names.index(split)]
        labels = Labels.of(split, np.array([c or None for c in cells_of], dtype=object)[keep])
    return Table(
        tuple(names),
        columns,
        present,
        tuple(text_columns),
        np.asarray(lines, dtype=np.int64)[keep],
        tuple(warnings),
        labels,
        np.asarray(header_lines, dtype=np.int64),
    )


_NOT_SERIES = frozenset(c.lower() for c in (*STEP_COLUMNS, "_step", "_runtime", "_timestamp", "time"))


def _cap_columns(table: Table, cap: int) -> Table:
    """`table` with at most `cap` metric columns (the first,
    in file order), and a warning when it had more."""
    metrics = [
        name for name in table.names if name in table.columns and name.strip().lower() not in _NOT_SERIES
    ]
    if len(metrics) <= cap:
        return table
    dropped = set(metrics[cap:])
    warning = (
        f"{len(metrics):,} numeric columns: the first {cap:,} are read, the {len(dropped):,} after them "
        f"(from {metrics[cap]!r}) are not (limits.max_series(), INSPECTOR_MAX_SERIES)."
    )
    return replace(
        table,
        columns={k: v for k, v in table.columns.items() if k not in dropped},
        present={k: v for k, v in table.present.items() if k not in dropped},
        warnings=(*table.warnings, warning),
    )


def read_table(path: Path) -> Table:
    """The numeric columns of a CSV/TSV file with a header; InspectorError when it is not one."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(65536)
    except OSError as exc:
        raise InspectorError(f"cannot open ({exc.strerror or exc})", path=path) from None
    if not head.strip():
        raise InspectorError("the file is empty", path=path)
    if b"\x00" in head[:4096]:
        raise InspectorError("binary content, not a CSV table", path=path)
    parsed = header_fields(path, head)
    if parsed is None:
        raise InspectorError(
            "the first line is not a CSV/TSV header (no , ; or tab separators)", path=path, line=1
        )
    fields, delimiter = parsed
    names = _unique_names(fields)
    # Leading blank lines would shift pyarrow's skip_rows; the csv module copes with them.
    table = None if head[:1] in (b"\n", b"\r") else _fast_table(path, names, delimiter, head)
    if table is None:
        table = _tolerant_table(path, names, delimiter, path.read_bytes())
    if table.lines.size == 0:
        raise InspectorError("the table has a header but no data rows", path=path)
    return _cap_columns(table, limits.max_series())


# Bookkeeping columns the readers take steps and times from: never dropped by the series cap.
def pick_step_column(names: Sequence[str], candidates: Sequence[str] = STEP_COLUMNS) -> str | None:
    """The first candidate step column present (case-insensitive), or None."""
    lowered = {n.strip().lower(): n for n in reversed(list(names))}
    for c in candidates:
        if c.lower() in lowered:
            return lowered[c.lower()]
    return None


def table_steps(
    table: Table, step_column: str | None, exclude: Sequence[str | None] = (), *, roles: bool = False
) -> StepPlan:
    """The StepPlan of `table` over `step_column` (see step_column.py), or the row order without one.

    `exclude` names the columns that are not metrics (they do not tell a constant step column's rows
    apart). With `roles`, what the rows say about themselves is read too (a split column, eval rows at
    a training row's step, relaunches: shared_steps.py); the caller then takes the columns through
    `keep_rows` (which applies the plan's moves) and gives `plan.launches` to `assemble(launches=)`.
    """
    n = table.lines.size
    metrics = {
        k: (v, table.present.get(k))
        for k, v in table.columns.items()
        if k != step_column and k not in exclude
    }
    evidence = None
    if roles:
        evidence = RowEvidence(
            labels=table.labels, launch_lines=table.headers, clock=clock_key(list(metrics))
        )
    if step_column is None or step_column not in table.columns:
        if evidence is None:
            return StepPlan(np.arange(n, dtype=np.int64), None, None, None, True, ())
        # No step column: the row order is the step; a split column and launches still count.
        plan = plan_steps(
            np.arange(n, dtype=np.float64), None, table.lines, "row", metrics=metrics, evidence=evidence
        )
        return replace(plan, row_order=True)
    return plan_steps(
        table.columns[step_column],
        table.present.get(step_column),
        table.lines,
        step_column,
        metrics=metrics,
        evidence=evidence,
    )


def keep_rows(
    table: Table, plan: StepPlan, exclude: Sequence[str | None] = ()
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """(columns, written masks) of `table` per output row of `plan`, without the `exclude` columns.

    The plan's moves are applied first (an eval row's `loss` becomes `val/loss`). A column every output
    row writes has no mask; in the usual log (every row kept, no step shared, nothing moved) the
    columns are passed on without a copy.
    """
    cells = {
        name: (values, table.present.get(name))
        for name, values in table.columns.items()
        if name not in exclude
    }
    if plan.moves:
        cells = moved(cells, plan.moves, table.lines.size)
    columns: dict[str, np.ndarray] = {}
    present: dict[str, np.ndarray] = {}
    for name, (values, written) in cells.items():
        if written is not None and not written.any():
            continue  # every value moved elsewhere
        columns[name], mask = plan.take(values, written)
        if mask is not None:
            present[name] = mask
    return columns, present
