"""What the browser tests look for on a Streamlit page, and the mark for tests that need the demo's
checkpoints."""

from __future__ import annotations

import pytest

from inspector.paths import DEMO_DIR

CHART = '[data-testid="stPlotlyChart"] .js-plotly-plot'
OVERLAY = '[data-testid="stMain"] [data-testid="stImage"] img'
EXCEPTION = '[data-testid="stException"]'
IDLE = '[data-testid="stApp"][data-test-script-state="notRunning"]'

needs_demo_checkpoints = pytest.mark.skipif(
    not any((DEMO_DIR / "runs").glob("*/*.pt")),
    reason="demo/runs has no checkpoint: run `python -m inspector demo` to build the demo the page opens on",
)


def wait_until_idle(page, timeout_ms: int) -> None:
    """Waits until the script run has finished. Streamlit marks its root element with the run's state; the
    status widget is no signal, since it shows only after a delay, so a fast check can pass before it does."""
    page.wait_for_selector(IDLE, state="attached", timeout=timeout_ms)
