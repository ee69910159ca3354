"""Which series are terms of the objective, their weights, and whether each is logged raw or weighted, with
evidence.

`discover_components(log)` reads the metric names (`loss_names`), then settles every term's weight and
semantics from the strongest evidence there is, and says which:

weight   override (the user) > config (a companion or the log's own config) > twins (a `_unscaled` series
         and its scaled twin: their constant ratio) > fit to total (the logged total is an exact,
         unique non-negative combination of the terms) > default (the framework's shipped gains,
         `conventions.py`) > unknown (counted as 1.0).
logged   override > twins (the `_unscaled` series is raw) > total (the logged total adds up to the terms
         as logged, or to gain × term) > format (the framework's definition) > assumed (raw).

Evidence that disagrees is never settled silently: a user's weight or semantics that contradicts the
log, or a format definition the total contradicts, is a note (shown with the reader's warnings) naming
both. When no series says "loss", numeric series that add up to the logged total are the terms.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from inspector import loss_names as names_of
from inspector.conventions import Convention, Logged, convention
from inspector.loss_evidence import TotalCheck, check_total, fit_weights, twin_ratio
from inspector.losses import Component, ComponentSet, LoggedSource, WeightSource, align
from inspector.runlog.record import RunLog

# Two weights within 1% are the same weight (config files print 3-4 significant digits).
SAME_WEIGHT = 0.01
# At most this many unnamed series are tried as terms of a total (NNLS over more is slow and rarely unique).
MAX_CANDIDATES = 16


@dataclass
class _Term:
    """A term while its evidence is gathered (one per component, mutable until it becomes a Component)."""

    metric: str
    name: str
    family: str | None
    group: str | None
    twin: str | None = None
    weight: float | None = None
    weight_source: WeightSource = "unknown"
    weight_why: str = ""
    logged: Logged = "raw"
    logged_source: LoggedSource = "assumed"
    logged_why: str = ""

    def component(self) -> Component:
        why = "; ".join(p for p in (self.weight_why, self.logged_why) if p)
        return Component(
            self.name,
            self.metric,
            self.weight,
            self.logged,
            self.family,
            self.weight_source,
            self.logged_source,
            why,
            self.group,
            self.twin,
        )


def _keys(t: _Term) -> list[str]:
    """Names a weight may be given under: the component, its series, its twin, its base, its family."""
    return [
        k
        for k in (
            t.name,
            t.metric,
            t.twin,
            names_of.base_name(t.metric),
            names_of.strip_split(t.metric),
            t.family,
        )
        if k
    ]


def _lookup(table: dict, t: _Term) -> tuple[str, Any] | None:
    return next(((k, table[k]) for k in _keys(t) if k in table), None)


def _fmt(w: float) -> str:
    return f"{w:.4g}"


def _terms(log: RunLog, metrics: list[str]) -> list[_Term]:
    """The loss terms among `metrics`; a scaled series with an `_unscaled` twin becomes the twin's term."""
    twin_of = {
        partner: m
        for m in metrics
        if (partner := names_of.unscaled_partner(m)) is not None
        and partner in log.series
        and names_of.term_name(partner)
    }
    terms = []
    for metric in metrics:
        if metric in twin_of:
            continue  # the unscaled twin carries the term
        partner = names_of.unscaled_partner(metric)
        if partner is not None and twin_of.get(partner) != metric:
            continue  # `x_unscaled` without an `x` (DETR's cardinality error): logged, not optimised
        tn = names_of.term_name(metric)
        if tn is None:
            continue
        terms.append(_Term(metric, tn.name, tn.family, tn.group, twin=partner))
    # Two series may canonicalise to one name (`loss_bbox` and `loss/bbox`): keep them apart.
    seen: dict[str, int] = {}
    for t in terms:
        n = seen.get(t.name, 0)
        seen[t.name] = n + 1
        if n:
            t.name = f"{t.name}_{n}"
    return terms


def _config_weight(log: RunLog, t: _Term) -> tuple[float, WeightSource, str] | None:
    """The weight the log's config states for `t`: (weight, "config" or "default", why)."""
    found = _lookup(log.config.get("loss_weights") or {}, t)
    if found is None:
        return None
    key, value = found
    label = (
        (log.config.get("weight_sources") or {}).get(key)
        or log.config.get("weights_file")
        or "the log's config"
    )
    label = str(label)
    if label.startswith("default"):
        return float(value), "default", f"weight {_fmt(float(value))}: {label}"
    return float(value), "config", f"weight {_fmt(float(value))} from {label} ({key})"


def _default_weight(conv: Convention, framework: str, t: _Term) -> tuple[float, str] | None:
    found = _lookup(conv.default_weights, t)
    if found is not None:
        return float(found[1]), f"weight {_fmt(float(found[1]))}: {framework}'s default ({conv.source})"
    if conv.unit_weights:
        return 1.0, f"weight 1: {framework}'s default ({conv.source})"
    return None


def _aligned(log: RunLog, axis: np.ndarray, metric: str) -> np.ndarray:
    s = log.series[metric]
    return align(axis, s.steps, s.values)


def _settle_weights(
    log: RunLog, terms: list[_Term], conv: Convention, override: dict[str, float], notes: list[str]
) -> None:
    """Each term's weight from override > config > twins > default (a fit to the total comes later)."""
    for t in terms:
        evidence: list[tuple[float, WeightSource, str]] = []
        config = _config_weight(log, t)
        if config is not None:
            evidence.append(config)
        if t.twin is not None:
            u = log.series[t.metric]
            ratio = twin_ratio(t.twin, _aligned(log, u.steps, t.twin), t.metric, u.values)
            if ratio is not None:
                how = (
                    ("exactly constant" if ratio.spread < 1e-9 else f"constant within {ratio.spread:.1e}")
                    if ratio.constant
                    else f"NOT constant: varies by {ratio.spread:.1%}, the median is used"
                )
                evidence.append(
                    (
                        ratio.weight,
                        "twins",
                        f"weight {_fmt(ratio.weight)} = {t.twin} / {t.metric} over "
                        f"{ratio.points} points ({how})",
                    )
                )
                if not ratio.constant:
                    notes.append(
                        f"{t.name}: {t.twin} / {t.metric} varies by {ratio.spread:.1%} over the run "
                        f"(a changing gain, or the two are averaged differently); weight "
                        f"{_fmt(ratio.weight)} (the median ratio) is used."
                    )
        default = _default_weight(conv, log.framework, t)
        if default is not None:
            evidence.append((default[0], "default", default[1]))
        given = _lookup(override, t)
        if given is not None:
            w = float(given[1])
            t.weight, t.weight_source, t.weight_why = w, "override", f"weight {_fmt(w)} given by you"
            strongest = evidence[0] if evidence else None
            if strongest is not None and abs(strongest[0] - w) > SAME_WEIGHT * max(abs(w), abs(strongest[0])):
                notes.append(
                    f"{t.name}: you gave weight {_fmt(w)}, but the log says {_fmt(strongest[0])} "
                    f"({strongest[2]}); {_fmt(w)} is used as you asked."
                )
        elif evidence:
            t.weight, t.weight_source, t.weight_why = evidence[0]


def _settle_logged(log: RunLog, terms: list[_Term], conv: Convention, override: dict[str, str]) -> None:
    """Each term's semantics from override > twins > format > assumed (the total may revise it later)."""
    for t in terms:
        given = _lookup(override, t)
        if given is not None:
            t.logged, t.logged_source, t.logged_why = given[1], "override", f"logged {given[1]}: given by you"
        elif t.twin is not None:
            t.logged, t.logged_source = "raw", "twins"
            t.logged_why = f"{t.metric} is the unscaled term ({t.twin} is it × its weight)"
        elif conv.logged is not None:
            t.logged, t.logged_source = conv.logged, "format"
            t.logged_why = f"logged {conv.logged}: {log.framework}'s definition ({conv.source})"
        else:
            t.logged, t.logged_source = "raw", "assumed"
            t.logged_why = (
                "logged raw assumed: nothing in the log says"
                if t.weight not in (None, 1.0)
                else "raw and weighted are the same numbers while the weight is 1"
            )


def _check(log: RunLog, total: str, terms: list[_Term]) -> TotalCheck:
    """The logged total against the terms as logged (a twin counts with its scaled series) and their known
    gains."""
    axis = log.series[total].steps
    as_logged = {t.name: _aligned(log, axis, t.twin or t.metric) for t in terms}
    gains = {t.name: 1.0 if t.twin or t.weight is None else t.weight for t in terms}
    return check_total(log.series[total].values, as_logged, gains)


def _apply_total(check: TotalCheck, total: str, terms: list[_Term], framework: str, notes: list[str]) -> None:
    """Revise each term's semantics (and, for a unique exact fit, its weight) by what the logged total
    says."""
    said = check.short(total)
    # With every known gain 1, "adds up as logged" cannot tell raw from weighted; it still says something.
    tells = check.as_raw is not None
    for t in terms:
        if t.logged_source in ("override", "twins"):
            if (
                t.logged_source == "override"
                and check.exact
                and check.verdict in ("weighted", "raw")
                and tells
                and t.logged != check.verdict
            ):
                notes.append(f"{t.name}: you said it is logged {t.logged}, but {said}; your reading is used.")
            continue
        if check.verdict == "weighted":
            if t.logged == "raw" and t.logged_source == "format" and t.weight is None:
                # Raw by definition and adding up as logged: every gain is 1.
                t.weight, t.weight_source = 1.0, "fit to total"
                t.weight_why = f"weight 1: the raw terms add up to {total}"
                t.logged_why = f"{t.logged_why}; {said}"
                continue
            if t.logged == "raw" and t.logged_source == "format" and not tells:
                t.logged_why = f"{t.logged_why}; {said}"
                continue
            _revise(t, "weighted", said, framework, notes)
        elif check.verdict == "raw":
            _revise(t, "raw", said, framework, notes)
        elif check.verdict == "fit" and check.fitted is not None:
            a = check.fitted.fit.coefficients.get(t.name)
            if a is None:
                continue
            if t.weight_source in ("override", "config") and t.weight is not None:
                if abs(t.weight - a) > SAME_WEIGHT * max(abs(a), abs(t.weight)):
                    notes.append(f"{t.name}: weight {_fmt(t.weight)} ({t.weight_why}) disagrees with {said}.")
            else:
                t.weight, t.weight_source = round(a, 4), "fit to total"
                t.weight_why = f"weight {_fmt(a)}: fit to {total}"
            _revise(t, "raw", said, framework, notes)
    if check.verdict == "inconclusive":
        notes.append(f"{check.describe(total)}: the weights and semantics above are not confirmed by it.")


def _revise(t: _Term, logged: Logged, said: str, framework: str, notes: list[str]) -> None:
    """Set `t` logged as the total says, noting where that contradicts the format's definition."""
    if t.logged_source == "format" and t.logged != logged:
        notes.append(
            f"{t.name}: {framework}'s definition says it is logged {t.logged}, but {said}; "
            f"logged {logged} is used."
        )
    t.logged, t.logged_source, t.logged_why = logged, "total", f"logged {logged}: {said}"


def _unnamed_terms(log: RunLog, total: str, taken: set[str]) -> tuple[list[_Term], TotalCheck | None]:
    """Numeric series that add up to `total` when no series is named as a loss: the terms, and the
    evidence."""
    candidates = [
        m
        for m in log.series
        if m not in taken
        and m != total
        and not names_of.is_val(m)
        and not names_of.is_total(m)
        and not names_of.is_lr(m)
        and not names_of.is_eval_metric(m)
        and not names_of.is_positives(m)
        and not names_of.is_bookkeeping(m)
    ][:MAX_CANDIDATES]
    if not candidates:
        return [], None
    axis = log.series[total].steps
    values = {m: _aligned(log, axis, m) for m in candidates}
    fitted = fit_weights(log.series[total].values, values)
    if fitted is None or not (fitted.fit.exact and fitted.unique):
        return [], None
    used = {m: a for m, a in fitted.fit.coefficients.items() if a > 1e-9}
    if not used:
        return [], None
    unit = all(abs(a - 1.0) <= SAME_WEIGHT for a in used.values())
    check = TotalCheck("weighted" if unit else "fit", True, fitted.fit, None, fitted)
    said = check.short(total)
    terms = []
    for m, a in used.items():
        t = _Term(m, names_of.strip_split(m).replace("/", "_") or m, None, None)
        if unit:
            t.logged, t.logged_source, t.logged_why = "weighted", "total", f"a term of {total}: {said}"
        else:
            t.weight, t.weight_source, t.weight_why = (
                round(a, 4),
                "fit to total",
                f"weight {_fmt(a)}: fit to {total}",
            )
            t.logged, t.logged_source, t.logged_why = "raw", "total", f"a term of {total}: {said}"
        terms.append(t)
    return terms, check


def _follow_training_terms(
    val: list[_Term], train: dict[str, _Term], what: Literal["weight", "logged"], weak: tuple[str, ...]
) -> None:
    """A validation term whose weight (or raw/weighted reading) rests on weak evidence (`weak` sources) takes
    its training twin's, and says so."""
    for t in val:
        twin = train.get(t.name)
        if twin is not None and getattr(t, f"{what}_source") in weak:
            setattr(t, what, getattr(twin, what))
            setattr(t, f"{what}_source", getattr(twin, f"{what}_source"))
            setattr(t, f"{what}_why", f"as the training term: {getattr(twin, f'{what}_why')}")


def discover_components(
    log: RunLog,
    weights_override: dict[str, float] | None = None,
    logged_override: dict[str, str] | None = None,
) -> ComponentSet:
    """The ComponentSet of `log`: loss terms, each with its weight, semantics and the evidence for both.

    `weights_override` / `logged_override` ({component, series or family name: weight / "raw"|"weighted"})
    are the user's corrections; they win, and a note names any evidence they contradict.
    """
    conv = convention(log.framework)
    metrics = list(log.series)
    totals = sorted(
        (m for m in metrics if names_of.is_total(m) and not names_of.is_val(m)), key=names_of.total_rank
    )
    total = totals[0] if totals else None
    val_totals = [m for m in metrics if names_of.is_total(m) and names_of.is_val(m)]
    rest = [m for m in metrics if m not in totals and m not in val_totals]
    found = _terms(log, rest)
    train = [t for t in found if not names_of.is_val(t.metric)]
    val = [t for t in found if names_of.is_val(t.metric)]
    notes: list[str] = []
    override = dict(weights_override or {})
    logged_given = {k: v for k, v in (logged_override or {}).items() if v in ("raw", "weighted")}
    _settle_weights(log, train, conv, override, notes)
    _settle_logged(log, train, conv, logged_given)
    evidence = None
    check: TotalCheck | None
    if total is not None and train:
        check = _check(log, total, train)
        _apply_total(check, total, train, log.framework, notes)
        evidence = check.describe(total)
    elif total is not None:
        train, check = _unnamed_terms(log, total, set(totals) | set(val_totals))
        if check is not None:
            evidence = check.describe(total)
            notes.append(
                f"no series is named as a loss; {', '.join(t.metric for t in train)} are read as the terms "
                f"of {total} because {evidence}."
            )
    by_name = {t.name: t for t in train}
    _settle_weights(log, val, conv, override, [])
    _follow_training_terms(val, by_name, "weight", weak=("unknown", "default"))
    _settle_logged(log, val, conv, logged_given)
    _follow_training_terms(val, by_name, "logged", weak=("format", "assumed"))
    unknown = [
        t.name
        for t in train
        if t.weight is None and not (t.logged == "weighted" and t.logged_source == "total")
    ]
    if unknown:
        notes.append(f"weights unknown for {', '.join(unknown)}: treated as 1.0 (pass weights to correct).")
    components = tuple(t.component() for t in train)
    families: dict[str, list[str]] = {}
    groups: dict[str, list[str]] = {}
    for c in components:
        families.setdefault(c.family or c.name, []).append(c.name)
    if any(c.group for c in components):
        for c in components:
            groups.setdefault(c.group or "final", []).append(c.name)
    lr_candidates = sorted(
        (m for m in metrics if names_of.is_lr(m)),
        key=lambda m: (m.lower() not in ("lr", "train/lr", "learning_rate", "train_lr"), m),
    )
    return ComponentSet(
        components=components,
        total=total,
        val_components=tuple(t.component() for t in val),
        val_total=val_totals[0] if val_totals else None,
        families={k: tuple(v) for k, v in families.items() if len(v) > 1},
        lr=lr_candidates[0] if lr_candidates else None,
        eval_metrics=tuple(m for m in metrics if names_of.is_eval_metric(m)),
        positives=next((m for m in metrics if names_of.is_positives(m)), None),
        notes=tuple(notes),
        groups={k: tuple(v) for k, v in groups.items()},
        total_evidence=evidence,
    )
