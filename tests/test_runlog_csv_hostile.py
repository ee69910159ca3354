"""CSV-family tables with one bad row or a lying step column: every good row is kept, the bad one is named.

Issue 11, item 5: one open quote at line 5,002 of 10,001 lost the rows after it; a step of 1e300 or
5000.5 refused the file; fractional, duplicated and constant steps merged rows without a word.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from fuzz_catalogue import replayable
from hypothesis import given
from hypothesis import strategies as st

from inspector.runlog import read_log
from inspector.runlog.readers import csv_table
from inspector.runlog.step_column import plan_steps


def _write(tmp_path: Path, text: str | bytes, name: str = "log.csv") -> Path:
    path = tmp_path / name
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return path


def _named_lines(warnings: list[str]) -> set[int]:
    """Every line number the warnings name ("line 5002", "(line 3, 5, 6, …)")."""
    found: set[int] = set()
    for w in warnings:
        for group in re.findall(r"\bline ([\d, ]+)", w):
            found.update(int(n) for n in re.findall(r"\d+", group))
    return found


# --- item 5: one open quote loses the rows after it ------------------------------------------------


def test_an_open_quote_loses_no_row_and_names_its_line(tmp_path: Path) -> None:
    rows = [f"{i},{0.5 + i * 1e-5:.6f},0.01" for i in range(10_000)]
    rows[5000] = '5000,"0.5,0.01'  # line 5,002 (the header is line 1)
    log = read_log(_write(tmp_path, "step,loss,lr\n" + "\n".join(rows) + "\n"))
    assert log.format == "csv"
    assert len(log.series["loss"]) == 9_999 and 5000 not in log.series["loss"].steps
    assert any("1 malformed row(s)" in w and "line 5002" in w for w in log.warnings), log.warnings


def test_a_quoted_line_break_is_still_one_record(tmp_path: Path) -> None:
    text = 'step,loss,note\n1,0.5,"two\nlines"\n2,0.4,plain\n3,0.3,"x"\n'
    log = csv_table.read(_write(tmp_path, text))
    np.testing.assert_array_equal(log.series["loss"].steps, [1, 2, 3])
    assert not any("malformed" in w for w in log.warnings)


@pytest.mark.parametrize("after", ["", "3,0.3,0.1\n4,0.2,0.1\n"])
def test_an_open_quote_in_a_last_cell_is_malformed(tmp_path: Path, after: str) -> None:
    # pyarrow read the quote on through the line end ("0.1\n") and the fast path took the row as good.
    log = csv_table.read(_write(tmp_path, 'step,loss,lr\n1,0.5,0.1\n2,0.4,"0.1\n' + after))
    np.testing.assert_array_equal(log.series["loss"].steps, [1, 3, 4][: 1 + after.count("\n")])
    assert 3 in _named_lines(log.warnings)


# --- item 5: one bad step refuses the file; lying step columns merge rows silently -----------------


@pytest.mark.parametrize("bad", ["1e300", "-1e300", "1180591620717411303424", "5000.5"])
def test_one_impossible_step_skips_its_row_only(tmp_path: Path, bad: str) -> None:
    rows = [f"{i},0.5,0.01" for i in range(100)]
    rows[50] = f"{bad},0.5,0.01"  # line 52
    log = csv_table.read(_write(tmp_path, "step,loss,lr\n" + "\n".join(rows) + "\n"))
    assert log.series["loss"].steps.tolist() == [i for i in range(100) if i != 50]
    assert len(log.segments) == 1
    assert any("1 row(s)" in w and "line 52" in w for w in log.warnings), log.warnings


def test_duplicated_steps_say_how_many_rows_merged(tmp_path: Path) -> None:
    body = "".join(f"{i // 2},{i}\n" for i in range(100))  # 100 rows, each step twice
    log = csv_table.read(_write(tmp_path, "step,loss\n" + body))
    assert log.series["loss"].steps.tolist() == list(range(50))
    assert log.series["loss"].values.tolist() == [float(i) for i in range(1, 100, 2)]  # the later row wins
    merged = [w for w in log.warnings if "share their 'step'" in w]
    assert merged and merged[0].startswith("50 row(s)") and "(50 value(s) replaced)" in merged[0]
    assert "line 2, 4, 6" in merged[0]


def test_a_train_row_and_a_val_row_of_one_step_merge_silently(tmp_path: Path) -> None:
    log = csv_table.read(_write(tmp_path, "step,loss,map\n10,0.5,\n10,,0.3\n20,0.4,\n20,,0.35\n"))
    assert log.series["loss"].steps.tolist() == [10, 20] and log.series["map"].values.tolist() == [0.3, 0.35]
    assert log.warnings == []


def test_a_constant_step_column_falls_back_to_row_order(tmp_path: Path) -> None:
    log = csv_table.read(_write(tmp_path, "epoch,loss\n" + "".join(f"0,{i}\n" for i in range(1000))))
    assert log.series["loss"].steps.tolist() == list(range(1000))
    assert "every row has epoch 0; rows are numbered in file order instead." in log.warnings
    assert log.step_unit == "iteration"


def test_a_fractional_step_column_becomes_row_order_with_the_values_as_epochs(tmp_path: Path) -> None:
    log = csv_table.read(_write(tmp_path, "epoch,loss\n" + "".join(f"{i / 2},{i}\n" for i in range(100))))
    loss = log.series["loss"]
    assert loss.steps.tolist() == list(range(100))  # not 51 rounded steps
    assert loss.epochs.tolist() == [i / 2 for i in range(100)]
    assert any("fractional values in 50 of 100 row(s)" in w and "row order" in w for w in log.warnings)


def test_plan_steps_passes_the_usual_column_without_a_copy() -> None:
    raw = np.arange(1000, dtype=np.float64)
    plan = plan_steps(raw, None, np.arange(2, 1002), "step", [None])
    assert plan.rows is None and plan.starts is None and plan.warnings == ()
    values = np.ones(1000)
    assert plan.take(values)[0] is values


# --- the row-accounting property over the CSV-family formats ---------------------------------------


def _generic(n: int, quoted: bool) -> tuple[str, list[list[str]], str]:
    return "step,loss,lr", [[str(i), f"{0.5 + i / 1000:.4f}", "0.01"] for i in range(n)], "loss"


def _ultralytics(n: int, quoted: bool) -> tuple[str, list[list[str]], str]:
    header = (
        "                  epoch,         train/box_loss,         train/cls_loss,"
        "      metrics/mAP50(B),lr/pg0"
    )
    rows = [
        [
            f"{i + 1:>23}",
            f"{1.2 - i / 1000:>23.5f}",
            f"{2.0 - i / 1000:>23.5f}",
            f"{i / (n + 1):>23.5f}",
            "0.00023",
        ]
        for i in range(n)
    ]
    return header, rows, "train/box_loss"


def _wandb(n: int, quoted: bool) -> tuple[str, list[list[str]], str]:
    header = '"Step","exp - train/loss","exp - train/loss__MIN","exp - train/loss__MAX"'
    rows = [[str(10 * i), f"{1.0 - i / 1000:.4f}", "0.1", "1.1"] for i in range(n)]
    return header, rows, "train/loss"


FORMATS = {"csv": _generic, "ultralytics_csv": _ultralytics, "wandb_csv": _wandb}


def _malformed(kind: str, row: list[str], garbage: str) -> bytes:
    """One row of `row`'s shape, damaged as `kind` says."""
    if kind == "open_quote":
        return ",".join(row[:1] + ['"' + row[1].strip()] + row[2:]).encode()
    if kind == "too_many":
        return ",".join(row + ["1"]).encode()
    if kind == "too_few":
        return ",".join(row[:-1]).encode()
    if kind == "garbage":
        return garbage.encode()
    if kind == "not_utf8":
        return ",".join(row[:1] + [row[1].strip() + "\udcff"] + row[2:]).encode("utf-8", "surrogateescape")
    if kind == "word":
        return ",".join(row[:1] + ["loss"] + row[2:]).encode()
    raise ValueError(kind)


@replayable(150, slow_ok=True)
@given(
    fmt=st.sampled_from(sorted(FORMATS)),
    n=st.integers(1, 60),
    where=st.integers(0, 60),
    kind=st.sampled_from(["open_quote", "too_many", "too_few", "garbage", "not_utf8", "word"]),
    quoted=st.booleans(),
    garbage=st.text(
        st.characters(whitelist_categories=("L", "P", "S"), blacklist_characters=',;\t"'),
        min_size=1,
        max_size=30,
    ),
)
def test_one_malformed_row_costs_only_itself(
    tmp_path: Path, fmt: str, n: int, where: int, kind: str, quoted: bool, garbage: str
) -> None:
    header, rows, metric = FORMATS[fmt](n, quoted)
    where = min(where, n)
    bad_source = rows[min(where, n - 1)]
    lines = [(",".join(f'"{c.strip()}"' for c in r) if quoted else ",".join(r)).encode() for r in rows]
    lines.insert(where, _malformed(kind, bad_source, garbage))
    path = _write(tmp_path, header.encode() + b"\n" + b"\n".join(lines) + b"\n", "results.csv")
    log = read_log(path, format=fmt)
    assert len(log.series[metric]) == n, (kind, where, log.warnings)
    assert where + 2 in _named_lines(log.warnings), (kind, where, log.warnings)


# --- the series cap ---------------------------------------------------------------------------------


def test_columns_beyond_the_series_cap_are_dropped_with_a_warning(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("INSPECTOR_MAX_SERIES", "50")
    header = "step," + ",".join(f"m{i}" for i in range(80))
    rows = "".join(f"{s}," + ",".join("0.5" for _ in range(80)) + "\n" for s in range(3))
    log = read_log(_write(tmp_path, header + "\n" + rows))
    assert len(log.series) == 50 and "m49" in log.series and "m50" not in log.series
    assert log.series["m0"].steps.tolist() == [0, 1, 2]
    assert (
        "80 numeric columns: the first 50 are read, the 30 after them (from 'm50') are not "
        "(limits.max_series(), INSPECTOR_MAX_SERIES)." in log.warnings
    )


def test_a_blank_line_does_not_shift_the_lines_warnings_name(tmp_path: Path) -> None:
    # pyarrow skips blank lines: its row 3 was line 4, and the warning named line 3.
    log = csv_table.read(_write(tmp_path, "step,loss\n1,0.5\n\n,0.4\n3,0.3\n"))
    assert log.warnings == ["1 row(s) without a 'step' value skipped (line 4)."]
    assert log.series["loss"].steps.tolist() == [1, 3]
