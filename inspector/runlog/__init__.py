"""Training logs in, RunLog out: one reader per format, detected by content."""

from inspector.runlog.record import RunLog, Segment, Series, assemble
from inspector.runlog.registry import detect, formats, read_log, read_logs
from inspector.runlog.writer import RunWriter

__all__ = [
    "RunLog",
    "Segment",
    "Series",
    "RunWriter",
    "assemble",
    "detect",
    "formats",
    "read_log",
    "read_logs",
]
