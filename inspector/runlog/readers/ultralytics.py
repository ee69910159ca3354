"""Ultralytics `results.csv`: YOLOv8/v10/11/12/26 and RT-DETR (1-based epochs), YOLOv5 (0-based epochs).

One row per epoch. The loss columns are logged already multiplied by the loss gains (the
`box`/`cls`/`dfl` or `box`/`obj`/`cls` hyper-parameters), so the gains are read from the run's
`args.yaml` (YOLOv8+) or `hyp.yaml` (YOLOv5) and stored as `config["loss_weights"]`, with
`config["weight_sources"]` saying per series whether its gain came from that file or from the defaults.

Which gain multiplies which column (`BaseTrainer.label_loss_items` names them `train/<loss_name>`):
- detect, obb: ultralytics/utils/loss.py v8DetectionLoss / v8OBBLoss: `loss[0] *= self.hyp.box`, `loss[1] *=
  self.hyp.cls`, `loss[2] *= self.hyp.dfl`, OBB's `loss[3] *= self.hyp.angle` (angle_loss, YOLO26); the third
  term is named `l1_loss` on DFL-free YOLO26 heads (`"dfl_loss" if self.use_dfl else "l1_loss"`), still × dfl;
- segment: v8SegmentationLoss: seg_loss and YOLO26's sem_loss × box (`loss[1] *= self.hyp.box  # seg gain`);
- pose: v8PoseLoss: pose_loss × pose, kobj_loss × kobj, YOLO26's rle_loss × rle; depth: dlog_loss, dgrad_loss;
- YOLOv10 (THU-MIG/yolov10 ultralytics/models/yolov10/train.py): loss_names "box_om", "cls_om", "dfl_om",
  "box_oo", "cls_oo", "dfl_oo"; v10DetectLoss runs one v8DetectionLoss per head (one-to-many, one-to-one),
  both built from the same `model.args`, so each branch's box/cls/dfl get the same gains;
- RT-DETR (ultralytics/nn/tasks.py RTDETRDetectionModel.loss): giou_loss, cls_loss, l1_loss are the last
  decoder layer's terms of DETRLoss, whose gains are fixed in ultralytics/models/utils/loss.py
  (`loss_gain = {"class": 1, "bbox": 5, "giou": 2}`), not read from args.yaml;
- classify: one `loss` (cross-entropy), no gain.
A loss column none of these covers is left without a gain, and a warning names it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from inspector.runlog import companions as companion_files
from inspector.runlog.companions import gain_problem
from inspector.runlog.csv_tables import (
    header_fields,
    keep_rows,
    pick_step_column,
    read_table,
    table_steps,
)
from inspector.runlog.record import RunLog, assemble

NAME = "ultralytics_csv"
DESCRIPTION = "Ultralytics results.csv (YOLOv5, YOLOv8, YOLOv10, YOLO11, YOLO12, YOLO26, RT-DETR)"

# Default gains when args.yaml/hyp.yaml does not give one: ultralytics/cfg/default.yaml (box 7.5, cls 0.5,
# dfl 1.5, pose 12.0, kobj 1.0; rle 1.0, angle 1.0, dlog 1.0, dgrad 0.5 in ultralytics 8.4) and yolov5
# data/hyps/hyp.scratch-low.yaml (box 0.05, cls 0.5, obj 1.0).
DEFAULT_GAINS = {
    "ultralytics": {
        "box": 7.5,
        "cls": 0.5,
        "dfl": 1.5,
        "pose": 12.0,
        "kobj": 1.0,
        "rle": 1.0,
        "angle": 1.0,
        "dlog": 1.0,
        "dgrad": 0.5,
    },
    "yolov5": {"box": 0.05, "cls": 0.5, "obj": 1.0},
}
DEFAULTS_FILE = {
    "ultralytics": "ultralytics/cfg/default.yaml",
    "yolov5": "yolov5 data/hyps/hyp.scratch-low.yaml",
}
# The gains every args.yaml/hyp.yaml of the family holds: a YAML without them is not the run's gain file.
REQUIRED_GAINS = {"ultralytics": ("box", "cls", "dfl"), "yolov5": ("box", "cls", "obj")}
# Which gain multiplies which loss column (by the part after "train/" or "val/"); see the module docstring.
GAIN_OF_LOSS = {
    "ultralytics": {
        "box_loss": "box",
        "cls_loss": "cls",
        "dfl_loss": "dfl",
        "l1_loss": "dfl",
        "seg_loss": "box",
        "sem_loss": "box",
        "pose_loss": "pose",
        "kobj_loss": "kobj",
        "rle_loss": "rle",
        "angle_loss": "angle",
        "dlog_loss": "dlog",
        "dgrad_loss": "dgrad",
        "box_om": "box",
        "cls_om": "cls",
        "dfl_om": "dfl",
        "box_oo": "box",
        "cls_oo": "cls",
        "dfl_oo": "dfl",
    },
    "yolov5": {"box_loss": "box", "obj_loss": "obj", "cls_loss": "cls"},
}
# Loss columns whose factor is no plain gain of the config file: left without one, the warning says why.
NOT_A_GAIN = {
    "yolov5": {
        "seg_loss": "YOLOv5 segment scales it by box / batch size "
        "(utils/segment/loss.py: lseg *= self.hyp['box'] / bs)"
    }
}
# RT-DETR's columns (told by giou_loss, which no YOLO head logs) and DETRLoss's fixed gains for them.
RTDETR_GAINS = {"giou_loss": 2.0, "cls_loss": 1.0, "l1_loss": 5.0}
RTDETR_SOURCE = "fixed in code (ultralytics/models/utils/loss.py DETRLoss.loss_gain)"
CONFIG_FILES = {"ultralytics": "args.yaml", "yolov5": "hyp.yaml"}
YOLOV5_MARKERS = ("train/obj_loss", "metrics/mAP_0.5", "x/lr0")
# A classification run logs one `train/loss` (v8ClassificationLoss) and ClassifyMetrics' top-1/top-5 accuracy.
CLASSIFY_METRIC = "metrics/accuracy_top1"
# A loss column by its name after "train/"/"val/": `*_loss`, or YOLOv10's per-head `*_om`/`*_oo`.
_LOSS_COLUMN = re.compile(r"\w+_(?:loss|om|oo)")


def _framework(names: Sequence[str]) -> str:
    return "yolov5" if any(m in names for m in YOLOV5_MARKERS) else "ultralytics"


def sniff(path: Path, head: bytes) -> float:
    """0.9 for a table with an `epoch` column and Ultralytics `train/*_loss` (YOLOv10: `train/*_om`)
    columns."""
    try:
        parsed = header_fields(path, head)
        if parsed is None:
            return 0.0
        names = parsed[0]
        has_loss = any(
            n.startswith("train/") and _LOSS_COLUMN.fullmatch(n[len("train/") :]) for n in names
        ) or ("train/loss" in names and CLASSIFY_METRIC in names)
        has_metric = any(n.startswith(("metrics/", "val/", "lr/pg", "x/lr")) for n in names)
        return 0.9 if "epoch" in names and has_loss and has_metric else 0.0
    except Exception:  # sniff never raises
        return 0.0


@dataclass(frozen=True)
class GainFile:
    """The run's gain file, if one was usable, and what was said about the candidates that were not."""

    path: Path | None
    args: dict | None
    rejected: tuple[str, ...]  # broken candidates (too large, YAML error, …): always worth a warning
    unsuitable: tuple[str, ...]  # loadable YAML files without the gain keys (a data.yaml uploaded too)


def _find_config(path: Path, companions: Sequence[Path], framework: str) -> GainFile:
    """The run's gain file: an uploaded companion first (any name that holds the gains), then the sibling."""
    wanted = CONFIG_FILES[framework]
    keys = set(REQUIRED_GAINS[framework])
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


def _gains(args: dict, framework: str, name: str) -> tuple[dict[str, float], set[str], list[str]]:
    """(gains, keys taken from `args`, warnings): each gain of `args` that is a number ≥ 0, else the
    default."""
    gains = dict(DEFAULT_GAINS[framework])
    taken: set[str] = set()
    ignored = []
    for key, default in DEFAULT_GAINS[framework].items():
        if key not in args:
            continue
        problem = gain_problem(args[key])
        if problem is None:
            gains[key] = float(args[key])
            taken.add(key)
        else:
            ignored.append(f"{key} {args[key]!r} {problem}, {default} used")
    warnings = (
        [f"{name}: {len(ignored)} loss gain(s) ignored, the default used instead ({'; '.join(ignored)})."]
        if ignored
        else []
    )
    return gains, taken, warnings


@dataclass(frozen=True)
class LossWeights:
    """Each loss column's gain, where it came from, and what could not be given one."""

    weights: dict[str, float]
    sources: dict[str, str]
    defaulted: dict[str, list[str]]  # gain key → the columns that got its default although a file was read
    undocumented: list[str]  # loss columns no documented gain multiplies
    not_gains: dict[str, list[str]]  # why (NOT_A_GAIN) → the columns left without a gain for that reason


def _loss_weights(
    names: Sequence[str], framework: str, gains: dict[str, float], taken: set[str], file_name: str | None
) -> LossWeights:
    """The gains of the loss columns among `names`, per the mapping in the module docstring."""
    default_source = f"default ({DEFAULTS_FILE[framework]})"
    rtdetr = framework == "ultralytics" and any(n.partition("/")[2] == "giou_loss" for n in names)
    weights: dict[str, float] = {}
    sources: dict[str, str] = {}
    defaulted: dict[str, list[str]] = {}
    undocumented: list[str] = []
    not_gains: dict[str, list[str]] = {}
    for name in names:
        prefix, _, kind = name.partition("/")
        if prefix not in ("train", "val"):
            continue
        if rtdetr and kind in RTDETR_GAINS:
            weights[name], sources[name] = RTDETR_GAINS[kind], RTDETR_SOURCE
            continue
        key = GAIN_OF_LOSS[framework].get(kind)
        if key is None:
            why = NOT_A_GAIN.get(framework, {}).get(kind)
            if why is not None:
                not_gains.setdefault(why, []).append(name)
            elif _LOSS_COLUMN.fullmatch(kind):
                undocumented.append(name)
            continue
        weights[name] = gains[key]
        if key in taken and file_name is not None:
            sources[name] = file_name
        else:
            sources[name] = default_source
            if file_name is not None:
                defaulted.setdefault(key, []).append(name)
    return LossWeights(weights, sources, defaulted, undocumented, not_gains)


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
    taken: set[str] = set()
    wanted = CONFIG_FILES[framework]
    if found.path is not None and found.args is not None:  # _find_config sets both or neither
        warnings += [f"{r}; it was ignored." for r in found.rejected]
        config["args"] = found.args
        config["args_file"] = str(found.path)
        gains, taken, ignored = _gains(found.args, framework, found.path.name)
        warnings += ignored
        for key in ("lr0", "epochs"):
            if gain_problem(found.args.get(key)) is None:
                config[key] = found.args[key]
    else:
        shown = ", ".join(f"{k} {DEFAULT_GAINS[framework][k]}" for k in REQUIRED_GAINS[framework])
        reasons = [*found.rejected, *found.unsuitable]
        lead = (
            f"no usable {wanted} ({'; '.join(reasons)})"
            if reasons
            else f"no {wanted} next to the log or uploaded with it"
        )
        warnings.append(f"{lead}: default loss gains assumed ({shown}).")
    if framework == "yolov5":
        warnings.append(
            "YOLOv5 rescales its gains at train time (box, obj, cls × 3/layers; cls × classes/80; "
            "obj × (imgsz/640)²); the hyp.yaml values are used as logged-weight estimates."
        )
    file_name = None if found.path is None else found.path.name
    lw = _loss_weights(list(columns), framework, gains, taken, file_name)
    config["loss_weights"] = lw.weights
    config["weight_sources"] = lw.sources
    if file_name is not None and any(source == file_name for source in lw.sources.values()):
        config["weights_file"] = file_name
    # A gain the file holds but that is unusable was already named above; one it lacks is said here.
    warnings += [
        f"{file_name} has no {key} gain: the default {gains[key]} ({DEFAULTS_FILE[framework]}) "
        f"is used for {', '.join(names)}."
        for key, names in lw.defaulted.items()
        if key not in (found.args or {})
    ]
    if any(source == RTDETR_SOURCE for source in lw.sources.values()):
        warnings.append(
            "RT-DETR logs only its last decoder layer's giou/cls/l1 losses; the objective also sums "
            "the auxiliary, encoder and denoising terms "
            "(ultralytics/nn/tasks.py RTDETRDetectionModel.loss)."
        )
    if lw.undocumented:
        warnings.append(f"no documented loss gain for {', '.join(lw.undocumented)}: left without one.")
    warnings += [
        f"no loss gain recorded for {', '.join(names)}: {why}." for why, names in lw.not_gains.items()
    ]
    epochs = plan.steps.astype(np.float64) if plan.epochs is None else plan.epochs
    return assemble(
        str(path),
        NAME,
        framework,
        plan.steps,
        columns,
        present=present or None,
        epochs=epochs,
        wall_times=wall_times,
        config=config,
        warnings=warnings,
        step_unit="epoch",
    )
