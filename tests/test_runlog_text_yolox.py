"""YOLOX train_log.txt (loguru), inputs built from yolox/core/trainer.py, loguru and COCOeval.summarize."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from test_runlog_text_chunks import assert_piece_size_free

from inspector.runlog import coco_summary
from inspector.runlog.readers import text
from inspector.runlog.text_dialects import DETECT_CHARS, detect_dialect
from inspector.runlog.text_yolox import EpochLengths

# Delgan/loguru loguru/_defaults.py LOGURU_FORMAT: the file sink YOLOX's setup_logger adds without a format.
FILE_PREFIX = "2021-07-20 10:29:31.123 | INFO     | yolox.core.trainer:{fn}:{line} - "
# yolox/utils/logger.py setup_logger's loguru_format: what a console capture holds.
CONSOLE_PREFIX = "2021-07-20 10:29:31 | INFO     | yolox.core.trainer:{line} - "
# COCOeval.summarize._summarizeDets: its 12 lines in order (maxDets [1, 10, 100]).
SUMMARY = [
    ("AP", "0.50:0.95", "all", 100),
    ("AP", "0.50", "all", 100),
    ("AP", "0.75", "all", 100),
    *(("AP", "0.50:0.95", area, 100) for area in ("small", "medium", "large")),
    ("AR", "0.50:0.95", "all", 1),
    ("AR", "0.50:0.95", "all", 10),
    ("AR", "0.50:0.95", "all", 100),
    *(("AR", "0.50:0.95", area, 100) for area in ("small", "medium", "large")),
]
NAMES = [
    "val/AP",
    "val/AP50",
    "val/AP75",
    "val/APs",
    "val/APm",
    "val/APl",
    "val/AR1",
    "val/AR10",
    "val/AR100",
    "val/ARs",
    "val/ARm",
    "val/ARl",
]


def prefix(fn: str = "after_iter", line: int = 247, console: bool = False) -> str:
    return CONSOLE_PREFIX.format(line=line) if console else FILE_PREFIX.format(fn=fn, line=line)


def summary_line(kind: str, iou: str, area: str, dets: int, value: float) -> str:
    """pycocotools' iStr, as COCOeval.summarize prints it."""
    title = "Average Precision" if kind == "AP" else "Average Recall"
    return " {:<18} {} @[ IoU={:<9} | area={:>6s} | maxDets={:>3d} ] = {:0.3f}".format(
        title, f"({kind})", iou, area, dets, value
    )


def banner(exp_lines: int = 6) -> list[str]:
    """Trainer.before_train: args, the exp table (BaseExp.__repr__: fancy_grid), Training start, the model."""
    table = [
        "╒═══════════════════╤════════════════╕",
        "│ keys              │ values         │",
        "╞═══════════════════╪════════════════╡",
    ]
    table += [f"│ key_{k:<13} │ {k * 0.5:<14} │" for k in range(exp_lines)]
    table += ["╘═══════════════════╧════════════════╛"]
    args = "args: Namespace(experiment_name='yolox_s', batch_size=64, fp16=True)"
    return (
        [prefix("before_train", 130) + args, prefix("before_train", 131) + "exp value:"]
        + table
        + [
            prefix("before_train", 136) + "Model Summary: Params: 8.97M, Gflops: 26.93",
            prefix("before_train", 180) + "Training start...",
            prefix("before_train", 181),
            "YOLOX(",
            "  (backbone): YOLOPAFPN()",
            ")",
        ]
    )


def iter_line(
    e: int,
    i: int,
    n: int,
    loss: float | str = 16.7,
    max_epoch: int = 300,
    new_mem: bool = False,
    console: bool = False,
) -> str:
    """Trainer.after_iter: progress, memory, time meters ({:.3f}s), loss meters ({:.1f}), lr, size, ETA."""
    mem = "gpu mem: 2785Mb, mem: 12.3Gb" if new_mem else "mem: 2785Mb"
    loss_str = loss if isinstance(loss, str) else f"{loss:.1f}"
    return (
        prefix(console=console) + f"epoch: {e}/{max_epoch}, iter: {i}/{n}, {mem}, iter_time: 0.521s, "
        f"data_time: 0.001s, total_loss: {loss_str}, iou_loss: 4.5, l1_loss: 0.0, conf_loss: 9.1, "
        f"cls_loss: 3.0, lr: {1.55e-8 * e:.3e}, size: 640, ETA: 2 days, 3:04:05"
    )


def evaluation(ap: float, small: float = -1.0) -> list[str]:
    """evaluate_and_save_model: logger.info("\\n" + summary), COCOEvaluator.evaluate_prediction's info."""
    values = [ap, 0.5, 0.3, small, 0.2, 0.4, 0.1, 0.2, 0.3, small, 0.35, 0.45]
    return (
        [
            prefix("evaluate_and_save_model", 300),
            "Average forward time: 5.12 ms, Average NMS time: 1.23 ms, Average inference time: 6.35 ms",
        ]
        + [summary_line(*cell, v) for cell, v in zip(SUMMARY, values, strict=True)]
        + [
            "per class AP:",
            "| class   | AP     | class   | AP     |",
            "|:--------|:-------|:--------|:-------|",
            "| person  | 40.1   | car     | 30.2   |",
            prefix("save_ckpt", 320) + "Save weights to ./YOLOX_outputs",
        ]
    )


def launch(n: int, epochs: range, evals: bool = True, **kw) -> list[str]:
    out = banner()
    for e in epochs:
        out.append(prefix("before_epoch", 190) + f"---> start train epoch{e}")
        out += [iter_line(e, i, n, loss=20 - e - i / 100, **kw) for i in range(10, n + 1, 10)]
        if evals:
            out += evaluation(ap=e / 100)
    return out


def write(
    tmp_path: Path,
    lines: list[str],
    name: str = "train_log.txt",
    newline: str = "\n",
    head: bytes = b"",
    tail: bytes = b"",
) -> Path:
    p = tmp_path / name
    p.write_bytes(head + (newline.join(lines) + newline).encode("utf-8") + tail)
    return p


def test_training_lines_become_global_steps_and_the_prefix_no_metric(tmp_path):
    log = text.read(write(tmp_path, launch(50, range(1, 4))))
    assert (log.framework, log.config["dialect"], log.step_unit) == ("yolox", "yolox", "iteration")
    loss = log.series["total_loss"]
    assert loss.steps.tolist() == [(e - 1) * 50 + i for e in (1, 2, 3) for i in range(10, 51, 10)]
    assert loss.values[0] == pytest.approx(18.9)
    assert log.series["mem"].values[0] == 2785 and log.series["iter_time"].values[0] == 0.521
    assert log.series["lr"].values[-1] == pytest.approx(4.65e-8)
    assert set(log.series) == {
        "mem",
        "iter_time",
        "data_time",
        "total_loss",
        "iou_loss",
        "l1_loss",
        "conf_loss",
        "cls_loss",
        "lr",
        "size",
        *NAMES,
    }
    assert len(log.segments) == 1


def test_newer_memory_items_and_the_console_prefix(tmp_path):
    lines = [iter_line(1, i, 30, new_mem=True, console=True) for i in (10, 20, 30)]
    log = text.read(write(tmp_path, lines))
    assert log.config["dialect"] == "yolox"
    assert log.series["gpu mem"].values.tolist() == [2785] * 3  # named as after_iter writes it
    assert log.series["mem"].values.tolist() == [12.3] * 3
    assert log.series["total_loss"].steps.tolist() == [10, 20, 30]


def test_coco_summary_becomes_val_metrics_at_the_epoch_it_follows(tmp_path):
    log = text.read(write(tmp_path, launch(50, range(1, 4))))
    for name in NAMES:
        assert log.series[name].steps.tolist() == [50, 100, 150], name
    assert log.series["val/AP"].values.tolist() == [0.01, 0.02, 0.03]
    assert log.series["val/AR10"].values.tolist() == [0.2] * 3 and log.series["val/ARl"].values[0] == 0.45
    # -1.000: no small objects in the set, not a score.
    assert np.isnan(log.series["val/APs"].values).all() and np.isnan(log.series["val/ARs"].values).all()
    assert log.non_finite == {"val/APs": 3, "val/ARs": 3}
    assert any("-1.000 for val/APs: 3, val/ARs: 3" in w and "NaN" in w for w in log.warnings)


def test_appended_launch_with_another_batch_size_counts_epochs_as_logged(tmp_path):
    # 50 iterations per epoch for epochs 1-3, then a relaunch from epoch 3 with 30 (a larger batch).
    lines = launch(50, range(1, 4)) + launch(30, range(3, 6))
    log = text.read(write(tmp_path, lines))
    # Epochs 1-2 are 50 long (as logged), 3-5 are 30 long (the later launch logged them last).
    first = [(e - 1) * 50 + i for e in (1, 2) for i in range(10, 51, 10)]
    second = [100 + (e - 3) * 30 + i for e in (3, 4, 5) for i in (10, 20, 30)]
    assert log.series["total_loss"].steps.tolist() == first + second
    assert log.series["total_loss"].values[-1] == pytest.approx(20 - 5 - 0.3)
    assert [(s.first_step, s.last_step, s.rows) for s in log.segments] == [(10, 150, 15), (110, 190, 9)]
    assert any("restart" in w and "5 earlier row(s) replaced" in w for w in log.warnings)
    # Launch 1's epoch-3 evaluation sat on a row the relaunch replaced; each launch's evals stay on its rows.
    assert log.series["val/AP"].steps.tolist() == [50, 100, 130, 160, 190]
    assert log.series["val/AP"].values.tolist() == [0.01, 0.02, 0.03, 0.04, 0.05]


def test_a_resumed_launch_that_goes_on_forward_is_a_segment_of_its_own(tmp_path):
    lines = launch(50, range(1, 3)) + launch(50, range(3, 5))
    log = text.read(write(tmp_path, lines))
    steps = [(e - 1) * 50 + i for e in range(1, 5) for i in range(10, 51, 10)]
    assert log.series["total_loss"].steps.tolist() == steps
    assert [(s.first_step, s.last_step) for s in log.segments] == [(10, 100), (110, 200)]
    assert any("a new launch at step 110" in w for w in log.warnings)


def test_thirteen_appended_launches_are_thirteen_segments(tmp_path):
    lines = [line for k in range(13) for line in launch(20, range(k + 1, k + 2))]
    log = text.read(write(tmp_path, lines))
    assert len(log.segments) == 13
    assert log.series["total_loss"].steps.tolist() == [e * 20 + i for e in range(13) for i in (10, 20)]


def test_epoch_lengths_fill_unlogged_epochs_with_the_next_logged_length():
    # Rows of epochs 3 (length 10) then 3 again and 6 (length 4): the later row of epoch 3 wins.
    lengths = EpochLengths.of(np.array([3, 3, 6]), np.array([10, 4, 4]))
    assert lengths.epochs.tolist() == [3, 6] and lengths.lengths.tolist() == [4, 4]
    assert lengths.starts.tolist() == [8, 20]  # epochs 1-2 take epoch 3's length; 4-5 take epoch 6's
    assert lengths.start(np.array([1, 3, 4, 6, 8])).tolist() == [0, 8, 12, 20, 28]
    assert lengths.end(np.array([3, 4, 8])).tolist() == [12, 16, 32]


def test_crlf_non_utf8_and_a_long_banner_are_read_and_detected_in_the_first_piece(tmp_path):
    lines = banner(exp_lines=15_000) + [iter_line(1, i, 30) for i in (10, 20, 30)]
    lines += evaluation(0.25, small=0.1)
    assert len("\n".join(banner(exp_lines=15_000))) > DETECT_CHARS  # training starts after the first piece
    # A GBK user name in a Windows path: not UTF-8.
    env = b"2021-07-20 10:29:30.001 | INFO     | yolox.core.launch:main:12 - cwd: C:\\\xd5\xc5\xc8\xfd\r\n"
    p = write(tmp_path, lines, newline="\r\n", head=env)
    assert text.sniff(p, p.read_bytes()[: 64 * 1024]) == text.SNIFF_SCORE
    assert detect_dialect(p.read_bytes()[:4096].decode("latin-1")) == "yolox"
    log = text.read(p)
    assert log.config["dialect"] == "yolox"
    assert log.series["total_loss"].steps.tolist() == [10, 20, 30]
    assert log.series["val/APs"].values.tolist() == [0.1] and log.non_finite == {}


def test_truncated_last_line_nan_loss_and_damaged_counters(tmp_path):
    lines = [
        iter_line(1, 10, 30),
        iter_line(1, 20, 30, loss="nan"),
        iter_line(1, 30, 30, loss="inf"),
        iter_line(301, 10, 30),  # epoch beyond max_epoch: damaged
        prefix() + "epoch: 2/300, iter: 10/30, mem",  # no value at all
        iter_line(2, 20, 30),
    ]
    p = write(tmp_path, lines, tail=iter_line(2, 30, 30)[:-60].encode())
    log = text.read(p)
    loss = log.series["total_loss"]
    assert loss.steps.tolist() == [10, 20, 30, 50]
    assert np.isnan(loss.values[1]) and np.isnan(loss.values[2]) and log.non_finite == {"total_loss": 2}
    assert any("2 line(s) look like metrics but could not be parsed (line 4, 5)" in w for w in log.warnings)
    assert any("the last line (7) is cut off" in w for w in log.warnings)


def test_an_epoch_shorter_than_print_interval_logs_evals_at_their_epoch(tmp_path):
    # 7 iterations per epoch, printed every 10: YOLOX prints no training line at all.
    log = text.read(write(tmp_path, launch(7, range(1, 4))))
    assert log.step_unit == "epoch"
    assert log.series["val/AP"].steps.tolist() == [1, 2, 3]
    assert any("no training line" in w for w in log.warnings)


def test_an_epoch_without_training_lines_between_logged_ones_gets_its_end_step(tmp_path):
    lines = (
        banner()
        + [iter_line(1, i, 20) for i in (10, 20)]
        + evaluation(0.1)
        + [prefix("before_epoch", 190) + "---> start train epoch2"]
        + evaluation(0.2)
        + [iter_line(3, i, 20) for i in (10, 20)]
        + evaluation(0.3)
    )
    log = text.read(write(tmp_path, lines))
    assert log.series["total_loss"].steps.tolist() == [10, 20, 50, 60]
    assert log.series["val/AP"].steps.tolist() == [20, 40, 60]  # epoch 2 ends at step 40


def test_piece_boundaries_never_change_the_result(tmp_path):
    # Pieces from 1 byte to a few lines cut launches, evaluation blocks and the per-class table everywhere.
    lines = launch(30, range(1, 3)) + launch(20, range(2, 4), new_mem=True)
    p = write(tmp_path, lines, newline="\r\n", tail=iter_line(3, 30, 40)[:-20].encode())
    whole = assert_piece_size_free(p, (1, 7, 61, 150, 333, 1024, 4096))
    framework, _, series, warnings, dialect, segments = whole
    assert (framework, dialect) == ("yolox", "yolox") and len(segments) == 2
    # Epoch 1 is 30 long, 2 and 3 are 20 (the relaunch logged them last): launch 1's epoch-2 eval (at 60)
    # sat on a row the relaunch (from step 40 on) replaced.
    assert series["val/AP"][0] == [30, 50, 70]


@pytest.mark.parametrize(
    "line, name",
    [
        (summary_line("AP", "0.50:0.95", "all", 100, 0.5), "AP"),
        (summary_line("AP", "0.75", "all", 100, 0.5), "AP75"),
        (summary_line("AP", "0.50:0.95", "large", 100, 0.5), "APl"),
        (summary_line("AR", "0.50:0.95", "all", 1, 0.5), "AR1"),
        (summary_line("AR", "0.50:0.95", "all", 1000, 0.5), "AR1000"),  # mmdet's proposal_nums 100/300/1000
        (summary_line("AR", "0.50:0.95", "medium", 1000, 0.5), "ARm"),
        (summary_line("AR", "0.50", "all", 20, 0.5), "AR50"),  # the keypoint block
    ],
)
def test_summary_lines_are_named_from_what_they_say(line, name):
    parsed = coco_summary.parse_line(line)
    assert parsed is not None and parsed.name == name and parsed.value == 0.5 and not parsed.not_measured


def test_summary_minus_one_is_not_measured_and_damaged_lines_are_none():
    parsed = coco_summary.parse_line(summary_line("AP", "0.50:0.95", "small", 100, -1))
    assert parsed.not_measured and math.isnan(parsed.value)
    cut = " Average Precision  (AP) @[ IoU=0.50:0.95 | area=   all | maxDets=100 ] = "
    assert coco_summary.parse_line(cut) is None
    three_bounds = " Average Precision  (AP) @[ IoU=0.5:0.9:1 | area=all | maxDets=100 ] = 0.1"
    assert coco_summary.parse_line(three_bounds) is None
