"""Batch results on disk: Parquet with the metadata in its schema, and shards merged into one run."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from inspector.batch.rows import rows_frame
from inspector.batch.settings import BatchResult
from inspector.errors import InspectorError

META_KEY = b"inspector.batch"


def write_result(result: BatchResult, path: str | os.PathLike) -> Path:
    """Writes the rows to Parquet with the metadata in the schema; atomic (temp file, then rename)."""
    table = pa.Table.from_pandas(result.rows, preserve_index=False)
    return write_table(
        table, {**(table.schema.metadata or {}), META_KEY: json.dumps(result.meta).encode()}, path
    )


def write_table(table: pa.Table, metadata: dict[bytes, bytes], path: str | os.PathLike) -> Path:
    """Writes `table` with `metadata` as its schema's to Parquet at `path` (folders made), atomically: a
    temp file beside it, then a rename, so a reader never sees half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    pq.write_table(table.replace_schema_metadata(metadata), tmp)
    os.replace(tmp, path)
    return path


def read_result(path: str | os.PathLike) -> BatchResult:
    """The BatchResult stored at `path`; InspectorError naming the file when it is not one."""
    try:
        table = pq.read_table(path)
    except (OSError, pa.ArrowException) as exc:
        raise InspectorError(f"not a readable Parquet file ({exc})", path=path) from None
    raw = (table.schema.metadata or {}).get(META_KEY)
    if raw is None:
        raise InspectorError("not an inspector evaluation file (no inspector.batch metadata)", path=path)
    return BatchResult(json.loads(raw), table.to_pandas())


IDENTITY = (
    "schema",
    "checkpoint_sha256",
    "adapter",
    "data_hash",
    "clips_hash",
    "settings",
    "class_names",
    "total",
    "image_episodes",
)


def merge_results(results: Sequence[BatchResult], names: Sequence[str] | None = None) -> BatchResult:
    """Returns the shards as one result, rows ordered by position, exactly as one unsharded run.

    InspectorError when they differ in checkpoint, data, settings or schema, or when positions are
    duplicated or missing (names label the files in the message).
    """
    if not results:
        raise InspectorError("no evaluation files to merge")
    names = list(names) if names is not None else [f"input {i + 1}" for i in range(len(results))]
    first = results[0].meta
    for name, r in zip(names[1:], results[1:], strict=False):
        for key in IDENTITY:
            if r.meta.get(key) != first.get(key):
                raise InspectorError(
                    f"does not match {names[0]}: its {key} differs "
                    f"({_short(r.meta.get(key))} vs {_short(first.get(key))}); "
                    "shards must come from one checkpoint, dataset and settings",
                    path=name,
                )
    owner: dict[int, str] = {}
    for name, r in zip(names, results, strict=False):
        for p in r.meta["positions"]:
            if p in owner:
                raise InspectorError(
                    f"episode position {p} is in both {owner[p]} and {name} (duplicate shard?)"
                )
            owner[p] = name
    missing = sorted(set(range(int(first["total"]))) - owner.keys())
    if missing:
        shown = ", ".join(map(str, missing[:10])) + (" …" if len(missing) > 10 else "")
        raise InspectorError(
            f"{len(missing)} of {first['total']} episode positions are missing ({shown}): "
            "is a shard file absent or did a shard fail?"
        )
    rows = pd.concat([r.rows for r in results], ignore_index=True)
    rows = rows.sort_values("position", kind="stable").reset_index(drop=True)
    meta = {**first, "shard": "merged", "positions": sorted(owner), "checkpoint": first.get("checkpoint")}
    return BatchResult(meta, rows_frame(rows.to_dict("records")))


def _short(value: Any) -> str:
    text = json.dumps(value, sort_keys=True)
    return text if len(text) <= 60 else text[:57] + "…"
