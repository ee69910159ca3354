"""Console logs built to hurt: ever-new keys, wide encodings, one malformed row, steps that lie.

Every input is built here. Reads that could take the machine's memory run in a child interpreter
under RLIMIT_AS (what it holds after importing inspector, plus 1 GiB) and must exit 0.
"""

from __future__ import annotations

import codecs
import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from fuzz_catalogue import replayable
from hypothesis import given
from hypothesis import strategies as st
from test_fuzz_readers import fuzz  # bench/fuzz.py: text_outcome, all a caller of text.read sees

from inspector.errors import InspectorError
from inspector.runlog import read_log, registry
from inspector.runlog.readers import text
from inspector.runlog.record import assemble

REPO = Path(__file__).resolve().parents[1]
MB = 1 << 20


def write(tmp_path: Path, content: str | bytes, name: str = "train.log") -> Path:
    p = tmp_path / name
    p.write_bytes(content.encode() if isinstance(content, str) else content)
    return p


# --- ever-new keys: sparse series, capped at limits.max_series() --------------------------------------

MMDET_PREFIX = "2023-02-08 16:24:25,413 - mmdet - INFO - "
D2_PREFIX = "[11/30 01:16:13] d2.utils.events INFO:  eta: 1:54:02  "


def _keys(i: int) -> list[str]:
    return [f"k{i:05d}_{j}" for j in range(5)]


SPARSE_LINES = {
    "generic_eq": lambda i: f"step={i} " + " ".join(f"{k}=0.5" for k in _keys(i)),
    "generic_colon": lambda i: f"step: {i}, " + ", ".join(f"{k}: 0.5" for k in _keys(i)),
    "no_step_counter": lambda i: f"step {i} " + " ".join(f"{k}: 0.5" for k in _keys(i)),
    "tqdm_bar": lambda i: (
        f"Epoch 1: 10%|#| {i}/99999 [00:01<00:02, " + ", ".join(f"{k}=0.5" for k in _keys(i)) + "]"
    ),
    "epoch_local": lambda i: f"Epoch 1 ({i}/99999): " + " ".join(f"{k}=0.5" for k in _keys(i)),
    "mmdet": lambda i: (
        f"{MMDET_PREFIX}Epoch [1][{i}/99999]\tlr: 1.000e-03, " + ", ".join(f"{k}: 0.5" for k in _keys(i))
    ),
    "mmdet_val": lambda i: (
        f"{MMDET_PREFIX}Epoch [{i}][1/1]\tlr: 1.000e-03, loss: 0.5\n"
        f"{MMDET_PREFIX}Epoch(val) [{i}][13]\t" + ", ".join(f"{k}: 0.5" for k in _keys(i))
    ),
    "detectron2": lambda i: f"{D2_PREFIX}iter: {i}  " + "  ".join(f"{k}: 0.5" for k in _keys(i)),
    "detectron2_copypaste": lambda i: (
        f"{D2_PREFIX}iter: {i}  total_loss: 0.5\n"
        f"[11/30 01:17:00 d2.evaluation.testing]: copypaste: Task: bbox\n"
        f"[11/30 01:17:00 d2.evaluation.testing]: copypaste: {','.join(_keys(i))}\n"
        f"[11/30 01:17:00 d2.evaluation.testing]: copypaste: 1.0,2.0,3.0,4.0,5.0"
    ),
}


def sparse_log(dialect: str, size: int) -> bytes:
    """About `size` bytes of `dialect` lines, each adding keys no other line has."""
    out, total, i = [], 0, 1
    while total < size:
        line = (SPARSE_LINES[dialect](i) + "\n").encode()
        out.append(line)
        total += len(line)
        i += 1
    return b"".join(out)


CAPPED_CHILD = (
    r"""
import json, resource, sys, time
from inspector.errors import InspectorError
from inspector.runlog import read_log
def vm():
    with open("/proc/self/status") as fh:
        return next(int(l.split()[1]) * 1024 for l in fh if l.startswith("VmSize:"))
resource.setrlimit(resource.RLIMIT_AS, (vm() + int(sys.argv[2]), resource.RLIM_INFINITY))
t = time.perf_counter()
try:
    log = read_log(sys.argv[1])
    out = {"ok": True, "series": len(log.series), "warnings": """
    r"""log.warnings, "dialect": log.config.get("dialect")}
except InspectorError as exc:
    out = {"ok": False, "error": str(exc)}
out["seconds"] = time.perf_counter() - t
print(json.dumps(out))
"""
)


def read_capped(path: Path, budget: int = 1 << 30, timeout: float = 120) -> dict:
    proc = subprocess.run(
        [sys.executable, "-c", CAPPED_CHILD, str(path), str(budget)],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=REPO,
    )
    assert proc.returncode == 0, f"rc {proc.returncode}: {proc.stderr[-1500:]}"
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.slow
@pytest.mark.parametrize("dialect", list(SPARSE_LINES))
def test_two_megabytes_of_new_keys_per_line_read_under_one_gigabyte(tmp_path, dialect):
    # Before: 343 KB became 2.3 GB (a dense rows × keys table); 2 MB aborted the server.
    path = write(tmp_path, sparse_log(dialect, 2 * MB), "log.txt" if "detectron2" in dialect else "train.log")
    got = read_capped(path)
    assert got["ok"], got
    assert got["series"] == 5_000
    dropped = [w for w in got["warnings"] if "series dropped" in w]
    assert dropped and "only the first 5000 are kept" in dropped[0]
    assert got["seconds"] < 20  # measured 1.4-3.9 s on the 2-core box


def test_sparse_keys_cost_their_values_not_rows_times_keys(tmp_path):
    import tracemalloc

    path = write(tmp_path, sparse_log("generic_eq", 150_000))  # 2,000 lines, 10,000 keys
    tracemalloc.start()
    log = text.read(path)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    # Dense, this was 2,000 rows × 10,000 keys × 9 B = 180 MB; sparse it is the values and their rows.
    assert peak < 40 * MB, peak / MB
    assert len(log.series) == 5_000 and log.series["k00001_0"].steps.tolist() == [1]
    assert all(len(s) == 1 for s in log.series.values())


def test_series_beyond_the_limit_are_dropped_keeping_the_first(tmp_path, monkeypatch):
    monkeypatch.setenv("INSPECTOR_MAX_SERIES", "7")
    lines = [f"step={i} loss={i / 10} " + " ".join(f"x{i}_{j}={j}" for j in range(3)) for i in range(1, 6)]
    log = text.read(write(tmp_path, "\n".join(lines) + "\n"))
    assert list(log.series) == ["loss", "x1_0", "x1_1", "x1_2", "x2_0", "x2_1", "x2_2"]
    assert log.series["loss"].steps.tolist() == [1, 2, 3, 4, 5]
    assert any(
        w.startswith("9 series dropped: the log has 16 distinct keys and only the first 7")
        for w in log.warnings
    )


def test_a_piece_cap_counts_each_dropped_key_once(tmp_path, monkeypatch):
    monkeypatch.setenv("INSPECTOR_MAX_SERIES", "3")
    lines = [f"step={i} a=1 b=2 c=3 d=4 e=5" for i in range(200)]
    whole = fuzz.text_outcome(write(tmp_path, "\n".join(lines) + "\n"), 1 << 24)
    assert fuzz.text_outcome(tmp_path / "train.log", 64) == whole
    assert list(whole[2]) == ["a", "b", "c"] and len(whole[2]["a"][0]) == 200
    assert any(w.startswith("2 series dropped") for w in whole[3])


def test_sparse_series_match_what_assemble_makes_of_dense_columns():
    from inspector.runlog.text_table import Column, Table

    # Steps with a restart (the later segment wins) and a NaN: the sparse path must agree with assemble.
    steps = np.array([1, 2, 3, 4, 2, 3, 5])
    dense_loss = np.array([1.0, 2.0, 3.0, 4.0, 5.0, np.nan, 7.0])
    sparse_rows, sparse_values = np.array([0, 3, 5, 6]), np.array([0.1, 0.2, np.inf, 0.4])
    table = Table(
        "generic",
        steps,
        {"loss": Column(dense_loss), "val": Column(sparse_values, sparse_rows)},
        np.arange(7),
    )
    ours = text._runlog("x", table, {}, ["given"])
    present = np.zeros(7, dtype=bool)
    present[sparse_rows] = True
    values = np.full(7, np.nan)
    values[sparse_rows] = sparse_values
    theirs = assemble(
        "x",
        "text",
        "generic",
        steps,
        {"loss": dense_loss, "val": values},
        present={"val": present},
        warnings=["given"],
    )
    assert list(ours.series) == list(theirs.series) == ["loss", "val"]
    for name in theirs.series:
        np.testing.assert_array_equal(ours.series[name].steps, theirs.series[name].steps)
        np.testing.assert_array_equal(ours.series[name].values, theirs.series[name].values)
    assert ours.warnings == theirs.warnings and ours.non_finite == theirs.non_finite == {"loss": 1, "val": 1}
    assert [(s.first_step, s.last_step, s.rows) for s in ours.segments] == [
        (s.first_step, s.last_step, s.rows) for s in theirs.segments
    ]


# --- UTF-16 / UTF-32 / UTF-8 with a byte-order mark ---------------------------------------------------


def _varied_log() -> str:
    """CRLF, a tqdm `\\r` run, non-ASCII (an astral emoji: a surrogate pair in UTF-16), a bad line, a cut
    tail."""
    out = ["Température élevée \U0001f600\r\n"]
    for step in range(1, 40):
        if step == 7:
            out.append("step=oops loss=1\r\n")
        if step == 20:
            out.append("Epoch 1: 50%|█ | 1/2 [val=9]\rEpoch 1: 100%|██| 2/2 [val=8]\n")
        out.append(f"step={step} loss=0.{step} lr=1e-3 ✓\r\n")
    return "".join(out) + "step=40 loss=0."


@pytest.mark.parametrize("codec", ["utf-16-le", "utf-16-be", "utf-32-le", "utf-32-be", "utf-8"])
def test_a_log_with_a_byte_order_mark_reads_as_its_utf8_twin(tmp_path, codec):
    body = _varied_log()
    plain = write(tmp_path, body.encode("utf-8"), "plain.log")
    bom = {
        "utf-16-le": codecs.BOM_UTF16_LE,
        "utf-16-be": codecs.BOM_UTF16_BE,
        "utf-32-le": codecs.BOM_UTF32_LE,
        "utf-32-be": codecs.BOM_UTF32_BE,
        "utf-8": codecs.BOM_UTF8,
    }[codec]
    wide = write(tmp_path, bom + body.encode(codec), "wide.log")
    expected = fuzz.text_outcome(plain, 1 << 24)
    assert expected[0] == "generic" and expected[2]["loss"][0] == list(range(1, 40))
    for piece_bytes in (1 << 24, 1, 6, 64, 1000):
        assert fuzz.text_outcome(wide, piece_bytes) == expected, piece_bytes
    # Detection (registry.detect) claims it as text instead of "binary content", and read_log reads it.
    head = wide.read_bytes()[: registry.HEAD_BYTES]
    assert text.sniff(wide, head) == text.SNIFF_SCORE
    assert registry.detect(wide) == "text"
    assert read_log(wide).series["loss"].values.tolist() == [float(f"0.{s}") for s in range(1, 40)]


def test_wide_text_that_is_empty_or_binary_is_refused(tmp_path):
    empty = write(tmp_path, codecs.BOM_UTF16_LE + " \n\n".encode("utf-16-le"), "empty.log")
    with pytest.raises(InspectorError, match="empty"):
        text.read(empty)
    binary = write(
        tmp_path, codecs.BOM_UTF16_LE + ("".join(map(chr, range(1, 32))) * 64).encode("utf-16-le"), "bin.log"
    )
    with pytest.raises(InspectorError, match="binary"):
        text.read(binary)
    assert text.sniff(binary, binary.read_bytes()) == 0.0


# --- NUL bytes: a crash's zero-filled block is damage in one line, not a binary file -----------------


def test_a_zero_filled_block_costs_only_its_line(tmp_path):
    head = "".join(f"step={s} loss={s / 100}\n" for s in range(1, 51)).encode()
    tail = "".join(f"step={s} loss={s / 100}\n" for s in range(52, 101)).encode()
    # The crashed writer left 4 KB of zeros; the restarted one appended step 51 right after them.
    p = write(tmp_path, head + b"\x00" * 4096 + b"step=51 loss=0.51\n" + tail)
    assert registry.detect(p) == "text"
    log = text.read(p)
    assert log.series["loss"].steps.tolist() == [s for s in range(1, 101) if s != 51]
    assert any("1 line(s) holding NUL bytes" in w and "(line 51)" in w for w in log.warnings)
    assert fuzz.text_outcome(p, 100) == fuzz.text_outcome(p, 1 << 24)


def test_scattered_nul_bytes_are_still_binary(tmp_path):
    p = write(tmp_path, b"step=1 \x00loss=2 \x00" * 400)
    with pytest.raises(InspectorError, match="binary"):
        text.read(p)
    assert text.sniff(p, p.read_bytes()) == 0.0


# --- steps that lie: duplicated, fractional, constant, damaged ---------------------------------------


def _series(log) -> dict:
    return {k: (s.steps.tolist(), s.values.tolist()) for k, s in log.series.items()}


def test_a_line_without_a_step_joins_its_step_without_dropping_that_row(tmp_path):
    # Before: assemble kept only the last row of step 1, so `loss` and `lr` at step 1 vanished silently.
    log = text.read(write(tmp_path, "step=1 loss=0.5 lr=1\nval_map=0.3\nstep=2 loss=0.4 lr=1\n"))
    assert _series(log) == {"loss": ([1, 2], [0.5, 0.4]), "lr": ([1, 2], [1.0, 1.0]), "val_map": ([1], [0.3])}
    assert log.warnings == []


def test_duplicated_steps_are_merged_with_a_count(tmp_path):
    # 100 rows, each step twice: 50 steps; the later value of a repeated key wins.
    rows = "".join(f"step={i // 2} loss={i} lr=0.1\n" for i in range(100))
    log = text.read(write(tmp_path, rows))
    assert log.series["loss"].steps.tolist() == list(range(50))
    assert log.series["loss"].values.tolist() == [float(i) for i in range(1, 100, 2)]
    merged = [w for w in log.warnings if "share their step" in w]
    assert (
        merged
        and merged[0].startswith("50 row(s) share their step with a later row")
        and "line 1, 3, 5" in merged[0]
    )


def test_rows_of_one_step_with_different_keys_merge_silently(tmp_path):
    log = text.read(write(tmp_path, "step=5 loss=1\nstep=5 map=0.3\nstep=6 loss=2\n"))
    assert _series(log) == {"loss": ([5, 6], [1.0, 2.0]), "map": ([5], [0.3])}
    assert log.warnings == []


def test_a_fractional_step_column_falls_back_to_row_order(tmp_path):
    # Before: cut to whole numbers, 100 half-epoch rows became 51 without a word.
    rows = "".join(f"step={i / 2} loss={i}\n" for i in range(100))  # 0.0, 0.5, 1.0, …
    log = text.read(write(tmp_path, rows))
    assert log.series["loss"].steps.tolist() == list(range(100))
    assert log.series["loss"].values.tolist() == [float(i) for i in range(100)]
    assert (
        "the step is fractional in 50 of 100 row(s): not a step counter; rows are numbered in file order "
        "instead." in log.warnings
    )


def test_a_fractional_step_among_whole_ones_is_a_damaged_row(tmp_path):
    rows = [f"step={s} loss={s}" for s in range(10, 301, 10)]
    rows.insert(4, "step=45.5 loss=9")
    rows.insert(5, "val_map=0.5")  # took the damaged row's step: dropped with it
    log = text.read(write(tmp_path, "\n".join(rows) + "\n"))
    assert log.series["loss"].steps.tolist() == list(range(10, 301, 10))
    assert "val_map" not in log.series
    assert "1 row(s) with a fractional step among whole ones skipped as damaged (line 5)." in log.warnings


def test_a_constant_step_falls_back_to_row_order(tmp_path):
    rows = "".join(f"step=0 loss={i}\n" for i in range(1000))
    log = text.read(write(tmp_path, rows))
    assert log.series["loss"].steps.tolist() == list(range(1000))
    assert log.series["loss"].values.tolist() == [float(i) for i in range(1000)]
    assert "every row has step 0; rows are numbered in file order instead." in log.warnings


def test_huge_steps_are_bad_lines_not_restarts(tmp_path):
    rows = [f"step={s} loss={s}" for s in range(1, 101)]
    rows[49] = "step=1e300 loss=7"
    rows[70] = "step=1180591620717411303424 loss=7"  # 2**70
    log = text.read(write(tmp_path, "\n".join(rows) + "\n"))
    assert log.series["loss"].steps.tolist() == [s for s in range(1, 101) if s not in (50, 71)]
    assert len(log.segments) == 1
    assert any("2 line(s) look like metrics but could not be parsed (line 50, 71)" in w for w in log.warnings)


def test_one_damaged_step_is_skipped_not_read_as_a_restart(tmp_path):
    rows = [f"step={s} loss={s}" for s in range(10, 101, 10)]
    rows.insert(4, "step=4")  # a half-written "step=45 loss=…" between 40 and 50
    rows.insert(8, "step=4 loss=9")  # "step=4" and a value: the same, with data
    log = text.read(write(tmp_path, "\n".join(rows) + "\n"))
    assert log.series["loss"].steps.tolist() == list(range(10, 101, 10))
    assert len(log.segments) == 1
    assert any(
        w.startswith("2 row(s) with a step out of order")
        and "line 5: step 4 after 40, before 50" in w
        and "line 9: step 4 after 70, before 80" in w
        for w in log.warnings
    )
    mmdet = "".join(
        f"{MMDET_PREFIX}Epoch [1][{i}/100]\tlr: 1e-3, loss: 0.{i}\n" for i in (10, 20, 30, 2, 40, 50)
    )
    log = text.read(write(tmp_path, mmdet, "mmdet.log"))
    assert log.series["loss"].steps.tolist() == [10, 20, 30, 40, 50]


def test_duplicated_mmdet_iterations_are_merged_with_a_count(tmp_path):
    lines = "".join(f"{MMDET_PREFIX}Epoch [1][{i}/100]\tlr: 1e-3, loss: 0.{i}\n" for i in (10, 20, 20, 30))
    log = text.read(write(tmp_path, lines, "mmdet.log"))
    assert log.series["loss"].steps.tolist() == [10, 20, 30]
    assert any(
        w.startswith("1 row(s) share their step with a later row") and "(line 2)" in w for w in log.warnings
    )


def test_overlong_counters_are_bad_lines(tmp_path):
    lines = [f"{MMDET_PREFIX}Epoch [1][{i}/100]\tlr: 1e-3, loss: 0.{i}" for i in (10, 20, 30)]
    lines.insert(1, f"{MMDET_PREFIX}Epoch [1][{'9' * 30}/100]\tlr: 1e-3, loss: 0.5")
    log = text.read(write(tmp_path, "\n".join(lines) + "\n", "mmdet.log"))
    assert log.series["loss"].steps.tolist() == [10, 20, 30]
    assert any("could not be parsed (line 2)" in w for w in log.warnings)


# --- row accounting: one malformed row never costs another -------------------------------------------

ULTRA_HEADER = "      Epoch    GPU_mem   box_loss   cls_loss   dfl_loss  Instances       Size"

# Per dialect: a header, the row at `step` with its values, the keys those values land in, and the word
# a "number where a word belongs" replaces.
DIALECTS = {
    "generic": ("", lambda s, a, b: f"step={s} loss={a} lr={b}", ("loss", "lr"), "step"),
    "colon": ("", lambda s, a, b: f"step: {s}, loss: {a}, lr: {b}", ("loss", "lr"), "step"),
    "epoch_local": ("", lambda s, a, b: f"Epoch 1 ({s}/99999): loss={a} lr={b}", ("loss", "lr"), "Epoch"),
    "mmdet": (
        "",
        lambda s, a, b: f"{MMDET_PREFIX}Epoch [1][{s}/99999]\tlr: {b}, eta: 0:03:28, loss: {a}",
        ("loss", "lr"),
        "Epoch",
    ),
    "detectron2": (
        "",
        lambda s, a, b: f"{D2_PREFIX}iter: {s}  total_loss: {a}  lr: {b}  max_mem: 11811M",
        ("total_loss", "lr"),
        "iter",
    ),
    "ultralytics": (
        ULTRA_HEADER + "\n",
        lambda s, a, b: (
            f"  {s}/999      1.5G      {a}      {b}      1.000         12        640: "
            "100%|##| 50/50 [00:01<00:00]"
        ),
        ("train/box_loss", "train/cls_loss"),
        "G ",
    ),
}
MALFORMED = ("garbage", "number_for_word", "nul", "non_utf8", "long", "half")
# Those every dialect tells from a row: the warning must name their line.
ALWAYS_NAMED = ("nul", "long")


def _malform(kind: str, row: str, word: str, draw) -> bytes:
    if kind == "garbage":
        return draw(st.text(st.sampled_from("abcdefghij XYZ,;()[]!?#-"), min_size=1, max_size=80)).encode()
    if kind == "number_for_word":
        return row.replace(word, "12345" + (" " if word.endswith(" ") else ""), 1).encode()
    raw = row.encode()
    at = draw(st.integers(0, len(raw)))
    if kind == "nul":
        return raw[:at] + b"\x00" + raw[at:]
    if kind == "non_utf8":
        return raw[:at] + b"\xff" + raw[at:]
    if kind == "long":
        return raw + b" pad" * 50_000  # 200,000+ characters
    return raw[:at]  # half: a line cut off where the writer stopped, the next row follows on its own line


def named_lines(warnings: list[str]) -> set[int]:
    """Every file line a warning names: "line 5", "(line 3, 5, …)", "line 9: step …", "the last line (16)"."""
    found = set()
    for w in warnings:
        for group in re.findall(r"\bline ((?:\d+(?:, )?)+)", w) + re.findall(r"last line \((\d+)\)", w):
            found.update(int(x) for x in group.split(", ") if x)
    return found


@replayable(150, slow_ok=True)
@given(data=st.data())
def test_one_malformed_row_costs_no_other_row(tmp_path, data):
    dialect = data.draw(st.sampled_from(list(DIALECTS)), label="dialect")
    header, row, keys, word = DIALECTS[dialect]
    kind = data.draw(st.sampled_from(MALFORMED), label="kind")
    n = data.draw(st.integers(3, 30), label="n")
    at = data.draw(st.integers(0, n), label="at")  # the malformed row goes before good row `at`
    rng = np.random.default_rng(n * 100 + at)
    spacing = 2 if dialect == "ultralytics" else 10  # epochs are 2 apart so that one fits between
    steps = [spacing * (j + 1) for j in range(n)]
    values = [(float(f"{a:.4f}"), float(f"{b:.4f}")) for a, b in rng.random((n, 2)) + 0.1]
    good = [row(s, f"{a:.4f}", f"{b:.4f}").encode() for s, (a, b) in zip(steps, values, strict=True)]
    fresh = row(spacing * at + spacing // 2, "0.7777", "0.8888")
    bad = _malform(kind, fresh, word, data.draw)
    lines = good[:at] + [bad] + good[at:]
    path = tmp_path / ("log.txt" if dialect == "detectron2" else "train.log")
    path.write_bytes(header.encode() + b"\n".join(lines) + b"\n")
    bad_line = header.count("\n") + at + 1

    log = text.read(path)
    for k, key in enumerate(keys):
        series = log.series[key]
        got = dict(zip(series.steps.tolist(), series.values.tolist(), strict=False))
        # Every good row is kept with its own value: none dropped, none overwritten.
        assert all(got.get(s) == v[k] for s, v in zip(steps, values, strict=True)), (key, got)
        extra = set(got) - set(steps)
        assert len(extra) <= 1, extra  # at most the malformed row itself, where it reads as a row
    named = bad_line in named_lines(log.warnings)
    if kind in ALWAYS_NAMED:
        assert log.n_steps == n and named, log.warnings
    if kind == "number_for_word" and dialect in ("generic", "colon") and at > 0:
        # The row lost its step counter and repeats the keys of the step it would join.
        assert log.n_steps == n and named, log.warnings
    if kind in ("garbage", "number_for_word"):
        assert log.n_steps == n  # prose to every dialect, or a row no dialect marker names
