"""Following a run while it trains: incremental re-reads of a growing log (local or mirrored from object
storage), and how fresh the data is."""

from inspector.live.follow import Follower, Poll, freshness

__all__ = ["Follower", "Poll", "freshness"]
