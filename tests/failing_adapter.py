"""A user adapter (`--adapter failing_adapter:make`) for tests/test_executor_ray.py: the reference detector,
except that predicting the episode at position FAIL_AT raises, and each such attempt is appended to the file
INSPECTOR_TEST_FAILURES names (so a test can count the attempts its Ray task made)."""

from __future__ import annotations

import os

from inspector.adapters import ReferenceDetector

FAIL_AT = 1


class FailingDetector(ReferenceDetector):
    def predict(self, episode, *args, **kwargs):
        if episode.index == FAIL_AT:
            log = os.environ.get("INSPECTOR_TEST_FAILURES")
            if log:
                with open(log, "a") as f:
                    f.write(f"{os.getpid()}\n")
            raise RuntimeError(f"injected failure at episode {episode.index}")
        return super().predict(episode, *args, **kwargs)


def make(path: str) -> FailingDetector:
    return FailingDetector(path)
