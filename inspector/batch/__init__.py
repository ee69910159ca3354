"""Batch evaluation that scales out: per-row records of N episodes → a DataFrame / Parquet, exact summaries.

A run evaluates a *plan* of episode positions: image episodes 0..N-1 from the sampler, then (for video
samples) one 1-way episode per clip. Shard i/n takes positions i, i+n, i+2n, … (strided, so every shard
gets a mix of image and clip episodes). Each row of the result is one query image or one clip, and keeps
what is needed to recompute every aggregate EXACTLY after shards are merged: predictions and targets
per image (COCO mAP pools images; it is not a mean of per-episode mAPs), ST-IoU per clip, and the
episode's losses. Rows are ordered by position, so merged shards feed pycocotools in the same order as
one unsharded run, and give bit-identical numbers.

This is the one evaluator: `python -m inspector evaluate`, the Compare page and training validation all run
`evaluate_batch` then `summarize`, and a clip's ST-IoU is evaluate.clip_st_iou, as everywhere else.

One module per job: settings (EvalSettings, Shard, EpisodePlan, BatchResult), rows, identity (hashes,
metadata, cache key), run (evaluate_batch), files (Parquet, merge), summary, and stored (a cached result's
summary kept beside it).
"""

from inspector.batch.files import merge_results, read_result, write_result
from inspector.batch.identity import SCHEMA_VERSION, cache_dir, cache_key, plan_meta, run_meta
from inspector.batch.rows import ROW_COLUMNS, episode_rows, image_records, rows_frame
from inspector.batch.run import evaluate_batch
from inspector.batch.settings import BatchResult, EpisodePlan, EvalSettings, Shard
from inspector.batch.stored import SUMMARY_VERSION, cached_summary
from inspector.batch.summary import MATCH_IOU, summarize

__all__ = [
    "MATCH_IOU",
    "ROW_COLUMNS",
    "SCHEMA_VERSION",
    "SUMMARY_VERSION",
    "BatchResult",
    "EpisodePlan",
    "EvalSettings",
    "Shard",
    "cache_dir",
    "cache_key",
    "cached_summary",
    "episode_rows",
    "evaluate_batch",
    "image_records",
    "merge_results",
    "plan_meta",
    "read_result",
    "rows_frame",
    "run_meta",
    "summarize",
    "write_result",
]
