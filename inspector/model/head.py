"""Anchor-free decoupled head: per-way class logits and ltrb box distances, one tower pair per level."""

from __future__ import annotations

import math
from typing import cast

import torch
import torch.nn as nn
import torch.nn.functional as F

from inspector.model.backbone import ConvBNAct
from inspector.model.config import ModelConfig
from inspector.model.prototypes import condition

PRIOR_PROB = 0.01  # initial foreground probability (RetinaNet's focal-loss prior) keeps early BCE calm


class LevelHead(nn.Module):
    """One FPN level: classifier on prototype-conditioned features, regressor on plain query features."""

    def __init__(self, config: ModelConfig):
        super().__init__()
        c, h = config.neck_dim, config.head_dim
        self.cls_tower = nn.Sequential(ConvBNAct(c, h, 3), nn.Conv2d(h, 1, 1))
        # cosine ∈ [-1, 1] → ±1 logit at init, so every score starts within e^±1 of PRIOR_PROB (at 4, an
        # untrained model scored well-aligned boxes 0.35, above the clip gate); the scale is learnt
        self.cos_scale = nn.Parameter(torch.tensor(1.0))
        bins = max(config.reg_max, 1)
        self.box_tower = nn.Sequential(ConvBNAct(c, h, 3), ConvBNAct(h, h, 3), nn.Conv2d(h, 4 * bins, 1))
        # RetinaNet's initialisation of the classifier's last layer: weights N(0, 0.01²) and the prior's bias,
        # so the tower adds ~nothing at first (with default weights it scored some untrained clip boxes 1.0)
        # (the last layer is the nn.Conv2d built just above, with a bias: both are Tensors)
        classifier = self.cls_tower[-1]
        if not classifier.weight.is_meta:  # a shapes-only skeleton (checkpoint.py): nothing to draw, and
            # torch's normal_ on the meta device imports torch._dynamo (0.87 s on a server's first load)
            nn.init.normal_(cast(torch.Tensor, classifier.weight), std=0.01)
        nn.init.constant_(cast(torch.Tensor, classifier.bias), -math.log((1 - PRIOR_PROB) / PRIOR_PROB))

    def forward(
        self, query: torch.Tensor, prototypes: torch.Tensor, box: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Returns (class logits (Q, H·W, N), box outputs (Q, H·W, 4·bins)) for query maps (Q, C, H, W)
        and prototypes (N, C); `box`, the box tower's maps (Q, 4·bins, H, W) when already computed (they
        depend on the query alone: model/memo.py keeps them per image)."""
        q, _, h, w = query.shape
        n = prototypes.shape[0]
        modulated, cosine = condition(query, prototypes)  # (Q·N, C, H, W), (Q, N, H, W)
        logits = self.cls_tower(modulated).reshape(q, n, h, w) + self.cos_scale * cosine  # (Q, N, H, W)
        box = self.box_tower(query) if box is None else box  # (Q, 4·bins, H, W)
        return logits.flatten(2).transpose(1, 2), box.flatten(2).transpose(1, 2)


class Head(nn.Module):
    """Returns (cls_logits (Q, A, N), box_raw (Q, A, 4·bins)) over all levels, fine to coarse."""

    def __init__(self, config: ModelConfig):
        super().__init__()
        self.levels = nn.ModuleList(LevelHead(config) for _ in config.strides)

    def forward(
        self,
        features: list[torch.Tensor],
        prototypes: list[torch.Tensor],
        boxes: list[torch.Tensor] | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """`boxes`: each level's box tower maps when already computed (LevelHead.forward)."""
        per_level = boxes if boxes is not None else [None] * len(self.levels)
        outs = [
            head(f, p, b) for head, f, p, b in zip(self.levels, features, prototypes, per_level, strict=False)
        ]
        return torch.cat([o[0] for o in outs], 1), torch.cat([o[1] for o in outs], 1)


def box_distances(box_raw: torch.Tensor, reg_max: int) -> torch.Tensor:
    """Returns ltrb distances (..., 4) in stride units from head outputs (..., 4·bins).

    With DFL (reg_max > 0) each side is the expectation of a softmax over bins 0..reg_max-1
    (Li et al. 2020, Generalized Focal Loss); without it, softplus keeps distances positive.
    """
    if reg_max > 0:
        probs = box_raw.unflatten(-1, (4, reg_max)).softmax(-1)  # (..., 4, reg_max)
        return probs @ torch.arange(reg_max, dtype=box_raw.dtype, device=box_raw.device)  # (..., 4)
    return F.softplus(box_raw)


def decode_boxes(distances: torch.Tensor, points: torch.Tensor, strides: torch.Tensor) -> torch.Tensor:
    """Returns xyxy pixel boxes (..., A, 4) from ltrb distances (..., A, 4) in stride units,
    anchor points (A, 2) and strides (A, 1)."""
    d = distances * strides  # pixels
    return torch.cat([points - d[..., :2], points + d[..., 2:]], -1)


def encode_boxes(
    boxes: torch.Tensor, points: torch.Tensor, strides: torch.Tensor, reg_max: int
) -> torch.Tensor:
    """Returns ltrb distances (..., A, 4) in stride units of xyxy boxes from their anchors, clamped
    to the DFL range [0, reg_max - 1.01] (the DFL target); the inverse of decode_boxes."""
    d = torch.cat([points - boxes[..., :2], boxes[..., 2:] - points], -1) / strides
    return d.clamp(0, reg_max - 1.01)
