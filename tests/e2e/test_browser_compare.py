"""A real browser on the Compare page: A and B overlays side by side,
the aggregate table, no exception box."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from .selectors import EXCEPTION, OVERLAY, needs_demo_checkpoints, wait_until_idle

pytestmark = [pytest.mark.slow, pytest.mark.browser, needs_demo_checkpoints]


def _first_overlay(page, side: str):
    """The first overlay image captioned for checkpoint `side` ("A · <image id> · <n> FP")."""
    images = page.locator('[data-testid="stMain"] [data-testid="stImage"]')
    return images.filter(has_text=re.compile(rf"^{side} · ")).first.locator("img")


def test_compare_shows_two_overlays_and_the_aggregate(app_url: str, page, artifacts: Path) -> None:
    page.goto(app_url + "/Compare")
    page.wait_for_function(
        "() => [...document.querySelectorAll('h3')].some(h => h.innerText.startsWith('Episode 0:'))",
        timeout=120_000,
    )
    page.wait_for_selector(OVERLAY, timeout=120_000)
    wait_until_idle(page, 180_000)
    left, right = (_first_overlay(page, side).bounding_box() for side in ("A", "B"))
    assert left and right, "expected A's and B's overlay"
    assert abs(left["y"] - right["y"]) < 5 and right["x"] > left["x"] + left["width"] / 2  # side by side
    page.get_by_role("tab", name="Aggregate").click()
    page.get_by_text("Over 100 episodes").wait_for(timeout=180_000)
    page.get_by_text("CI [").first.wait_for(timeout=60_000)
    assert page.locator('[data-testid="stDataFrame"]').count() >= 1
    assert page.locator(EXCEPTION).count() == 0
    page.screenshot(path=str(artifacts / "compare.png"), full_page=True)
