"""A real browser keeps the user's view of the loss chart across settings: on the demo run's Loss curves page,
a step window dragged as a box, a y zoom of one panel and a trace hidden in the legend all survive ticking
"Mark spikes" (a new figure, so Streamlit mounts a new plot); "Log y axis" keeps the window and the hidden
trace, and starts the y axes over (their values now mean something else)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from inspector.paths import DEMO_DIR

from .selectors import EXCEPTION, wait_until_idle

if TYPE_CHECKING:
    from playwright.sync_api import Page

pytestmark = [
    pytest.mark.slow,
    pytest.mark.browser,
    pytest.mark.skipif(not any((DEMO_DIR / "runs").glob("*/log.jsonl")), reason="demo/runs not bundled"),
]

# The live loss chart (a rerun leaves the previous one in the page, marked stale, for a moment).
CHART = '.st-key-loss_chart:not([data-stale="true"]) .js-plotly-plot'
CAPTION = """() => [...document.querySelectorAll('[data-testid="stCaptionContainer"]')]
    .map(e => e.innerText).find(t => t.includes('points drawn')) || ''"""
# What the test reads of the plot: the step window, the first panel's y axis, and who is hidden.
STATE = """sel => { const gd = document.querySelector(sel); const L = gd._fullLayout;
    const line = name => gd._fullData.find(t => t.meta === name + '|line');
    return {x: L.xaxis.range, yType: L.yaxis.type, yAuto: L.yaxis.autorange, y: L.yaxis.range,
            bbox: line('bbox').visible, cls: line('cls').visible,
            spikes: gd._fullData.filter(t => (t.meta || '').endsWith('|spikes')).length}; }"""


def state(page: Page) -> dict:
    return page.evaluate(STATE, CHART)


def shown_window(page: Page) -> tuple[int, int]:
    first = page.get_by_role("spinbutton", name="from step").input_value()
    last = page.get_by_role("spinbutton", name="to step").input_value()
    return int(first.replace(",", "")), int(last.replace(",", ""))


def drag(page: Page, handle: str, start: tuple[float, float], end: tuple[float, float]) -> None:
    """Drag on the first panel's `handle` (a plotly drag rectangle) between two points given as fractions
    of its width and height."""
    r = page.evaluate(
        """([sel, handle]) => { const r = document.querySelector(sel).querySelector(handle)
        .getBoundingClientRect(); return [r.left, r.top, r.width, r.height]; }""",
        [CHART, handle],
    )
    page.mouse.move(r[0] + start[0] * r[2], r[1] + start[1] * r[3])
    page.mouse.down()
    page.mouse.move(r[0] + (start[0] + end[0]) / 2 * r[2], r[1] + (start[1] + end[1]) / 2 * r[3], steps=5)
    page.mouse.move(r[0] + end[0] * r[2], r[1] + end[1] * r[3], steps=5)
    page.mouse.up()


def rerun_with(page: Page, label: str, until: str) -> dict:
    """Click the sidebar checkbox `label`, wait for the new plot to be drawn and for `until` (a JS condition
    on the state `s`) to hold on it; the state."""
    page.evaluate("sel => { document.querySelector(sel).__before = true; }", CHART)
    page.locator('[data-testid="stSidebar"]').get_by_text(label, exact=True).click()
    page.wait_for_function(
        f"""sel => {{ const gd = document.querySelector(sel);
        if (!gd || gd.__before || !gd._fullData) return false;
        const s = ({STATE})(sel); return {until}; }}""",
        arg=CHART,
        timeout=60_000,
        polling=100,
    )
    wait_until_idle(page, 60_000)
    return state(page)


def test_zoom_and_hidden_traces_survive_a_settings_change(app_url: str, page: Page, artifacts: Path) -> None:
    page.goto(app_url + "/Loss_curves")
    page.wait_for_selector(CHART, timeout=90_000)
    wait_until_idle(page, 90_000)
    assert page.evaluate(CAPTION).startswith("the whole run:")

    # A box over the middle of the first panel: the chart is drawn again for those steps.
    drag(page, ".nsewdrag", (0.3, 0.5), (0.6, 0.5))
    page.wait_for_function(f"() => ({CAPTION})().startsWith('steps ')", timeout=60_000, polling=100)
    wait_until_idle(page, 60_000)
    window = shown_window(page)
    page.wait_for_function(f"sel => ({STATE})(sel).x[0] === {window[0]}", arg=CHART)
    before = state(page)
    assert before["x"] == list(window) and before["yAuto"]

    # Hide bbox in the legend, and pan the first panel's y axis (drag its middle).
    page.locator(".legend .traces", has_text="bbox").first.locator(".legendtoggle").click()
    page.wait_for_function(f"sel => ({STATE})(sel).bbox === 'legendonly'", arg=CHART, timeout=10_000)
    drag(page, ".draglayer .xy .nsdrag", (0.5, 0.3), (0.5, 0.6))
    page.wait_for_function(f"sel => !({STATE})(sel).yAuto", arg=CHART, timeout=10_000)
    wait_until_idle(page, 60_000)
    zoomed = state(page)
    assert zoomed["bbox"] == "legendonly" and zoomed["cls"] is True
    assert not zoomed["yAuto"] and zoomed["y"] != before["y"]

    # "Mark spikes" off: a new figure (no spike markers), the same window, y range and hidden trace.
    kept = rerun_with(page, "Mark spikes", "s.spikes === 0 && s.bbox === 'legendonly' && !s.yAuto")
    assert shown_window(page) == window and kept["x"] == list(window)
    assert kept["y"] == pytest.approx(zoomed["y"]) and kept["cls"] is True

    # Streamlit redraws a new plot from its own copies of the figure (Plotly.react), and a copy taken before
    # the restore brings the figure's defaults back (this raced, and failed this test now and then): the kept
    # view comes back after such a redraw.
    page.evaluate(
        """sel => { const gd = document.querySelector(sel);
        const data = gd.data.map(t => ({...t, visible: undefined}));
        const layout = {...gd.layout, yaxis: {...gd.layout.yaxis, autorange: true, range: undefined}};
        return window.Plotly.react(gd, data, layout).then(() => null); }""",
        CHART,
    )
    page.wait_for_function(f"sel => ({STATE})(sel).bbox === 'legendonly' && !({STATE})(sel).yAuto", arg=CHART)
    redrawn = state(page)
    assert redrawn["y"] == pytest.approx(zoomed["y"]) and redrawn["x"] == list(window)

    # "Log y axis": the window and the hidden trace stay; the y axes start over on the log scale.
    logged = rerun_with(page, "Log y axis", "s.yType === 'log' && s.bbox === 'legendonly'")
    assert shown_window(page) == window and logged["x"] == list(window)
    assert logged["yAuto"] and logged["cls"] is True
    assert page.locator(EXCEPTION).count() == 0
    page.screenshot(path=str(artifacts / "loss_view_kept.png"), full_page=True)
