"""Box formats, conversion, the IoU family, clipping and letterbox maps (inspector/boxes.py)."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch

from inspector.boxes import (
    bbox_iou_aligned,
    box_iou,
    clip_boxes,
    convert,
    from_letterbox,
    letterbox_params,
    to_letterbox,
)

ALL = ["xyxy", "xywh", "cxcywh", "xyxyn", "xywhn", "cxcywhn"]
SIZE = (100, 200)  # (height, width)


def test_convert_hand_values():
    xywh = np.array([[10, 20, 30, 40]], np.float32)
    np.testing.assert_allclose(convert(xywh, "xywh", "xyxy"), [[10, 20, 40, 60]])
    np.testing.assert_allclose(convert(xywh, "xywh", "cxcywh"), [[25, 40, 30, 40]])
    # normalised: x / width (200), y / height (100)
    to_norm = convert(np.array([[20.0, 10, 60, 50]]), "xyxy", "xyxyn", SIZE)
    np.testing.assert_allclose(to_norm, [[0.1, 0.1, 0.3, 0.5]])
    from_norm = convert(np.array([[0.5, 0.5, 0.2, 0.4]]), "cxcywhn", "xyxy", SIZE)
    np.testing.assert_allclose(from_norm, [[80, 30, 120, 70]])


@pytest.mark.parametrize("src,dst", list(itertools.permutations(ALL, 2)))
def test_convert_round_trips_numpy_and_torch(src, dst):
    rng = np.random.default_rng(0)
    xy = rng.uniform(0, 90, (5, 2))
    xyxy = np.concatenate([xy, xy + rng.uniform(1, 10, (5, 2))], 1).astype(np.float32)
    boxes = convert(xyxy, "xyxy", src, SIZE)
    back = convert(convert(boxes, src, dst, SIZE), dst, src, SIZE)
    np.testing.assert_allclose(back, boxes, rtol=1e-5, atol=1e-4)
    as_torch = convert(torch.from_numpy(boxes), src, dst, SIZE)
    assert isinstance(as_torch, torch.Tensor)
    np.testing.assert_allclose(as_torch.numpy(), convert(boxes, src, dst, SIZE), rtol=1e-5, atol=1e-4)


def test_convert_rejects_unknown_format_and_missing_size():
    with pytest.raises(ValueError):
        convert(np.zeros((1, 4)), "xyxy", "ltrb")
    with pytest.raises(ValueError):
        convert(np.zeros((1, 4)), "xyxy", "xyxyn")


def test_box_iou_hand_computed():
    a = np.array([[0, 0, 10, 10], [0, 0, 10, 10]], np.float32)
    b = np.array([[5, 5, 15, 15], [20, 20, 30, 30], [0, 0, 10, 10]], np.float32)
    # overlap 5×5 = 25; union 100 + 100 − 25 = 175
    expected = [[25 / 175, 0, 1], [25 / 175, 0, 1]]
    np.testing.assert_allclose(box_iou(a, b), expected, rtol=1e-5)
    np.testing.assert_allclose(box_iou(torch.from_numpy(a), torch.from_numpy(b)).numpy(), expected, rtol=1e-5)


def test_aligned_iou_family_hand_computed():
    a = torch.tensor([[0.0, 0, 10, 10]])
    b = torch.tensor([[5.0, 5, 15, 15]])
    iou = 25 / 175
    # GIoU: enclosing box 15×15 = 225, empty part 225 − 175 = 50
    assert bbox_iou_aligned(a, b, "giou").item() == pytest.approx(iou - 50 / 225, rel=1e-5)
    # DIoU: centres (5,5) and (10,10) → ρ² = 50; enclosing diagonal² = 15² + 15² = 450
    assert bbox_iou_aligned(a, b, "diou").item() == pytest.approx(iou - 50 / 450, rel=1e-5)
    # CIoU with equal aspect ratios has v = 0, so it equals DIoU
    assert bbox_iou_aligned(a, b, "ciou").item() == pytest.approx(iou - 50 / 450, rel=1e-5)
    # CIoU with different aspect: a 10×10, c 20×10 at the same corner:
    #   IoU = 100/200, ρ² = 5² = 25, c² = 20² + 10² = 500
    c = np.array([[0.0, 0, 20, 10]])
    v = 4 / math.pi**2 * (math.atan(2) - math.atan(1)) ** 2
    alpha = v / (1 - 0.5 + v)
    ciou = bbox_iou_aligned(a.numpy().astype(np.float64), c, "ciou")[0]
    assert ciou == pytest.approx(0.5 - (25 / 500 + alpha * v), rel=1e-5)
    assert bbox_iou_aligned(a.numpy(), c, "iou")[0] == pytest.approx(0.5, rel=1e-6)


def test_clip_boxes():
    boxes = np.array([[-5, -5, 250, 50], [10, 90, 20, 130]], np.float32)
    np.testing.assert_array_equal(clip_boxes(boxes, SIZE), [[0, 0, 200, 50], [10, 90, 20, 100]])
    clipped = clip_boxes(torch.from_numpy(boxes), SIZE).numpy()
    np.testing.assert_array_equal(clipped, [[0, 0, 200, 50], [10, 90, 20, 100]])


def test_letterbox_params_and_round_trip():
    lb = letterbox_params((100, 200), 128)
    assert lb.scale == pytest.approx(0.64)
    assert lb.resized == (64, 128)
    assert (lb.pad_x, lb.pad_y) == (0, 32)
    boxes = np.array([[0, 0, 200, 100], [50, 25, 75, 50]], np.float32)
    canvas = to_letterbox(boxes, lb)
    np.testing.assert_allclose(canvas[0], [0, 32, 128, 96])
    np.testing.assert_allclose(from_letterbox(canvas, lb), boxes, atol=1e-4)
    np.testing.assert_allclose(from_letterbox(torch.from_numpy(canvas), lb).numpy(), boxes, atol=1e-4)


@pytest.mark.parametrize("h, w", [(100, 203), (77, 128), (128, 45)])
def test_letterbox_boxes_land_on_the_pasted_image(h, w):
    # A bright block in the image: its intensity centre on the canvas must be where to_letterbox puts the
    # block's box centre. With odd padding the old fractional pad put it half a pixel off.
    from inspector.model.predict import letterbox_image

    image = np.zeros((h, w, 3), np.uint8)
    y1, y2, x1, x2 = h // 4, h // 2 + 3, w // 3, w // 3 + max(4, w // 5)
    image[y1:y2, x1:x2] = 255
    lb = letterbox_params((h, w), 128)
    canvas = letterbox_image(image, lb).astype(np.float64)[..., 0]
    inside = np.where(canvas > 114, canvas - 114, 0.0)  # the grey padding (114) is not the block
    ys, xs = np.indices(canvas.shape)
    centre = np.array([(inside * (xs + 0.5)).sum(), (inside * (ys + 0.5)).sum()]) / inside.sum()
    box = to_letterbox(np.array([[x1, y1, x2, y2]], np.float32), lb)[0]
    np.testing.assert_allclose(centre, [(box[0] + box[2]) / 2, (box[1] + box[3]) / 2], atol=0.2)
    assert lb.pad_x == int(lb.pad_x) and lb.pad_y == int(lb.pad_y)
