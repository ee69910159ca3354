"""The app refuses what it must: an upload over server.maxUploadSize, a path outside INSPECTOR_ROOTS."""

from __future__ import annotations

from pathlib import Path

import pytest

from .selectors import EXCEPTION

pytestmark = [pytest.mark.slow, pytest.mark.browser]
LIMIT_MB = 200  # .streamlit/config.toml server.maxUploadSize


def test_upload_over_the_limit_is_refused_with_a_message(app_url, page, tmp_path: Path) -> None:
    big = tmp_path / "huge_log.jsonl"
    with open(big, "wb") as fh:  # sparse: costs no disk, but its size is over the limit
        fh.truncate((LIMIT_MB + 1) * 1024 * 1024)
    page.goto(app_url)
    page.locator('[data-testid="stSidebar"]').get_by_text("upload", exact=True).first.click()
    page.wait_for_selector('[data-testid="stSidebar"] input[type=file]', state="attached", timeout=30_000)
    page.locator('[data-testid="stSidebar"] input[type=file]').first.set_input_files(str(big))
    page.wait_for_function("() => document.body.innerText.includes('or smaller')", timeout=60_000)
    text = page.inner_text("body")
    assert "File must be" in text and "or smaller" in text
    assert page.locator(EXCEPTION).count() == 0


def test_server_path_outside_the_roots_is_refused(app_url, page) -> None:
    page.goto(app_url)
    page.locator('[data-testid="stSidebar"]').get_by_text("server path", exact=True).first.click()
    box = page.locator('[data-testid="stSidebar"] [data-testid="stTextInput"] input').first
    box.fill("demo/../../../../etc/passwd")  # `..` out of the working directory
    box.press("Enter")
    page.wait_for_function(
        "() => document.body.innerText.includes('outside the allowed roots')", timeout=30_000
    )
    assert page.locator(EXCEPTION).count() == 0
