"""A batch result's rows: one per query image or clip, with what every aggregate is recomputed from."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from inspector.data import Episode
from inspector.episode_diagnostics import positives_per_target
from inspector.evaluate import CLIP_SCORE_THRESHOLD, ImageRecord, clip_st_iou
from inspector.format_doctor import IMAGE_SIZE_COLUMNS
from inspector.results import EpisodeResult

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
