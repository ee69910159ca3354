"""The reference detector on episodes: predictions in original pixels, and a scored summary of N episodes.

Loading checkpoints lives in inspector/checkpoint.py; this module takes a loaded model.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np
import torch

from inspector.data.dataset import Dataset, load_rgb
from inspector.data.records import Clip, Episode, Sample
from inspector.evaluate import coco_map, st_iou
from inspector.model.detector import FewShotDetector
from inspector.model.predict import Detections, episode_tensors, postprocess

# A clip frame counts as "target found" when the best box of the clip's way scores at least this;
# below it the frame is predicted empty, which ST-IoU rewards when the target has left the view.
CLIP_SCORE_THRESHOLD = 0.3


@torch.no_grad()
def predict_episode(model: FewShotDetector, episode: Episode) -> list[Detections]:
    """Returns Detections per query image of `episode` (boxes xyxy in original pixels, labels = way indices)."""
    model.eval()
    t = episode_tensors(episode, model.config.image_size, next(model.parameters()).device)
    out = model(t.support_images, t.support_boxes, t.support_ways, t.query_images, t.n_way)
    return postprocess(out, t.query_letterbox)


@torch.no_grad()
def predict_clips(model: FewShotDetector, episode: Episode,
                  score_threshold: float = CLIP_SCORE_THRESHOLD) -> list[list[np.ndarray | None]]:
    """Returns, per clip of a video episode, one entry per frame: the best (4,) box of the clip's way
    in original pixels, or None where nothing of that way scores ≥ score_threshold."""
    model.eval()
    results = []
    for way, clip in enumerate(episode.clips):
        frames = Episode(episode.index, episode.seed, episode.classes, episode.class_names,
                         episode.support, clip.frames)
        per_frame = []
        for det in predict_episode(model, frames):
            mine = det.labels == way
            if mine.any() and det.scores[mine].max() >= score_threshold:
                per_frame.append(det.boxes[mine][int(np.argmax(det.scores[mine]))])
            else:
                per_frame.append(None)
        results.append(per_frame)
    return results


def clip_episodes(dataset: Dataset, k_shot: int, seed: int = 0) -> list[Episode]:
    """Returns one 1-way episode per clip sample of a video dataset, in dataset order: its first k_shot
    object images (fewer if it has fewer) as support, its clip as the query. Every clip is scored once,
    which random 1-way sampling would not guarantee."""
    episodes = []
    for i, entry in enumerate(dataset.clips):
        support = []
        for path in entry.object_images[:k_shot]:
            image = load_rgb(path)
            h, w = image.shape[:2]
            support.append(Sample(f"{entry.clip_id}/object_images/{path.name}", image,
                                  np.array([[0, 0, w, h]], np.float32), np.array([0], np.int64)))
        episodes.append(Episode(i, seed, (entry.label,), (dataset.class_names[entry.label],),
                                tuple(support), (), (entry.load(0),)))
    return episodes


def _clip_truth(clip: Clip) -> list[np.ndarray | None]:
    return [f.boxes[0] if len(f.boxes) else None for f in clip.frames]


def evaluate_episodes(model: FewShotDetector, episodes: Iterable[Episode]) -> dict[str, Any]:
    """Returns {map50, map50_95, st_iou, per_class {name: AP@0.5}, episodes, images, clips} over `episodes`.

    Image episodes feed COCO mAP (labels mapped back to dataset classes, so per-class AP pools a class
    over every episode it appears in); video episodes feed ST-IoU. A metric with nothing to score is nan.
    """
    records, clip_scores, names, n = [], [], {}, 0
    for episode in episodes:
        n += 1
        for way, cls in enumerate(episode.classes):
            names[cls] = episode.class_names[way]
        to_class = np.asarray(episode.classes, np.int64)
        if episode.queries:
            for query, det in zip(episode.queries, predict_episode(model, episode)):
                records.append((query.boxes, to_class[query.labels], det.boxes, det.scores, to_class[det.labels]))
        if episode.clips:
            for clip, pred in zip(episode.clips, predict_clips(model, episode)):
                clip_scores.append(st_iou(pred, _clip_truth(clip)))
    result = coco_map(records) if records else None
    defined = [v for v in clip_scores if not math.isnan(v)]
    return {
        "map50": result.map50 if result else math.nan,
        "map50_95": result.map50_95 if result else math.nan,
        "st_iou": float(np.mean(defined)) if defined else math.nan,
        "per_class": {names.get(c, str(c)): ap for c, ap in sorted(result.per_class.items())} if result else {},
        "episodes": n,
        "images": len(records),
        "clips": len(clip_scores),
    }
