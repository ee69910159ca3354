"""A real browser on the Runs page: a 12-run sweep (3 configs × 4 seeds of RunWriter logs,
tests/test_sweep.py) given as a server path, grouped by a name pattern, drawn as 3 groups each with a
filled band; no exception box. The server is this module's own, with INSPECTOR_ROOTS set to the sweep's
folder."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from test_sweep import CONFIGS, SEEDS, write_sweep

from .selectors import CHART, EXCEPTION, wait_until_idle
from .server import streamlit_server

pytestmark = [pytest.mark.slow, pytest.mark.browser]

# The traces the page's plotly figure holds, read from plotly's own graph div.
TRACES = """() => {
    const plot = document.querySelector('.js-plotly-plot');
    return plot && plot.data ? plot.data.map(t => ({
        name: t.name, group: t.legendgroup || null, fill: t.fill || null, n: (t.y || []).length,
        y: Array.from(t.y || []),
    })) : null;
}"""


@pytest.fixture(scope="module")
def sweep_app(tmp_path_factory: pytest.TempPathFactory):
    """(URL of a server whose INSPECTOR_ROOTS is the sweep's folder, the sweep's path)."""
    root = write_sweep(tmp_path_factory.mktemp("browser_sweep"), nested=True)
    log_path = tmp_path_factory.mktemp("runs_server") / "streamlit.log"
    env = dict(os.environ, PYTHONUNBUFFERED="1", INSPECTOR_ROOTS=str(root))
    with streamlit_server(log_path, env=env) as url:
        yield url, root


def _box(page, label: str):
    """The text input labelled `label` (its help button carries the label too)."""
    return page.get_by_label(label, exact=True).and_(page.get_by_test_id("stTextInputField"))


def _set_text(page, label: str, value: str) -> None:
    box = _box(page, label)
    box.fill(value)
    box.press("Enter")


def test_a_sweep_grouped_by_pattern_draws_a_band_per_config(sweep_app, page, artifacts: Path) -> None:
    url, root = sweep_app
    page.goto(url + "/Runs")
    _box(page, "Sweep folder on the server").wait_for(timeout=60_000)
    _set_text(page, "Sweep folder on the server", str(root))
    page.wait_for_selector(CHART, timeout=120_000)
    wait_until_idle(page, 120_000)
    rows = len(CONFIGS) * SEEDS
    page.get_by_text(f"{rows} runs", exact=True).wait_for(timeout=30_000)  # the table's heading
    # The runs are <config>/seed<k>: the pattern's group names the config.
    _set_text(page, "Name pattern (regex)", r"^([a-z]+)/")
    page.wait_for_function(
        f"() => ({TRACES})() && ({TRACES})().filter(t => t.fill === 'tonexty').map(t => t.group).join() "
        "=== 'base,collapse,heavy'",
        timeout=60_000,
    )
    wait_until_idle(page, 60_000)
    traces = page.evaluate(TRACES)
    bands = [t for t in traces if t["fill"] == "tonexty"]
    assert [t["group"] for t in bands] == ["base", "collapse", "heavy"]
    for band in bands:
        upper = next(t for t in traces if t["group"] == band["group"] and t["name"].endswith("upper"))
        assert band["n"] == upper["n"] > 0  # one band edge against the other, point for point
        assert any(
            u > lo for u, lo in zip(upper["y"], band["y"], strict=True) if u is not None and lo is not None
        )
    means = [t["name"] for t in traces if t["fill"] is None and not t["name"].endswith("upper")]
    assert means == [f"{c} (n={SEEDS})" for c in sorted(CONFIGS)]
    assert page.get_by_text("in 4 of 4 runs").count() >= 1  # the collapse seeds' shared finding
    assert page.locator(EXCEPTION).count() == 0
    page.screenshot(path=str(artifacts / "runs.png"), full_page=True)
    page.locator(CHART).first.scroll_into_view_if_needed()
    page.locator(CHART).first.screenshot(path=str(artifacts / "runs_bands.png"))
