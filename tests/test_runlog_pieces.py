"""Readers that parse large files in pieces/chunks give the same RunLog as a one-piece parse.

The piece sizes are shrunk so that small real files cross many boundaries: a row or record cut at
a boundary, a key that first appears in a late piece, a tag first seen in a later chunk.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from inspector.runlog import pieces, read_log
from inspector.runlog.pieces import line_pieces
from inspector.runlog.readers import tfevents
from inspector.runlog.writer import FORMAT, VERSION

TF_SAMPLE = "tfevents/frcnn-fruits-d2"


def _same(a, b) -> None:
    assert list(a.series) == list(b.series)
    for name, s in a.series.items():
        t = b.series[name]
        np.testing.assert_array_equal(s.steps, t.steps)
        np.testing.assert_array_equal(s.values, t.values)
        for x, y in ((s.epochs, t.epochs), (s.wall_times, t.wall_times)):
            assert (x is None) == (y is None)
            if x is not None:
                np.testing.assert_array_equal(x, y)
    assert a.warnings == b.warnings


def test_line_pieces_cover_the_buffer_at_line_ends() -> None:
    data = b"".join(b"x" * (i % 7) + b"\n" for i in range(500)) + b"tail"
    parts = list(line_pieces(pa.py_buffer(data), size=37))
    assert b"".join(p.to_pybytes() for p in parts) == data
    assert len(parts) > 10 and all(p.to_pybytes().endswith(b"\n") for p in parts[:-1])


def test_native_jsonl_in_pieces_with_late_eval_keys(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "log.jsonl"
    rows = [
        {"type": "header", "format": FORMAT, "version": VERSION, "config": {"loss_weights": {"bbox": 2.0}}}
    ]
    for i in range(400):
        rows.append(
            {
                "type": "step",
                "step": i,
                "epoch": i // 100,
                "time": 1.7e9 + i,
                "lr": 1e-3,
                "losses": {"bbox": i * 0.5},
                "weights": {"bbox": 2.0},
                "total": i * 1.0,
            }
        )
        if i == 350:  # an eval key the first pieces never see
            rows.append({"type": "eval", "step": i, "metrics": {"map50": 0.25}})
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    whole = read_log(path)
    monkeypatch.setattr(pieces, "PIECE_BYTES", 300)
    cut = read_log(path)
    _same(whole, cut)
    assert cut.series["eval/map50"].values.tolist() == [0.25]
    assert len(cut.series["loss/bbox"]) == 400


def test_csv_in_pieces_with_a_column_empty_in_early_pieces(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "log.csv"
    lines = ["step,loss,val_map"] + [f"{i},{i * 0.1:.3f},{'' if i < 300 else i / 1000}" for i in range(400)]
    path.write_text("\n".join(lines) + "\n")
    whole = read_log(path)
    monkeypatch.setattr(pieces, "PIECE_BYTES", 256)
    cut = read_log(path)
    _same(whole, cut)
    assert len(cut.series["val_map"]) == 100 and len(cut.series["loss"]) == 400


def test_tfevents_in_small_chunks_matches_one_chunk(samples: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    whole = tfevents.read(samples / TF_SAMPLE)
    monkeypatch.setattr(tfevents, "_CHUNK_RECORDS", 7)
    cut = tfevents.read(samples / TF_SAMPLE)
    _same(whole, cut)
    assert len(cut.series) > 5
