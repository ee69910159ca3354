"""bench/fuzz.py loaded as a module, for the tests that draw on its mutation catalogue and generators, and the
Hypothesis settings every property test of a reader runs under."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

from hypothesis import HealthCheck, settings

REPO = Path(__file__).resolve().parents[1]


def load_fuzz():
    """bench/fuzz.py as the module `inspector_bench_fuzz` (loaded once per interpreter)."""
    if "inspector_bench_fuzz" in sys.modules:
        return sys.modules["inspector_bench_fuzz"]
    spec = importlib.util.spec_from_file_location("inspector_bench_fuzz", REPO / "bench" / "fuzz.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


def replayable(examples: int, *, slow_ok: bool = False) -> settings:
    """Hypothesis settings for a reader's property test: `examples` cases, the same ones on every run
    (derandomized, so a failure in CI replays here), no deadline (a read under load may take a second), and
    function-scoped fixtures allowed (each case writes under the test's tmp_path)."""
    checks = [HealthCheck.function_scoped_fixture] + ([HealthCheck.too_slow] if slow_ok else [])
    return settings(max_examples=examples, deadline=None, derandomize=True, suppress_health_check=checks)
