"""The polars fast path for JSON lines (runlog/json_polars.py): taken only when the piece's colons and
quotes are all explained by the parsed table, and reading through it equals reading without it."""

from __future__ import annotations

import json
import mmap
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from fuzz_catalogue import replayable
from hypothesis import given
from hypothesis import strategies as st

from inspector.runlog import allocator, json_ahead, pieces
from inspector.runlog.json_ahead import read_ahead
from inspector.runlog.json_arrow import parse
from inspector.runlog.json_loader import Loader
from inspector.runlog.json_polars import parse_known
from inspector.runlog.mapped import Mapped

FLAT = pa.struct([("step", pa.float64()), ("loss", pa.float64()), ("mode", pa.string()), ("ok", pa.bool_())])


def piece(*lines: str) -> pa.Buffer:
    return pa.py_buffer(("\n".join(lines) + "\n").encode())


def test_a_clean_flat_piece_is_parsed_by_polars_as_pyarrow_parses_it() -> None:
    rows = [
        json.dumps({"step": i, "loss": 1 / (i + 1), "mode": 'train: phase "a"', "ok": i % 2 == 0})
        for i in range(50)
    ]
    data = piece(*rows)
    table = parse_known(data, FLAT)
    assert table is not None and table.num_rows == 50
    reference = parse(data, FLAT, block_bytes=1 << 20)
    for name in FLAT.names:
        assert table.column(name).to_pylist() == reference.column(name).to_pylist(), name


@pytest.mark.parametrize(
    "line",
    [
        '{"step": 1, "loss": 0.5, "lr": 0.1}',  # a key outside the schema: polars would drop it
        '{"step": 1, "mode": 3}',  # a number under a string key: polars would make it "3"
        '{"step": 1, "mode": true}',
        '{"step": 1, "mode": {"x": 1}}',
        '{"step": 1, "mode": [1, 2]}',
        '{"step": 1, "loss": null}',
        '{"step": 1, "loss": 0.5, "loss": 0.6}',  # a duplicate key
        '{"step": 1, "mode": "\\u003a"}',  # an escaped colon: the bytes no longer tell
        '{"step": 1, "loss": 0.5',  # malformed
        "[1, 2]",
        "3",
        '{"step": 1, "loss": NaN}',
        '{"step": 1, "loss": Infinity}',
        '{"step": 1, "loss": 1e400}',
        '{"step": 1, "ok": 1}',
        '{"step": 1, "loss": "0.5"}',
    ],
)
def test_polars_is_not_trusted_when_the_bytes_are_not_all_explained(line: str) -> None:
    data = piece('{"step": 0, "loss": 1.0, "mode": "train", "ok": true}', line)
    assert parse_known(data, FLAT) is None


def test_keys_and_strings_with_colons_and_quotes_are_explained() -> None:
    schema = pa.struct([("a:b", pa.float64()), ('say "hi"', pa.string())])
    data = piece(
        '{"a:b": 1, "say \\"hi\\"": "12:00:05 \\"quoted\\" \\\\"}',
        '{ "a:b" : 2 ,"say \\"hi\\"":"::"}',
        '{"a:b": 3}',
    )
    table = parse_known(data, schema)
    assert table is not None
    assert table.column("a:b").to_pylist() == [1.0, 2.0, 3.0]
    assert table.column('say "hi"').to_pylist() == ['12:00:05 "quoted" \\', "::", None]


@pytest.mark.parametrize(
    "schema",
    [
        pa.struct([("step", pa.float64()), ("losses", pa.struct([("bbox", pa.float64())]))]),
        pa.struct([("step", pa.float64()), ("stats", pa.list_(pa.float64()))]),
    ],
)
def test_nested_or_list_rows_stay_on_pyarrow(schema: pa.StructType) -> None:
    data = piece('{"step": 1, "losses": {"bbox": 0.5}}', '{"step": 2, "stats": [0.1, 0.2]}')
    assert parse_known(data, schema) is None


def test_a_blank_line_sends_the_piece_to_the_tolerant_path() -> None:
    """polars skips blank lines, so its rows would be numbered wrong: the line count must match."""
    data = piece('{"step": 0, "loss": 1.0}', "", '{"step": 1, "loss": 2.0}')
    blank = read_ahead(data, FLAT)
    assert blank.n_lines == 3 and blank.columns is None
    ahead = read_ahead(piece('{"step": 0, "loss": 1.0}', '{"step": 1, "loss": 2.0}'), FLAT)
    assert ahead.n_lines == ahead.rows == 2 and ahead.columns is not None
    assert ahead.columns[0]["loss"].values.tolist() == [1.0, 2.0]


# --- whole reads: through polars, and with polars refused, the rows are the same ---------------------------

KEYS = ["step", "loss", "mode", "a:b", "lr"]
VALUES = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False, width=32),
    st.integers(-(10**6), 10**6),
    st.sampled_from(["train", "val", "12:00:05", 'say "x"', "0.25", "\\u003a", ""]),
    st.booleans(),
    st.none(),
    st.just({"nested": 1.5}),
    st.just([1, 2]),
)
ROW = st.dictionaries(st.sampled_from(KEYS), VALUES, min_size=1, max_size=5)
LINE = st.one_of(
    ROW.map(json.dumps),
    st.sampled_from(["", '{"step": 3, "loss": 0.5', "[1]", '{"step": 1, "loss": NaN}', '{"a": 1, "a": 2}']),
)


def _load(path: Path, polars: bool, monkeypatch: pytest.MonkeyPatch) -> tuple:
    with monkeypatch.context() as m:
        # Pieces of ~90 lines: the first one's keys are learnt by pyarrow (ranges under 64 lines are read
        # line by line and teach no schema), the next ones are parsed against them.
        m.setattr(pieces, "PIECE_BYTES", 4096)
        if not polars:
            m.setattr(json_ahead, "parse_known", lambda piece, schema: None)
        loader = Loader()
        with Mapped(path) as mapped:
            loader.feed(mapped.buffer, 1)
        rows = loader.finish(path, b"\n")
    numbers = {  # NaN as "nan": lists compare their floats with ==
        k: (c.positions().tolist(), [repr(v) for v in c.logged().tolist()]) for k, c in rows.numbers.items()
    }
    texts = {k: (c.positions().tolist(), c.logged().tolist()) for k, c in rows.texts.items()}
    return rows.n_rows, rows.line_numbers.tolist(), numbers, texts, rows.warnings


@replayable(60)
@given(lines=st.lists(LINE, min_size=1, max_size=120))
def test_reading_through_polars_equals_reading_without_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, lines: list[str]
) -> None:
    path = tmp_path / "log.jsonl"
    clean = [json.dumps({"step": i, "loss": i * 0.5, "mode": "train"}) for i in range(150)]
    path.write_text("\n".join(clean + lines + clean) + "\n")
    assert _load(path, True, monkeypatch) == _load(path, False, monkeypatch)


def test_a_clean_flat_log_is_read_through_polars(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    taken = []

    def counting(piece: pa.Buffer, schema: pa.StructType) -> pa.Table | None:
        table = parse_known(piece, schema)
        taken.append(table is not None)
        return table

    path = tmp_path / "log.jsonl"
    path.write_text(
        "".join(json.dumps({"step": i, "loss": 1 / (i + 1), "mode": "train"}) + "\n" for i in range(3000))
    )
    monkeypatch.setattr(json_ahead, "parse_known", counting)
    n, lines, numbers, _, warnings = _load(path, True, monkeypatch)
    assert taken and all(taken)
    assert n == 3000 and lines == list(range(1, 3001)) and not warnings
    np.testing.assert_allclose([float(v) for v in numbers["loss"][1]], [1 / (i + 1) for i in range(3000)])


# --- the mapping lets go of the pages it has read --------------------------------------------------------


def _rss_file_kb() -> int:
    with open("/proc/self/status") as fh:
        return next(int(line.split()[1]) for line in fh if line.startswith("RssFile:"))


def test_released_pages_leave_the_process(tmp_path: Path) -> None:
    path = tmp_path / "big.jsonl"
    path.write_bytes(b"x" * (64 << 20))
    with Mapped(path) as mapped:
        before = _rss_file_kb()
        assert (
            int(np.frombuffer(mapped.buffer, dtype=np.uint8)[:: mmap.PAGESIZE].sum()) > 0
        )  # touch every page
        touched = _rss_file_kb()
        mapped.release(mapped.buffer.size)
        after = _rss_file_kb()
    assert touched - before > 48 << 10  # kB: most of the 64 MB became resident
    assert touched - after > 48 << 10  # and left again


def test_an_empty_file_maps_to_an_empty_buffer(tmp_path: Path) -> None:
    path = tmp_path / "empty.jsonl"
    path.write_bytes(b"")
    with Mapped(path) as mapped:
        assert mapped.buffer.size == 0
        mapped.release(10)


# --- glibc hands large blocks back while a log is read ----------------------------------------------------


_FREED_CHILD = r"""
import json
import numpy as np
from inspector.runlog import allocator
def rss_anon_kb():
    with open("/proc/self/status") as fh:
        return next(int(line.split()[1]) for line in fh if line.startswith("RssAnon:"))
with allocator.large_blocks_returned(), allocator.large_blocks_returned():  # nested reads
    before = rss_anon_kb()
    blocks = [np.ones(256 << 7) for _ in range(400)]  # 400 × 256 KiB, every page touched
    held = rss_anon_kb()
    del blocks
    after = rss_anon_kb()
print(json.dumps({"grew": held - before, "returned": held - after}))
"""


@pytest.mark.skipif(allocator._LIBC is None, reason="glibc only")
def test_blocks_freed_during_a_read_leave_the_process() -> None:
    """In a fresh interpreter: in the whole suite's process other threads allocate meanwhile."""
    out = subprocess.run([sys.executable, "-c", _FREED_CHILD], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    kb = json.loads(out.stdout.strip().splitlines()[-1])
    assert kb["grew"] > 80 << 10
    assert kb["returned"] > 80 << 10


_CHILD = r"""
import json, sys
from inspector.runlog import pieces, read_log
pieces.PIECE_BYTES = 4096
log = read_log(sys.argv[1], format="jsonl")
print(json.dumps({"loss": len(log.series["loss"]), "warnings": log.warnings}))
"""


@pytest.mark.parametrize("depth", [1_000, 100_000])
def test_a_deep_line_among_known_keys_is_skipped_not_fatal(tmp_path: Path, depth: int) -> None:
    """Past the first piece, lines go to polars before any depth check: it must refuse them, not crash."""
    rows = [json.dumps({"step": i, "loss": 0.5}) for i in range(300)]
    deep = '{"step": 150, "loss": ' + "[" * depth + "]" * depth + "}"
    path = tmp_path / "deep.jsonl"
    path.write_text("\n".join([*rows[:200], deep, *rows[200:]]) + "\n")
    out = subprocess.run(
        [sys.executable, "-c", _CHILD, str(path)], capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr[-2000:]
    found = json.loads(out.stdout.strip().splitlines()[-1])
    assert found["loss"] == 300
    assert any("nested deeper" in w and "line 201" in w for w in found["warnings"]), found["warnings"]
