"""A real browser on the error-analysis views: the Episodes page's errors, coverage, PR and confusion tabs,
and Compare's A-vs-B error breakdown, each drawn as a chart, no exception box."""

from __future__ import annotations

from pathlib import Path

import pytest

from .selectors import CHART, EXCEPTION, needs_demo_checkpoints, wait_until_idle

pytestmark = [pytest.mark.slow, pytest.mark.browser, needs_demo_checkpoints]

TAB_PANEL = '[data-testid="stTabs"] [role="tabpanel"]:not([hidden])'


def _set_number(page, label: str, value: int) -> None:
    """Types `value` into the main area's number input labelled `label`, and waits for the rerun."""
    box = (
        page.locator('[data-testid="stMain"] [data-testid="stNumberInput"]')
        .filter(has=page.get_by_text(label, exact=True))
        .locator("input")
        .last
    )
    box.fill(str(value))
    box.press("Enter")
    wait_until_idle(page, 120_000)


def test_episodes_page_draws_errors_coverage_and_curves(app_url: str, page, artifacts: Path) -> None:
    page.goto(app_url + "/Episodes")
    page.wait_for_selector("h3", timeout=120_000)
    wait_until_idle(page, 120_000)
    _set_number(page, "Episodes", 6)
    page.get_by_text("Break the errors down and measure the assignment").click()
    wait_until_idle(page, 240_000)
    for tab in ("Errors (TIDE)", "Assignment coverage", "PR and confusion"):
        page.get_by_role("tab", name=tab).click()
        page.wait_for_selector(f"{TAB_PANEL} {CHART}", timeout=60_000)
    assert page.locator(EXCEPTION).count() == 0
    page.screenshot(path=str(artifacts / "episodes_lab.png"), full_page=True)


def test_compare_page_draws_a_vs_b_errors(app_url: str, page, artifacts: Path) -> None:
    page.goto(app_url + "/Compare")
    page.wait_for_selector("h3", timeout=120_000)
    wait_until_idle(page, 180_000)
    page.get_by_role("tab", name="Aggregate").click()
    _set_number(page, "Episodes", 6)
    page.get_by_text("Which kind of error costs the AP").wait_for(timeout=180_000)
    page.wait_for_selector(f"{TAB_PANEL} {CHART}", timeout=60_000)
    assert (
        page.get_by_text("what to look at").count() >= 1
        or page.locator('[data-testid="stDataFrame"]').count() >= 2
    )
    assert page.locator(EXCEPTION).count() == 0
    page.screenshot(path=str(artifacts / "compare_lab.png"), full_page=True)
