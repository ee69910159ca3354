"""inspector: tells people who train object detectors why their training misbehaves."""

from inspector.errors import InspectorError

__all__ = ["InspectorError"]
__version__ = "0.1.0"
