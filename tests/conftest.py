"""Shared fixtures: where the maintainers' real sample logs live."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
# A byte-exact copy of ../shared/samples (see tests/samples/SOURCES.md) so a clean clone tests itself.
SAMPLES = Path(os.environ.get("INSPECTOR_SAMPLES", REPO / "tests" / "samples"))


@pytest.fixture(scope="session")
def samples() -> Path:
    """The directory of real public training logs (tests/samples); tests using it skip without it."""
    if not SAMPLES.is_dir():
        pytest.skip(f"sample logs not found at {SAMPLES}")
    return SAMPLES
