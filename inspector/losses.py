"""Loss components of a run: which series are terms of the objective, their weights, raw ↔ weighted.

Trainers disagree on what they log. Ultralytics, YOLOv5, Detectron2 and MMDetection log each loss
already multiplied by its gain ("weighted"); our native logger writes raw values. `discover_components`
reads the metric names of a RunLog into a `ComponentSet`; `decompose` aligns the components on one
step axis and rebuilds the objective; `reweight` answers "what if the weights were different".
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from inspector.runlog.record import RunLog, union_steps

LOGGED_WEIGHTED_FRAMEWORKS = frozenset({"ultralytics", "yolov5", "detectron2", "mmdet"})

# Gains each framework ships with, used when the log does not say (no args.yaml / hyp.yaml / config).
# Ultralytics: ultralytics/cfg/default.yaml (box 7.5, cls 0.5, dfl 1.5); YOLOv5: data/hyps/hyp.scratch-low.yaml
# (box 0.05, cls 0.5, obj 1.0). Detectron2 and MMDetection log every term after its loss_weight, and
# the shipped configs use 1.0 for nearly all of them.
FRAMEWORK_WEIGHTS: dict[str, dict[str, float]] = {
    "ultralytics": {"bbox": 7.5, "cls": 0.5, "dfl": 1.5},
    "yolov5": {"bbox": 0.05, "cls": 0.5, "obj": 1.0},
}
UNIT_WEIGHT_FRAMEWORKS = frozenset({"detectron2", "mmdet"})

# Names of the logged objective, most specific first (compared after lower-casing).
TOTAL_NAMES = ("loss/total", "total_loss", "loss_total", "train/loss", "train/total_loss", "train_loss",
               "loss/train", "losses/total", "loss")
# Short canonical names for the base of a loss metric (after prefixes/suffixes are stripped).
CANONICAL = {"box": "bbox", "box_reg": "bbox", "bbox": "bbox", "reg": "bbox", "l1": "bbox",
             "cls": "cls", "ce": "cls", "class": "cls", "classification": "cls", "labels": "cls",
             "rpn_loc": "rpn_loc", "rpn_bbox": "rpn_loc", "rpn_box": "rpn_loc"}

_VAL = re.compile(r"(^|[/_.\-])(val|valid|validation|eval|test)(?=[/_.\-]|$)", re.I)
_SPLIT = re.compile(r"(^|[/_.\-])(val|valid|validation|eval|test|train)(?=[/_.\-]|$)", re.I)
_EVAL_METRIC = re.compile(r"map|(^|[/_.])ap(\d+|[sml]\b|[_\-(]|$)|st[_\-]?iou", re.I)
_LR = re.compile(r"(^|[/_.\-])(lr|learning_rate)(\d*|[/_.\-].*)?$", re.I)
_POSITIVES = re.compile(r"(^|[/_.])(positives|num_pos\w*|num_positives|num_fg\w*|fg_samples|pos_count)$", re.I)
# DETR-style families: decoder layers (`_0`..`_5`), auxiliary heads, denoising (`_dn`) and encoder (`enc_`).
_LAYER = re.compile(r"_(aux_)?(\d+)$")
_DN = re.compile(r"_dn(?=_|$)")
_ENC = re.compile(r"^(enc|interm)_")


@dataclass(frozen=True)
class Component:
    """One term of the training objective as logged: `metric` is the series, `name` its short name."""

    name: str
    metric: str
    weight: float | None
    logged: str  # "raw" or "weighted"
    family: str | None = None
    weight_source: str = "unknown"  # "override", "config", "default (<framework>)" or "unknown"

    @property
    def effective_weight(self) -> float:
        """The weight used in arithmetic: an unknown weight counts as 1.0."""
        return 1.0 if self.weight is None else float(self.weight)


@dataclass(frozen=True)
class ComponentSet:
    """What the metric names of a run say: objective terms, the logged total, lr, eval and val series."""

    components: tuple[Component, ...]
    total: str | None
    val_components: tuple[Component, ...] = ()
    val_total: str | None = None
    families: dict[str, tuple[str, ...]] = field(default_factory=dict)
    lr: str | None = None
    eval_metrics: tuple[str, ...] = ()
    positives: str | None = None
    notes: tuple[str, ...] = ()

    def get(self, name: str) -> Component | None:
        return next((c for c in self.components if c.name == name), None)

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.components]


@dataclass(frozen=True)
class Decomposition:
    """Components aligned on one step axis (T,), with their weighted sum and the logged total.

    A step where a component was not logged is NaN for that component and for `total`.
    `residual = logged_total - total`: ≈ 0 when the weights and semantics are right; NaN without a
    logged total.
    """

    steps: np.ndarray  # (T,) int64, increasing
    components: tuple[Component, ...]
    raw: dict[str, np.ndarray]  # name -> (T,)
    weighted: dict[str, np.ndarray]  # name -> (T,)
    total: np.ndarray  # (T,) Σ weighted
    logged_total: np.ndarray  # (T,) NaN where absent
    residual: np.ndarray  # (T,)
    total_metric: str | None = None

    @property
    def weights(self) -> dict[str, float]:
        return {c.name: c.effective_weight for c in self.components}

    def select(self, rows: np.ndarray) -> Decomposition:
        """The same decomposition on `rows` of the step axis only (a bool mask or indices)."""
        return replace(self, steps=self.steps[rows], raw={k: v[rows] for k, v in self.raw.items()},
                       weighted={k: v[rows] for k, v in self.weighted.items()}, total=self.total[rows],
                       logged_total=self.logged_total[rows], residual=self.residual[rows])

    def to_frame(self) -> pd.DataFrame:
        """Return one row per step: raw_<name>, weighted_<name>, total, logged_total, residual."""
        cols: dict[str, np.ndarray] = {"step": self.steps}
        for c in self.components:
            cols[f"raw_{c.name}"] = self.raw[c.name]
        for c in self.components:
            cols[f"weighted_{c.name}"] = self.weighted[c.name]
        cols["total"] = self.total
        cols["logged_total"] = self.logged_total
        cols["residual"] = self.residual
        return pd.DataFrame(cols)


def _strip_split(metric: str) -> str:
    """Return the metric name without its train/val marker, lower-cased."""
    return _SPLIT.sub("", metric.lower()).strip("/_.-")


def _base_name(metric: str) -> str | None:
    """Return the loss term's base name ("box", "giou_0", "rpn_cls") or None if `metric` is not a loss."""
    m = _strip_split(metric)
    if "loss" not in m:
        return None
    m = re.sub(r"^loss(es)?[/_.]", "", m)
    m = re.sub(r"[/_.]loss(es)?$", "", m)
    m = re.sub(r"(?<=[_./])loss_", "", m)  # enc_loss_giou -> enc_giou, s0.loss_cls -> s0.cls
    m = m.replace("/", "_").replace(".", "_").strip("_")
    return m or None


def _canonical(base: str) -> tuple[str, str | None]:
    """Return (component name, family) for a loss base name; family groups layers/aux/dn/enc variants."""
    enc = _ENC.match(base)
    core = base[enc.end():] if enc else base
    core = _LAYER.sub("", core)
    core = _DN.sub("", core)
    family_base = CANONICAL.get(core, core)
    variant = base != core
    name = CANONICAL.get(base, base) if not variant else base
    return name, (family_base if variant else None)


def _weight_for(c: Component, base: str, sources: list[tuple[str, dict[str, float]]]) -> tuple[float | None, str]:
    for label, table in sources:
        for key in (c.name, c.metric, base, c.family):
            if key is not None and key in table:
                return float(table[key]), label
    return None, "unknown"


def _is_total(metric: str) -> bool:
    return metric.lower() in TOTAL_NAMES or _strip_split(metric) in ("loss", "total_loss", "loss_total",
                                                                       "loss/total", "total")


def discover_components(log: RunLog, weights_override: dict[str, float] | None = None) -> ComponentSet:
    """Return the ComponentSet of `log`: loss terms with weights and where each weight came from.

    Weight priority: `weights_override` (component or metric names) > `log.config["loss_weights"]` >
    the framework's shipped defaults > unknown (arithmetic uses 1.0 and a note says so).
    """
    framework = log.framework
    logged_default = "weighted" if framework in LOGGED_WEIGHTED_FRAMEWORKS else "raw"
    logged = str(log.config.get("loss_logged", logged_default))
    sources: list[tuple[str, dict[str, float]]] = []
    if weights_override:
        sources.append(("override", dict(weights_override)))
    if log.config.get("loss_weights"):
        sources.append(("config", dict(log.config["loss_weights"])))
    if framework in FRAMEWORK_WEIGHTS:
        sources.append((f"default ({framework})", FRAMEWORK_WEIGHTS[framework]))

    names = list(log.series)
    totals = sorted((m for m in names if _is_total(m) and not _VAL.search(m)),
                    key=lambda m: TOTAL_NAMES.index(m.lower()) if m.lower() in TOTAL_NAMES else len(TOTAL_NAMES))
    total = totals[0] if totals else None
    val_totals = [m for m in names if _is_total(m) and _VAL.search(m)]

    train: list[Component] = []
    val: list[Component] = []
    notes: list[str] = []
    for metric in names:
        if metric in totals or metric in val_totals:
            continue
        base = _base_name(metric)
        if base is None:
            continue
        name, family = _canonical(base)
        c = Component(name, metric, None, logged, family)
        weight, source = _weight_for(c, base, sources)
        if framework in UNIT_WEIGHT_FRAMEWORKS and weight is None:
            weight, source = 1.0, f"default ({framework})"
        c = replace(c, weight=weight, weight_source=source)
        (val if _VAL.search(metric) else train).append(c)

    # Two metrics may canonicalise to one name (e.g. `loss_bbox` and `loss/bbox`): keep them apart.
    seen: dict[str, int] = {}
    unique: list[Component] = []
    for c in train:
        n = seen.get(c.name, 0)
        seen[c.name] = n + 1
        unique.append(c if n == 0 else replace(c, name=f"{c.name}_{n}"))
    unknown = [c.name for c in unique if c.weight is None]
    if unknown:
        notes.append(f"weights unknown for {', '.join(unknown)}: treated as 1.0 (pass weights to correct).")
    families: dict[str, list[str]] = {}
    for c in unique:
        families.setdefault(c.family or c.name, []).append(c.name)

    lr_candidates = [m for m in names if _LR.search(m) and "loss" not in m.lower()]
    lr_candidates.sort(key=lambda m: (m.lower() not in ("lr", "train/lr", "learning_rate"), m))
    eval_metrics = tuple(m for m in names if _EVAL_METRIC.search(m) and "loss" not in m.lower()
                         and not _LR.search(m))
    positives = next((m for m in names if _POSITIVES.search(m)), None)
    return ComponentSet(
        components=tuple(unique),
        total=total,
        val_components=tuple(val),
        val_total=val_totals[0] if val_totals else None,
        families={k: tuple(v) for k, v in families.items() if len(v) > 1},
        lr=lr_candidates[0] if lr_candidates else None,
        eval_metrics=eval_metrics,
        positives=positives,
        notes=tuple(notes),
    )


def _align(axis: np.ndarray, steps: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Return `values` placed on `axis` (NaN where the series has no point)."""
    if steps.shape == axis.shape and np.array_equal(steps, axis):
        return values.astype(np.float64, copy=False)
    out = np.full(axis.shape[0], np.nan)
    idx = np.searchsorted(axis, steps)
    inside = idx < axis.shape[0]
    hit = np.zeros(steps.shape[0], dtype=bool)
    hit[inside] = axis[idx[inside]] == steps[inside]
    out[idx[hit]] = values[hit]
    return out


def decompose(log: RunLog, components: ComponentSet) -> Decomposition:
    """Return the Decomposition of `log`'s objective into `components` on the union of their steps."""
    present = [c for c in components.components if c.metric in log.series]
    if not present:
        empty = np.zeros(0, dtype=np.int64)
        return Decomposition(empty, (), {}, {}, np.zeros(0), np.zeros(0), np.zeros(0), components.total)
    axis = union_steps([log.series[c.metric].steps for c in present]).astype(np.int64, copy=False)
    raw: dict[str, np.ndarray] = {}
    weighted: dict[str, np.ndarray] = {}
    total = np.zeros(axis.shape[0])
    for c in present:
        s = log.series[c.metric]
        v = _align(axis, s.steps, s.values)
        w = c.effective_weight
        if w == 1.0:  # one array serves both (no copy of a million floats)
            raw[c.name] = weighted[c.name] = v
        elif c.logged == "weighted":
            weighted[c.name] = v
            # A zero gain leaves nothing to recover the raw value from.
            raw[c.name] = v / w if w != 0 else np.full_like(v, np.nan)
        else:
            raw[c.name] = v
            weighted[c.name] = v * w
        total += weighted[c.name]
    if components.total and components.total in log.series:
        t = log.series[components.total]
        logged_total = _align(axis, t.steps, t.values)
    else:
        logged_total = np.full(axis.shape[0], np.nan)
    return Decomposition(axis, tuple(present), raw, weighted, total, logged_total,
                         logged_total - total, components.total)


def reweight(decomposition: Decomposition, new_weights: dict[str, float]) -> Decomposition:
    """Return the what-if Decomposition: same raw series, `new_weights` (by component name), new Σ.

    The residual (terms of the logged total that are not components) is carried over unchanged, so
    `logged_total` becomes the what-if objective `total + residual`.
    """
    comps = tuple(replace(c, weight=float(new_weights[c.name]), weight_source="what-if")
                  if c.name in new_weights else c for c in decomposition.components)
    weighted = {c.name: decomposition.raw[c.name] * c.effective_weight for c in comps}
    total = np.zeros(decomposition.steps.shape[0])
    for v in weighted.values():
        total += v
    return Decomposition(decomposition.steps, comps, decomposition.raw, weighted, total,
                         total + decomposition.residual, decomposition.residual, decomposition.total_metric)
