"""Zooming the loss chart of a 1M-step series: the re-render path of one box drag, by window width.

    .venv/bin/python bench/bench_zoom.py [--steps 1000000] [--rounds 5] [--repeat 5] [--components 4]

For each component of the chart (the page repeats this per view and per compared run), a zoom re-renders:
the window's slice by binary search, the spike-keeping downsample of the slice (zoom.window_indices), the
band and EMA of the full series at the drawn points (curve_views.curve_at); then the figure and its JSON
(what st.plotly_chart sends). Timed at windows of 1k, 10k, 100k and 1M steps; the 1M window is the full
view's path (window None). The spike scan runs once, untimed: the page has it from diagnose.

Peer, when plotly-resampler is importable: its server-side step on a relayout, per trace:
PlotlyAggregatorParser.get_start_end_indices + aggregate with its defaults (MinMaxLTTB, MedDiffGapHandler),
on the same window, against our selection step alone (window_indices, one component). Its package
__init__ imports Dash (and 0.11.1 pins plotly < 7), so only its aggregation subpackage is loaded; install
it apart, e.g.

    .venv/bin/python -m pip install --no-deps --target /tmp/resampler plotly-resampler==0.11.1
    PYTHONPATH=/tmp/resampler .venv/bin/python bench/bench_zoom.py

With --browser: a real `streamlit run app.py` (tests/e2e/server.py) and chromium on a 1M-step native log
(bbox, cls, lr; tests/e2e/test_browser_zoom.py writes it): seconds from releasing the mouse button of a box
dragged over the loss chart until the chart is redrawn (its caption changed, the script run over), a new
100k-step window each round so no cache answers, interleaved with "Full range" (the whole run's chart,
cached after round 1), which is the page's rerun and redraw alone.

Rounds interleave every variant; each timing is the mean of `--repeat` calls; min and median over rounds.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import os
import statistics
import sys
import tempfile
import time
import types
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import plotly.io

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout, no install needed
from inspector import charts, stats, zoom  # noqa: E402
from inspector.ui.curve_views import curve_at  # noqa: E402
from inspector.ui.widgets import CurveSettings, default_window  # noqa: E402
from inspector.zoom import StepWindow  # noqa: E402

WIDTHS = (1_000, 10_000, 100_000, 1_000_000)


def series(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A decaying noisy loss of n steps with 200 planted spikes (×3), and the spikes spike_scan flags."""
    rng = np.random.default_rng(seed)
    steps = np.arange(1, n + 1, dtype=np.int64)
    values = 0.3 + np.exp(-steps / (n / 5)) + 0.02 * rng.standard_normal(n)
    values[rng.choice(n, 200, replace=False)] *= 3
    return steps, values, np.flatnonzero(stats.spike_scan(steps, values).mask)


def resampler_aggregation() -> Any | None:
    """plotly_resampler.aggregation without the package's __init__ (Dash, FigureResampler), or None."""
    spec = importlib.util.find_spec("plotly_resampler")
    if spec is None or not spec.submodule_search_locations:
        return None
    package = types.ModuleType("plotly_resampler")
    package.__path__ = list(spec.submodule_search_locations)
    sys.modules["plotly_resampler"] = package
    return importlib.import_module("plotly_resampler.aggregation")


def trace_data(agg: Any, steps: np.ndarray, values: np.ndarray) -> dict:
    """plotly-resampler's record of one high-frequency trace, with FigureResampler's defaults."""
    return {
        "x": steps,
        "y": values,
        "max_n_samples": 2000,
        "downsampler": agg.MinMaxLTTB(),
        "gap_handler": agg.MedDiffGapHandler(),
    }


def window_of(width: int, n: int) -> StepWindow | None:
    """A window of `width` steps centred in the run (None: the whole run)."""
    if width >= n:
        return None
    first = (n - width) // 2 + 1
    return StepWindow(first, first + width - 1)


def rerender(
    steps: np.ndarray, values: np.ndarray, spikes: np.ndarray, window: StepWindow | None, components: int
) -> int:
    """One zoom of a chart of `components` components (the series drawn that many times), as the page does
    it; returns the JSON's length (to use the result)."""
    s = CurveSettings(window=default_window(int(steps[-1])))
    lo, hi = zoom.window_bounds(steps, window)
    curves = []
    for i in range(components):
        idx = zoom.window_indices(steps, values, spikes, window, s.points)
        inside = zoom.spikes_within(spikes, lo, hi)
        curves.append(curve_at(f"c{i}", steps, values, idx, inside, s, charts.color(i), None))
    fig = zoom.zoom_layout(charts.curves_figure(curves, "Loss components (weighted)", height=460), window)
    return len(plotly.io.to_json(fig, validate=False))


def peer_select(agg: Any, hf: dict, window: StepWindow | None) -> object:
    """plotly-resampler's per-trace work on a relayout to `window`: find the slice, aggregate it."""
    a, b = (None, None) if window is None else (window.first, window.last)
    lo, hi = agg.PlotlyAggregatorParser.get_start_end_indices(hf, "linear", a, b)
    return agg.PlotlyAggregatorParser.aggregate(hf, lo, hi)


def timed(fn: Callable[[], object], repeat: int) -> float:
    start = time.perf_counter()
    for _ in range(repeat):
        fn()
    return (time.perf_counter() - start) / repeat


def browser_rounds(rounds: int) -> dict[str, list[float]]:
    """Seconds per box zoom and per "Full range" in a real browser, interleaved over `rounds`."""
    from playwright.sync_api import sync_playwright

    from tests.e2e.server import CHROMIUM, CHROMIUM_FLAGS, streamlit_server
    from tests.e2e.test_browser_zoom import (
        chart_caption,
        drag_box,
        open_log,
        wait_for_redraw,
        write_native_log,
    )

    times: dict[str, list[float]] = {"box zoom, 100k-step window": [], "Full range (cached)": []}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        write_native_log(root / "log.jsonl")
        env = dict(os.environ, PYTHONUNBUFFERED="1", INSPECTOR_ROOTS=tmp)
        with streamlit_server(root / "streamlit.log", env=env) as url, sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
            page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
            open_log(page, url, root / "log.jsonl")
            for r in range(rounds):
                first = 300_000 + 20_000 * r
                before = chart_caption(page)
                drag_box(page, first, first + 100_000, release=False)
                start = time.perf_counter()
                page.mouse.up()
                wait_for_redraw(page, before)
                times["box zoom, 100k-step window"].append(time.perf_counter() - start)
                before = chart_caption(page)
                start = time.perf_counter()
                page.get_by_role("button", name="Full range").click()
                wait_for_redraw(page, before)
                times["Full range (cached)"].append(time.perf_counter() - start)
            browser.close()
    return times


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=1_000_000)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--components", type=int, default=4, help="components on the re-rendered chart")
    ap.add_argument("--browser", action="store_true", help="time box zooms in chromium instead")
    args = ap.parse_args()
    if args.browser:
        print(f"{'browser, 1M steps':<28} {'min s':>7} {'median s':>9}")
        for name, t in browser_rounds(args.rounds).items():
            print(f"{name:<28} {min(t):7.2f} {statistics.median(t):9.2f}")
        return
    steps, values, spikes = series(args.steps)
    agg = resampler_aggregation()
    found = "plotly-resampler " + ("found" if agg else "not found: no peer")
    print(f"{args.steps:,} steps, {spikes.size} spikes flagged; {found}")

    variants: dict[str, Callable[[], object]] = {}
    for width in WIDTHS:
        w = window_of(width, args.steps)
        variants[f"re-render {width:>9,}"] = partial(rerender, steps, values, spikes, w, args.components)
        variants[f"select    {width:>9,}"] = partial(zoom.window_indices, steps, values, spikes, w, 2000)
        if agg is not None:
            variants[f"resampler {width:>9,}"] = partial(peer_select, agg, trace_data(agg, steps, values), w)
    for fn in variants.values():  # warm-up: imports, plotly's validators, page faults
        fn()
    times: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(args.rounds):
        for name, fn in variants.items():
            times[name].append(timed(fn, args.repeat))
    print(f"{'variant':<22} {'min ms':>9} {'median ms':>10}")
    for name, t in times.items():
        print(f"{name:<22} {1e3 * min(t):9.2f} {1e3 * statistics.median(t):10.2f}")
    if agg is not None:
        print("spikes in the window the peer leaves out (ours keeps all):")
        for width in WIDTHS:
            w = window_of(width, args.steps)
            lo, hi = zoom.window_bounds(steps, w)
            _, _, idx = agg.PlotlyAggregatorParser.aggregate(trace_data(agg, steps, values), lo, hi)
            inside = zoom.spikes_within(spikes, lo, hi)
            print(f"  {width:>9,}: {np.setdiff1d(inside - lo, idx).size} of {inside.size}")


if __name__ == "__main__":
    main()
