"""Plain-text console logs: generic `key=value` lines, mmdet 2.x, Detectron2 log.txt, Ultralytics stdout.

The reader the registry calls for anything printed to a terminal. Decoding and tqdm clean-up live
in text_decode, the vectorised pair extraction in text_pairs, the per-program step counters in
text_dialects; this module only picks the dialect, feeds it the file a piece at a time and hands the
columns to `assemble`. The file is never held whole (issue 7: a 1M-line log peaks at ≤ 3× its numeric
payload; measured 2.8× with bench/bench_memory.py, from 13× when the whole text was decoded).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np

from inspector.errors import InspectorError
from inspector.runlog.record import RunLog, assemble
from inspector.runlog.text_decode import MAX_LINE_CHARS, NotUtf8, TextLines, text_pieces
from inspector.runlog.text_dialects import (DETECT_CHARS, DIALECT_SNIFF, FIRST_BAD_LINES, PARSERS, PieceParser,
                                            detect_dialect)
from inspector.runlog.text_pairs import as_lines
from inspector.runlog.text_table import Table

NAME = "text"
DESCRIPTION = "Plain-text console log (key=value lines, mmdet 2.x, Detectron2 log.txt, Ultralytics stdout)"

# Lines with a pair in the head before a file counts as a generic key=value log.
MIN_PAIR_LINES = 3
_PAIR_LINE = re.compile(r"(?m)^.*?(?<![\w\"'])[A-Za-z_][\w./\-]*\s*[=:]\s*[-+]?(?:\d|\.\d)[^\n]*$")
SNIFF_SCORE = 0.5   # a fallback reader: any more specific format that claims the file wins


def sniff(path: Path, head: bytes) -> float:
    """0.5 when `head` reads as text with a known dialect or ≥ 3 key=value lines; else 0.0."""
    try:
        if not head or b"\x00" in head:
            return 0.0
        text = head.decode("utf-8", errors="replace")
        if text.count("\ufffd") > 0.01 * len(text):
            text = head.decode("latin-1")
        if any(p.search(text) for p in DIALECT_SNIFF.values()):
            return SNIFF_SCORE
        return SNIFF_SCORE if len(_PAIR_LINE.findall(text)) >= MIN_PAIR_LINES else 0.0
    except Exception:   # sniffing must never fail detection
        return 0.0


def _line_list(numbers: np.ndarray) -> str:
    shown = ", ".join(str(int(x)) for x in numbers[:FIRST_BAD_LINES])
    return shown + (", …" if numbers.size > FIRST_BAD_LINES else "")


def _drop_truncated_tail(table: Table, last_line: int) -> tuple[Table, bool]:
    """`table` without its last row when that row is the file's unterminated, incomplete last line."""
    if table.rows.size == 0 or table.rows[-1] != last_line:
        return table, False
    if table.rows.size > 1:
        have = [k for k, p in table.present.items() if p[-1]]
        before = [k for k, p in table.present.items() if p[-2]]
        if set(before) <= set(have):
            return table, False   # as complete as the row before it: only the newline is missing
    keep = slice(0, table.rows.size - 1)
    return Table(table.framework, table.steps[keep], {k: v[keep] for k, v in table.columns.items()},
                 {k: v[keep] for k, v in table.present.items()}, table.rows[keep], table.step_unit,
                 table.epochs, table.config, table.warnings, table.bad_lines), True


@dataclass
class _Pass:
    """One read of the file: the dialect's table and what the reader warns about."""

    dialect: str
    table: Table
    lines: int = 0                      # clean lines in the file
    last_number: int = 0                # file line of the last clean line
    truncated: bool = False
    long_lines: list[np.ndarray] = field(default_factory=list)
    numbers: dict[int, int] = field(default_factory=dict)   # bad line index → file line


def _head(pieces: list[TextLines]) -> str:
    """The first DETECT_CHARS of the clean text, as the whole-file text would begin."""
    return "\n".join(p.text[:-1] if p.text.endswith("\n") else p.text for p in pieces)[:DETECT_CHARS]


def _replay(buffered: list[TextLines], rest: Iterator[TextLines]) -> Iterator[TextLines]:
    while buffered:
        yield buffered.pop(0)    # dropped from the buffer as soon as it is parsed
    yield from rest


def _read_pass(path: Path, encoding: str, piece_bytes: int | None, choice: tuple) -> _Pass:
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
    parser: PieceParser = PARSERS[dialect](*choice)
    out = _Pass(dialect, Table("generic", np.zeros(0, np.int64), {}, {}, np.zeros(0, np.int64)))
    for piece in _replay(buffered, pieces):
        seen = len(parser.bad)
        parser.feed(as_lines(piece.text), piece.first_line)
        for index in parser.bad[seen:]:
            out.numbers[index] = int(piece.line_numbers[index - piece.first_line])
        out.lines = piece.first_line + piece.line_numbers.size
        if piece.line_numbers.size:
            out.last_number = int(piece.line_numbers[-1])
        out.truncated = piece.truncated_last
        if piece.long_lines.size:
            out.long_lines.append(piece.long_lines)
        if not parser.settled:
            break
    if not parser.settled:
        return _read_pass(path, encoding, piece_bytes, (parser.wanted,))
    out.table = parser.finish()
    return out


def _read_pieces(path: Path, piece_bytes: int | None) -> _Pass:
    """The file parsed as UTF-8 or, when any piece is not UTF-8, as Latin-1 throughout (like decode_bytes)."""
    try:
        return _read_pass(path, "utf-8", piece_bytes, ())
    except NotUtf8:
        return _read_pass(path, "latin-1", piece_bytes, ())


def read(path: Path, companions: Sequence[Path] = (), *, piece_bytes: int | None = None) -> RunLog:
    """RunLog of a console log; InspectorError naming the file when it is not text or holds no metrics.

    The file is read `piece_bytes` (default text_decode.PIECE_BYTES) at a time, cut after a newline,
    so a large log is never held whole; the result does not depend on the piece size.
    """
    path = Path(path)
    done = _read_pieces(path, piece_bytes)
    table = done.table
    warnings = list(table.warnings)
    if done.long_lines:
        long_lines = np.concatenate(done.long_lines)
        warnings.append(f"{long_lines.size} line(s) over {MAX_LINE_CHARS} characters skipped "
                        f"(line {_line_list(long_lines)}).")
    bad = set(table.bad_lines)
    last = done.lines - 1
    if done.truncated:
        table, dropped = _drop_truncated_tail(table, last)
        if dropped or last in bad:
            bad.discard(last)
            warnings.append(f"the last line ({done.last_number}) is cut off "
                            "(no newline at the end of the file); skipped.")
    if bad:
        numbers = np.array([done.numbers[i] for i in sorted(bad)], dtype=np.int64)
        warnings.append(f"{numbers.size} line(s) look like metrics but could not be parsed "
                        f"(line {_line_list(numbers)}); skipped.")
    if not table.columns or table.rows.size == 0:
        raise InspectorError("no metric lines found (expected key=value pairs, an mmdet, "
                             "Detectron2 or Ultralytics console log)", path=path)
    config = dict(table.config)
    config["dialect"] = done.dialect
    # A metric logged on every row needs no mask: assemble then keeps its column without a copy.
    present = {k: p for k, p in table.present.items() if not p.all()}
    framework, steps, columns, epochs, step_unit = (table.framework, table.steps, table.columns,
                                                    table.epochs, table.step_unit)
    del table, done   # the row indices and masks are not needed while assembling
    return assemble(str(path), NAME, framework, steps, columns, present=present, epochs=epochs,
                    config=config, warnings=warnings, step_unit=step_unit)


def read_log(path: str | Path) -> RunLog:
    """Shortcut used by the benchmark: `read` without companions."""
    return read(Path(path))
