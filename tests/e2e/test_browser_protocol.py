"""A real browser on the Compare page's K-shot × seeds tab: the form runs the protocol for A and B, the
verdict names each K, the per-seed chart and the tables are drawn, no exception box."""

from __future__ import annotations

from pathlib import Path

import pytest

from .selectors import CHART, EXCEPTION, needs_demo_checkpoints, wait_until_idle

pytestmark = [pytest.mark.slow, pytest.mark.browser, needs_demo_checkpoints]


def test_protocol_tab_gives_a_verdict_per_k(app_url: str, page, artifacts: Path) -> None:
    page.goto(app_url + "/Compare")
    # clicked while the page first loads, as an eager user would: the sidebar's episode shape must survive
    # (the browser once sent back the inputs' minimums, 1-way 1-shot, 0 queries: see episode_settings)
    page.get_by_role("tab", name="K-shot × seeds").click()
    page.get_by_role("button", name="Run the protocol").wait_for(timeout=180_000)
    page.get_by_label("K-shot", exact=True).fill("1,2")
    page.get_by_label("Seeds", exact=True).fill("0,1")
    episodes = page.get_by_label("Episodes per cell")
    episodes.fill("3")
    episodes.press("Tab")
    page.get_by_role("button", name="Run the protocol").click()
    page.get_by_text("K=1: ").wait_for(timeout=240_000)
    page.get_by_text("K=2: ").wait_for(timeout=60_000)
    wait_until_idle(page, 120_000)
    said = page.locator('[data-testid="stAlert"]').all_inner_texts()
    verdicts = [t for t in said if t.startswith("K=")]
    assert len(verdicts) == 2 and all("over 2 seed(s) × 3 episodes" in t for t in verdicts), said
    page.locator(CHART).first.wait_for(timeout=60_000)  # drawn after the verdicts, in the same run
    assert page.locator('[data-testid="stDataFrame"]').count() >= 2
    assert page.locator(EXCEPTION).count() == 0
    page.screenshot(path=str(artifacts / "compare_protocol.png"), full_page=True)
