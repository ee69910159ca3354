"""Reading a console log in pieces changes nothing: same series, warnings and line numbers as one piece."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from test_fuzz_readers import fuzz  # bench/fuzz.py: text_outcome, what a caller of text.read sees

from inspector.runlog.readers import text
from inspector.runlog.text_decode import _next_piece, text_pieces

SAMPLES = (
    "text_log/mmdet2-maskrcnn-balloon/20230208_162410.log",
    "text_log/detectron2-frcnn-nyu/log_semi-supervised-to-supervised.txt",
    "text_log/ultralytics-tqdm-xview/training_log.txt",
)
WHOLE = 1 << 24  # one piece for any test file (plus an unterminated last line)


def assert_piece_size_free(path: Path, sizes) -> tuple:
    whole = fuzz.text_outcome(path, WHOLE)
    for size in sizes:
        assert fuzz.text_outcome(path, size) == whole, f"piece_bytes={size}"
    return whole


def write(tmp_path: Path, data: bytes, name: str = "train.log") -> Path:
    p = tmp_path / name
    p.write_bytes(data)
    return p


@pytest.mark.parametrize("rel", SAMPLES)
def test_samples_read_the_same_in_tiny_pieces(samples, rel):
    whole = assert_piece_size_free(samples / rel, (1, 5, 64, 999, 8192))
    assert whole[0] != "error" and whole[2]


def _mixed_log() -> bytes:
    """CRLF lines, a tqdm `\\r` run, multi-byte UTF-8, a bad line, a restart and a cut-off last line."""
    out = []
    for step in range(1, 13):
        if step == 4:
            out.append(
                b"Epoch 1:  50%|\xe2\x96\x88 | 1/2 [loss=9]\r"
                b"Epoch 1: 100%|\xe2\x96\x88\xe2\x96\x88| 2/2 [loss=8]\r\n"
            )
        if step == 6:
            out.append(b"step=oops loss=1.0\r\n")
        if step == 9:
            out.append("note: données \U0001f600 ok\n".encode())
        out.append(b"step=%d loss=0.%d lr=0.01\r\n" % (step if step < 10 else step - 5, step))
    return b"".join(out) + b"step=13 loss=0."


def test_every_piece_boundary_gives_the_one_piece_result(tmp_path):
    data = _mixed_log()
    p = write(tmp_path, data)
    # Every size up to a few lines puts a nominal cut inside each CRLF, the tqdm run and each UTF-8 character.
    whole = assert_piece_size_free(p, range(1, 80))
    framework, _, series, warnings, _, segments = whole
    # The tqdm bar has no step and repeats `loss` of step 3, the step it would join: it is skipped (line 4)
    # rather than overwrite that value; the restart at 5 replaces steps 5..9.
    assert series["loss"] == ([1, 2, 3, 4, 5, 6, 7], [0.1, 0.2, 0.3, 0.4, 0.1, 0.11, 0.12])
    assert any("without a step repeat a key" in w and "(line 4)" in w for w in warnings)
    assert segments == [(1, 9, 9), (5, 7, 3)]
    assert any("line 7" in w and "could not be parsed" in w for w in warnings)
    assert any("the last line (16)" in w for w in warnings)


def test_pieces_number_lines_as_the_whole_file(tmp_path):
    data = _mixed_log()
    p = write(tmp_path, data)
    pieces = list(text_pieces(p, piece_bytes=7))
    assert len(pieces) > 10
    numbers = np.concatenate([piece.line_numbers for piece in pieces])
    whole = list(text_pieces(p, piece_bytes=WHOLE))
    assert len(whole) == 2  # the terminated lines, then the cut-off last line
    np.testing.assert_array_equal(numbers, np.concatenate([piece.line_numbers for piece in whole]))
    assert numbers.tolist() == [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16]
    assert [piece.first_line for piece in pieces] == np.cumsum(
        [0] + [len(x.line_numbers) for x in pieces[:-1]]
    ).tolist()
    assert [piece.truncated_last for piece in pieces] == [False] * (len(pieces) - 1) + [True]


def test_next_piece_cuts_after_a_newline_and_keeps_long_lines_whole():
    data = b"a=1\r\nbb=2\r\n" + b"x" * 50 + b"\r" + b"y" * 10 + b"\nend"
    fh = io.BytesIO(data)
    got = []
    while piece := _next_piece(fh, 4):
        got.append(piece)
    assert b"".join(got) == data
    assert all(p.endswith(b"\n") for p in got[:-1]) and got[-1] == b"end"
    assert b"x" * 50 + b"\r" + b"y" * 10 + b"\n" in got  # the long line is one piece
    cr_only = io.BytesIO(b"step=1 loss=1\rstep=2 loss=2\r")
    assert _next_piece(cr_only, 3) == b"step=1 loss=1\rstep=2 loss=2\r"


def test_latin1_after_utf8_pieces_rereads_the_whole_file_as_latin1(tmp_path):
    head = "é ok\n".encode() + b"".join(b"step=%d loss=0.%d\n" % (s, s) for s in range(30))
    p = write(tmp_path, head + "Température 5\n".encode("latin-1") + b"step=30 loss=0.5\n")
    whole = assert_piece_size_free(p, (1, 16, 100))
    assert whole[2]["loss"][0] == list(range(31))


@pytest.mark.parametrize(
    "data",
    [
        # the step key of the whole file (`step`) appears only after many `iter` lines
        b"".join(b"iter=%d loss=0.%d\n" % (s, s) for s in range(20)) + b"step=100 loss=1\niter: junk\n",
        # epoch 0 appears late: every epoch-local step shifts by one epoch
        b"".join(b"Epoch %d (%d/4): loss=0.%d\n" % (e, i, i) for e in (1, 2) for i in range(1, 5))
        + b"Epoch 0 (1/4): loss=0.5\n",
        # an epoch-based mmdet line after iteration-based ones
        b"".join(b"mmdet - INFO - Iter [%d/50]\tlr: 1e-3, loss: 0.%d\n" % (s, s) for s in range(1, 15))
        + b"mmdet - INFO - Epoch [1][5/10]\tlr: 1e-3, loss: 0.5\n",
    ],
    ids=["late_step_key", "late_epoch_zero", "late_mmdet_epoch"],
)
def test_a_late_file_wide_choice_gives_the_one_piece_result(tmp_path, data):
    whole = assert_piece_size_free(write(tmp_path, data), (1, 20, 64))
    assert whole[0] != "error"


def test_late_step_key_wins_over_the_first_pieces_guess(tmp_path):
    data = b"".join(b"iter=%d loss=0.%d\n" % (s, s) for s in range(20)) + b"step=100 loss=1\n"
    log = text.read(write(tmp_path, data), piece_bytes=16)
    # `step` is the file's step key even though the first pieces only have `iter`: rows before the
    # first `step=` have no step and are dropped, so `iter` is no series.
    assert log.series["loss"].steps.tolist() == [100]
    assert "iter" not in log.series


def test_utf16_bom_and_errors_are_the_same_in_pieces(tmp_path):
    rows = "".join(f"step={s} loss=0.{s} é\n" for s in range(20))
    assert_piece_size_free(write(tmp_path, rows.encode("utf-16"), "u16.log"), (1, 33))
    whole = assert_piece_size_free(write(tmp_path, b"\xef\xbb\xbf" + rows.encode(), "bom.log"), (1, 3, 33))
    assert whole[2]["loss"][0] == list(range(20))
    for name, data, reason in [
        ("empty.log", b"\n \n" * 10, "empty"),
        ("nul.log", b"step=1 \x00" * 40, "binary"),
        ("none.log", b"hello\nworld\n" * 10, "no metric"),
    ]:
        whole = assert_piece_size_free(write(tmp_path, data, name), (1, 5))
        assert whole[0] == "error" and reason in whole[1]


def test_long_line_in_a_later_piece_keeps_its_file_line(tmp_path):
    rows = b"".join(b"step=%d loss=0.%d\n" % (s, s) for s in range(40))
    p = write(tmp_path, rows + b"k=1 " * 30_000 + b"\n" + rows.replace(b"step=", b"step=1"))
    whole = assert_piece_size_free(p, (64, 4096))
    assert any("over 100000 characters" in w and "line 41" in w for w in whole[3])
