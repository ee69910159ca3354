"""The keys a page files a run's analyses and widget state under.

A run is known by a content key (a hash of its files' names, sizes and times, or of an upload). A followed
run changes while the page is open, so its key carries the version of the data as well,
`<run>@v<version>`: cached analyses are keyed by the whole key (each version computed once), widget state
(corrections, what-if weights, the zoom window) by `state_key`, the run alone, so a poll that brings new
rows keeps what the user set.
"""

from __future__ import annotations

_VERSION = "@v"


def versioned(run: str, version: int) -> str:
    """The key of version `version` of the followed run `run`."""
    return f"{run}{_VERSION}{version}"


def state_key(key: str) -> str:
    """The part of a run's key its widget state is filed under (the key itself unless followed)."""
    return key.split(_VERSION, 1)[0]
