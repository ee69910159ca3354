"""A real browser follows a run while it grows, and opens a run from object storage (moto's S3 server on
localhost): the chart's last step advances with the log, and an s3:// run is read and named by its URL."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from inspector.runlog import RunWriter

from .selectors import EXCEPTION, wait_until_idle
from .server import streamlit_server

pytestmark = [pytest.mark.browser]
pytest_plugins = ["tests.s3_server"]

BUCKET = "live-runs"
OVERVIEW_CHART = ".st-key-small_multiples .js-plotly-plot"
# The largest step any trace of the overview's component chart draws.
# (_fullData: the traces as plotly decoded them; `data` keeps the figure's base64 "bdata" arrays.)
LAST_DRAWN = """sel => { const gd = document.querySelector(sel); if (!gd || !gd._fullData) return null;
    return Math.max(...gd._fullData.flatMap(t => Array.from(t.x || []).map(Number))); }"""


def write_steps(path: Path, first: int, last: int) -> None:
    config = {"loss_weights": {"bbox": 7.5, "cls": 0.5}} if first == 0 else None
    with RunWriter(path, config=config) as log:
        for step in range(first, last):
            log.step(step, losses={"bbox": 1.0 / (step + 1) + 0.1, "cls": 0.5}, lr=1e-3)


@pytest.fixture(scope="module")
def live_server(tmp_path_factory: pytest.TempPathFactory, s3_server: str):
    """A server whose roots are a local folder and s3://live-runs/team on the moto server; yields (url,
    folder)."""
    from tests.s3_server import make_bucket

    root = tmp_path_factory.mktemp("live")
    make_bucket(s3_server, BUCKET)
    env = dict(
        os.environ,
        PYTHONUNBUFFERED="1",
        INSPECTOR_ROOTS=f"{root}{os.pathsep}s3://{BUCKET}/team",
        INSPECTOR_REMOTE_CACHE=str(root / "remote-cache"),
    )
    with streamlit_server(root / "streamlit.log", env=env) as url:
        yield url, root


def open_server_path(page, url: str, text: str) -> None:
    page.goto(url)
    sidebar = page.locator('[data-testid="stSidebar"]')
    sidebar.get_by_text("server path", exact=True).first.click()
    box = sidebar.locator('[data-testid="stTextInput"] input').first
    box.wait_for(timeout=30_000)
    box.fill(text)
    box.press("Enter")


def test_a_followed_run_grows_while_the_page_is_open(live_server, page, artifacts: Path) -> None:
    url, root = live_server
    log = root / "growing.jsonl"
    write_steps(log, 0, 200)
    open_server_path(page, url, str(log))
    page.wait_for_function(f"sel => ({LAST_DRAWN})(sel) === 199", arg=OVERVIEW_CHART, timeout=60_000)
    page.locator('[data-testid="stSidebar"]').get_by_text("Follow (live reload)").click()
    page.get_by_text("Following · last step 199").wait_for(timeout=60_000)
    for last in (400, 650):
        write_steps(log, last - 200 if last == 400 else 400, last)
        # The fragment polls every 5 s: the caption and the chart move on without any click.
        page.get_by_text(f"Following · last step {last - 1:,}").wait_for(timeout=60_000)
        page.wait_for_function(
            f"sel => ({LAST_DRAWN})(sel) === {last - 1}", arg=OVERVIEW_CHART, timeout=60_000
        )
    page.screenshot(path=str(artifacts / "live_follow.png"), full_page=True)
    assert page.locator(EXCEPTION).count() == 0


def test_an_s3_run_opens_from_the_object_store(
    live_server, s3_server: str, page, artifacts: Path, tmp_path
) -> None:
    from tests.s3_server import put

    url, _ = live_server
    local = tmp_path / "log.jsonl"
    write_steps(local, 0, 321)
    put(s3_server, BUCKET, "team/exp7/log.jsonl", local.read_bytes())
    open_server_path(page, url, f"s3://{BUCKET}/team/exp7/log.jsonl")
    page.get_by_text(f"Run: s3://{BUCKET}/team/exp7/log.jsonl").wait_for(timeout=60_000)
    page.wait_for_function(f"sel => ({LAST_DRAWN})(sel) === 320", arg=OVERVIEW_CHART, timeout=60_000)
    wait_until_idle(page, 60_000)
    page.screenshot(path=str(artifacts / "live_s3.png"), full_page=True)
    assert page.locator(EXCEPTION).count() == 0
    # Outside the remote root: refused with a message, no traceback.
    open_server_path(page, url, f"s3://{BUCKET}/elsewhere/log.jsonl")
    page.get_by_text("outside the allowed remote roots").first.wait_for(timeout=30_000)
    assert page.locator(EXCEPTION).count() == 0
