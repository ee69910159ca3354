"""TensorBoard event records as TensorBoard writes them: scalar events framed by tensorboard's own
RecordWriter (length, masked CRCs, payload), for the tests and benches that grow event files."""

from __future__ import annotations

from tensorboard.compat.proto import event_pb2, summary_pb2
from tensorboard.summary.writer.record_writer import RecordWriter


def scalar_event(step: int, tag: str, value: float, wall_time: float | None = None) -> bytes:
    """One serialized Event holding one `simple_value` scalar."""
    summary = summary_pb2.Summary(value=[summary_pb2.Summary.Value(tag=tag, simple_value=value)])
    wall = 1e9 + step if wall_time is None else wall_time
    return event_pb2.Event(wall_time=wall, step=step, summary=summary).SerializeToString()


def version_event() -> bytes:
    """The file_version event a writer starts each event file with."""
    return event_pb2.Event(wall_time=1e9, file_version="brain.Event:2").SerializeToString()


class _Sink:
    """A file-like object collecting what RecordWriter frames."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []

    def write(self, b: bytes) -> None:
        self.parts.append(b)

    def flush(self) -> None:
        pass


def framed(events: list[bytes]) -> bytes:
    """The events as the bytes of an event file."""
    sink = _Sink()
    writer = RecordWriter(sink)
    for e in events:
        writer.write(e)
    return b"".join(sink.parts)
