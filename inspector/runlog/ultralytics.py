"""Ultralytics `results.csv`: YOLOv8/YOLO11/YOLO12 (1-based epochs) and YOLOv5 (0-based epochs).

One row per epoch. The loss columns are logged already multiplied by the loss gains (the
`box`/`cls`/`dfl` or `box`/`obj`/`cls` hyper-parameters), so the gains are read from the run's
`args.yaml` (YOLOv8+) or `hyp.yaml` (YOLOv5) and stored as `config["loss_weights"]`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from inspector.runlog import companions as companion_files
from inspector.runlog.companions import gain_problem
from inspector.runlog.csv_table import header_fields, keep_rows, pick_step_column, read_table, table_steps
from inspector.runlog.record import RunLog, assemble

NAME = "ultralytics_csv"
DESCRIPTION = "Ultralytics results.csv (YOLOv5, YOLOv8, YOLO11, YOLO12)"

# Default gains when no args.yaml/hyp.yaml is found: ultralytics/cfg/default.yaml (box 7.5,
# cls 0.5, dfl 1.5, pose 12.0, kobj 1.0) and yolov5 data/hyps/hyp.scratch-low.yaml (box 0.05,
# cls 0.5, obj 1.0).
DEFAULT_GAINS = {
    "ultralytics": {"box": 7.5, "cls": 0.5, "dfl": 1.5, "pose": 12.0, "kobj": 1.0},
    "yolov5": {"box": 0.05, "cls": 0.5, "obj": 1.0},
}
# Which gain multiplies which loss column (by the part after "train/" or "val/").
# YOLOv8 segmentation scales its mask loss by the box gain too.
GAIN_OF_LOSS = {
    "ultralytics": {"box_loss": "box", "cls_loss": "cls", "dfl_loss": "dfl", "seg_loss": "box",
                    "pose_loss": "pose", "kobj_loss": "kobj"},
    "yolov5": {"box_loss": "box", "obj_loss": "obj", "cls_loss": "cls"},
}
CONFIG_FILES = {"ultralytics": "args.yaml", "yolov5": "hyp.yaml"}
YOLOV5_MARKERS = ("train/obj_loss", "metrics/mAP_0.5", "x/lr0")


def _framework(names: Sequence[str]) -> str:
    return "yolov5" if any(m in names for m in YOLOV5_MARKERS) else "ultralytics"


def sniff(path: Path, head: bytes) -> float:
    """0.9 for a table with an `epoch` column and Ultralytics `train/*_loss` columns."""
    try:
        parsed = header_fields(path, head)
        if parsed is None:
            return 0.0
        names = parsed[0]
        has_loss = any(n.startswith("train/") and n.endswith("_loss") for n in names)
        has_metric = any(n.startswith(("metrics/", "val/", "lr/pg", "x/lr")) for n in names)
        return 0.9 if "epoch" in names and has_loss and has_metric else 0.0
    except Exception:  # sniff never raises
        return 0.0


@dataclass(frozen=True)
class GainFile:
    """The run's gain file, if one was usable, and what was said about the candidates that were not."""

    path: Path | None
    args: dict | None
    rejected: tuple[str, ...]   # broken candidates (too large, YAML error, …): always worth a warning
    unsuitable: tuple[str, ...]  # loadable YAML files without the gain keys (a data.yaml uploaded too)


def _find_config(path: Path, companions: Sequence[Path], framework: str) -> GainFile:
    """The run's gain file: an uploaded companion first (any name that holds the gains), then the sibling."""
    wanted = CONFIG_FILES[framework]
    keys = set(DEFAULT_GAINS[framework]) - {"pose", "kobj"}
    candidates = sorted(companions, key=lambda p: p.name != wanted)
    sibling = path.parent / wanted
    if sibling.is_file() and sibling not in candidates:  # is_file: a FIFO or a folder is no gain file
        candidates.append(sibling)
    rejected: list[str] = []
    unsuitable: list[str] = []
    for candidate in candidates:
        if candidate.suffix.lower() not in (".yaml", ".yml"):
            continue
        loaded = companion_files.load(candidate)
        if loaded.data is None:
            rejected.append(f"{candidate.name} was rejected: {loaded.problem}")
            continue
        missing = sorted(keys - set(loaded.data))
        if missing:
            unsuitable.append(f"{candidate.name} has no {', '.join(missing)} gain(s)")
            continue
        return GainFile(candidate, loaded.data, tuple(rejected), tuple(unsuitable))
    return GainFile(None, None, tuple(rejected), tuple(unsuitable))


def _gains(args: dict, framework: str, name: str) -> tuple[dict[str, float], list[str]]:
    """(gains, warnings): each gain of `args` that is a finite number ≥ 0, the default for the others."""
    gains = dict(DEFAULT_GAINS[framework])
    ignored = []
    for key, default in DEFAULT_GAINS[framework].items():
        if key not in args:
            continue
        problem = gain_problem(args[key])
        if problem is None:
            gains[key] = float(args[key])
        else:
            ignored.append(f"{key} {args[key]!r} {problem}, {default} used")
    warnings = [f"{name}: {len(ignored)} loss gain(s) ignored, the default used instead "
                f"({'; '.join(ignored)})."] if ignored else []
    return gains, warnings


def read(path: Path, companions: Sequence[Path] = ()) -> RunLog:
    """A RunLog over epochs (as logged), with loss gains from args.yaml/hyp.yaml or the defaults."""
    table = read_table(path)
    framework = _framework(table.names)
    step_column = pick_step_column(table.names, ("epoch",))
    plan = table_steps(table, step_column, exclude=("time",))
    warnings = list(table.warnings) + list(plan.warnings)
    columns, present = keep_rows(table, plan, exclude=(step_column, "time"))
    wall_times = plan.take(table.columns["time"])[0] if "time" in table.columns else None

    config: dict = {}
    found = _find_config(path, companions, framework)
    gains = dict(DEFAULT_GAINS[framework])
    wanted = CONFIG_FILES[framework]
    if found.path is not None:
        warnings += [f"{r}; it was ignored." for r in found.rejected]
        config["args"] = found.args
        config["args_file"] = str(found.path)
        gains, ignored = _gains(found.args, framework, found.path.name)
        warnings += ignored
        for key in ("lr0", "epochs"):
            if gain_problem(found.args.get(key)) is None:
                config[key] = found.args[key]
    else:
        shown = ", ".join(f"{k} {v}" for k, v in DEFAULT_GAINS[framework].items() if k not in ("pose", "kobj"))
        reasons = [*found.rejected, *found.unsuitable]
        lead = (f"no usable {wanted} ({'; '.join(reasons)})" if reasons
                else f"no {wanted} next to the log or uploaded with it")
        warnings.append(f"{lead}: default loss gains assumed ({shown}).")
    if framework == "yolov5":
        warnings.append("YOLOv5 rescales its gains at train time (box, obj, cls × 3/layers; cls × classes/80; "
                        "obj × (imgsz/640)²); the hyp.yaml values are used as logged-weight estimates.")
    loss_weights = {}
    for name in columns:
        kind = name.split("/", 1)[-1]
        gain_key = GAIN_OF_LOSS[framework].get(kind)
        if name.startswith(("train/", "val/")) and gain_key is not None:
            loss_weights[name] = gains[gain_key]
    config["loss_weights"] = loss_weights
    epochs = plan.steps.astype(np.float64) if plan.epochs is None else plan.epochs
    return assemble(str(path), NAME, framework, plan.steps, columns, present=present or None,
                    epochs=epochs, wall_times=wall_times, config=config, warnings=warnings,
                    step_unit="epoch")
