"""Shared fixtures: where the maintainers' real sample logs live."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
# A byte-exact copy of ../shared/samples (see tests/samples/SOURCES.md) so a clean clone tests itself.
SAMPLES = Path(os.environ.get("INSPECTOR_SAMPLES", REPO / "tests" / "samples"))
# The Compare page evaluates its aggregate ahead only in the tests of that (tests/test_compare.py): elsewhere
# each page opened would leave a 100-episode evaluation running in the shared worker, behind which the next
# test's own would wait.
os.environ.setdefault("INSPECTOR_EVALUATE_AHEAD", "0")


@pytest.fixture(scope="session")
def samples() -> Path:
    """The directory of real public training logs (tests/samples); tests using it skip without it."""
    if not SAMPLES.is_dir():
        pytest.skip(f"sample logs not found at {SAMPLES}")
    return SAMPLES


@pytest.fixture(scope="module")
def one_torch_thread():
    """One torch thread for a module: on a shared 2-core machine two threads each wait on the other's core."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
