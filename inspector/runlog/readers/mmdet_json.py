"""Reader for MMDetection 2.x `*.log.json` (mmcv's TextLoggerHook): `mode` train/val, epoch-local `iter`."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from inspector.errors import InspectorError
from inspector.runlog import jsonlines, jsonrows
from inspector.runlog import steps as stepping
from inspector.runlog.companions import CompanionError, gain_problem, python_assignments
from inspector.runlog.json_columns import Column
from inspector.runlog.record import RunLog

NAME = "mmdet2_json"
DESCRIPTION = "MMDetection 2.x *.log.json (mode train/val, epoch-local iter)"

# Keys that describe a line rather than measure anything.
_BOOKKEEPING = ("epoch", "iter", "seed")
# Val lines repeat the training lr and timing of their epoch; only their metrics are kept.
_VAL_NOISE = ("lr", "time", "data_time", "memory")


def sniff(path: Path, head: bytes) -> float:
    """0.9 for an env_info first line or a line with "mode": "train" plus "iter" and "epoch"."""
    line = jsonrows.first_line(head)
    if line.startswith(b'{"env_info"'):
        return 0.9
    for obj in jsonrows.head_objects(head):
        if obj.get("mode") in ("train", "val") and "iter" in obj and "epoch" in obj:
            return 0.9
    return 0.0


def read(path: Path, companions: Sequence[Path] = ()) -> RunLog:
    """RunLog over global iterations; each val line's metrics sit at the last training step of its epoch.

    `iter` counts within an epoch (EpochBasedRunner), so the global step is
    (epoch - 1) * iters_per_epoch + iter. mmdet 2.x's JSON log does not record iters_per_epoch
    (the text log's "[10/31]" does), so it is taken as the largest training `iter` logged in
    any epoch: exact when the logging interval divides the epoch, otherwise at most one
    interval short, which keeps steps increasing and evenly spaced. With an IterBasedRunner in
    the config, `iter` is already global and is used as is.
    """
    path = Path(path)
    config, offset = _env_config(path)
    rows = jsonlines.load(path, start=offset, first_line=2 if offset else 1)
    warnings = list(rows.warnings)
    mode = rows.text("mode")
    is_train, is_val = mode == "train", mode == "val"
    epoch_col, iter_col = rows.number("epoch"), rows.number("iter")
    if epoch_col is None or iter_col is None or not is_train.any():
        raise InspectorError(
            "no training line with 'mode', 'epoch' and 'iter': not an mmdet 2.x log.json", path=path
        )
    among = is_train | is_val
    read_epochs = stepping.read_steps(epoch_col, rows.line_numbers, "epoch", allow_order=False, among=among)
    read_iters = stepping.read_steps(iter_col, rows.line_numbers, "iter", allow_order=False, among=is_train)
    warnings += read_epochs.warnings + read_iters.warnings
    epochs, has_epoch = read_epochs.steps, read_epochs.usable
    iters, has_iter = read_iters.steps, read_iters.usable
    is_train &= has_epoch & has_iter
    is_val &= has_epoch
    if not is_train.any():
        raise InspectorError(
            "no training line with a usable 'epoch' and 'iter': not an mmdet 2.x log.json", path=path
        )

    iter_based = "IterBasedRunner" in str(config.get("runner", {}).get("type", ""))
    if iter_based:
        steps = iters.copy()
    else:
        per_epoch = int(iters[is_train].max())
        config["iters_per_epoch_inferred"] = per_epoch
        # In float64 first: a huge epoch times the epoch length must not wrap around int64.
        global_steps = (epochs.astype(np.float64) - 1) * per_epoch + iters
        huge = is_train & (np.abs(global_steps) > stepping.MAX_STEP)
        if huge.any():
            warnings.append(
                f"{int(huge.sum())} row(s) whose epoch and iter give a step beyond 2**53 skipped "
                f"({stepping.lines_text(rows.line_numbers[huge])})."
            )
            is_train &= ~huge
        steps = np.where(is_train, global_steps, 0).astype(np.int64)

    train_idx = np.flatnonzero(is_train)
    target = np.full(rows.n_rows, -1, dtype=np.int64)
    orphan = []
    for i in np.flatnonzero(is_val).tolist():
        # The val line's epoch's last training line (its `iter` is the val set size, not a step).
        same = train_idx[(train_idx < i) & (epochs[train_idx] == epochs[i])]
        if same.size == 0:
            orphan.append(i)
            continue
        target[i] = same[-1]
    if orphan:
        warnings.append(
            f"{len(orphan)} val line(s) with no training line of their epoch skipped "
            f"({stepping.lines_text(rows.line_numbers[np.array(orphan)])})."
        )
    metrics = {k: c for k, c in rows.numbers.items() if k not in _BOOKKEEPING}
    columns = jsonrows.attach(metrics, is_train, target, _VAL_NOISE)
    epoch_values = Column.dense(epochs[is_train].astype(np.float64), np.ones(int(is_train.sum()), dtype=bool))
    return jsonrows.build_runlog(
        path,
        NAME,
        "mmdet",
        steps[is_train],
        jsonrows.select(is_train, columns),
        rows.line_numbers[is_train],
        epochs=epoch_values,
        config=config,
        warnings=warnings,
    )


def _env_config(path: Path) -> tuple[dict, int]:
    """(what the first env_info/config line tells about the run, its byte length; ({}, 0) without one)."""
    with open(path, "rb") as fh:
        line = fh.readline(jsonlines.MAX_LINE_BYTES + 1)
    try:
        first = json.loads(line)
    except (ValueError, RecursionError):  # a damaged or deeply nested first line: read as a row
        return {}, 0
    if not (isinstance(first, dict) and ("env_info" in first or "config" in first) and "mode" not in first):
        return {}, 0
    config: dict[str, Any] = {}
    text = first.get("config")
    if isinstance(text, str):
        assigned = config_literals(text)
        weights = loss_weights(assigned.get("model", {}))
        if weights:
            config["loss_weights"] = weights
        for key in ("runner", "optimizer", "lr_config"):
            if isinstance(assigned.get(key), dict):
                config[key] = assigned[key]
        data = assigned.get("data")
        if isinstance(data, dict) and "samples_per_gpu" in data:
            config["samples_per_gpu"] = data["samples_per_gpu"]
    for key in ("seed", "exp_name"):
        if key in first:
            config[key] = first[key]
    return config, len(line)


def config_literals(text: str) -> dict[str, Any]:
    """Top-level `name = <literal or dict(...)>` assignments of an mmcv config dump, never executed; {} if
    refused.

    The config is Python source, parsed with `ast` within the companion bounds (companions.py: a dump
    of 2 MB of names took 1.4 GB to parse); only literals and `dict(...)` calls are evaluated, so
    nothing in an uploaded log can run.
    """
    try:
        return python_assignments(text)
    except CompanionError:
        return {}


def loss_weights(model: Any) -> dict[str, float]:
    """{logged loss key: loss_weight} from a model config, e.g. rpn_head.loss_cls → "loss_rpn_cls".

    mmdet 2.x prefixes the RPN head's losses with "rpn" when it logs them (loss_rpn_cls,
    loss_rpn_bbox); other heads log their `loss_*` keys unchanged. A weight that is not a finite,
    non-negative number is left out (`loss_weight_problems` says which).
    """
    return _walk_loss_weights(model)[0]


def loss_weight_problems(model: Any) -> list[str]:
    """ "loss_cls: loss_weight nan is not finite"-style notes on the weights `loss_weights` left out."""
    return _walk_loss_weights(model)[1]


def _walk_loss_weights(model: Any) -> tuple[dict[str, float], list[str]]:
    weights: dict[str, float] = {}
    problems: list[str] = []

    def walk(node: Any, in_rpn: bool) -> None:
        if not isinstance(node, dict):
            return
        for key, value in node.items():
            if not isinstance(value, dict) or not isinstance(key, str):
                continue
            if key.startswith("loss_") and "loss_weight" in value:
                name = "loss_rpn_" + key[len("loss_") :] if in_rpn else key
                weight = value["loss_weight"]
                problem = gain_problem(weight)
                if problem is None:
                    weights.setdefault(name, float(weight))
                else:
                    problems.append(f"{name}: loss_weight {weight!r} {problem}")
            else:
                walk(value, in_rpn or key == "rpn_head")

    walk(model, False)
    return weights, problems
