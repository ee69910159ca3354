"""Pillow overlays: targets, predictions coloured TP/FP/FN, IoU labels, assigned anchors, a legend.

Like detectron2's Visualizer, drawing takes an image, a result record and its match, and never calls a model
or evaluates: the caller matches once (evaluate.match_query) and passes the Matching, so the overlay, the
box table and the counts beside it can never disagree. Small images
(the shapes demo is 128 px) are upscaled with nearest-neighbour first, so pixels stay honest and labels
legible; every coordinate given in original pixels is scaled to the display.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from inspector.evaluate import Matching
from inspector.results import QueryResult

# Okabe & Ito (2008), "Color Universal Design": distinguishable under the common colour-vision deficiencies.
OKABE_ITO = {
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
FN = OKABE_ITO["orange"]
TARGET = OKABE_ITO["sky blue"]
# anchors take their target's colour from this cycle (TP/FP/FN colours left out so points never read as boxes)
TARGET_CYCLE = [OKABE_ITO[c] for c in ("blue", "reddish purple", "yellow", "black")]
WHITE = (255, 255, 255)
# Overlays are drawn on an image at least this many pixels on its longer side (nearest upscaling by an
# integer factor); 512 keeps 10-12 px labels readable next to boxes from a 128 px image.
DISPLAY_SIDE = 512
FONT_FRACTION = 1 / 36  # label height as a share of the displayed longer side (14 px at 512 px)
MIN_FONT = 11


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


class Visualizer:
    """Draws on a (nearest-)upscaled copy of an (H, W, 3) uint8 image; all inputs are original pixels."""

    def __init__(self, image: np.ndarray, side: int = DISPLAY_SIDE):
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
        self.font_size = max(MIN_FONT, round(max(self.image.size) * FONT_FRACTION))
        self.font = ImageFont.load_default(size=self.font_size)
        self.line = max(2, self.font_size // 6)

    def _xy(self, values: Sequence[float] | np.ndarray) -> list[float]:
        return [float(v) * self.scale for v in values]

    def draw_box(
        self,
        box: Sequence[float] | np.ndarray,
        color: tuple[int, int, int],
        width: int | None = None,
        dashed: bool = False,
    ) -> None:
        """Draws an xyxy box (original pixels) outline; dashed for targets so predictions stay visible on
        top."""
        x1, y1, x2, y2 = self._xy(box)
        width = width or self.line
        if not dashed:
            self.draw.rectangle(
                [min(x1, x2), min(y1, y2), max(x1, x2), max(y1, y2)], outline=color, width=width
            )
            return
        dash = 3 * width
        for a, b in (((x1, y1), (x2, y1)), ((x2, y1), (x2, y2)), ((x2, y2), (x1, y2)), ((x1, y2), (x1, y1))):
            length = math.hypot(b[0] - a[0], b[1] - a[1])
            steps = max(1, int(length // (2 * dash)))
            for k in range(steps + 1):
                t0, t1 = (
                    min(1.0, 2 * k * dash / max(length, 1e-6)),
                    min(1.0, (2 * k + 1) * dash / max(length, 1e-6)),
                )
                self.draw.line(
                    [
                        a[0] + (b[0] - a[0]) * t0,
                        a[1] + (b[1] - a[1]) * t0,
                        a[0] + (b[0] - a[0]) * t1,
                        a[1] + (b[1] - a[1]) * t1,
                    ],
                    fill=color,
                    width=width,
                )

    def draw_text(
        self, text: str, xy: Sequence[float] | np.ndarray, color: tuple[int, int, int], above: bool = True
    ) -> None:
        """Draws `text` on a filled label at the point xy (original pixels), kept inside the image."""
        if not text:
            return
        x, y = self._xy(xy)
        left, top, right, bottom = self.draw.textbbox((0, 0), text, font=self.font)
        w, h = right - left + 4, bottom - top + 4
        y = y - h if above else y
        x = min(max(0.0, x), max(0.0, self.image.width - w))
        y = min(max(0.0, y), max(0.0, self.image.height - h))
        self.draw.rectangle([x, y, x + w, y + h], fill=color)
        luminance = 0.299 * color[0] + 0.587 * color[1] + 0.114 * color[2]
        self.draw.text(
            (x + 2 - left, y + 2 - top), text, fill=(0, 0, 0) if luminance > 140 else WHITE, font=self.font
        )

    def draw_point(
        self, xy: Sequence[float] | np.ndarray, radius: float, color: tuple[int, int, int]
    ) -> None:
        """Draws a filled dot of `radius` display pixels at xy (original pixels), outlined in white."""
        x, y = self._xy(xy)
        self.draw.ellipse(
            [x - radius, y - radius, x + radius, y + radius],
            fill=color,
            outline=WHITE,
            width=max(1, self.line // 2),
        )

    def draw_legend(self, items: Sequence[tuple[str, tuple[int, int, int]]]) -> None:
        """Appends a white strip below the image with coloured swatches and their labels, wrapped into rows,
        so the legend never hides what it explains."""
        if not items:
            return
        pad, box = self.font_size // 2, self.font_size
        placed: list[tuple[float, int, str, tuple[int, int, int]]] = []
        x: float = pad  # advances by text widths
        y = pad
        for label, color in items:
            width = box + pad // 2 + self.draw.textlength(label, font=self.font) + 2 * pad
            if x > pad and x + width > self.image.width:
                x, y = pad, y + box + pad
            placed.append((x, y, label, color))
            x += width
        strip = y + box + pad
        canvas = Image.new("RGB", (self.image.width, self.image.height + strip), WHITE)
        canvas.paste(self.image, (0, 0))
        self.image, self.draw = canvas, ImageDraw.Draw(canvas)
        top = canvas.height - strip
        for x, y, label, color in placed:
            self.draw.rectangle([x, top + y, x + box, top + y + box], fill=color)
            self.draw.text((x + box + pad // 2, top + y), label, fill=(0, 0, 0), font=self.font)

    def get_image(self) -> Image.Image:
        return self.image


def _name(names: Sequence[str], label: int) -> str:
    return names[label] if 0 <= label < len(names) else str(label)


def draw_overlay(
    image: np.ndarray,
    q: QueryResult,
    m: Matching,
    class_names: Sequence[str] = (),
    strides_shown: Collection[int] | None = None,
    show_anchors: bool = True,
    legend: bool = True,
    side: int = DISPLAY_SIDE,
) -> Image.Image:
    """Returns the image with the query's targets (dashed), predictions coloured TP / FP and missed targets
    (FN) as the Matching `m` of this query says, IoU labels on matched pairs and, when the result has them,
    assigned anchors as dots coloured by target and sized by alignment.

    `strides_shown` limits the anchors drawn to those strides (None: all). ValueError when `m` is not a
    matching of this query's predictions and targets.
    """
    pred_boxes = np.asarray(q.pred_boxes).reshape(-1, 4)
    target_boxes = np.asarray(q.target_boxes).reshape(-1, 4)
    if len(m.pred_tp) != len(pred_boxes) or len(m.gt_matched) != len(target_boxes):
        raise ValueError(
            f"the matching covers {len(m.pred_tp)} predictions and {len(m.gt_matched)} targets; "
            f"query {q.image_id!r} has {len(pred_boxes)} and {len(target_boxes)}"
        )
    v = Visualizer(image, side)
    for t, box in enumerate(target_boxes):
        v.draw_box(box, TARGET if m.gt_matched[t] else FN, dashed=True)
    scores = np.asarray(q.scores, np.float64).reshape(-1)
    for p in np.argsort(scores, kind="stable"):  # best drawn last, on top
        tp = bool(m.pred_tp[p])
        color = TP if tp else FP
        v.draw_box(pred_boxes[p], color)
        v.draw_text(
            box_label(
                _name(class_names, int(q.labels[p])), float(scores[p]), float(m.pred_iou[p]) if tp else None
            ),
            pred_boxes[p][:2],
            color,
        )
    for missed in np.flatnonzero(~np.asarray(m.gt_matched, bool)):
        box = target_boxes[missed]
        v.draw_text(
            box_label(f"missed {_name(class_names, int(q.target_labels[missed]))}"),
            (box[0], box[3]),
            FN,
            above=False,
        )
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
    if legend:
        items = [("target", TARGET), ("missed (FN)", FN), ("TP", TP), ("FP", FP)]
        if drawn_anchors:
            items.append(("assigned anchor, size = alignment", TARGET_CYCLE[0]))
        v.draw_legend(items)
    return v.get_image()


def draw_boxes(
    image: np.ndarray,
    boxes: np.ndarray,
    labels: Sequence[str] = (),
    color: tuple[int, int, int] = TARGET,
    side: int = 256,
) -> Image.Image:
    """Returns a thumbnail-sized image with plain boxes (e.g. a support image and its boxes)."""
    v = Visualizer(image, side)
    for k, box in enumerate(np.asarray(boxes).reshape(-1, 4)):
        v.draw_box(box, color)
        if k < len(labels):
            v.draw_text(labels[k], box[:2], color)
    return v.get_image()
