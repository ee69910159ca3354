"""Ultralytics `results.csv`: YOLOv8/YOLO11/YOLO12 (1-based epochs) and YOLOv5 (0-based epochs).

One row per epoch. The loss columns are logged already multiplied by the loss gains (the
`box`/`cls`/`dfl` or `box`/`obj`/`cls` hyper-parameters), so the gains are read from the run's
`args.yaml` (YOLOv8+) or `hyp.yaml` (YOLOv5) and stored as `config["loss_weights"]`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import yaml

from inspector.runlog.csv_table import header_fields, pick_step_column, read_table, table_steps
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


def _load_yaml(path: Path) -> dict | None:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8", errors="replace"))
    except (OSError, yaml.YAMLError):
        return None
    return data if isinstance(data, dict) else None


def _find_config(path: Path, companions: Sequence[Path], framework: str) -> tuple[Path, dict] | None:
    """The run's gain file: an uploaded companion first (any name that holds the gains), then the sibling."""
    wanted = CONFIG_FILES[framework]
    keys = set(DEFAULT_GAINS[framework]) - {"pose", "kobj"}
    by_name = sorted(companions, key=lambda p: p.name != wanted)
    for candidate in [*by_name, path.parent / wanted]:
        if candidate.suffix.lower() not in (".yaml", ".yml") or not candidate.is_file():
            continue
        data = _load_yaml(candidate)
        if data is not None and keys <= set(data):
            return candidate, data
    return None


def _float(value) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def read(path: Path, companions: Sequence[Path] = ()) -> RunLog:
    """A RunLog over epochs (as logged), with loss gains from args.yaml/hyp.yaml or the defaults."""
    table = read_table(path)
    framework = _framework(table.names)
    step_column = pick_step_column(table.names, ("epoch",))
    steps, keep, warnings = table_steps(table, step_column, path)
    warnings = list(table.warnings) + warnings
    columns = {k: v[keep] for k, v in table.columns.items() if k not in (step_column, "time")}
    present = {k: v[keep] for k, v in table.present.items() if k in columns}
    wall_times = table.columns["time"][keep] if "time" in table.columns else None

    config: dict = {}
    found = _find_config(path, companions, framework)
    gains = dict(DEFAULT_GAINS[framework])
    if found is not None:
        config_path, args = found
        config["args"] = args
        config["args_file"] = str(config_path)
        gains.update({k: g for k in gains if (g := _float(args.get(k))) is not None})
        for key in ("lr0", "epochs"):
            if _float(args.get(key)) is not None:
                config[key] = args[key]
    else:
        shown = ", ".join(f"{k} {v}" for k, v in DEFAULT_GAINS[framework].items() if k not in ("pose", "kobj"))
        warnings.append(f"no {CONFIG_FILES[framework]} next to the log or uploaded with it: "
                        f"default loss gains assumed ({shown}).")
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
    epochs = steps.astype(np.float64)
    return assemble(str(path), NAME, framework, steps, columns, present=present or None,
                    epochs=epochs, wall_times=wall_times, config=config, warnings=warnings,
                    step_unit="epoch")
