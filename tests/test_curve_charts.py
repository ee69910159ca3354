"""The loss charts' handling (inspector.curve_charts, inspector.chart_style, inspector.ui.curve_views): a view
revision from the run alone, per-component panels on one linked step axis, hover with raw, weighted and
weight, readable log and learning-rate ticks, the lr in every view."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest

from inspector.chart_style import log_ticks, lr_axis, reading_hover, tick_label, view_revision
from inspector.curve_charts import Curve, Panel, Reading, curves_figure, panels_figure, small_multiples_figure
from inspector.diagnose import diagnose
from inspector.runlog.record import assemble
from inspector.ui.curve_views import epochs_at, loss_chart, step_epochs
from inspector.ui.widgets import CurveSettings
from inspector.zoom import StepWindow

N = 600


@pytest.fixture(scope="module")
def run():
    """A 600-step native log: bbox (weight 7.5) with spikes at 200 and 400, cls (0.5), lr decaying 1e-3 →
    2e-6, epochs of 100 steps; and its diagnosis."""
    rng = np.random.default_rng(0)
    steps = np.arange(1, N + 1)
    bbox = 0.5 + 0.02 * rng.standard_normal(N)
    bbox[[199, 399]] *= 5
    columns = {
        "loss/bbox": bbox,
        "loss/cls": 1.0 + 0.05 * rng.standard_normal(N),
        "lr": np.geomspace(1e-3, 2e-6, N),
    }
    config = {"loss_weights": {"bbox": 7.5, "cls": 0.5}}
    log = assemble("t", "native", "native", steps, columns, config=config, epochs=(steps - 1) // 100)
    return log, diagnose(log)


def _figure(run, key="run-a", window=None, **settings):
    log, diag = run
    return loss_chart(diag, log, key, CurveSettings(**settings), False, window).figure


def _axes(fig, kind: str) -> dict:
    return {k: v for k, v in fig.layout.to_plotly_json().items() if k.startswith(kind)}


# ------------------------------------------------------------------------------------- the kept view


def test_the_view_revision_is_the_runs_whatever_the_settings(run) -> None:
    base = _figure(run)
    rev = base.layout.uirevision
    assert rev == view_revision("run-a")
    for settings in (
        dict(spikes=False),
        dict(log_y=True),
        dict(ema=0.0),
        dict(band="none"),
        dict(layout="overlay"),
        dict(view="side by side"),
    ):
        assert _figure(run, **settings).layout.uirevision == rev, settings
    assert _figure(run, window=StepWindow(100, 300)).layout.uirevision == rev
    assert _figure(run, key="run-b").layout.uirevision != rev  # another run starts over


def test_a_y_zoom_is_kept_only_while_the_y_axes_mean_the_same(run) -> None:
    y = base = _figure(run).layout.yaxis.uirevision
    assert _figure(run, spikes=False).layout.yaxis.uirevision == y
    assert _figure(run, ema=0.9).layout.yaxis.uirevision == y
    assert _figure(run, log_y=True).layout.yaxis.uirevision != base
    assert _figure(run, view="raw").layout.yaxis.uirevision != base
    assert _figure(run, window=StepWindow(100, 300)).layout.yaxis.uirevision != base


def test_a_window_is_the_figures_own_x_range_on_every_panel(run) -> None:
    fig = _figure(run, window=StepWindow(150, 450))
    for name, axis in _axes(fig, "xaxis").items():
        assert axis["range"] == [150, 450] and axis["fixedrange"] is True, name
    assert fig.layout.dragmode == "select" and fig.layout.selectdirection == "h"


def test_every_trace_has_a_stable_key(run) -> None:
    keys = {t.meta for t in _figure(run).data}
    assert {"bbox|line", "bbox|ema", "bbox|upper", "bbox|lower", "bbox|spikes", "lr|line"} <= keys
    assert {t.meta for t in _figure(run, spikes=False).data} == keys - {"bbox|spikes", "cls|spikes"}
    side = [t.meta for t in _figure(run, view="side by side").data]
    assert len(side) == len(set(side)) and "raw:bbox|line" in side and "weighted:bbox|line" in side


# ------------------------------------------------------------------------------------------- panels


def test_panels_are_the_default_one_per_component_on_one_linked_step_axis(run) -> None:
    assert CurveSettings().layout == "panels"
    fig = _figure(run)
    titles = [a.text for a in fig.layout.annotations]
    assert titles[:2] == ["bbox", "cls"]
    xaxes = _axes(fig, "xaxis")
    assert len(xaxes) == 3  # cls, bbox, the lr strip
    assert "matches" not in xaxes["xaxis"]
    assert all(a["matches"] == "x" for name, a in xaxes.items() if name != "xaxis")
    # The step axis is titled once, under the bottom row (the lr strip); the panels above it label steps.
    assert [a.get("title", {}).get("text") for a in xaxes.values()] == [None, None, "step"]
    line = {t.name: t for t in fig.data if t.meta and t.meta.endswith("|line")}
    assert (line["bbox"].xaxis, line["cls"].xaxis, line["lr"].xaxis) == ("x", "x2", "x3")


def test_side_by_side_panels_are_raw_and_weighted_per_component(run) -> None:
    fig = _figure(run, view="side by side")
    titles = [a.text for a in fig.layout.annotations]
    assert titles[:4] == ["bbox · raw", "bbox · weighted", "cls · raw", "cls · weighted"]
    bbox = [t for t in fig.data if t.name == "bbox" and t.meta.endswith("|line")]
    raw, weighted = (np.asarray(t.y) for t in bbox)
    np.testing.assert_allclose(weighted, 7.5 * raw)
    assert [t.showlegend for t in bbox] == [True, False]  # one legend entry per component


@pytest.mark.parametrize(
    "settings",
    [dict(), dict(view="raw"), dict(view="side by side"), dict(layout="overlay"),
     dict(layout="overlay", view="side by side")],
)  # fmt: skip
def test_the_learning_rate_is_in_every_view(run, settings) -> None:
    fig = _figure(run, **settings)
    (lr,) = [t for t in fig.data if t.name == "lr"]
    axis = fig.layout[f"yaxis{lr.yaxis[1:]}"]
    assert axis.type == "log" and axis.showgrid is False
    assert all(math.log10(v) == round(math.log10(v)) for v in axis.tickvals)
    assert 10 ** axis.range[1] >= 1e-3 and 10 ** axis.range[0] <= 2e-6
    assert _figure(run, lr=False, **settings).data[-1].name != "lr"


def test_titles_never_sit_on_tick_labels_above_them() -> None:
    curves = [Curve(n, np.arange(50), np.linspace(1, 2, 50)) for n in "abcde"]
    fig = small_multiples_figure(curves, columns=3)
    xaxes = _axes(fig, "xaxis")
    assert all(a.get("matches") == "x" for n, a in xaxes.items() if n != "xaxis")
    # Only a column's bottom panel labels the steps (and is titled "step"): a, b have d, e under them.
    labelled = {n: a.get("showticklabels") for n, a in xaxes.items()}
    assert labelled == {"xaxis": False, "xaxis2": False, "xaxis3": True, "xaxis4": True, "xaxis5": True}
    assert [a.get("title", {}).get("text") for a in xaxes.values()] == [None, None, "step", "step", "step"]
    # Rows at least 40 px apart: room for a title above a panel.
    plot = fig.layout.height - fig.layout.margin.t - fig.layout.margin.b
    gap = fig.layout.yaxis.domain[0] - fig.layout.yaxis4.domain[1]
    assert gap * plot >= 40


def test_a_compared_run_is_dashed_in_its_components_panel() -> None:
    mine = Curve("bbox", np.arange(10), np.ones(10), color="#0072B2")
    theirs = Curve("bbox (fixed)", np.arange(10), np.ones(10), dash="dash", color="#0072B2")
    fig = panels_figure([Panel("bbox", [mine, theirs])], columns=2)
    assert [(t.xaxis, t.line.dash) for t in fig.data] == [("x", None), ("x", "dash")]


# -------------------------------------------------------------------------------------------- hover


def test_the_hover_shows_raw_weighted_weight_and_epoch_at_4_digits(run) -> None:
    fig = _figure(run)
    line = next(t for t in fig.data if t.meta == "bbox|line")
    template = line.hovertemplate
    assert "weighted %{customdata[1]:.4g}" in template and "raw %{customdata[0]:.4g}" in template
    assert "× 7.5" in template
    data = np.asarray(line.customdata)  # (N, 3): raw, weighted, epoch
    np.testing.assert_allclose(data[:, 1], 7.5 * data[:, 0])
    np.testing.assert_allclose(data[:, 1], line.y)
    np.testing.assert_array_equal(data[:, 2], (np.asarray(line.x) - 1) // 100)
    assert fig.layout.xaxis.unifiedhovertitle.text == "step %{x:,}"
    raw = next(t for t in _figure(run, view="raw").data if t.meta == "bbox|line")
    np.testing.assert_allclose(np.asarray(raw.customdata)[:, 0], raw.y)


def test_a_spike_is_named_at_its_own_step_only(run) -> None:
    fig = _figure(run)
    marks = next(t for t in fig.data if t.meta == "bbox|spikes")
    assert marks.hoverinfo == "skip"  # a unified hover would list it at neighbouring steps
    line = next(t for t in fig.data if t.meta == "bbox|line")
    flagged = np.asarray(line.x)[np.asarray(line.text) == " · spike"]
    np.testing.assert_array_equal(flagged, marks.x)
    assert "%{text}" in line.hovertemplate


def test_reading_hover_without_a_single_weight() -> None:
    assert "×" not in reading_hover("giou", None)
    assert reading_hover("giou", 2.0).endswith("× 2<extra></extra>")


def test_epochs_are_those_of_the_last_logged_step(run) -> None:
    log, _ = run
    known = step_epochs(log)
    assert known is not None
    np.testing.assert_array_equal(epochs_at(known, np.array([1, 100, 101, 600, 900])), [0, 0, 1, 5, 5])
    assert np.isnan(epochs_at(known, np.array([0]))[0])
    assert step_epochs(replace(log, step_unit="epoch")) is None


# -------------------------------------------------------------------------------------------- ticks


def test_log_ticks_are_1_2_5_per_decade_each_label_once() -> None:
    values, labels = log_ticks([np.array([0.003, 0.04]), np.array([2.7])])
    assert values == [0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50]
    assert labels[:4] == ["0.001", "0.002", "0.005", "0.01"] and len(set(labels)) == len(labels)
    # Many decades: powers of ten only.
    values, labels = log_ticks([np.array([1e-8, 1e3])], max_ticks=12)
    assert all(math.log10(v) == round(math.log10(v)) for v in values) and len(values) <= 12
    # Inside one 1–2–5 step: round even steps, still each label once.
    values, labels = log_ticks([np.array([0.52, 0.58])])
    assert labels == ["0.5", "0.52", "0.54", "0.56", "0.58", "0.6"]
    assert log_ticks([np.array([0.0, -1.0, np.nan])]) is None


def test_log_y_sets_those_ticks_on_each_panel(run) -> None:
    fig = _figure(run, log_y=True)
    for name in ("yaxis", "yaxis2"):
        axis = fig.layout[name]
        assert axis.type == "log" and axis.tickmode == "array"
        assert len(set(axis.ticktext)) == len(axis.ticktext) and list(axis.tickvals) == sorted(axis.tickvals)
    # bbox spans 3–19 (its spikes): 1–2–5; cls 0.4–0.6 lies inside one step: even steps of 0.05.
    assert {round(v / 10 ** math.floor(math.log10(v)), 6) for v in fig.layout.yaxis.tickvals} == {1, 2, 5}
    assert fig.layout.yaxis2.ticktext[:3] == ("0.35", "0.4", "0.45")
    overlay = curves_figure([Curve("a", np.arange(3), np.array([0.01, 0.1, 1.0]))], "t", log_y=True)
    assert overlay.layout.yaxis.ticktext[:3] == ("0.01", "0.02", "0.05")


def test_lr_ticks_are_powers_of_ten_and_the_range_holds_the_peak() -> None:
    lr = np.array([0.0, 2e-6, 3.4e-4, 6.3e-5])  # a warmup from 0: not on a log axis
    axis = lr_axis(lr)
    assert axis is not None
    assert axis["tickvals"] == [1e-6, 1e-5, 1e-4, 1e-3]
    assert axis["ticktext"] == ["1e-6", "1e-5", "1e-4", "1e-3"]
    assert 10 ** axis["range"][0] < 2e-6 and 10 ** axis["range"][1] > 1e-3 > 3.4e-4
    assert axis["showgrid"] is False
    flat = lr_axis(np.full(5, 1e-3))
    assert flat is not None and 10 ** flat["range"][1] > 1e-3 and flat["tickvals"] == [1e-3]
    assert lr_axis(np.zeros(3)) is None
    assert [tick_label(v) for v in (2e-5, 0.002, 1e4)] == ["2e-5", "0.002", "1e4"]


def test_reading_at_indexes_both_series() -> None:
    r = Reading(np.arange(5.0), 2 * np.arange(5.0), 2.0).at(np.array([1, 3]))
    assert r.raw.tolist() == [1, 3] and r.weighted.tolist() == [2, 6] and r.weight == 2.0
