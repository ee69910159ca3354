"""Task-aligned assignment (TOOD, Feng et al. 2021), as YOLOv8 runs it but with plain IoU as the overlap.

For every gt, candidates are anchors whose centre lies strictly inside it; each candidate scores
    t = s^α · IoU^β
with s the predicted probability of the gt's class and IoU between its predicted box and the gt.
YOLOv8's TaskAlignedAssigner (ultralytics/utils/tal.py, `iou_calculation`) uses CIoU there instead: CIoU
subtracts a centre-distance and an aspect-ratio penalty, so its metric ranks a well-centred anchor of a
wrong shape lower than IoU does. The candidates, top-k and the one-gt-per-anchor rule are the same.
The top-k candidates per gt become positives; an anchor claimed by several gts keeps the one it
overlaps most. Soft class targets are t rescaled per gt so that its best anchor gets that gt's
best IoU: target = t / max_gt(t) · max_gt(IoU).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from inspector.boxes import bbox_iou_aligned

EPS = 1e-9
# An anchor whose predicted box overlaps a target this much would be a true positive at COCO's AP50 match
# threshold: if the assigner leaves it negative, it was not for want of overlap (see `overlooked_anchors`).
OVERLOOK_IOU = 0.5


@dataclass(frozen=True)
class Assignment:
    """Which anchor learns which target. B images, A anchors, N ways.

    fg_mask        (B, A) bool   anchor is a positive
    target_index   (B, A) long   index of its gt within the image (0 for background; use fg_mask)
    target_boxes   (B, A, 4)     xyxy px of that gt (0 for background)
    target_scores  (B, A, N)     soft class targets (normalised alignment metric; 0 for background)
    align_metric   (B, A)        s^α · IoU^β against its gt (0 for background)
    iou            (B, A)        IoU of its predicted box with its gt (0 for background)
    """

    fg_mask: torch.Tensor
    target_index: torch.Tensor
    target_boxes: torch.Tensor
    target_scores: torch.Tensor
    align_metric: torch.Tensor
    iou: torch.Tensor


def anchors_inside(points: torch.Tensor, gt_boxes: torch.Tensor, eps: float = EPS) -> torch.Tensor:
    """Returns (B, M, A) bool: anchor centre (A, 2) strictly inside gt box (B, M, 4)."""
    lt = points[None, None] - gt_boxes[..., None, :2]  # (B, M, A, 2)
    rb = gt_boxes[..., None, 2:] - points[None, None]
    return torch.cat([lt, rb], -1).amin(-1) > eps


class TaskAlignedAssigner(nn.Module):
    """Assigns anchors to gts by the task-alignment metric; see the module docstring."""

    def __init__(self, topk: int = 10, alpha: float = 0.5, beta: float = 6.0):
        super().__init__()
        self.topk, self.alpha, self.beta = topk, alpha, beta

    @torch.no_grad()
    def forward(
        self,
        pred_scores: torch.Tensor,
        pred_boxes: torch.Tensor,
        points: torch.Tensor,
        gt_labels: torch.Tensor,
        gt_boxes: torch.Tensor,
        gt_mask: torch.Tensor,
    ) -> Assignment:
        """Returns the Assignment for one batch.

        pred_scores (B, A, N) probabilities (after sigmoid); pred_boxes (B, A, 4) xyxy px; points (A, 2) px;
        gt_labels (B, M) long way indices; gt_boxes (B, M, 4) xyxy px; gt_mask (B, M) bool, False on padding.
        """
        b, a, n = pred_scores.shape
        m = gt_boxes.shape[1]
        if m == 0 or not bool(gt_mask.any()):
            z = pred_scores.new_zeros
            return Assignment(
                torch.zeros(b, a, dtype=torch.bool, device=pred_scores.device),
                torch.zeros(b, a, dtype=torch.long, device=pred_scores.device),
                z(b, a, 4),
                z(b, a, n),
                z(b, a),
                z(b, a),
            )

        candidates = anchors_inside(points, gt_boxes) & gt_mask[..., None]  # (B, M, A)
        iou = bbox_iou_aligned(gt_boxes[:, :, None], pred_boxes[:, None], "iou").clamp(min=0)  # (B, M, A)
        iou = iou * candidates
        labels = gt_labels.clamp(0, n - 1)
        cls_score = pred_scores.gather(2, labels[:, None, :].expand(b, a, m)).transpose(1, 2)  # (B, M, A)
        metric = cls_score.pow(self.alpha) * iou.pow(self.beta) * candidates  # (B, M, A)

        # top-k candidates per gt; non-candidates are pushed below any real metric so they never win
        k = min(self.topk, a)
        ranked = torch.where(candidates, metric, torch.full_like(metric, -1.0))
        top = ranked.topk(k, dim=-1).indices  # (B, M, k)
        in_topk = torch.zeros_like(candidates).scatter_(-1, top, True)
        pos = in_topk & candidates  # (B, M, A)

        # an anchor claimed by several gts keeps the gt it overlaps most
        multi = pos.sum(1) > 1  # (B, A)
        if bool(multi.any()):
            # only the gts that claimed the anchor compete
            claimed_iou = torch.where(pos, iou, torch.full_like(iou, -1.0))
            best = F.one_hot(claimed_iou.argmax(1), m).transpose(1, 2).bool()  # (B, M, A)
            pos = torch.where(multi[:, None], best & pos, pos)

        fg = pos.any(1)  # (B, A)
        target_index = pos.to(torch.uint8).argmax(1)  # (B, A)
        target_boxes = gt_boxes.gather(1, target_index[..., None].expand(b, a, 4))  # (B, A, 4)
        target_labels = labels.gather(1, target_index)  # (B, A)

        metric = metric * pos
        iou_pos = iou * pos
        # no additive eps: with β = 6 early metrics are ~1e-8 and an eps would distort the ratio
        best_metric = metric.amax(-1, keepdim=True)  # (B, M, 1)
        best_iou = iou_pos.amax(-1, keepdim=True)  # (B, M, 1)
        scale = torch.where(best_metric > 0, best_iou / best_metric.clamp(min=1e-30), 0.0)
        norm = metric * scale  # (B, M, A)
        norm = norm.amax(1)  # (B, A)
        onehot = F.one_hot(target_labels, n).to(pred_scores.dtype)  # (B, A, N)
        target_scores = onehot * (norm * fg)[..., None]  # (B, A, N)
        target_boxes = target_boxes * fg[..., None]
        return Assignment(
            fg_mask=fg,
            target_index=target_index * fg,
            target_boxes=target_boxes,
            target_scores=target_scores,
            align_metric=metric.amax(1),
            iou=iou_pos.amax(1),
        )


@torch.no_grad()
def overlooked_anchors(
    fg_mask: torch.Tensor,
    target_index: torch.Tensor,
    pred_scores: torch.Tensor,
    pred_boxes: torch.Tensor,
    points: torch.Tensor,
    gt_labels: torch.Tensor,
    gt_boxes: torch.Tensor,
    alpha: float,
    beta: float,
    min_iou: float = OVERLOOK_IOU,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Returns (anchor, target, iou, score, align_metric), each (K,), for ONE image: the anchors the
    assignment left negative although their centre lies inside a target, their predicted box has IoU ≥
    `min_iou` with it, and at least the IoU of that target's weakest positive — overlap alone would have
    picked them, so their class score kept them out of the top-k (TAL's score feedback loop).

    fg_mask (A,) and target_index (A,): that image's rows of the Assignment; pred_scores (A, N)
    probabilities; pred_boxes (A, 4) xyxy px; points (A, 2) px; gt_labels (M,) long; gt_boxes (M, 4).
    A target with no positive is compared with `min_iou` alone.
    """
    m = gt_boxes.shape[0]
    if m == 0:
        empty = torch.zeros(0, dtype=torch.long, device=pred_boxes.device)
        z = pred_boxes.new_zeros(0)
        return empty, empty, z, z, z
    inside = anchors_inside(points, gt_boxes[None])[0]  # (M, A)
    iou = bbox_iou_aligned(gt_boxes[:, None], pred_boxes[None], "iou").clamp(min=0)  # (M, A)
    fg, owner = fg_mask, target_index
    mine = fg[None] & (owner[None] == torch.arange(m, device=owner.device)[:, None])  # (M, A) its positives
    weakest = torch.where(mine, iou, torch.full_like(iou, float("inf"))).amin(1)  # (M,) inf without one
    floor = torch.where(torch.isinf(weakest), min_iou, weakest.clamp(min=min_iou))  # (M,)
    hit = inside & ~fg[None] & (iou >= floor[:, None])  # (M, A)
    target, anchor = hit.nonzero(as_tuple=True)
    labels = gt_labels.clamp(0, pred_scores.shape[1] - 1)
    score = pred_scores[anchor, labels[target]]
    overlap = iou[target, anchor]
    return anchor, target, overlap, score, score.pow(alpha) * overlap.pow(beta)
