"""The one error type users see."""

from __future__ import annotations

import os


class InspectorError(Exception):
    """Bad input, explained: the message names the file (and line) and the problem.

    Raised where input enters inspector (a log, a checkpoint, a dataset, a path); the app and
    the CLI show its message as is, never a traceback.
    """

    def __init__(self, message: str, *, path: str | os.PathLike | None = None, line: int | None = None):
        self.path = None if path is None else os.fspath(path)
        self.line = line
        where = ""
        if self.path is not None:
            where = f"{self.path}"
            if line is not None:
                where += f", line {line}"
            where += ": "
        super().__init__(where + message)
        self.reason = message
