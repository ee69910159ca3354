"""Pillow overlays: colours for TP/FP/FN from the match the caller passes, anchors sized by alignment and
filtered by stride, legible labels."""

from __future__ import annotations

import numpy as np
import pytest

import inspector.evaluate
from inspector.draw import (
    FN,
    FP,
    OKABE_ITO,
    TARGET_CYCLE,
    TP,
    Visualizer,
    box_label,
    display_scale,
    draw_boxes,
    draw_overlay,
)
from inspector.evaluate import Matching, match_query
from inspector.results import Assigned, QueryResult

GREY = (128, 128, 128)


def _image(h: int = 128, w: int = 128) -> np.ndarray:
    return np.full((h, w, 3), GREY, np.uint8)


def _count(img, color) -> int:
    return int((np.asarray(img)[..., :3] == np.asarray(color, np.uint8)).all(-1).sum())


NAMES = ("circle", "star")


def _query(**kw) -> QueryResult:
    base = dict(
        image_id="q",
        image_size=(128, 128),
        target_boxes=np.array([[10, 10, 50, 50], [60, 70, 100, 100]], np.float32),
        target_labels=np.array([0, 1]),
        pred_boxes=np.array([[10, 10, 50, 50], [80, 20, 120, 60]], np.float32),
        scores=np.array([0.9, 0.8], np.float32),
        labels=np.array([0, 1]),
    )
    base.update(kw)
    return QueryResult(**base)


def _draw(q: QueryResult, iou_threshold: float = 0.5, **kw):
    return draw_overlay(_image(), q, match_query(q, iou_threshold), NAMES, **kw)


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
    img = _draw(_query(), legend=False)
    arr = np.asarray(img)
    s = 4  # display scale of a 128 px image
    assert (arr[40 * s, 10 * s] == TP).all()  # left edge of the matched prediction
    assert (arr[40 * s, 120 * s - 1] == FP).all()  # right edge of the unmatched one
    assert _count(img, FN) > 100  # the missed target, dashed
    assert _count(img, TP) > 100 and _count(img, FP) > 100


def test_matching_respects_the_iou_threshold() -> None:
    near = _query(
        pred_boxes=np.array([[14, 14, 54, 54]], np.float32), scores=np.array([0.9]), labels=np.array([0])
    )
    assert _count(_draw(near, 0.5, legend=False), TP) > 0
    strict = _draw(near, 0.9, legend=False)
    assert _count(strict, TP) == 0 and _count(strict, FP) > 0


def test_drawing_takes_the_match_it_is_given_and_never_matches(monkeypatch) -> None:
    q = _query()
    m = match_query(q)
    # A matching that calls the geometrically perfect prediction 0 a false positive: the overlay must say so.
    told = Matching(np.array([False, False]), np.array([-1, -1]), np.zeros(2), np.array([False, False]))

    def refuse(*a, **k):
        raise AssertionError("draw_overlay ran the matching itself")

    monkeypatch.setattr(inspector.evaluate, "match", refuse)
    monkeypatch.setattr(inspector.evaluate, "match_query", refuse)
    arr = np.asarray(draw_overlay(_image(), q, told, NAMES, legend=False))
    assert _count(arr, TP) == 0 and _count(arr, FP) > 100
    assert _count(draw_overlay(_image(), q, m, NAMES, legend=False), TP) > 100
    with pytest.raises(ValueError, match="2 predictions"):
        draw_overlay(
            _image(),
            _query(
                pred_boxes=np.zeros((1, 4), np.float32),
                scores=np.ones(1, np.float32),
                labels=np.zeros(1, np.int64),
            ),
            m,
        )


def test_anchors_are_coloured_by_target_sized_by_alignment_and_filtered_by_stride() -> None:
    anchors = np.array([[20, 20], [40, 40], [80, 85]], np.float32)
    assigned = Assigned(
        anchor=np.array([0, 1, 2]),
        target=np.array([0, 0, 1]),
        align_metric=np.array([1.0, 0.1, 1.0], np.float32),
        iou=np.ones(3, np.float32),
        pred_boxes=np.zeros((3, 4), np.float32),
    )
    overlay = _query(anchors=anchors, strides=np.array([8, 8, 16]), assigned=assigned)
    img = np.asarray(_draw(overlay, legend=False))
    first, second = TARGET_CYCLE[0], TARGET_CYCLE[1]

    def window(xy):
        return img[int(xy[1]) * 4 - 20 : int(xy[1]) * 4 + 20, int(xy[0]) * 4 - 20 : int(xy[0]) * 4 + 20]

    big, small = _count(window(anchors[0]), first), _count(window(anchors[1]), first)
    assert big > 2 * small > 0
    assert _count(window(anchors[2]), second) > 0
    only16 = np.asarray(_draw(overlay, strides_shown={16}, legend=False))
    assert _count(only16, first) == 0 and _count(only16, second) > 0
    hidden = np.asarray(_draw(overlay, show_anchors=False, legend=False))
    assert _count(hidden, second) == 0


def test_legend_names_what_is_drawn() -> None:
    with_legend = np.asarray(_draw(_query()))
    plain = np.asarray(_draw(_query(), legend=False))
    assert with_legend.shape[0] > plain.shape[0] == 512  # a strip below: the legend hides nothing
    np.testing.assert_array_equal(with_legend[:512], plain)
    assert _count(with_legend[512:], FN) > 0 and _count(with_legend[512:], TP) > 0


@pytest.mark.parametrize("shape", [(128, 128), (64, 300), (900, 700)])
def test_any_image_size_and_greyscale(shape) -> None:
    grey = np.full(shape, 100, np.uint8)
    img = draw_boxes(grey, np.array([[1, 1, 30, 30]]), ["circle"], color=OKABE_ITO["blue"])
    assert img.mode == "RGB" and _count(img, OKABE_ITO["blue"]) > 0
