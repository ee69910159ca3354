"""A TensorBoard event file followed while it is written: only the records appended since the last read
are decoded (readers/tfevents.py's `_read_file` hands over to `read_appended` inside
`increments.following`), and their points are appended per tag to the file's scalars so far.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import cast

import numpy as np

from inspector.errors import InspectorError
from inspector.limits import max_series
from inspector.runlog import increments
from inspector.runlog.readers.tfevents import _decode, _no_scalar, _Scalars


def read_appended(path: Path, store: increments.Increments) -> _Scalars:
    """`_read_file` for a follower: decode only the records appended since the last read of `path`.

    The state kept is the file's scalars so far; the new records' points are appended per tag, so the
    result equals a fresh read of the file's complete records. Bytes after the last valid record are a
    record still being written: left for the next read, without the truncation warning a fresh read of a
    copied log gives.
    """
    key = ("tfevents", str(path))
    try:
        with open(path, "rb") as fh:
            size = fh.seek(0, 2)
            saved = store.resume(key, path, size)
            offset = 0 if saved is None else saved.identity.offset
            fh.seek(offset)
            appended = fh.read(size - offset)
    except OSError as exc:
        raise InspectorError(f"cannot open ({exc.strerror or exc})", path=path) from None
    so_far = _Scalars({}, {}, {}, ()) if saved is None else cast(_Scalars, saved.state)
    end = 0
    if appended:
        try:
            new, end = _decode(appended, path)
        except InspectorError:
            new = None  # no complete record yet among the appended bytes
        if new is not None:
            pending = f"{path.name}: the last record is truncated"
            kept = tuple(w for w in new.warnings if not w.startswith(pending))
            so_far = joined(so_far, replace(new, warnings=kept))
    store.parsed_bytes += len(appended)
    store.save(key, path, offset + end, so_far)
    if not so_far.records:
        raise InspectorError("no complete TensorBoard record yet", path=path)
    if not so_far.steps:
        return replace(so_far, warnings=(*so_far.warnings, _no_scalar(path, so_far)))
    return so_far


def joined(old: _Scalars, new: _Scalars) -> _Scalars:
    """`old`'s points followed by `new`'s, per tag (new tags after old ones, up to max_series())."""
    steps, values, walls = dict(old.steps), dict(old.values), dict(old.wall_times)
    warnings = list(old.warnings) + [w for w in new.warnings if w not in old.warnings]
    cap = max_series()
    for tag in new.steps:
        if tag in steps:
            steps[tag] = np.concatenate([steps[tag], new.steps[tag]])
            values[tag] = np.concatenate([values[tag], new.values[tag]])
            walls[tag] = np.concatenate([walls[tag], new.wall_times[tag]])
        elif len(steps) < cap:
            steps[tag], values[tag], walls[tag] = new.steps[tag], new.values[tag], new.wall_times[tag]
    return _Scalars(steps, values, walls, tuple(warnings), old.records + new.records, old.empty + new.empty)
