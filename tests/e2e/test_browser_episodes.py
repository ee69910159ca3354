"""A real browser on the Episodes page: Next then Prev change the overlay and bring it back, no exception
box."""

from __future__ import annotations

from pathlib import Path

import pytest

from .selectors import EXCEPTION, OVERLAY, needs_demo_checkpoints, wait_until_idle

pytestmark = [pytest.mark.slow, pytest.mark.browser, needs_demo_checkpoints]


def _heading(page) -> str:
    return page.locator("h3").filter(has_text="Episode").first.inner_text()


def _overlay_src(page) -> str:
    return page.locator(OVERLAY).last.get_attribute("src") or ""


def _wait_for_episode(page, n: int) -> None:
    """Waits for episode n's heading, then for the rerun to finish: until it does, images further down are
    the previous episode's (streamlit replaces elements one by one)."""
    page.wait_for_function(
        "n => [...document.querySelectorAll('h3')].some(h => h.innerText.startsWith('Episode ' + n + ':'))",
        arg=n,
        timeout=60_000,
    )
    wait_until_idle(page, 60_000)
    page.wait_for_selector(OVERLAY, timeout=60_000)
    last, stable = None, 0
    for _ in range(60):
        src = _overlay_src(page)
        stable = stable + 1 if src and src == last else 0
        if stable >= 3:
            return
        last = src
        page.wait_for_timeout(250)


def test_next_then_prev_changes_the_overlay(app_url: str, page, artifacts: Path) -> None:
    page.goto(app_url + "/Episodes")
    _wait_for_episode(page, 0)
    first = _overlay_src(page)
    page.get_by_role("button", name="Next ▶").click()
    _wait_for_episode(page, 1)
    second = _overlay_src(page)
    assert second and second != first
    page.get_by_role("button", name="◀ Prev").click()
    _wait_for_episode(page, 0)
    assert _overlay_src(page) == first
    assert page.locator(EXCEPTION).count() == 0
    page.screenshot(path=str(artifacts / "episodes.png"), full_page=True)
