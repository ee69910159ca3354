"""Bytes of a console log → clean text lines: decoding, ANSI escapes, CRLF and tqdm carriage returns.

Large logs are read as line-aligned pieces (`text_pieces`) so the file is never held whole: not as
bytes, not as str, not as an Arrow lines array.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Generator, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import numpy as np

from inspector.errors import InspectorError

# ESC [ … final byte (colours, cursor moves) and ESC ] … BEL/ST (terminal titles, hyperlinks).
_ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[@-Z\\-_]")
# Control characters that never appear in a console log (tab, LF, CR, ESC and form feed do). A run of
# NULs counts once: a crash leaves a zero-filled block in a log that is otherwise text, while binary
# formats scatter NULs everywhere.
_CONTROL = re.compile(r"\x00+|[\x01-\x08\x0b\x0e-\x1a\x1c-\x1f\x7f-\x9f]")
# More than this share of control characters means bytes, not text (real logs sit at 0).
MAX_CONTROL_SHARE = 0.01
# Byte-order marks of the wide encodings, read whole-file in that encoding (UTF-32 LE's BOM begins with
# UTF-16 LE's, so it is tried first). Python's "utf-16"/"utf-32" codecs read the BOM for the byte order.
WIDE_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)

# Longest line (after tqdm redraws are resolved) that is scanned for metrics. Real metric lines are
# under 2 kB (Detectron2's with ~20 losses is ~600 B); a longer one is a pasted blob or a capture that
# lost its newlines, and scanning a multi-MB line for pairs costs seconds (measured 1.3-2.8 s at 3 MB).
MAX_LINE_CHARS = 100_000

# Characters scanned per slice when measuring line lengths (bounds the temporary copies).
_SCAN_CHARS = 4 << 20
# Bytes of a raw piece scanned at a time for its longest line (a bool temporary this size).
_SCAN_BYTES = 1 << 20

# A progress line's epoch: Ultralytics "  3/100  1.7G …" or "Epoch 3 …" / "Epoch [3] …".
_EPOCH_KEY = re.compile(r"^\s*(\d+)/\d+\s|(?i:\bepoch)\s*\[?\s*(\d+)")


@dataclass(frozen=True)
class TextLines:
    """Decoded lines of a log and the 1-based file line each came from."""

    text: str  # all lines joined by "\n", maybe plus one final "\n" (not a line)
    line_numbers: np.ndarray  # int64, one per line of `text`
    truncated_last: bool  # the file did not end with a newline: its last line may be cut
    long_lines: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    # ↑ 1-based file lines over MAX_LINE_CHARS, blanked (they stay lines so numbering holds)
    first_line: int = 0  # index of this piece's first line among all lines of the file
    nul_lines: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    # ↑ 1-based file lines holding a NUL character, blanked likewise


def wide_codec(head: bytes) -> str | None:
    """The codec of the UTF-16/32 byte-order mark `head` starts with; None when it starts with none."""
    return next((codec for bom, codec in WIDE_BOMS if head.startswith(bom)), None)


def binary_reason(sample: str) -> str | None:
    """Why decoded text is bytes rather than a log (NUL or control characters), or None when it reads as
    text."""
    if not sample:
        return None
    if "\x00" in sample and not sample.replace("\x00", "").strip():
        return "binary content (NUL bytes only), not a text log"
    # UTF-16 without its byte-order mark fails here too: every other byte of its ASCII is a NUL.
    if len(_CONTROL.findall(sample)) > MAX_CONTROL_SHARE * len(sample):
        return "binary content (mostly non-printable bytes), not a text log"
    return None


def sniff_text(head: bytes) -> str | None:
    """The head of a file as text (its BOM's encoding, else UTF-8, else Latin-1), or None when it is bytes."""
    if not head:
        return None
    codec = wide_codec(head)
    if codec is not None:
        text = codecs.getincrementaldecoder(codec)(errors="replace").decode(head)
    else:
        text = head.decode("utf-8", errors="replace")
        if text.count("\ufffd") > 0.01 * len(text):
            text = head.decode("latin-1")
    return None if binary_reason(text) else text


def _epoch_key(segment: str) -> str | None:
    m = _EPOCH_KEY.search(segment)
    return None if m is None else (m.group(1) or m.group(2))


def resolve_carriage_returns(line: str) -> list[str]:
    """The states of a `\\r`-updated progress line that count: the last one, and each epoch's final one.

    tqdm redraws a bar with `\\r`; only the last redraw is the bar's final state. When one
    physical line carries several epochs (a capture that lost its newlines), the last redraw of
    every epoch is kept so that no completed epoch disappears.
    """
    parts = [p for p in line.split("\r") if p.strip()]
    if len(parts) <= 1:
        return parts or [""]
    keys = [_epoch_key(p) for p in parts]
    return [
        p
        for i, p in enumerate(parts)
        if i == len(parts) - 1 or (keys[i] is not None and keys[i] != keys[i + 1])
    ]


def clean_text(text: str) -> TextLines:
    """Lines without ANSI escapes, CRLF, tqdm redraws, over-long lines or NUL bytes, with their original line
    numbers.

    An over-long line (MAX_LINE_CHARS) or one holding NUL stays a line, blanked, so that numbering holds.
    """
    lines = _clean_lines(text)
    long = not (len(lines.text) <= MAX_LINE_CHARS or _longest_line_bytes(lines.text) <= MAX_LINE_CHARS)
    if not long and "\x00" not in lines.text:
        return lines
    split = lines.text.split("\n")
    too_long = [i for i, line in enumerate(split) if len(line) > MAX_LINE_CHARS] if long else []
    for i in too_long:
        split[i] = ""
    nul = [i for i, line in enumerate(split) if "\x00" in line]
    for i in nul:
        split[i] = ""
    numbers = lines.line_numbers
    return TextLines(
        "\n".join(split),
        numbers,
        lines.truncated_last,
        np.unique(numbers[np.asarray(too_long, dtype=np.int64)]),
        0,
        np.unique(numbers[np.asarray(nul, dtype=np.int64)]),
    )


def _longest_line_bytes(text: str) -> int:
    """Length in UTF-8 bytes (≥ characters) of the longest line.

    Newline positions via numpy (measured ~4× faster than splitting a 1M-line text into a list),
    a few MB of text at a time so the encoded copy and the position arrays stay small.
    """
    return _longest_run(
        np.frombuffer(text[at : at + _SCAN_CHARS].encode("utf-8", "surrogatepass"), dtype=np.uint8)
        for at in range(0, len(text), _SCAN_CHARS)
    )


def _longest_run(windows: Iterable[np.ndarray]) -> int:
    """Bytes in the longest line of consecutive uint8 windows of one text (a line may span windows)."""
    longest = run = 0  # `run`: bytes of the line still open at the end of the previous window
    for data in windows:
        breaks = np.flatnonzero(data == 10)
        if breaks.size == 0:
            run += data.size
            longest = max(longest, run)
            continue
        gaps = np.diff(breaks) - 1
        longest = max(longest, run + int(breaks[0]), int(gaps.max()) if gaps.size else 0)
        run = data.size - int(breaks[-1]) - 1
        longest = max(longest, run)
    return longest


def _clean_lines(text: str) -> TextLines:
    truncated = bool(text) and not text.endswith(("\n", "\r"))
    if "\x1b" in text:
        text = _ANSI.sub("", text)
    if "\r" in text:
        text = text.replace("\r\n", "\n")
    if "\r" not in text:
        # Fast path (the common case): one output line per file line. The final newline stays (no
        # file-sized copy to cut one character); as_lines drops the empty line after it.
        n = text.count("\n") + (0 if text.endswith("\n") else 1)
        return TextLines(text, np.arange(1, n + 1, dtype=np.int64), truncated)
    if text.endswith("\n"):
        text = text[:-1]
    out: list[str] = []
    numbers: list[int] = []
    for i, line in enumerate(text.split("\n"), start=1):
        if "\r" in line:
            kept = resolve_carriage_returns(line)
            out.extend(kept)
            numbers.extend([i] * len(kept))
        else:
            out.append(line)
            numbers.append(i)
    return TextLines("\n".join(out), np.asarray(numbers, dtype=np.int64), truncated)


# Bytes read per piece. Measured on the 56 MB 1M-line bench log (2-core box): 4 MB pieces keep the
# read at the whole-file speed while a piece's Arrow buffers stay ~10 MB (bench/bench_memory.py).
PIECE_BYTES = 4 << 20
# Head characters judged by binary_reason (NUL and control-character shares).
_HEAD_BYTES = 65536
# Enough bytes to decode _HEAD_BYTES characters of UTF-8 (at most 4 bytes each).
_SAMPLE_BYTES = 4 * _HEAD_BYTES


class NotUtf8(Exception):
    """A piece of the file is not UTF-8: the whole file must be read again as Latin-1."""


def _is_blank(fh: BinaryIO) -> bool:
    fh.seek(0)
    while block := fh.read(PIECE_BYTES):
        if block.strip():
            return False
    return True


def _is_utf8(fh: BinaryIO, piece_bytes: int) -> bool:
    fh.seek(0)
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        while block := fh.read(piece_bytes):
            decoder.decode(block)
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    return True


def _check_head(fh: BinaryIO, path: Path, encoding: str, piece_bytes: int) -> None:
    """Refuse an empty file or one whose head (decoded in `encoding`) is bytes rather than text."""
    fh.seek(0)
    raw = fh.read(_SAMPLE_BYTES)
    if not raw[:4096].strip() and _is_blank(fh):
        raise InspectorError("the file is empty", path=path)
    decoder = codecs.getincrementaldecoder("utf-8-sig" if encoding == "utf-8" else encoding)()
    try:
        sample = decoder.decode(raw, final=len(raw) < _SAMPLE_BYTES)[:_HEAD_BYTES]
    except UnicodeDecodeError:
        raise NotUtf8 from None
    if encoding == "latin-1":
        # The fallback serves files that are UTF-8 but for a few bytes. Read as Latin-1, every UTF-8
        # character beyond ASCII holds C1 control characters (0x80-0x9f): a log whose banner draws a
        # box (YOLOX's exp table, "╒═══") plus one stray byte looked binary. Judge the UTF-8 it mostly is.
        sample = raw.decode("utf-8", errors="replace")[:_HEAD_BYTES]
    reason = binary_reason(sample)
    if reason:
        # The whole-file decode judges the Latin-1 text when any later byte is not UTF-8.
        if encoding == "utf-8" and not _is_utf8(fh, piece_bytes):
            raise NotUtf8
        raise InspectorError(reason, path=path)


def _next_piece(fh: BinaryIO, piece_bytes: int) -> bytes:
    """The next ~`piece_bytes` bytes, ending after a b"\\n" (or at the end of the file); b"" at the end.

    A piece never ends inside a line, so CRLF pairs, tqdm `\\r` runs and multi-byte characters
    (UTF-8 and Latin-1 never use byte 0x0A inside a character) stay whole. A line longer than a
    piece makes its piece longer: a file without any newline (a CR-only capture) is one piece.
    A function rather than a generator, so that no suspended frame keeps the bytes alive while
    their piece is parsed.
    """
    parts: list[bytes] = []
    while block := fh.read(piece_bytes):
        cut = block.rfind(b"\n") + 1
        if cut == 0:
            parts.append(block)
            continue
        if cut < len(block):
            fh.seek(cut - len(block), 1)  # the rest of the line starts the next piece
            block = block[:cut]
        parts.append(block)
        break
    return parts[0] if len(parts) == 1 else b"".join(parts)


def _longest_line(raw: bytes) -> int:
    """Bytes in the longest line of `raw` (≥ its characters), scanned a window at a time (small
    temporaries)."""
    return _longest_run(
        np.frombuffer(raw, dtype=np.uint8, count=min(_SCAN_BYTES, len(raw) - at), offset=at)
        for at in range(0, len(raw), _SCAN_BYTES)
    )


def _shift(lines: TextLines, first_file_line: int, first_line: int) -> TextLines:
    return TextLines(
        lines.text,
        lines.line_numbers + first_file_line,
        lines.truncated_last,
        lines.long_lines + first_file_line,
        first_line,
        lines.nul_lines + first_file_line,
    )


class _WideTexts:
    """The text of a UTF-16/32 file a piece at a time, each piece ending after a "\\n" (the last: at the end).

    Decoded before it is cut: in these encodings byte 0x0A also occurs inside other characters. A
    character the encoding cannot hold (a lone surrogate) becomes U+FFFD, as any damaged byte would.
    Pieces come from `next()` rather than a generator, so no suspended frame keeps one alive while it
    is parsed.
    """

    def __init__(self, fh: BinaryIO, path: Path, codec: str, piece_bytes: int) -> None:
        self.fh, self.codec, self.piece_bytes = fh, codec, piece_bytes
        fh.seek(0)
        sample = codecs.getincrementaldecoder(codec)(errors="replace").decode(fh.read(_SAMPLE_BYTES))
        if not sample.strip() and self._is_blank():
            raise InspectorError("the file is empty", path=path)
        reason = binary_reason(sample[:_HEAD_BYTES])
        if reason:
            raise InspectorError(reason, path=path)
        fh.seek(0)
        self.decoder = codecs.getincrementaldecoder(codec)(errors="replace")
        self.carry: str | None = ""

    def _is_blank(self) -> bool:
        self.fh.seek(0)
        decoder = codecs.getincrementaldecoder(self.codec)(errors="replace")
        while block := self.fh.read(self.piece_bytes):
            if decoder.decode(block).strip():
                return False
        return not decoder.decode(b"", final=True).strip()

    def next(self) -> tuple[str, bool] | None:
        """(the next piece, False: its lines are not known to be short), None at the end."""
        while self.carry is not None:
            block = self.fh.read(self.piece_bytes)
            text = self.carry + self.decoder.decode(block, final=not block)
            if not block:
                self.carry = None
                return (text, False) if text else None
            cut = text.rfind("\n") + 1
            self.carry = text[cut:]
            if cut:
                return text[:cut], False
        return None


class _Utf8Texts:
    """The text of a UTF-8 or Latin-1 file a piece at a time, cut after a b"\\n" (see _next_piece).

    `next()` raises NotUtf8 as soon as a piece is not UTF-8 (the caller starts over in Latin-1).
    """

    def __init__(self, fh: BinaryIO, path: Path, encoding: str, piece_bytes: int) -> None:
        _check_head(fh, path, encoding, piece_bytes)
        fh.seek(0)
        self.fh, self.encoding, self.piece_bytes = fh, encoding, piece_bytes
        self.codec = "utf-8-sig" if encoding == "utf-8" else encoding

    def next(self) -> tuple[str, bool] | None:
        """(the next piece, whether all of its raw lines are short), None at the end."""
        raw = _next_piece(self.fh, self.piece_bytes)
        if not raw:
            return None
        # A clean line is never longer than its raw line, so short raw lines skip the long-line scan.
        short = _longest_line(raw) <= MAX_LINE_CHARS
        try:
            text = raw.decode(self.codec)
        except UnicodeDecodeError:
            raise NotUtf8 from None
        # Only the file's first piece may start with a BOM; elsewhere U+FEFF is a character.
        self.codec = self.encoding
        return text, short


def text_pieces(
    path: Path, encoding: str = "utf-8", piece_bytes: int | None = None
) -> Generator[TextLines, None, None]:
    """Clean lines of a console log, a piece at a time, numbered as in the whole file.

    A file that starts with a UTF-16/32 byte-order mark is read in that encoding. Otherwise `encoding`
    is "utf-8" (raises NotUtf8 as soon as a piece is not: the caller starts over with "latin-1", as
    Windows consoles and old tools write it) or "latin-1". InspectorError naming the file when it
    cannot be opened, is empty or is not text.
    """
    piece_bytes = piece_bytes or PIECE_BYTES
    try:
        with open(path, "rb") as fh:
            codec = wide_codec(fh.read(4))
            source = (
                _WideTexts(fh, path, codec, piece_bytes)
                if codec
                else _Utf8Texts(fh, path, encoding, piece_bytes)
            )
            file_lines = lines = 0
            while (got := source.next()) is not None:
                text, short = got
                del got
                piece = _clean_lines(text) if short and "\x00" not in text else clean_text(text)
                del text
                # Every file line yields at least one clean line, so the last number counts the file lines.
                yield _shift(piece, file_lines, lines)
                file_lines += int(piece.line_numbers[-1]) if piece.line_numbers.size else 0
                lines += int(piece.line_numbers.size)
    except OSError as exc:
        raise InspectorError(f"cannot open ({exc.strerror or exc})", path=path) from None
