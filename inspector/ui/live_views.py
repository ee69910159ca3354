"""Following a run from the app: the sidebar's follow toggle, one shared Follower per log, and the
freshness line ("last step 12,340, data 4 s old") the followed pages show.

The pages re-run their body inside `st.fragment(run_every=…)` while following, so only the run's part of
the page is redrawn at each poll, not the sidebar.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable

import streamlit as st

from inspector.live import Follower, Poll, freshness
from inspector.runlog import RunLog
from inspector.ui.locations import mirror_of
from inspector.ui.run_keys import versioned
from inspector.ui.sources import RunSource

# Seconds between polls offered in the sidebar.
INTERVALS = (1, 2, 5, 10, 30, 60)
DEFAULT_INTERVAL = 5


def follow_interval() -> float | None:
    """The sidebar's "Follow" toggle: the seconds between polls, or None when not following."""
    on = st.sidebar.toggle(
        "Follow (live reload)",
        key="follow",
        help="Re-read the log as the trainer writes it: only the appended bytes are parsed at each poll.",
    )
    if not on:
        return None
    every = st.sidebar.select_slider(
        "Poll every", INTERVALS, value=DEFAULT_INTERVAL, key="follow_every", format_func=lambda s: f"{s} s"
    )
    return float(every)


# One follower per log, shared by the sessions that follow it (a Follower is thread-safe); keyed by the
# paths and format only, since the log's size and mtime change at every write.
@st.cache_resource(max_entries=16, show_spinner=False)
def _follower(paths: tuple[str, ...], fmt: str | None, url: str | None) -> Follower:
    # A remote log is synced (ranged reads of what was appended) before each poll.
    return Follower(paths, format=fmt, mirror=mirror_of(url) if url else None)


def poll_caption(poll: Poll, now: float | None = None) -> str:
    """The line under a followed page's title."""
    how = "appended bytes only" if poll.incremental else "read whole (no incremental reader, or rewritten)"
    polled = time.strftime("%H:%M:%S", time.localtime(poll.polled_at))
    parts = [f"Following · {freshness(poll, now)} · polled {polled}"]
    if poll.changed:
        parts.append(f"{poll.parsed_bytes / 1e3:,.1f} kB parsed ({how})")
    if poll.remote_requests is not None:
        parts.append(f"{poll.remote_requests} request(s), {(poll.remote_bytes or 0) / 1e3:,.1f} kB fetched")
    return " · ".join(parts)


def poll_run(source: RunSource) -> tuple[RunLog | None, str]:
    """Poll the source's log; show the freshness line (and why, when it cannot be read yet).

    Returns the latest log and the key its analyses are cached under (a new one whenever data arrived).
    """
    poll = _follower(source.paths, source.format, source.url).poll()
    st.caption(f":material/sensors: {poll_caption(poll)}")
    if poll.error:
        if poll.log is None:
            st.info(f"Waiting for {source.label}: {poll.error}")
        else:
            st.warning(
                f"The last poll could not read {source.label} ({poll.error}); showing the last good read."
            )
    run = "live-" + hashlib.sha256("\0".join((*source.paths, source.format or "")).encode()).hexdigest()[:16]
    return poll.log, versioned(run, poll.version)


def current_log(
    every: float | None, source: RunSource, load: Callable[[RunSource], RunLog | None]
) -> RunLog | None:
    """The run's log as the page opens: loaded, or polled once when following (no caption)."""
    if every is None:
        return load(source)
    follower = _follower(source.paths, source.format, source.url)
    # The last poll's log when there is one, so that the followed part's own poll sees what is new.
    return (follower.last or follower.poll()).log


def followed(
    every: float | None,
    source: RunSource,
    show: Callable[[RunLog, str], None],
    load: Callable[[RunSource], RunLog | None],
) -> None:
    """Draw the run with `show(log, key)`: once, or at every poll inside a fragment while following."""
    if every is None:
        log = load(source)
        if log is not None:
            show(log, source.content_key)
        return

    @st.fragment(run_every=every)
    def live() -> None:
        log, key = poll_run(source)
        if log is not None:
            show(log, key)

    live()
