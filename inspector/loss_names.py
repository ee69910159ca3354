"""What a metric's name says: a loss term (and which copy of it), the total, lr, an eval metric, positives.

Names are the first evidence about a log and the cheapest: `inspector.losses` starts from what is read
here, then weighs it against config files and the numbers (`inspector.loss_evidence`). Every rule is
a pattern over the lower-cased name, so a format nobody has shown us is read by the same rules.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# Names of the logged objective, most specific first (compared after lower-casing).
TOTAL_NAMES = (
    "loss/total",
    "total_loss",
    "loss_total",
    "train/loss",
    "train/total_loss",
    "train_loss",
    "loss/train",
    "losses/total",
    "loss",
)
# Short canonical names for the base of a loss metric (after prefixes/suffixes are stripped).
CANONICAL = {
    "box": "bbox",
    "box_reg": "bbox",
    "bbox": "bbox",
    "reg": "bbox",
    "cls": "cls",
    "ce": "cls",
    "class": "cls",
    "classification": "cls",
    "labels": "cls",
    "rpn_loc": "rpn_loc",
    "rpn_bbox": "rpn_loc",
    "rpn_box": "rpn_loc",
}

_VAL = re.compile(r"(^|[/_.\-])(val|valid|validation|eval|test)(?=[/_.\-]|$)", re.I)
_SPLIT = re.compile(r"(^|[/_.\-])(val|valid|validation|eval|test|train)(?=[/_.\-]|$)", re.I)
_EVAL_METRIC = re.compile(
    r"map|(^|[/_.])ap(\d+|[sml]\b|[_\-(]|$)|st[_\-]?iou|(^|[/_.])ar(\d+|[sml]\b|$)", re.I
)
_LR = re.compile(r"(^|[/_.\-])(lr|learning_rate)(\d*|[/_.\-].*)?$", re.I)
_POSITIVES = re.compile(
    r"(^|[/_.])(positives|num_pos\w*|num_positives|num_fg\w*|fg_samples|pos_count)$", re.I
)
# YOLO-family loss columns that do not say "loss": YOLOv10's `box_om`/`cls_oo`, a results table's `box`.
# Read as terms only under a train/val split prefix (a bare `cls` column could be anything).
_YOLO_TERM = re.compile(r"^(box|cls|dfl|obj|seg|pose|kobj|giou|l1|rle|angle)(_(om|oo))?$")
# A loss's copies: decoder/aux layers (`_0`…`_5`, `_aux_0`), denoising (`_dn`), encoder / two-stage
# (`enc_`, `_enc`, `interm`), D-FINE's pre-output (`_pre`), YOLOv10's one-to-many/one-to-one heads.
_COPY_SUFFIX = re.compile(r"_(aux|dn|enc|interm|pre|om|oo|\d+)$")
_COPY_PREFIX = re.compile(r"^(enc|interm)_")
_UNSCALED = "_unscaled"
# Series that are never a term of the objective, whatever they sum to (timers, counters, sizes).
_BOOKKEEPING = re.compile(
    r"(^|[/_.\-])(step|global_step|iter|iteration|it|epoch|epochs|time|data_time|iter_time|eta|eta_seconds|"
    r"timestamp|wall_time|mem|memory|gpu_mem|max_mem|grad_norm|size|img_size|imgsz|labels|instances|"
    r"n_parameters|batch|batch_size|num_samples|samples|fps|throughput)$",
    re.I,
)


@dataclass(frozen=True)
class TermName:
    """A loss term read from a metric name: its component name, the term it copies, and which copy."""

    name: str  # "bbox", "giou_3", "box_om"
    family: str | None  # the term a copy belongs to ("giou" for giou_3); None for a term of its own
    group: str | None  # the copy: "aux layer 3", "denoising", "encoder", "one-to-one head"; None: final


def strip_split(metric: str) -> str:
    """The metric name without its train/val marker, lower-cased."""
    return _SPLIT.sub("", metric.lower()).strip("/_.-")


def is_val(metric: str) -> bool:
    return bool(_VAL.search(metric))


def is_total(metric: str) -> bool:
    return metric.lower() in TOTAL_NAMES or strip_split(metric) in (
        "loss",
        "total_loss",
        "loss_total",
        "loss/total",
        "total",
    )


def total_rank(metric: str) -> int:
    """Where `metric` stands among total names (lower is more specific)."""
    return TOTAL_NAMES.index(metric.lower()) if metric.lower() in TOTAL_NAMES else len(TOTAL_NAMES)


def is_lr(metric: str) -> bool:
    return bool(_LR.search(metric)) and "loss" not in metric.lower()


def is_eval_metric(metric: str) -> bool:
    return bool(_EVAL_METRIC.search(metric)) and "loss" not in metric.lower() and not _LR.search(metric)


def is_positives(metric: str) -> bool:
    return bool(_POSITIVES.search(metric))


def is_bookkeeping(metric: str) -> bool:
    return bool(_BOOKKEEPING.search(metric))


def unscaled_partner(metric: str) -> str | None:
    """For `x_unscaled`, the name `x` of its scaled twin; None for any other name."""
    return metric[: -len(_UNSCALED)] if metric.lower().endswith(_UNSCALED) else None


def base_name(metric: str) -> str | None:
    """The loss term's base name ("box", "giou_0", "rpn_cls") or None if `metric` is not a loss."""
    m = strip_split(metric)
    if m.endswith(_UNSCALED):
        m = m[: -len(_UNSCALED)]
    if "loss" not in m:
        term = _YOLO_TERM.match(m)
        return m if term and _SPLIT.search(metric) else None
    m = re.sub(r"^loss(es)?[/_.]", "", m)
    m = re.sub(r"[/_.]loss(es)?$", "", m)
    m = re.sub(r"(?<=[_./])loss_", "", m)  # enc_loss_giou -> enc_giou, s0.loss_cls -> s0.cls
    m = re.sub(r"_loss(?=_(om|oo)$)", "", m)  # box_loss_om -> box_om
    m = m.replace("/", "_").replace(".", "_").strip("_")
    return m or None


def _group_label(tokens: list[str]) -> str:
    """A copy's label from its suffix tokens, outermost last: ["dn", "0"] → "denoising, layer 0"."""
    words: list[str] = []
    for token in tokens:
        if token.isdigit():
            words.append(f"layer {token}" if words else f"aux layer {token}")
        else:
            words.append(
                {
                    "aux": "aux",
                    "dn": "denoising",
                    "enc": "encoder",
                    "interm": "encoder",
                    "pre": "pre-output",
                    "om": "one-to-many head",
                    "oo": "one-to-one head",
                }[token]
            )
    return ", ".join(words).replace("aux, layer", "aux layer")


def term_name(metric: str) -> TermName | None:
    """The TermName of a loss metric ("train_loss_giou_3" → giou_3 of family giou, aux layer 3); None if
    no loss."""
    base = base_name(metric)
    if base is None:
        return None
    tokens: list[str] = []
    core = base
    prefix = _COPY_PREFIX.match(core)
    if prefix:
        tokens.append(prefix.group(1))
        core = core[prefix.end() :]
    suffix: list[str] = []
    while (m := _COPY_SUFFIX.search(core)) and m.start() > 0:
        suffix.insert(0, m.group(1))
        core = core[: m.start()]
    tokens += suffix
    if not tokens:
        return TermName(CANONICAL.get(base, base), None, None)
    return TermName(base, CANONICAL.get(core, core), _group_label(tokens))
