"""Zooming the loss chart: a step window re-downsampled from the full series keeps every spike in it, at any
zoom of a 1M-step series (inspector.zoom), its band and EMA are the full view's (inspector.ui.curve_views),
and the Loss curves page draws a stored window and nothing outside it (AppTest)."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest
from streamlit.testing.v1.element_tree import NumberInput

from inspector import stats, zoom
from inspector.diagnose import diagnose
from inspector.runlog import RunWriter
from inspector.runlog.record import assemble
from inspector.ui.curve_views import curve_at, curve_set
from inspector.ui.widgets import CurveSettings
from inspector.zoom import Drawn, StepWindow

REPO = Path(__file__).resolve().parents[1]
N = 1_000_000
POINTS = 2000


Series = tuple[np.ndarray, np.ndarray, np.ndarray]  # steps, values, sorted spike indices


@pytest.fixture(scope="module")
def long_series() -> Series:
    """1M steps of a decaying noisy loss, with 400 planted spikes at random steps (sorted indices).

    Half the planted spikes are tall (×4), half barely above the noise (+3σ): MinMaxLTTB alone keeps the
    tall ones anyway, so the small ones are what show that `keep` does its job.
    """
    rng = np.random.default_rng(17)
    steps = np.arange(1, N + 1, dtype=np.int64)
    values = 0.3 + np.exp(-steps / 2e5) + 0.02 * rng.standard_normal(N)
    spikes = np.sort(rng.choice(N, 400, replace=False))
    values[spikes[::2]] *= 4
    values[spikes[1::2]] += 0.06
    return steps, values, spikes


def _random_windows(rng: np.random.Generator, count: int) -> list[StepWindow]:
    """Windows of widths log-uniform from 10 steps to the whole run, at random places."""
    out = []
    for width in np.exp(rng.uniform(np.log(10), np.log(N), count)).astype(np.int64):
        first = int(rng.integers(1, N - width + 2))
        out.append(StepWindow(first, first + int(width) - 1))
    return out


def test_every_spike_in_any_window_is_drawn(long_series: Series) -> None:
    steps, values, spikes = long_series
    rng = np.random.default_rng(5)
    for window in _random_windows(rng, 150):
        idx = zoom.window_indices(steps, values, spikes, window, POINTS)
        lo, hi = zoom.window_bounds(steps, window)
        inside = spikes[(spikes >= lo) & (spikes < hi)]
        assert np.isin(inside, idx).all(), window
        assert idx.size == 0 or (idx[0] >= lo and idx[-1] < hi), window
        assert (np.diff(idx) > 0).all(), "sorted, no repeats"
        # The budget holds, apart from the kept spikes and the window's min and max.
        assert idx.size <= POINTS + inside.size + 2, (window, idx.size)


def test_a_window_narrower_than_the_budget_is_drawn_whole(long_series: Series) -> None:
    steps, values, spikes = long_series
    window = StepWindow(500_001, 501_000)
    idx = zoom.window_indices(steps, values, spikes, window, POINTS)
    np.testing.assert_array_equal(steps[idx], np.arange(500_001, 501_001))


def test_window_edges_are_drawn_and_nothing_beyond(long_series: Series) -> None:
    steps, values, spikes = long_series
    window = StepWindow(123_457, 654_321)
    drawn = steps[zoom.window_indices(steps, values, spikes, window, POINTS)]
    assert drawn[0] == window.first and drawn[-1] == window.last


def test_the_whole_run_is_the_full_views_downsample(long_series: Series) -> None:
    steps, values, spikes = long_series
    idx = zoom.window_indices(steps, values, spikes, None, POINTS)
    np.testing.assert_array_equal(idx, stats.downsample(steps, values, POINTS, keep=spikes))


def test_irregular_steps_are_cut_by_step_not_by_position() -> None:
    steps = np.array([0, 10, 20, 30, 40, 100, 110], dtype=np.int64)
    values = np.arange(7, dtype=np.float64)
    none = np.zeros(0, dtype=np.int64)
    idx = zoom.window_indices(steps, values, none, StepWindow(15, 100), POINTS)
    np.testing.assert_array_equal(steps[idx], [20, 30, 40, 100])
    assert zoom.window_bounds(steps, StepWindow(15, 100)) == (2, 6)


@pytest.mark.parametrize("window", [StepWindow(41, 99), StepWindow(200, 300), StepWindow(-9, -1)])
def test_a_window_holding_no_step_draws_nothing(window: StepWindow) -> None:
    steps = np.array([0, 10, 20, 30, 40, 100, 110], dtype=np.int64)
    idx = zoom.window_indices(steps, np.ones(7), np.array([3]), window, POINTS)
    assert idx.size == 0 and idx.dtype == np.int64


def test_spikes_within_uses_index_bounds() -> None:
    spikes = np.array([2, 5, 9, 30])
    np.testing.assert_array_equal(zoom.spikes_within(spikes, 5, 30), [5, 9])
    assert zoom.spikes_within(np.zeros(0, dtype=np.int64), 0, 10).size == 0


@pytest.mark.parametrize(
    ("x0", "x1", "expected"),
    [
        (300.4, 100.2, StepWindow(101, 300)),  # either order, whole steps inside the box
        (-50.0, 2e9, StepWindow(1, 1000)),  # clamped to the run
        (10.2, 10.8, None),  # no whole step inside
        (10.0, 10.0, StepWindow(10, 11)),  # one step widened to two
        (1000.0, 1000.0, StepWindow(999, 1000)),  # ... inwards at the run's end
        (float("nan"), 5.0, None),
        (2000.0, 3000.0, None),  # beyond the run
    ],
)
def test_clamp_window(x0: float, x1: float, expected: StepWindow | None) -> None:
    assert zoom.clamp_window(x0, x1, StepWindow(1, 1000)) == expected


def test_box_range_reads_streamlits_selection_state() -> None:
    box = {"xref": "x", "yref": "y", "x": [298.6, 499.5], "y": [1.1, -1.1]}
    assert zoom.box_range({"points": [], "point_indices": [], "box": [box], "lasso": []}) == (298.6, 499.5)
    second = {**box, "xref": "x2", "x": [10, 20]}
    assert zoom.box_range({"box": [box, second]}) == (10.0, 20.0)
    assert zoom.box_range({"points": [], "box": [], "lasso": []}) is None
    assert zoom.box_range(None) is None
    assert zoom.box_range({"box": [{"x": [1]}]}) is None
    assert zoom.box_range({"box": [{"x": ["a", 2]}]}) is None


def test_full_window_spans_every_axis() -> None:
    a, b = np.array([5, 6, 7]), np.array([1, 9])
    assert zoom.full_window(a, b) == StepWindow(1, 9)
    assert zoom.full_window(np.zeros(0)) is None


def test_drawn_adds_up_and_is_captioned() -> None:
    total = Drawn(1001, 1001, 2) + Drawn(2000, 50_000, 1)
    assert total == Drawn(3001, 51_001, 3)
    text = zoom.drawn_caption(StepWindow(500_000, 501_000), total)
    assert text == "steps 500,000–501,000: 3,001 of 51,001 points drawn, all 3 spikes in the window kept"
    assert zoom.drawn_caption(None, Drawn(10, 10, 0), "epoch").startswith("the whole run: 10 of 10 points")


def test_zoom_layout_fixes_x_and_drags_a_box() -> None:
    import plotly.graph_objects as go

    fig = zoom.zoom_layout(go.Figure(go.Scatter(x=[1, 2, 3], y=[1, 2, 3])), StepWindow(2, 3))
    assert fig.layout.dragmode == "select" and fig.layout.selectdirection == "h"
    assert fig.layout.xaxis.fixedrange and tuple(fig.layout.xaxis.range) == (2, 3)
    assert not fig.layout.yaxis.fixedrange, "the y axis keeps plotly's own zoom"
    whole = zoom.zoom_layout(go.Figure(go.Scatter(x=[1, 2, 3], y=[1, 2, 3])), None)
    assert whole.layout.xaxis.range is None


@pytest.mark.parametrize("band", ["std", "quantiles"])
def test_a_zoomed_curve_has_the_full_views_band_and_ema(band: str) -> None:
    """Band and EMA come from the full series: at a step both views draw, they agree exactly."""
    rng = np.random.default_rng(2)
    n = 50_000
    steps = np.arange(n, dtype=np.int64) * 2
    values = 1 + 0.1 * rng.standard_normal(n)
    spikes = np.array([100, 20_000, 20_050, 40_000])
    values[spikes] += 2
    s = CurveSettings(band="std" if band == "std" else "quantiles", window=400)
    edges = None
    if band == "quantiles":
        full_band = stats.quantile_band(steps, values, s.window, s.quantiles)
        edges = (full_band.lower, full_band.upper)
    window = StepWindow(39_000, 81_000)
    views = []
    for w in (None, window):
        idx = zoom.window_indices(steps, values, spikes, w, 500)
        a, b = zoom.window_bounds(steps, w)
        inside = zoom.spikes_within(spikes, a, b)
        views.append(curve_at("c", steps, values, idx, inside, s, "#000000", None, edges))
    whole, zoomed = views
    assert zoomed.steps[0] >= window.first and zoomed.steps[-1] <= window.last
    np.testing.assert_array_equal(zoomed.spike_steps, steps[[20_000, 20_050, 40_000]])
    common, i, j = np.intersect1d(whole.steps, zoomed.steps, return_indices=True)
    assert common.size >= 3, "the spikes at least are drawn in both"
    for part in ("values", "lower", "upper", "smoothed"):
        np.testing.assert_array_equal(getattr(whole, part)[i], getattr(zoomed, part)[j], err_msg=part)
    np.testing.assert_array_equal(zoomed.smoothed, stats.ema_tensorboard(values, s.ema)[zoomed.steps // 2])


def test_the_users_corrections_are_part_of_the_curves_cache_key() -> None:
    """A corrected weight changes the weighted curves of the same run (same content key), zoomed or not."""
    n = 3_000
    steps = np.arange(n, dtype=np.int64)
    rng = np.random.default_rng(1)
    columns = {f"loss/{c}": 1.0 + 0.01 * rng.standard_normal(n) for c in ("bbox", "cls")}
    config = {"loss_weights": {"bbox": 2.0, "cls": 1.0}}
    log = assemble("t", "native", "native", steps, columns, config=config)
    inferred, corrected = diagnose(log), diagnose(log, weights_override={"bbox": 4.0})
    s = CurveSettings(band="none")
    for window in (None, StepWindow(100, 900)):
        a = curve_set(inferred, "same-run", "weighted", s, window=window).curves[0]
        b = curve_set(corrected, "same-run", "weighted", s, window=window).curves[0]
        np.testing.assert_allclose(b.values, 2 * a.values)


# ------------------------------------------------------------------------------------------------ the page

PLANTED = (3_000, 5_500, 5_600, 9_000, 12_345, 16_000)


@pytest.fixture()
def spiky_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A 20,000-step native log (RunWriter) whose bbox loss spikes ×4 at PLANTED, allowed as a server path."""
    rng = np.random.default_rng(0)
    path = tmp_path / "run" / "log.jsonl"
    with RunWriter(path, config={"loss_weights": {"bbox": 7.5, "cls": 0.5}}) as w:
        for step in range(1, 20_001):
            bbox = (0.5 + 0.02 * rng.standard_normal()) * (4 if step in PLANTED else 1)
            w.step(step, {"bbox": bbox, "cls": 1.0 + 0.05 * rng.standard_normal()}, lr=1e-3)
    monkeypatch.setenv("INSPECTOR_ROOTS", str(tmp_path))
    return path


def _open(path: Path) -> AppTest:
    at = AppTest.from_file(str(REPO / "pages/1_Loss_curves.py"), default_timeout=60).run()
    at.sidebar.radio(key="run_kind").set_value("server path").run()
    at.sidebar.text_input(key="run_path").input(str(path)).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _chart(at: AppTest) -> dict:
    charts = [c for c in at.get("plotly_chart") if "loss_chart" in (c.proto.id or "")]
    assert charts, "no loss chart"
    return json.loads(charts[0].proto.spec)


def _xs(trace: dict) -> np.ndarray:
    x = trace["x"]
    if isinstance(x, dict):  # plotly serialises numpy arrays as base64 typed arrays
        return np.frombuffer(base64.b64decode(x["bdata"]), dtype=np.dtype(x["dtype"]))
    return np.asarray(x)


def _step_input(at: AppTest, label: str) -> NumberInput:
    return next(n for n in at.number_input if n.label == label)


def _zoom_to(at: AppTest, first: int, last: int) -> None:
    _step_input(at, "from step").set_value(first)
    _step_input(at, "to step").set_value(last).run()
    assert not at.exception, [e.value for e in at.exception]


def test_the_page_draws_a_stored_window_and_only_it(spiky_log: Path) -> None:
    at = _open(spiky_log)
    assert any(c.value.startswith("the whole run: ") for c in at.caption)
    _zoom_to(at, 5_001, 6_000)
    spec = _chart(at)
    assert spec["layout"]["xaxis"]["range"] == [5_001, 6_000]
    assert spec["layout"]["dragmode"] == "select"
    for trace in spec["data"]:
        x = _xs(trace)
        assert x.size and x.min() >= 5_001 and x.max() <= 6_000, trace.get("name")
    line = next(t for t in spec["data"] if t.get("name") == "bbox")
    np.testing.assert_array_equal(_xs(line), np.arange(5_001, 6_001))  # full resolution
    marks = next(t for t in spec["data"] if t.get("name") == "bbox spikes")
    np.testing.assert_array_equal(_xs(marks), [5_500, 5_600])
    assert "steps 5,001–6,000: 2,000 of 2,000 points drawn, all 2 spikes in the window kept" in [
        c.value for c in at.caption
    ]


def test_a_wide_window_keeps_its_spikes_and_full_range_resets(spiky_log: Path) -> None:
    at = _open(spiky_log)
    _zoom_to(at, 2_000, 17_000)  # 15,001 steps: more than the 2,000-point budget
    spec = _chart(at)
    line = _xs(next(t for t in spec["data"] if t.get("name") == "bbox"))
    assert line.size < 15_001 and line.min() >= 2_000 and line.max() <= 17_000
    assert set(PLANTED) <= set(line.tolist())
    next(b for b in at.button if b.label == "Full range").click().run()
    spec = _chart(at)
    assert "range" not in spec["layout"]["xaxis"]
    assert any(c.value.startswith("the whole run: ") for c in at.caption)
    assert _step_input(at, "to step").value == 20_000


def test_side_by_side_and_a_compared_run_show_the_same_window(spiky_log: Path) -> None:
    at = _open(spiky_log)
    at.sidebar.radio(key="compare_kind").set_value("server path").run()
    at.sidebar.text_input(key="compare_path").input(str(spiky_log)).run()
    _zoom_to(at, 9_001, 9_500)
    overlay = _chart(at)
    dashed = [t for t in overlay["data"] if t.get("line", {}).get("dash") == "dash"]
    assert dashed, "the compared run is drawn"
    for trace in overlay["data"]:
        x = _xs(trace)
        assert x.min() >= 9_001 and x.max() <= 9_500, trace.get("name")
    at.sidebar.radio(key="view").set_value("side by side").run()
    assert not at.exception, [e.value for e in at.exception]
    spec = _chart(at)
    layout = spec["layout"]
    assert layout["xaxis"]["range"] == layout["xaxis2"]["range"] == [9_001, 9_500]
    # Panels, raw | weighted per component, the compared run dashed in each: 4 × 500 points.
    assert any(c.value.startswith("steps 9,001–9,500: 4,000 of 4,000 points drawn") for c in at.caption)
    dashed_axes = {t.get("xaxis", "x") for t in spec["data"] if t.get("line", {}).get("dash") == "dash"}
    assert len(dashed_axes) == 4  # bbox raw, bbox weighted, cls raw, cls weighted
    at.sidebar.radio(key="band").set_value("quantiles").run()
    assert not at.exception, [e.value for e in at.exception]
    bands = [t for t in _chart(at)["data"] if str(t.get("name", "")).endswith("q0.1–0.9")]
    assert bands and all(_xs(t).min() >= 9_001 and _xs(t).max() <= 9_500 for t in bands)
