"""Ultralytics results.csv loss columns of every head: YOLOv10's two heads, segment/pose/obb/YOLO26, RT-DETR.

Tables are written as BaseTrainer.save_metrics writes them (THU-MIG/yolov10 ultralytics/engine/trainer.py):
    s = "" if self.csv.exists() else (("%23s," * n % tuple(["epoch"] + keys)).rstrip(",") + "\\n")
    f.write(s + ("%23.5g," * n % tuple([self.epoch + 1] + vals)).rstrip(",") + "\\n")
with keys = label_loss_items(tloss) ("train/<loss_name>"), the metrics (val losses among them) and lr/pg*.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from inspector.runlog import read_log, read_logs
from inspector.runlog.readers import ultralytics
from inspector.runlog.registry import detect

DEFAULT = "default (ultralytics/cfg/default.yaml)"
METRICS = ("metrics/precision(B)", "metrics/recall(B)", "metrics/mAP50(B)", "metrics/mAP50-95(B)")
V10_LOSSES = (
    "box_om",
    "cls_om",
    "dfl_om",
    "box_oo",
    "cls_oo",
    "dfl_oo",
)  # YOLOv10DetectionTrainer.loss_names
ARGS = (
    "task: detect\nmode: train\nmodel: yolov10n.yaml\nepochs: 3\nlr0: 0.01\nbox: 7.5\ncls: 0.5\ndfl: 1.5\n"
    "pose: 12.0\nkobj: 1.0\n"
)


def _results_csv(path: Path, losses: tuple[str, ...], epochs: int = 3) -> Path:
    keys = (
        [f"train/{x}" for x in losses] + list(METRICS) + [f"val/{x}" for x in losses] + ["lr/pg0", "lr/pg1"]
    )
    n = len(keys) + 1
    text = ("%23s," * n % tuple(["epoch"] + keys)).rstrip(",") + "\n"
    rng = np.random.default_rng(0)
    for epoch in range(epochs):
        vals = [*rng.random(len(losses)) + 1, *rng.random(4), *rng.random(len(losses)) + 1, 0.003, 0.003]
        text += ("%23.5g," * n % tuple([epoch + 1] + vals)).rstrip(",") + "\n"
    path.write_text(text)
    return path


def _args(path: Path, text: str = ARGS) -> Path:
    path.write_text(text)
    return path


def test_yolov10_with_args_yaml_gains_each_head(tmp_path: Path) -> None:
    csv = _results_csv(tmp_path / "results.csv", V10_LOSSES)
    _args(tmp_path / "args.yaml", ARGS.replace("box: 7.5", "box: 5.0"))
    assert detect(csv) == "ultralytics_csv"  # no *_loss column: claimed by its *_om/*_oo ones
    log = read_log(csv)
    assert log.framework == "ultralytics" and log.warnings == []
    gains = {"box": 5.0, "cls": 0.5, "dfl": 1.5}
    assert log.config["loss_weights"] == {
        f"{split}/{x}": gains[x[:3]] for split in ("train", "val") for x in V10_LOSSES
    }
    assert set(log.config["weight_sources"].values()) == {"args.yaml"}
    assert log.config["weights_file"] == "args.yaml"
    np.testing.assert_array_equal(log.series["train/box_oo"].steps, [1, 2, 3])


def test_yolov10_without_args_yaml_uses_the_defaults_and_says_so(tmp_path: Path) -> None:
    log = read_log(_results_csv(tmp_path / "results.csv", V10_LOSSES))
    assert (
        log.config["loss_weights"]["train/dfl_oo"] == 1.5 and log.config["loss_weights"]["val/box_om"] == 7.5
    )
    assert set(log.config["weight_sources"].values()) == {DEFAULT}
    assert "weights_file" not in log.config
    assert any("default loss gains assumed" in w for w in log.warnings)


def test_yolov10_sample_csv_of_the_repository_shape(tmp_path: Path) -> None:
    # THU-MIG/yolov10 logs/yolov10n.csv: the header and first row as committed (padded to 23 characters).
    header = [
        "epoch",
        *(f"train/{x}" for x in V10_LOSSES),
        *METRICS,
        *(f"val/{x}" for x in V10_LOSSES),
        "lr/pg0",
        "lr/pg1",
        "lr/pg2",
    ]
    row = [
        1,
        3.4799,
        5.502,
        3.965,
        3.2306,
        7.0616,
        3.7748,
        0,
        0,
        0,
        0,
        *[0] * 6,
        0.0033261,
        0.0033261,
        0.0033261,
    ]
    text = ",".join(f"{h:>23}" for h in header) + "\n" + ",".join(f"{v:23.5g}" for v in row) + "\n"
    path = tmp_path / "yolov10n.csv"
    path.write_text(text)
    log = read_log(path)
    assert log.format == "ultralytics_csv" and log.config["loss_weights"]["train/cls_oo"] == 0.5


@pytest.mark.parametrize(
    ("losses", "gains"),
    [
        # v8SegmentationLoss: seg (and YOLO26's sem) × box
        (
            ("box_loss", "seg_loss", "cls_loss", "dfl_loss", "sem_loss"),
            {"box_loss": 7.5, "seg_loss": 7.5, "cls_loss": 0.5, "dfl_loss": 1.5, "sem_loss": 7.5},
        ),
        # v8PoseLoss / PoseLoss26: pose × pose, kobj × kobj, rle × rle
        (
            ("box_loss", "pose_loss", "kobj_loss", "cls_loss", "dfl_loss", "rle_loss"),
            {
                "box_loss": 7.5,
                "pose_loss": 12.0,
                "kobj_loss": 1.0,
                "cls_loss": 0.5,
                "dfl_loss": 1.5,
                "rle_loss": 1.0,
            },
        ),
        # v8OBBLoss: angle × angle
        (
            ("box_loss", "cls_loss", "dfl_loss", "angle_loss"),
            {"box_loss": 7.5, "cls_loss": 0.5, "dfl_loss": 1.5, "angle_loss": 1.0},
        ),
        # DFL-free YOLO26: "dfl_loss" if self.use_dfl else "l1_loss", × dfl either way
        (("box_loss", "cls_loss", "l1_loss"), {"box_loss": 7.5, "cls_loss": 0.5, "l1_loss": 1.5}),
    ],
)
def test_task_heads_get_their_gains(tmp_path: Path, losses: tuple[str, ...], gains: dict[str, float]) -> None:
    csv = _results_csv(tmp_path / "results.csv", losses)
    _args(tmp_path / "args.yaml", ARGS + "rle: 1.0\nangle: 1.0\n")
    log = read_log(csv)
    assert log.config["loss_weights"] == {f"{s}/{k}": v for s in ("train", "val") for k, v in gains.items()}
    assert log.warnings == []


def test_rtdetr_gains_are_fixed_in_code_not_args(tmp_path: Path) -> None:
    csv = _results_csv(tmp_path / "results.csv", ("giou_loss", "cls_loss", "l1_loss"))
    _args(tmp_path / "args.yaml")
    log = read_log(csv)
    assert log.config["loss_weights"] == {
        f"{s}/{k}": v
        for s in ("train", "val")
        for k, v in {"giou_loss": 2.0, "cls_loss": 1.0, "l1_loss": 5.0}.items()
    }
    assert set(log.config["weight_sources"].values()) == {ultralytics.RTDETR_SOURCE}
    assert "weights_file" not in log.config  # args.yaml was read, but none of these gains came from it
    assert any("last decoder layer" in w for w in log.warnings)


def test_classify_loss_has_no_gain_and_no_warning(tmp_path: Path) -> None:
    path = tmp_path / "results.csv"
    path.write_text(
        "epoch,train/loss,metrics/accuracy_top1,metrics/accuracy_top5,val/loss,lr/pg0\n"
        "1,2.3,0.1,0.5,2.2,0.001\n2,2.1,0.2,0.6,2.0,0.001\n"
    )
    _args(tmp_path / "args.yaml")
    log = read_log(path)
    assert log.format == "ultralytics_csv" and log.config["loss_weights"] == {} and log.warnings == []


def test_an_undocumented_loss_column_is_named(tmp_path: Path) -> None:
    csv = _results_csv(tmp_path / "results.csv", ("box_loss", "cls_loss", "dfl_loss", "focal_loss"))
    _args(tmp_path / "args.yaml")
    log = read_log(csv)
    assert "train/focal_loss" not in log.config["loss_weights"]
    assert any(
        "train/focal_loss, val/focal_loss" in w and "no documented loss gain" in w for w in log.warnings
    )


def test_a_gain_missing_from_args_is_defaulted_and_said(tmp_path: Path) -> None:
    csv = _results_csv(
        tmp_path / "results.csv", ("box_loss", "pose_loss", "kobj_loss", "cls_loss", "dfl_loss", "rle_loss")
    )
    _args(tmp_path / "args.yaml")  # an args.yaml of before `rle` existed
    log = read_log(csv)
    sources = log.config["weight_sources"]
    assert sources["train/rle_loss"] == DEFAULT and sources["train/pose_loss"] == "args.yaml"
    assert log.config["weights_file"] == "args.yaml"
    assert any("args.yaml has no rle gain" in w and "train/rle_loss, val/rle_loss" in w for w in log.warnings)


def test_an_unusable_gain_is_said_once(tmp_path: Path) -> None:
    csv = _results_csv(tmp_path / "results.csv", V10_LOSSES)
    _args(tmp_path / "args.yaml", ARGS.replace("cls: 0.5", "cls: -2"))
    log = read_log(csv)
    assert (
        log.config["weight_sources"]["train/cls_om"] == DEFAULT
        and log.config["loss_weights"]["train/cls_om"] == 0.5
    )
    assert log.config["weight_sources"]["train/box_om"] == "args.yaml"
    assert [w for w in log.warnings if "cls" in w] == [
        "args.yaml: 1 loss gain(s) ignored, the default used instead (cls -2 is negative, 0.5 used)."
    ]


def test_uploaded_args_of_any_name(tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    csv = _results_csv(run / "results.csv", V10_LOSSES)
    upload = _args(tmp_path / "upload_9c.yaml", ARGS.replace("dfl: 1.5", "dfl: 2.0"))
    log = read_logs([csv, upload])
    assert log.config["loss_weights"]["val/dfl_oo"] == 2.0 and log.config["weights_file"] == "upload_9c.yaml"


def test_samples_record_where_their_gains_came_from(samples: Path, tmp_path: Path) -> None:
    v8 = read_log(samples / "ultralytics_csv/yolov8n-ados-oldstyle/results.csv")
    assert v8.warnings == [] and v8.config["weights_file"] == "args.yaml"
    assert set(v8.config["weight_sources"]) == set(v8.config["loss_weights"])
    assert set(v8.config["weight_sources"].values()) == {"args.yaml"}
    v5 = read_log(samples / "ultralytics_csv/yolov5s-lego/results.csv")
    assert (
        set(v5.config["weight_sources"].values()) == {"hyp.yaml"} and v5.config["weights_file"] == "hyp.yaml"
    )
    alone = Path(shutil.copy(samples / "ultralytics_csv/yolov5s-lego/results.csv", tmp_path / "results.csv"))
    assert set(read_log(alone).config["weight_sources"].values()) == {
        "default (yolov5 data/hyps/hyp.scratch-low.yaml)"
    }


def test_yolov5_segment_loss_is_no_plain_gain(tmp_path: Path) -> None:
    # yolov5 segment/train.py: train/box_loss, train/seg_loss, train/obj_loss, train/cls_loss, …
    csv = _results_csv(tmp_path / "results.csv", ("box_loss", "seg_loss", "obj_loss", "cls_loss"))
    _args(tmp_path / "hyp.yaml", "lr0: 0.01\nbox: 0.05\ncls: 0.5\nobj: 1.0\n")
    log = read_log(csv)
    assert log.framework == "yolov5" and "train/seg_loss" not in log.config["loss_weights"]
    assert log.config["loss_weights"]["train/obj_loss"] == 1.0
    assert any("train/seg_loss, val/seg_loss" in w and "box / batch size" in w for w in log.warnings)
