"""Logs, run directories, sweeps and checkpoints in object storage (s3://, gs://, http(s)://, any fsspec
protocol whose implementation is installed).

Every reader works on local paths, so a remote file or prefix is mirrored into a local cache folder and
kept in step with ranged reads of the appended bytes (`Mirror`); a checkpoint is copied whole and reused
while it is unchanged (`fetch_file`). A URL is allowed only below a remote root listed in INSPECTOR_ROOTS
(`confined_url`), and only its `display_url` form (no userinfo, no query) is ever shown, logged or used
to name a cache folder.

    urls.py      is_remote, display_url, confined_url, check_protocol: what a URL is and may be
    backend.py   Remote: fsspec's operations, counted, with failures turned into InspectorError
    failures.py  a backend's exception as one scrubbed line
    store.py     the cache folder, its limit, per-mirror state and lock
    mirror.py    Mirror and SyncStats
    fetch.py     fetch_file
"""

from inspector.remote.fetch import fetch_file
from inspector.remote.mirror import OVERLAP, Mirror, SyncStats, describe
from inspector.remote.store import cache_root, max_bytes
from inspector.remote.urls import check_protocol, confined_url, display_url, is_remote

__all__ = [
    "OVERLAP",
    "Mirror",
    "SyncStats",
    "cache_root",
    "check_protocol",
    "confined_url",
    "describe",
    "display_url",
    "fetch_file",
    "is_remote",
    "max_bytes",
]
