"""Episode losses: task-aligned classification, Wise-IoU v3 boxes, optional DFL, SupCon and CPE.

    cls     BCE (or varifocal) of per-way logits against the assigner's soft targets, / Σ targets
    bbox    Wise-IoU of positives' boxes, each weighted by its target score, / Σ targets
    dfl     distribution focal loss on the ltrb bins (only when reg_max > 0), weighted the same way
    supcon  SupCon over the gt-box embeddings of support and query images, labelled by way
    cpe     FSCE contrastive proposal encoding over positives' predicted-box embeddings
Normalising by Σ target scores (as YOLOv8 does) keeps the scale steady as positives come and go.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from inspector.model.assigner import Assignment, TaskAlignedAssigner
from inspector.model.contrastive import cpe_loss, supcon_loss
from inspector.model.detector import DetectorOutput
from inspector.model.head import encode_boxes
from inspector.model.wiou import WIoUState, wiou_loss


@dataclass(frozen=True)
class LossBreakdown:
    """One episode's losses. raw/weighted: name → scalar tensor (weighted = raw × gain); total: Σ weighted.

    wiou_beta, wiou_r, positive_iou: (P,) per positive anchor, in fg_mask order (row-major over (Q, A)).
    """

    raw: dict[str, torch.Tensor]
    weighted: dict[str, torch.Tensor]
    total: torch.Tensor
    assignment: Assignment
    wiou_beta: torch.Tensor
    wiou_r: torch.Tensor
    positive_iou: torch.Tensor
    positives: int
    mean_iou: float


def pad_targets(
    boxes: list[torch.Tensor], labels: list[torch.Tensor], device: torch.device
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Returns (boxes (B, M, 4), labels (B, M) long, mask (B, M) bool), padded to the image with
    the most targets."""
    b = len(boxes)
    m = max((len(x) for x in boxes), default=0)
    out_boxes = torch.zeros(b, m, 4, device=device)
    out_labels = torch.zeros(b, m, dtype=torch.long, device=device)
    mask = torch.zeros(b, m, dtype=torch.bool, device=device)
    for i, (bx, lb) in enumerate(zip(boxes, labels, strict=False)):
        k = len(bx)
        out_boxes[i, :k] = bx.reshape(-1, 4).to(device, torch.float32)
        out_labels[i, :k] = lb.to(device, torch.long)
        mask[i, :k] = True
    return out_boxes, out_labels, mask


def dfl_loss(box_dist: torch.Tensor, target: torch.Tensor, reg_max: int) -> torch.Tensor:
    """Returns (P,) distribution focal loss (Li et al. 2020) for DFL logits (P, 4·reg_max) and ltrb targets
    (P, 4) in stride units: cross-entropy to the two bins around the target, linearly weighted."""
    logits = box_dist.reshape(-1, reg_max)  # (P·4, reg_max)
    t = target.reshape(-1)
    left = t.long()
    w_right = t - left
    loss = (
        F.cross_entropy(logits, left, reduction="none") * (1 - w_right)
        + F.cross_entropy(logits, (left + 1).clamp(max=reg_max - 1), reduction="none") * w_right
    )
    return loss.reshape(-1, 4).mean(-1)


def varifocal(logits: torch.Tensor, target: torch.Tensor, alpha: float, gamma: float) -> torch.Tensor:
    """Returns the summed varifocal loss (Zhang et al. 2021): positives weighted by their target score,
    negatives by α·p^γ."""
    p = logits.sigmoid().detach()
    weight = alpha * p.pow(gamma) * (target <= 0) + target
    return (F.binary_cross_entropy_with_logits(logits, target, reduction="none") * weight).sum()


def compute_losses(
    output: DetectorOutput,
    target_boxes: list[torch.Tensor],
    target_labels: list[torch.Tensor],
    weights: dict[str, float] | None = None,
    wiou_state: WIoUState | None = None,
    training: bool = True,
) -> LossBreakdown:
    """Returns the LossBreakdown for `output` against per-query targets: boxes (n, 4) xyxy px in the
    letterboxed canvas and labels (n,) way indices. `wiou_state` carries Wise-IoU's running mean
    across steps (updated when `training`)."""
    cfg = output.config
    weights = dict(cfg.loss_weights if weights is None else weights)
    wiou_state = wiou_state if wiou_state is not None else WIoUState(momentum=cfg.wiou_momentum)
    logits, pred_boxes = output.cls_logits, output.pred_boxes  # (Q, A, N), (Q, A, 4)
    gt_boxes, gt_labels, gt_mask = pad_targets(target_boxes, target_labels, logits.device)

    assigner = TaskAlignedAssigner(cfg.topk, cfg.alpha, cfg.beta)
    a = assigner(logits.detach().sigmoid(), pred_boxes.detach(), output.anchors, gt_labels, gt_boxes, gt_mask)
    ts = a.target_scores  # (Q, A, N)
    ts_sum = ts.sum().clamp(min=1.0)

    raw: dict[str, torch.Tensor] = {}
    if cfg.cls_loss == "varifocal":
        raw["cls"] = varifocal(logits, ts, cfg.vfl_alpha, cfg.vfl_gamma) / ts_sum
    elif cfg.cls_loss == "bce":
        raw["cls"] = F.binary_cross_entropy_with_logits(logits, ts, reduction="sum") / ts_sum
    else:
        raise ValueError(f"unknown cls_loss {cfg.cls_loss!r}; expected 'bce' or 'varifocal'")

    fg = a.fg_mask  # (Q, A)
    box_weight = ts.sum(-1)[fg]  # (P,)
    w = wiou_loss(
        pred_boxes[fg],
        a.target_boxes[fg],
        wiou_state,
        cfg.wiou_version,
        cfg.wiou_gamma,
        cfg.wiou_alpha,
        cfg.wiou_delta,
        training,
    )
    raw["bbox"] = (w.loss * box_weight).sum() / ts_sum
    if cfg.reg_max > 0:
        points = output.anchors[None].expand(fg.shape[0], -1, -1)[fg]  # (P, 2)
        strides = output.strides[None, :, None].expand(fg.shape[0], -1, -1)[fg]  # (P, 1)
        target_ltrb = encode_boxes(a.target_boxes[fg], points, strides, cfg.reg_max)
        raw["dfl"] = (dfl_loss(output.box_dist[fg], target_ltrb, cfg.reg_max) * box_weight).sum() / ts_sum

    # SupCon on gt boxes: every support and query instance, labelled by way (a few dozen at most)
    q_index = torch.repeat_interleave(torch.arange(len(target_boxes), device=logits.device), gt_mask.sum(1))
    q_emb = output.embed_boxes(q_index, gt_boxes[gt_mask])  # (M_total, D)
    raw["supcon"] = supcon_loss(
        torch.cat([output.support_embeddings, q_emb]),
        torch.cat([output.support_labels, gt_labels[gt_mask]]),
        cfg.supcon_tau,
    )

    # CPE on the best-aligned positives' predicted boxes (capped so the cost stays flat)
    img, anc = fg.nonzero(as_tuple=True)
    if len(img) > cfg.cpe_max_proposals:
        best = a.align_metric[img, anc].topk(cfg.cpe_max_proposals).indices
        img, anc = img[best], anc[best]
    labels = gt_labels[img, a.target_index[img, anc]]
    emb = output.embed_boxes(img, pred_boxes[img, anc].detach())
    raw["cpe"] = cpe_loss(emb, labels, a.iou[img, anc], cfg.cpe_tau, cfg.cpe_iou_gate)

    weighted = {k: v * weights.get(k, 1.0) for k, v in raw.items()}
    total = torch.stack(list(weighted.values())).sum()
    positive_iou = w.iou.detach()
    return LossBreakdown(
        raw=raw,
        weighted=weighted,
        total=total,
        assignment=a,
        wiou_beta=w.beta,
        wiou_r=w.r.detach(),
        positive_iou=positive_iou,
        positives=int(fg.sum()),
        mean_iou=float(positive_iou.mean()) if positive_iou.numel() else 0.0,
    )
