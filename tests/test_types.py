"""mypy over inspector/ as pyproject.toml configures it (disallow_untyped_defs, warn_unused_ignores).

mypy is a dev requirement pinned in requirements-dev.txt, so README's test command type-checks the package.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_mypy_finds_no_error_in_the_package():
    done = subprocess.run(
        [sys.executable, "-m", "mypy", "--no-error-summary"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-2000:]
