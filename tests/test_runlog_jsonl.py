"""JSON-lines readers (native, generic, Detectron2, MMEngine, mmdet 2.x), the shared loader and RunWriter."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest

from inspector.errors import InspectorError
from inspector.runlog import RunWriter, detect, jsonlines, read_log
from inspector.runlog.readers import detectron2, jsonl, mmdet_json, mmengine, native

D2 = "detectron2_metrics/frcnn-fruits-eval/metrics.json"
MMENGINE = "mmdet_json/rtmdet-drink-mmengine/scalars.json"
MMDET2 = "mmdet_json/maskrcnn-balloon-mmdet2/20230208_162410.log.json"
OURS = (native, jsonl, detectron2, mmengine, mmdet_json)


def write(path: Path, lines: list[str], end: str = "\n") -> Path:
    path.write_text("\n".join(lines) + end)
    return path


# --- real samples -----------------------------------------------------------------------------


def test_detectron2_sample(samples):
    log = read_log(samples / D2)
    assert (log.format, log.framework) == ("detectron2_json", "detectron2")
    for loss in ("loss_box_reg", "loss_cls", "loss_rpn_cls", "loss_rpn_loc", "total_loss", "lr"):
        assert list(log.series[loss].steps) == list(range(19, 300, 20))
    assert log.series["total_loss"].values[0] == pytest.approx(2.632075755856931)
    assert log.series["lr"].values[0] == pytest.approx(1.60675e-05)
    ap = log.series["bbox/AP"]
    # Merged into the training lines at 99 and 199; an eval-only line at 300.
    assert list(ap.steps) == [99, 199, 300]
    assert list(ap.values) == pytest.approx([23.934527287997305, 59.00039825411113, 75.7732398239824])
    assert np.isnan(log.series["bbox/APs"].values).all()
    assert log.non_finite == {"bbox/APs": 3}
    # The eval-only line must not replace the training values of any step.
    assert log.series["loss_cls"].values[-1] == pytest.approx(0.10959049686789513)
    assert len(log.segments) == 1


def test_mmengine_sample_val_lines_are_not_restarts(samples):
    log = read_log(samples / MMENGINE)
    assert (log.format, log.framework) == ("mmengine_json", "mmdet")
    assert len(log.segments) == 1 and not any("restart" in w for w in log.warnings)
    loss = log.series["loss_cls"]
    assert len(loss) == 160 and loss.steps[0] == 5 and loss.steps[-1] == 917
    assert loss.values[0] == pytest.approx(1.9373109340667725)
    m = log.series["coco/bbox_mAP"]
    # Val at epochs 10/20/30/40 → the last logged training step of each of those epochs.
    assert list(m.steps) == [227, 457, 687, 917]
    assert list(m.values) == pytest.approx([0.59, 0.906, 0.92, 0.931])
    assert list(log.series["coco/bbox_mAP_s"].values) == [-1.0] * 4
    # The val line's own timing does not overwrite the training line's.
    assert log.series["time"].values[-1] == pytest.approx(1.9604426097869874)
    assert log.series["loss_cls"].epochs[-1] == 40


def test_mmdet2_sample_epoch_local_iters(samples):
    log = read_log(samples / MMDET2)
    assert (log.format, log.framework) == ("mmdet2_json", "mmdet")
    assert log.config["iters_per_epoch_inferred"] == 30
    loss = log.series["loss"]
    assert list(loss.steps) == list(range(10, 301, 10))
    assert loss.values[0] == pytest.approx(7.02554) and loss.values[-1] == pytest.approx(0.21992)
    assert list(log.series["acc"].values[:2]) == pytest.approx([76.2207, 93.1543])
    ap = log.series["bbox_mAP"]
    assert list(ap.steps) == list(range(30, 301, 30))
    assert ap.values[0] == pytest.approx(0.0673) and ap.values[-1] == pytest.approx(0.7773)
    # Val lines' lr does not overwrite the training lr at the same step.
    assert log.series["lr"].values[-1] == pytest.approx(0.00154)
    assert not any("copypaste" in name or name in ("mode", "iter", "epoch") for name in log.series)
    assert log.config["loss_weights"] == {
        "loss_rpn_cls": 1.0,
        "loss_rpn_bbox": 1.0,
        "loss_cls": 1.0,
        "loss_bbox": 1.0,
        "loss_mask": 1.0,
    }
    assert log.config["runner"] == {"type": "EpochBasedRunner", "max_epochs": 10}
    assert len(log.segments) == 1


@pytest.mark.parametrize(
    "rel, name", [(D2, "detectron2_json"), (MMENGINE, "mmengine_json"), (MMDET2, "mmdet2_json")]
)
def test_detected_by_content_even_renamed(samples, tmp_path, rel, name):
    assert detect(samples / rel) == name
    renamed = tmp_path / "whatever.txt"
    shutil.copyfile(samples / rel, renamed)
    assert detect(renamed) == name


@pytest.mark.parametrize("rel, owner", [(D2, detectron2), (MMENGINE, mmengine), (MMDET2, mmdet_json)])
def test_only_the_owner_claims_a_sample_strongly(samples, rel, owner):
    head = (samples / rel).read_bytes()[:65536]
    for module in OURS:
        score = module.sniff(samples / rel, head)
        if module is owner:
            assert score == 0.9
        elif module is jsonl:
            assert score == 0.3
        else:
            assert score == 0.0


# --- RunWriter and the native format --------------------------------------------------------

CONFIG = {
    "loss_weights": {"bbox": 7.5, "cls": 0.5, "supcon": 1.0, "cpe": 0.5},
    "lr": 1e-3,
    "n_way": 3,
    "k_shot": 5,
}


def test_runwriter_round_trip(tmp_path):
    path = tmp_path / "runs" / "exp1" / "log.jsonl"
    with RunWriter(path, config=CONFIG) as w:
        for s in range(1, 6):
            w.step(
                s,
                losses={"bbox": 0.4 / s, "cls": 1.2, "supcon": 2.0, "cpe": float("nan") if s == 3 else 0.1},
                lr=1e-4 * s,
                epoch=0,
                positives=37 + s,
                pos_iou=0.55,
            )
        w.eval(5, {"map50": 0.31, "map50_95": 0.12, "st_iou": 0.2}, epoch=0)
    header = json.loads(path.read_text().splitlines()[0])
    assert header["type"] == "header" and header["format"] == "inspector-runlog" and header["version"] == 1
    assert detect(path) == "inspector_jsonl"
    log = read_log(path)
    assert (log.format, log.framework) == ("inspector_jsonl", "native")
    assert log.config["loss_weights"] == CONFIG["loss_weights"] and log.config["n_way"] == 3
    assert list(log.series["loss/bbox"].steps) == [1, 2, 3, 4, 5]
    assert list(log.series["loss/bbox"].values) == pytest.approx([0.4, 0.2, 0.4 / 3, 0.1, 0.08])
    total = log.series["loss/total"].values
    assert total[0] == pytest.approx(7.5 * 0.4 + 0.5 * 1.2 + 2.0 + 0.5 * 0.1)
    assert math.isnan(total[2]) and log.non_finite == {"loss/cpe": 1, "loss/total": 1}
    assert list(log.series["lr"].values) == pytest.approx([1e-4, 2e-4, 3e-4, 4e-4, 5e-4])
    assert list(log.series["positives"].values) == [38, 39, 40, 41, 42]
    assert log.series["eval/map50"].steps.tolist() == [5] and log.series["eval/st_iou"].values[0] == 0.2
    # The eval row shares step 5 with the last step row: both survive.
    assert log.series["loss/cls"].steps[-1] == 5
    assert (
        log.series["loss/bbox"].wall_times is not None
        and np.isfinite(log.series["loss/bbox"].wall_times).all()
    )
    assert not any("restart" in w for w in log.warnings)


def test_runwriter_leaves_a_none_loss_out_of_the_total(tmp_path):
    # a term not computed this step (None) is written as null and not summed; the rest are
    path = tmp_path / "log.jsonl"
    with RunWriter(path, config=CONFIG) as w:
        w.step(1, losses={"bbox": 0.4, "cls": 1.2, "supcon": 2.0, "cpe": None})
        w.step(2, losses={"bbox": 0.4, "cls": 1.2, "supcon": 2.0, "cpe": 0.1}, weights={"cpe": None})
    rows = [json.loads(line) for line in path.read_text().splitlines()[1:]]
    assert rows[0]["losses"]["cpe"] is None and rows[1]["weights"]["cpe"] is None
    assert [r["total"] for r in rows] == pytest.approx([7.5 * 0.4 + 0.5 * 1.2 + 2.0] * 2)
    log = read_log(path)
    assert log.series["loss/cpe"].steps.tolist() == [2] and log.series["loss/total"].values.size == 2


def test_runwriter_resume_appends_without_second_header(tmp_path):
    path = tmp_path / "log.jsonl"
    with RunWriter(path, config=CONFIG) as w:
        w.step(1, losses={"bbox": 1.0})
    with open(path, "a") as fh:  # a crash mid-write leaves half a line
        fh.write('{"type": "step", "st')
    with RunWriter(path) as w:  # resumed without a config: keeps the header's weights
        w.step(2, losses={"bbox": 1.0})
    lines = path.read_text().splitlines()
    assert sum('"header"' in line for line in lines) == 1
    assert json.loads(lines[-1])["total"] == 7.5
    log = read_log(path)
    assert log.series["loss/bbox"].steps.tolist() == [1, 2]
    assert any("malformed" in w and "line 3" in w for w in log.warnings)


def test_runwriter_refuses_to_append_to_a_foreign_file(tmp_path):
    path = write(tmp_path / "other.jsonl", ['{"step": 1, "loss": 2}'])
    with pytest.raises(ValueError, match="not an inspector run log"):
        RunWriter(path)


def test_native_weight_change_keeps_last_and_warns(tmp_path):
    path = tmp_path / "log.jsonl"
    with RunWriter(path, config={"loss_weights": {"bbox": 1.0}}) as w:
        w.step(1, losses={"bbox": 1.0})
        w.step(2, losses={"bbox": 1.0}, weights={"bbox": 7.5})
    log = read_log(path)
    assert log.config["loss_weights"] == {"bbox": 7.5}
    assert any("loss weights changed" in w and "bbox: 1 → 7.5" in w for w in log.warnings)


def test_native_header_only(tmp_path):
    with RunWriter(tmp_path / "log.jsonl", config=CONFIG):
        pass
    log = read_log(tmp_path / "log.jsonl")
    assert log.series == {} and log.config["lr"] == 1e-3
    assert any("no rows yet" in w for w in log.warnings)


# --- generic JSON lines and the tolerant loader ---------------------------------------------


def test_generic_jsonl_flattens_and_picks_the_step(tmp_path):
    path = write(
        tmp_path / "log.jsonl",
        [
            '{"global_step": 10, "epoch": 0, "train": {"loss": 1.5, "acc": "0.25"}, "note": "warmup"}',
            '{"global_step": 20, "epoch": 0, "train": {"loss": 1.0, "acc": "n/a"}, "note": "x"}',
        ],
    )
    assert detect(path) == "jsonl"
    log = read_log(path)
    assert log.framework == "generic"
    assert log.series["train/loss"].steps.tolist() == [10, 20]
    # A numeric string is a value; any other string is not a point (and not a NaN).
    assert log.series["train/acc"].steps.tolist() == [10] and log.series["train/acc"].values[0] == 0.25
    assert "note" not in log.series and "global_step" not in log.series and "epoch" in log.series
    assert log.non_finite == {}


def test_generic_jsonl_without_step_key_uses_row_index(tmp_path):
    path = write(tmp_path / "log.jsonl", ['{"loss": 3}', "", '{"loss": 2}', '{"loss": 1}'])
    log = read_log(path, format="jsonl")
    assert log.series["loss"].steps.tolist() == [0, 1, 2]
    assert any("row number" in w for w in log.warnings)


def test_restart_makes_two_segments_and_later_wins(tmp_path):
    lines = [json.dumps({"step": s, "loss": 1.0}) for s in (1, 2, 3, 4)]
    lines += [json.dumps({"step": s, "loss": 2.0}) for s in (3, 4, 5)]
    log = read_log(write(tmp_path / "log.jsonl", lines))
    assert len(log.segments) == 2
    s = log.series["loss"]
    assert s.steps.tolist() == [1, 2, 3, 4, 5] and s.values.tolist() == [1, 1, 2, 2, 2]
    assert any("restart" in w for w in log.warnings)


def test_nan_and_infinity_literals_are_counted(tmp_path):
    path = write(
        tmp_path / "log.jsonl",
        [
            '{"step": 1, "loss": NaN, "lr": 1}',
            '{"step": 2, "loss": Infinity}',
            '{"step": 3, "loss": -Infinity}',
            '{"step": 4, "loss": 0.5}',
        ],
    )
    log = read_log(path)
    assert log.non_finite == {"loss": 3}
    assert np.isnan(log.series["loss"].values[:3]).all() and log.series["loss"].values[3] == 0.5
    assert log.series["lr"].steps.tolist() == [1]  # absent keys are not points


def test_truncated_last_line_is_skipped_with_a_warning(tmp_path):
    lines = [json.dumps({"step": s, "loss": s / 10}) for s in range(1, 201)]
    path = write(tmp_path / "log.jsonl", lines + ['{"step": 201, "lo'], end="")
    log = read_log(path)
    assert log.series["loss"].steps.tolist() == list(range(1, 201))
    assert log.series["loss"].values[-1] == pytest.approx(20.0)
    assert any("last line (201) is incomplete" in w for w in log.warnings)


def test_malformed_middle_line_is_skipped_and_named(tmp_path):
    lines = [json.dumps({"step": s, "loss": 1.0}) for s in range(1, 301)]
    lines[149] = '{"step": 150, "loss" 1.0}'
    lines[199] = "[1, 2, 3]"
    log = read_log(write(tmp_path / "log.jsonl", lines), format="jsonl")
    steps = log.series["loss"].steps.tolist()
    assert len(steps) == 298 and 150 not in steps and 200 not in steps and steps[-1] == 300
    assert any("2 malformed line(s)" in w and "lines 150, 200" in w for w in log.warnings)


def test_type_change_between_lines_keeps_every_line(tmp_path):
    # pyarrow refuses a key that is a number on one line and a string on another.
    lines = [json.dumps({"step": s, "loss": 1.0, "tag": 1}) for s in range(1, 101)]
    lines.append(json.dumps({"step": 101, "loss": 2.0, "tag": "best"}))
    log = read_log(write(tmp_path / "log.jsonl", lines))
    assert log.series["loss"].steps.tolist() == list(range(1, 102))
    assert log.series["tag"].steps.tolist() == list(range(1, 101))
    assert not any("malformed" in w for w in log.warnings)


def test_overlong_line_is_skipped(tmp_path):
    blob = json.dumps({"step": 2, "blob": "x" * (jsonlines.MAX_LINE_BYTES + 10)})
    path = write(tmp_path / "log.jsonl", ['{"step": 1, "loss": 1}', blob, '{"step": 3, "loss": 3}'])
    log = read_log(path)
    assert log.series["loss"].steps.tolist() == [1, 3]
    assert any(f"over {jsonlines.MAX_LINE_BYTES} bytes" in w and "line 2" in w for w in log.warnings)


def test_binary_garbage_is_an_inspector_error(tmp_path):
    path = tmp_path / "log.jsonl"
    path.write_bytes(bytes(range(256)) * 40)
    with pytest.raises(InspectorError) as err:
        read_log(path)
    assert str(path) in str(err.value)
    for module in OURS:
        assert module.sniff(path, path.read_bytes()) == 0.0
        with pytest.raises(InspectorError, match="log.jsonl"):
            read_log(path, format=module.NAME)


def test_empty_file_is_an_inspector_error(tmp_path):
    path = tmp_path / "metrics.json"
    path.write_bytes(b"")
    for fmt in (None, "jsonl", "detectron2_json", "mmengine_json", "mmdet2_json", "inspector_jsonl"):
        with pytest.raises(InspectorError, match="metrics.json.*empty"):
            read_log(path, format=fmt)


def test_sniff_never_raises(tmp_path):
    path = tmp_path / "x"
    path.write_bytes(b"")
    for head in (b"", b"\xff\xfe{", b'{"a": [' * 5000, b"step,loss\n1,2\n", b'{"iteration": 1}\n'):
        for module in OURS:
            assert 0.0 <= module.sniff(path, head) <= 1.0


def test_mmdet2_config_is_parsed_not_executed(tmp_path):
    marker = tmp_path / "pwned"
    cfg = (
        f"import os\nx = os.system('touch {marker}')\n"
        "model = dict(rpn_head=dict(loss_cls=dict(type='CE', loss_weight=2.0)),\n"
        "             roi_head=dict(bbox_head=dict(loss_bbox=dict(type='L1Loss', loss_weight=0.5))))\n"
        "runner = dict(type='IterBasedRunner', max_iters=100)\n"
    )
    lines = [
        json.dumps({"env_info": "x", "config": cfg}),
        json.dumps({"mode": "train", "epoch": 1, "iter": 50, "lr": 0.1, "loss": 1.0}),
        json.dumps({"mode": "train", "epoch": 1, "iter": 100, "lr": 0.1, "loss": 0.5}),
        json.dumps({"mode": "val", "epoch": 1, "iter": 7, "lr": 0.1, "bbox_mAP": 0.3}),
    ]
    log = read_log(write(tmp_path / "run.log.json", lines))
    assert not marker.exists()
    assert log.config["loss_weights"] == {"loss_rpn_cls": 2.0, "loss_bbox": 0.5}
    # IterBasedRunner: `iter` is already global.
    assert log.series["loss"].steps.tolist() == [50, 100]
    assert log.series["bbox_mAP"].steps.tolist() == [100]


def test_mmengine_without_epoch_key_attaches_val_to_preceding_step(tmp_path):
    lines = [
        json.dumps({"lr": 0.1, "data_time": 0.1, "loss": 1.0 / s, "time": 0.2, "step": s}) for s in (5, 10)
    ]
    lines.append(json.dumps({"coco/bbox_mAP": 0.4, "data_time": 0.5, "time": 0.6, "step": 1}))
    lines += [json.dumps({"lr": 0.1, "data_time": 0.1, "loss": 0.05, "time": 0.2, "step": 15})]
    log = read_log(write(tmp_path / "scalars.json", lines))
    assert log.format == "mmengine_json" and len(log.segments) == 1
    assert log.series["coco/bbox_mAP"].steps.tolist() == [10]
    assert log.series["time"].values.tolist() == [0.2, 0.2, 0.2]


def test_mmengine_reads_loss_weights_from_its_config_dump(samples, tmp_path):
    cfg = write(
        tmp_path / "rtmdet_tiny_drink.py",
        [
            "model = dict(type='RTMDet', bbox_head=dict(type='RTMDetSepBNHead',",
            "    loss_cls=dict(type='QualityFocalLoss', beta=2.0, loss_weight=1.0),",
            "    loss_bbox=dict(type='GIoULoss', loss_weight=2.0)))",
            "train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=40, val_interval=10)",
        ],
    )
    from inspector.runlog import read_logs

    log = read_logs([samples / MMENGINE, cfg])
    assert log.config["loss_weights"] == {"loss_cls": 1.0, "loss_bbox": 2.0}
    assert log.config["train_cfg"]["val_interval"] == 10
