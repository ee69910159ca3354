"""Hostile and broken JSON lines (issue 11): deep nesting, sparse keys, bad steps, one bad row among good
ones.

Inputs that crashed or exhausted the process before the fix are read in a child interpreter (a segfault
or an abort must fail the test, not the test run), the sparse one under an address-space cap.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from fuzz_catalogue import replayable
from hypothesis import given
from hypothesis import strategies as st

from inspector import limits
from inspector.runlog import pieces, read_log
from inspector.runlog.json_depth import deep_lines
from inspector.runlog.writer import FORMAT, VERSION

GOOD = [json.dumps({"step": i, "loss": 1.0 / (i + 1)}) for i in range(100)]


def write(path: Path, lines: list[str | bytes], end: bytes = b"\n") -> Path:
    path.write_bytes(b"\n".join(x if isinstance(x, bytes) else x.encode() for x in lines) + end)
    return path


def nested(depth: int, step: int = 50) -> str:
    return f'{{"step": {step:d}, "x": ' + "[" * depth + "]" * depth + "}"


CHILD = r"""
import json, resource, sys, time
from inspector.errors import InspectorError
from inspector.runlog import read_log
def vm():
    with open("/proc/self/status") as fh:
        return next(int(l.split()[1]) * 1024 for l in fh if l.startswith("VmSize:"))
if len(sys.argv) > 2:
    resource.setrlimit(resource.RLIMIT_AS, (vm() + int(sys.argv[2]), resource.RLIM_INFINITY))
t0 = time.perf_counter()
try:
    log = read_log(sys.argv[1])
    out = {"ok": True, "series": len(log.series), "loss": len(log.series.get("loss", [])),
           "warnings": log.warnings}
except InspectorError as exc:
    out = {"ok": False, "error": str(exc)}
out["seconds"] = time.perf_counter() - t0
print(json.dumps(out))
"""


def read_in_child(path: Path, address_space: int | None = None, timeout: float = 60) -> dict:
    args = [sys.executable, "-c", CHILD, str(path)] + ([str(address_space)] if address_space else [])
    proc = subprocess.run(args, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, f"rc {proc.returncode}: {proc.stderr[-2000:]}"
    return json.loads(proc.stdout.strip().splitlines()[-1])


# --- nesting depth -------------------------------------------------------------------------------


def test_a_line_nested_30k_deep_does_not_kill_the_process(tmp_path):
    # pyarrow's JSON parser segfaulted on this line (the whole server died).
    path = write(tmp_path / "nested.jsonl", GOOD[:50] + [nested(30_000)] + GOOD[50:])
    out = read_in_child(path)
    assert out["ok"] and out["loss"] == 100, out
    assert any("deeper than" in w and "line 51" in w for w in out["warnings"]), out["warnings"]


def test_a_line_nested_10k_deep_is_skipped_fast(tmp_path):
    # 6k-15k levels cost pyarrow 8-51 s of CPU.
    path = write(tmp_path / "nested.jsonl", GOOD[:50] + [nested(10_000)] + GOOD[50:])
    t0 = time.perf_counter()
    log = read_log(path)
    assert time.perf_counter() - t0 < 2.0
    assert len(log.series["loss"]) == 100
    assert any(f"deeper than {limits.MAX_JSON_DEPTH}" in w and "line 51" in w for w in log.warnings)


def test_depth_limit_is_exact_and_ignores_brackets_in_strings(tmp_path):
    depth = limits.MAX_JSON_DEPTH
    lines = [
        nested(depth - 1, 0),
        nested(depth, 1),
        '{"step": 3, "s": "%s"}' % ("[" * 500),  # brackets inside a string
        f'{{"step": 4, "s": "{"]" * 500}", "x": {"[" * 500 + "]" * 500}}}',  # closes in a string
        '{"step": 5, "s": "a\\"[[[[", "x": %s}' % ("[" * 300 + "]" * 300),
    ]  # an escaped quote
    data = "\n".join(lines).encode()
    # The root object is one level: depth - 1 lists make a line exactly at the limit.
    assert deep_lines(data).tolist() == [1, 3, 4]


# --- sparse keys -----------------------------------------------------------------------------------


def _sparse_file(path: Path, rows: int) -> Path:
    return write(path, [json.dumps({"step": i, **{f"k{i}_{j}": 0.5 for j in range(5)}}) for i in range(rows)])


def test_sparse_keys_stay_within_1_gb_and_seconds(tmp_path):
    # 1.95 MB of rows that each add 5 new keys aborted the server at 4.6 GB RSS.
    path = _sparse_file(tmp_path / "sparse.jsonl", 20_000)
    assert path.stat().st_size > 1.5e6
    out = read_in_child(path, address_space=1 << 30)
    assert out["ok"], out
    assert out["seconds"] < 10, out
    assert 0 < out["series"] <= limits.max_series()
    assert any("series dropped" in w and "INSPECTOR_MAX_SERIES" in w for w in out["warnings"]), out[
        "warnings"
    ]


@pytest.mark.slow
def test_200k_distinct_keys_read_in_seconds_within_1_gb(tmp_path):
    # 200k distinct keys in 3.2 MB took 41 s and 2.3 GB.
    path = write(
        tmp_path / "keys.jsonl", [json.dumps({"step": i, f"key_{i:06d}": 1.0}) for i in range(200_000)]
    )
    out = read_in_child(path, address_space=1 << 30)
    assert out["ok"] and out["seconds"] < 15, out
    assert out["series"] == limits.max_series() - 1  # "step" is the first key admitted
    assert any(w.startswith("195001 series dropped") for w in out["warnings"]), out["warnings"]


def test_sparse_series_are_kept_sparse_with_their_steps(tmp_path, monkeypatch):
    monkeypatch.setenv("INSPECTOR_MAX_SERIES", "101")
    lines = [json.dumps({"step": i * 10, "loss": 1.0, f"only_{i}": float(i)}) for i in range(300)]
    log = read_log(write(tmp_path / "log.jsonl", lines))
    # step + loss + the first 99 one-row keys; the other 201 are dropped and counted.
    assert len(log.series) == 100 and len(log.series["loss"]) == 300
    assert log.series["only_42"].steps.tolist() == [420] and log.series["only_42"].values.tolist() == [42.0]
    assert "only_99" not in log.series
    assert any(w.startswith("201 series dropped") for w in log.warnings), log.warnings


def test_eval_keys_on_few_rows_among_many_pieces(tmp_path, monkeypatch):
    monkeypatch.setattr(pieces, "PIECE_BYTES", 500)
    lines = []
    for i in range(400):
        lines.append(json.dumps({"step": i, "loss": float(i)}))
        if i % 97 == 0:
            lines.append(json.dumps({"step": i, "map": i / 1000}))
    log = read_log(write(tmp_path / "log.jsonl", lines))
    assert len(log.series["loss"]) == 400
    assert log.series["map"].steps.tolist() == [0, 97, 194, 291, 388]
    assert not any("share their step" in w for w in log.warnings)


# --- steps -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("bad", ["1e300", str(2**70), "-1e300", "Infinity", "NaN"])
def test_a_huge_or_non_finite_step_rejects_its_row_only(tmp_path, bad):
    path = write(tmp_path / "log.jsonl", GOOD[:50] + [f'{{"step": {bad}, "loss": 5}}'] + GOOD[50:])
    log = read_log(path)
    assert log.series["loss"].steps.tolist() == list(range(100))
    assert len(log.segments) == 1 and not any("restart" in w for w in log.warnings)
    assert any("not a usable step" in w and "line 51" in w for w in log.warnings), log.warnings


def test_an_isolated_fractional_step_rejects_its_row(tmp_path):
    log = read_log(write(tmp_path / "log.jsonl", GOOD[:50] + ['{"step": 50.5, "loss": 5}'] + GOOD[50:]))
    assert log.series["loss"].steps.tolist() == list(range(100))
    assert any("fractional" in w and "line 51" in w for w in log.warnings)


def test_a_fractional_step_column_numbers_rows_and_keeps_the_value_as_epoch(tmp_path):
    log = read_log(
        write(tmp_path / "log.jsonl", [json.dumps({"epoch": i / 2, "loss": i}) for i in range(100)])
    )
    loss = log.series["loss"]
    assert loss.steps.tolist() == list(range(100)) and loss.values.tolist() == list(range(100))
    assert loss.epochs.tolist() == [i / 2 for i in range(100)]
    assert any("fractional in 50 of 100" in w and "file order" in w for w in log.warnings)


def test_duplicated_steps_are_merged_with_a_count(tmp_path):
    log = read_log(
        write(tmp_path / "log.jsonl", [json.dumps({"step": i // 2, "loss": i}) for i in range(100)])
    )
    assert log.series["loss"].values.tolist() == list(range(1, 100, 2))
    assert any(w.startswith("50 row(s) share their step") and "lines 1, 3" in w for w in log.warnings)


def test_a_constant_step_falls_back_to_row_order(tmp_path):
    log = read_log(write(tmp_path / "log.jsonl", [json.dumps({"step": 7, "loss": i}) for i in range(1000)]))
    assert len(log.series["loss"]) == 1000
    assert any("every row has step 7" in w and "file order" in w for w in log.warnings)


def test_one_step_split_over_lines_with_disjoint_keys_merges_silently(tmp_path):
    d2 = [
        json.dumps({"iteration": i, "total_loss": 1.0, "data_time": 0.1, "eta_seconds": 3}) for i in range(10)
    ]
    d2.append(json.dumps({"iteration": 9, "bbox/AP": 50.0}))
    log = read_log(write(tmp_path / "metrics.json", d2))
    assert log.series["bbox/AP"].steps.tolist() == [9] and len(log.series["total_loss"]) == 10
    assert not any("share their step" in w for w in log.warnings)
    native = [json.dumps({"type": "header", "format": FORMAT, "version": VERSION, "config": {}})]
    for i in range(10):
        native.append(json.dumps({"type": "step", "step": i, "losses": {"bbox": 1.0}, "total": 1.0}))
    native.append(json.dumps({"type": "eval", "step": 9, "metrics": {"map50": 0.3}}))
    log = read_log(write(tmp_path / "log.jsonl", native))
    assert log.series["eval/map50"].steps.tolist() == [9] and len(log.series["loss/bbox"]) == 10
    assert not any("share their step" in w for w in log.warnings)


# --- row accounting: one malformed row among N good ones ---------------------------------------------


def _row(fmt: str, i: int, step: object = None) -> dict:
    step = i if step is None else step
    value = 1.0 + i * 0.5
    if fmt == "inspector_jsonl":
        return {"type": "step", "step": step, "losses": {"bbox": value}, "total": value}
    if fmt == "detectron2_json":
        return {"iteration": step, "total_loss": value, "data_time": 0.1, "eta_seconds": 5}
    if fmt == "mmengine_json":
        return {"lr": 0.01, "data_time": 0.1, "loss": value, "time": 0.2, "step": step}
    if fmt == "mmdet2_json":
        return {"mode": "train", "epoch": 1, "iter": step, "lr": 0.01, "loss": value}
    return {"step": step, "loss": value}


SERIES = {
    "inspector_jsonl": "loss/bbox",
    "detectron2_json": "total_loss",
    "mmengine_json": "loss",
    "mmdet2_json": "loss",
    "jsonl": "loss",
}


def _malformed(kind: str, fmt: str, i: int) -> bytes:
    good = json.dumps(_row(fmt, i)).encode()
    return {
        "truncated": good[: len(good) // 2],
        "garbage": b"#!/bin/sh -- not json at all",
        "array": b"[1, 2, 3]",
        "string_step": json.dumps(_row(fmt, i, step="x")).encode(),
        "overdeep": good[:-1] + b', "deep": ' + b"[" * 200 + b"]" * 200 + b"}",
        "non_utf8": b"\xff\xfe\x80\x81 {\xc3\x28",
    }[kind]


@replayable(80)
@given(
    fmt=st.sampled_from(sorted(SERIES)),
    n=st.integers(3, 150),
    where=st.floats(0, 1),
    kind=st.sampled_from(["truncated", "garbage", "array", "string_step", "overdeep", "non_utf8"]),
    piece=st.sampled_from([None, 700]),
)
def test_one_malformed_row_costs_only_itself(tmp_path, fmt, n, where, kind, piece):
    at = int(where * n)
    rows = [json.dumps(_row(fmt, i)).encode() for i in range(n)]
    bad = _malformed(kind, fmt, n + 5)
    lines = rows[:at] + [bad] + rows[at:]
    offset = 1
    if fmt == "inspector_jsonl":
        lines.insert(
            0, json.dumps({"type": "header", "format": FORMAT, "version": VERSION, "config": {}}).encode()
        )
        offset = 2
    path = tmp_path / f"{fmt}-{kind}.log"
    path.write_bytes(b"\n".join(lines) + b"\n")
    saved = pieces.PIECE_BYTES
    pieces.PIECE_BYTES = piece or saved
    try:
        log = read_log(path, format=fmt)
    finally:
        pieces.PIECE_BYTES = saved
    series = log.series[SERIES[fmt]]
    assert len(series) == n, (len(series), log.warnings)
    np.testing.assert_array_equal(series.values, [1.0 + i * 0.5 for i in range(n)])
    line = at + offset
    assert any(re.search(rf"\b{line}\b", w) for w in log.warnings), (line, log.warnings)
