"""Running a detector over a plan's positions, with the on-disk cache."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from inspector.adapters import inspect_episode
from inspector.batch.files import read_result, write_result
from inspector.batch.identity import cache_dir, cache_key
from inspector.batch.rows import episode_rows, rows_frame
from inspector.batch.settings import WHOLE_PLAN, BatchResult, EpisodePlan, Shard
from inspector.errors import InspectorError
from inspector.results import Detector


def evaluate_batch(
    detector: Detector,
    plan: EpisodePlan,
    meta: dict[str, Any],
    shard: Shard = WHOLE_PLAN,
    progress: Callable[[int, int], None] | None = None,
    cache: bool = False,
) -> BatchResult:
    """Returns the BatchResult of the detector on the shard's positions of `plan`.

    With cache=True, a result stored under cache_dir() for the same key is returned without running the
    detector, and a fresh one is stored there; either way meta["cache"] names the file (batch.cached_summary
    keeps the summary beside it). progress(done, todo) is called after each episode.
    """
    positions = shard.positions(plan.total)
    meta = {**meta, "shard": f"{shard.index}/{shard.count}", "positions": positions}
    path = cache_dir() / f"{cache_key(meta, shard)}.parquet" if cache else None
    if path is not None and path.is_file():
        try:
            cached = read_result(path)
            return BatchResult(
                {
                    **cached.meta,
                    "checkpoint": meta["checkpoint"],
                    "data": meta["data"],
                    "clips": meta["clips"],
                    "cache": str(path),
                },
                cached.rows,
            )
        except InspectorError:
            pass  # a truncated cache file (killed writer) is recomputed and replaced
    s = plan.settings
    rows: list[dict[str, Any]] = []
    for done, position in enumerate(positions, start=1):
        episode = plan.episode(position)
        # rows hold no overlooked anchors (batch.rows): not computed
        result = inspect_episode(
            detector, episode, s.score_threshold, s.nms_iou, gradients=False, overlooked=False
        )
        rows += episode_rows(position, episode, result, s.clip_score_threshold)
        if progress is not None:
            progress(done, len(positions))
    out = BatchResult(meta, rows_frame(rows))
    if path is not None:  # set exactly when cache is
        write_result(out, path)
        out = BatchResult({**meta, "cache": str(path)}, out.rows)  # as a cache hit says where it lies
    return out
