"""Cached compositions for the loss pages: a RunLog + settings in, Curves, figures and tables out.

Each function takes the run's content key next to the (underscored, unhashed) data, so Streamlit
keys its cache on a short string instead of re-hashing a million-step log on every rerun.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from inspector import charts, stats
from inspector.charts import Curve
from inspector.diagnose import Diagnosis, diagnose
from inspector.findings import recent_rows
from inspector.losses import Decomposition, by_family, reweight
from inspector.report import to_json_dict, to_markdown
from inspector.runlog import RunLog
from inspector.serialize import dumps
from inspector.ui import corrections
from inspector.ui.corrections import Corrections
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


def step_label(log: RunLog) -> str:
    return "epoch" if log.step_unit == "epoch" else "step"


def segments(log: RunLog) -> list[tuple[int, int]]:
    """Return (first, last) step of each restart segment, for shading."""
    return [(s.first_step, s.last_step) for s in log.segments]


def summary_rows(diag: Diagnosis) -> list[dict]:
    """Return one table row per component: metric, weight, where the weight came from, logged semantics."""
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
                "share of mean (%)": None if s is None else round(100 * s.mean_share, 1),
                "share of recent variance (%)": None if s is None else round(100 * s.variance_share, 1),
            }
        )
    return rows


def _curve(
    name: str,
    steps: np.ndarray,
    values: np.ndarray,
    spike_mask: np.ndarray,
    s: CurveSettings,
    color: str,
    dash: str | None,
) -> Curve:
    """Return one downsampled Curve with band and EMA computed on the full series, spikes kept."""
    spike_idx = np.flatnonzero(spike_mask)
    idx = stats.downsample(steps, values, s.points, keep=spike_idx)
    lower = upper = None
    label = "band"
    if s.band == "std" and values.size > 1:
        band = stats.rolling_band(steps, values, s.window, s.k, at=idx)
        lower, upper, label = band.lower, band.upper, f"±{s.k:g}σ"
    elif s.band == "quantiles" and values.size > 1:
        band = stats.quantile_band(steps, values, s.window, s.quantiles)
        lower, upper, label = band.lower[idx], band.upper[idx], f"q{s.quantiles[0]:g}–{s.quantiles[1]:g}"
    smoothed = stats.ema_tensorboard(values, s.ema)[idx] if s.ema > 0 else None
    shown_spikes = spike_idx if s.spikes else spike_idx[:0]
    return charts.Curve(
        name,
        steps[idx],
        values[idx],
        lower,
        upper,
        smoothed,
        steps[shown_spikes],
        values[shown_spikes],
        label,
        dash,
        color,
    )


@st.cache_data(max_entries=64, show_spinner=False)
def component_curves(
    _diag: Diagnosis,
    key: str,
    values: str,
    s: CurveSettings,
    colors: tuple[tuple[str, str], ...] = (),
    suffix: str = "",
    dash: str | None = None,
    per_family: bool = False,
) -> list[Curve]:
    """Return one Curve per component of `values` ("raw" or "weighted"), downsampled for drawing.

    Spikes are the ones diagnose found (a robust-σ test is scale-free, so raw and weighted agree).
    `colors` pins a component's colour (so a compared run's `bbox` matches this run's `bbox`).
    `per_family` sums each term's copies (aux layers, heads) into one curve; a sum has no spikes of its own.
    """
    dec = shown_decomposition(_diag, per_family)
    pinned = dict(colors)
    table = dec.raw if values == "raw" else dec.weighted
    curves = []
    none = np.zeros(dec.steps.size, dtype=bool)
    for i, c in enumerate(dec.components):
        colour = pinned.get(c.name, charts.color(i + len(pinned)))
        own = _diag.stats.get(c.name)
        curves.append(
            _curve(
                c.name + suffix,
                dec.steps,
                table[c.name],
                none if own is None else own.spike_mask,
                s,
                colour,
                dash,
            )
        )
    return curves


def shown_decomposition(diag: Diagnosis, per_family: bool) -> Decomposition:
    """The decomposition as drawn: each component, or each family's copies summed into one."""
    return by_family(diag.decomposition, diag.components.families) if per_family else diag.decomposition


def colors_of(dec: Decomposition) -> tuple[tuple[str, str], ...]:
    """Return (component, colour) pairs in this run's palette order."""
    return tuple((c.name, charts.color(i)) for i, c in enumerate(dec.components))


@st.cache_data(max_entries=16, show_spinner=False)
def lr_points(
    _log: RunLog, key: str, metric: str | None, points: int
) -> tuple[np.ndarray, np.ndarray] | None:
    """Return the learning rate's (steps, values), downsampled, or None when the run logs none."""
    s = _log.get(metric) if metric else None
    if s is None or not np.isfinite(s.values).any():
        return None
    idx = stats.downsample(s.steps, s.values, points, keep=np.zeros(0, dtype=np.int64))
    return s.steps[idx], s.values[idx]


def loss_figure(
    curves: list[Curve],
    raw_curves: list[Curve] | None,
    overlay: list[Curve],
    log: RunLog,
    s: CurveSettings,
    lr: tuple[np.ndarray, np.ndarray] | None,
) -> go.Figure:
    """Return the main chart: one axes (weighted or raw), or raw | weighted side by side."""
    if s.view == "side by side" and raw_curves is not None:
        return charts.side_by_side_figure(
            raw_curves, curves, ("raw", "weighted"), log_y=s.log_y, step_label=step_label(log), height=420
        )
    title = f"Loss components ({s.view})" + (" — dashed: compared run" if overlay else "")
    return charts.curves_figure(
        [*curves, *overlay],
        title,
        log_y=s.log_y,
        step_label=step_label(log),
        segments=segments(log),
        lr=lr if s.lr else None,
        height=460,
    )


@st.cache_data(max_entries=16, show_spinner=False)
def contributions_figure(_dec: Decomposition, key: str, points: int, step: str) -> go.Figure:
    """Return the stacked weighted contributions (share of the total), drawn at ~`points` steps."""
    idx = stats.downsample(_dec.steps, _dec.total, points) if _dec.steps.size else np.zeros(0, dtype=np.int64)
    weighted = {name: v[idx] for name, v in _dec.weighted.items()}
    return charts.stacked_contributions_figure(_dec.steps[idx], weighted, step_label=step)


@st.cache_data(max_entries=16, show_spinner=False)
def shares_figure(_dec: Decomposition, key: str) -> go.Figure:
    """Return share of mean vs share of recent step-to-step variance per term (residual included when
    logged)."""
    recent = _dec.select(recent_rows(_dec.steps))
    return charts.share_bars_figure(stats.mean_shares(_dec), stats.variance_shares(recent))


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
        charts.share_bars_figure(new.mean_shares, new.variance_shares), width="stretch", key="whatif_shares"
    )
    right.plotly_chart(
        charts.curves_figure(totals, "Objective: current vs what-if", step_label=step),
        width="stretch",
        key="whatif_totals",
    )


def small_multiples(diag: Diagnosis, log: RunLog, key: str) -> go.Figure:
    """The Overview's grid: each weighted component with its EMA (0.6), no band, spikes or lr."""
    curves = component_curves(diag, key, "weighted", CurveSettings(band="none", spikes=False, lr=False))
    return charts.small_multiples_figure(curves, step_label=step_label(log))


def metrics_figure(log: RunLog, key: str, names: tuple[str, ...]) -> go.Figure | None:
    """The chosen eval metrics over steps, or None when none of them has a score."""
    curves = metric_curves(log, key, names)
    return charts.metrics_figure(curves, step_label=step_label(log)) if curves else None


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


def findings_markdown(diag: Diagnosis) -> str:
    return to_markdown(diag)


def findings_json(diag: Diagnosis, source: str, fmt: str) -> str:
    return dumps(to_json_dict(diag, source, fmt), indent=2)


def decomposition_csv(dec: Decomposition) -> str:
    """Return the decomposed series as CSV (one row per step); called only when the user downloads."""
    return dec.to_frame().to_csv(index=False)
