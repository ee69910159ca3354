"""Cached compositions for the loss pages: a RunLog + settings in, Curves, figures and tables out.

The loss chart itself (curves over the whole run or a zoom window) lives in inspector.ui.curve_views; the
names the pages use from it are re-exported here. Each function takes the run's content key next to the
(underscored, unhashed) data, so Streamlit keys its cache on a short string instead of re-hashing a
million-step log on every rerun.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from inspector import balance, charts, stats, zoom
from inspector.balance import BalanceReport, LogLevels, SuggestedWeights
from inspector.chart_style import keep_view
from inspector.charts import Curve
from inspector.diagnose import Diagnosis, diagnose
from inspector.findings import recent_rows
from inspector.losses import Decomposition, reweight
from inspector.report import heading, to_json_dict, to_markdown
from inspector.runlog import RunLog
from inspector.serialize import dumps
from inspector.ui import chart_views, corrections, curve_views, tables, zoom_views
from inspector.ui.corrections import Corrections
from inspector.ui.curve_views import component_curves
from inspector.ui.curve_views import shown_decomposition as shown_decomposition
from inspector.ui.curve_views import step_label as step_label
from inspector.ui.run_keys import state_key
from inspector.ui.widgets import CurveSettings

_NO_CORRECTIONS = Corrections()  # the default of run_diagnosis: no corrections made


@st.cache_resource(max_entries=16, show_spinner="Diagnosing the run…")
def run_diagnosis(_log: RunLog, key: str, corrections: Corrections = _NO_CORRECTIONS) -> Diagnosis:
    """Return diagnose(log) with the user's corrections, computed once per run content (shared, never
    mutated)."""
    return diagnose(
        _log,
        weights_override=dict(corrections.weights) or None,
        logged_override=dict(corrections.logged) or None,
    )


def corrected_diagnosis(log: RunLog, key: str) -> Diagnosis:
    """The run's diagnosis with the corrections the user applied to it (inspector.ui.corrections), if any."""
    made = corrections.current(key)
    return run_diagnosis(log, key, made) if made else run_diagnosis(log, key)


# How the summary table writes its numbers (tables.show); the shares are percentages.
SUMMARY_KINDS: dict[str, tables.Kind] = {
    "weight": "weight",
    "share of mean (%)": "percent",
    "share of recent variance (%)": "percent",
}


def summary_rows(diag: Diagnosis) -> pd.DataFrame:
    """One row per component: metric, weight, where the weight came from, logged semantics, shares (NaN
    where a component has no statistics)."""
    rows = []
    for c in diag.components.components:
        s = diag.stats.get(c.name)
        rows.append(
            {
                "component": c.name,
                "metric": c.metric,
                "weight": c.effective_weight,
                "weight source": c.weight_source,
                "logged": c.logged,
                "logged from": c.logged_source,
                "group": c.group or "",
                "share of mean (%)": np.nan if s is None else 100 * s.mean_share,
                "share of recent variance (%)": np.nan if s is None else 100 * s.variance_share,
            }
        )
    return pd.DataFrame(rows)


def render_loss_chart(
    diag: Diagnosis,
    log: RunLog,
    key: str,
    s: CurveSettings,
    per_family: bool,
    other: RunLog | None = None,
    other_key: str = "",
    other_label: str = "",
) -> None:
    """The loss chart with its zoom: the step window's inputs above, the chart (drag a box over it to zoom),
    what it draws below; `other` is a run to compare, drawn dashed."""
    against = None
    steps = [diag.decomposition.steps]
    if other is not None:
        odiag = corrected_diagnosis(other, other_key)
        against = curve_views.Overlay(odiag, other_key, other_label)
        steps.append(odiag.decomposition.steps)
    full = zoom.full_window(*steps)
    if full is None:
        return
    chart_views.keep_views()
    unit = step_label(log)
    window = zoom_views.zoom_window(key, full, unit)
    chart = curve_views.loss_chart(diag, log, key, s, per_family, window, against)
    zoom_views.zoom_chart(chart.figure, key, full, zoom.drawn_caption(window, chart.drawn, unit))


@st.cache_data(max_entries=16, show_spinner=False)
def contributions_figure(_dec: Decomposition, key: str, points: int, step: str) -> go.Figure:
    """Return the stacked weighted contributions (share of the total), drawn at ~`points` steps."""
    idx = stats.downsample(_dec.steps, _dec.total, points) if _dec.steps.size else np.zeros(0, dtype=np.int64)
    weighted = {name: v[idx] for name, v in _dec.weighted.items()}
    return keep_view(charts.stacked_contributions_figure(_dec.steps[idx], weighted, step_label=step), key)


@st.cache_data(max_entries=16, show_spinner=False)
def shares_figure(_dec: Decomposition, key: str) -> go.Figure:
    """Return share of mean vs share of recent step-to-step variance per term (residual included when
    logged)."""
    recent = _dec.select(recent_rows(_dec.steps))
    return keep_view(charts.share_bars_figure(stats.mean_shares(_dec), stats.variance_shares(recent)), key)


@dataclass(frozen=True)
class Objective:
    """What a set of weights makes of the objective: its mean, its noise and who carries it."""

    mean_total: float
    rel_volatility: float  # std of step-to-step change / |mean|
    mean_shares: dict[str, float]
    variance_shares: dict[str, float]


def objective(dec: Decomposition) -> Objective:
    """Return the Objective of a decomposition's Σ weighted components (the residual left out)."""
    only = Decomposition(
        dec.steps,
        dec.components,
        dec.raw,
        dec.weighted,
        dec.total,
        np.full(dec.steps.shape[0], np.nan),
        np.full(dec.steps.shape[0], np.nan),
    )
    vol = stats.volatility(dec.total)
    recent = only.select(recent_rows(dec.steps))
    return Objective(
        float(np.nanmean(dec.total)) if np.isfinite(dec.total).any() else float("nan"),
        vol.rel_diff_std,
        stats.mean_shares(only),
        stats.variance_shares(recent),
    )


@st.cache_data(max_entries=64, show_spinner=False)
def whatif(
    _dec: Decomposition, key: str, weights: tuple[tuple[str, float], ...], points: int
) -> tuple[Objective, Objective, list[Curve]]:
    """Return (current objective, what-if objective, [current total, what-if total] curves)."""
    new = reweight(_dec, dict(weights))
    idx = stats.downsample(_dec.steps, _dec.total, points) if _dec.steps.size else np.zeros(0, dtype=np.int64)
    curves = [
        Curve("total (current weights)", _dec.steps[idx], _dec.total[idx], color=charts.color(0)),
        Curve("total (what-if)", _dec.steps[idx], new.total[idx], color=charts.color(3), dash="dash"),
    ]
    return objective(_dec), objective(new), curves


def render_whatif(dec: Decomposition, key: str, weights: dict[str, float], points: int, step: str) -> None:
    """The what-if section: the objective's mean and noise, each term's share of the mean (with its change
    against the current weights), the shares' bars and both totals over steps."""
    old, new, totals = whatif(dec, key, tuple(weights.items()), points)
    cols = st.columns(2 + len(dec.components))
    cols[0].metric(
        "what-if total (mean)",
        f"{new.mean_total:.4g}",
        f"{new.mean_total - old.mean_total:+.4g}",
        delta_color="off",
    )
    cols[1].metric(
        "total volatility (Δ/level)",
        f"{new.rel_volatility:.3f}",
        f"{new.rel_volatility - old.rel_volatility:+.3f}",
        delta_color="inverse",
    )
    for col, c in zip(cols[2:], dec.components, strict=True):
        now, was = new.mean_shares.get(c.name, float("nan")), old.mean_shares.get(c.name, float("nan"))
        col.metric(
            f"{c.name} share of mean", f"{100 * now:.1f}%", f"{100 * (now - was):+.1f} pp", delta_color="off"
        )
    left, right = st.columns(2)
    left.plotly_chart(
        keep_view(charts.share_bars_figure(new.mean_shares, new.variance_shares), key),
        width="stretch",
        key="whatif_shares",
    )
    right.plotly_chart(
        keep_view(charts.curves_figure(totals, "Objective: current vs what-if", step_label=step), key),
        width="stretch",
        key="whatif_totals",
    )


# ---------------------------------------------------------------------------------------------- presets

PresetMethod = Literal["current", "uncertainty", "dwa", "equal_grad_share"]
PRESET_LABELS: dict[PresetMethod, str] = {
    "current": "current weights",
    "uncertainty": "uncertainty (Kendall et al. 2018)",
    "dwa": "DWA (Liu et al. 2019)",
    "equal_grad_share": "equal gradient share (measured on the Loss balance page)",
}
# Set by the Loss balance page's "try these weights": (the run's balance_state_key, the preset to choose).
PRESET_REQUEST = "whatif_preset_request"


@dataclass(frozen=True)
class MeasuredBalance:
    """The BalanceReport the Loss balance page measured on a checkpoint of a run, left in the session for
    that run's Loss curves page; `log_key` is the run log's balance_state_key."""

    checkpoint: str  # as the Loss balance page labels it
    report: BalanceReport
    log_key: str


def balance_state_key(log_path: str | Path) -> str | None:
    """The session-state key of the measured balance of the run whose log is `log_path` (its resolved path,
    size and modification time, so a rewritten log is another run); None when it is not a file."""
    path = Path(log_path)
    try:
        if not path.is_file():
            return None
        stat = path.stat()
        return f"balance:{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}"
    except OSError:
        return None


def measured_balance(paths: Sequence[str]) -> MeasuredBalance | None:
    """The balance the Loss balance page measured on a checkpoint of this run (a single log file) in this
    session, or None."""
    key = balance_state_key(paths[0]) if len(paths) == 1 else None
    found = st.session_state.get(key) if key else None
    return found if isinstance(found, MeasuredBalance) else None


@dataclass(frozen=True)
class Preset:
    """Weights to start the what-if from, {component: weight} (None: this run cannot support the method),
    and what they were computed from, or why there are none."""

    method: PresetMethod
    weights: dict[str, float] | None
    basis: str
    notes: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        return PRESET_LABELS[self.method]

    @property
    def key(self) -> str:
        """A part of the weight inputs' widget keys: the method and a digest of its weights ("" for the
        current weights, whose inputs keep their own keys)."""
        if self.weights is None or self.method == "current":
            return ""
        digest = hashlib.blake2b(repr(sorted(self.weights.items())).encode(), digest_size=4).hexdigest()
        return f"{self.method}_{digest}"


def _unavailable_because(s: SuggestedWeights, levels: LogLevels) -> str:
    """Why the log gave no weights for suggestion `s`."""
    if s.method == "dwa" and (levels.previous_steps is None or levels.last_steps is None):
        return (
            "the log is too short: DWA compares the raw losses over two windows, each a tenth of the run's "
            "steps, and one of them holds no step"
        )
    notes = [n.removeprefix(f"{s.method}: ") for n in (*levels.notes, *s.notes)]
    return "; ".join(notes) or s.basis


@st.cache_data(max_entries=16, show_spinner=False)
def log_presets(_dec: Decomposition, key: str, signature: tuple) -> tuple[Preset, Preset]:
    """The uncertainty and DWA presets from the run's own raw series over the whole log (no checkpoint:
    balance.decomposition_levels, balance.log_suggestions), by component; `signature` (each component's
    name, weight and reading) keys the cache beside the run, since corrections change them."""
    names = [c.name for c in _dec.components]
    weights = np.array([c.effective_weight for c in _dec.components])
    levels = balance.decomposition_levels(_dec, names, key)
    uncertainty, dwa = balance.log_suggestions(names, weights, levels)

    def preset(s: SuggestedWeights) -> Preset:
        if s.weights is None:
            return Preset(s.method, None, _unavailable_because(s, levels))
        return Preset(s.method, s.weights, s.basis, s.notes)

    return preset(uncertainty), preset(dwa)


def term_components(report: BalanceReport, dec: Decomposition) -> dict[str, str]:
    """{checkpoint term: the run's component} for the measured terms the log has (balance.match_component)."""
    found = {t.name: balance.match_component(dec.components, t.name) for t in report.terms}
    return {t: c.name for t, c in found.items() if c is not None}


def measured_preset(measured: MeasuredBalance | None, dec: Decomposition) -> Preset:
    """The equal-gradient-share preset of the balance measured on this run's checkpoint, by component."""
    if measured is None:
        return Preset(
            "equal_grad_share",
            None,
            "measure a checkpoint of this run on the Loss balance page first (the run's log.jsonl beside the "
            "checkpoint ties the two)",
        )
    s = measured.report.suggestion("equal_grad_share")
    if s is None or s.weights is None:
        why = "".join(f"; {n}" for n in (s.notes if s is not None else ()))
        return Preset("equal_grad_share", None, f"{measured.checkpoint}: no weights measured{why}")
    terms = term_components(measured.report, dec)
    if not terms:
        return Preset(
            "equal_grad_share",
            None,
            f"none of {measured.checkpoint}'s terms ({', '.join(s.weights)}) is a loss term of this log",
        )
    return Preset(
        "equal_grad_share",
        {terms[t]: w for t, w in s.weights.items() if t in terms},
        f"{measured.checkpoint}'s mean gradient norms on the shared layers, "
        f"{measured.report.episodes} episodes",
        s.notes,
    )


def whatif_presets(dec: Decomposition, key: str, measured: MeasuredBalance | None) -> tuple[Preset, ...]:
    """Current weights, uncertainty, DWA (from the log) and equal gradient share (from a measurement)."""
    signature = tuple((c.name, c.effective_weight, c.logged) for c in dec.components)
    current = Preset("current", dec.weights, "the run's weights")
    return (current, *log_presets(dec, key, signature), measured_preset(measured, dec))


def _choose(state: str, method: PresetMethod) -> None:
    st.session_state[state] = method


def pick_preset(presets: Sequence[Preset], run_key: str, measured: MeasuredBalance | None) -> Preset:
    """A button per preset (one this run cannot support is disabled, its reason below); returns the chosen
    preset: the current weights until another is chosen, or the one the Loss balance page asked for."""
    state = f"whatif_preset_{state_key(run_key)}"
    request = st.session_state.get(PRESET_REQUEST)
    if measured is not None and isinstance(request, tuple) and request[0] == measured.log_key:
        st.session_state[state] = request[1]
        del st.session_state[PRESET_REQUEST]
    usable = {p.method: p for p in presets if p.weights is not None}
    chosen = usable.get(st.session_state.get(state, "current"), presets[0])
    st.markdown("**Start from**")
    # Columns as wide as their labels: a button truncates its label to its column.
    for col, p in zip(st.columns([len(p.label) + 8 for p in presets]), presets, strict=True):
        col.button(
            p.label,
            key=f"preset_{p.method}",
            type="primary" if p is chosen else "secondary",
            disabled=p.weights is None,
            help=p.basis,
            on_click=_choose,
            args=(state, p.method),
            width="stretch",
        )
    st.caption(f"{chosen.label}: {chosen.basis}" + "".join(f"; {n}" for n in chosen.notes))
    for p in presets:
        if p.weights is None:
            st.caption(f"{p.label}: not available — {p.basis}")
    return chosen


def render_gradient_shares(measured: MeasuredBalance, dec: Decomposition, weights: dict[str, float]) -> None:
    """Each measured term's share of the shared-layer gradient under the what-if weights
    (BalanceReport.what_if: ‖∇(w·L)‖ scales with w, no new measurement) against its measured share."""
    report = measured.report
    terms = term_components(report, dec)
    if not terms:
        return
    predicted = report.what_if({t: weights[c] for t, c in terms.items() if c in weights})
    now = report.what_if({})
    st.markdown(
        f"**Share of the shared-layer gradient** under these weights, predicted from the measurement of "
        f"{measured.checkpoint} over {report.episodes} episodes (Loss balance page); the change is against "
        "its measured shares"
    )
    cols = st.columns(len(report.terms))
    for col, t in zip(cols, report.terms, strict=True):
        p, m = predicted.get(t.name, float("nan")), now.get(t.name, float("nan"))
        col.metric(
            f"{t.name} share of gradient",
            "n/a" if not np.isfinite(p) else f"{100 * p:.0f}%",
            None if not np.isfinite(p - m) else f"{100 * (p - m):+.0f} pp",
            delta_color="off",
        )


def small_multiples(diag: Diagnosis, log: RunLog, key: str) -> go.Figure:
    """The Overview's grid: each weighted component with its EMA (0.6), no band, spikes or lr, on one
    linked step axis; installs the view keeper, so a zoom or pan of it survives reruns."""
    chart_views.keep_views()
    curves = component_curves(diag, key, "weighted", CurveSettings(band="none", spikes=False, lr=False))
    return keep_view(charts.small_multiples_figure(curves, step_label=step_label(log)), key)


def metrics_figure(log: RunLog, key: str, names: tuple[str, ...]) -> go.Figure | None:
    """The chosen eval metrics over steps, or None when none of them has a score."""
    curves = metric_curves(log, key, names)
    return keep_view(charts.metrics_figure(curves, step_label=step_label(log)), key) if curves else None


@st.cache_data(max_entries=16, show_spinner=False)
def metric_curves(_log: RunLog, key: str, names: tuple[str, ...]) -> list[Curve]:
    """Return eval metrics by step; −1 (MMDetection) and NaN (Detectron2) mean "no objects", not a score."""
    curves = []
    for i, name in enumerate(names):
        s = _log.get(name)
        if s is None:
            continue
        ok = np.isfinite(s.values) & (s.values >= 0)
        if ok.any():
            curves.append(Curve(name, s.steps[ok], s.values[ok], color=charts.color(i)))
    return curves


def findings_markdown(diag: Diagnosis, source: str, fmt: str, framework: str | None = None) -> str:
    """The findings as Markdown, headed by the run they are about (its label, format and framework)."""
    return to_markdown(diag, title=heading(source, fmt, framework))


def findings_json(diag: Diagnosis, source: str, fmt: str) -> str:
    """The findings as the CLI's JSON contract, its "source" the run's label."""
    return dumps(to_json_dict(diag, source, fmt), indent=2)


# The CSV's numbers to 6 significant digits (issue 21): logs hold float32 values (~7 digits), so the 17 of a
# float64's repr add only noise and bytes.
CSV_FLOAT_FORMAT = "%.6g"


def decomposition_csv(dec: Decomposition) -> str:
    """Return the decomposed series as CSV (one row per step, numbers to 6 significant digits); called only
    when the user downloads."""
    return dec.to_frame().to_csv(index=False, float_format=CSV_FLOAT_FORMAT)
