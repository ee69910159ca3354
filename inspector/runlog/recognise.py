"""What a file no reader claims looks like, in the user's terms, so the message says what was recognised and
what was expected instead of listing parser ids."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping

# Leading bytes of files people upload by mistake (the formats' own magic numbers).
MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF8", "a GIF image"),
    (b"%PDF", "a PDF document"),
    (b"PK\x03\x04", "a ZIP archive (a PyTorch checkpoint is one: open checkpoints on the Episodes page)"),
    (b"\x1f\x8b", "a gzip archive (unpack it first)"),
    (b"\x80\x02", "a Python pickle (a checkpoint? open checkpoints on the Episodes page)"),
    (b"\x89HDF", "an HDF5 file"),
    (b"SQLite format 3", "an SQLite database"),
)
_NUMBER_PAIR = re.compile(r"[A-Za-z_][\w./-]*\s*[:=]\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?")


def describe_content(head: bytes) -> str:
    """What the file's first bytes look like, e.g. "a PNG image", "plain text (3 lines) with no numbers as
    `name: value` or in columns", "JSON, but one document rather than one object per line"."""
    for magic, what in MAGIC:
        if head.startswith(magic):
            return what
    if b"\x00" in head[:4096]:
        return "binary data"
    text = head.decode("utf-8", errors="replace")
    lines = [ln for ln in text.splitlines() if ln.strip()]
    first = lines[0].strip() if lines else ""
    if first.startswith(("{", "[")):
        return _describe_json(text, first)
    if first.startswith("<"):
        return "markup (HTML or XML), not a log"
    if (
        len(lines) > 1
        and first.count(",") >= 1
        and all(ln.count(",") == first.count(",") for ln in lines[:5])
    ):
        return f"a comma-separated table (header: {_clip(first)}) with no step column or no numeric column"
    return f"plain text ({len(lines)} line{'s' * (len(lines) != 1)} read) with " + (
        "numbers as `name: value`, but no loss or step the text reader could tie together"
        if _NUMBER_PAIR.search(text)
        else "no numbers as `name: value` or in columns"
    )


def _describe_json(text: str, first: str) -> str:
    try:
        row = json.loads(first)
    except ValueError:
        try:
            json.loads(text)
        except ValueError:
            return "JSON-like text that does not parse (cut off, or not JSON)"
        return "one JSON document, not one object per line (JSON lines)"
    if isinstance(row, Mapping):
        numbers = [k for k, v in row.items() if isinstance(v, (int, float)) and not isinstance(v, bool)]
        if not numbers:
            return f"JSON lines whose first object ({_clip(first)}) holds no numeric field"
        return f"JSON lines with numeric fields ({', '.join(numbers[:5])}) but no step or loss to read"
    return "JSON lines whose rows are not objects"


def _clip(text: str, width: int = 60) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def expected(formats: Mapping[str, str]) -> str:
    """The formats inspector reads, in people's words (their descriptions up to the first parenthesis)."""
    return "; ".join(d.split(" (")[0] for d in formats.values())
