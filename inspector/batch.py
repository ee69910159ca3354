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
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from inspector.adapters import inspect_episode
from inspector.data import Dataset, Episode
from inspector.data.format_checks import FormatWarning
from inspector.episode_diagnostics import positives_per_target
from inspector.errors import InspectorError
from inspector.evaluate import CLIP_SCORE_THRESHOLD, ImageRecord, clip_st_iou, coco_map, match_totals
from inspector.format_doctor import IMAGE_SIZE_COLUMNS, doctor_rows
from inspector.plan import DEFAULT_SEED, DEFAULT_SHAPE, DatasetEpisodes, EpisodeShape, clip_episode
from inspector.results import Detector, EpisodeResult

# Bump when the row layout or how a row is computed changes: it is part of the cache key and of the
# metadata merge compares, so stale cache files and shards from another version are never mixed in.
# 2: the clip score gate is a setting; clips an adapter returned no result for get "clip_missing" rows.
SCHEMA_VERSION = 3
# IoU for the TP / FP / FN counts and the mean IoU of true positives (COCO's AP50 threshold).
MATCH_IOU = 0.5
META_KEY = b"inspector.batch"
# kind: "image" (a query image), "clip" (a scored clip), "clip_missing" (a clip the adapter returned no result
# for), "empty" (an episode with neither, kept so it still counts after a merge).
ROW_COLUMNS = [
    "position",
    "episode",
    "kind",
    "image_id",
    "gt_boxes",
    "gt_labels",
    "pred_boxes",
    "scores",
    "pred_labels",
    "positives",
    "st_iou",
    "frames",
    *IMAGE_SIZE_COLUMNS,
]


@dataclass(frozen=True)
class EvalSettings:
    """What decides which episodes are drawn and how predictions are filtered (None: the model's default).

    The episode shape defaults to plan.DEFAULT_SHAPE (callers pass the checkpoint's, see plan.resolve_shape);
    clip_score_threshold is the ST-IoU score gate (evaluate.CLIP_SCORE_THRESHOLD).
    """

    episodes: int = 100
    seed: int = DEFAULT_SEED
    n_way: int = DEFAULT_SHAPE.n_way
    k_shot: int = DEFAULT_SHAPE.k_shot
    n_query: int = DEFAULT_SHAPE.n_query
    score_threshold: float | None = None
    nms_iou: float | None = None
    clip_score_threshold: float = CLIP_SCORE_THRESHOLD

    @property
    def shape(self) -> EpisodeShape:
        return EpisodeShape(self.n_way, self.k_shot, self.n_query)


@dataclass(frozen=True)
class Shard:
    """Shard `index` of `count`: positions index, index+count, … of the plan."""

    index: int = 0
    count: int = 1

    @classmethod
    def parse(cls, text: str) -> Shard:
        """The Shard of 'i/n' (0 ≤ i < n); InspectorError otherwise."""
        head, sep, tail = text.partition("/")
        try:
            shard = cls(int(head), int(tail)) if sep else None
        except ValueError:
            shard = None
        if shard is None or shard.count < 1 or not 0 <= shard.index < shard.count:
            raise InspectorError(f"--shard must be i/n with 0 ≤ i < n, e.g. 0/8 (got {text!r})")
        return shard

    def positions(self, total: int) -> list[int]:
        return list(range(self.index, total, self.count))


@dataclass(frozen=True)
class BatchResult:
    """Rows (one per query image or clip, ordered by position) and the metadata that identifies them.

    meta: checkpoint, checkpoint_sha256, adapter, data, data_hash, clips, clips_hash, settings (dict),
    class_names, total (positions in the plan), image_episodes (the plan's first positions, before its clip
    episodes), positions (evaluated here), shard "i/n", schema.
    """

    meta: dict[str, Any]
    rows: pd.DataFrame


# ---------------------------------------------------------------------------------------------- plan


class EpisodePlan:
    """Positions → episodes: image episodes 0..N-1 (plan.DatasetEpisodes: position = sampler index), then one
    1-way episode per clip (plan.clip_episode).

    A video dataset passed as `data` contributes only its clips (every clip scored once, which random
    n-way sampling would not guarantee); `clips` adds a video dataset's clips after an image dataset's
    episodes.
    keep=True holds each episode once decoded (training validation scores the same plan every epoch).
    """

    def __init__(self, data: Dataset, clips: Dataset | None, s: EvalSettings, keep: bool = False):
        self.data, self.settings = data, s
        self.clip_sets = [data] if data.clips else ([clips] if clips is not None else [])
        for d in self.clip_sets:
            if not d.clips:
                raise InspectorError("holds no reference-image + clip samples", path=d.root)
        self.n_image = 0 if data.clips else s.episodes
        self.images = DatasetEpisodes(data, s.shape, s.seed) if self.n_image else None
        self._clip_entries = [(d, j) for d in self.clip_sets for j in range(len(d.clips))]
        self.total = self.n_image + len(self._clip_entries)
        self._kept: dict[int, Episode] | None = {} if keep else None

    def episode(self, position: int) -> Episode:
        """The episode at `position` (the same everywhere for the same data and settings)."""
        if self._kept is not None and position in self._kept:
            return self._kept[position]
        if position < self.n_image:
            # self.images is set whenever n_image > 0, which position < n_image implies
            episode = cast(DatasetEpisodes, self.images).episode(position)
        else:
            dataset, j = self._clip_entries[position - self.n_image]
            episode = clip_episode(dataset, j, self.settings.k_shot, self.settings.seed, index=position)
        if self._kept is not None:
            self._kept[position] = episode
        return episode


# ---------------------------------------------------------------------------------------------- rows


def _flat(a: np.ndarray, dtype: type) -> list:
    return np.asarray(a, dtype).reshape(-1).tolist()


def _row(position: int, episode: Episode, kind: str, image_id: str, **values: Any) -> dict[str, Any]:
    empty: dict[str, Any] = {
        "gt_boxes": [],
        "gt_labels": [],
        "pred_boxes": [],
        "scores": [],
        "pred_labels": [],
        "positives": None,
        "st_iou": math.nan,
        "frames": 0,
        **{c: 0 for c in IMAGE_SIZE_COLUMNS},
    }
    return {
        "position": position,
        "episode": episode.index,
        "kind": kind,
        "image_id": image_id,
        **empty,
        **values,
    }


def episode_rows(
    position: int, episode: Episode, result: EpisodeResult, clip_score_threshold: float = CLIP_SCORE_THRESHOLD
) -> list[dict[str, Any]]:
    """Returns one row per query image and per clip of an episode, labels mapped to dataset classes.

    A clip of the episode that the adapter returned no ClipResult for gets a "clip_missing" row, so the
    summary can say so instead of reporting an ST-IoU of nothing.
    """
    to_class = np.asarray(episode.classes, np.int64)
    losses = result.losses
    extra: dict[str, Any] = {}
    if losses is not None:
        extra = {
            "loss_total": losses.total,
            **{f"raw.{k}": v for k, v in losses.raw.items()},
            **{f"weighted.{k}": v for k, v in losses.weighted.items()},
        }
    rows = []
    for q in result.queries:
        ppt = positives_per_target(q)
        rows.append(
            _row(
                position,
                episode,
                "image",
                q.image_id,
                gt_boxes=_flat(q.target_boxes, np.float32),
                gt_labels=_flat(to_class[np.asarray(q.target_labels, np.int64)], np.int64),
                pred_boxes=_flat(q.pred_boxes, np.float32),
                scores=_flat(q.scores, np.float32),
                pred_labels=_flat(to_class[np.asarray(q.labels, np.int64)], np.int64),
                positives=None if ppt is None else _flat(ppt, np.int64),
                # the format doctor reads boxes against their image (normalised, off the edge)
                **dict(zip(IMAGE_SIZE_COLUMNS, map(int, q.image_size), strict=False)),
                **extra,
            )
        )
    for c in result.clips:
        rows.append(
            _row(
                position,
                episode,
                "clip",
                c.clip_id,
                st_iou=clip_st_iou(c, clip_score_threshold),
                frames=len(c.frames),
                **extra,
            )
        )
    returned = {c.clip_id for c in result.clips}
    for clip in episode.clips:
        if clip.clip_id not in returned:
            rows.append(
                _row(position, episode, "clip_missing", clip.clip_id, frames=len(clip.frames), **extra)
            )
    if not rows:  # keep the episode visible (and countable after a merge) even with nothing to score
        rows.append(_row(position, episode, "empty", "", **extra))
    return rows


def rows_frame(rows: Sequence[dict[str, Any]]) -> pd.DataFrame:
    """The rows as a DataFrame with fixed dtypes (loss columns after the fixed ones, sorted by name)."""
    frame = pd.DataFrame(list(rows))
    if frame.empty:
        frame = pd.DataFrame(columns=ROW_COLUMNS)
    loss_cols = sorted(c for c in frame.columns if c not in ROW_COLUMNS)
    frame = frame[ROW_COLUMNS + loss_cols]
    frame = frame.astype(
        {
            "position": "int64",
            "episode": "int64",
            "frames": "int64",
            "st_iou": "float64",
            **{c: "int64" for c in IMAGE_SIZE_COLUMNS},
        }
    )
    # Through Arrow once, so fresh rows look exactly like rows read back from Parquet (lists → arrays).
    return pa.Table.from_pandas(frame, preserve_index=False).to_pandas()


# ---------------------------------------------------------------------------------------------- hashing


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
        "settings": dataclasses.asdict(s),
        "class_names": list(class_names),
        "total": total,
        "image_episodes": 0 if data.clips else s.episodes,
    }


def plan_meta(plan: EpisodePlan, class_names: Sequence[str]) -> dict[str, Any]:
    """The metadata of a plan evaluated in memory (no checkpoint file, no cache): what summarize needs."""
    return {
        "schema": SCHEMA_VERSION,
        "settings": dataclasses.asdict(plan.settings),
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


# ---------------------------------------------------------------------------------------------- running


def evaluate_batch(
    detector: Detector,
    plan: EpisodePlan,
    meta: dict[str, Any],
    shard: Shard = Shard(),
    progress: Callable[[int, int], None] | None = None,
    cache: bool = False,
) -> BatchResult:
    """Returns the BatchResult of the detector on the shard's positions of `plan`.

    With cache=True, a result stored under cache_dir() for the same key is returned without running the
    detector, and a fresh one is stored there. progress(done, todo) is called after each episode.
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
        result = inspect_episode(detector, episode, s.score_threshold, s.nms_iou, gradients=False)
        rows += episode_rows(position, episode, result, s.clip_score_threshold)
        if progress is not None:
            progress(done, len(positions))
    out = BatchResult(meta, rows_frame(rows))
    if path is not None:  # set exactly when cache is
        write_result(out, path)
    return out


# ---------------------------------------------------------------------------------------------- parquet


def write_result(result: BatchResult, path: str | os.PathLike) -> Path:
    """Writes the rows to Parquet with the metadata in the schema; atomic (temp file, then rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    table = pa.Table.from_pandas(result.rows, preserve_index=False)
    table = table.replace_schema_metadata(
        {**(table.schema.metadata or {}), META_KEY: json.dumps(result.meta).encode()}
    )
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    pq.write_table(table, tmp)
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


# ---------------------------------------------------------------------------------------------- summary


def image_records(rows: pd.DataFrame) -> list[ImageRecord]:
    """The image rows as evaluate.ImageRecord tuples (gt_boxes, gt_labels, pred_boxes, scores,
    pred_labels)."""
    images = rows[rows["kind"] == "image"]
    return [
        (
            np.asarray(g, np.float32).reshape(-1, 4),
            np.asarray(gl, np.int64),
            np.asarray(p, np.float32).reshape(-1, 4),
            np.asarray(s, np.float32),
            np.asarray(pl, np.int64),
        )
        for g, gl, p, s, pl in zip(
            images["gt_boxes"],
            images["gt_labels"],
            images["pred_boxes"],
            images["scores"],
            images["pred_labels"],
            strict=True,
        )
    ]


def loss_columns(rows: pd.DataFrame) -> list[str]:
    return [c for c in rows.columns if c not in ROW_COLUMNS]


def episode_kinds(rows: pd.DataFrame, image_episodes: int | None) -> tuple[int, int]:
    """Returns (image episodes, clip episodes) among the rows' positions: positions below `image_episodes`
    are image episodes (the plan puts them first); without that count (files of schema 1), by row kind."""
    positions = rows["position"].drop_duplicates()
    if image_episodes is not None:
        n_image = int((positions < image_episodes).sum())
        return n_image, int(len(positions)) - n_image
    clip_positions = set(rows.loc[rows["kind"].isin(("clip", "clip_missing")), "position"])
    return int(len(positions)) - len(clip_positions), len(clip_positions)


def summarize(result: BatchResult) -> dict[str, Any]:
    """Returns {map50, map50_95, st_iou, per_class, episodes, image_episodes, clip_episodes, images, clips,
    clips_without_result, tp, fp, fn, precision, recall, mean_iou_tp, positives_per_target,
    targets_without_positive, losses {raw, weighted, total}, format_doctor, warnings} of a result.

    COCO mAP pools every image (pycocotools, rows in position order); ST-IoU is the mean over clips where
    it is defined; losses are means over episodes. A metric with nothing to score is nan. `clips` counts the
    clips scored; clips given to an adapter that returned no result for them are counted apart and named in
    `warnings`, never scored as 0.
    """
    rows = result.rows.sort_values("position", kind="stable")
    names = result.meta.get("class_names") or []
    records = image_records(rows)
    m = coco_map(records) if records else None
    totals = match_totals(records, MATCH_IOU)
    tp, fp, fn, ious = totals.tp, totals.fp, totals.fn, totals.tp_ious
    clip_values = rows.loc[rows["kind"] == "clip", "st_iou"].to_numpy(np.float64)
    defined = clip_values[~np.isnan(clip_values)]
    missing = int((rows["kind"] == "clip_missing").sum())
    positives = [
        np.asarray(p, np.int64) for p in rows.loc[rows["kind"] == "image", "positives"] if p is not None
    ]
    positives_all = np.concatenate(positives) if positives else np.zeros(0, np.int64)
    per_episode = rows.drop_duplicates("position")
    image_episodes, clip_episodes = episode_kinds(rows, result.meta.get("image_episodes"))
    losses: dict[str, Any] = {"raw": {}, "weighted": {}, "total": math.nan}
    for col in loss_columns(rows):
        value = float(per_episode[col].astype("float64").mean())
        if col == "loss_total":
            losses["total"] = value
        else:
            kind, _, name = col.partition(".")
            losses.setdefault(kind, {})[name] = value
    warnings = []
    doctor = doctor_rows(
        rows,
        [
            FormatWarning(**{**w, "examples": tuple(w["examples"])})
            for w in result.meta.get("data_warnings") or []
        ],
    )
    if doctor.mismatch:
        warnings.append(f"box formats: {doctor.message}")
    if missing:
        scored = (
            ("ST-IoU is over the other " + str(len(clip_values)))
            if len(clip_values)
            else "ST-IoU is not measured"
        )
        warnings.append(
            f"the adapter returned no clip result for {missing} of the {missing + len(clip_values)} "
            f"clips it was given; {scored} (an adapter scores clips by returning "
            "EpisodeResult.clips, one ClipResult per episode clip)"
        )
    return {
        "map50": m.map50 if m else math.nan,
        "map50_95": m.map50_95 if m else math.nan,
        "st_iou": float(defined.mean()) if len(defined) else math.nan,
        "per_class": {
            names[c] if 0 <= c < len(names) else str(c): ap for c, ap in sorted(m.per_class.items())
        }
        if m
        else {},
        "episodes": int(per_episode.shape[0]),
        "image_episodes": image_episodes,
        "clip_episodes": clip_episodes,
        "images": len(records),
        "clips": int(len(clip_values)),
        "clips_without_result": missing,
        "tp": tp,
        "fp": fp,
        "fn": fn,
        "precision": tp / (tp + fp) if tp + fp else math.nan,
        "recall": tp / (tp + fn) if tp + fn else math.nan,
        "mean_iou_tp": float(np.mean(ious)) if ious else math.nan,
        "positives_per_target": float(positives_all.mean()) if len(positives_all) else math.nan,
        "targets_without_positive": float((positives_all == 0).mean()) if len(positives_all) else math.nan,
        "losses": losses,
        "format_doctor": doctor,
        "warnings": warnings,
    }
