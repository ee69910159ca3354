"""The local pool: every task in this process, one after another, with the process's torch threads."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

from inspector.executors.progress import Progress

T = TypeVar("T")
R = TypeVar("R")


class LocalPool:
    """Runs each task in turn here; a task's exception is the command's (InspectorError: exit 2)."""

    workers = 1  # one at a time: shards here only split the work, they do not speed it up

    def __init__(self, command: str):
        self.command = command

    def map(self, fn: Callable[[T], R], items: Sequence[T], labels: Sequence[str]) -> list[R]:
        progress = Progress(self.command, len(items))
        out = []
        for item in items:
            out.append(fn(item))
            progress.step()
        return out
