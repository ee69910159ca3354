"""A real browser on the Compare page at 1600×1000: its aggregate table shows every row (per-class APs and
loss terms included) without an inner scrollbar, and the Δ column's header says how to read its colour."""

from __future__ import annotations

from pathlib import Path

import pytest

from .selectors import EXCEPTION, needs_demo_checkpoints, wait_until_idle

pytestmark = [pytest.mark.slow, pytest.mark.browser, needs_demo_checkpoints]
SHOWN_TABLE = '[role="tabpanel"]:visible [data-testid="stDataFrame"]'
# The first table of the open tab, once its grid has drawn its accessible table.
DRAWN = """() => {
  const panel = [...document.querySelectorAll('[role=tabpanel]')].find(p => p.offsetParent !== null);
  const grid = panel && panel.querySelector('[data-testid=stDataFrame]');
  return !!(grid && grid.querySelector('table[role=grid]') && grid.querySelector('.dvn-scroller'));
}"""
# The grid's rows as its accessible table lists them (every row, drawn or not), and its scroller's heights.
GRID = """e => ({
  rows: +e.querySelector('table[role=grid]').getAttribute('aria-rowcount'),
  header: [...e.querySelector('table[role=grid] tr').children].map(c => c.textContent),
  first: [...e.querySelectorAll('table[role=grid] tr')].map(r => r.children[0].textContent),
  scroll: e.querySelector('.dvn-scroller').scrollHeight,
  client: e.querySelector('.dvn-scroller').clientHeight,
})"""


def test_the_aggregate_shows_every_row_and_says_which_way_is_better(
    app_url: str, browser, artifacts: Path
) -> None:
    context = browser.new_context(viewport={"width": 1600, "height": 1000})
    page = context.new_page()
    try:
        page.goto(app_url + "/Compare")
        page.wait_for_selector(SHOWN_TABLE, timeout=180_000)  # the Episode tab's A vs B table
        wait_until_idle(page, 180_000)
        page.wait_for_function(DRAWN, timeout=60_000)
        episode = page.locator(SHOWN_TABLE).first.evaluate(GRID)
        assert "better" in episode["header"] and "FP" in episode["first"]
        page.get_by_role("tab", name="Aggregate").click()
        page.get_by_text("CI [").first.wait_for(timeout=180_000)
        wait_until_idle(page, 180_000)
        page.wait_for_function(DRAWN, timeout=60_000)
        grid = page.locator(SHOWN_TABLE).first.evaluate(GRID)
        assert grid["header"] == ["metric", "better", "A", "B", "Δ (B − A), green = better"], grid["header"]
        assert any(f.startswith("AP@0.5 · ") for f in grid["first"])  # the per-class rows
        assert any(f.startswith("loss ") and f.endswith("(weighted)") for f in grid["first"])
        assert grid["rows"] > 20 and grid["scroll"] <= grid["client"], grid  # no inner scrollbar
        assert page.locator(EXCEPTION).count() == 0
        page.screenshot(path=str(artifacts / "compare_aggregate_table.png"), full_page=True)
    finally:
        context.close()
