"""Box-format evidence in a dataset file's own numbers: do its boxes make sense read as the format defines
them, and does another reading explain the ones that do not?

The definitions the boxes are read against:
- COCO (cocodataset.org, "Data format", Object Detection): `bbox` is [x, y, width, height]; "box coordinates
  are measured from the top left image corner and are 0-indexed", in absolute pixels. pycocotools'
  `COCO.loadRes` reads a box the same way: x1 = bb[0], x2 = bb[0] + bb[2], y1 = bb[1], y2 = bb[1] + bb[3].
- YOLO (Ultralytics' dataset format; `ultralytics.data.utils.verify_image_label`): one
  `class x_center y_center width height` row per object, every coordinate normalised to [0, 1] by the image's
  width (x, width) and height (y, height). Ultralytics refuses a label file with a coordinate above 1
  ("non-normalized or out of bounds coordinates").

A reading of four numbers is *possible* for a box when it gives a box of positive size, inside its image
(give or take an edge slack), that is not a speck at the image's top-left corner (what normalised numbers
become when read as pixels). A file is said to hold another reading R than it claims when R makes possible
many of the boxes the claimed reading makes impossible (see `find_misreadings`). Nothing is refused or
changed: readers keep the claimed reading and attach the FormatWarning; the user decides.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from inspector.boxes import FORMATS, convert

# A box may overshoot an image edge by this share of the side, or by this many pixels if that is more, and
# still count as inside: annotation tools round to whole pixels and let a drag run a pixel or two past the
# edge, while a misread box overshoots by a share of its own size (x + x2 for corners read as a width).
EDGE_SLACK_SHARE = 0.01
EDGE_SLACK_PX = 1.0
# Normalised numbers read as pixels give a box that ends within 2 px of the top-left corner: every layout's
# numbers are ≤ 1, and the farthest a reading reaches is x + x2 ≤ 1 + 1 (corners read as [x, y, w, h]).
# On an image at least 32 px on its short side (a thumbnail; COCO's "small" objects are those under 32² px)
# such a speck cannot be an annotated object, so the numbers are fractions of the image, not pixels.
CORNER_PX = 2.0
CORNER_MIN_SIDE = 32
# Evidence: a misreading is called when it explains at least this many boxes (or every box of a smaller
# file: one or two odd boxes are an annotation slip, three that fail the same way are a pattern) ...
MIN_EVIDENCE_BOXES = 3
# ... and at least this share of the file. Read with the wrong layout, boxes spread over the frame are
# impossible in large numbers: corners read as [x, y, w, h] push every box whose x1 + x2 passes the width
# (about half), [x, y, w, h] read as corners inverts every box with w < x (most), fractions read as pixels
# shrink every box to a speck (all). A correctly read file has only the odd box over an edge by more than
# the slack. A tenth sits well between: files whose objects crowd one part of the frame still show it.
MIN_MISREAD_SHARE = 0.1
# The reading must account for at least half of the boxes the claimed reading cannot place: otherwise it is
# one explanation among several, and those boxes are more likely plain broken annotations.
MIN_EXPLAINED_SHARE = 0.5
EXAMPLES = 3  # annotation ids / file:line shown per warning

LAYOUT_WORDS = {
    "xyxy": "[x1, y1, x2, y2] corners",
    "xywh": "[x, y, width, height] from the top-left corner",
    "cxcywh": "[x_center, y_center, width, height]",
}
# What an impossible box looks like under each layout, in the words of its definition.
OVER_EDGE_WORDS = {
    "xyxy": "x2 or y2 past the image edge",
    "xywh": "x + width or y + height past the image edge",
    "cxcywh": "centre ± half size outside the image",
}


@dataclass(frozen=True)
class FormatWarning:
    """Boxes of one dataset file that do not fit the format it claims and read well as another.

    file: the annotations file (or the label folder) relative to the dataset root; claimed: the reading the
    format defines ("xywh" for COCO, "cxcywhn" for YOLO); fits: the reading under which those boxes are
    possible (None when no reading places them); count: those boxes; total: boxes of the file(s) examined;
    contradicted: boxes of the file that `fits` makes impossible (0 when the whole file reads as `fits`);
    examples: a few annotation ids or file:line; message: all of it in words.
    """

    file: str
    claimed: str
    fits: str | None
    count: int
    total: int
    contradicted: int
    examples: tuple[str, ...]
    message: str


def split_reading(reading: str) -> tuple[str, bool]:
    """Returns (layout, normalised?) of a reading name such as 'cxcywhn'."""
    if reading in FORMATS:
        return reading, False
    if reading.endswith("n") and reading[:-1] in FORMATS:
        return reading[:-1], True
    raise ValueError(f"unknown box reading {reading!r}; expected one of {FORMATS} with optional 'n' suffix")


def describe(reading: str) -> str:
    """Returns a reading in words, e.g. '[x, y, width, height] from the top-left corner, in pixels'."""
    layout, normalised = split_reading(reading)
    return f"{LAYOUT_WORDS[layout]}, {'normalised to [0, 1]' if normalised else 'in pixels'}"


def to_xyxy(raw: np.ndarray, reading: str, sizes: np.ndarray) -> np.ndarray:
    """Returns (n, 4) float64 absolute xyxy boxes of `raw` (n, 4) read as `reading`; sizes (n, 2) are each
    box's image (height, width), nan where unknown (a normalised reading then gives nan)."""
    layout, normalised = split_reading(reading)
    boxes = convert(np.asarray(raw, np.float64).reshape(-1, 4), layout, "xyxy")
    if normalised:
        h, w = sizes[:, 0], sizes[:, 1]
        boxes = boxes * np.stack([w, h, w, h], axis=1)
    return boxes


def impossible(xyxy: np.ndarray, sizes: np.ndarray) -> dict[str, np.ndarray]:
    """Returns {'empty', 'outside', 'corner'}: (n,) bool masks of why each absolute xyxy box cannot be an
    annotated object in its image (sizes (n, 2) (height, width); nan sizes test only 'empty')."""
    x1, y1, x2, y2 = (xyxy[:, i] for i in range(4))
    h, w = sizes[:, 0], sizes[:, 1]
    slack_x = np.maximum(EDGE_SLACK_PX, EDGE_SLACK_SHARE * w)
    slack_y = np.maximum(EDGE_SLACK_PX, EDGE_SLACK_SHARE * h)
    with np.errstate(invalid="ignore"):  # nan sizes and nan boxes compare False: nothing claimed about them
        empty = ~((x2 > x1) & (y2 > y1))
        outside = (x1 < -slack_x) | (y1 < -slack_y) | (x2 > w + slack_x) | (y2 > h + slack_y)
        corner = (x2 <= CORNER_PX) & (y2 <= CORNER_PX) & (np.minimum(h, w) >= CORNER_MIN_SIDE)
    return {"empty": empty, "outside": outside & ~empty, "corner": corner & ~empty & ~outside}


def possible(xyxy: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    """Returns (n,) bool: each absolute xyxy box could be an annotated object in its image."""
    why = impossible(xyxy, sizes)
    return ~(why["empty"] | why["outside"] | why["corner"])


def enough(count: int, total: int) -> bool:
    """True when `count` of `total` boxes are evidence for a file (MIN_EVIDENCE_BOXES, MIN_MISREAD_SHARE)."""
    return total > 0 and count >= min(MIN_EVIDENCE_BOXES, total) and count >= MIN_MISREAD_SHARE * total


def candidate_readings(claimed: str) -> list[str]:
    """Returns the readings tried against `claimed`, the likeliest slips first: its own layout in the other
    units, then the other layouts in its units, then the other layouts in the other units."""
    layout, normalised = split_reading(claimed)
    same, other = ("n", "") if normalised else ("", "n")
    others = [f for f in FORMATS if f != layout]
    return [layout + other] + [f + same for f in others] + [f + other for f in others]


@dataclass(frozen=True)
class Misreading:
    """One reading that explains boxes the claimed one cannot place: explained (n,) bool, the boxes it places
    that the claimed reading (and earlier misreadings) could not; contradicted: the boxes it cannot place."""

    reading: str | None
    explained: np.ndarray
    contradicted: int


def find_misreadings(raw: np.ndarray, sizes: np.ndarray, claimed: str) -> list[Misreading]:
    """Returns the misreadings of `raw` (n, 4) boxes written in `claimed`, most explained first.

    Greedy: the candidate placing the most still-unexplained impossible boxes is taken while it places
    enough of them (`enough`) and at least MIN_EXPLAINED_SHARE of those left; boxes left over that are
    still enough evidence come last with reading None (no reading places them).
    """
    raw = np.asarray(raw, np.float64).reshape(-1, 4)
    sizes = np.asarray(sizes, np.float64).reshape(-1, 2)
    n = len(raw)
    left = ~possible(to_xyxy(raw, claimed, sizes), sizes)
    fits = {r: possible(to_xyxy(raw, r, sizes), sizes) for r in candidate_readings(claimed)}
    found: list[Misreading] = []
    while fits and left.any():
        # Ties go to the earlier candidate (the likelier slip): max() keeps the first of equals.
        reading = max(fits, key=lambda r: int((fits[r] & left).sum()))
        placed = fits.pop(reading)
        explained = placed & left
        if not (enough(int(explained.sum()), n) and explained.sum() >= MIN_EXPLAINED_SHARE * left.sum()):
            break
        found.append(Misreading(reading, explained, int((~placed).sum())))
        left = left & ~explained
    if enough(int(left.sum()), n):
        found.append(Misreading(None, left, int(left.sum())))
    return found


def _reasons(raw: np.ndarray, sizes: np.ndarray, claimed: str) -> str:
    """Returns why boxes `raw` (k, 4) are impossible read as `claimed`, as counts in words."""
    layout, normalised = split_reading(claimed)
    why = impossible(to_xyxy(raw, claimed, sizes), sizes)
    parts = []
    if normalised and (above := int((raw > 1).any(axis=1).sum())):
        parts.append(f"{above} with a number above 1, which a normalised box cannot hold")
    if k := int(why["outside"].sum()):
        parts.append(f"{k} with {OVER_EDGE_WORDS[layout]}")
    if k := int(why["corner"].sum()):
        parts.append(
            f"{k} that end within {CORNER_PX:g} px of the top-left corner of an image of "
            f"≥ {CORNER_MIN_SIDE} px (every number ≤ 1: fractions of the image, not pixels)"
        )
    if k := int(why["empty"].sum()):
        parts.append(f"{k} of zero or negative width or height")
    return "; ".join(parts)


def _file_label(sources: Sequence[str]) -> str:
    """Returns the one file the boxes come from, or their common folder and how many files."""
    unique = sorted(set(sources))
    if len(unique) == 1:
        return unique[0]
    common = os.path.commonpath(unique) if all(not os.path.isabs(u) for u in unique) else ""
    return f"{common or '.'}/ ({len(unique)} files)"


def format_warnings(
    raw: np.ndarray,
    sizes: np.ndarray,
    claimed: str,
    where: Sequence[str],
    sources: Sequence[str],
    format_name: str,
) -> tuple[FormatWarning, ...]:
    """Returns a FormatWarning per misreading of `raw` (n, 4) boxes written in `claimed` (see
    `find_misreadings`); where (n,) names each box ('annotation 12', 'labels/a.txt:3'), sources (n,) its file,
    sizes (n, 2) its image's (height, width); format_name ('COCO', 'YOLO') words the messages."""
    raw = np.asarray(raw, np.float64).reshape(-1, 4)
    sizes = np.asarray(sizes, np.float64).reshape(-1, 2)
    n = len(raw)
    warnings = []
    for m in find_misreadings(raw, sizes, claimed):
        idx = np.flatnonzero(m.explained)
        file = _file_label([sources[int(i)] for i in idx])
        examples = tuple(where[i] for i in idx[:EXAMPLES])
        head = (
            f"{file}: {len(idx)} of {n} boxes do not fit {format_name}'s {describe(claimed)} "
            f"({_reasons(raw[idx], sizes[idx], claimed)}; e.g. {', '.join(examples)})"
        )
        if m.reading is None:
            message = (
                f"{head}, and no other reading of their numbers ({', '.join(FORMATS)}, in pixels or "
                "normalised) puts them inside their images: check how the file was written."
            )
        else:
            rest = (
                f"and so do all {n} boxes"
                if m.contradicted == 0
                else f"but that reading would make {m.contradicted} of {n} boxes impossible: the boxes mix "
                "readings"
            )
            message = (
                f"{head}. Read as {m.reading} ({describe(m.reading)}) they lie inside their images, "
                f"{rest}. Rewrite those boxes as {describe(claimed)}; inspector keeps reading them as "
                f"{claimed}."
            )
        warnings.append(
            FormatWarning(file, claimed, m.reading, len(idx), n, m.contradicted, examples, message)
        )
    return tuple(warnings)
