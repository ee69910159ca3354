"""CSV records with their line numbers, for the tolerant path of csv_tables.read_table: the standard `csv`
module reads RFC 4180 records (a quoted cell may span lines), and a quote left open costs only its own line
instead of every row after it (`_Lines`)."""

from __future__ import annotations

import csv
import io

# Most lines one record may span (a quoted cell with line breaks, RFC 4180). Metric tables hold none;
# W&B and pandas write notes cells of a few lines. More is a quote left open, not a cell.
MAX_RECORD_LINES = 16


class _RecordTooLong(Exception):
    """A quoted field left open: the record would swallow the rows after it."""


class _Lines:
    """The text's lines for one csv.reader, remembering the lines of the record being read.

    A quote left open (a cut or damaged cell) makes the csv module read on until the next quote:
    measured on a 10,001-line file, one open quote at line 5,002 swallowed the rows up to the end
    (or up to the csv module's 128 KiB field limit). A record may span lines only as RFC 4180 allows
    it for a quoted line break: at most MAX_RECORD_LINES lines, none of which is a complete row on
    its own. Otherwise `_RecordTooLong` ends the record, its first line is the malformed row, and the
    lines after it are read again (`replay_after_first`).
    """

    def __init__(self, text: str, delimiter: str, width: int):
        self._src = io.StringIO(text, newline=None)  # universal newlines: a lone CR ends a row too
        self._replay: list[str] = []
        self._delimiter, self._width = delimiter, width
        self.record: list[str] = []  # the lines of the record being read
        self.line = 0  # lines handed out so far (the last one's 1-based number)

    def __iter__(self) -> _Lines:
        return self

    def __next__(self) -> str:
        line = self._replay.pop() if self._replay else self._src.readline()
        if not line:
            raise StopIteration
        if self.record and (len(self.record) >= MAX_RECORD_LINES or self._is_row(line)):
            self._replay.append(line)
            raise _RecordTooLong
        self.record.append(line)
        self.line += 1
        return line

    def _is_row(self, line: str) -> bool:
        """Whether `line` alone is a complete row of the header's width (then it is no continuation)."""
        try:
            return len(next(csv.reader([line], delimiter=self._delimiter, strict=True), [])) == self._width
        except csv.Error:
            return False

    def begin(self) -> int:
        """Start a record; the 1-based line number it will start at."""
        self.record = []
        return self.line + 1

    def replay_after_first(self) -> None:
        """Give back every line of the current record but its first (which is the malformed one)."""
        rest = self.record[1:]
        self._replay.extend(reversed(rest))
        self.line -= len(rest)
        self.record = []


def read_records(text: str, delimiter: str, width: int, bad_lines: list[int]) -> list[tuple[int, list[str]]]:
    """(first line number, cells) of every record; lines that are no record go to `bad_lines`.

    strict: a quote left open at the end of the file, or text after a closing quote, is an error
    (the lenient reader made `5,0.5,"0.01` a good row and `"ab"c` the cell `abc`).
    """
    lines = _Lines(text, delimiter, width)
    reader = csv.reader(lines, delimiter=delimiter, strict=True)
    records: list[tuple[int, list[str]]] = []
    while True:
        first = lines.begin()
        try:
            row = next(reader)
        except StopIteration:
            return records
        except (_RecordTooLong, csv.Error):  # an open quote, a field over the csv module's size limit
            bad_lines.append(first)
            lines.replay_after_first()
            reader = csv.reader(lines, delimiter=delimiter, strict=True)  # the old one is mid-record
            continue
        if len(lines.record) > 1 and len(row) != width:
            bad_lines.append(first)
            lines.replay_after_first()
            reader = csv.reader(lines, delimiter=delimiter, strict=True)
            continue
        records.append((first, row))


def first_line_number(text: str) -> int:
    """The 1-based number of the first non-blank line (the header), counting CR, LF and CRLF once each."""
    blank = text[: len(text) - len(text.lstrip("\r\n"))]
    return 1 + blank.replace("\r\n", "\n").replace("\r", "\n").count("\n")
