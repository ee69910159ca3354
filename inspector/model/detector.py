"""FewShotDetector: backbone → prototypes from support boxes → conditioned anchor-free head.

    support (S,3,H,W) ─┐                       ┌─ prototypes per level (N, C)
                       ├─ Backbone+FPN ─ split ┤
    query   (Q,3,H,W) ─┘                       └─ query maps ─ Head ─ cls_logits (Q, A, N)
                                                                    └ box ltrb ─ pred_boxes (Q, A, 4)
Box embeddings (for SupCon/CPE) are the stride-8 features pooled inside a box, through a small MLP.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import cast

import torch
import torch.nn as nn
import torch.nn.functional as F

from inspector.model.anchors import make_anchors
from inspector.model.backbone import Backbone
from inspector.model.config import ModelConfig
from inspector.model.head import Head, LevelHead, box_distances, decode_boxes
from inspector.model.memo import FeatureMemo, weights_version
from inspector.model.prototypes import box_pool, class_prototypes


@dataclass(frozen=True)
class DetectorOutput:
    """What one forward pass produces. Q query images, A anchors, N ways, C channels, D embed_dim.

    cls_logits      (Q, A, N)   per-way logits (sigmoid → score)
    pred_boxes      (Q, A, 4)   decoded xyxy boxes, letterboxed-canvas pixels
    box_dist        (Q, A, 4·bins) raw regression outputs (DFL logits when reg_max > 0)
    distances       (Q, A, 4)   ltrb distances in stride units
    anchors         (A, 2)      anchor centres, pixels
    strides         (A,)        stride of each anchor
    query_features  per level (Q, C, H_l, W_l)
    prototypes      per level (N, C)
    support_embeddings (K, D)   L2-normalised embeddings of the support boxes; support_labels (K,) their ways
    embed_boxes     (image_index (K,), boxes (K, 4) px) -> (K, D) L2-normalised query-box embeddings
    """

    cls_logits: torch.Tensor
    pred_boxes: torch.Tensor
    box_dist: torch.Tensor
    distances: torch.Tensor
    anchors: torch.Tensor
    strides: torch.Tensor
    query_features: tuple[torch.Tensor, ...]
    prototypes: tuple[torch.Tensor, ...]
    support_embeddings: torch.Tensor
    support_labels: torch.Tensor
    embed_boxes: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
    config: ModelConfig

    @property
    def n_way(self) -> int:
        return int(self.cls_logits.shape[-1])


class FewShotDetector(nn.Module):
    """The reference few-shot detector; see the module docstring for the data flow."""

    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = config
        self.backbone = Backbone(config)
        self.head = Head(config)
        c = config.neck_dim
        self.embed = nn.Sequential(nn.Linear(c, c), nn.SiLU(), nn.Linear(c, config.embed_dim))
        self._anchor_cache: dict[tuple, tuple[torch.Tensor, torch.Tensor]] = {}
        self.memo = FeatureMemo()

    def features(self, images: torch.Tensor) -> list[torch.Tensor]:
        """Returns the FPN maps [(B, C, H_l, W_l)] of images (B, 3, H, W): one backbone pass over the batch
        when training or tracking gradients; in inference, each image's own maps, kept by content for the
        next episode that draws it (model/memo.py)."""
        return self._features_and_boxes(images)[0]

    def _features_and_boxes(
        self, images: torch.Tensor, digests: Sequence[bytes] | None = None
    ) -> tuple[list[torch.Tensor], list[torch.Tensor] | None]:
        """(features as `features` gives them, the head's box tower maps [(B, 4·bins, H_l, W_l)] per level
        or None). In inference both are each image's own, kept by content (`digests`: as forward's): the box
        tower sees the image's maps alone (not the prototypes), so an image drawn again as a query costs it
        nothing."""
        if self.training or torch.is_grad_enabled():
            return self.backbone(images), None
        version = weights_version([*self.parameters(), *self.buffers()])
        levels = len(self.config.strides)
        kept = self.memo.maps(images, self._maps_and_boxes, version, digests)
        return kept[:levels], kept[levels:]

    def _maps_and_boxes(self, image: torch.Tensor) -> list[torch.Tensor]:
        """One image's FPN maps, then its box tower maps, per level (what the memo keeps of an image)."""
        maps = self.backbone(image)
        levels = cast(list[LevelHead], list(self.head.levels))
        return [*maps, *(level.box_tower(f) for level, f in zip(levels, maps, strict=True))]

    def anchors(
        self, shapes: list[tuple[int, int]], device: torch.device
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Returns (points (A, 2), strides (A, 1)) for these feature shapes, cached (they never change)."""
        key = (tuple(shapes), str(device))
        if key not in self._anchor_cache:
            points, strides = make_anchors(shapes, self.config.strides)
            self._anchor_cache[key] = (points.to(device), strides.to(device))
        return self._anchor_cache[key]

    def embed_query_boxes(
        self, features: torch.Tensor, image_index: torch.Tensor, boxes: torch.Tensor
    ) -> torch.Tensor:
        """Returns (K, D) L2-normalised embeddings of boxes (K, 4) px in images image_index (K,)
        of features (B, C, H, W)."""
        pooled = box_pool(features, image_index, boxes, self.config.strides[0])  # (K, C)
        return F.normalize(self.embed(pooled), dim=1)

    def forward(
        self,
        support_images: torch.Tensor,
        support_boxes: list[torch.Tensor],
        support_ways: torch.Tensor,
        query_images: torch.Tensor,
        n_way: int,
        digests: Sequence[bytes] | None = None,
    ) -> DetectorOutput:
        """Returns the DetectorOutput for query images (Q, 3, H, W) given S support images (S, 3, H, W)
        in [0, 1], their boxes (k_i, 4) xyxy px (all of way support_ways[i]) and the number of ways.
        `digests` (S + Q, supports first), when given, identify the images for the memo in inference
        (predict.preprocess's: each the SHA-256 of the uint8 canvas the image is that canvas / 255 of)."""
        s = support_images.shape[0]
        feats, towers = self._features_and_boxes(torch.cat([support_images, query_images]), digests)
        support_feats = [f[:s] for f in feats]  # [(S, C, H_l, W_l)]
        query_feats = [f[s:] for f in feats]
        query_towers = None if towers is None else [b[s:] for b in towers]
        prototypes = class_prototypes(support_feats, self.config.strides, support_boxes, support_ways, n_way)

        cls_logits, box_dist = self.head(query_feats, prototypes, query_towers)  # (Q, A, N), (Q, A, 4·bins)
        points, strides = self.anchors([(f.shape[-2], f.shape[-1]) for f in query_feats], query_images.device)
        distances = box_distances(box_dist, self.config.reg_max)  # (Q, A, 4)
        pred_boxes = decode_boxes(distances, points, strides)  # (Q, A, 4)

        counts = torch.tensor([len(b) for b in support_boxes], device=support_images.device)
        index = torch.repeat_interleave(torch.arange(s, device=support_images.device), counts)
        boxes = torch.cat([b.reshape(-1, 4) for b in support_boxes]).to(support_images.device)
        support_embeddings = self.embed_query_boxes(support_feats[0], index, boxes)  # (K, D)

        return DetectorOutput(
            cls_logits=cls_logits,
            pred_boxes=pred_boxes,
            box_dist=box_dist,
            distances=distances,
            anchors=points,
            strides=strides[:, 0],
            query_features=tuple(query_feats),
            prototypes=tuple(prototypes),
            support_embeddings=support_embeddings,
            support_labels=support_ways.to(support_images.device)[index],
            embed_boxes=partial(self.embed_query_boxes, query_feats[0]),
            config=self.config,
        )


def create_model(config: ModelConfig | None = None) -> FewShotDetector:
    """Returns a freshly initialised FewShotDetector for `config` (defaults when None)."""
    return FewShotDetector(config or ModelConfig())
