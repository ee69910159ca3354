"""CSV-family readers (csv, ultralytics_csv, wandb_csv) and the TensorBoard event reader."""

from __future__ import annotations

import json
import shutil
import struct
from pathlib import Path

import numpy as np
import pytest
from tensorboard.compat.proto import event_pb2, summary_pb2, tensor_pb2, tensor_shape_pb2
from tensorboard.summary.writer.event_file_writer import EventFileWriter

from inspector.errors import InspectorError
from inspector.runlog import csv_tables, tfevents_wire
from inspector.runlog.readers import csv_table, tfevents, ultralytics, wandb_csv
from inspector.runlog.registry import detect, read_log

TF_SAMPLE = "tfevents/frcnn-fruits-d2"


def _write(path: Path, text: str) -> Path:
    path.write_bytes(text.encode())
    return path


def _simple_event(step: int, tag: str, value: float, wall: float = 1.0e9) -> event_pb2.Event:
    return event_pb2.Event(
        wall_time=wall,
        step=step,
        summary=summary_pb2.Summary(value=[summary_pb2.Summary.Value(tag=tag, simple_value=value)]),
    )


def _tensor_event(step: int, tag: str, value: float, dtype: int = tfevents_wire.DT_FLOAT) -> event_pb2.Event:
    """A TF2-style scalar: a rank-0 tensor with the scalars plugin's metadata."""
    if dtype == tfevents_wire.DT_FLOAT:
        tensor = tensor_pb2.TensorProto(
            dtype=dtype, tensor_shape=tensor_shape_pb2.TensorShapeProto(), float_val=[value]
        )
    else:
        tensor = tensor_pb2.TensorProto(
            dtype=dtype,
            tensor_shape=tensor_shape_pb2.TensorShapeProto(),
            tensor_content=struct.pack("<d", value),
        )
    meta = summary_pb2.SummaryMetadata(
        plugin_data=summary_pb2.SummaryMetadata.PluginData(plugin_name="scalars")
    )
    return event_pb2.Event(
        wall_time=1.0e9 + step,
        step=step,
        summary=summary_pb2.Summary(value=[summary_pb2.Summary.Value(tag=tag, tensor=tensor, metadata=meta)]),
    )


def _write_events(path: Path, events: list[event_pb2.Event]) -> Path:
    """`path`, an event file written by tensorboard's own writer (file_version record first)."""
    scratch = path.parent / f".scratch-{path.name}"
    writer = EventFileWriter(str(scratch))
    for e in events:
        writer.add_event(e)
    writer.close()
    path.parent.mkdir(parents=True, exist_ok=True)
    (written,) = scratch.iterdir()
    written.rename(path)
    scratch.rmdir()
    return path


# --- Ultralytics results.csv -------------------------------------------------------------------


def test_yolov8_old_style_padded(samples: Path) -> None:
    log = read_log(samples / "ultralytics_csv/yolov8n-ados-oldstyle/results.csv", format="ultralytics_csv")
    assert (log.format, log.framework, log.step_unit) == ("ultralytics_csv", "ultralytics", "epoch")
    box = log.series["train/box_loss"]
    np.testing.assert_array_equal(box.steps, np.arange(1, 101))  # 1-based, as logged
    assert box.values[0] == 0.55257 and box.values[-1] == 0.11596
    assert log.series["lr/pg0"].values[0] == 0.00023
    assert log.series["metrics/recall(B)"].values[0] == 1.0
    assert "epoch" not in log.series and len(log.series) == 13
    assert log.config["loss_weights"] == {
        "train/box_loss": 7.5,
        "train/cls_loss": 0.5,
        "train/dfl_loss": 1.5,
        "val/box_loss": 7.5,
        "val/cls_loss": 0.5,
        "val/dfl_loss": 1.5,
    }
    assert log.config["lr0"] == 0.01 and log.config["epochs"] == 100
    assert log.config["args"]["model"] == "yolov8n.pt"
    assert log.warnings == [] and box.wall_times is None


def test_yolo12_new_style_time_column(samples: Path) -> None:
    log = read_log(
        samples / "ultralytics_csv/yolo12n-handraise-newstyle/results.csv", format="ultralytics_csv"
    )
    cls = log.series["train/cls_loss"]
    np.testing.assert_array_equal(cls.steps, np.arange(1, 201))
    assert cls.values[0] == 2.57206 and cls.values[-1] == 0.79256
    assert cls.wall_times[0] == 40.4268 and cls.wall_times[-1] == 10832.4
    assert "time" not in log.series
    assert log.config["lr0"] == 0.001 and log.config["epochs"] == 200
    assert log.config["loss_weights"]["train/box_loss"] == 7.5


def test_yolov5_hyp_gains_zero_based(samples: Path) -> None:
    log = read_log(samples / "ultralytics_csv/yolov5s-lego/results.csv", format="ultralytics_csv")
    assert log.framework == "yolov5"
    obj = log.series["train/obj_loss"]
    np.testing.assert_array_equal(obj.steps, np.arange(0, 50))
    assert obj.values[0] == 0.038913 and obj.values[-1] == 0.010803
    assert log.series["metrics/mAP_0.5:0.95"].values[-1] == 0.93362
    assert log.series["x/lr2"].values[0] == 0.070191
    assert log.config["loss_weights"] == {
        "train/box_loss": 0.05,
        "train/obj_loss": 1.0,
        "train/cls_loss": 0.5,
        "val/box_loss": 0.05,
        "val/obj_loss": 1.0,
        "val/cls_loss": 0.5,
    }
    assert log.config["args"]["fl_gamma"] == 0.0


def test_ultralytics_without_yaml_assumes_defaults(samples: Path, tmp_path: Path) -> None:
    csv = shutil.copy(samples / "ultralytics_csv/yolov8n-ados-oldstyle/results.csv", tmp_path / "results.csv")
    log = ultralytics.read(Path(csv))
    assert log.config["loss_weights"]["train/dfl_loss"] == 1.5
    assert "args" not in log.config
    assert any("default loss gains assumed" in w for w in log.warnings)


def test_ultralytics_companion_yaml_any_name(samples: Path, tmp_path: Path) -> None:
    run = samples / "ultralytics_csv/yolov8n-ados-oldstyle"
    csv = Path(shutil.copy(run / "results.csv", tmp_path / "results.csv"))
    args = (run / "args.yaml").read_text().replace("box: 7.5", "box: 3.0")
    upload = _write(tmp_path / "upload_3f2a.yaml", args)
    log = ultralytics.read(csv, [upload])
    assert log.config["loss_weights"]["train/box_loss"] == 3.0
    assert log.config["args_file"] == str(upload)


# --- TensorBoard -------------------------------------------------------------------------------


def test_tfevents_sample_directory_and_file(samples: Path) -> None:
    run = samples / TF_SAMPLE
    log = read_log(run, format="tfevents")
    assert (log.format, log.framework) == ("tfevents", "detectron2")
    assert len(log.series) == 25
    total = log.series["total_loss"]
    np.testing.assert_array_equal(total.steps, np.arange(19, 300, 20))
    assert total.values[0] == pytest.approx(2.632075755856931, rel=1e-7)
    np.testing.assert_array_equal(log.series["bbox/AP"].steps, [99, 199, 300])  # 300: the eval-only write
    assert log.non_finite == {"bbox/APs": 3}
    assert total.wall_times is not None and np.all(np.diff(total.wall_times) > 0)
    single = read_log(next(run.iterdir()), format="tfevents")
    assert single.metrics == log.metrics


def test_tfevents_matches_detectron2_metrics_json(samples: Path) -> None:
    """The event file and metrics.json are the same detectron2 run: same steps, same float32 values."""
    log = tfevents.read(samples / TF_SAMPLE)
    lines = (samples / "detectron2_metrics/frcnn-fruits-eval/metrics.json").read_text().splitlines()
    rows = [json.loads(line) for line in lines if line.strip()]
    shared = {k for r in rows for k in r} - {"iteration"}
    assert {"total_loss", "loss_cls", "loss_box_reg", "lr", "bbox/AP"} <= shared <= set(log.series)
    for tag in shared:
        steps = [r["iteration"] for r in rows if tag in r]
        values = np.array([r[tag] for r in rows if tag in r], dtype=np.float64)
        s = log.series[tag]
        np.testing.assert_array_equal(s.steps, steps, err_msg=tag)
        np.testing.assert_array_equal(s.values.astype(np.float32), values.astype(np.float32), err_msg=tag)


def test_tfevents_truncated_record_keeps_complete_ones(samples: Path, tmp_path: Path) -> None:
    data = next((samples / TF_SAMPLE).iterdir()).read_bytes()
    cut = tmp_path / "events.out.tfevents.1.host"
    cut.write_bytes(data[:-10])  # the last record loses its tail
    whole = tfevents.read(samples / TF_SAMPLE)
    log = tfevents.read(cut)
    assert sum(len(s) for s in log.series.values()) == sum(len(s) for s in whole.series.values()) - 1
    assert any("truncated" in w for w in log.warnings)


def test_tfevents_tensor_scalars_and_mixed_styles(tmp_path: Path) -> None:
    events = [_tensor_event(i, "epoch_loss", 1.0 / (i + 1)) for i in range(5)]
    events += [_tensor_event(i, "epoch_lr", 0.1 * i, dtype=tfevents_wire.DT_DOUBLE) for i in range(3)]
    events += [_simple_event(i, "loss", float(i), wall=2.0e9 + i) for i in range(4)]
    log = read_log(_write_events(tmp_path / "run.bin", events))
    assert log.format == "tfevents" and log.framework == "tensorboard"
    np.testing.assert_array_equal(log.series["epoch_loss"].steps, np.arange(5))
    np.testing.assert_allclose(log.series["epoch_loss"].values, np.float32(1.0 / np.arange(1, 6)))
    np.testing.assert_allclose(log.series["epoch_lr"].values, [0.0, 0.1, 0.2])
    np.testing.assert_array_equal(log.series["loss"].values, [0.0, 1.0, 2.0, 3.0])
    np.testing.assert_array_equal(log.series["loss"].wall_times, 2.0e9 + np.arange(4))


def test_tfevents_run_directory_later_file_wins(tmp_path: Path) -> None:
    resumed = [_simple_event(i, "train/loss", 2.0) for i in range(5, 15)]
    _write_events(tmp_path / "events.out.tfevents.2000000000.host.1.0", resumed)
    _write_events(
        tmp_path / "events.out.tfevents.1000000000.host.1.0",
        [_simple_event(i, "train/loss", 1.0) for i in range(0, 10)],
    )
    log = read_log(tmp_path)
    s = log.series["train/loss"]
    np.testing.assert_array_equal(s.steps, np.arange(15))
    np.testing.assert_array_equal(s.values, [1.0] * 5 + [2.0] * 10)  # the older file is read first
    assert any("restart" in w for w in log.warnings)


def test_tfevents_subdirectories_are_prefixed(tmp_path: Path) -> None:
    for sub, value in (("train", 1.0), ("validation", 2.0)):
        _write_events(
            tmp_path / sub / "events.out.tfevents.1.h.1.v2",
            [_tensor_event(i, "epoch_loss", value) for i in range(3)],
        )
    log = read_log(tmp_path)
    assert set(log.series) == {"train/epoch_loss", "validation/epoch_loss"}
    assert log.series["validation/epoch_loss"].values.tolist() == [2.0, 2.0, 2.0]


def test_tfevents_sniff_by_content_and_dir(samples: Path, tmp_path: Path) -> None:
    src = next((samples / TF_SAMPLE).iterdir())
    renamed = Path(shutil.copy(src, tmp_path / "x.log"))
    assert tfevents.sniff(renamed, renamed.read_bytes()[:65536]) == 0.9
    assert tfevents.sniff(samples / TF_SAMPLE, b"") == 0.9
    assert tfevents.sniff(tmp_path / "x.log", b"epoch,loss\n1,2\n") == 0.0
    assert tfevents.sniff(tmp_path, b"") == 0.0


# --- detection by content ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sample", "name", "expected"),
    [
        ("ultralytics_csv/yolov8n-ados-oldstyle/results.csv", "x.txt", "ultralytics_csv"),
        ("ultralytics_csv/yolov5s-lego/results.csv", "x.log", "ultralytics_csv"),
        (f"{TF_SAMPLE}/events.out.tfevents.1628430255.db4a6b63f2f6.1641.3", "x.log", "tfevents"),
    ],
)
def test_detect_by_content(samples: Path, tmp_path: Path, sample: str, name: str, expected: str) -> None:
    copy = Path(shutil.copy(samples / sample, tmp_path / name))
    assert detect(copy) == expected
    assert len(read_log(copy).series) >= 13


def test_detect_generic_and_wandb(tmp_path: Path) -> None:
    generic = _write(tmp_path / "a.txt", "iteration,loss,acc\n1,0.5,0.1\n2,0.4,0.2\n")
    wandb = _write(tmp_path / "b.txt", 'Step,"r1 - loss","r1 - loss__MIN","r1 - loss__MAX"\n1,0.5,0.4,0.6\n')
    assert detect(generic) == "csv"
    assert detect(wandb) == "wandb_csv"


# --- generic CSV -------------------------------------------------------------------------------


def test_csv_restart_makes_two_segments(tmp_path: Path) -> None:
    path = _write(tmp_path / "log.csv", "Epoch,loss\n1,0.9\n2,0.8\n3,0.7\n2,0.6\n3,0.5\n4,0.4\n")
    log = csv_table.read(path)
    assert log.step_unit == "epoch" and len(log.segments) == 2
    s = log.series["loss"]
    np.testing.assert_array_equal(s.steps, [1, 2, 3, 4])
    np.testing.assert_array_equal(s.values, [0.9, 0.6, 0.5, 0.4])


def test_csv_inf_nan_counted_empty_absent(tmp_path: Path) -> None:
    path = _write(tmp_path / "log.csv", "step,loss,lr\n0,inf,0.1\n1,nan,\n2,NaN,0.3\n3,-inf,0.4\n4,1.5,0.5\n")
    log = csv_table.read(path)
    assert log.non_finite == {"loss": 4}
    assert np.isnan(log.series["loss"].values[:4]).all() and log.series["loss"].values[4] == 1.5
    np.testing.assert_array_equal(log.series["lr"].steps, [0, 2, 3, 4])  # empty cell: not logged
    assert any("non-finite" in w for w in log.warnings)


def test_csv_truncated_last_row_skipped(tmp_path: Path) -> None:
    path = _write(tmp_path / "log.csv", "step,loss,acc\n1,0.5,0.1\n2,0.4,0.2\n3,0.3")
    log = csv_table.read(path)
    np.testing.assert_array_equal(log.series["loss"].steps, [1, 2])
    assert any("line 4" in w and "truncated" in w for w in log.warnings)


def test_csv_malformed_rows_counted_with_lines(tmp_path: Path) -> None:
    text = "step\tloss\tacc\n1\t0.5\t0.1\n2\t0.4\n3\t0.3\t0.3\nstep\tloss\tacc\n4\tzero\t0.4\n5\t0.1\t0.5\n"
    log = csv_table.read(_write(tmp_path / "log.tsv", text))
    np.testing.assert_array_equal(log.series["loss"].steps, [1, 3, 5])
    assert any("3 malformed row(s)" in w and "line 3, 5, 6" in w for w in log.warnings)


def test_csv_step_column_choice_and_row_index(tmp_path: Path) -> None:
    log = csv_table.read(_write(tmp_path / "a.csv", " loss , Global_Step , epoch\n1.0, 10, 0\n2.0, 20, 0\n"))
    np.testing.assert_array_equal(log.series["loss"].steps, [10, 20])
    assert set(log.series) == {"loss", "epoch"} and log.step_unit == "iteration"
    log = csv_table.read(_write(tmp_path / "b.csv", "loss;acc;note\n1.0;0.1;a\n2.0;0.2;b\n"))
    np.testing.assert_array_equal(log.series["acc"].steps, [0, 1])
    assert log.config["text_columns"] == ["note"]
    assert any("row index" in w for w in log.warnings)


def test_csv_fast_and_tolerant_paths_agree(samples: Path, tmp_path: Path) -> None:
    src = samples / "ultralytics_csv/yolov8n-ados-oldstyle/results.csv"
    fast = csv_tables.read_table(src)
    # A leading blank line sends the same table through the csv-module parser.
    slow = csv_tables.read_table(_write(tmp_path / "r.csv", "\n" + src.read_text()))
    assert fast.columns.keys() == slow.columns.keys()
    for name in fast.columns:
        np.testing.assert_array_equal(fast.columns[name], slow.columns[name], err_msg=name)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "empty"),
        (b"\x00\x01\x02\xff\xfe garbage \x00" * 50, "binary"),
        (b"epoch,loss\n", "no data rows"),
    ],
)
def test_bad_input_names_the_file(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "bad.csv"
    path.write_bytes(content)
    with pytest.raises(InspectorError, match=message) as err:
        csv_table.read(path)
    assert err.value.path == str(path)
    if content:
        with pytest.raises(InspectorError) as err:
            read_log(path)
        assert str(path) in str(err.value)


def test_sniff_never_raises_and_scores(tmp_path: Path) -> None:
    garbage = b"\xff\xfe\x00\x00" * 100
    for module in (csv_table, ultralytics, wandb_csv, tfevents):
        assert module.sniff(tmp_path / "g.bin", garbage) == 0.0
    header = b"epoch,train/box_loss,metrics/mAP50(B)\n1,0.5,0.1\n"
    assert ultralytics.sniff(tmp_path / "r.csv", header) == 0.9
    assert csv_table.sniff(tmp_path / "r.csv", header) == 0.3
    assert csv_table.sniff(tmp_path / "r.txt", b"[08/08 12:00:00 d2]: iter: 19 loss: 1.0\n") == 0.0


# --- W&B export --------------------------------------------------------------------------------


def test_wandb_two_runs_min_max_dropped(tmp_path: Path) -> None:
    text = (
        '"Step","exp-a - train/loss","exp-a - train/loss__MIN","exp-a - train/loss__MAX",'
        '"exp-b - train/loss","exp-a - val/mAP","exp-b - val/mAP"\n'
        "0,1.0,0.9,1.1,5.0,,\n"
        "10,0.8,0.7,0.9,4.0,,\n"
        "20,0.6,0.5,0.7,3.0,0.35,0.1\n"
    )
    log = read_log(_write(tmp_path / "export.csv", text))
    assert (log.format, log.framework) == ("wandb_csv", "wandb")
    assert set(log.series) == {"train/loss", "val/mAP"}
    np.testing.assert_array_equal(log.series["train/loss"].values, [1.0, 0.8, 0.6])
    np.testing.assert_array_equal(log.series["val/mAP"].steps, [20])
    assert log.config["run"] == "exp-a" and log.config["other_runs"] == ["exp-b"]
    assert any("'exp-b'" in w for w in log.warnings)
    assert log.non_finite == {}


def test_wandb_history_export(tmp_path: Path) -> None:
    text = "_step,_runtime,_timestamp,loss\n0,1.5,1700000000,0.9\n1,3.0,1700000001,0.8\n"
    log = read_log(_write(tmp_path / "history.csv", text))
    assert log.format == "wandb_csv" and set(log.series) == {"loss"}
    np.testing.assert_array_equal(log.series["loss"].wall_times, [1.5, 3.0])
