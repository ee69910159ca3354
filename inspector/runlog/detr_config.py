"""Loss gains a DETR-family config file states, placed on the loss series of a `log.txt` they multiply.

Two ways the family states gains, both read here from the trainers' own source:

- **loss coefficients** in the run's arguments (DETR, Deformable/Conditional/DAB/DN-DETR, DINO): an
  `args` dump (`config.json`, `config_args_all.json`, a YAML, a Python `config_cfg.py`, or the text of
  `print(args)`, `Namespace(...)`). `build()` turns them into the criterion's `weight_dict`:
  detr/models/detr.py `weight_dict = {'loss_ce': 1, 'loss_bbox': args.bbox_loss_coef, 'loss_giou':
  args.giou_loss_coef}` (+ `loss_mask`/`loss_dice` from `mask_loss_coef`/`dice_loss_coef`);
  Deformable-DETR/models/deformable_detr.py, DN-DETR and DINO take `loss_ce` from `cls_loss_coef`;
- an explicit **`weight_dict`** (RT-DETR / RT-DETRv2 / D-FINE YAML: `SetCriterion:`, `RTDETRCriterionv2:`,
  `DFINECriterion:` `weight_dict: {loss_vfl: 1, loss_bbox: 5, loss_giou: 2, …}`; the matcher's own
  `weight_dict` holds `cost_*` matching costs, not gains, and is not read).

Each base gain then applies to the copies the criterion makes of that loss (`COPY`): decoder layers
`_0`…`_4` (detr.py `aux_weight_dict`, RT-DETR/D-FINE `_aux_{i}`), `_enc` (Deformable two-stage),
`_dn`/`_dn_{i}` (DINO; RT-DETR/D-FINE `_dn_{i}`, `_dn_pre`), `_enc_{i}`, `_pre` (RT-DETRv2/D-FINE),
`tgt_` (DN-DETR's denoising `tgt_loss_ce`), and `_interm` (DINO: × `interm_loss_coef`, and × 0 for
bbox/giou under `no_interm_box_loss`). Gains go on the series the criterion multiplies (`train_loss_bbox`,
`test_loss_bbox_0`, …); a `*_unscaled` twin is the raw value and gets none (the pairing is losses.py's).
Nothing is guessed: a coefficient we cannot place is named in a warning, and a file that states no
gain adds nothing.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from inspector.runlog import companions as companion_files
from inspector.runlog.companions import Companion, CompanionError

# Argument → the weight_dict key it sets (detr.py / deformable_detr.py / dino.py build functions).
COEFFICIENTS = {
    "cls_loss_coef": "loss_ce",
    "bbox_loss_coef": "loss_bbox",
    "giou_loss_coef": "loss_giou",
    "mask_loss_coef": "loss_mask",
    "dice_loss_coef": "loss_dice",
}
# DINO's build_dino multiplies its `_interm` gains by this, and zeroes the box terms under the flag.
INTERM_COEF, NO_INTERM_BOX = "interm_loss_coef", "no_interm_box_loss"
_INTERM_BOX = ("loss_bbox", "loss_giou")

# What a logged loss name may add to a weight_dict key: a split prefix (main.py `train_`/`test_`, DINO's
# `ema_test_`), DN-DETR's `tgt_`, and one of the criterion's copy suffixes.
_SPLIT = re.compile(r"^(?:ema_)?(?:train|test)_")
COPY = re.compile(r"(?:_aux)?_\d+|_enc(?:_\d+)?|_dn(?:_\d+|_pre)?|_pre|_interm")
_UNSCALED = "_unscaled"
# A criterion's weight_dict names losses (the matcher's beside it names `cost_*` matching costs).
_GAIN_KEYS = ("loss_", "tgt_loss_")
_COEF_LIKE = re.compile(r"_loss_coef$")
_NAMESPACE = "Namespace("


def load_companion(path: Path) -> Companion:
    """The companion at `path`; the text of `print(args)` (`Namespace(a=1, …)`) comes as {"args": {…}}."""
    try:
        text = companion_files.read_text(path)
    except CompanionError as exc:
        return Companion(path, None, str(exc))
    stripped = text.strip()
    if not stripped.startswith(_NAMESPACE):
        return companion_files.load(path)
    try:
        # Python's own repr of argparse.Namespace is keyword arguments: parsed as `dict(...)`, never run.
        found = companion_files.python_assignments("args = dict(" + stripped[len(_NAMESPACE) :])
    except CompanionError as exc:
        return Companion(path, None, str(exc))
    if not isinstance(found.get("args"), dict):
        return Companion(path, None, "a Namespace(...) dump with a value that is not a literal")
    return Companion(path, found)


def _arguments(data: dict) -> dict:
    """The mapping that holds the run's arguments: the file itself, or its `args` entry."""
    inner = data.get("args")
    return inner if isinstance(inner, dict) and not any(k in data for k in COEFFICIENTS) else data


def _weight_dict(data: dict) -> tuple[dict | None, str | None]:
    """(the criterion's weight_dict, where found): top level, the section `criterion:` names, or any."""

    def losses_of(value: Any) -> dict | None:
        if (
            isinstance(value, dict)
            and value
            and all(isinstance(k, str) and k.startswith(_GAIN_KEYS) for k in value)
        ):
            return value
        return None

    top = losses_of(data.get("weight_dict"))
    if top is not None:
        return top, "weight_dict"
    named = data.get("criterion")
    if isinstance(named, str) and isinstance(data.get(named), dict):
        found = losses_of(data[named].get("weight_dict"))
        if found is not None:
            return found, f"{named}.weight_dict"
    for key, section in data.items():
        if isinstance(section, dict):
            found = losses_of(section.get("weight_dict"))
            if found is not None:
                return found, f"{key}.weight_dict"
    return None, None


def stated_gains(data: dict, name: str) -> tuple[dict[str, float], dict[str, float], list[str]]:
    """(base gains by weight_dict key, the `_interm` factor per key, warnings) that one companion states."""
    warnings: list[str] = []
    gains: dict[str, float] = {}
    table, where = _weight_dict(data)
    args = _arguments(data)
    if table is not None:
        raw = {str(k): v for k, v in table.items()}
        source = f"{name} ({where})"
    else:
        raw = {COEFFICIENTS[k]: v for k, v in args.items() if k in COEFFICIENTS}
        source = name
        unplaced = sorted(
            k
            for k in args
            if isinstance(k, str) and _COEF_LIKE.search(k) and k not in COEFFICIENTS and k != INTERM_COEF
        )
        if unplaced:
            warnings.append(
                f"{name}: {', '.join(unplaced)} not placed on any loss series (no DETR-family "
                "criterion we read multiplies a loss by it); ignored."
            )
    for key, value in raw.items():
        problem = companion_files.gain_problem(value)
        if problem:
            warnings.append(f"{source}: the gain of {key} {problem}; ignored.")
            continue
        gains[key] = float(value)
    interm: dict[str, float] = {}
    factor = args.get(INTERM_COEF)
    if factor is not None and gains:
        problem = companion_files.gain_problem(factor)
        if problem:
            warnings.append(f"{name}: {INTERM_COEF} {problem}; the _interm gains are left out.")
        else:
            no_box = args.get(NO_INTERM_BOX) is True
            interm = {k: float(factor) * (0.0 if no_box and k in _INTERM_BOX else 1.0) for k in gains}
    return gains, interm, warnings


def gain_of(series: str, gains: dict[str, float], interm: dict[str, float]) -> float | None:
    """The gain the criterion multiplies the logged loss `series` by; None when the companion does not say."""
    if series.endswith(_UNSCALED):
        return None
    split = _SPLIT.match(series)
    if split is None:
        return None
    key = series[split.end() :]
    if key in gains:  # an explicit weight_dict may name a copy itself
        return gains[key]
    for base in sorted(gains, key=len, reverse=True):
        for head in (base, "tgt_" + base):
            if not key.startswith(head):
                continue
            rest = key[len(head) :]
            if rest == "":
                return gains[base]
            if rest == "_interm":
                return interm.get(base)
            if COPY.fullmatch(rest):
                return gains[base]
    return None


def loss_weights(companions: Sequence[Path], series: Iterable[str]) -> tuple[dict, list[str]]:
    """(config entries `loss_weights`/`weights_file`, warnings) from the first companion that states gains."""
    names = list(series)
    warnings: list[str] = []
    used: str | None = None
    config: dict = {}
    for path in companions:
        companion = load_companion(Path(path))
        if companion.data is None:
            warnings.append(companion.warning)
            continue
        gains, interm, notes = stated_gains(companion.data, companion.path.name)
        warnings += notes
        name = companion.path.name
        if not gains:
            included = companion.data.get("__include__")
            hint = f" It includes {included}: give the file with the criterion." if included else ""
            warnings.append(
                f"{name} states no loss gains (no weight_dict and no {', '.join(COEFFICIENTS)}); "
                f"none recorded from it.{hint}"
            )
            continue
        if used is not None:
            warnings.append(f"{name} also states loss gains; those of {used} are used.")
            continue
        placed = {n: g for n in names if (g := gain_of(n, gains, interm)) is not None}
        unweighted = [n for n in names if n.endswith("_interm") and n not in placed and _SPLIT.match(n)]
        if unweighted and not interm:
            warnings.append(
                f"{name} states no {INTERM_COEF}: {', '.join(unweighted[:4])}"
                f"{', …' if len(unweighted) > 4 else ''} get no gain from it."
            )
        if not placed:
            warnings.append(
                f"{name} states gains for {', '.join(sorted(gains))}, but no loss series of the "
                "log is one they multiply; none recorded."
            )
            continue
        used = name
        config = {"loss_weights": placed, "weights_file": name}
    return config, warnings
