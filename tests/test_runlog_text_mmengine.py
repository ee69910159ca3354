"""MMEngine text logs, inputs built from mmengine (LogProcessor, MMFormatter, Runner), mmdet (CocoMetric)."""

from __future__ import annotations

import datetime
from pathlib import Path

import numpy as np
import pytest
from test_runlog_text_chunks import SAMPLES, assert_piece_size_free

from inspector.runlog import registry
from inspector.runlog.readers import text
from inspector.runlog.text_dialects import DETECT_CHARS, DIALECTS, detect_dialect

# mmengine/logging/logger.py: MMFormatter's info format, the file handler's datefmt, logger_name "mmengine".
PREFIX = "2023/05/01 12:00:{s:02d} - mmengine - INFO - "
NUM_DIGITS = 4  # LogProcessor(num_digits=4)


def p(text: str = "", s: int = 0) -> str:
    return PREFIX.format(s=s % 60) + text


def train_line(e: int, i: int, n: int, loss: float | str, max_epochs: int = 12) -> str:
    """LogProcessor.get_log_after_iter, by_epoch=True: `Epoch(train)`, right-aligned `[e]`, `[i/N]`, items."""
    head = "Epoch(train)" + f"[{e}]".rjust(len(str(max_epochs)) + 3) + f"[{str(i).rjust(len(str(n)))}/{n}]  "
    return p(head + _items(loss))


def iter_line(i: int, max_iters: int, loss: float) -> str:
    """LogProcessor.get_log_after_iter, by_epoch=False: `Iter(train) [i/max_iters]`, i global."""
    return p(f"Iter(train) [{str(i).rjust(len(str(max_iters)))}/{max_iters}]  " + _items(loss))


def _items(loss: float | str) -> str:
    lr = f"base_lr: {1e-2:.{NUM_DIGITS}e} lr: {2e-3:.{NUM_DIGITS}e}"
    eta = str(datetime.timedelta(seconds=90061))  # "1 day, 1:01:01"
    loss_str = loss if isinstance(loss, str) else f"{loss:.{NUM_DIGITS}f}"
    return (
        f"{lr}  eta: {eta}  time: {0.5:.4f}  data_time: {0.01:.4f}  memory: 3730  "
        f"grad_norm: {2.5:.4f}  loss: {loss_str}  loss_cls: {0.5:.4f}  loss_bbox: {0.25:.4f}"
    )


def progress(
    mode: str, i: int, n: int, e: int | None = None, max_epochs: int = 12, unit: str = "Epoch"
) -> str:
    """A val/test progress line (get_log_after_iter in val/test mode): only the eval loop's timings."""
    epoch = "" if e is None else f"[{e}]".rjust(len(str(max_epochs)) + 3)
    sep = "" if epoch else " "
    return p(
        f"{unit}({mode}){sep}{epoch}[{str(i).rjust(len(str(n)))}/{n}]    eta: 0:00:20  time: 0.0412  "
        "data_time: 0.0021  memory: 1234"
    )


def eval_line(head: str, metrics: dict[str, float]) -> str:
    """LogProcessor.get_log_after_epoch: the header, the metrics, then the loop's data_time and time."""
    items = [f"{k}: {v:.{NUM_DIGITS}f}" for k, v in metrics.items()] + ["data_time: 0.0020", "time: 0.0400"]
    return p(head + "  " + "  " + "  ".join(items))


def ascii_table(rows: list[list[str]]) -> list[str]:
    """terminaltables.AsciiTable(rows).table: a border, the header, a border, the rows, a border."""
    widths = [max(len(r[c]) for r in rows) for c in range(len(rows[0]))]
    border = "+" + "+".join("-" * (w + 2) for w in widths) + "+"

    def line(r):
        return "|" + "|".join(f" {cell.ljust(w)} " for cell, w in zip(r, widths, strict=False)) + "|"

    return [border, line(rows[0]), border, *map(line, rows[1:]), border]


def pair_table(values: dict[str, float]) -> list[str]:
    """mmdet 3.0 CocoMetric classwise: category/AP pairs, three a row, zip_longest's None padding."""
    flat = [x for name, v in values.items() for x in (name, f"{round(v, 3)}")]
    cols = min(6, len(flat))
    rows = [["category", "AP"] * (cols // 2)]
    for k in range(0, len(flat), cols):
        chunk = flat[k : k + cols]
        rows.append(chunk + ["None"] * (cols - len(chunk)))
    return [p("Evaluating bbox..."), p()] + ascii_table(rows)


def row_table(metric: str, values: dict[str, list[float]]) -> list[str]:
    """Later mmdet 3.x CocoMetric classwise: one class per row, mAP … mAP_l."""
    rows = [["category", "mAP", "mAP_50", "mAP_75", "mAP_s", "mAP_m", "mAP_l"]]
    rows += [[name, *(f"{round(v, 3)}" for v in vs)] for name, vs in values.items()]
    return [p(f"Evaluating {metric}..."), p()] + ascii_table(rows)


def env_dump(lines: int = 20, extra: bytes = b"") -> bytes:
    """Runner._log_env: dashes, "System environment:", its items, dashes; then "Config:" and the dump."""
    dash = "-" * 60
    head = [p(), dash, "System environment:", "    sys.platform: win32", "    CUDA available: True"]
    config = [p("Config:")] + [f"setting_{k} = dict(type='Thing', value={k})" for k in range(lines)]
    return ("\r\n".join(head) + "\r\n").encode() + extra + ("\r\n".join([dash, *config]) + "\r\n").encode()


def epoch_run(epochs=(1, 2), n: int = 160, classwise=None, metrics=None) -> list[str]:
    out = []
    for e in epochs:
        out += [train_line(e, i, n, loss=2 - e / 10 - i / 1000) for i in (50, 100, 150, n)]
        out += [progress("val", 50, 500, e), progress("val", 500, 500, e)]
        if classwise:
            out += classwise(e)
        out.append(p(f"bbox_mAP_copypaste: 0.00{e} 0.003 0.000 -1.000 0.000 0.002"))
        out.append(
            eval_line(
                f"Epoch(val) [{e}][500/500]",
                metrics(e)
                if metrics
                else {"coco/bbox_mAP": e / 1000, "coco/bbox_mAP_50": 0.003, "coco/bbox_mAP_s": -1.0},
            )
        )
    return out


def write(
    tmp_path: Path,
    lines: list[str],
    head: bytes = b"",
    tail: bytes = b"",
    name: str = "run.log",
    newline: str = "\n",
) -> Path:
    path = tmp_path / name
    path.write_bytes(head + (newline.join(lines) + newline).encode() + tail)
    return path


def test_epoch_based_steps_and_val_at_the_last_step_of_its_epoch(tmp_path):
    log = text.read(write(tmp_path, epoch_run()))
    assert (log.framework, log.config["dialect"], log.step_unit) == ("mmdet", "mmengine", "iteration")
    loss = log.series["loss"]
    assert loss.steps.tolist() == [50, 100, 150, 160, 210, 260, 310, 320]  # (e-1)·N + i
    assert loss.values[0] == pytest.approx(1.85)
    assert log.series["lr"].values[0] == 2e-3 and log.series["base_lr"].values[0] == 1e-2
    assert log.series["grad_norm"].values[0] == 2.5 and log.series["memory"].values[0] == 3730
    # The val loop's own time/data_time/eta/memory are not training series: train values only.
    assert log.series["time"].values.tolist() == [0.5] * 8 and "eta" not in log.series
    assert log.series["coco/bbox_mAP"].steps.tolist() == [160, 320]
    assert log.series["coco/bbox_mAP"].values.tolist() == [0.001, 0.002]
    assert "bbox_mAP_copypaste" not in log.series
    assert len(log.segments) == 1


def test_minus_one_sized_map_is_kept_as_logged_with_a_warning(tmp_path):
    log = text.read(write(tmp_path, epoch_run()))
    # Kept as the mmengine_json reader keeps scalars.json's -1.
    assert log.series["coco/bbox_mAP_s"].values.tolist() == [-1.0, -1.0]
    assert [w for w in log.warnings if "coco/bbox_mAP_s: 2" in w and "no object of that size" in w]


def test_iteration_based_run_and_its_val_lines(tmp_path):
    lines = [iter_line(i, 90000, loss=1 / i) for i in (50, 100, 150)]
    lines += [progress("val", 50, 500, unit="Iter"), eval_line("Iter(val) [500/500]", {"coco/bbox_mAP": 0.1})]
    lines += [iter_line(i, 90000, loss=1 / i) for i in (200, 250)]
    lines += [eval_line("Iter(val) [500/500]", {"coco/bbox_mAP": 0.2})]
    log = text.read(write(tmp_path, lines))
    assert log.config["dialect"] == "mmengine"
    assert log.series["loss"].steps.tolist() == [50, 100, 150, 200, 250]
    assert log.series["coco/bbox_mAP"].steps.tolist() == [150, 250]


def test_test_lines_and_voc_metrics_keep_their_names(tmp_path):
    lines = epoch_run(metrics=lambda e: {"pascal_voc/mAP": e / 10, "pascal_voc/AP50": 0.5})
    lines += [progress("test", 50, 100), eval_line("Epoch(test) [100/100]", {"pascal_voc/mAP": 0.9})]
    log = text.read(write(tmp_path, lines))
    assert log.series["pascal_voc/mAP"].steps.tolist() == [160, 320]
    # A test after training: at the last training step, under mmengine's hierarchy name, not over the val.
    assert log.series["test/pascal_voc/mAP"].steps.tolist() == [320]
    assert log.series["test/pascal_voc/mAP"].values.tolist() == [0.9]
    assert log.series["pascal_voc/mAP"].values.tolist() == [0.1, 0.2]


def test_per_class_pairs_table_becomes_class_metrics(tmp_path):
    def table(e):
        return pair_table({"person": 0.5 + e / 100, "traffic light": float("nan"), "car": 0.3, "bus": 0.1})

    metrics = {"coco/bbox_mAP": 0.4, "coco/traffic light_precision": 0.2}
    lines = epoch_run(classwise=table, metrics=lambda e: metrics)
    log = text.read(write(tmp_path, lines))
    assert log.series["coco/bbox_mAP/person"].values.tolist() == [0.51, 0.52]
    assert log.series["coco/bbox_mAP/person"].steps.tolist() == [160, 320]
    assert log.series["coco/bbox_mAP/bus"].values.tolist() == [0.1, 0.1]  # on the padded last row
    assert np.isnan(log.series["coco/bbox_mAP/traffic light"].values).all()  # no ground truth of that class
    assert log.series["coco/traffic light_precision"].values.tolist() == [0.2, 0.2]  # a key with a space
    assert not any(k.startswith("coco/bbox_mAP/None") for k in log.series)
    assert not [w for w in log.warnings if "table" in w]


def test_per_class_rows_table_names_each_column_and_the_metric_evaluated(tmp_path):
    def table(e):
        return row_table("segm", {"person": [0.5, 0.7, 0.6, float("nan"), 0.4, 0.6], "dog": [0.1] * 6})

    lines = epoch_run(classwise=table, metrics=lambda e: {"coco/segm_mAP": 0.3, "coco/segm_mAP_50": 0.5})
    log = text.read(write(tmp_path, lines))
    assert log.series["coco/segm_mAP/person"].values.tolist() == [0.5, 0.5]
    assert log.series["coco/segm_mAP_50/person"].values.tolist() == [0.7, 0.7]
    assert log.series["coco/segm_mAP_l/dog"].steps.tolist() == [160, 320]
    assert np.isnan(log.series["coco/segm_mAP_s/person"].values).all()


def test_tables_of_unknown_meaning_are_skipped_with_a_warning(tmp_path):
    voc_rows = [["class", "gts", "dets", "recall", "ap"], ["dog", "10", "40", "0.9", "0.8"]]  # mean_ap.py

    def voc(e):
        return [p()] + ascii_table(voc_rows)

    log = text.read(write(tmp_path, epoch_run(classwise=voc)))
    assert not [k for k in log.series if "dog" in k]
    unknown = "2 table(s) of a shape this reader does not know"
    assert [w for w in log.warnings if unknown in w and "class | gts" in w]
    # A per-class table with no "Evaluating <metric>..." before it: which metric it is is unknown.

    def bare(e):
        return [p()] + ascii_table([["category", "AP"], ["dog", "0.8"]])

    log = text.read(write(tmp_path, epoch_run(classwise=bare), name="bare.log"))
    assert not [k for k in log.series if "dog" in k]
    assert any('no "Evaluating <metric>..." line' in w for w in log.warnings)
    # A table after the last eval line (a log cut during evaluation).
    cut = epoch_run() + pair_table({"dog": 0.8})
    log = text.read(write(tmp_path, cut, name="cut.log"))
    assert any("1 per-class value(s) from a table with no val/test line after it" in w for w in log.warnings)


def test_crlf_and_a_non_utf8_env_dump_longer_than_the_first_piece(tmp_path):
    head = env_dump(lines=30_000, extra=b"    GCC: \xd5\xc5\xc8\xfd MSVC 192930140\r\n")
    assert len(head) > DETECT_CHARS  # the first training line is after the first piece
    path = write(tmp_path, epoch_run(), head=head, newline="\r\n")
    assert text.sniff(path, path.read_bytes()[: registry.HEAD_BYTES]) == text.SNIFF_SCORE
    assert registry.detect(path) == "text"
    log = text.read(path)
    assert log.config["dialect"] == "mmengine"
    assert log.series["loss"].steps.tolist() == [50, 100, 150, 160, 210, 260, 310, 320]
    assert log.series["coco/bbox_mAP"].steps.tolist() == [160, 320]


def test_truncated_last_line_nan_loss_and_a_damaged_counter(tmp_path):
    lines = [
        train_line(1, 50, 160, loss="nan"),
        train_line(1, 100, 160, loss=1.5),
        p("Epoch(train)  [1][1x0/160]  lr: 1.0000e-02  loss: 1.2"),
        train_line(1, 150, 160, loss=1.4),
    ]
    log = text.read(write(tmp_path, lines, tail=train_line(1, 160, 160, loss=1.3)[:-40].encode()))
    loss = log.series["loss"]
    assert loss.steps.tolist() == [50, 100, 150]
    assert np.isnan(loss.values[0]) and log.non_finite == {"loss": 1}
    assert any("could not be parsed (line 3)" in w for w in log.warnings)
    assert any("the last line (5) is cut off" in w for w in log.warnings)


def test_concatenated_runs_are_launches(tmp_path):
    first = env_dump().decode().splitlines() + epoch_run(epochs=(1, 2))
    resumed = env_dump().decode().splitlines() + epoch_run(epochs=(3, 4))
    log = text.read(write(tmp_path, first + resumed))
    assert log.series["loss"].steps.tolist()[-1] == 640
    assert [(s.first_step, s.last_step) for s in log.segments] == [(50, 320), (370, 640)]
    assert any("a new launch at step 370" in w for w in log.warnings)


def test_val_before_any_training_line_is_put_at_step_zero(tmp_path):
    log = text.read(write(tmp_path, [eval_line("Epoch(val) [0][500/500]", {"coco/bbox_mAP": 0.3})]))
    assert log.series["coco/bbox_mAP"].steps.tolist() == [0]
    assert any("before any training line: put at step 0" in w for w in log.warnings)


def test_piece_boundaries_never_change_the_result(tmp_path):
    # Pieces from 1 byte to a few lines cut the env dump, tables, val lines and the launch banner everywhere.

    def table(e):
        return pair_table({"person": 0.5, "car": 0.3, "bus": 0.2, "dog": 0.1})

    lines = (
        epoch_run(epochs=(1, 2), classwise=table)
        + env_dump(5).decode().splitlines()
        + epoch_run(epochs=(3,), classwise=table)
    )
    path = write(
        tmp_path,
        lines,
        head=env_dump(5, extra=b"\xff\r\n"),
        newline="\r\n",
        tail=train_line(4, 50, 160, 1.0)[:-30].encode(),
    )
    whole = assert_piece_size_free(path, (1, 9, 77, 160, 401, 1500, 5000))
    framework, _, series, warnings, dialect, segments = whole
    assert (framework, dialect) == ("mmdet", "mmengine") and len(segments) == 2
    assert series["coco/bbox_mAP/dog"][0] == [160, 320, 480]


def test_the_existing_samples_keep_their_dialects(samples):
    expected = ("mmdet", "detectron2", "ultralytics")
    for rel, dialect in zip(SAMPLES, expected, strict=False):
        head = (samples / rel).read_bytes()[:DETECT_CHARS].decode("utf-8", errors="replace")
        assert detect_dialect(head) == dialect
        assert not DIALECTS.get("mmengine").marker.search(head) and not DIALECTS.get("yolox").marker.search(
            head
        )
