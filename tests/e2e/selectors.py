"""What the browser tests look for on a Streamlit page, and the mark for tests that need the demo's
checkpoints."""

from __future__ import annotations

import pytest

from inspector.paths import DEMO_DIR

CHART = '[data-testid="stPlotlyChart"] .js-plotly-plot'
OVERLAY = '[data-testid="stMain"] [data-testid="stImage"] img'
EXCEPTION = '[data-testid="stException"]'
RUNNING = '[data-testid="stStatusWidget"]'

needs_demo_checkpoints = pytest.mark.skipif(
    not any((DEMO_DIR / "runs").glob("*/*.pt")),
    reason="demo/runs has no checkpoint: run `python -m inspector demo` to build the demo the page opens on",
)
