"""Hostile uploads in a real browser: each gives a message, and the server stays up for the next session."""

from __future__ import annotations

import json
import re

import pytest

from inspector.uploads import safe_name

from .selectors import CHART, EXCEPTION, wait_until_idle

pytestmark = [pytest.mark.slow, pytest.mark.browser]

ALERT = '[data-testid="stAlert"], [data-testid="stAlertContainer"]'


def _jsonl(rows: int, start: int = 0) -> bytes:
    return b"".join(
        json.dumps({"step": start + i, "loss": 1.0 / (i + 1), "lr": 1e-3}).encode() + b"\n"
        for i in range(rows)
    )


def _padded_to(data: bytes, size: int) -> bytes:
    """`data` plus whitespace-only padding inside its last line, to exactly `size` bytes."""
    assert len(data) < size
    return data[:-1] + b" " * (size - len(data)) + b"\n"


def _nested_line_file() -> bytes:
    good = _jsonl(100)
    nested = b'{"step": 50, "x": ' + b"[" * 30_000 + b"]" * 30_000 + b"}\n"
    lines = good.splitlines(keepends=True)
    return b"".join(lines[:50]) + nested + b"".join(lines[50:])


def _sparse_key_file(rows: int = 20_000) -> bytes:
    # Each row adds 5 keys no other row has (the shape that once cost 4.6 GB from 1.95 MB).
    out = []
    for i in range(rows):
        row = {"step": i, "loss": 1.0}
        row.update({f"k{i}_{j}": float(j) for j in range(5)})
        out.append(json.dumps(row).encode())
    return b"\n".join(out) + b"\n"


def _upload(page, app_url: str, name: str, data: bytes) -> str:
    page.goto(app_url)
    page.wait_for_selector(CHART, timeout=90_000)
    page.locator('[data-testid="stSidebar"]').get_by_text("upload", exact=True).first.click()
    page.wait_for_selector('[data-testid="stSidebar"] input[type=file]', state="attached", timeout=30_000)
    page.locator('[data-testid="stSidebar"] input[type=file]').first.set_input_files(
        [{"name": name, "mimeType": "application/octet-stream", "buffer": data}]
    )
    # The rerun with the upload is done when its run (or a message about it) is on the page and the app no
    # longer shows its running indicator: under load a sparse 2 MB read outlasts any fixed wait.
    page.wait_for_function(
        """label => document.body.innerText.includes("Run: " + label)
                   || document.body.innerText.includes("Cannot read " + label)""",
        arg=safe_name(name),
        timeout=120_000,
    )
    wait_until_idle(page, 120_000)
    page.wait_for_timeout(500)
    warnings = page.get_by_text("Reader warnings")
    if warnings.count():
        warnings.first.click()
        page.wait_for_timeout(500)
    return page.inner_text("body")


CASES = {
    "dotdot_dirsize": lambda: ("..", _padded_to(_jsonl(40), 4096)),
    "dotdot_other": lambda: ("..", _jsonl(10)),
    "nested_line": lambda: ("nested.jsonl", _nested_line_file()),
    "sparse_keys": lambda: ("sparse.jsonl", _sparse_key_file()),
}


@pytest.mark.parametrize("label", list(CASES))
def test_hostile_upload_gives_a_message(app_url, browser, artifacts, label: str) -> None:
    name, data = CASES[label]()
    context = browser.new_context(viewport={"width": 1300, "height": 900})
    try:
        page = context.new_page()
        text = _upload(page, app_url, name, data)
        page.screenshot(path=str(artifacts / f"hostile_{label}.png"))
        assert page.locator(EXCEPTION).count() == 0, f"{label}: a traceback is shown"
        assert "IsADirectoryError" not in text and "inspector-uploads" not in text, label
        if label.startswith("dotdot"):  # read as a log of its own rows, under a plain name
            steps = {"dotdot_dirsize": "40", "dotdot_other": "10"}[label]
            assert "Run: upload" in text and re.search(rf"Steps\s+{steps}\s", text), text[-2000:]
        if label == "nested_line":
            assert "nest" in text.lower() or "deep" in text.lower(), (
                f"no message about the line: {text[-2000:]}"
            )
        if label == "sparse_keys":
            assert "series" in text.lower(), f"no message about the number of series: {text[-2000:]}"
    finally:
        context.close()


def test_the_server_still_serves_a_new_session(app_url, browser) -> None:
    context = browser.new_context(viewport={"width": 1300, "height": 900})
    try:
        page = context.new_page()
        page.goto(app_url)
        page.wait_for_selector(CHART, timeout=90_000)
        assert page.locator(EXCEPTION).count() == 0
    finally:
        context.close()
