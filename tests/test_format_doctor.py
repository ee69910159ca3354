"""The format doctor: which side's boxes are off (predictions, targets), from IoU under re-readings, the
boxes' geometry against their images and the dataset's own format warnings; per episode and over rows."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from inspector.adapters import ClipResult, EpisodeResult, QueryResult
from inspector.boxes import convert
from inspector.data import read_dataset
from inspector.data.shapes import write_coco_dataset
from inspector.format_doctor import (
    FINE,
    PREDICTIONS,
    TARGETS,
    UNDECIDED,
    DoctorImage,
    diagnose_images,
    doctor_results,
    doctor_rows,
    format_doctor,
    images_of_result,
    mean_best_iou,
)

SIZE = (120, 200)  # (h, w): not square, so a reading that swaps x and y scales cannot pass for the right one


def _spread(
    rng: np.random.Generator, n: int, size: tuple[int, int] = SIZE, lo: float = 0.1, hi: float = 0.4
) -> np.ndarray:
    """n xyxy boxes of lo..hi of each side, placed anywhere in the image."""
    h, w = size
    wh = rng.uniform(lo, hi, (n, 2)) * [w, h]
    xy = rng.uniform(0, 1, (n, 2)) * ([w, h] - wh)
    return np.concatenate([xy, xy + wh], 1)


def _truth(seed: int = 0, images: int = 6, per_image: int = 3) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [_spread(rng, per_image) for _ in range(images)]


def _detected(boxes: np.ndarray, seed: int = 1) -> np.ndarray:
    """What a good detector returns for `boxes`: the same boxes, a pixel or two off."""
    return boxes + np.random.default_rng(seed).normal(0, 1.5, boxes.shape)


def _query(name: str, preds: np.ndarray, targets: np.ndarray, size: tuple[int, int]) -> QueryResult:
    return QueryResult(
        name,
        size,
        np.asarray(preds, np.float32),
        np.full(len(preds), 0.9, np.float32),
        np.zeros(len(preds), np.int64),
        np.asarray(targets, np.float32),
        np.zeros(len(targets), np.int64),
    )


def _result(
    preds: list[np.ndarray], targets: list[np.ndarray], size: tuple[int, int] = SIZE
) -> EpisodeResult:
    return EpisodeResult(
        0,
        ("thing",),
        tuple(_query(f"q{i}", p, t, size) for i, (p, t) in enumerate(zip(preds, targets, strict=False))),
    )


# ---------- the four verdicts, per episode ----------


def test_both_correct_is_fine() -> None:
    truth = _truth()
    verdict = format_doctor(_result([_detected(t) for t in truth], truth))
    assert verdict.verdict == FINE and not verdict.mismatch, verdict.message
    assert verdict.as_is > 0.8 and verdict.targets == 18


@pytest.mark.parametrize("fmt", ["xywh", "cxcywh", "xyxyn", "xywhn", "cxcywhn"])
def test_predictions_in_another_format_blame_the_adapter(fmt: str) -> None:
    truth = _truth()
    preds = [convert(_detected(t), "xyxy", fmt, SIZE) for t in truth]
    verdict = format_doctor(_result(preds, truth))
    assert verdict.verdict == PREDICTIONS and verdict.mismatch and verdict.best == fmt, verdict.message
    size = ", image_size" if fmt.endswith("n") else ""
    assert f"inspector.boxes.convert(boxes, '{fmt}', 'xyxy'{size})" in verdict.message
    assert verdict.target_reading is None


def _coco_reader(raw: np.ndarray, size: tuple[int, int] = SIZE) -> np.ndarray:
    """What the COCO reader makes of `raw` numbers: read as xywh, clipped, mostly-outside boxes dropped (as
    inspector.data.dataset.check_box does), so the targets are what an episode really holds."""
    from inspector.data.dataset import check_box

    kept = [b for b, _ in (check_box(convert(r, "xywh", "xyxy"), size) for r in raw) if b is not None]
    return np.asarray(kept, np.float64).reshape(-1, 4)


def test_correct_predictions_with_corner_targets_blame_the_dataset_from_geometry() -> None:
    # The COCO file holds [x1, y1, x2, y2]; the reader took them for [x, y, w, h]. Read as xywh, the
    # predictions equal the targets (that is the symmetry that used to blame the adapter), but that reading
    # pushes them over the image edge while as xyxy they are sane boxes: the targets are off.
    truth = _truth()
    verdict = format_doctor(_result([_detected(t) for t in truth], [_coco_reader(t) for t in truth]))
    assert verdict.verdict == TARGETS and verdict.mismatch and verdict.best == "xywh", verdict.message
    assert verdict.target_reading == "xyxy"
    assert "dataset file" in verdict.message and "adapter" in verdict.message  # "... not the adapter"
    assert "convert(" not in verdict.message


def test_a_relation_the_geometry_cannot_place_is_undecided_not_the_adapters_fault() -> None:
    # Objects crowding the top-left corner: corners read as [x, y, w, h] stay inside the image, so nothing in
    # the geometry says which side is off. The doctor says so instead of blaming the adapter.
    rng = np.random.default_rng(3)
    truth = [_spread(rng, 3, (60, 100), 0.2, 0.5) for _ in range(6)]  # all inside the top-left 60x100
    verdict = format_doctor(_result([_detected(t) for t in truth], [_coco_reader(t) for t in truth]))
    assert verdict.verdict == UNDECIDED and verdict.mismatch, verdict.message
    assert "dataset" in verdict.message and "adapter" in verdict.message


def test_normalised_targets_blame_the_dataset_without_any_dataset_evidence() -> None:
    truth = _truth()
    targets = [_coco_reader(convert(t, "xyxy", "xywhn", SIZE)) for t in truth]  # fractions read as pixels
    verdict = format_doctor(_result([_detected(t) for t in truth], targets))
    assert verdict.verdict == TARGETS and verdict.mismatch, verdict.message
    assert "normalised" in verdict.message and "18 of 18 targets" in verdict.message


def test_no_targets_is_undecided() -> None:
    truth = _truth()
    verdict = format_doctor(_result([_detected(t) for t in truth], [np.zeros((0, 4))] * len(truth)))
    assert verdict.verdict == UNDECIDED and not verdict.mismatch and verdict.targets == 0
    assert math.isnan(verdict.as_is) and "no targets" in verdict.message


def test_predictions_that_find_nothing_say_nothing_about_formats() -> None:
    rng = np.random.default_rng(7)
    truth = _truth()
    verdict = format_doctor(_result([_spread(rng, 3) for _ in truth], truth))  # an untrained model's boxes
    assert verdict.verdict == UNDECIDED and not verdict.mismatch, verdict.message


# ---------- with the dataset's own evidence ----------


def _rewrite_coco(root: Path, how) -> Path:
    path = root / "annotations.json"
    doc = json.loads(path.read_text())
    sizes = {im["id"]: (im["height"], im["width"]) for im in doc["images"]}
    for ann in doc["annotations"]:
        ann["bbox"] = how(np.asarray(ann["bbox"], np.float64), sizes[ann["image_id"]]).tolist()
    path.write_text(json.dumps(doc))
    return root


def _episode_of(dataset, truth_by_id: dict[str, np.ndarray]) -> EpisodeResult:
    """An EpisodeResult over every image of `dataset`: targets as the reader made them, predictions the true
    boxes (a detector trained on correct data)."""
    queries = []
    for e in dataset.images:
        preds = _detected(truth_by_id[e.image_id]).astype(np.float32)
        queries.append(
            QueryResult(
                e.image_id,
                e.size,
                preds,
                np.full(len(preds), 0.9, np.float32),
                np.zeros(len(preds), np.int64),
                e.boxes,
                e.labels,
            )
        )
    return EpisodeResult(0, dataset.class_names, tuple(queries))


def test_correct_predictions_with_a_corner_coco_file_blame_the_file(tmp_path: Path) -> None:
    write_coco_dataset(tmp_path / "ok", 12, seed=0)
    truth = {e.image_id: e.boxes.astype(np.float64) for e in read_dataset(tmp_path / "ok").images}
    write_coco_dataset(tmp_path / "bad", 12, seed=0)
    bad = read_dataset(_rewrite_coco(tmp_path / "bad", lambda b, _: convert(b, "xywh", "xyxy")))
    assert [w.fits for w in bad.warnings] == ["xyxy"]
    verdict = format_doctor(_episode_of(bad, truth), bad.warnings)
    assert verdict.verdict == TARGETS and verdict.target_reading == "xyxy", verdict.message
    assert "annotations.json" in verdict.message and "Fix the dataset file" in verdict.message
    # The same boxes without the dataset's evidence never blame the adapter.
    assert format_doctor(_episode_of(bad, truth)).verdict != PREDICTIONS


def test_dataset_warnings_speak_even_when_no_target_survived(tmp_path: Path) -> None:
    # A YOLO folder written in pixels: the reader skips every row (mostly outside once scaled), so episodes
    # hold no targets; the dataset's warning still says the targets' file is off, and in which reading.
    from PIL import Image

    (tmp_path / "images").mkdir()
    (tmp_path / "labels").mkdir()
    (tmp_path / "data.yaml").write_text("names: [thing]\n")
    for i in range(3):
        Image.new("RGB", (200, 120)).save(tmp_path / "images" / f"{i}.png")
        (tmp_path / "labels" / f"{i}.txt").write_text("0 100 60 40 30\n0 50 40 30 20\n")
    dataset = read_dataset(tmp_path)
    assert dataset.n_boxes == 0 and [w.fits for w in dataset.warnings] == ["cxcywh"]
    verdict = format_doctor(_result([np.zeros((0, 4))], [np.zeros((0, 4))]), dataset.warnings)
    assert verdict.verdict == TARGETS and verdict.target_reading == "cxcywh" and verdict.mismatch
    assert "labels/" in verdict.message and "6 of 6 boxes" in verdict.message


# ---------- over many episodes and over evaluation rows ----------


def test_results_and_clip_frames_are_pooled() -> None:
    truth = _truth()
    preds = [convert(_detected(t), "xyxy", "xywh") for t in truth]
    whole = _result(preds, truth)
    halves = [_result(preds[:3], truth[:3]), _result(preds[3:], truth[3:])]
    assert doctor_results(halves) == format_doctor(whole)
    clip = ClipResult("c", 0, whole.queries)  # the same boxes as clip frames count the same
    as_clip = EpisodeResult(0, ("thing",), (), clips=(clip,))
    assert format_doctor(as_clip) == format_doctor(whole)
    assert mean_best_iou(whole, "xywh") == format_doctor(whole).readings["xywh"]


def _rows(result: EpisodeResult, sizes: bool = True) -> pd.DataFrame:
    """Evaluation rows as inspector.batch writes them (flat lists per image), with the image size columns the
    doctor asks for when `sizes`, and a clip row (its boxes live in no image row)."""
    rows = [
        {
            "kind": "image",
            "image_id": q.image_id,
            "gt_boxes": q.target_boxes.reshape(-1).tolist(),
            "gt_labels": q.target_labels.tolist(),
            "pred_boxes": q.pred_boxes.reshape(-1).tolist(),
            "scores": q.scores.tolist(),
            "pred_labels": q.labels.tolist(),
            **({"image_height": q.image_size[0], "image_width": q.image_size[1]} if sizes else {}),
        }
        for q in result.queries
    ]
    rows.append(
        {
            "kind": "clip",
            "image_id": "c",
            "gt_boxes": [],
            "gt_labels": [],
            "pred_boxes": [],
            "scores": [],
            "pred_labels": [],
        }
    )
    return pd.DataFrame(rows)


@pytest.mark.parametrize("fmt, verdict", [("xyxy", FINE), ("xywh", PREDICTIONS), ("cxcywhn", PREDICTIONS)])
def test_rows_give_the_verdict_of_the_results_they_came_from(fmt: str, verdict: str) -> None:
    truth = _truth()
    result = _result([convert(_detected(t), "xyxy", fmt, SIZE) for t in truth], truth)
    rows = _rows(result)
    from_rows = doctor_rows(rows)
    assert from_rows == format_doctor(result) and from_rows.verdict == verdict, from_rows.message
    # Read back from Parquet the lists are numpy arrays and the sizes int64: the same verdict.
    assert doctor_rows(pa.Table.from_pandas(rows, preserve_index=False).to_pandas()) == from_rows


def test_rows_without_image_sizes_try_only_the_pixel_readings() -> None:
    truth = _truth()
    xywh = _result([convert(_detected(t), "xyxy", "xywh") for t in truth], truth)
    pixel = doctor_rows(_rows(xywh, sizes=False))
    assert pixel.verdict == PREDICTIONS and math.isnan(pixel.readings["xywhn"])
    normalised = _result([convert(_detected(t), "xyxy", "xywhn", SIZE) for t in truth], truth)
    assert doctor_rows(_rows(normalised, sizes=False)).verdict == UNDECIDED  # cannot be read without sizes
    assert doctor_rows(_rows(normalised)).verdict == PREDICTIONS


def test_images_of_result_keep_the_boxes_as_given() -> None:
    truth = _truth(images=1)
    images = images_of_result(_result([truth[0] * 0.5], truth))
    assert len(images) == 1 and isinstance(images[0], DoctorImage)
    np.testing.assert_allclose(images[0].pred_boxes, truth[0] * 0.5, rtol=1e-6)
    assert images[0].image_size == SIZE
    assert diagnose_images(images).targets == 3


def test_an_untrained_models_random_boxes_are_no_format_mismatch():
    # 100 random boxes per image: read as xywh (bigger) they cover targets better by chance; the doctor reads
    # only each image's most confident boxes, one per target, and sees no relation.
    from inspector.format_doctor import _image, diagnose_images

    rng = np.random.default_rng(0)
    images = []
    for _ in range(40):
        targets = np.array([[20, 30, 80, 100], [60, 10, 120, 50]], float)
        xy = rng.uniform(0, 110, (100, 2))
        preds = np.concatenate([xy, xy + rng.uniform(5, 40, (100, 2))], 1)
        images.append(_image(preds, targets, (128, 128), rng.random(100)))
    assert not diagnose_images(images).mismatch
