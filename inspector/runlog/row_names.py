"""What a column's name says about a row: a split column (`mode`, `split`, …) and its values, an evaluation
key (`val_loss`, `bbox/AP50`), a clock (`time`, `_runtime`). The readers take row evidence from these names
(shared_steps.resolve)."""

from __future__ import annotations

import re
from collections.abc import Sequence

# Column names that hold each row's split (case-insensitive). `mode`: mmdet 2.x log.json, custom
# trainers' CSVs; `split`/`phase`/`stage`/`subset`: the names the same column takes elsewhere.
SPLIT_KEYS = ("split", "mode", "phase", "stage", "subset")
# Values that mark a training row (Lightning's RunningStage.TRAINING is "train"; "fit" is its TrainerFn).
TRAIN_SPLITS = frozenset({"train", "training", "fit"})
# Values that mark evaluation rows: a column holding one of these (or a training value) is a split column.
EVAL_SPLITS = frozenset(
    {"val", "valid", "validation", "validate", "eval", "evaluation", "test", "testing", "dev"}
)
# A key named like an evaluation: prefixed eval/val/test (Keras `val_loss`, HF `eval_loss`, Lightning
# `val_acc`, our `eval/map50`), or holding a detection/classification metric as a word of its name
# (Detectron2 `bbox/AP50`, mmdet `bbox_mAP_50`, Ultralytics `metrics/mAP50-95(B)`, `accuracy`, `top1`).
EVAL_PREFIX = re.compile(r"^(eval|val|valid|validation|test)([/_.\-])", re.IGNORECASE)
EVAL_WORD = re.compile(
    r"^(?:m?ap\d*[sml]?|acc|accuracy|top-?[15]|precision|recall|f1|miou|auroc)$", re.IGNORECASE
)
# Where an eval row gives no prefix of its own, its repeated keys are kept under this one.
DEFAULT_EVAL_PREFIX = "val/"
# Column names that may be a clock: elapsed seconds or timestamps (Ultralytics `time`, W&B `_runtime`
# and `_timestamp`, custom `timestamp`/`wall_time`). Only a column that rarely goes back is one.
CLOCK_KEYS = (
    "time",
    "timestamp",
    "wall_time",
    "walltime",
    "_runtime",
    "_timestamp",
    "elapsed",
    "elapsed_time",
)


def is_eval_name(name: str) -> bool:
    """Whether `name` is an evaluation key: prefixed eval/val/test, or with mAP/AP/accuracy/… as a word."""
    if EVAL_PREFIX.match(name):
        return True
    return any(EVAL_WORD.match(word) for word in re.split(r"[^A-Za-z0-9]+", name) if word)


def eval_prefix(name: str) -> str | None:
    """The eval prefix `name` starts with, separator included ("val_", "eval/"), or None."""
    m = EVAL_PREFIX.match(name)
    return m.group(0) if m else None


def split_key(names: Sequence[str]) -> str | None:
    """The first name that is a split column's (SPLIT_KEYS, case-insensitive), or None."""
    lowered = {n.strip().lower(): n for n in reversed(list(names))}
    return next((lowered[k] for k in SPLIT_KEYS if k in lowered), None)


def clock_key(names: Sequence[str]) -> str | None:
    """The first name that may be a clock's (CLOCK_KEYS, case-insensitive), or None."""
    lowered = {n.strip().lower(): n for n in reversed(list(names))}
    return next((lowered[k] for k in CLOCK_KEYS if k in lowered), None)
