"""What identifies a batch run's rows: content hashes, the metadata, the cache key and where the cache is."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from inspector.batch.settings import EpisodePlan, EvalSettings, Shard
from inspector.data import Dataset

# Bump when the row layout or how a row is computed changes: it is part of the cache key and of the
# metadata merge compares, so stale cache files and shards from another version are never mixed in.
# 2: the clip score gate is a setting; clips an adapter returned no result for get "clip_missing" rows.
# 4: in inference the backbone runs on each image alone (model/memo.py): scores move by ≤ 1e-5.
SCHEMA_VERSION = 4


def file_sha256(path: str | os.PathLike) -> str:
    """Hex SHA-256 of a file's bytes, read in 1 MiB blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def checkpoint_identity(checkpoint: str | os.PathLike, adapter: str) -> str:
    """The hash results are filed under: the checkpoint file's SHA-256, or, for an adapter that needs no file
    (a model from a hub, an API, weights of its own), the SHA-256 of "adapter:<spec>|checkpoint:<name given>".

    The second identifies what was run only as well as the adapter's own naming does; the metadata records it
    so that a merge or the cache never confuses two such runs with two files.
    """
    if Path(checkpoint).is_file():
        return file_sha256(checkpoint)
    return hashlib.sha256(f"adapter:{adapter}|checkpoint:{checkpoint}".encode()).hexdigest()


def settings_dict(s: EvalSettings) -> dict[str, Any]:
    """The settings as the metadata holds them: JSON types (lists, not tuples), so fresh and stored metadata
    compare equal; way_classes only when set, so results from before it existed keep their cache keys."""
    out = json.loads(json.dumps(dataclasses.asdict(s)))
    if not out.get("way_classes"):
        out.pop("way_classes", None)
    return out


def run_meta(
    checkpoint: str | os.PathLike,
    adapter: str,
    data: Dataset,
    clips: Dataset | None,
    s: EvalSettings,
    class_names: Sequence[str],
    total: int,
) -> dict[str, Any]:
    """The metadata a run's rows are identified by (everything but the shard)."""
    return {
        "schema": SCHEMA_VERSION,
        "checkpoint": str(checkpoint),
        "checkpoint_sha256": checkpoint_identity(checkpoint, adapter),
        "checkpoint_is_file": Path(checkpoint).is_file(),
        "adapter": adapter,
        "data": str(data.root),
        "data_hash": data.content_hash(),
        # the dataset's box-format warnings travel with the rows, so a merge can still run the doctor
        "data_warnings": [dataclasses.asdict(w) for w in data.warnings],
        "clips": None if clips is None else str(clips.root),
        "clips_hash": None if clips is None else clips.content_hash(),
        "settings": settings_dict(s),
        "class_names": list(class_names),
        "total": total,
        "image_episodes": 0 if data.clips else s.episodes,
    }


def plan_meta(plan: EpisodePlan, class_names: Sequence[str]) -> dict[str, Any]:
    """The metadata of a plan evaluated in memory (no checkpoint file, no cache): what summarize needs."""
    return {
        "schema": SCHEMA_VERSION,
        "settings": settings_dict(plan.settings),
        "class_names": list(class_names),
        "total": plan.total,
        "image_episodes": plan.n_image,
    }


def cache_key(meta: dict[str, Any], shard: Shard) -> str:
    """Hex key of (checkpoint content, adapter, dataset content, settings, shard, schema) — not of paths,
    so a copied checkpoint or dataset still hits."""
    ident = {
        k: meta[k] for k in ("schema", "checkpoint_sha256", "adapter", "data_hash", "clips_hash", "settings")
    }
    ident["shard"] = [shard.index, shard.count]
    return hashlib.sha256(json.dumps(ident, sort_keys=True).encode()).hexdigest()[:32]


def cache_dir() -> Path:
    """INSPECTOR_CACHE_DIR, else ~/.cache/inspector/eval."""
    configured = os.environ.get("INSPECTOR_CACHE_DIR")
    return Path(configured).expanduser() if configured else Path.home() / ".cache" / "inspector" / "eval"
