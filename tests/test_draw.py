"""Pillow overlays: colours and dashes for TP/FP/FN from the match the caller passes, anchors sized by
alignment and filtered by stride, legible labels that never hide each other."""

from __future__ import annotations

import numpy as np
import pytest

import inspector.evaluate
from inspector.draw import (
    FN,
    FP,
    OKABE_ITO,
    STROKES,
    TARGET,
    TARGET_CYCLE,
    TP,
    Visualizer,
    box_label,
    compose_boxes,
    compose_overlay,
    display_scale,
    legend_caption,
)
from inspector.evaluate import Matching, match_query
from inspector.label_style import LABEL_PX, MIN_CONTRAST, contrast, label_colours
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
    return compose_overlay(_image(), q, match_query(q, iou_threshold), NAMES, **kw).image


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
    assert (arr[40 * s, 10 * s] == TP).all()  # left edge of the matched prediction (solid)
    right_edge = arr[30 * s : 60 * s, 120 * s - 2 : 120 * s]  # the unmatched one's (dashed)
    assert _count(right_edge, FP) > 0
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
        raise AssertionError("compose_overlay ran the matching itself")

    monkeypatch.setattr(inspector.evaluate, "match", refuse)
    monkeypatch.setattr(inspector.evaluate, "match_query", refuse)
    arr = np.asarray(compose_overlay(_image(), q, told, NAMES, legend=False).image)
    assert _count(arr, TP) == 0 and _count(arr, FP) > 100
    assert _count(compose_overlay(_image(), q, m, NAMES, legend=False).image, TP) > 100
    with pytest.raises(ValueError, match="2 predictions"):
        compose_overlay(
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
    img = compose_boxes(grey, np.array([[1, 1, 30, 30]]), ["circle"], color=OKABE_ITO["blue"]).image
    assert img.mode == "RGB" and _count(img, OKABE_ITO["blue"]) > 0


def _crowded() -> QueryResult:
    """Issue 21's case: a false positive "star 0.59" on the same object as the match "circle 0.51", four
    predictions heaped there, and boxes on the image's edge and in its corner (two targets missed)."""
    return _query(
        target_boxes=np.array(
            [[30, 30, 70, 70], [0, 0, 20, 20], [108, 100, 128, 128], [80, 10, 100, 30]], np.float32
        ),
        target_labels=np.array([0, 1, 0, 1]),
        pred_boxes=np.array(
            [
                [30, 30, 70, 70],
                [31, 31, 71, 71],
                [29, 32, 69, 72],
                [33, 29, 73, 69],
                [0, 0, 21, 19],
                [108, 118, 128, 128],
            ],
            np.float32,
        ),
        scores=np.array([0.59, 0.51, 0.5, 0.45, 0.4, 0.3], np.float32),
        labels=np.array([1, 0, 1, 0, 1, 0]),
    )


def _intersecting(rects) -> list:
    return [(a, b) for i, a in enumerate(rects) for b in rects[i + 1 :] if a.intersects(b)]


@pytest.mark.parametrize("side", [512, 1024])
def test_labels_on_heavily_overlapping_boxes_never_hide_each_other(side) -> None:
    q = _crowded()
    overlay = compose_overlay(_image(), q, match_query(q), NAMES, legend=False, side=side)
    rects = [label.rect for label in overlay.labels]
    assert len(rects) == 6 + 2 and all(r is not None for r in rects)  # 6 predictions, 2 missed targets
    assert not _intersecting(rects)
    size = overlay.image.size
    assert all(r.inside(size) for r in rects)
    texts = {label.text for label in overlay.labels}
    assert "circle 0.51 · IoU 0.91" in texts and "FP star 0.59" in texts  # issue 21's pair, both shown
    assert {"missed circle", "missed star"} <= texts


def test_labels_stay_inside_the_image_at_every_edge() -> None:
    boxes = np.array([[0, 0, 8, 8], [120, 0, 128, 8], [0, 120, 8, 128], [120, 120, 128, 128]], np.float32)
    overlay = compose_boxes(_image(), boxes, ["circle", "star", "circle", "star"], side=512)
    assert all(lab.rect is not None and lab.rect.inside(overlay.image.size) for lab in overlay.labels)
    assert not _intersecting([lab.rect for lab in overlay.labels])


def test_labels_are_drawn_where_the_layout_says() -> None:
    q = _crowded()
    overlay = compose_overlay(_image(), q, match_query(q), NAMES, legend=False)
    arr = np.asarray(overlay.image)
    for label in overlay.labels:
        r = label.rect
        inner = arr[int(r.y1) + 1 : int(r.y2) - 1, int(r.x1) + 1 : int(r.x2) - 1]
        assert (
            _count(inner, label.background) > 0.5 * inner.shape[0] * inner.shape[1]
        )  # filled, no box over it
        assert _count(inner, label.foreground) > 0  # and its text


def test_support_labels_are_at_least_14_px_as_displayed() -> None:
    support = _image(128, 128)
    for shown in (120, 200, 256):
        overlay = compose_boxes(support, np.array([[10, 10, 60, 60]]), ["circle"], shown=shown)
        rect = overlay.labels[0].rect
        displayed = rect.height * min(1.0, shown / overlay.image.width)
        assert displayed >= 14 and overlay.labels[0].text == "circle"
    tiny = compose_boxes(_image(32, 48), np.array([[1, 1, 20, 20]]), ["star"])  # upscaled to ≥ 256 px
    assert tiny.labels[0].rect.height >= LABEL_PX


def test_a_wide_image_gets_labels_that_survive_being_shrunk_to_its_column() -> None:
    wide = Visualizer(_image(900, 1800), shown=600)
    assert wide.label_height * 600 / 1800 >= LABEL_PX - 1e-9


def test_each_kind_has_its_own_dash_and_colour() -> None:
    dashes = {k: s.dash for k, s in STROKES.items()}
    assert len(set(dashes.values())) == len(dashes) == 4 and dashes["tp"] == ()
    assert len({s.color for s in STROKES.values()}) == 4 and STROKES["fn"].color != OKABE_ITO["orange"]
    assert len({s.pattern for s in STROKES.values()}) == 4

    def coverage(kind: str) -> float:
        v = Visualizer(_image(), 512)
        v.draw_stroke([10, 40, 118, 80], kind)
        top = np.asarray(v.get_image())[40 * 4, 40 * 4 : 118 * 4 - 40]
        return _count(top, STROKES[kind].color) / len(top)

    solid, long, dashed, dotted = coverage("tp"), coverage("target"), coverage("fp"), coverage("fn")
    assert solid == 1.0 > long - 0.1 > dashed > dotted + 0.1 > 0.2  # long dashes, dashes, dots


def test_label_text_contrast_meets_wcag_aa() -> None:
    from inspector.ui.tables import contrast_ratio

    for color in [s.color for s in STROKES.values()] + [TARGET, OKABE_ITO["yellow"], (120, 120, 120)]:
        background, text = label_colours(color)
        assert contrast(text, background) >= MIN_CONTRAST
        hexes = ["#{:02x}{:02x}{:02x}".format(*c) for c in (text, background)]
        assert contrast_ratio(*hexes) == pytest.approx(contrast(text, background), rel=1e-6)
    q = _crowded()
    for label in compose_overlay(_image(), q, match_query(q), NAMES).labels:
        assert contrast(label.foreground, label.background) >= MIN_CONTRAST


def test_the_legend_says_which_dash_is_which() -> None:
    words = legend_caption()
    assert (
        "solid: matched" in words and "dashed: false positive" in words and "dotted: missed target" in words
    )
    assert "anchors" not in words and "anchors" in legend_caption(anchors=True)


def test_labels_past_the_limit_are_left_to_the_table_matches_first() -> None:
    boxes = [[4 * k + 60, 4 * k, 4 * k + 80, 4 * k + 20] for k in range(9)] + [[10, 10, 50, 50]]
    many = _query(
        pred_boxes=np.array(boxes, np.float32),
        scores=np.linspace(0.9, 0.1, 10).astype(np.float32),
        labels=np.zeros(10, np.int64),
    )
    overlay = compose_overlay(_image(), many, match_query(many), NAMES, max_labels=4, legend=False)
    assert len(overlay.labels) == 4 and overlay.left_out == 10 + 1 - 4  # 10 predictions, 1 missed target
    assert [lab.text.split()[0] for lab in overlay.labels] == ["circle", "missed", "FP", "FP"]
    assert overlay.labels[0].text.startswith("circle 0.10 · IoU 1.00")  # the match, despite its score
    legend = np.asarray(compose_overlay(_image(), many, match_query(many), NAMES, max_labels=4).image)
    assert legend.shape[0] > np.asarray(overlay.image).shape[0]
