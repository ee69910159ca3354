"""Plain-text console logs: generic `key=value` lines, mmdet 2.x, Detectron2 log.txt, Ultralytics stdout.

The reader the registry calls for anything printed to a terminal. Decoding and tqdm clean-up live
in text_decode, the vectorised pair extraction in text_pairs, the per-program step counters in
text_dialects; this module only picks the dialect and hands the columns to `assemble`.
"""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path
from typing import Sequence

import numpy as np

from inspector.errors import InspectorError
from inspector.runlog.record import RunLog, assemble
from inspector.runlog.text_decode import MAX_LINE_CHARS, read_text
from inspector.runlog.text_dialects import DIALECT_SNIFF, FIRST_BAD_LINES, PARSERS, Table, detect_dialect
from inspector.runlog.text_pairs import as_lines

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


def read(path: Path, companions: Sequence[Path] = ()) -> RunLog:
    """RunLog of a console log; InspectorError naming the file when it is not text or holds no metrics."""
    path = Path(path)
    clean = read_text(path)
    lines = as_lines(clean.text)
    dialect = detect_dialect(clean.text)
    # The parsers scan `lines` (Arrow); dropping the decoded str now takes a file-sized copy off the peak.
    clean = replace(clean, text="")
    table = PARSERS[dialect](lines)
    warnings = list(table.warnings)
    if clean.long_lines.size:
        warnings.append(f"{clean.long_lines.size} line(s) over {MAX_LINE_CHARS} characters skipped "
                        f"(line {_line_list(clean.long_lines)}).")
    bad = set(table.bad_lines)
    last = len(lines) - 1
    if clean.truncated_last:
        table, dropped = _drop_truncated_tail(table, last)
        if dropped or last in bad:
            bad.discard(last)
            warnings.append(f"the last line ({int(clean.line_numbers[last])}) is cut off "
                            "(no newline at the end of the file); skipped.")
    if bad:
        numbers = clean.line_numbers[np.array(sorted(bad), dtype=np.int64)]
        warnings.append(f"{numbers.size} line(s) look like metrics but could not be parsed "
                        f"(line {_line_list(numbers)}); skipped.")
    if not table.columns or table.rows.size == 0:
        raise InspectorError("no metric lines found (expected key=value pairs, an mmdet, "
                             "Detectron2 or Ultralytics console log)", path=path)
    config = dict(table.config)
    config["dialect"] = dialect
    return assemble(str(path), NAME, table.framework, table.steps, table.columns,
                    present=table.present, epochs=table.epochs, config=config,
                    warnings=warnings, step_unit=table.step_unit)


def read_log(path: str | Path) -> RunLog:
    """Shortcut used by the benchmark: `read` without companions."""
    return read(Path(path))
