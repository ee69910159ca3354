"""Rows that share a step: eval rows add their values, relaunches restart, complementary rows merge silently.

Every input is built here from its writer's definition:

- PyTorch Lightning's `CSVLogger`: one row per `log_metrics` call, `step` added to each row and `epoch`
  added by `_LoggerConnector.log_metrics`; train rows at `_batches_that_stepped` when
  `(step + 1) % log_every_n_steps == 0`, the epoch's val row at the same step (the val loop runs in
  `on_advance_end`, before the counter is increased), the train epoch-end row at that step too
  (`FitLoop.on_advance_end` decreases the counter "because loggers expect that the same step is used");
  columns are the sorted union of the keys (`_ExperimentWriter._record_new_keys`), blank cells where a
  row has no value.
- HF `Trainer.log`: each `log_history` entry gets `epoch` and `step`; eval entries carry `eval_`-prefixed keys
  (`metric_key_prefix="eval"`); the last entry is the training summary (`train_runtime`, …, `train_loss`).
- Ultralytics `save_metrics`: `time` is `time.time() - self.train_time_start`, restarted by each launch.
- A trainer that writes a `mode` column (mmdet 2.x's `mode` train/val) whose val rows reuse `loss`, `acc`.
- inspector's own `RunWriter` (step and eval rows of one step, each with its own `time`).
"""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

import numpy as np
import pytest
from fuzz_catalogue import replayable
from hypothesis import given
from hypothesis import strategies as st

from inspector.runlog import RunWriter, read_log
from inspector.runlog.readers import csv_table, text
from inspector.runlog.row_names import is_eval_name
from inspector.runlog.shared_steps import Labels, resolve
from inspector.runlog.text_steps import repair_steps
from inspector.runlog.text_table import Column, Table
from inspector.runlog.writer import FORMAT, VERSION


def write(path: Path, content: str | bytes) -> Path:
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    return path


def table_text(rows: list[dict], fields: list[str] | None = None, newline: str = "\n") -> str:
    """rows as csv.DictWriter writes them (blank cells for keys a row lacks)."""
    fields = fields or list(dict.fromkeys(k for r in rows for k in r))
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=fields, restval="", lineterminator=newline)
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def series(log, name: str) -> dict[int, float]:
    s = log.series[name]
    return dict(zip(s.steps.tolist(), s.values.tolist(), strict=False))


def merged_warnings(log) -> list[str]:
    return [w for w in log.warnings if "share their" in w or "merged" in w]


# --- writers ------------------------------------------------------------------------------------------


def lightning_rows(epochs: int = 6, batches: int = 100, log_every: int = 50) -> list[dict]:
    """CSVLogger rows of a LightningModule logging train_loss (on_step and on_epoch) and val_loss/val_acc."""
    rows, stepped = [], 0
    for e in range(epochs):
        for b in range(batches):
            if (stepped + 1) % log_every == 0:
                rows.append({"epoch": e, "step": stepped, "train_loss_step": round(2.0 - stepped / 1000, 6)})
            if b == batches - 1:
                rows.append(
                    {
                        "epoch": e,
                        "step": stepped,
                        "val_acc": round(0.5 + e / 20, 6),
                        "val_loss": round(1.5 - e / 10, 6),
                    }
                )
            stepped += 1
        rows.append({"epoch": e, "step": stepped - 1, "train_loss_epoch": round(1.9 - e / 10, 6)})
    return rows


def hf_log_history(
    max_steps: int = 300, logging_steps: int = 10, eval_steps: int = 50, steps_per_epoch: int = 100
) -> list[dict]:
    """trainer_state.json's log_history of a Trainer with logging and evaluation every few steps."""
    history = []
    for step in range(1, max_steps + 1):
        epoch = step / steps_per_epoch
        if step % logging_steps == 0:
            history.append(
                {
                    "loss": round(2.0 - step / 500, 6),
                    "grad_norm": 1.5,
                    "learning_rate": 5e-05,
                    "epoch": epoch,
                    "step": step,
                }
            )
        if step % eval_steps == 0:
            history.append(
                {
                    "eval_loss": round(1.8 - step / 600, 6),
                    "eval_runtime": 3.2,
                    "eval_samples_per_second": 150.1,
                    "eval_steps_per_second": 18.8,
                    "epoch": epoch,
                    "step": step,
                }
            )
    history.append(
        {
            "train_runtime": 321.5,
            "train_samples_per_second": 29.9,
            "train_steps_per_second": 0.93,
            "total_flos": 1.2e15,
            "train_loss": 1.61,
            "epoch": max_steps / steps_per_epoch,
            "step": max_steps,
        }
    )
    return history


# --- eval rows at a train row's step add their values -----------------------------------------------------


def test_eval_rows_that_repeat_loss_never_replace_a_train_loss(tmp_path):
    # Measured before: 2,994 of 3,000 train losses kept, 6 replaced by eval losses, a "merged" warning only.
    rows = ["step,loss,map"]
    for s in range(3000):
        rows.append(f"{s},{0.5 + s / 1e4:.5f},")
        if s % 500 == 499:
            rows.append(f"{s},0.9,0.3")
    log = read_log(write(tmp_path / "log.csv", "\n".join(rows) + "\n"))
    loss = series(log, "loss")
    assert len(loss) == 3000 and all(loss[s] == round(0.5 + s / 1e4, 5) for s in range(3000))
    assert series(log, "val/loss") == {s: 0.9 for s in range(499, 3000, 500)}
    assert series(log, "map") == {s: 0.3 for s in range(499, 3000, 500)}
    assert merged_warnings(log) == []
    said = [w for w in log.warnings if "eval rows" in w]
    assert said and said[0].startswith("6 row(s)") and "'val/loss'" in said[0] and "'map'" in said[0]
    assert "line 502, 1003" in said[0]  # the eval rows' own lines


def test_a_jsonl_eval_line_that_repeats_loss_keeps_it_as_the_eval_loss(tmp_path):
    lines = []
    for s in range(1, 201):
        lines.append({"step": s, "loss": 2.0 - s / 100, "lr": 0.01})
        if s % 50 == 0:
            lines.append({"step": s, "loss": 1.0 + s / 1000, "accuracy": 0.5 + s / 1000})
    log = read_log(write(tmp_path / "log.jsonl", "\n".join(json.dumps(x) for x in lines) + "\n"))
    assert log.format == "jsonl"
    assert series(log, "loss") == {s: 2.0 - s / 100 for s in range(1, 201)}
    assert series(log, "val/loss") == {s: 1.0 + s / 1000 for s in range(50, 201, 50)}
    assert merged_warnings(log) == []
    assert any(w.startswith("4 row(s) log a training key again") and "'val/loss'" in w for w in log.warnings)


def test_a_metric_the_train_rows_log_too_is_kept_apart_on_eval_rows(tmp_path):
    # `acc` is an eval-like name, but the train rows log it: the eval row's `acc` must not replace it.
    rows = [f"{s},{s / 10},{s / 20},\n" + (f"{s},0.9,0.7,0.3\n" if s % 4 == 3 else "") for s in range(12)]
    body = "step,loss,acc,mAP\n" + "".join(rows)
    log = csv_table.read(write(tmp_path / "log.csv", body))
    assert series(log, "acc") == {s: s / 20 for s in range(12)}
    assert series(log, "val/acc") == {3: 0.7, 7: 0.7, 11: 0.7} and series(log, "val/loss")[7] == 0.9
    assert merged_warnings(log) == []


def test_an_eval_row_keeps_its_own_prefix(tmp_path):
    # Beside `val_acc` the repeated `loss` becomes `val_loss`, the name the row's own keys use.
    text_ = "step,loss,val_acc\n1,0.5,\n1,0.7,0.8\n2,0.4,\n"
    log = csv_table.read(write(tmp_path / "log.csv", text_))
    assert series(log, "loss") == {1: 0.5, 2: 0.4} and series(log, "val_loss") == {1: 0.7}


@pytest.mark.parametrize("newline", ["\n", "\r\n"])
@pytest.mark.parametrize("tolerant", [False, True])
def test_a_split_column_keeps_val_rows_under_val_names(tmp_path, newline, tolerant):
    rows = []
    for e in range(1, 11):
        rows.append({"epoch": e, "mode": "train", "loss": round(1 - e / 20, 4), "acc": round(e / 20, 4)})
        rows.append({"epoch": e, "mode": "val", "loss": round(1.2 - e / 20, 4), "acc": ""})  # a blank cell
    body = table_text(rows, newline=newline)
    if tolerant:  # a blank line sends the file to the csv-module parser
        body = body.replace(newline, newline + newline, 1)
    log = csv_table.read(write(tmp_path / "log.csv", body))
    assert series(log, "loss") == {e: round(1 - e / 20, 4) for e in range(1, 11)}
    assert series(log, "val/loss") == {e: round(1.2 - e / 20, 4) for e in range(1, 11)}
    assert series(log, "acc") == {e: round(e / 20, 4) for e in range(1, 11)} and "val/acc" not in log.series
    said = [w for w in log.warnings if "not training rows" in w]
    assert said and said[0].startswith("10 row(s) whose 'mode' is 'val'") and "'val/loss'" in said[0]
    assert merged_warnings(log) == []


def test_a_jsonl_split_key_keeps_val_lines_under_val_names(tmp_path):
    lines = [
        json.dumps({"step": s, "split": split, "loss": v})
        for s in range(10, 110, 10)
        for split, v in (("train", s / 100), ("validation", s / 50))
    ]
    log = read_log(write(tmp_path / "log.jsonl", "\n".join(lines) + "\n"))
    assert series(log, "loss") == {s: s / 100 for s in range(10, 110, 10)}
    assert series(log, "validation/loss") == {s: s / 50 for s in range(10, 110, 10)}


def test_a_column_named_mode_without_split_words_is_no_evidence(tmp_path):
    log = csv_table.read(write(tmp_path / "log.csv", "step,mode,loss\n1,fp16,0.5\n2,fp16,0.4\n"))
    assert set(log.series) == {"loss"} and not any("training rows" in w for w in log.warnings)


def test_lightning_metrics_csv_merges_silently_and_keeps_every_value(tmp_path):
    # Measured before: the repeated `epoch` counted as "6 value(s) replaced" although nothing changed.
    rows = lightning_rows()
    log = read_log(write(tmp_path / "metrics.csv", table_text(rows, sorted({k for r in rows for k in r}))))
    assert log.format == "csv" and log.warnings == []
    assert series(log, "train_loss_step") == {
        r["step"]: r["train_loss_step"] for r in rows if "train_loss_step" in r
    }
    assert series(log, "val_loss") == {r["step"]: r["val_loss"] for r in rows if "val_loss" in r}
    assert series(log, "train_loss_epoch") == {
        r["step"]: r["train_loss_epoch"] for r in rows if "train_loss_epoch" in r
    }
    assert series(log, "epoch") == {r["step"]: r["epoch"] for r in rows}


@pytest.mark.parametrize("kind", ["csv", "jsonl"])
def test_hf_trainer_log_history_merges_silently(tmp_path, kind):
    history = hf_log_history()
    if kind == "csv":
        path = write(tmp_path / "log_history.csv", table_text(history))
    else:
        path = write(tmp_path / "log_history.jsonl", "\n".join(json.dumps(h) for h in history) + "\n")
    log = read_log(path)
    assert log.warnings == []
    assert series(log, "loss") == {h["step"]: h["loss"] for h in history if "loss" in h}
    assert series(log, "eval_loss") == {h["step"]: h["eval_loss"] for h in history if "eval_loss" in h}
    assert series(log, "train_loss") == {300: 1.61}


def test_our_own_eval_rows_merge_silently(tmp_path):
    # Step and eval rows of one step each carry their own `time`: a row's time is no metric value lost.
    path = tmp_path / "log.jsonl"
    with RunWriter(path, config={"loss_weights": {"bbox": 1.0}}) as log_writer:
        for s in range(20):
            log_writer.step(s, losses={"bbox": 1.0 / (s + 1)}, lr=0.1, epoch=s // 10)
            if s % 10 == 9:
                log_writer.eval(s, {"map50": 0.1 * s}, epoch=s // 10)
    log = read_log(path)
    assert log.warnings == [] and len(log.series["loss/bbox"]) == 20
    assert log.series["eval/map50"].steps.tolist() == [9, 19]


def test_text_eval_lines_at_a_train_step(tmp_path):
    lines = []
    for s in range(10, 210, 10):
        lines.append(f"step={s} loss={s / 1000:.3f} lr=0.01")
        if s % 50 == 0:
            lines.append(f"step={s} loss={s / 100:.2f} mAP={s / 400:.3f}")
        if s == 120:
            lines.append(f"loss=0.77 AP50={s / 300:.3f}")  # an eval print without a step: it joins step 120
    log = text.read(write(tmp_path / "train.log", "\n".join(lines) + "\n"))
    assert series(log, "loss") == {s: round(s / 1000, 3) for s in range(10, 210, 10)}
    assert series(log, "val/loss")[150] == 1.5 and series(log, "mAP")[200] == 0.5
    assert series(log, "AP50") == {120: 0.4} and series(log, "val/loss")[120] == 0.77
    assert not any("skipped" in w for w in log.warnings) and merged_warnings(log) == []


def test_unsettled_repeats_are_kept_apart_and_said(tmp_path):
    # A later row repeats `loss` with another value beside a key that says neither eval nor relaunch.
    log = csv_table.read(
        write(
            tmp_path / "log.csv",
            "step,loss,grad_norm\n"
            + "".join(f"{s},{s / 10},\n" + (f"{s},{s},3.0\n" if s == 5 else "") for s in range(10)),
        )
    )
    assert series(log, "loss") == {s: s / 10 for s in range(10)}
    assert series(log, "loss (repeat 1)") == {5: 5.0}
    assert any(
        "nothing says whether they are eval rows or a relaunch" in w
        and "line 8" in w
        and "'loss (repeat 1)'" in w
        for w in log.warnings
    )


# --- relaunches that repeat a step are restarts -------------------------------------------------------------

RELAUNCH = {  # 20 steps, then a relaunch that re-logs step 19 and goes on to 29
    "csv": (
        "log.csv",
        lambda: (
            "step,loss,lr\n"
            + "".join(f"{s},{s},0.1\n" for s in range(20))
            + "".join(f"{s},{s + 100},0.1\n" for s in range(19, 30))
        ),
    ),
    "jsonl": (
        "log.jsonl",
        lambda: (
            "".join(json.dumps({"step": s, "loss": s, "lr": 0.1}) + "\n" for s in range(20))
            + "".join(json.dumps({"step": s, "loss": s + 100, "lr": 0.1}) + "\n" for s in range(19, 30))
        ),
    ),
    "text": (
        "train.log",
        lambda: (
            "".join(f"step={s} loss={s} lr=0.1\n" for s in range(20))
            + "".join(f"step={s} loss={s + 100} lr=0.1\n" for s in range(19, 30))
        ),
    ),
}


@pytest.mark.parametrize("kind", sorted(RELAUNCH))
def test_a_relaunch_that_repeats_its_first_step_is_a_restart(tmp_path, kind):
    name, body = RELAUNCH[kind]
    log = read_log(write(tmp_path / name, body()))
    loss = series(log, "loss")
    assert loss == {**{s: float(s) for s in range(19)}, **{s: float(s + 100) for s in range(19, 30)}}
    assert [(s.first_step, s.last_step) for s in log.segments] == [(0, 19), (19, 29)]
    assert merged_warnings(log) == []
    line = 22 if kind == "csv" else 21  # the repeated step's own line (the CSV header is line 1)
    assert any(
        "re-logs the step it resumed from" in w and re.search(rf"\bline {line}\b", w) for w in log.warnings
    )
    assert any(
        w.startswith("1 restart(s) (step 19 after step 19)") and "1 earlier row(s) replaced" in w
        for w in log.warnings
    )


def test_a_log_written_twice_is_merged_not_relaunched(tmp_path):
    body = "step,loss\n" + "".join(f"{i // 2},{i}\n" for i in range(40))  # every step twice
    log = csv_table.read(write(tmp_path / "log.csv", body))
    assert len(log.segments) == 1 and series(log, "loss") == {s: float(2 * s + 1) for s in range(20)}
    assert any("(20 value(s) replaced)" in w for w in log.warnings)


def test_a_header_line_again_starts_a_launch(tmp_path):
    body = (
        "step,loss\n"
        + "".join(f"{s},{s}\n" for s in range(20))
        + "step,loss\n"
        + "".join(f"{s},{s + 100}\n" for s in range(20, 30))
    )
    log = csv_table.read(write(tmp_path / "log.csv", body))
    assert len(series(log, "loss")) == 30
    assert [(s.first_step, s.last_step) for s in log.segments] == [(0, 19), (20, 29)]
    assert any("header line is written again (line 22)" in w for w in log.warnings)
    assert any(w.startswith("1 restart(s) (a new launch at step 20)") for w in log.warnings)


def test_a_native_header_object_again_starts_a_launch(tmp_path):
    header = json.dumps({"type": "header", "format": FORMAT, "version": VERSION, "config": {}})
    rows = [
        json.dumps({"type": "step", "step": s, "losses": {"bbox": float(s)}, "total": float(s)})
        for s in range(10)
    ]
    again = [
        json.dumps({"type": "step", "step": s, "losses": {"bbox": s + 100.0}, "total": s + 100.0})
        for s in range(5, 15)
    ]
    log = read_log(write(tmp_path / "log.jsonl", "\n".join([header, *rows, header, *again]) + "\n"))
    assert log.format == "inspector_jsonl"
    assert series(log, "loss/bbox") == {
        **{s: float(s) for s in range(5)},
        **{s: s + 100.0 for s in range(5, 15)},
    }
    assert [(s.first_step, s.last_step) for s in log.segments] == [(0, 9), (5, 14)]
    assert any("header line is written again (line 12)" in w for w in log.warnings)
    assert not any("neither 'step' nor 'eval'" in w for w in log.warnings)


def test_a_clock_that_goes_back_starts_a_launch(tmp_path):
    # Ultralytics' `time` is seconds since this launch began: a resumed run starts it again, its epochs go on.
    rows = [f"{e},{e * 61.5:.1f},{1 - e / 100:.3f}" for e in range(1, 21)]
    rows += [f"{e},{(e - 20) * 60.2:.1f},{1 - e / 100:.3f}" for e in range(21, 31)]
    log = csv_table.read(write(tmp_path / "results.csv", "epoch,time,loss\n" + "\n".join(rows) + "\n"))
    assert len(series(log, "loss")) == 30
    assert [(s.first_step, s.last_step) for s in log.segments] == [(1, 20), (21, 30)]
    assert any(
        w.startswith("'time' goes back at 1 row(s)") and "line 22" in w and "1230 → 60.2" in w
        for w in log.warnings
    )


def test_a_per_iteration_time_is_no_clock(tmp_path):
    # Detectron2/MMEngine `time` is the duration of one iteration: it goes back every other row.
    rng = np.random.default_rng(0)
    body = "step,time,loss\n" + "".join(f"{s},{0.2 + rng.random() / 10:.4f},0.5\n" for s in range(100))
    log = csv_table.read(write(tmp_path / "log.csv", body))
    assert len(log.segments) == 1 and log.warnings == []


def test_a_dialect_launch_is_not_read_as_a_damaged_step():
    # A relaunch that goes back a little: its first row is out of order with the rows around it, but the
    # dialect marked a launch before it (a "Training start" banner), so it is a restart, not a damaged line.
    steps = np.array([10, 20, 30, 25, 35, 45], dtype=np.int64)
    lines = np.array([0, 1, 2, 4, 5, 6], dtype=np.int64)
    table = Table("generic", steps, {"loss": Column(steps / 100.0)}, lines, launches=np.array([3]))
    repair = repair_steps(table)
    assert repair.outliers.size == 0 and repair.table.steps.tolist() == [10, 20, 30, 25, 35, 45]
    unmarked = repair_steps(Table("generic", steps, {"loss": Column(steps / 100.0)}, lines))
    assert unmarked.outliers.tolist() == [2, 4]  # without the banner, both are damaged lines, as before


# --- the vocabulary --------------------------------------------------------------------------------------


def test_eval_names_of_the_writers():
    for name in (
        "bbox/AP",
        "bbox/AP50",
        "segm/APs",
        "bbox_mAP_50",
        "coco/bbox_mAP",
        "metrics/mAP50-95(B)",
        "metrics/precision(B)",
        "metrics/mAP_0.5:0.95",
        "val_loss",
        "eval_loss",
        "test/acc",
        "accuracy",
        "top1",
        "map",
        "AP-person",
    ):
        assert is_eval_name(name), name
    for name in (
        "loss",
        "train/box_loss",
        "lr",
        "loss_cls",
        "total_loss",
        "epoch",
        "time",
        "grad_norm",
        "lr/pg0",
        "data_time",
        "loss_rpn_bbox",
        "train_loss_step",
    ):
        assert not is_eval_name(name), name


def test_labels_strip_and_ignore_blanks():
    labels = Labels.of("mode", np.array(["train", " val", None, "", "val "], dtype=object))
    assert labels.values == ("train", "val") and labels.codes.tolist() == [0, 1, -1, -1, 1]
    assert labels.is_split


def test_resolve_is_free_for_the_usual_log():
    called = []
    found = resolve(np.arange(10), lambda: called.append(1) or [], np.arange(10))
    assert called == [] and found.moves == () and found.launches.size == 0


# --- row accounting with eval rows at shared steps, over messy files -------------------------------------


def _accounting_case(data, kind: str):
    n = data.draw(st.integers(3, 40), label="n")
    evals = data.draw(st.sets(st.integers(0, n - 1), max_size=n), label="evals")
    nan_at = data.draw(st.one_of(st.none(), st.integers(0, n - 1)), label="nan_at")
    newline = data.draw(st.sampled_from(["\n", "\r\n"]), label="newline")
    cut = data.draw(st.booleans(), label="cut_tail")
    train = {10 * (i + 1): (float("nan") if i == nan_at else round(0.5 + i / 100, 4)) for i in range(n)}
    evaluated = {10 * (i + 1): (round(0.9 + i / 1000, 4), round(i / 50, 4)) for i in sorted(evals)}
    lines: list[str] = []
    for step, loss in train.items():
        shown = "nan" if loss != loss else f"{loss}"
        if kind == "csv":
            lines.append(f"{step},{shown},0.01,")
        elif kind == "jsonl":
            lines.append(f'{{"step": {step}, "loss": {"NaN" if loss != loss else loss}, "lr": 0.01}}')
        else:
            lines.append(f"step={step} loss={shown} lr=0.01")
        if step in evaluated:
            loss_e, map_e = evaluated[step]
            lines.append(
                {
                    "csv": f"{step},{loss_e},,{map_e}",
                    "jsonl": json.dumps({"step": step, "loss": loss_e, "mAP": map_e}),
                    "text": f"step={step} loss={loss_e} mAP={map_e}",
                }[kind]
            )
    head = "step,loss,lr,mAP" + newline if kind == "csv" else ""
    body = head + newline.join(lines) + newline
    if cut:  # the writer was stopped mid-line: a partial row without its newline
        body += {
            "csv": f"{10 * (n + 1)},0.",
            "jsonl": '{"step": 99999, "lo',
            "text": f"step={10 * (n + 1)} lo",
        }[kind]
    return body, train, evaluated


@replayable(120, slow_ok=True)
@given(data=st.data(), kind=st.sampled_from(["csv", "jsonl", "text"]))
def test_eval_rows_at_shared_steps_cost_no_train_value(tmp_path, data, kind):
    body, train, evaluated = _accounting_case(data, kind)
    path = write(tmp_path / {"csv": "log.csv", "jsonl": "log.jsonl", "text": "train.log"}[kind], body)
    log = read_log(path)
    loss = log.series["loss"]
    assert loss.steps.tolist() == list(train), log.warnings
    np.testing.assert_array_equal(loss.values, np.array(list(train.values())))
    if evaluated:
        assert series(log, "val/loss") == {s: v[0] for s, v in evaluated.items()}, log.warnings
        assert series(log, "mAP") == {s: v[1] for s, v in evaluated.items()}
        said = [w for w in log.warnings if "read as eval rows" in w]
        assert said and said[0].startswith(f"{len(evaluated)} row(s)"), log.warnings
    else:
        assert "val/loss" not in log.series
    assert merged_warnings(log) == [] and len(log.segments) == 1, log.warnings
