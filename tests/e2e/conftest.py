"""Fixtures: a real `streamlit run app.py` server for the session (server.py), Debian's chromium via
Playwright, and a page per test."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from .server import CHROMIUM, CHROMIUM_FLAGS, REPO, streamlit_server

ARTIFACTS = REPO / "artifacts"


@pytest.fixture(scope="session")
def app_url(tmp_path_factory: pytest.TempPathFactory):
    """URL of a `streamlit run app.py --server.headless true` server started for this test session."""
    log_path = tmp_path_factory.mktemp("server") / "streamlit.log"
    with streamlit_server(log_path, env=dict(os.environ, PYTHONUNBUFFERED="1")) as url:
        yield url


@pytest.fixture(scope="session")
def browser():
    """Debian's chromium driven by Playwright (no browser download)."""
    if not shutil.which(CHROMIUM) and not Path(CHROMIUM).exists():
        pytest.fail(f"chromium not found at {CHROMIUM}: run scripts/setup.sh --dev")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        yield b
        b.close()


@pytest.fixture()
def page(browser):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    pg = context.new_page()
    yield pg
    context.close()


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS
