"""Pillow overlays: targets, predictions told apart by colour and dash (TP solid, FP dashed, missed dotted),
labels that never hide each other, assigned anchors, a legend.

Like detectron2's Visualizer, drawing takes an image, a result record and its match, and never calls a model
or evaluates: the caller matches once (evaluate.match_query) and passes the Matching, so the overlay, the
box table and the counts beside it can never disagree. Small images (the shapes demo is 128 px) are upscaled
with nearest-neighbour first, so pixels stay honest; every coordinate given in original pixels is scaled to
the display. Labels are sized for the width the image is *shown* at (Streamlit shrinks a wide image to its
column), and placed by inspector.label_layout; the layout comes back with the image (Overlay) so that tests
and callers can check it.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from PIL import Image, ImageDraw

from inspector.evaluate import Matching
from inspector.label_layout import Rect, Side, box_rect, leader_line, place_labels
from inspector.label_style import BLACK, LABEL_PX, RGB, SHOWN_PX, WHITE, font, label_colours, label_font
from inspector.results import QueryResult

# Okabe & Ito (2008), "Color Universal Design": distinguishable under the common colour-vision deficiencies.
OKABE_ITO: dict[str, RGB] = {
    "orange": (230, 159, 0),
    "sky blue": (86, 180, 233),
    "bluish green": (0, 158, 115),
    "yellow": (240, 228, 66),
    "blue": (0, 114, 178),
    "vermillion": (213, 94, 0),
    "reddish purple": (204, 121, 167),
    "black": (0, 0, 0),
}
TP = OKABE_ITO["bluish green"]
FP = OKABE_ITO["vermillion"]
# Reddish purple, not orange: orange and vermillion (FP) looked alike on 12 px labels (issue 21).
FN = OKABE_ITO["reddish purple"]
TARGET = OKABE_ITO["sky blue"]
# anchors take their target's colour from this cycle (TP/FP/FN colours left out so points never read as boxes)
TARGET_CYCLE = [OKABE_ITO[c] for c in ("blue", "orange", "yellow", "black")]

Kind = Literal["tp", "fp", "fn", "target"]


@dataclass(frozen=True)
class Stroke:
    """How one kind of box is drawn: its colour, its dash (on, off lengths in line widths; () solid; an on
    length ≤ 1 draws round dots), and the legend's words for both."""

    color: RGB
    dash: tuple[float, ...]
    pattern: str
    meaning: str


# Colour AND dash tell the kinds apart, so they survive a colour-vision deficiency or a grey print.
STROKES: dict[Kind, Stroke] = {
    "tp": Stroke(TP, (), "solid", "matched (TP)"),
    "fp": Stroke(FP, (3.0, 2.5), "dashed", "false positive"),
    "fn": Stroke(FN, (1.0, 2.5), "dotted", "missed target"),
    "target": Stroke(TARGET, (8.0, 3.0), "long dashes", "target"),
}
ANCHOR_WORDS = "dots: assigned anchors, coloured by target, sized by alignment"

# Overlays are drawn on an image at least this many pixels on its longer side (nearest upscaling by an
# integer factor), so a 128 px shapes image keeps its pixels crisp next to legible labels.
DISPLAY_SIDE = 512
# Labels on one query overlay: more hide the image they explain (the demo's troubled run has 30+ false
# positives above 0.1 on a 128 px image); the rest are in the box table beside it.
MAX_LABELS = 12


def display_scale(size: tuple[int, int], side: int = DISPLAY_SIDE) -> int:
    """Returns the integer nearest-neighbour factor that brings an image of (h, w) to at least `side` px."""
    return max(1, math.ceil(side / max(1, max(size))))


def box_label(name: str | None, score: float | None = None, iou: float | None = None) -> str:
    """Returns the text next to a box: "name 0.87 · IoU 0.71", parts omitted when absent."""
    parts = [name] if name else []
    if score is not None:
        parts.append(f"{score:.2f}")
    text = " ".join(parts)
    if iou is not None:
        text = f"{text} · IoU {iou:.2f}" if text else f"IoU {iou:.2f}"
    return text


def legend_caption(anchors: bool = False) -> str:
    """The legend in words, for a caption under an overlay: "solid: matched (TP) · dashed: false…"."""
    words = [f"{s.pattern}: {s.meaning}" for s in STROKES.values()]
    return " · ".join(words + ([ANCHOR_WORDS] if anchors else []))


@dataclass(frozen=True)
class DrawnLabel:
    """A label as drawn: its text, the box it names and where it went (display pixels; rect None when the
    image had no free room), whether a leader line joins them, and its colours."""

    text: str
    box: Rect
    rect: Rect | None
    leader: bool
    background: RGB
    foreground: RGB


@dataclass(frozen=True)
class Overlay:
    """An overlay image and the labels on it; `scale` display pixels per original pixel."""

    image: Image.Image
    labels: tuple[DrawnLabel, ...]
    scale: int
    unlabelled: int = 0  # boxes past the label limit (compose_overlay's max_labels)

    @property
    def left_out(self) -> int:
        """Boxes without a label on the image: past the limit, or no free room (the table lists them all)."""
        return self.unlabelled + sum(label.rect is None for label in self.labels)


@dataclass(frozen=True)
class _Pending:
    text: str
    box: Rect
    color: RGB
    prefer: Side


class Visualizer:
    """Draws on a (nearest-)upscaled copy of an (H, W, 3) uint8 image; all inputs are original pixels.

    `shown`: the width in CSS px the image will be displayed at (None: SHOWN_PX or narrower), so that labels
    are LABEL_PX tall as displayed when the browser shrinks a wide image.
    """

    def __init__(self, image: np.ndarray, side: int = DISPLAY_SIDE, shown: int | None = None):
        image = np.asarray(image)
        if image.ndim == 2:
            image = np.stack([image] * 3, -1)
        self.scale = display_scale(image.shape[:2], side)
        h, w = image.shape[:2]
        pil = Image.fromarray(image[..., :3].astype(np.uint8))
        self.image = (
            pil.resize((w * self.scale, h * self.scale), Image.Resampling.NEAREST)
            if self.scale > 1
            else pil.copy()
        )
        self.image = self.image.convert("RGB")
        self.draw = ImageDraw.Draw(self.image)
        self.label_height = LABEL_PX * max(1.0, self.image.width / (shown or SHOWN_PX))
        self.font_size, self.pad, self._top = label_font(self.label_height)
        self.font = font(self.font_size)
        self.line = max(2, round(self.label_height / 6))
        self._pending: list[_Pending] = []
        self.labels: tuple[DrawnLabel, ...] = ()

    def _xy(self, values: Sequence[float] | np.ndarray) -> list[float]:
        return [float(v) * self.scale for v in values]

    def _segment(
        self, a: tuple[float, float], b: tuple[float, float], color: RGB, width: int, dash: tuple[float, ...]
    ) -> None:
        """A line from a to b (display pixels), solid or in the dash pattern (lengths in line widths)."""
        if not dash:
            self.draw.line([a, b], fill=color, width=width)
            return
        on, off = dash[0] * width, dash[1] * width
        length = math.hypot(b[0] - a[0], b[1] - a[1])
        if length < 1e-6:
            return
        ux, uy = (b[0] - a[0]) / length, (b[1] - a[1]) / length
        t = 0.0
        while t <= length:
            if dash[0] <= 1:  # dots: round, a line's width across
                x, y, r = a[0] + ux * t, a[1] + uy * t, width / 2 + 0.5
                self.draw.ellipse([x - r, y - r, x + r, y + r], fill=color)
            else:
                end = min(length, t + on)
                self.draw.line(
                    [(a[0] + ux * t, a[1] + uy * t), (a[0] + ux * end, a[1] + uy * end)],
                    fill=color,
                    width=width,
                )
            t += on + off

    def draw_box(
        self,
        box: Sequence[float] | np.ndarray,
        color: RGB,
        width: int | None = None,
        dash: tuple[float, ...] = (),
    ) -> None:
        """Draws an xyxy box (original pixels) outline, solid or dashed (Stroke.dash)."""
        r = box_rect(self._xy(box))
        width = width or self.line
        if not dash:
            self.draw.rectangle([r.x1, r.y1, r.x2, r.y2], outline=color, width=width)
            return
        corners = [(r.x1, r.y1), (r.x2, r.y1), (r.x2, r.y2), (r.x1, r.y2)]
        for k in range(4):
            self._segment(corners[k], corners[(k + 1) % 4], color, width, dash)

    def draw_stroke(self, box: Sequence[float] | np.ndarray, kind: Kind) -> None:
        """Draws a box as its kind is drawn (STROKES)."""
        stroke = STROKES[kind]
        self.draw_box(box, stroke.color, dash=stroke.dash)

    def add_label(
        self, text: str, box: Sequence[float] | np.ndarray, color: RGB, prefer: Side = "above"
    ) -> None:
        """Queues a label for the box (original pixels); draw_labels places and draws them all, in the order
        queued (earlier labels get the better places)."""
        if text:
            self._pending.append(_Pending(text, box_rect(self._xy(box)), color, prefer))

    def label_size(self, text: str) -> tuple[float, float]:
        """(width, height) in display pixels of the label holding `text`."""
        return self.draw.textlength(text, font=self.font) + 2 * self.pad, self.label_height

    def draw_labels(self) -> tuple[DrawnLabel, ...]:
        """Places the queued labels (label_layout.place_labels) and draws them over everything else, with a
        leader line to each label that had to move away from its box; returns them (also in .labels)."""
        pending, self._pending = self._pending, []
        placements = place_labels(
            [(p.box.x1, p.box.y1, p.box.x2, p.box.y2) for p in pending],
            [self.label_size(p.text) for p in pending],
            (self.image.width, self.image.height),
            [p.prefer for p in pending],
        )
        colours = [label_colours(p.color) for p in pending]
        # leader lines first, then the labels: a later label's line never crosses an earlier label's text
        for p, placed, (background, _) in zip(pending, placements, colours, strict=True):
            if placed is not None and placed.leader:
                a, b = leader_line(placed.rect, p.box)
                self.draw.line([a, b], fill=background, width=max(1, self.line // 2 + 1))
                radius = self.line
                self.draw.ellipse(
                    [b[0] - radius, b[1] - radius, b[0] + radius, b[1] + radius], fill=background
                )
        drawn = []
        for p, placed, (background, text) in zip(pending, placements, colours, strict=True):
            if placed is not None:
                r = placed.rect
                self.draw.rectangle([r.x1, r.y1, r.x2, r.y2], fill=background)
                self.draw.text(
                    (r.x1 + self.pad, r.y1 + self.pad - self._top),
                    p.text,
                    fill=text,
                    font=self.font,
                    anchor="la",
                )
            drawn.append(
                DrawnLabel(
                    p.text,
                    p.box,
                    placed.rect if placed else None,
                    bool(placed and placed.leader),
                    background,
                    text,
                )
            )
        self.labels += tuple(drawn)
        return tuple(drawn)

    def draw_point(self, xy: Sequence[float] | np.ndarray, radius: float, color: RGB) -> None:
        """Draws a filled dot of `radius` display pixels at xy (original pixels), outlined in white."""
        x, y = self._xy(xy)
        self.draw.ellipse(
            [x - radius, y - radius, x + radius, y + radius],
            fill=color,
            outline=WHITE,
            width=max(1, self.line // 2),
        )

    def draw_legend(self, items: Sequence[tuple[str, RGB | None, tuple[float, ...] | None]]) -> None:
        """Appends a white strip below the image with a sample of each item (a line in its dash; dash None: a
        dot; colour None: words only) and its words, wrapped into rows, so the legend never hides what it
        explains."""
        if not items:
            return
        pad, tall = round(self.label_height / 2), round(self.label_height)
        sample = 3 * tall  # a line long enough to show its dash
        placed: list[tuple[float, int, str, RGB | None, tuple[float, ...] | None]] = []
        x: float = pad  # advances by text widths
        y = pad
        for label, color, dash in items:
            width = (
                (sample + pad // 2 if color else 0) + self.draw.textlength(label, font=self.font) + 2 * pad
            )
            if x > pad and x + width > self.image.width:
                x, y = pad, y + tall + pad
            placed.append((x, y, label, color, dash))
            x += width
        strip = y + tall + pad
        canvas = Image.new("RGB", (self.image.width, self.image.height + strip), WHITE)
        canvas.paste(self.image, (0, 0))
        self.image, self.draw = canvas, ImageDraw.Draw(canvas)
        top = canvas.height - strip
        for x, y, label, color, dash in placed:
            mid, words = top + y + tall / 2, x
            if color is not None:
                if dash is None:
                    r = tall / 3
                    self.draw.ellipse([x + sample / 2 - r, mid - r, x + sample / 2 + r, mid + r], fill=color)
                else:
                    self._segment((x, mid), (x + sample, mid), color, self.line + 1, dash)
                words = x + sample + pad // 2
            self.draw.text(
                (words, top + y + self.pad - self._top),
                label,
                fill=BLACK,
                font=self.font,
                anchor="la",
            )

    def get_image(self) -> Image.Image:
        return self.image


def _name(names: Sequence[str], label: int) -> str:
    return names[label] if 0 <= label < len(names) else str(label)


def compose_overlay(
    image: np.ndarray,
    q: QueryResult,
    m: Matching,
    class_names: Sequence[str] = (),
    strides_shown: Collection[int] | None = None,
    show_anchors: bool = True,
    legend: bool = True,
    side: int = DISPLAY_SIDE,
    shown: int | None = None,
    max_labels: int | None = None,
) -> Overlay:
    """Returns the Overlay of the query: targets (long dashes), predictions TP (solid) / FP (dashed) and
    missed targets (dotted) as the Matching `m` of this query says, labels (matches, missed targets, then
    false positives, each by falling score) laid out so that none hides another, and, when the result has
    them, assigned anchors as dots coloured by target and sized by alignment.

    `strides_shown` limits the anchors drawn to those strides (None: all); `shown` is the width the image
    will be displayed at (Visualizer); `max_labels` (None: MAX_LABELS) caps the labels drawn. ValueError
    when `m` is not a matching of this query's predictions and targets.
    """
    pred_boxes = np.asarray(q.pred_boxes).reshape(-1, 4)
    target_boxes = np.asarray(q.target_boxes).reshape(-1, 4)
    if len(m.pred_tp) != len(pred_boxes) or len(m.gt_matched) != len(target_boxes):
        raise ValueError(
            f"the matching covers {len(m.pred_tp)} predictions and {len(m.gt_matched)} targets; "
            f"query {q.image_id!r} has {len(pred_boxes)} and {len(target_boxes)}"
        )
    v = Visualizer(image, side, shown)
    max_labels = MAX_LABELS if max_labels is None else max_labels
    matched = np.asarray(m.gt_matched, bool)
    for t, box in enumerate(target_boxes):
        v.draw_stroke(box, "target" if matched[t] else "fn")
    scores = np.asarray(q.scores, np.float64).reshape(-1)
    for p in np.argsort(scores, kind="stable"):  # best drawn last, on top
        v.draw_stroke(pred_boxes[p], "tp" if m.pred_tp[p] else "fp")
    drawn_anchors = False
    a = q.assigned
    if show_anchors and q.anchors is not None and a is not None and len(a):
        metric = np.asarray(a.align_metric, np.float64)
        top = metric.max() if metric.max() > 0 else 1.0
        smallest, largest = v.line, 3 * v.line  # radius grows with the alignment metric, relative to the best
        for k, i in enumerate(a.anchor):
            if strides_shown is not None and q.strides is not None and int(q.strides[i]) not in strides_shown:
                continue
            color = TARGET_CYCLE[int(a.target[k]) % len(TARGET_CYCLE)]
            v.draw_point(q.anchors[i], smallest + (largest - smallest) * metric[k] / top, color)
            drawn_anchors = True
    # Labels in order of what the user looks for: matches, then missed targets, then false positives, each
    # by falling score; up to max_labels (the box table beside the overlay lists every box).
    order = np.argsort(-scores, kind="stable")
    queued = 0
    for p in [p for p in order if m.pred_tp[p]]:
        if queued < max_labels:
            name = _name(class_names, int(q.labels[p]))
            v.add_label(box_label(name, float(scores[p]), float(m.pred_iou[p])), pred_boxes[p], TP)
            queued += 1
    for missed in np.flatnonzero(~matched):
        if queued < max_labels:
            v.add_label(
                f"missed {_name(class_names, int(q.target_labels[missed]))}",
                target_boxes[missed],
                FN,
                "below",
            )
            queued += 1
    for p in [p for p in order if not m.pred_tp[p]]:
        if queued < max_labels:
            name = _name(class_names, int(q.labels[p]))
            v.add_label(f"FP {box_label(name, float(scores[p]))}", pred_boxes[p], FP)
            queued += 1
    unlabelled = len(pred_boxes) + int((~matched).sum()) - queued
    labels = v.draw_labels()
    if legend:
        items: list[tuple[str, RGB | None, tuple[float, ...] | None]] = [
            (f"{s.meaning}", s.color, s.dash) for s in STROKES.values()
        ]
        if drawn_anchors:
            items.append(("assigned anchor, size = alignment", TARGET_CYCLE[0], None))
        left_out = unlabelled + sum(label.rect is None for label in labels)
        if left_out:
            items.append((f"{left_out} more boxes are labelled in the table", None, None))
        v.draw_legend(items)
    return Overlay(v.get_image(), labels, v.scale, unlabelled)


def compose_boxes(
    image: np.ndarray,
    boxes: np.ndarray,
    labels: Sequence[str] = (),
    color: RGB = TARGET,
    side: int = 256,
    shown: int | None = None,
) -> Overlay:
    """Returns the Overlay of plain boxes (e.g. a support image and its boxes), thumbnail-sized, labelled."""
    v = Visualizer(image, side, shown)
    boxes = np.asarray(boxes).reshape(-1, 4)
    for box in boxes:
        v.draw_box(box, color)
    for k, box in enumerate(boxes[: len(labels)]):
        v.add_label(labels[k], box, color)
    labels_drawn = v.draw_labels()
    return Overlay(v.get_image(), labels_drawn, v.scale)
