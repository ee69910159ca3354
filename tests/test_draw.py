"""Pillow overlays: colours for TP/FP/FN, anchors sized by alignment and filtered by stride, legible labels."""

from __future__ import annotations

import numpy as np
import pytest

from inspector.draw import (FN, FP, OKABE_ITO, TARGET_CYCLE, TP, Overlay, Visualizer, box_label, display_scale,
                            draw_boxes, draw_overlay)

GREY = (128, 128, 128)


def _image(h: int = 128, w: int = 128) -> np.ndarray:
    return np.full((h, w, 3), GREY, np.uint8)


def _count(img, color) -> int:
    return int((np.asarray(img)[..., :3] == np.asarray(color, np.uint8)).all(-1).sum())


def _overlay(**kw) -> Overlay:
    base = dict(target_boxes=np.array([[10, 10, 50, 50], [60, 70, 100, 100]], np.float32),
                target_labels=np.array([0, 1]),
                pred_boxes=np.array([[10, 10, 50, 50], [80, 20, 120, 60]], np.float32),
                scores=np.array([0.9, 0.8], np.float32), labels=np.array([0, 1]), class_names=("circle", "star"))
    base.update(kw)
    return Overlay(**base)


def test_box_label_is_a_pure_function() -> None:
    assert box_label("circle", 0.873, 0.712) == "circle 0.87 · IoU 0.71"
    assert box_label("star") == "star"
    assert box_label(None, None, 0.5) == "IoU 0.50"


def test_small_images_are_upscaled_by_nearest_neighbour() -> None:
    assert display_scale((128, 128)) == 4 and display_scale((100, 600)) == 1
    image = _image()
    image[0, 0] = (255, 0, 0)
    out = np.asarray(Visualizer(image).get_image())
    assert out.shape == (512, 512, 3)
    assert (out[:4, :4] == (255, 0, 0)).all() and (out[4, 4] == GREY).all()  # a crisp 4x4 block, no blur


def test_fonts_scale_with_the_displayed_image() -> None:
    assert Visualizer(_image(2000, 2000)).font_size > 2 * Visualizer(_image()).font_size


def test_prediction_colours_follow_the_matching() -> None:
    img = draw_overlay(_image(), _overlay(), legend=False)
    arr = np.asarray(img)
    s = 4  # display scale of a 128 px image
    assert (arr[40 * s, 10 * s] == TP).all()  # left edge of the matched prediction
    assert (arr[40 * s, 120 * s - 1] == FP).all()  # right edge of the unmatched one
    assert _count(img, FN) > 100  # the missed target, dashed
    assert _count(img, TP) > 100 and _count(img, FP) > 100


def test_matching_respects_the_iou_threshold() -> None:
    near = _overlay(pred_boxes=np.array([[14, 14, 54, 54]], np.float32), scores=np.array([0.9]), labels=np.array([0]))
    assert _count(draw_overlay(_image(), near, iou_threshold=0.5, legend=False), TP) > 0
    strict = draw_overlay(_image(), near, iou_threshold=0.9, legend=False)
    assert _count(strict, TP) == 0 and _count(strict, FP) > 0


def test_anchors_are_coloured_by_target_sized_by_alignment_and_filtered_by_stride() -> None:
    anchors = np.array([[20, 20], [40, 40], [80, 85]], np.float32)
    overlay = _overlay(anchors=anchors, strides=np.array([8, 8, 16]), assigned_anchor=np.array([0, 1, 2]),
                       assigned_target=np.array([0, 0, 1]), assigned_metric=np.array([1.0, 0.1, 1.0]))
    img = np.asarray(draw_overlay(_image(), overlay, legend=False))
    first, second = TARGET_CYCLE[0], TARGET_CYCLE[1]
    window = lambda xy: img[int(xy[1]) * 4 - 20:int(xy[1]) * 4 + 20, int(xy[0]) * 4 - 20:int(xy[0]) * 4 + 20]
    big, small = _count(window(anchors[0]), first), _count(window(anchors[1]), first)
    assert big > 2 * small > 0
    assert _count(window(anchors[2]), second) > 0
    only16 = np.asarray(draw_overlay(_image(), overlay, strides_shown={16}, legend=False))
    assert _count(only16, first) == 0 and _count(only16, second) > 0
    hidden = np.asarray(draw_overlay(_image(), overlay, show_anchors=False, legend=False))
    assert _count(hidden, second) == 0


def test_legend_names_what_is_drawn() -> None:
    with_legend = np.asarray(draw_overlay(_image(), _overlay()))
    plain = np.asarray(draw_overlay(_image(), _overlay(), legend=False))
    assert with_legend.shape[0] > plain.shape[0] == 512  # a strip below: the legend hides nothing
    np.testing.assert_array_equal(with_legend[:512], plain)
    assert _count(with_legend[512:], FN) > 0 and _count(with_legend[512:], TP) > 0


@pytest.mark.parametrize("shape", [(128, 128), (64, 300), (900, 700)])
def test_any_image_size_and_greyscale(shape) -> None:
    grey = np.full(shape, 100, np.uint8)
    img = draw_boxes(grey, np.array([[1, 1, 30, 30]]), ["circle"], color=OKABE_ITO["blue"])
    assert img.mode == "RGB" and _count(img, OKABE_ITO["blue"]) > 0
