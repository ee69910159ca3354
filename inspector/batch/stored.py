"""A cached result's summary, kept beside its cache file: a rerun, another session or a restarted server reads
it instead of running pycocotools again (two summaries were 76% of a Compare page rerun).

`<key>.summary.json` sits next to `<key>.parquet` in cache_dir() and records the size and mtime of the
Parquet file it summarises and SUMMARY_VERSION; a summary of another file or version is recomputed. JSON,
not pickle: the cache directory may be shared, and reading it must never run code.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from inspector.batch.settings import BatchResult
from inspector.batch.summary import summarize
from inspector.format_doctor import FormatDiagnosis

# Bump when summarize's output changes, so that summaries stored by another version are recomputed.
SUMMARY_VERSION = 1


def summary_path(cache_file: str | os.PathLike) -> Path:
    """Where the summary of the cache file `<key>.parquet` is kept: `<key>.summary.json` beside it."""
    path = Path(cache_file)
    return path.with_name(f"{path.stem}.summary.json")


def _stamp(path: Path) -> list[int] | None:
    """[size, mtime_ns] of the file the summary belongs to; None when it is gone."""
    try:
        st = path.stat()
    except OSError:
        return None
    return [st.st_size, st.st_mtime_ns]


def _plain(value: Any) -> Any:
    """json.dumps' fallback: numpy scalars and arrays as Python values, the doctor's record as a dict."""
    if isinstance(value, FormatDiagnosis):
        return {"__format_diagnosis__": dataclasses.asdict(value)}
    if isinstance(value, (np.generic, np.ndarray)):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not stored in a summary")


def _revive(obj: dict[str, Any]) -> Any:
    doctor = obj.get("__format_diagnosis__")
    if doctor is not None:
        return FormatDiagnosis(**{**doctor, "evidence": tuple(doctor["evidence"])})
    return obj


def encode_summary(summary: dict[str, Any], stamp: list[int]) -> str:
    """JSON text of a summary (NaN kept as NaN, so it reads back equal) for the file stamped `stamp`."""
    return json.dumps({"version": SUMMARY_VERSION, "file": stamp, "summary": summary}, default=_plain)


def decode_summary(text: str, stamp: list[int]) -> dict[str, Any] | None:
    """The summary stored in `text` when it is of this SUMMARY_VERSION and of the file stamped `stamp`."""
    stored = json.loads(text, object_hook=_revive)
    if stored.get("version") != SUMMARY_VERSION or stored.get("file") != stamp:
        return None
    summary = stored.get("summary")
    return summary if isinstance(summary, dict) else None


def _read(path: Path, stamp: list[int]) -> dict[str, Any] | None:
    try:
        return decode_summary(path.read_text(), stamp)
    except (OSError, ValueError, TypeError, KeyError):
        return None  # absent, half-written by a killed writer or foreign: recomputed


def _write(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(text)
        os.replace(tmp, path)
    except OSError:
        tmp.unlink(missing_ok=True)  # a read-only cache: the summary is simply not kept


def stored_summary(result: BatchResult) -> dict[str, Any] | None:
    """The summary kept beside the result's cache file (meta["cache"], set by evaluate_batch with cache=True)
    for that very file; None when there is none."""
    cache = result.meta.get("cache")
    stamp = _stamp(Path(cache)) if cache else None
    return None if cache is None or stamp is None else _read(summary_path(cache), stamp)


def cached_summary(result: BatchResult) -> dict[str, Any]:
    """summarize(result): the stored_summary when there is one, else computed and kept beside the result's
    cache file. A result that did not come through the cache is summarised afresh."""
    stored = stored_summary(result)
    if stored is not None:
        return stored
    summary = summarize(result)
    cache = result.meta.get("cache")
    stamp = _stamp(Path(cache)) if cache else None
    if cache is not None and stamp is not None:
        _write(summary_path(cache), encode_summary(summary, stamp))
    return summary
