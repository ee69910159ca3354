"""Anchor points: one per feature-map cell, at the cell centre in input pixels."""

from __future__ import annotations

import torch


def make_anchors(
    feature_shapes: list[tuple[int, int]], strides: tuple[int, ...], offset: float = 0.5
) -> tuple[torch.Tensor, torch.Tensor]:
    """Returns (points (A, 2) as pixel (x, y) centres, stride (A, 1)) for maps of (H, W) per stride.

    Levels are concatenated fine to coarse, each row-major, so anchor a of level l sits at
    ((col + offset) · stride, (row + offset) · stride). A 2×2 map at stride 8 gives x, y ∈ {4, 12}.
    """
    points, stride_col = [], []
    for (h, w), s in zip(feature_shapes, strides, strict=False):
        ys = (torch.arange(h, dtype=torch.float32) + offset) * s
        xs = (torch.arange(w, dtype=torch.float32) + offset) * s
        yy, xx = torch.meshgrid(ys, xs, indexing="ij")  # (h, w) each
        points.append(torch.stack([xx, yy], dim=-1).reshape(-1, 2))  # (h·w, 2)
        stride_col.append(torch.full((h * w, 1), float(s)))
    return torch.cat(points), torch.cat(stride_col)  # (A, 2), (A, 1)
