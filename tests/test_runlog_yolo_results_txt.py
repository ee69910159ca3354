"""Headerless YOLO results.txt: every layout, appended runs, damaged rows, hyp.yaml/opt.yaml gains.

Each row is written the way the trainer wrote it (the `s = … % (…)` and `f.write(s + …)` lines of the
commit the layout cites), so a test fails if the reader drifts from the definition.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from inspector.errors import InspectorError
from inspector.runlog import read_log, read_logs
from inspector.runlog.readers import yolo_results_txt as reader
from inspector.runlog.registry import detect
from inspector.runlog.yolo_txt_layouts import LAYOUTS, identify

NAME = reader.NAME
LOSSES = (0.1161, 0.07067, 0.04542)  # box (GIoU), obj, cls as the trainer averaged them


def _ep(epoch: int, epochs: int) -> str:
    return f"{epoch:g}/{epochs - 1:g}"


def _losses(e: int) -> list[float]:
    """box, obj, cls, total falling with the epoch (distinct per epoch, so rows can be told apart)."""
    box, obj, cls = (v / (1 + 0.1 * e) for v in LOSSES)
    return [box, obj, cls, box + obj + cls]


def _metrics(e: int) -> list[float]:
    return [0.3 + 0.01 * e, 0.2 + 0.01 * e, 0.1 + 0.01 * e]


# --- writers, one per layout: the format strings of the cited commit -----------------------------------


def row_yolov5(e: int, epochs: int = 100, mem: float = 7.27, labels: int = 235, imgsz: int = 640) -> str:
    # yolov5/train.py: s = ('%10s' * 2 + '%10.4g' * 6) % ('%g/%g' % (epoch, epochs - 1), mem, *mloss, …)
    s = ("%10s" * 2 + "%10.4g" * 6) % (_ep(e, epochs), f"{mem:.3g}G", *_losses(e), labels, imgsz)
    p, r, m50 = _metrics(e)
    return (
        s + "%10.4g" * 7 % (p, r, m50, m50 / 2, 0.1051, 0.0587, 0.0404) + "\n"
    )  # P, R, mAP@.5, @.5:.95, val


def row_yolov3_2019_08_24(e: int, epochs: int = 273) -> str:
    # yolov3 ec942bd2: s = ('%10s' * 2 + '%10.3g' * 6) % (…); f.write(s + '%10.3g' * 7 % results)
    s = ("%10s" * 2 + "%10.3g" * 6) % (_ep(e, epochs), f"{3.21:.3g}G", *_losses(e), 41, 416)
    p, r, m50 = _metrics(e)
    return s + "%10.3g" * 7 % (p, r, m50, 0.25, 3.12, 1.57, 0.861) + "\n"  # P, R, mAP, F1, val GIoU, obj, cls


def _five(e: int, wh: float = 0.0) -> list[float]:
    giou, obj, cls, _ = _losses(e)
    return [giou, wh, obj, cls, giou + wh + obj + cls]


def row_yolov3_2019_08_04(e: int, epochs: int = 273, wh: float = 0.0) -> str:
    # yolov3 2ee16e82: s = ('%10s' * 2 + '%10.3g' * 7) % (…, '%.3gG' % mem, *mloss, len(targets), img_size)
    s = ("%10s" * 2 + "%10.3g" * 7) % (_ep(e, epochs), f"{3.21:.3g}G", *_five(e, wh), 41, 416)
    p, r, m50 = _metrics(e)
    return s + "%11.3g" * 7 % (p, r, m50, 0.25, 3.12, 1.57, 0.861) + "\n"


def row_yolov3_2019_07_16c(e: int, epochs: int = 273) -> str:
    # yolov3 51d7e460: the same s; f.write(s + '%11.3g' * 5 % results)  # P, R, mAP, F1, test_loss
    s = ("%10s" * 2 + "%10.3g" * 7) % (_ep(e, epochs), f"{3.21:.3g}G", *_five(e), 41, 416)
    p, r, m50 = _metrics(e)
    return s + "%11.3g" * 5 % (p, r, m50, 0.25, 5.55) + "\n"


def row_yolov3_2019_07_16b(e: int, epochs: int = 273) -> str:
    # yolov3 81540b80: s = ('%8s' + '%10.3g' * 8) % ('%g/%g' % (…), mem, *mloss, len(targets), img_size)
    s = ("%8s" + "%10.3g" * 8) % (_ep(e, epochs), 3.21, *_five(e), 41, 416)
    p, r, m50 = _metrics(e)
    return s + "%11.3g" * 5 % (p, r, m50, 0.25, 5.55) + "\n"


def row_yolov3_2019_07_16a(e: int, epochs: int = 273) -> str:
    # yolov3 09b36705: s = ('%8s' + '%10.3g' * 8) % ('%g/%g' % (…), *mloss, len(targets), img_size, mem)
    s = ("%8s" + "%10.3g" * 8) % (_ep(e, epochs), *_five(e), 41, 416, 3.21e9)
    p, r, m50 = _metrics(e)
    return s + "%11.3g" * 5 % (p, r, m50, 0.25, 5.55) + "\n"


def row_yolov3_2019_06_30(e: int, epochs: int = 273, nb: int = 118) -> str:
    # yolov3 db2674aa: s = ('%8s%12s' + '%10.3g' * 7) % (e/N, '%g/%g' % (i, nb - 1), *mloss, len(targets),
    # img_size)
    s = ("%8s%12s" + "%10.3g" * 7) % (_ep(e, epochs), f"{nb - 1:g}/{nb - 1:g}", *_five(e, 0.31), 41, 416)
    p, r, m50 = _metrics(e)
    return s + "%11.3g" * 5 % (p, r, m50, 0.25, 5.55) + "\n"


def row_yolov3_2019_04_05(e: int, epochs: int = 273, nb: int = 118) -> str:
    # yolov3 cb352be0: … *mloss, nt, time.time() - t)
    s = ("%8s%12s" + "%10.3g" * 7) % (_ep(e, epochs), f"{nb - 1:g}/{nb - 1:g}", *_five(e, 0.31), 41, 0.4137)
    p, r, m50 = _metrics(e)
    return s + "%11.3g" * 5 % (p, r, m50, 0.25, 5.55) + "\n"


def _twelve(e: int, order: str, epochs: int = 273, nb: int = 118) -> str:
    s = ("%8s%12s" + "%10.3g" * 7) % (_ep(e, epochs), f"{nb - 1:g}/{nb - 1:g}", *_five(e, 0.31), 41, 0.4137)
    p, r, m50 = _metrics(e)
    tail = (p, r, m50) if order == "PRmAP" else (m50, p, r)
    return s + "%11.3g" * 3 % tail + "\n"


def row_yolov3_2019_03_17(e: int) -> str:
    return _twelve(e, "PRmAP")  # 45fac6bf: f.write(s + '%11.3g' * 3 % (P, R, mAP))


def row_yolov3_2019_02_19(e: int) -> str:
    return _twelve(e, "mAPPR")  # 15bba5a3: f.write(s + '%11.3g' * 3 % (mAP, P, R))


def _seven_2018(e: int) -> list[float]:
    return [0.12 + e * 1e-3, 0.11, 0.53, 0.51, 2.31, 1.07, 4.65]  # x, y, w, h, conf, cls, total


def row_yolov3_2019_02_10(e: int, epochs: int = 100, nb: int = 60) -> str:
    # yolov3 22dc8c0e: s = ('%8s%12s' + '%10.3g' * 9) % (e/N, i/N, x, y, w, h, conf, cls, loss, nT, time)
    s = ("%8s%12s" + "%10.3g" * 9) % (_ep(e, epochs), f"{nb - 1:g}/{nb - 1:g}", *_seven_2018(e), 24, 0.833)
    p, r, m50 = _metrics(e)
    return s + "%11.3g" * 3 % (m50, p, r) + "\n"


def _s_2018(e: int, epochs: int, i: int, nb: int, fmt: str) -> str:
    # yolov3 c3731591: s = ('%10s%10s' + '%10.3g' * 14) % (e/N, i/N, x, y, w, h, conf, cls, loss, P, R, nGT,
    # TP, FP, FN, time)
    return fmt % (_ep(e, epochs), f"{i:g}/{nb - 1:g}", *_seven_2018(e), 0.41, 0.33, 24, 8, 16, 16, 0.52)


def row_yolov3_2018_11_22(e: int, epochs: int = 100, nb: int = 60) -> str:
    # yolov3 c5919364: s = ('%8s%12s' + '%10.3g' * 14); f.write(s + '%11.3g' * 3 % (mAP, P, R))
    p, r, m50 = _metrics(e)
    return _s_2018(e, epochs, nb - 1, nb, "%8s%12s" + "%10.3g" * 14) + "%11.3g" * 3 % (m50, p, r) + "\n"


def row_yolov3_2018_11_14(e: int, epochs: int = 100, nb: int = 60) -> str:
    # yolov3 45c55677: s = ('%11s%11s' + '%11.3g' * 14); f.write(s + '%11.3g' % mAP)
    return _s_2018(e, epochs, nb - 1, nb, "%11s%11s" + "%11.3g" * 14) + f"{_metrics(e)[2]:11.3g}" + "\n"


ROWS = {
    "yolov5": row_yolov5,
    "yolov3-2019-08-24": row_yolov3_2019_08_24,
    "yolov3-2019-08-04": row_yolov3_2019_08_04,
    "yolov3-2019-07-16c": row_yolov3_2019_07_16c,
    "yolov3-2019-07-16b": row_yolov3_2019_07_16b,
    "yolov3-2019-07-16a": row_yolov3_2019_07_16a,
    "yolov3-2019-06-30": row_yolov3_2019_06_30,
    "yolov3-2019-04-05": row_yolov3_2019_04_05,
    "yolov3-2019-03-17": row_yolov3_2019_03_17,
    "yolov3-2019-02-19": row_yolov3_2019_02_19,
    "yolov3-2019-02-10": row_yolov3_2019_02_10,
    "yolov3-2018-11-22": row_yolov3_2018_11_22,
    "yolov3-2018-11-14": row_yolov3_2018_11_14,
}


def _write(path: Path, text: str | bytes) -> Path:
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    return path


def _results(tmp_path: Path, rows: list[str], name: str = "results.txt") -> Path:
    return _write(tmp_path / name, "".join(rows))


HYP = "lr0: 0.01\nlrf: 0.2\nmomentum: 0.937\nbox: 0.05\ncls: 0.5\ncls_pw: 1.0\nobj: 1.0\nobj_pw: 1.0\n"


# --- every layout ----------------------------------------------------------------------------------


def test_every_catalogued_layout_has_a_writer_here() -> None:
    per_batch = {layout.key for layout in LAYOUTS if layout.per_batch}
    assert set(ROWS) | per_batch == {layout.key for layout in LAYOUTS}


# Rows of yolov3 2019-02-19 are those of 2019-03-17 with mAP, P, R in another order: no content tells them
# apart (test_twelve_columns_are_ambiguous_and_say_so).
AMBIGUOUS = {"yolov3-2019-02-19"}


@pytest.mark.parametrize("key", [key for key in ROWS if key not in AMBIGUOUS])
def test_each_layout_is_detected_and_read(tmp_path: Path, key: str) -> None:
    path = _results(tmp_path, [ROWS[key](e) for e in range(6)])
    assert detect(path) == NAME
    log = read_log(path)
    layout = next(layout for layout in LAYOUTS if layout.key == key)
    assert log.config["layout"] == key
    assert (log.format, log.framework, log.step_unit) == (NAME, "yolov5", "epoch")
    expected = {name for name, kind in layout.columns if kind not in ("epoch", "batch")}
    if (
        "train/wh_loss" in expected
        and "train/giou_loss" in expected
        and key in ("yolov3-2019-06-30", "yolov3-2019-04-05")
    ):
        expected = expected - {"train/giou_loss"} | {"train/xy_loss"}  # these rows log a nonzero wh
    assert set(log.series) == expected
    first = next(n for n in log.series if n.startswith("train/") and n.endswith("_loss"))
    np.testing.assert_array_equal(log.series[first].steps, np.arange(6))  # 0-based epochs, as logged
    mAP = log.series["metrics/mAP_0.5"].values
    np.testing.assert_allclose(mAP, [_metrics(e)[2] for e in range(6)], rtol=1e-3)
    assert log.config["epochs"] == int(ROWS[key](0).split()[0].split("/")[1]) + 1


def test_yolov5_values_and_names_exactly(tmp_path: Path) -> None:
    log = read_log(_results(tmp_path, [row_yolov5(e) for e in range(3)]))
    assert list(log.series) == [
        "gpu_mem",
        "train/box_loss",
        "train/obj_loss",
        "train/cls_loss",
        "train/total_loss",
        "labels",
        "img_size",
        "metrics/precision",
        "metrics/recall",
        "metrics/mAP_0.5",
        "metrics/mAP_0.5:0.95",
        "val/box_loss",
        "val/obj_loss",
        "val/cls_loss",
    ]
    assert log.series["train/box_loss"].values[0] == 0.1161
    assert log.series["gpu_mem"].values[0] == 7.27 and log.series["img_size"].values[0] == 640
    assert log.series["val/cls_loss"].values[-1] == 0.0404


def test_fifteen_columns_told_apart_by_precision(tmp_path: Path) -> None:
    v5 = read_log(_results(tmp_path, [row_yolov5(e) for e in range(4)], "a.txt"))
    v3 = read_log(_results(tmp_path, [row_yolov3_2019_08_24(e) for e in range(4)], "b.txt"))
    assert v5.config["layout"] == "yolov5" and "metrics/mAP_0.5:0.95" in v5.series
    assert v3.config["layout"] == "yolov3-2019-08-24" and "metrics/F1" in v3.series
    assert "train/giou_loss" in v3.series and "val/giou_loss" in v3.series


def test_rows_too_round_to_tell_the_precision_say_so(tmp_path: Path) -> None:
    row = ("%10s" * 2 + "%10.4g" * 13) % (
        "0/9",
        "1G",
        0.25,
        0.25,
        0.5,
        1,
        10,
        640,
        0,
        0,
        0,
        0,
        0.5,
        0.25,
        0.5,
    )
    log = read_log(_results(tmp_path, [row + "\n"]))
    assert log.config["layout"] == "yolov5"
    assert any("fit 2 results.txt layouts" in w for w in log.warnings)


def test_twelve_columns_are_ambiguous_and_say_so(tmp_path: Path) -> None:
    log = read_log(_results(tmp_path, [row_yolov3_2019_02_19(e) for e in range(3)]))
    assert log.config["layout"] == "yolov3-2019-03-17"
    assert any("yolov3-2019-02-19" in w and "yolov3-2019-03-17" in w for w in log.warnings)


def test_giou_or_xy_column_named_from_the_wh_loss(tmp_path: Path) -> None:
    giou = read_log(_results(tmp_path, [row_yolov3_2019_08_04(e) for e in range(3)], "a.txt"))
    xy = read_log(_results(tmp_path, [row_yolov3_2019_08_04(e, wh=0.2) for e in range(3)], "b.txt"))
    assert "train/giou_loss" in giou.series and "train/xy_loss" not in giou.series
    assert "train/xy_loss" in xy.series and "train/giou_loss" not in xy.series
    assert "val/giou_loss" in xy.series  # test.py always computed the val loss with GIoU


def test_per_batch_layout_steps_are_iterations(tmp_path: Path) -> None:
    nb = 4
    fmt = "%10s%10s" + "%10.3g" * 14
    rows = [_s_2018(e, 10, i, nb, fmt) + "\n" for e in range(2) for i in range(nb)]
    log = read_log(_results(tmp_path, rows))
    assert log.config["layout"] == "yolov3-2018-08-26" and log.step_unit == "iteration"
    np.testing.assert_array_equal(log.series["train/x_loss"].steps, np.arange(8))  # e·nb + i
    np.testing.assert_array_equal(log.series["train/x_loss"].epochs, [0, 0, 0, 0, 1, 1, 1, 1])


# --- appended runs, damage ----------------------------------------------------------------------------


def test_resumed_run_appended_is_a_segment(tmp_path: Path) -> None:
    rows = [row_yolov5(e) for e in range(10)] + [row_yolov5(e, mem=8.1) for e in range(6, 12)]
    log = read_log(_results(tmp_path, rows))
    assert len(log.segments) == 2 and log.segments[1].first_step == 6
    box = log.series["train/box_loss"]
    np.testing.assert_array_equal(box.steps, np.arange(12))
    assert log.series["gpu_mem"].values[6] == 8.1  # the later segment wins where they overlap
    assert any("restart" in w for w in log.warnings)


def test_a_new_total_of_epochs_is_a_new_launch(tmp_path: Path) -> None:
    rows = [row_yolov5(e, epochs=5) for e in range(5)] + [row_yolov5(e, epochs=300) for e in range(5, 8)]
    log = read_log(_results(tmp_path, rows))
    assert [s.first_step for s in log.segments] == [0, 5]
    assert log.config["epochs"] == 300
    assert any("new launch" in w for w in log.warnings)


def test_crlf_reads_as_lf(tmp_path: Path) -> None:
    rows = [row_yolov5(e) for e in range(5)]
    lf = read_log(_results(tmp_path, rows, "lf.txt"))
    crlf = read_log(_write(tmp_path / "crlf.txt", "".join(rows).replace("\n", "\r\n")))
    assert list(crlf.series) == list(lf.series) and crlf.warnings == lf.warnings
    for name in lf.series:
        np.testing.assert_array_equal(crlf.series[name].values, lf.series[name].values)


def test_truncated_last_row_is_skipped_and_named(tmp_path: Path) -> None:
    rows = [row_yolov5(e) for e in range(5)]
    path = _write(tmp_path / "results.txt", "".join(rows) + row_yolov5(5)[:57])
    log = read_log(path)
    assert log.n_steps == 5
    assert any("line 6" in w and "truncated" in w for w in log.warnings)


def test_nan_cells_are_kept_as_nan(tmp_path: Path) -> None:
    rows = [row_yolov5(e) for e in range(4)]
    s = ("%10s" * 2 + "%10.4g" * 6) % ("4/99", "7.27G", float("nan"), 0.07, 0.04, float("nan"), 235, 640)
    rows.append(s + "%10.4g" * 7 % (0.1, 0.1, 0.1, 0.05, float("inf"), 0.05, 0.04) + "\n")
    log = read_log(_results(tmp_path, rows))
    box = log.series["train/box_loss"]
    assert box.steps[-1] == 4 and np.isnan(box.values[-1])
    assert np.isnan(log.series["val/box_loss"].values[-1])
    assert log.non_finite == {"train/box_loss": 1, "train/total_loss": 1, "val/box_loss": 1}


def test_a_short_row_is_skipped_with_its_line_named(tmp_path: Path) -> None:
    rows = [row_yolov5(e) for e in range(6)]
    rows[2] = " ".join(rows[2].split()[:9]) + "\n"
    log = read_log(_results(tmp_path, rows))
    np.testing.assert_array_equal(log.series["train/obj_loss"].steps, [0, 1, 3, 4, 5])
    assert any("1 line(s)" in w and "line 3" in w for w in log.warnings)


def test_a_word_in_a_cell_and_a_stray_byte_cost_their_line(tmp_path: Path) -> None:
    rows = [row_yolov5(e).encode() for e in range(12)]
    rows[1] = rows[1].replace(b"0.0587", b"0.05\xff7")
    rows[4] = rows[4].replace(b"235", b"abc")
    log = read_log(_write(tmp_path / "results.txt", b"".join(rows)))
    np.testing.assert_array_equal(log.series["labels"].steps, [0, 2, 3, *range(5, 12)])
    assert any("line 2, 5" in w.replace("lines", "line") for w in log.warnings)


def test_blank_lines_are_not_rows(tmp_path: Path) -> None:
    log = read_log(_results(tmp_path, [row_yolov5(0), "\n", "   \n", row_yolov5(1)]))
    assert log.n_steps == 2 and not any("skipped" in w for w in log.warnings)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "empty"),
        (b"\x00\x01\x02\xff\xfe garbage \x00" * 50, "binary"),
        (b"   0/99   7.27G   0.1   0.2\n", "4 whitespace-separated column"),
        (b"epoch train/box_loss\n0 0.1\n", "not a YOLO results.txt"),
    ],
)
def test_bad_input_names_the_file(tmp_path: Path, content: bytes, message: str) -> None:
    path = _write(tmp_path / "results.txt", content)
    with pytest.raises(InspectorError, match=message) as err:
        reader.read(path)
    assert err.value.path == str(path)


def test_unknown_layout_is_refused_saying_what_was_found(tmp_path: Path) -> None:
    row = ("%10s" * 2 + "%10.4g" * 11) % ("0/9", "1.2G", *([0.1234] * 11)) + "\n"
    with pytest.raises(InspectorError, match=r"13 whitespace-separated column\(s\); the known .* 12, 14, 15"):
        read_log(_results(tmp_path, [row, row]), format=NAME)
    wrong = ("%10s" * 2 + "%10.4g" * 13) % ("0/9", "abc", *([0.1234] * 13)) + "\n"
    with pytest.raises(InspectorError, match="column 2 holds 'abc'"):
        read_log(_results(tmp_path, [wrong]), format=NAME)


# --- sniff: these tables only ----------------------------------------------------------------------


def test_sniff_claims_results_txt_only(tmp_path: Path) -> None:
    good = "".join(row_yolov5(e) for e in range(5)).encode()
    assert reader.sniff(tmp_path / "r.txt", good) == reader.SNIFF_SCORE
    assert reader.sniff(tmp_path / "r.txt", good[:300]) == reader.SNIFF_SCORE  # a head cut mid-row
    console = (
        "\n"
        + "%10s" * 8 % ("Epoch", "gpu_mem", "box", "obj", "cls", "total", "labels", "img_size")
        + "\n"
        + row_yolov5(0).rstrip("\n")
        + ": 100%|██████████| 10/10 [00:05<00:00,  1.89it/s]\n"
        + f"{'Class':>20}{'Images':>12}"
        + "\n"
    )
    numbers = "".join(
        " ".join(f"{v:.4f}" for v in np.random.default_rng(e).random(15)) + "\n" for e in range(5)
    )
    for text in (console, numbers, "epoch,train/box_loss\n0,0.1\n", "", "\x00\x01" * 100):
        assert reader.sniff(tmp_path / "r.txt", text.encode()) == 0.0, text[:40]
    assert reader.sniff(tmp_path / "r.txt", b"\xff\xfe\x00\x00" * 100) == 0.0


def test_one_damaged_line_in_the_head_still_sniffs(tmp_path: Path) -> None:
    rows = [row_yolov5(e) for e in range(8)]
    rows[3] = "garbage\n"
    assert reader.sniff(tmp_path / "r.txt", "".join(rows).encode()) == reader.SNIFF_SCORE


# --- hyp.yaml / opt.yaml -------------------------------------------------------------------------------


def test_hyp_beside_the_log_gives_the_gains(tmp_path: Path) -> None:
    _write(tmp_path / "hyp.yaml", HYP)
    log = read_log(_results(tmp_path, [row_yolov5(e) for e in range(3)]))
    assert log.config["loss_weights"] == {
        "train/box_loss": 0.05,
        "train/obj_loss": 1.0,
        "train/cls_loss": 0.5,
        "val/box_loss": 0.05,
        "val/obj_loss": 1.0,
        "val/cls_loss": 0.5,
    }
    assert log.config["weights_file"] == "hyp.yaml" and log.config["lr0"] == 0.01
    assert log.framework == "yolov5"
    assert not any("assumed" in w for w in log.warnings)  # a hyp without paste_in is no yolov7 hyp


def test_no_companion_records_no_gains_and_says_so(tmp_path: Path) -> None:
    log = read_log(_results(tmp_path, [row_yolov5(e) for e in range(3)]))
    assert "loss_weights" not in log.config and "weights_file" not in log.config
    assert any("no hyp.yaml or opt.yaml" in w for w in log.warnings)
    assert any("YOLOv5 conventions assumed" in w for w in log.warnings)


def test_uploaded_hyp_of_any_name_wins_over_the_sibling(tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    _write(run / "hyp.yaml", HYP)
    upload = _write(tmp_path / "upload_1a2b.yaml", HYP.replace("box: 0.05", "box: 0.07"))
    log = read_logs([_results(run, [row_yolov5(e) for e in range(3)]), upload])
    assert log.config["loss_weights"]["train/box_loss"] == 0.07
    assert log.config["weights_file"] == "upload_1a2b.yaml"


def test_rejected_hyp_is_named_and_the_log_still_read(tmp_path: Path) -> None:
    _write(tmp_path / "hyp.yaml", "box: [0.05\ncls: 0.5\n")
    log = read_log(_results(tmp_path, [row_yolov5(e) for e in range(3)]))
    assert log.n_steps == 3 and "loss_weights" not in log.config
    assert any("hyp.yaml was rejected" in w and "YAML error" in w for w in log.warnings)


def test_negative_gain_is_ignored_with_a_warning(tmp_path: Path) -> None:
    _write(tmp_path / "hyp.yaml", HYP.replace("obj: 1.0", "obj: -1.0"))
    log = read_log(_results(tmp_path, [row_yolov5(e) for e in range(3)]))
    assert (
        "train/obj_loss" not in log.config["loss_weights"]
        and log.config["loss_weights"]["train/cls_loss"] == 0.5
    )
    assert any("obj -1.0 is negative" in w and "train/obj_loss, val/obj_loss" in w for w in log.warnings)


def test_old_giou_key_is_the_box_gain(tmp_path: Path) -> None:
    _write(tmp_path / "hyp.yaml", HYP.replace("box: 0.05", "giou: 0.05"))  # yolov5 before 0ada058f6
    log = read_log(_results(tmp_path, [row_yolov5(e) for e in range(3)]))
    assert log.config["loss_weights"]["train/box_loss"] == 0.05


def test_opt_yaml_with_inline_hyp(tmp_path: Path) -> None:
    hyp = "".join(f"  {line}\n" for line in HYP.splitlines())
    _write(tmp_path / "opt.yaml", f"weights: yolov5s.pt\nepochs: 3\nbatch_size: 16\nhyp:\n{hyp}")
    log = read_log(_results(tmp_path, [row_yolov5(e) for e in range(3)]))
    assert log.config["weights_file"] == "opt.yaml" and log.config["loss_weights"]["val/obj_loss"] == 1.0


def test_opt_yaml_naming_a_hyp_file_not_given(tmp_path: Path) -> None:
    _write(tmp_path / "opt.yaml", "weights: yolov5s.pt\nepochs: 3\nhyp: data/hyp.scratch.yaml\n")
    log = read_log(_results(tmp_path, [row_yolov5(e) for e in range(3)]))
    assert "loss_weights" not in log.config
    assert any("opt.yaml names its hyp file 'data/hyp.scratch.yaml'" in w for w in log.warnings)
    assert log.framework == "yolov5" and not any("assumed" in w for w in log.warnings)  # weights say yolov5


def test_yolov7_told_from_its_hyp(tmp_path: Path) -> None:
    _write(tmp_path / "hyp.yaml", HYP + "paste_in: 0.15\nloss_ota: 1\n")
    log = read_log(_results(tmp_path, [row_yolov5(e) for e in range(3)]))
    assert log.framework == "yolov7" and log.config["loss_weights"]["train/box_loss"] == 0.05


def test_yolov7_told_from_its_opt(tmp_path: Path) -> None:
    _write(tmp_path / "opt.yaml", "weights: yolov7.pt\nepochs: 3\nhyp: data/hyp.scratch.p5.yaml\n")
    log = read_log(_results(tmp_path, [row_yolov5(e) for e in range(3)]))
    assert log.framework == "yolov7"


def test_legacy_yolov3_without_hyp_says_its_gains_were_not_yolov5s(tmp_path: Path) -> None:
    log = read_log(_results(tmp_path, [row_yolov3_2019_08_24(e) for e in range(3)]))
    assert "loss_weights" not in log.config and log.framework == "yolov5"
    assert any("kept its gains in train.py's hyp dict" in w for w in log.warnings)
    assert not any("assumed" in w for w in log.warnings)  # the layout itself says yolov3


def test_legacy_yolov3_hyp_is_recorded_with_its_caveat(tmp_path: Path) -> None:
    _write(tmp_path / "hyp.yaml", "giou: 3.54\ncls: 37.4\nobj: 49.5\nlr0: 0.00579\n")
    log = read_log(_results(tmp_path, [row_yolov3_2019_08_24(e) for e in range(3)]))
    assert log.config["loss_weights"] == {
        "train/giou_loss": 3.54,
        "train/obj_loss": 49.5,
        "train/cls_loss": 37.4,
        "val/giou_loss": 3.54,
        "val/obj_loss": 49.5,
        "val/cls_loss": 37.4,
    }
    assert any("kept its gains in train.py" in w for w in log.warnings)


# --- scale ------------------------------------------------------------------------------------------


def test_many_rows_read_vectorised(tmp_path: Path) -> None:
    rows = [row_yolov5(e % 1000, epochs=1000) for e in range(1000)]
    runs = ["".join(rows)] * 100  # 100k rows, 100 appended runs
    runs[50] = runs[50].replace(rows[0], "0/999 7.27G\n")  # line 50,001: a short row
    path = _write(tmp_path / "results.txt", "".join(runs))  # ~15 MB: several 4 MB pieces
    start = time.perf_counter()
    log = reader.read(path)
    elapsed = time.perf_counter() - start
    assert len(log.segments) == 100 and log.n_steps == 1000
    assert any("line 50001" in w for w in log.warnings)  # numbered across pieces
    assert elapsed < 10, f"{elapsed:.1f} s for 100k rows"


def test_identify_is_pure_over_split_rows() -> None:
    rows = [row_yolov5(e).split() for e in range(3)]
    found = identify(rows)
    assert not isinstance(found, str) and found.layout.key == "yolov5"
    assert isinstance(identify([["0/9", "x"]]), str)
