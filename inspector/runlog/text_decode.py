"""Bytes of a console log → clean text lines: decoding, ANSI escapes, CRLF and tqdm carriage returns."""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from inspector.errors import InspectorError

# ESC [ … final byte (colours, cursor moves) and ESC ] … BEL/ST (terminal titles, hyperlinks).
_ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[@-Z\\-_]")
# Control characters that never appear in a console log (tab, LF, CR, ESC and form feed do).
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0e-\x1a\x1c-\x1f\x7f-\x9f]")
# More than this share of control characters means bytes, not text (real logs sit at 0).
MAX_CONTROL_SHARE = 0.01

# Longest line (after tqdm redraws are resolved) that is scanned for metrics. Real metric lines are
# under 2 kB (Detectron2's with ~20 losses is ~600 B); a longer one is a pasted blob or a capture that
# lost its newlines, and scanning a multi-MB line for pairs costs seconds (measured 1.3-2.8 s at 3 MB).
MAX_LINE_CHARS = 100_000

# Characters scanned per slice when measuring line lengths (bounds the temporary copies).
_SCAN_CHARS = 4 << 20

# A progress line's epoch: Ultralytics "  3/100  1.7G …" or "Epoch 3 …" / "Epoch [3] …".
_EPOCH_KEY = re.compile(r"^\s*(\d+)/\d+\s|(?i:\bepoch)\s*\[?\s*(\d+)")


@dataclass(frozen=True)
class TextLines:
    """Decoded lines of a log and the 1-based file line each came from."""

    text: str                    # all lines joined by "\n", maybe plus one final "\n" (not a line)
    line_numbers: np.ndarray     # int64, one per line of `text`
    truncated_last: bool         # the file did not end with a newline: its last line may be cut
    long_lines: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    # ↑ 1-based file lines over MAX_LINE_CHARS, blanked (they stay lines so numbering holds)


def decode_bytes(raw: bytes, path: Path) -> str:
    """The text of a log file, or InspectorError when the bytes are not text."""
    if not raw[:4096].strip() and not raw.strip():
        raise InspectorError("the file is empty", path=path)
    if raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        # PowerShell's `>` writes UTF-16 with a BOM; Python's codec consumes the BOM.
        text = raw.decode("utf-16", errors="replace")
    elif b"\x00" in raw[:65536]:
        raise InspectorError("binary content (NUL bytes), not a text log", path=path)
    else:
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError:
            # Windows consoles and old tools write Latin-1/cp1252; every byte decodes, so check
            # below that the result reads as text rather than accepting any bytes.
            text = raw.decode("latin-1")
    sample = text[:65536]
    if sample and len(_CONTROL.findall(sample)) > MAX_CONTROL_SHARE * len(sample):
        raise InspectorError("binary content (mostly non-printable bytes), not a text log", path=path)
    return text


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
    return [p for i, p in enumerate(parts)
            if i == len(parts) - 1 or (keys[i] is not None and keys[i] != keys[i + 1])]


def clean_text(text: str) -> TextLines:
    """Lines without ANSI escapes, CRLF, tqdm redraws or over-long lines, with their original line numbers."""
    lines = _clean_lines(text)
    if len(lines.text) <= MAX_LINE_CHARS or _longest_line_bytes(lines.text) <= MAX_LINE_CHARS:
        return lines
    split = lines.text.split("\n")
    long = [i for i, line in enumerate(split) if len(line) > MAX_LINE_CHARS]
    if not long:
        return lines
    for i in long:
        split[i] = ""
    return TextLines("\n".join(split), lines.line_numbers, lines.truncated_last,
                     np.unique(lines.line_numbers[np.asarray(long, dtype=np.int64)]))


def _longest_line_bytes(text: str) -> int:
    """Length in UTF-8 bytes (≥ characters) of the longest line.

    Newline positions via numpy (measured ~4× faster than splitting a 1M-line text into a list),
    a few MB of text at a time so the encoded copy and the position arrays stay small.
    """
    longest = run = 0   # `run`: bytes of the line still open at the end of the previous slice
    for at in range(0, len(text), _SCAN_CHARS):
        data = np.frombuffer(text[at:at + _SCAN_CHARS].encode("utf-8", "surrogatepass"), dtype=np.uint8)
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


def read_text(path: Path) -> TextLines:
    """Read, decode and clean a console log; InspectorError naming the file when it is not text."""
    try:
        # No name for the bytes: they are freed once decoded, before cleaning makes its copies.
        return clean_text(decode_bytes(path.read_bytes(), path))
    except OSError as exc:
        raise InspectorError(f"cannot open ({exc.strerror or exc})", path=path) from None
