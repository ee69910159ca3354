"""EpisodeResult from the reference adapter: geometry checks against the boxes, clips, and the format
doctor."""

from __future__ import annotations

import dataclasses
import itertools
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from inspector.adapters import inspect_episode, load_detector
from inspector.boxes import bbox_iou_aligned
from inspector.checkpoint import save_checkpoint
from inspector.data import read_dataset
from inspector.data.episodes import EpisodeSampler
from inspector.data.shapes import CLASSES, write_coco_dataset, write_video_samples
from inspector.episode_diagnostics import (
    assigned_iou_histogram,
    coordinate_ranges,
    format_doctor,
    loss_rows,
    positive_rows,
    positives_per_target,
    target_rows,
)
from inspector.evaluate import clip_st_iou
from inspector.model import ModelConfig, create_model
from inspector.model.loss import compute_losses
from inspector.model.predict import run_episode

WIDE = (120, 200)  # (h, w): not square, so the letterbox has both a scale and a padding to undo
_names = (f"doctor_adapter_{i}" for i in itertools.count())


def _widen(root: Path) -> None:
    """Resizes every image of a COCO shapes dataset to WIDE and scales its boxes to match."""
    path = root / "annotations.json"
    doc = json.loads(path.read_text())
    h, w = WIDE
    for im in doc["images"]:
        file = root / im["file_name"]
        with Image.open(file) as src:
            sx, sy = w / src.width, h / src.height
            src.convert("RGB").resize((w, h), Image.BILINEAR).save(file, quality=95)
        im["width"], im["height"] = w, h
        im["_s"] = (sx, sy)
    scale = {im["id"]: im.pop("_s") for im in doc["images"]}
    for ann in doc["annotations"]:
        sx, sy = scale[ann["image_id"]]
        x, y, bw, bh = ann["bbox"]
        ann["bbox"] = [x * sx, y * sy, bw * sx, bh * sy]
        ann["area"] = ann["bbox"][2] * ann["bbox"][3]
    path.write_text(json.dumps(doc))


def _overfit(episode, steps: int) -> torch.nn.Module:
    torch.manual_seed(0)
    model = create_model(ModelConfig())
    opt = torch.optim.AdamW(model.parameters(), 2e-3)
    for _ in range(steps):
        raw = run_episode(model, episode)
        loss = compute_losses(raw.output, raw.tensors.query_boxes, raw.tensors.query_labels).total
        opt.zero_grad()
        loss.backward()
        opt.step()
    return model.eval()


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """A wide-image dataset, its episode 0 and an untrained checkpoint (geometry holds whatever the
    weights)."""
    root = tmp_path_factory.mktemp("episode_result")
    write_coco_dataset(root / "data", 24, seed=0)
    _widen(root / "data")
    episode = EpisodeSampler(read_dataset(root / "data"), 2, 2, 4, seed=0).sample(0)
    torch.manual_seed(0)
    ckpt = save_checkpoint(
        root / "m.pt", create_model(ModelConfig()), ModelConfig(), class_names=list(CLASSES)
    )
    # score floor 0: an untrained model's scores sit near the 0.01 prior, under the default floor of 0.05
    result = inspect_episode(load_detector(ckpt), episode, score_threshold=0.0)
    return {"root": root, "ckpt": ckpt, "episode": episode, "result": result}


@pytest.fixture(scope="module")
def fitted(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """A checkpoint over-fitted on one episode (~80 steps, 5-10 s of CPU), so its most confident boxes find
    their targets and the format doctor has something to say. The bundled demo's checkpoints are not used:
    how well they localise on one episode is the demo's business, not this contract's."""
    data = tmp_path_factory.mktemp("fitted") / "data"
    write_coco_dataset(data, 24, seed=0)
    episode = EpisodeSampler(read_dataset(data), 2, 2, 4, seed=0).sample(0)
    ckpt = save_checkpoint(data.parent / "fit.pt", _overfit(episode, 80), ModelConfig())
    result = inspect_episode(load_detector(ckpt), episode, gradients=False)
    return {"ckpt": ckpt, "episode": episode, "result": result}


def test_the_fixture_images_are_letterboxed(world: dict) -> None:
    assert world["episode"].queries[0].size == WIDE
    q = world["result"].queries[0]
    assert q.anchors[:, 1].min() < 0  # the top rows of anchors sit in the padding above the image


def test_reported_ious_match_ious_recomputed_from_the_boxes(world: dict) -> None:
    checked = 0
    for q in world["result"].queries:
        a = q.assigned
        recomputed = bbox_iou_aligned(
            a.pred_boxes.astype(np.float64), q.target_boxes[a.target].astype(np.float64)
        )
        np.testing.assert_allclose(recomputed, a.iou, atol=2e-4)
        checked += len(a)
    assert checked > 0


def test_each_positive_anchor_centre_lies_inside_its_target(world: dict) -> None:
    for q in world["result"].queries:
        a = q.assigned
        xy = q.anchors[a.anchor]
        box = q.target_boxes[a.target]
        eps = 1e-3
        assert (xy[:, 0] > box[:, 0] - eps).all() and (xy[:, 0] < box[:, 2] + eps).all()
        assert (xy[:, 1] > box[:, 1] - eps).all() and (xy[:, 1] < box[:, 3] + eps).all()


def test_predictions_are_in_original_pixels(world: dict) -> None:
    r = coordinate_ranges(world["result"])
    assert r.max_image_side == 200 and r.inverted == 0 and r.count > 0
    assert r.low[0] >= 0 and r.low[1] >= 0 and r.high[2] <= 200 and r.high[3] <= 120


def test_diagnostics_tables(world: dict) -> None:
    result = world["result"]
    rows = target_rows(result)
    assert len(rows) == sum(len(q.target_boxes) for q in result.queries)
    assert sum(r.positives for r in rows) == result.losses.positives
    assert sum(positives_per_target(result.queries[0])) == len(result.queries[0].assigned)
    hist = assigned_iou_histogram(result)
    assert hist.counts.sum() == result.losses.positives and hist.edges[0] == 0 and hist.edges[-1] == 1
    pos = positive_rows(result)
    assert len(pos) == result.losses.positives and all(np.isfinite(p.wiou_beta) for p in pos)
    losses = {r.name: r for r in loss_rows(result.losses)}
    assert losses["bbox"].gain == pytest.approx(7.5) and losses["cls"].gain == pytest.approx(0.5)
    assert sum(r.share for r in losses.values()) == pytest.approx(1.0)


def test_the_same_episode_gives_the_same_result(world: dict) -> None:
    again = inspect_episode(
        load_detector(world["ckpt"]), world["episode"], score_threshold=0.0, gradients=False
    )
    for a, b in zip(again.queries, world["result"].queries, strict=False):
        np.testing.assert_array_equal(a.pred_boxes, b.pred_boxes)
        np.testing.assert_array_equal(a.assigned.anchor, b.assigned.anchor)


WRAPPER = """
import dataclasses
from inspector.adapters import ReferenceDetector
from inspector.boxes import convert

class Wrapped(ReferenceDetector):
    name = "wrapped"

    def predict(self, episode, score_threshold=None, nms_iou=None):
        result = super().predict(episode, score_threshold, nms_iou)
        queries = tuple(dataclasses.replace(q, pred_boxes=convert(q.pred_boxes, "xyxy", "{fmt}", \
q.image_size))
                        for q in result.queries)
        return dataclasses.replace(result, queries=queries)

def make(path):
    return Wrapped(path)
"""


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["cxcywh", "xyxyn"])
def test_format_doctor_flags_a_wrapper_emitting_another_format(
    fitted: dict, tmp_path: Path, monkeypatch, fmt: str
) -> None:
    name = next(_names)
    (tmp_path / f"{name}.py").write_text(WRAPPER.replace("{fmt}", fmt))
    monkeypatch.syspath_prepend(str(tmp_path))
    result = inspect_episode(
        load_detector(fitted["ckpt"], f"{name}:make"), fitted["episode"], gradients=False
    )
    verdict = format_doctor(result)
    assert verdict.mismatch and verdict.best == fmt, verdict
    assert fmt in verdict.message


@pytest.mark.slow
def test_format_doctor_is_quiet_for_the_reference_adapter(fitted: dict) -> None:
    verdict = format_doctor(fitted["result"])
    # the over-fitted model does find its targets with its most confident boxes (one per target)
    from inspector.format_doctor import DOCTOR_MIN_IOU

    assert verdict.as_is > DOCTOR_MIN_IOU
    assert not verdict.mismatch, verdict


def test_format_doctor_is_quiet_for_an_untrained_model(world: dict) -> None:
    ckpt = save_checkpoint(world["root"] / "untrained.pt", create_model(ModelConfig()), ModelConfig())
    result = inspect_episode(load_detector(ckpt), world["episode"], gradients=False)
    assert not format_doctor(result).mismatch


def test_video_episode_gives_per_frame_results_and_st_iou(tmp_path: Path) -> None:
    write_video_samples(tmp_path / "clips", 2, seed=0)
    episode = EpisodeSampler(read_dataset(tmp_path / "clips"), 2, 2, 0, seed=0).sample(0)
    ckpt = save_checkpoint(tmp_path / "m.pt", create_model(ModelConfig()), ModelConfig())
    result = inspect_episode(load_detector(ckpt), episode, gradients=False)
    assert result.queries == () and len(result.clips) == 2
    for clip, source in zip(result.clips, episode.clips, strict=False):
        assert len(clip.frames) == len(source.frames)
        assert clip.way == int(next(f.labels[0] for f in source.frames if len(f.labels)))
        value = clip_st_iou(clip)
        assert math.isnan(value) or 0.0 <= value <= 1.0
    assert result.losses.positives == sum(len(f.assigned) for c in result.clips for f in c.frames)
    assert dataclasses.asdict(result.losses)


ORACLE = '''
import numpy as np
from inspector.adapters import EpisodeResult, QueryResult
from inspector.boxes import convert

class Oracle:
    """Predicts each target, slightly off, written in format FMT."""
    name = "oracle"
    class_names = ()

    def __init__(self, path):
        self.rng = np.random.default_rng(0)

    def predict(self, episode, score_threshold=None, nms_iou=None):
        out = []
        for q in episode.queries:
            size = np.array([q.size[1], q.size[0]] * 2, np.float32)
            boxes = q.boxes + self.rng.normal(0, 0.02, q.boxes.shape).astype(np.float32) * size
            out.append(QueryResult(q.image_id, q.size, convert(boxes, "xyxy", "FMT", q.size),
                                   np.full(len(boxes), 0.9, np.float32), q.labels, q.boxes, q.labels))
        return EpisodeResult(episode.index, episode.class_names, tuple(out))

def make(path):
    return Oracle(path)
'''


@pytest.mark.parametrize("fmt", ["xyxy", "xywh", "cxcywh", "xyxyn", "xywhn", "cxcywhn"])
def test_format_doctor_names_the_format_an_adapter_really_emits(
    world: dict, tmp_path: Path, monkeypatch, fmt: str
) -> None:
    name = next(_names)
    (tmp_path / f"{name}.py").write_text(ORACLE.replace("FMT", fmt))
    monkeypatch.syspath_prepend(str(tmp_path))
    verdict = format_doctor(inspect_episode(load_detector(world["ckpt"], f"{name}:make"), world["episode"]))
    if fmt == "xyxy":
        assert not verdict.mismatch and verdict.as_is > 0.7, verdict
    else:
        assert verdict.mismatch and verdict.best == fmt, verdict
