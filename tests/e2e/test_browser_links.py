"""Deep links in a real browser: a URL with `run=demo:NAME` opens that run; the run and the URL persist while
the user moves between pages; the episode index survives a reload; the link to the view is offered."""

from __future__ import annotations

from urllib.parse import parse_qs, urlparse

import pytest

from inspector.ui.sources import demo_runs

from .selectors import EXCEPTION, needs_demo_checkpoints, wait_until_idle

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(len(demo_runs()) < 2, reason="the bundled demo has two runs"),
]
OTHER_RUN = "fixed"  # not the run the app opens on (troubled)
SIDEBAR = '[data-testid="stSidebar"]'


def query(page) -> dict[str, list[str]]:
    return parse_qs(urlparse(page.url).query)


def wait_for_query(page, param: str, value: str, timeout_ms: int = 60_000) -> None:
    page.wait_for_function(
        "([p, v]) => new URLSearchParams(location.search).get(p) === v",
        arg=[param, value],
        timeout=timeout_ms,
    )


def selected_run(page) -> str:
    """The run picker's demo selectbox as drawn (its combobox's value)."""
    return page.locator(SIDEBAR).get_by_role("combobox", name="Run: demo run").input_value()


def go_to(page, label: str, title: str) -> None:
    """Follow the sidebar's page link `label`; wait for the page titled `title` to be drawn."""
    page.locator(f'{SIDEBAR} [data-testid="stPageLink"]').get_by_text(label, exact=True).click()
    page.wait_for_function(
        "t => document.querySelector('h1')?.innerText.includes(t)", arg=title, timeout=60_000
    )
    wait_until_idle(page, 120_000)


def test_a_deep_link_opens_its_run_and_the_run_and_url_persist_across_pages(app_url, page) -> None:
    page.goto(f"{app_url}/Loss_curves?run=demo:{OTHER_RUN}")
    page.wait_for_selector('[data-testid="stPlotlyChart"]', timeout=120_000)
    wait_until_idle(page, 120_000)
    assert OTHER_RUN in selected_run(page)
    wait_for_query(page, "run", f"demo:{OTHER_RUN}")
    assert query(page).get("view") == ["weighted"]

    go_to(page, "Episodes", "Episodes")
    wait_for_query(page, "run", f"demo:{OTHER_RUN}")  # the page has no run picker, the URL keeps the run
    assert "/Episodes" in page.url

    go_to(page, "Overview", "inspector")
    page.wait_for_function(
        "r => document.body.innerText.includes('Run: demo/' + r)", arg=OTHER_RUN, timeout=120_000
    )
    assert OTHER_RUN in selected_run(page)
    wait_for_query(page, "run", f"demo:{OTHER_RUN}")
    assert page.locator(EXCEPTION).count() == 0


def test_choosing_a_run_updates_the_url_and_the_link_to_this_view(app_url, page) -> None:
    page.goto(app_url)
    wait_for_query(page, "run", "demo:troubled", timeout_ms=120_000)
    wait_until_idle(page, 120_000)
    page.locator(SIDEBAR).get_by_role("combobox", name="Run: demo run").click()
    page.get_by_role("option", name=OTHER_RUN).click()
    wait_for_query(page, "run", f"demo:{OTHER_RUN}")
    wait_until_idle(page, 120_000)
    link = link_to_this_view(page)
    assert urlparse(link).netloc == urlparse(app_url).netloc and urlparse(link).path == "/"
    assert parse_qs(urlparse(link).query)["run"] == [f"demo:{OTHER_RUN}"]
    go_to(page, "Loss curves", "Loss curves")
    link = link_to_this_view(page)
    assert urlparse(link).path == "/Loss_curves"  # the page named once
    assert parse_qs(urlparse(link).query)["run"] == [f"demo:{OTHER_RUN}"]


def link_to_this_view(page) -> str:
    """Open the sidebar's "Link to this view" and read the URL it offers."""
    page.locator(SIDEBAR).get_by_text("Link to this view").click()
    code = page.locator('[data-testid="stPopoverBody"] code').first
    code.wait_for(timeout=30_000)
    link = code.inner_text()
    page.keyboard.press("Escape")
    return link


@needs_demo_checkpoints
@pytest.mark.slow
def test_a_reload_keeps_the_episode(app_url, page) -> None:
    page.goto(f"{app_url}/Episodes?episode=2")
    page.wait_for_function("() => document.body.innerText.includes('Episode 2:')", timeout=180_000)
    wait_until_idle(page, 180_000)
    wait_for_query(page, "episode", "2")
    page.reload()
    page.wait_for_function("() => document.body.innerText.includes('Episode 2:')", timeout=180_000)
    assert page.locator(EXCEPTION).count() == 0


def test_settings_survive_a_visit_to_another_page(app_url, page) -> None:
    """A loss-curve setting (log y) and the values radio are as the user left them after visiting Overview."""
    page.goto(f"{app_url}/Loss_curves")
    page.wait_for_selector('[data-testid="stPlotlyChart"]', timeout=120_000)
    wait_until_idle(page, 120_000)
    page.locator(SIDEBAR).get_by_text("Log y axis", exact=True).click()
    page.locator(SIDEBAR).get_by_text("raw", exact=True).click()
    wait_for_query(page, "view", "raw")
    wait_until_idle(page, 120_000)
    go_to(page, "Overview", "inspector")
    go_to(page, "Loss curves", "Loss curves")
    assert page.locator(SIDEBAR).get_by_role("checkbox", name="Log y axis").is_checked()
    assert page.locator(SIDEBAR).get_by_role("radio", name="raw").is_checked()
    wait_for_query(page, "view", "raw")
