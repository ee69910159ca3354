"""bench/fuzz.py loaded as a module, for the tests that draw on its mutation catalogue and generators."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

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
