"""The CSV reader's typed fast path: column types learned from the head must never change what is read."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa

from inspector.runlog import csv_tables, read_log
from inspector.runlog.readers import csv_table


def _rows(n: int, start: int = 0) -> str:
    return "".join(f"{i},{0.5 + i * 1e-6:.6f},2026-11-{1 + i % 28:02d}\n" for i in range(start, start + n))


def test_numeric_hints_cover_numbers_only() -> None:
    head = b"step,loss,when\n" + _rows(3).encode() + b"4,0.4"  # the cut-off last row is not sampled
    hints = csv_tables._numeric_hints(head, ["step", "loss", "when"], ",")
    assert hints == {"step": pa.float64(), "loss": pa.float64()}
    assert csv_tables._numeric_hints(b"step,loss\n", ["step", "loss"], ",") == {}


def test_word_after_the_head_still_takes_the_tolerant_path(tmp_path: Path) -> None:
    # 5,000 rows put the stray word well past the 64 KiB head the types are learned from.
    text = "step,loss,when\n" + _rows(5000) + "5000,oops,2026-11-01\n" + _rows(10, start=5001)
    path = tmp_path / "log.csv"
    path.write_text(text)
    assert csv_tables._fast_table(path, ["step", "loss", "when"], ",", path.read_bytes()[:65536]) is None
    log = csv_table.read(path)
    loss = log.series["loss"]
    assert len(loss) == 5010 and 5000 not in loss.steps
    assert any("line 5002" in w for w in log.warnings)
    assert log.config["text_columns"] == ["when"]


def test_column_empty_in_the_head_is_still_read(tmp_path: Path) -> None:
    body = "".join(f"{i},{i * 0.1:.1f},\n" for i in range(4000))
    body += "".join(f"{i},{i * 0.1:.1f},{i}\n" for i in range(4000, 4010))
    path = tmp_path / "log.csv"
    path.write_text("step,loss,map\n" + body)
    log = csv_table.read(path)
    np.testing.assert_array_equal(log.series["map"].steps, np.arange(4000, 4010))
    np.testing.assert_array_equal(log.series["map"].values, np.arange(4000, 4010, dtype=float))
    assert len(log.series["loss"]) == 4010


def test_large_integer_steps_stay_exact(tmp_path: Path) -> None:
    steps = 2**40 + np.arange(5)
    path = tmp_path / "log.csv"
    path.write_text("step,loss\n" + "".join(f"{s},1.0\n" for s in steps))
    np.testing.assert_array_equal(csv_table.read(path).series["loss"].steps, steps)


def test_non_utf8_bytes_in_a_later_row_keep_the_table(tmp_path: Path, capfd) -> None:
    path = tmp_path / "log.csv"
    path.write_bytes(b"\xef\xbb\xbfstep,loss\n1,0.5\n2,0.4,\xff\xfe\n3,0.3\n")
    log = read_log(path)
    assert log.format == "csv"
    np.testing.assert_array_equal(log.series["loss"].steps, [1, 3])
    assert any("not UTF-8" in w for w in log.warnings) and any("line 3" in w for w in log.warnings)
    # The same bytes past the head, where pyarrow's fast path meets them first: nothing printed to stderr.
    far = (
        b"step,loss\n" + "".join(f"{i},0.5\n" for i in range(20000)).encode() + b"20000,0.4,\xff\n20001,0.3\n"
    )
    path.write_bytes(far)
    log = csv_table.read(path)
    assert len(log.series["loss"]) == 20001 and 20000 not in log.series["loss"].steps
    assert "Exception ignored" not in capfd.readouterr().err
