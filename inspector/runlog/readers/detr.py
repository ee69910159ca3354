"""Reader for the DETR family's `log.txt`: one JSON object per epoch (DETR, Deformable/Conditional/DAB/
DN-DETR, DINO, RT-DETR/RT-DETRv2, D-FINE).

The definition, from the trainers' source:

- detr/main.py writes, after each epoch, `log_stats = {**{f'train_{k}': v for k, v in train_stats.items()},
  **{f'test_{k}': v for k, v in test_stats.items()}, 'epoch': epoch, 'n_parameters': n_parameters}` as one
  `json.dumps` line appended to `output_dir/log.txt` (Deformable-DETR, DN-DETR, RT-DETR's det_solver.py
  in rtdetr_pytorch and rtdetrv2_pytorch, and D-FINE's det_solver.py write the same dict; DINO's main.py
  adds `ema_test_*`, `best_res`/`best_ep`, and the strings `now_time`, `epoch_time`). `epoch` counts from 0
  and a resumed run continues it (`args.start_epoch = checkpoint['epoch'] + 1`), so an epoch that goes
  back is a new launch appended to the same file: a segment.
- every other value is a MetricLogger global average over the epoch (detr/engine.py `train_one_epoch`,
  `evaluate`): `loss`, each loss times its gain under its own name (`loss_dict_reduced_scaled`), the raw
  one as `<name>_unscaled`, `class_error`, `cardinality_error`, `lr` (DETR names the decoder-layer copies
  `_0`…`_4`, Deformable's two-stage encoder `_enc`, DINO `_dn`, `_dn_{i}`, `_interm`, DN-DETR `tgt_`,
  RT-DETR/D-FINE `_aux_{i}`, `_dn_{i}`, `_enc_{i}`, `_pre`; RT-DETR and D-FINE log losses already times
  their gains and without `_unscaled` twins). Every number is kept as a series under its own name.
- `test_coco_eval_bbox` / `test_coco_eval_masks` are `COCOeval.stats.tolist()` (detr/engine.py `evaluate`),
  12 numbers in the order of pycocotools' `summarize` (`COCO_STATS`); they become one series per number,
  `test/coco_eval_bbox/AP50`. A −1 there is pycocotools saying "no ground truth of that size", kept as NaN.

Gains come only from a companion config (`detr_config.py`); steps are epochs.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from inspector.errors import InspectorError
from inspector.runlog import detr_config, jsonlines, jsonrows
from inspector.runlog import steps as stepping
from inspector.runlog.json_columns import Column
from inspector.runlog.record import RunLog

NAME = "detr"
DESCRIPTION = (
    "DETR-family log.txt (JSON lines of train_*/test_* per epoch: DETR, Deformable, DINO, RT-DETR, D-FINE)"
)

STEP_KEY = "epoch"
# detr/main.py log_stats: the model's size, the same on every line of one launch; kept in config.
PARAMS_KEY = "n_parameters"

# pycocotools/cocoeval.py COCOeval.summarize → _summarizeDets: stats[0..11] in this order, with the
# default maxDets (1, 10, 100) for the three recalls.
COCO_STATS = ("AP", "AP50", "AP75", "APs", "APm", "APl", "AR1", "AR10", "AR100", "ARs", "ARm", "ARl")
# detr/engine.py evaluate(): stats['coco_eval_bbox'] (iouType bbox) and stats['coco_eval_masks'] (segm).
_COCO_LIST = re.compile(r"^(?P<split>.*?)[_/]?(?P<stat>coco_eval_(?:bbox|masks))$")
# pycocotools _summarize: `if len(s[s>-1]) == 0: mean_s = -1` (no ground truth in that area range).
COCO_ABSENT = -1.0

# Keys only the family writes beside `epoch` (detr/main.py, detr/engine.py); one is enough with a split key.
_SIGNATURE = re.compile(r"^(?:ema_)?(?:train|test)_(?:coco_eval_(?:bbox|masks)|class_error|.+_unscaled)$")
_LOSS = re.compile(r"^train_loss_")
_SIGNATURE_BYTES = (b'"test_coco_eval_bbox"', b'"train_class_error"', b'_unscaled"', b'"n_parameters"')
SNIFF_SCORE = 0.85  # above the generic JSON lines reader (0.3) and the text reader (0.5)
SNIFF_CUT_SCORE = 0.6  # a first line too long for the head: judged on its bytes alone
_SHOWN = 10


def _is_detr_row(obj: dict) -> bool:
    """Whether a JSON object has `epoch` and a key the DETR family's log_stats writes."""
    if STEP_KEY not in obj:
        return False
    keys = [k for k in obj if isinstance(k, str)]
    if any(_SIGNATURE.match(k) for k in keys):
        return True
    return PARAMS_KEY in obj and any(_LOSS.match(k) for k in keys)


def sniff(path: Path, head: bytes) -> float:
    """0.85 when a line of the head has `epoch` and a DETR-family key; 0.6 for a first line the head cuts."""
    objs = jsonrows.head_objects(head)
    if any(_is_detr_row(o) for o in objs):
        return SNIFF_SCORE
    line = jsonrows.first_line(head)
    # A Deformable/DINO line holds hundreds of keys; when the first one does not end within the head,
    # `epoch` (written last) is not seen, so its leading keys decide.
    if not objs and b"\n" not in head.lstrip() and line.startswith(b'{"train_'):
        if any(mark in line for mark in _SIGNATURE_BYTES):
            return SNIFF_CUT_SCORE
    return 0.0


def read(path: Path, companions: Sequence[Path] = ()) -> RunLog:
    """RunLog over epochs: every numeric key as its series, COCO stats by name, gains from a companion."""
    path = Path(path)
    rows = jsonlines.load(path, lists=True)
    warnings = list(rows.warnings)
    read_steps = stepping.read_steps(rows.number(STEP_KEY), rows.line_numbers, STEP_KEY, allow_order=False)
    usable = read_steps.usable
    if not usable.any():
        raise InspectorError(f"no line has a usable '{STEP_KEY}': not a DETR-family log.txt", path=path)
    warnings += read_steps.warnings
    lines = rows.line_numbers[usable]
    numbers = {
        k: c for k, c in jsonrows.select(usable, rows.numbers).items() if k not in (STEP_KEY, PARAMS_KEY)
    }
    config: dict = {}
    if PARAMS_KEY in rows.numbers:
        size, note = _n_parameters(rows.numbers[PARAMS_KEY].only(usable), rows.line_numbers)
        warnings += note
        if size is not None:
            config[PARAMS_KEY] = size
    columns, note = _named_lists(numbers, rows.lists, lines)
    warnings += note
    gains, note = detr_config.loss_weights(companions, columns)
    config.update(gains)
    warnings += note
    return jsonrows.build_runlog(
        path,
        NAME,
        "detr",
        read_steps.steps[usable],
        columns,
        lines,
        config=config,
        warnings=warnings,
        step_unit="epoch",
        step_key=STEP_KEY,
    )


def _names(names: Sequence[str]) -> str:
    """ "a, b, … 3 more" for the first _SHOWN of `names`."""
    shown = ", ".join(names[:_SHOWN])
    return shown + (f", … {len(names) - _SHOWN} more" if len(names) > _SHOWN else "")


def _n_parameters(col: Column, lines: np.ndarray) -> tuple[int | None, list[str]]:
    """(the model size of the last launch, a warning where it changes: runs of different models appended)."""
    at, values = col.positions(), col.logged()
    with np.errstate(invalid="ignore"):
        whole = np.abs(values) <= stepping.MAX_STEP  # a count: finite and an exact integer in float64
    at, values = at[whole], values[whole]
    if values.size == 0:
        return None, []
    changes = np.flatnonzero(values[1:] != values[:-1]) + 1
    if changes.size == 0:
        return int(values[-1]), []
    where = ", ".join(
        f"{values[i - 1]:.0f} → {values[i]:.0f} at line {int(lines[at[i]])}" for i in changes[:3]
    )
    return int(values[-1]), [
        f"'{PARAMS_KEY}' changes ({where}): this log.txt holds runs of different "
        f"models; config['{PARAMS_KEY}'] is the last one."
    ]


def _named_lists(
    numbers: dict[str, Column], lists: Sequence[str], lines: np.ndarray
) -> tuple[dict[str, Column], list[str]]:
    """(columns with COCO stats named and every other list's items dropped, warnings saying what was done)."""
    listed = set(lists)
    columns = {k: c for k, c in numbers.items() if not (k.endswith("]") and k.rpartition("[")[0] in listed)}
    warnings: list[str] = []
    other = [key for key in lists if not _COCO_LIST.match(key)]
    if other:
        warnings.append(f"list values skipped (only COCOeval stats are read from lists): {_names(other)}.")
    absent: dict[str, int] = {}
    for key in lists:
        match = _COCO_LIST.match(key)
        if match is None:
            continue
        split, stat = match["split"], match["stat"]
        prefix = f"{split}/{stat}" if split else stat
        found = {i: numbers[f"{key}[{i}]"] for i in range(len(COCO_STATS)) if f"{key}[{i}]" in numbers}
        if not found:
            warnings.append(f"'{key}' holds no numbers on any line with an epoch; skipped.")
            continue
        logged = np.zeros(lines.size, dtype=bool)
        for col in found.values():
            logged |= col.mask()
        short = logged & ~found[len(COCO_STATS) - 1].mask() if len(COCO_STATS) - 1 in found else logged
        if short.any():
            warnings.append(
                f"'{key}' has fewer than the {len(COCO_STATS)} COCOeval stats on "
                f"{int(short.sum())} row(s) ({stepping.lines_text(lines[short])}); the values "
                "are named in COCOeval.summarize's order."
            )
        extra = f"{key}[{len(COCO_STATS)}]"
        if extra in numbers:
            over = lines[numbers[extra].positions()]
            warnings.append(
                f"'{key}' has more than the {len(COCO_STATS)} COCOeval stats "
                f"({stepping.lines_text(over)}); the values past them are skipped."
            )
        for i, col in found.items():
            name = f"{prefix}/{COCO_STATS[i]}"
            values = col.values
            missing = values == COCO_ABSENT
            if col.present is not None:
                missing &= col.present
            if missing.any():
                values = np.where(missing, np.nan, values)
                absent[name] = int(missing.sum())
            columns[name] = Column(col.n, values, col.present, col.rows)
    if absent:
        detail = ", ".join(f"{k}: {v}" for k, v in absent.items())
        warnings.append(
            "COCOeval stats of -1 kept as NaN, not -1 (pycocotools writes -1 where no ground "
            f"truth falls in that area range, e.g. no small objects): {detail}."
        )
    return columns, warnings
