"""A real browser on the Loss balance page: the demo's troubled checkpoint measured, its share chart drawn,
no exception box; its button opens the Loss curves page's what-if with the measured preset."""

from __future__ import annotations

from pathlib import Path

import pytest

from .selectors import CHART, EXCEPTION, needs_demo_checkpoints, wait_until_idle

pytestmark = [pytest.mark.slow, pytest.mark.browser, needs_demo_checkpoints]


def test_balance_page_draws_the_shares_and_hands_its_weights_to_the_loss_curves(
    app_url: str, page, artifacts: Path
) -> None:
    page.goto(app_url + "/Balance")
    page.get_by_text("of the gradient on the last shared layer").first.wait_for(
        timeout=120_000
    )  # the verdict
    wait_until_idle(page, 120_000)
    page.wait_for_selector(CHART, timeout=60_000)
    assert page.locator(CHART).count() >= 3  # shares, cosine heatmap, predicted shares
    assert page.locator(EXCEPTION).count() == 0
    page.screenshot(path=str(artifacts / "balance.png"), full_page=True)
    page.get_by_role("button", name="Try equal gradient shares on the Loss curves page").click()
    page.get_by_text("share of gradient").first.wait_for(timeout=60_000)  # predicted shares: the preset's
    wait_until_idle(page, 60_000)
    assert "/Loss_curves" in page.url
    assert page.locator(EXCEPTION).count() == 0
    page.get_by_text("What if the weights were different?").scroll_into_view_if_needed()
    page.screenshot(path=str(artifacts / "balance_whatif.png"), full_page=True)
