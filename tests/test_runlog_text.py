"""Plain-text console logs: the three real samples, parity with mmdet's JSON log, and synthetic edge cases."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from inspector.errors import InspectorError
from inspector.runlog import detect
from inspector.runlog.readers import text
from inspector.runlog.text_decode import resolve_carriage_returns

MMDET = "text_log/mmdet2-maskrcnn-balloon/20230208_162410.log"
MMDET_JSON = "mmdet_json/maskrcnn-balloon-mmdet2/20230208_162410.log.json"
D2 = "text_log/detectron2-frcnn-nyu/log_semi-supervised-to-supervised.txt"
ULTRA = "text_log/ultralytics-tqdm-xview/training_log.txt"


def write(tmp_path: Path, content: str | bytes, name: str = "train.log") -> Path:
    p = tmp_path / name
    if isinstance(content, str):
        p.write_bytes(content.encode("utf-8"))
    else:
        p.write_bytes(content)
    return p


def test_mmdet2_text_global_steps_losses_and_val(samples):
    log = text.read(samples / MMDET)
    assert log.framework == "mmdet"
    loss = log.series["loss"]
    assert loss.steps[:4].tolist() == [10, 20, 30, 41]  # (e-1)*31 + i
    assert loss.steps[-1] == 9 * 31 + 30 and len(loss) == 30
    assert loss.values[0] == pytest.approx(7.0255, abs=1e-9)
    assert log.series["loss_mask"].values[0] == pytest.approx(5.9327, abs=1e-9)
    assert log.series["memory"].values[2] == 3733
    assert "eta" not in log.series
    mAP = log.series["bbox_mAP"]
    assert mAP.steps.tolist() == [e * 31 + 30 for e in range(10)]  # last train step of each epoch
    assert mAP.values[:3].tolist() == [0.0673, 0.5452, 0.5909]
    assert "bbox_mAP_copypaste" not in log.series
    assert log.warnings == []


def test_mmdet2_text_matches_its_json_log(samples):
    log = text.read(samples / MMDET)
    rows = [json.loads(line) for line in (samples / MMDET_JSON).read_text().splitlines()]
    train = [r for r in rows if r.get("mode") == "train"]
    steps = [(r["epoch"] - 1) * 31 + r["iter"] for r in train]
    for key in ("loss", "loss_cls", "loss_bbox", "loss_mask", "loss_rpn_cls", "acc", "lr", "memory"):
        s = log.series[key]
        assert s.steps.tolist() == steps, key
        np.testing.assert_allclose(s.values, [r[key] for r in train], atol=1e-4 if key != "acc" else 1e-3)
    val = [r["bbox_mAP"] for r in rows if r.get("mode") == "val"]
    np.testing.assert_allclose(log.series["bbox_mAP"].values, val, atol=1e-4)


def test_detectron2_text(samples):
    log = text.read(samples / D2)
    assert log.framework == "detectron2"
    total = log.series["total_loss"]
    assert len(total) == 50 and total.steps[0] == 19 and total.steps[-1] == 999
    assert total.values[0] == pytest.approx(0.1651)
    assert log.series["max_mem"].values[0] == 11811
    ap = log.series["bbox/AP"]
    assert ap.steps.tolist() == [999] and ap.values[0] == pytest.approx(25.1930)
    assert log.series["bbox/APl"].values[0] == pytest.approx(30.0910)


def test_ultralytics_tqdm_stdout(samples):
    log = text.read(samples / ULTRA)
    assert (log.framework, log.step_unit) == ("ultralytics", "epoch")
    box = log.series["train/box_loss"]
    assert box.steps.tolist() == list(range(1, 101))
    assert box.values[0] == 2.034 and log.series["train/dfl_loss"].values[-1] == 0.9857
    m50 = log.series["metrics/mAP50(B)"]
    # SOURCES.md counts 78 val rows; 22 more sit glued after their tqdm bar's "]" on the
    # "Class … mAP50-95):" line (the capture lost a newline). They are real, so all 100 are read.
    assert len(m50) == 100
    assert m50.values[0] == 0.148 and log.series["metrics/mAP50-95(B)"].values[0] == 0.0748
    assert m50.values[11] == 0.229  # epoch 12: one of the glued rows
    assert m50.values[-1] == 0.298  # epoch 100's own row, not the final best.pt check (0.315)


def test_carriage_return_progress_keeps_each_epochs_final_state(tmp_path):
    header = "      Epoch    GPU_mem   box_loss   cls_loss   dfl_loss  Instances       Size\n"
    bar = (
        "  {e}/3      1.5G      {v}      2.000      1.000         12        "
        "640: {p}%|##| {i}/50 [00:01<00:00]"
    )
    line = "\r".join(
        [
            bar.format(e=1, v="9.000", p=10, i=5),
            bar.format(e=1, v="3.000", p=100, i=50),
            bar.format(e=2, v="8.000", p=10, i=5),
            bar.format(e=2, v="2.500", p=100, i=50),
        ]
    )
    p = write(tmp_path, header + line + "\n" + header + bar.format(e=3, v="2.000", p=100, i=50) + "\n")
    log = text.read(p)
    box = log.series["train/box_loss"]
    assert box.steps.tolist() == [1, 2, 3] and box.values.tolist() == [3.0, 2.5, 2.0]


def test_resolve_carriage_returns_last_update_wins():
    assert resolve_carriage_returns("a 10%\rb 50%\rc 100%") == ["c 100%"]
    assert resolve_carriage_returns("Epoch 1 9%\rEpoch 1 100%\rEpoch 2 3%") == ["Epoch 1 100%", "Epoch 2 3%"]


def test_epoch_local_counters_become_global_steps(tmp_path):
    p = write(
        tmp_path, "Epoch 1 (500/500): loss=15.0000 bbox=1.0\nEpoch 2 (268/500): loss=14.1710 bbox=0.5\n"
    )
    log = text.read(p)
    assert log.series["loss"].steps.tolist() == [500, 768]  # epochs start at 1: (2-1)*500 + 268
    assert log.series["loss"].values[1] == 14.1710
    zero_based = write(tmp_path, "Epoch 0 (10/100): loss=1\nEpoch 1 (10/100): loss=2\n", "z.log")
    assert text.read(zero_based).series["loss"].steps.tolist() == [10, 110]


def test_generic_key_value_and_colon_styles(tmp_path):
    p = write(
        tmp_path,
        "banner: starting run\nstep=1 loss=0.53 lr=1e-4\nstep: 2, loss: 0.50, lr: 2e-4\n"
        "step=3 loss=0.47 lr=3e-4\n",
    )
    log = text.read(p)
    assert log.framework == "generic"
    assert log.series["loss"].steps.tolist() == [1, 2, 3]
    assert log.series["lr"].values.tolist() == [1e-4, 2e-4, 3e-4]
    assert "step" not in log.series


def test_restart_gives_two_segments_and_a_warning(tmp_path):
    p = write(tmp_path, "".join(f"step={s} loss={s / 10}\n" for s in (1, 2, 3, 4, 2, 3, 4, 5)))
    log = text.read(p)
    assert len(log.segments) == 2
    assert any("restart" in w for w in log.warnings)
    assert log.series["loss"].steps.tolist() == [1, 2, 3, 4, 5]


def test_nan_and_inf_are_kept_as_nan(tmp_path):
    p = write(tmp_path, "step=1 loss=0.5\nstep=2 loss=nan\nstep=3 loss=inf\nstep=4 loss=0.4\n")
    log = text.read(p)
    v = log.series["loss"].values
    assert np.isnan(v[1]) and np.isnan(v[2]) and v[3] == 0.4
    assert log.non_finite == {"loss": 2}


def test_truncated_last_line_is_skipped_with_warning(tmp_path):
    p = write(tmp_path, "step=1 loss=0.5 lr=0.1\nstep=2 loss=0.4 lr=0.1\nstep=3 loss=0.")
    log = text.read(p)
    assert log.series["loss"].steps.tolist() == [1, 2]
    assert any("cut off" in w for w in log.warnings)
    complete = write(tmp_path, "step=1 loss=0.5\nstep=2 loss=0.4", "c.log")
    assert text.read(complete).series["loss"].steps.tolist() == [1, 2]


def test_unparseable_metric_lines_are_counted(tmp_path):
    p = write(tmp_path, "step=1 loss=0.5\nstep=oops loss=0.4\nstep=3 loss=0.3\n")
    log = text.read(p)
    assert log.series["loss"].steps.tolist() == [1, 3]
    assert any("1 line(s) look like metrics" in w and "line 2" in w for w in log.warnings)


def test_latin1_text_is_read(tmp_path):
    p = write(tmp_path, "Température élevée\nstep=1 loss=0.5\nstep=2 loss=0.4\n".encode("latin-1"))
    assert text.read(p).series["loss"].values.tolist() == [0.5, 0.4]


def test_ansi_and_crlf_are_stripped(tmp_path):
    p = write(tmp_path, "\x1b[32mstep=1 loss=0.5\x1b[0m\r\nstep=2 loss=0.4\r\n")
    assert text.read(p).series["loss"].steps.tolist() == [1, 2]


@pytest.mark.parametrize(
    "content, reason",
    [
        (b"", "empty"),
        (b"\x00\x01\x02garbage" * 50, "binary"),
        (bytes(range(256)) * 4, "binary"),
        (b"hello world\nno metrics here\n", "no metric"),
    ],
)
def test_unreadable_input_names_the_file(tmp_path, content, reason):
    p = write(tmp_path, content, "bad.log")
    with pytest.raises(InspectorError, match=reason) as info:
        text.read(p)
    assert info.value.path == str(p)


def test_sniff(tmp_path, samples):
    for rel in (MMDET, D2, ULTRA):
        head = (samples / rel).read_bytes()[: 64 * 1024]
        assert text.sniff(samples / rel, head) == 0.5
    assert text.sniff(tmp_path, b"step=1 loss=2\nstep=2 loss=1\nstep=3 loss=0\n") == 0.5
    assert text.sniff(tmp_path, b"\x00\x01binary") == 0.0
    assert text.sniff(tmp_path, b"just prose\n") == 0.0


def test_registry_detects_text_for_the_samples(samples):
    for rel in (MMDET, D2, ULTRA):
        assert detect(samples / rel) == "text"


def test_detectron2_copypaste_rows_out_of_order_read_as_nan(tmp_path: Path) -> None:
    # A reordered (or hand-edited) log.txt puts the names row where the values row should be: words there
    # are not numbers, and must not escape as a ValueError.
    head = (
        "[11/25 10:00:00 d2.utils.events]:  eta: 0:01:00  iter: 19  total_loss: 1.5  loss_cls: 0.7  "
        "lr: 0.001\n"
    )
    table = (
        "[11/25 10:01:00 d2.evaluation.testing]: copypaste: Task: bbox\n"
        "[11/25 10:01:00 d2.evaluation.testing]: copypaste: AP,AP50\n"
        "[11/25 10:01:00 d2.evaluation.testing]: copypaste: AP,AP50\n"
    )
    tail = (
        "[11/25 10:02:00 d2.utils.events]:  eta: 0:00:30  iter: 39  total_loss: 1.2  loss_cls: 0.5  "
        "lr: 0.001\n"
    )
    log = text.read(write(tmp_path, head + table + tail, "log.txt"))
    assert log.config["dialect"] == "detectron2"
    np.testing.assert_array_equal(log.series["total_loss"].steps, [19, 39])
    assert "bbox/AP" not in log.series  # only NaN: nothing was logged


def test_merge_joins_existing_rows_and_adds_new_ones_in_file_order() -> None:
    from inspector.runlog.text_table import Column, Table, merge_rows

    train = Table(
        "mmdet", np.array([10, 20, 30]), {"loss": Column(np.array([1.0, 2.0, 3.0]))}, np.array([0, 2, 5])
    )
    # Nothing new: untouched training columns are passed on without a copy; a new key stays sparse.
    same = merge_rows(train, Table("mmdet", np.array([20]), {"map": Column(np.array([0.5]))}, np.array([3])))
    assert same.columns["loss"] is train.columns["loss"]
    np.testing.assert_array_equal(same.columns["map"].rows, [1])
    np.testing.assert_array_equal(same.columns["map"].values, [0.5])
    # A value at a step no row has becomes a row, placed by its line; a row without the key has no value.
    extra = Table(
        "mmdet",
        np.array([15, 20, 40]),
        {"map": Column(np.array([0.1, 0.9]), np.array([0, 2]))},
        np.array([1, 3, 7]),
    )
    both = merge_rows(train, extra)
    np.testing.assert_array_equal(both.rows, [0, 1, 2, 5, 7])
    np.testing.assert_array_equal(both.steps, [10, 15, 20, 30, 40])
    np.testing.assert_array_equal(both.columns["loss"].dense(5)[1], [True, False, True, True, False])
    np.testing.assert_array_equal(both.columns["loss"].values, [1.0, 2.0, 3.0])
    np.testing.assert_array_equal(both.columns["map"].rows, [1, 4])
    np.testing.assert_array_equal(both.columns["map"].values, [0.1, 0.9])


def test_template_pattern_starts_at_the_first_key_when_numbers_come_before_it():
    import pyarrow as pa

    from inspector.runlog.text_pairs import extract_pairs, template_of

    line = (
        "2023-02-08 16:24:25,413 - mmdet - INFO - Epoch [1][10/31]\tlr: 4.746e-05, eta: 0:03:28, loss: 7.0255"
    )
    template, _ = template_of(line)
    assert not template.extract_pattern.startswith("^") and "])lr: (?P<s10>" in template.extract_pattern
    plain, _ = template_of("step=5 loss=0.5")
    assert plain.extract_pattern.startswith("^step=")
    # Prefixes of another shape (a longer ETA, a 3-digit iteration) are no pair: the suffix decides.
    lines = pa.array(
        [
            line,
            "2023-02-08 16:24:29,609 - mmdet - INFO - Epoch [1][100/310]\tlr: 9.741e-05, "
            "eta: 10:02:41, loss: 1.6239",
        ]
    )
    pairs = extract_pairs(lines)
    np.testing.assert_allclose(pairs.columns["lr"].values, [4.746e-05, 9.741e-05])
    np.testing.assert_allclose(pairs.columns["loss"].values, [7.0255, 1.6239])
    assert "eta" not in pairs.columns  # 0:03:28 is not one number
