"""The tree passes `ruff check` (E, F, I, B, UP; pyproject.toml) and is as `ruff format` writes it.

ruff is a dev requirement pinned in requirements-dev.txt, so README's test command runs the lint with the
suite; `ruff format --check` output changes between releases, hence the pin.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _ruff(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ruff", *args], cwd=REPO, capture_output=True, text=True, timeout=120
    )


def test_ruff_check_is_clean():
    done = _ruff("check", "--output-format", "concise", ".")
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]


def test_the_tree_is_ruff_formatted():
    done = _ruff("format", "--check", ".")
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
