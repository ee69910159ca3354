"""Generic CSV/TSV tables with a header: one row per logged step, one numeric column per metric.

Also home of `read_table`, the tolerant table parser the other CSV-family readers
(ultralytics, wandb_csv) share: pyarrow parses well-formed files at C speed; anything odd
(short or long rows, a truncated last row, a repeated header, a stray word in a numeric
column) goes through the standard `csv` module instead, which knows line numbers.
"""

from __future__ import annotations

import codecs
import csv
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from inspector.errors import InspectorError
from inspector.runlog.record import RunLog, assemble

NAME = "csv"
DESCRIPTION = "CSV/TSV table with a header row (step column + numeric metric columns)"

# Step column names, most specific first; matched case-insensitively after stripping.
STEP_COLUMNS = ("step", "global_step", "iteration", "iter", "it", "epoch")
DELIMITERS = (",", "\t", ";")
# How many malformed line numbers a warning lists before it says "…".
MAX_LINES_LISTED = 10


@dataclass(frozen=True)
class Table:
    """Numeric columns of a CSV file, row-aligned in file order.

    `columns[name]` is float64 per kept row (NaN where the cell was empty); `present[name]`
    exists only for columns with empty cells and marks the rows where a value was written.
    `lines` is the 1-based line number of each kept row.
    """

    names: tuple[str, ...]
    columns: dict[str, np.ndarray]
    present: dict[str, np.ndarray]
    text_columns: tuple[str, ...]
    lines: np.ndarray
    warnings: tuple[str, ...]


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


def _lines_text(lines: Sequence[int]) -> str:
    shown = ", ".join(str(n) for n in lines[:MAX_LINES_LISTED])
    return shown + (", …" if len(lines) > MAX_LINES_LISTED else "")


def _convert_options(column_types: dict[str, pa.DataType] | None = None) -> pacsv.ConvertOptions:
    # Only empty cells are absent: "nan"/"NaN" are logged values, counted as non-finite.
    return pacsv.ConvertOptions(null_values=[""], strings_can_be_null=True, true_values=[], false_values=[],
                                column_types=column_types)


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
    return {name: pa.float64() for name, col in zip(names, sample.columns)
            if pa.types.is_integer(col.type) or pa.types.is_floating(col.type)}


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
    n = table.num_rows
    # Each Arrow column is released as soon as its NumPy copy exists: the peak holds one column twice,
    # not the whole table.
    pending = dict(zip(names, table.columns))
    del table
    for name in names:
        col = pending.pop(name)
        if pa.types.is_null(col.type):
            continue  # an all-empty column logs nothing
        if pa.types.is_string(col.type) or pa.types.is_large_string(col.type):
            trimmed = pc.utf8_trim_whitespace(col)
            trimmed = pc.if_else(pc.equal(trimmed, ""), pa.scalar(None, pa.string()), trimmed)
            try:
                col = pc.cast(trimmed, pa.float64())
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                return None  # a word in a column: the tolerant parser decides what it is
        elif not (pa.types.is_integer(col.type) or pa.types.is_floating(col.type)):
            text.append(name)  # timestamps, booleans: not metrics
            continue
        col = col.cast(pa.float64())
        if col.null_count:
            present[name] = col.is_valid().to_numpy(zero_copy_only=False)
            col = col.fill_null(np.nan)
        columns[name] = col.to_numpy()
        del col
    return Table(tuple(names), columns, present, tuple(text), np.arange(2, n + 2, dtype=np.int64), ())


def _parse_float(cell: str) -> float | None:
    try:
        return float(cell)
    except ValueError:
        return None


def _records(reader, bad_lines: list[int]) -> list[tuple[int, list[str]]]:
    """(line number, cells) of every row the csv module can split; the lines it cannot go to `bad_lines`."""
    records: list[tuple[int, list[str]]] = []
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return records
        except csv.Error:  # a field over the csv module's size limit, a NUL in a cell: skip the row
            bad_lines.append(reader.line_num)
            continue
        records.append((reader.line_num, row))


def _tolerant_table(path: Path, names: list[str], delimiter: str, raw: bytes) -> Table:
    """The table via the csv module: bad rows are skipped and reported with their line numbers."""
    text = raw.decode("utf-8-sig", errors="replace")
    warnings: list[str] = []
    if "\ufffd" in text:
        warnings.append("some bytes are not UTF-8 and were replaced.")
    ends_with_newline = text.endswith(("\n", "\r"))
    # Universal newlines: a lone CR (old Mac, or CR/CRLF mixed by a console capture) ends a row too.
    reader = csv.reader(io.StringIO(text, newline=None), delimiter=delimiter)
    rows: list[list[str]] = []
    lines: list[int] = []
    bad_lines: list[int] = []
    truncated_line = None
    records = _records(reader, bad_lines)[1:]  # the header, already parsed
    for i, (line, row) in enumerate(records):
        if not row or all(not c.strip() for c in row):
            continue
        if len(row) != len(names):
            if i == len(records) - 1 and not ends_with_newline and len(row) < len(names):
                truncated_line = line
            else:
                bad_lines.append(line)
            continue
        rows.append([c.strip() for c in row])
        lines.append(line)

    cells = list(zip(*rows)) if rows else [() for _ in names]
    parsed: dict[str, list[float | None]] = {}
    text_columns: list[str] = []
    for name, col in zip(names, cells):
        values = [None if c == "" else _parse_float(c) for c in col]
        written = sum(c != "" for c in col)
        failed = sum(v is None for v, c in zip(values, col) if c != "")
        if written == 0:
            continue
        if failed * 2 > written:
            text_columns.append(name)  # mostly words: a text column, not a metric
            continue
        parsed[name] = values
    keep = np.ones(len(rows), dtype=bool)
    for name, values in parsed.items():
        for r, (v, c) in enumerate(zip(values, cells[names.index(name)])):
            if v is None and c != "":
                keep[r] = False
    bad_lines.extend(int(n) for n in np.asarray(lines, dtype=np.int64)[~keep])
    if truncated_line is not None:
        warnings.append(f"the last row (line {truncated_line}) is truncated and was skipped.")
    if bad_lines:
        bad_lines.sort()
        warnings.append(f"{len(bad_lines)} malformed row(s) skipped (line {_lines_text(bad_lines)}).")

    columns: dict[str, np.ndarray] = {}
    present: dict[str, np.ndarray] = {}
    for name, values in parsed.items():
        arr = np.array([np.nan if v is None else v for v in values], dtype=np.float64)[keep]
        mask = np.array([v is not None for v in values], dtype=bool)[keep]
        if not mask.all():
            present[name] = mask
        columns[name] = arr
    return Table(tuple(names), columns, present, tuple(text_columns),
                 np.asarray(lines, dtype=np.int64)[keep], tuple(warnings))


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
        raise InspectorError("the first line is not a CSV/TSV header (no , ; or tab separators)",
                             path=path, line=1)
    fields, delimiter = parsed
    names = _unique_names(fields)
    # Leading blank lines would shift pyarrow's skip_rows; the csv module copes with them.
    table = None if head[:1] in (b"\n", b"\r") else _fast_table(path, names, delimiter, head)
    if table is None:
        table = _tolerant_table(path, names, delimiter, path.read_bytes())
    if table.lines.size == 0:
        raise InspectorError("the table has a header but no data rows", path=path)
    return table


def sniff(path: Path, head: bytes) -> float:
    """0.3 for any text table whose header is followed by a row of the same width with a number."""
    try:
        parsed = header_fields(path, head)
        if parsed is None:
            return 0.0
        fields, delimiter = parsed
        text = head.decode("utf-8-sig", errors="ignore").lstrip("\r\n")
        lines = [ln for ln in text.splitlines()[1:6] if ln.strip()]
        # The last line of a head may be cut; judge by complete ones when there are any.
        for row in csv.reader(lines[:-1] or lines, delimiter=delimiter):
            if len(row) == len(fields) and any(_parse_float(c.strip()) is not None for c in row):
                return 0.3
        return 0.0
    except Exception:  # sniff never raises: a reader that cannot tell says 0
        return 0.0


def pick_step_column(names: Sequence[str], candidates: Sequence[str] = STEP_COLUMNS) -> str | None:
    """The first candidate step column present (case-insensitive), or None."""
    lowered = {n.strip().lower(): n for n in reversed(list(names))}
    for c in candidates:
        if c.lower() in lowered:
            return lowered[c.lower()]
    return None


def table_steps(table: Table, step_column: str | None, path: Path) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """(int64 steps, row mask to keep, warnings) from a step column, or the row index without one."""
    n = table.lines.size
    if step_column is None or step_column not in table.columns:
        return np.arange(n, dtype=np.int64), np.ones(n, dtype=bool), []
    raw = table.columns[step_column]
    ok = np.isfinite(raw)
    if step_column in table.present:
        ok &= table.present[step_column]
    warnings = []
    if not ok.all():
        bad = table.lines[~ok].tolist()
        warnings.append(f"{len(bad)} row(s) without a {step_column!r} value skipped (line {_lines_text(bad)}).")
    steps = raw if not warnings else raw[ok]  # no copy of a million-row column in the usual case
    as_int = steps.astype(np.int64)
    if not np.array_equal(as_int, steps):  # one pass, no rounded temporary
        raise InspectorError(f"the step column {step_column!r} holds fractional values", path=path)
    return as_int, ok, warnings


def keep_rows(table: Table, keep: np.ndarray, exclude: Sequence[str | None] = ()
              ) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """(columns, present masks) of `table` restricted to the `keep` rows, without the `exclude` columns."""
    every = bool(keep.all())  # the usual case: no copy of a million-row column

    def pick(v: np.ndarray) -> np.ndarray:
        return v if every else v[keep]

    columns = {k: pick(v) for k, v in table.columns.items() if k not in exclude}
    present = {k: pick(v) for k, v in table.present.items() if k in columns}
    return columns, present


def read(path: Path, companions: Sequence[Path] = ()) -> RunLog:
    """A RunLog of every numeric column of a CSV/TSV table, over its step column (or row index)."""
    table = read_table(path)
    step_column = pick_step_column(table.names)
    steps, keep, warnings = table_steps(table, step_column, path)
    if step_column is None:
        warnings.append("no step column (step, global_step, iteration, iter, it, epoch); "
                        "the row index is the step.")
    columns, present = keep_rows(table, keep, exclude=(step_column,))
    config = {"text_columns": list(table.text_columns)} if table.text_columns else {}
    unit = "epoch" if step_column is not None and step_column.lower() == "epoch" else "iteration"
    return assemble(str(path), NAME, "generic", steps, columns, present=present or None,
                    config=config, warnings=list(table.warnings) + warnings, step_unit=unit)
