"""A real browser zooms the loss chart of a 1M-step log by dragging boxes over it: the chart is drawn again
from the full series for the window, every planted spike in it among the drawn points, only the window."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pytest

from .selectors import EXCEPTION, wait_until_idle
from .server import streamlit_server

if TYPE_CHECKING:
    from playwright.sync_api import Page

pytestmark = [pytest.mark.slow, pytest.mark.browser]

STEPS = 1_000_000
WEIGHTS = {"bbox": 7.5, "cls": 0.5}
# bbox jumps ×4 at these steps: one every 9,973 steps, and four close together inside the final window.
PLANTED = np.union1d(np.arange(4_999, STEPS, 9_973), [500_137, 500_400, 500_401, 500_777])
CHART = '.st-key-loss_chart:not([data-stale="true"]) .js-plotly-plot'  # not the previous run's, if left
# RunWriter.step's row, with printf fields for the numbers (json.dumps' separators and key order).
ROW = (
    '{"type": "step", "step": %d, "epoch": null, "time": %.3f, "lr": %.6g, "losses": {"bbox": %.6g, '
    '"cls": %.6g}, "weights": {"bbox": 7.5, "cls": 0.5}, "total": %.6g, "positives": null, "pos_iou": null}'
)


def write_native_log(path: Path) -> None:
    """Write a 1M-step native log line for line as RunWriter would, in ~3 s (RunWriter's json.dumps per row
    takes ~15 s): np.savetxt fills ROW from the columns."""
    rng = np.random.default_rng(0)
    steps = np.arange(1, STEPS + 1)
    bbox = 0.2 + 0.6 * np.exp(-steps / 2.5e5) + 0.02 * rng.standard_normal(STEPS)
    bbox[PLANTED - 1] *= 4
    cls = 0.8 + 0.05 * rng.standard_normal(STEPS)
    lr = 1e-3 * (1 - steps / (STEPS + 1))
    total = WEIGHTS["bbox"] * bbox + WEIGHTS["cls"] * cls
    header = {
        "type": "header",
        "format": "inspector-runlog",
        "version": 1,
        "config": {"loss_weights": WEIGHTS},
        "started": 1.7e9,
    }
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(json.dumps(header) + "\n")
        np.savetxt(fh, np.column_stack([steps, 1.7e9 + 0.1 * steps, lr, bbox, cls, total]), fmt=ROW)


@pytest.fixture(scope="module")
def zoom_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """A server allowed to read a directory holding the 1M-step log; yields (url, log path)."""
    root = tmp_path_factory.mktemp("zoom")
    log = root / "log.jsonl"
    write_native_log(log)
    env = dict(os.environ, PYTHONUNBUFFERED="1", INSPECTOR_ROOTS=str(root))
    with streamlit_server(root / "streamlit.log", env=env) as url:
        yield url, log


# The caption under the loss chart: what it draws ("steps a–b: N of M points drawn, …").
CAPTION = """() => [...document.querySelectorAll('[data-testid="stCaptionContainer"]')]
    .map(e => e.innerText).find(t => t.includes('points drawn')) || ''"""


def chart_caption(page: Page) -> str:
    return page.evaluate(CAPTION)


def wait_for_redraw(page: Page, before: str, timeout_ms: int = 120_000) -> str:
    """Wait until the chart's caption differs from `before` and the script run has ended; the new caption.

    The caption follows the chart in the script, so a new caption means the new chart arrived.
    """
    page.wait_for_function(f"before => ({CAPTION})() !== before", arg=before, timeout=timeout_ms, polling=100)
    wait_until_idle(page, timeout_ms)
    return chart_caption(page)


def open_log(page: Page, url: str, log: Path) -> None:
    """Open the Loss curves page on the log at server path `log` and wait for its whole-run chart."""
    page.goto(url + "/Loss_curves")
    sidebar = page.locator('[data-testid="stSidebar"]')
    sidebar.get_by_text("server path", exact=True).first.click()
    box = sidebar.locator('[data-testid="stTextInput"] input').first
    box.wait_for(timeout=30_000)
    box.fill(str(log))
    box.press("Enter")
    assert wait_for_redraw(page, "").startswith("the whole run:")


def drag_box(page: Page, first: float, last: float, release: bool = True) -> None:
    """Drag a box over the loss chart from step `first` to step `last`, at mid height of its widest panel
    (all panels share one step axis; the lr strip spans the chart); with release=False the mouse button is
    left down (the caller releases it, e.g. to time from there)."""
    geometry = page.evaluate(
        """sel => { const gd = document.querySelector(sel);
        const r = [...gd.querySelectorAll('.nsewdrag')].map(e => e.getBoundingClientRect())
            .reduce((a, b) => (b.width > a.width ? b : a)); const x = gd._fullLayout.xaxis;
        return {left: r.left, top: r.top, w: r.width, h: r.height, r0: x.range[0], r1: x.range[1]}; }""",
        CHART,
    )
    g = geometry

    def px(step: float) -> float:
        return g["left"] + (step - g["r0"]) / (g["r1"] - g["r0"]) * g["w"]

    y = g["top"] + g["h"] / 2
    page.mouse.move(px(first), y)
    page.mouse.down()
    page.mouse.move((px(first) + px(last)) / 2, y, steps=5)
    page.mouse.move(px(last), y, steps=5)
    if release:
        page.mouse.up()


def shown_window(page: Page) -> tuple[int, int]:
    """The window the step inputs show."""
    first = page.get_by_role("spinbutton", name="from step").input_value()
    last = page.get_by_role("spinbutton", name="to step").input_value()
    return int(first.replace(",", "")), int(last.replace(",", ""))


def drawn_x(page: Page) -> dict[str, np.ndarray]:
    """Each trace's x values as the browser holds them, by trace name."""
    traces = page.evaluate(
        "sel => document.querySelector(sel)._fullData.map(t => [t.name, Array.from(t.x)])", CHART
    )
    return {name: np.asarray(x) for name, x in traces}


def _x_range(page: Page) -> list[float]:
    return page.evaluate("sel => document.querySelector(sel)._fullLayout.xaxis.range", CHART)


def test_zooming_by_box_draws_every_spike_of_the_window(
    zoom_server: tuple[str, Path], page: Page, artifacts: Path
) -> None:
    url, log = zoom_server
    open_log(page, url, log)

    # A box over about a tenth of the run: 2,000 points stand for ~100,000 steps, the spikes among them.
    before = chart_caption(page)
    drag_box(page, 450_000, 550_000)
    assert wait_for_redraw(page, before).startswith("steps ")
    first, last = shown_window(page)
    assert 440_000 < first < 460_000 and 540_000 < last < 560_000, (first, last)
    bbox = drawn_x(page)["bbox"]
    assert bbox.size < (last - first) / 10 and bbox.min() >= first and bbox.max() <= last
    planted = PLANTED[(PLANTED >= first) & (PLANTED <= last)]
    assert planted.size >= 10 and np.isin(planted, bbox).all(), np.setdiff1d(planted, bbox)

    # A box of ~1,000 steps inside it: every step of the window is drawn.
    before = chart_caption(page)
    drag_box(page, 500_000, 501_000)
    caption = wait_for_redraw(page, before)
    first, last = shown_window(page)
    points = len(WEIGHTS) * (last - first + 1)  # bbox and cls, every step
    assert caption.startswith(f"steps {first:,}–{last:,}: {points:,} of {points:,} points drawn"), caption
    assert 499_800 < first < 500_137 and 500_777 < last < 501_200, (first, last)
    drawn = drawn_x(page)
    np.testing.assert_array_equal(drawn["bbox"], np.arange(first, last + 1))
    assert np.isin([500_137, 500_400, 500_401, 500_777], drawn["bbox"]).all()
    for name, x in drawn.items():
        assert x.size and x.min() >= first and x.max() <= last, name
    assert _x_range(page) == [first, last]
    assert page.locator(EXCEPTION).count() == 0
    page.screenshot(path=str(artifacts / "loss_zoom.png"), full_page=True)

    before = chart_caption(page)
    page.get_by_role("button", name="Full range").click()
    assert wait_for_redraw(page, before).startswith("the whole run:")
    assert drawn_x(page)["bbox"].max() == STEPS
