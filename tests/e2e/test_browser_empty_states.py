"""The empty and error states in a real browser, all in the main area: upload chosen with nothing uploaded
says what to upload; a file that is not a log is named by its own name, with what it looks like and what
was expected; a missing server path is "not found", one outside the roots says so."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from .selectors import EXCEPTION, wait_until_idle
from .server import streamlit_server

pytestmark = [pytest.mark.browser]
SIDEBAR = '[data-testid="stSidebar"]'
MAIN = '[data-testid="stMain"]'


@pytest.fixture(scope="module")
def rooted_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """A server whose only root is a fresh folder (plus nothing else); yields (url, root)."""
    root = tmp_path_factory.mktemp("roots")
    env = dict(os.environ, PYTHONUNBUFFERED="1", INSPECTOR_ROOTS=str(root))
    with streamlit_server(root.parent / "empty-states.log", env=env) as url:
        yield url, root


def choose_source(page, kind: str) -> None:
    page.locator(SIDEBAR).get_by_text(kind, exact=True).first.click()
    wait_until_idle(page, 60_000)


def main_text(page) -> str:
    return page.locator(MAIN).inner_text()


def wait_for_main(page, text: str, timeout_ms: int = 60_000) -> None:
    """Wait until the main area shows `text` (a click's rerun may start after the click returns)."""
    page.wait_for_function(
        "t => document.querySelector('[data-testid=\"stMain\"]').innerText.includes(t)",
        arg=text,
        timeout=timeout_ms,
    )


def open_overview(page, url: str) -> None:
    page.goto(url)
    page.wait_for_selector('[data-testid="stPlotlyChart"]', timeout=120_000)  # the demo run drawn
    wait_until_idle(page, 120_000)


def test_upload_with_nothing_uploaded_says_what_to_upload(rooted_server, page) -> None:
    url, _ = rooted_server
    open_overview(page, url)
    choose_source(page, "upload")
    wait_for_main(page, "Upload a training log")
    text = main_text(page)
    for what in ("TensorBoard event file", "Ultralytics results.csv", "Detectron2 metrics.json", "MMEngine"):
        assert what in text


def test_a_file_that_is_not_a_log_is_named_and_explained(rooted_server, page) -> None:
    url, _ = rooted_server
    open_overview(page, url)
    choose_source(page, "upload")
    page.locator(f"{SIDEBAR} input[type=file]").first.set_input_files(
        [
            {
                "name": "holiday-notes.txt",
                "mimeType": "text/plain",
                "buffer": b"packed the tent\nforgot the map\n",
            }
        ]
    )
    wait_for_main(page, "Cannot read")
    text = main_text(page)
    assert "holiday-notes.txt: not a training log" in text
    assert "plain text" in text and "Expected one of" in text
    assert "/sets/" not in text and "uploads" not in text.lower().replace("upload a", "")  # no store path
    assert page.locator(EXCEPTION).count() == 0


def test_a_missing_server_path_is_not_found_and_one_outside_the_roots_says_so(rooted_server, page) -> None:
    url, root = rooted_server
    open_overview(page, url)
    choose_source(page, "server path")
    wait_for_main(page, "INSPECTOR_ROOTS")  # the empty path input: what to type
    box = page.locator(SIDEBAR).get_by_label("Run: path on the server", exact=True)
    box.fill(str(root / "no-such-run" / "results.csv"))
    box.press("Enter")
    wait_for_main(page, "no such file")
    assert "outside the allowed roots" not in main_text(page)
    box.fill("/etc/hostname")
    box.press("Enter")
    wait_for_main(page, "outside the allowed")
    assert page.locator(EXCEPTION).count() == 0
