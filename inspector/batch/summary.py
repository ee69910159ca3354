"""A batch result's summary: COCO mAP and PR curves over every image, the confusion matrix, ST-IoU over clips,
counts, losses, the doctor."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from inspector.batch.rows import image_records, loss_columns
from inspector.batch.settings import BatchResult
from inspector.confusion import confusion_matrix
from inspector.data.format_checks import FormatWarning
from inspector.evaluate import PR_CURVE_IOU, PR_CURVE_MAX_DETS, PRCurve, coco_map_with_pr, match_totals
from inspector.format_doctor import doctor_rows

# IoU for the TP / FP / FN counts and the mean IoU of true positives (COCO's AP50 threshold).
MATCH_IOU = 0.5


def episode_kinds(rows: pd.DataFrame, image_episodes: int | None) -> tuple[int, int]:
    """Returns (image episodes, clip episodes) among the rows' positions: positions below `image_episodes`
    are image episodes (the plan puts them first); without that count (files of schema 1), by row kind."""
    positions = rows["position"].drop_duplicates()
    if image_episodes is not None:
        n_image = int((positions < image_episodes).sum())
        return n_image, int(len(positions)) - n_image
    clip_positions = set(rows.loc[rows["kind"].isin(("clip", "clip_missing")), "position"])
    return int(len(positions)) - len(clip_positions), len(clip_positions)


def _class_name(names: list[str], c: int) -> str:
    return names[c] if 0 <= c < len(names) else str(c)


def pr_curves_dict(curves: dict[int, PRCurve], names: list[str]) -> dict[str, Any]:
    """{iou_threshold, area, max_dets, recall [101], classes {name: {precision [101], scores [101],
    max_recall}}} of per-class curves (evaluate.PRCurve), classes in label order; recall is shared."""
    first = next(iter(curves.values()), None)
    return {
        "iou_threshold": PR_CURVE_IOU,
        "area": "all",
        "max_dets": PR_CURVE_MAX_DETS,
        "recall": [] if first is None else first.recall.tolist(),
        "classes": {
            _class_name(names, c): {
                "precision": curve.precision.tolist(),
                "scores": curve.scores.tolist(),
                "max_recall": curve.max_recall,
            }
            for c, curve in sorted(curves.items())
        },
    }


def summarize(result: BatchResult, confusion_score_threshold: float | None = None) -> dict[str, Any]:
    """Returns {map50, map50_95, st_iou, per_class, episodes, image_episodes, clip_episodes, images, clips,
    clips_without_result, tp, fp, fn, precision, recall, mean_iou_tp, positives_per_target,
    targets_without_positive, losses {raw, weighted, total}, format_doctor, warnings, pr_curves, confusion}
    of a result.

    COCO mAP pools every image (pycocotools, rows in position order); ST-IoU is the mean over clips where
    it is defined; losses are means over episodes. A metric with nothing to score is nan. `clips` counts the
    clips scored; clips given to an adapter that returned no result for them are counted apart and named in
    `warnings`, never scored as 0.

    pr_curves: each class's precision at pycocotools' 101 recall points at IoU 0.5 (`pr_curves_dict`), from
    the same COCOeval run as map50 — the mean of a class's precisions is its per_class AP. confusion: the
    detection confusion matrix over every image (inspector.confusion) at IoU 0.5 and predictions scoring ≥
    confusion_score_threshold (None: all the detector kept): {iou_threshold, score_threshold, rows: "true",
    columns: "predicted", labels [class names…, "background"], matrix [[int]]}, one row and column per class
    of the result's class_names (plus any other label found).
    """
    rows = result.rows.sort_values("position", kind="stable")
    names = result.meta.get("class_names") or []
    records = image_records(rows)
    m, curves = coco_map_with_pr(records) if records else (None, {})
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
    seen = {int(c) for r in records for c in (*r[1].tolist(), *r[4].tolist())}
    confusion = confusion_matrix(
        records, sorted(set(range(len(names))) | seen), MATCH_IOU, confusion_score_threshold
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
        "pr_curves": pr_curves_dict(curves, names),
        "confusion": {
            "iou_threshold": confusion.iou_threshold,
            "score_threshold": confusion.score_threshold,
            "rows": "true",
            "columns": "predicted",
            "labels": confusion.names(names),
            "matrix": confusion.counts.tolist(),
        },
    }
