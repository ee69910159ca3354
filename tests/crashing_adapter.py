"""A user adapter (`crashing_adapter:make`) for tests/test_compare_worker.py: loading a checkpoint ends the
interpreter at once with status 3, as a checkpoint that crashes a native library would."""

from __future__ import annotations

import os


def make(path: str) -> object:
    os._exit(3)
