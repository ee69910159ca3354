"""Box geometry: formats, conversion, the IoU family, clipping and letterbox maps.

Inside inspector every box is absolute-pixel xyxy float32; this module is the only place other
formats are spoken. Formats are named like Ultralytics' helpers:

    xyxy    x1, y1, x2, y2           corners
    xywh    x1, y1, w, h             COCO
    cxcywh  cx, cy, w, h             YOLO txt
    ...n    the same, divided by the image width/height (xyxyn, xywhn, cxcywhn)

Every function takes numpy arrays or torch tensors (any leading dims, last dim 4) and returns the
same kind. `image_size` is (height, width), like `Sample.size`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TypeVar

import numpy as np
import torch

Boxes = TypeVar("Boxes", np.ndarray, torch.Tensor)

FORMATS = ("xyxy", "xywh", "cxcywh")
EPS = 1e-7  # guards divisions by empty areas; small next to any pixel-sized area


def _split_format(fmt: str) -> tuple[str, bool]:
    """Returns (base format, normalized?) for a name like 'cxcywhn'."""
    if fmt in FORMATS:
        return fmt, False
    if fmt.endswith("n") and fmt[:-1] in FORMATS:
        return fmt[:-1], True
    raise ValueError(f"unknown box format {fmt!r}; expected one of {FORMATS} with optional 'n' suffix")


def _stack(parts: list, like: Boxes) -> Boxes:
    if isinstance(like, torch.Tensor):
        return torch.stack(parts, dim=-1)
    return np.stack(parts, axis=-1)


def _as_float(boxes: Boxes) -> Boxes:
    if isinstance(boxes, torch.Tensor):
        return boxes if boxes.is_floating_point() else boxes.float()
    boxes = np.asarray(boxes)
    return boxes if np.issubdtype(boxes.dtype, np.floating) else boxes.astype(np.float32)


def convert(boxes: Boxes, src: str, dst: str, image_size: tuple[int, int] | None = None) -> Boxes:
    """Returns `boxes` (..., 4) converted from format `src` to `dst` (see module docstring).

    `image_size` (height, width) is needed only when exactly one side is normalized.
    """
    src_base, src_norm = _split_format(src)
    dst_base, dst_norm = _split_format(dst)
    boxes = _as_float(boxes)
    if src_norm != dst_norm:
        if image_size is None:
            raise ValueError(f"converting {src} -> {dst} needs image_size=(height, width)")
        h, w = image_size
    a, b, c, d = (boxes[..., i] for i in range(4))
    if src_base == "xywh":
        c, d = a + c, b + d
    elif src_base == "cxcywh":
        a, b, c, d = a - c / 2, b - d / 2, a + c / 2, b + d / 2
    # a, b, c, d are now x1, y1, x2, y2 (in src units)
    if src_norm != dst_norm:
        sx, sy = (w, h) if src_norm else (1.0 / w, 1.0 / h)
        a, b, c, d = a * sx, b * sy, c * sx, d * sy
    if dst_base == "xywh":
        c, d = c - a, d - b
    elif dst_base == "cxcywh":
        a, b, c, d = (a + c) / 2, (b + d) / 2, c - a, d - b
    return _stack([a, b, c, d], boxes)


def box_area(boxes: Boxes) -> Boxes:
    """Returns the areas (...,) of xyxy boxes (...,4); inverted boxes count as 0."""
    w = boxes[..., 2] - boxes[..., 0]
    h = boxes[..., 3] - boxes[..., 1]
    if isinstance(boxes, torch.Tensor):
        return w.clamp(min=0) * h.clamp(min=0)
    return np.clip(w, 0, None) * np.clip(h, 0, None)


def box_iou(a: Boxes, b: Boxes) -> Boxes:
    """Returns pairwise IoU (n, m) between xyxy boxes a (n, 4) and b (m, 4)."""
    a, b = _as_float(a), _as_float(b)
    if isinstance(a, torch.Tensor):
        lt = torch.maximum(a[:, None, :2], b[None, :, :2])  # (n, m, 2)
        rb = torch.minimum(a[:, None, 2:], b[None, :, 2:])
        wh = (rb - lt).clamp(min=0)
    else:
        lt = np.maximum(a[:, None, :2], b[None, :, :2])
        rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
        wh = np.clip(rb - lt, 0, None)
    inter = wh[..., 0] * wh[..., 1]  # (n, m)
    union = box_area(a)[:, None] + box_area(b)[None, :] - inter
    return inter / (union + EPS)


def bbox_iou_aligned(a: Boxes, b: Boxes, kind: str = "iou", eps: float = EPS) -> Boxes:
    """Returns elementwise IoU / GIoU / DIoU / CIoU (...,) between xyxy boxes a and b (..., 4).

    GIoU (Rezatofighi 2019) subtracts the empty share of the enclosing box; DIoU (Zheng 2020)
    subtracts centre distance² / enclosing diagonal²; CIoU adds the aspect-ratio term α·v.
    """
    if kind not in ("iou", "giou", "diou", "ciou"):
        raise ValueError(f"unknown IoU kind {kind!r}")
    # isinstance on `a` at each choice (not a saved flag), so that mypy checks each kind on its own.
    if isinstance(a, torch.Tensor):
        minimum, maximum, atan = torch.minimum, torch.maximum, torch.atan
    else:
        minimum, maximum, atan = np.minimum, np.maximum, np.arctan

    def relu(x: Boxes) -> Boxes:
        return x.clamp(min=0) if isinstance(a, torch.Tensor) else np.clip(x, 0, None)

    ax1, ay1, ax2, ay2 = (a[..., i] for i in range(4))
    bx1, by1, bx2, by2 = (b[..., i] for i in range(4))
    aw, ah = ax2 - ax1, ay2 - ay1
    bw, bh = bx2 - bx1, by2 - by1
    inter = relu(minimum(ax2, bx2) - maximum(ax1, bx1)) * relu(minimum(ay2, by2) - maximum(ay1, by1))
    union = aw * ah + bw * bh - inter + eps
    iou = inter / union
    if kind == "iou":
        return iou
    cw = maximum(ax2, bx2) - minimum(ax1, bx1)  # enclosing box width
    ch = maximum(ay2, by2) - minimum(ay1, by1)
    if kind == "giou":
        c_area = cw * ch + eps
        return iou - (c_area - union) / c_area
    c2 = cw**2 + ch**2 + eps  # enclosing diagonal²
    rho2 = ((ax1 + ax2 - bx1 - bx2) ** 2 + (ay1 + ay2 - by1 - by2) ** 2) / 4  # centre distance²
    if kind == "diou":
        return iou - rho2 / c2
    v = (4 / math.pi**2) * (atan(bw / (bh + eps)) - atan(aw / (ah + eps))) ** 2
    if isinstance(a, torch.Tensor):
        with torch.no_grad():
            alpha = v / (v - iou + (1 + eps))
    else:
        alpha = v / (v - iou + (1 + eps))
    return iou - (rho2 / c2 + v * alpha)


def clip_boxes(boxes: Boxes, image_size: tuple[int, int]) -> Boxes:
    """Returns a copy of xyxy boxes (..., 4) clipped to an image of (height, width)."""
    h, w = image_size
    boxes = _as_float(boxes)
    if isinstance(boxes, torch.Tensor):
        out = boxes.clone()
        out[..., 0::2] = out[..., 0::2].clamp(0, w)
        out[..., 1::2] = out[..., 1::2].clamp(0, h)
        return out
    out = boxes.copy()
    out[..., 0::2] = np.clip(out[..., 0::2], 0, w)
    out[..., 1::2] = np.clip(out[..., 1::2], 0, h)
    return out


@dataclass(frozen=True)
class Letterbox:
    """How an image of `src_size` (h, w) sits in a square canvas of `size`: scaled by `scale`,
    then shifted by (pad_x, pad_y) pixels."""

    src_size: tuple[int, int]
    size: int
    scale: float
    pad_x: float
    pad_y: float

    @property
    def resized(self) -> tuple[int, int]:
        """(height, width) of the scaled image inside the canvas."""
        h, w = self.src_size
        return max(1, round(h * self.scale)), max(1, round(w * self.scale))


def letterbox_params(src_size: tuple[int, int], size: int, scaleup: bool = True) -> Letterbox:
    """Returns the Letterbox that fits an image of (h, w) into a size×size canvas, centred.

    The pads are whole pixels (the left/top half of the padding, rounded down), because the resized image
    is pasted at whole-pixel offsets: a fractional pad shifted every box by half a pixel from the image.
    `scaleup=False` never enlarges an image smaller than the canvas (Ultralytics' LetterBox `scaleup`).
    """
    h, w = src_size
    scale = size / max(h, w) if scaleup else min(size / max(h, w), 1.0)
    rh, rw = max(1, round(h * scale)), max(1, round(w * scale))
    return Letterbox(
        src_size=(int(h), int(w)),
        size=int(size),
        scale=scale,
        pad_x=float((size - rw) // 2),
        pad_y=float((size - rh) // 2),
    )


def to_letterbox(boxes: Boxes, lb: Letterbox) -> Boxes:
    """Returns xyxy boxes (..., 4) moved from original pixels into the letterboxed canvas."""
    boxes = _as_float(boxes)
    shift = [lb.pad_x, lb.pad_y, lb.pad_x, lb.pad_y]
    if isinstance(boxes, torch.Tensor):
        return boxes * lb.scale + boxes.new_tensor(shift)
    return (boxes * lb.scale + np.asarray(shift, dtype=boxes.dtype)).astype(boxes.dtype)


def from_letterbox(boxes: Boxes, lb: Letterbox) -> Boxes:
    """Returns xyxy boxes (..., 4) mapped from the letterboxed canvas back to original pixels, clipped."""
    boxes = _as_float(boxes)
    shift = [lb.pad_x, lb.pad_y, lb.pad_x, lb.pad_y]
    if isinstance(boxes, torch.Tensor):
        out = (boxes - boxes.new_tensor(shift)) / lb.scale
    else:
        out = ((boxes - np.asarray(shift, dtype=boxes.dtype)) / lb.scale).astype(boxes.dtype)
    return clip_boxes(out, lb.src_size)
