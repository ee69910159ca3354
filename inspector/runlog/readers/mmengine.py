"""Reader for MMEngine's vis_data/scalars.json (MMDetection 3.x): train and val lines, one `step` key."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from inspector.errors import InspectorError
from inspector.runlog import companions as companion_files
from inspector.runlog import jsonlines, jsonrows
from inspector.runlog import steps as stepping
from inspector.runlog.readers.mmdet_json import loss_weight_problems, loss_weights
from inspector.runlog.record import RunLog

NAME = "mmengine_json"
DESCRIPTION = "MMEngine / MMDetection 3.x vis_data/scalars.json"

# Training-side keys a val line also carries (its own timings); they would overwrite the training
# values of the step the val line is attached to, so they are dropped from val lines.
_VAL_NOISE = ("data_time", "time", "lr", "memory", "epoch", "iter", "step", "eta")


def sniff(path: Path, head: bytes) -> float:
    """0.9 when lines have "step" and "data_time" and none
    has mmdet 2.x's "mode" or Detectron2's "iteration"."""
    objs = jsonrows.head_objects(head)
    if any("mode" in o or "iteration" in o or "type" in o for o in objs):
        return 0.0
    return 0.9 if any("step" in o and "data_time" in o for o in objs) else 0.0


def read(path: Path, companions: Sequence[Path] = ()) -> RunLog:
    """RunLog over global iterations; val metrics sit at the last logged training step of their epoch.

    MMEngine writes a val line's `step` as the EPOCH (10, 20, …) while training lines use the global
    iteration, so read as-is the val lines would look like restarts. A line is a training line when
    it carries `loss` keys or `lr`; any other line is a val line.
    """
    path = Path(path)
    rows = jsonlines.load(path)
    warnings = list(rows.warnings)
    read_steps = stepping.read_steps(rows.number("step"), rows.line_numbers, "step", allow_order=False)
    steps, usable = read_steps.steps, read_steps.usable
    if not usable.any():
        raise InspectorError("no line has a 'step': not an MMEngine scalars.json", path=path)
    warnings += read_steps.warnings
    is_train = np.zeros(rows.n_rows, dtype=bool)
    for name, col in rows.numbers.items():
        if name == "lr" or name.startswith("loss"):
            is_train |= col.mask()
    is_train &= usable
    is_val = usable & ~is_train
    epoch = rows.number("epoch")
    target = _val_targets(
        np.flatnonzero(is_train),
        np.flatnonzero(is_val),
        steps,
        None if epoch is None else epoch.full(),
        rows.n_rows,
    )
    unplaced = int((is_val & (target < 0)).sum())
    if unplaced:
        warnings.append(
            f"{unplaced} val line(s) before any training line skipped "
            f"({stepping.lines_text(rows.line_numbers[is_val & (target < 0)])})."
        )
    metrics = {k: c for k, c in rows.numbers.items() if k not in ("step", "epoch", "iter")}
    columns = jsonrows.attach(metrics, is_train, target, _VAL_NOISE)
    epochs = None if epoch is None else epoch.take(is_train)
    config = _companion_config(companions)
    warnings += config.pop("companion_warnings", [])
    return jsonrows.build_runlog(
        path,
        NAME,
        "mmdet",
        steps[is_train],
        jsonrows.select(is_train, columns),
        rows.line_numbers[is_train],
        epochs=epochs,
        config=config,
        warnings=warnings,
    )


def _val_targets(
    train: np.ndarray, val: np.ndarray, steps: np.ndarray, epoch: np.ndarray | None, n: int
) -> np.ndarray:
    """Per row, the training row a val row's metrics belong to (-1 elsewhere and for a val row before any).

    Without an epoch key, the last training line before the val line is the end of its epoch
    (MMEngine validates right after an epoch's last iteration); with one, the last training line
    before it whose epoch is the val line's step.
    """
    target = np.full(n, -1, dtype=np.int64)
    if train.size == 0 or val.size == 0:
        return target
    before = np.searchsorted(train, val) - 1
    placed = before >= 0
    target[val[placed]] = train[before[placed]]
    if epoch is not None:
        for i in val[placed].tolist():
            same = train[(epoch[train] == steps[i]) & (train < i)]
            if same.size:
                target[i] = same[-1]
    return target


def _companion_config(companions: Sequence[Path]) -> dict:
    """Loss weights and schedule from the config dump MMEngine writes beside the log (.py, or .yaml/.json).

    A companion that is too large, too deep, not a config or unreadable is ignored: never does it refuse
    the log. What was ignored, and why, is listed in `config["companion_warnings"]`, one line per file.
    """
    config: dict = {}
    notes: list[str] = []
    for path in map(Path, companions):
        if path.suffix.lower() not in (*companion_files.PYTHON_SUFFIXES, *companion_files.YAML_SUFFIXES):
            continue
        loaded = companion_files.load(path)
        if loaded.data is None:
            notes.append(loaded.warning)
            continue
        assigned = loaded.data
        model = assigned.get("model", {})
        weights = loss_weights(model)
        if weights:
            config["loss_weights"] = weights
        problems = loss_weight_problems(model)
        if problems:
            notes.append(f"{path.name}: {len(problems)} loss weight(s) ignored ({'; '.join(problems[:5])}).")
        for key in ("train_cfg", "optim_wrapper", "param_scheduler"):
            if key in assigned:
                config[key] = assigned[key]
    if notes:
        config["companion_warnings"] = notes
    return config
