"""Contrastive losses on box embeddings: SupCon (Khosla et al. 2020) and FSCE's contrastive
proposal encoding (CPE, Sun et al. 2021).

For L2-normalised embeddings z and labels y, sample i's supervised contrastive term is
    ℓ_i = −1/|P(i)| Σ_{p∈P(i)} log( exp(z_i·z_p/τ) / Σ_{a≠i} exp(z_i·z_a/τ) )
with P(i) the other samples of i's class. A sample whose class has no other sample has no
positive and is left out (its ℓ_i is undefined, not zero); if no sample has a positive (a batch of
one, or all classes singletons) the loss is an exact 0 that still depends on the inputs, so
backward runs and changes nothing. CPE is the same term at τ = 0.2 over proposals whose IoU with
their gt is at least the gate (0.5), each weighted by that IoU.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def _per_sample(
    embeddings: torch.Tensor, labels: torch.Tensor, tau: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """Returns (ℓ (n,), has_positive (n,) bool) for embeddings (n, D) and labels (n,)."""
    n = embeddings.shape[0]
    z = F.normalize(embeddings, dim=1)
    logits = z @ z.T / tau  # (n, n)
    self_mask = torch.eye(n, dtype=torch.bool, device=z.device)
    logits = logits.masked_fill(self_mask, float("-inf"))  # a sample is never its own contrast
    log_prob = logits - torch.logsumexp(logits, dim=1, keepdim=True)  # (n, n), -inf on the diagonal
    positive = (labels[:, None] == labels[None, :]) & ~self_mask  # (n, n)
    n_pos = positive.sum(1)  # (n,)
    pos_log_prob = torch.where(positive, log_prob, torch.zeros_like(log_prob)).sum(1)
    return -pos_log_prob / n_pos.clamp(min=1), n_pos > 0


def supcon_loss(embeddings: torch.Tensor, labels: torch.Tensor, tau: float = 0.07) -> torch.Tensor:
    """Returns the mean SupCon loss (scalar) over samples that have a positive; 0 when none has."""
    if embeddings.shape[0] < 2:
        return embeddings.sum() * 0.0
    per, valid = _per_sample(embeddings, labels, tau)
    if not bool(valid.any()):
        return embeddings.sum() * 0.0
    return per[valid].mean()


def cpe_loss(
    embeddings: torch.Tensor,
    labels: torch.Tensor,
    ious: torch.Tensor,
    tau: float = 0.2,
    iou_gate: float = 0.5,
) -> torch.Tensor:
    """Returns the IoU-gated, IoU-weighted contrastive proposal encoding loss (scalar).

    embeddings (n, D) of proposals, labels (n,) of their gts, ious (n,) with their gts. Only
    proposals with IoU >= iou_gate take part (FSCE's f(u) = 1{u ≥ φ}·u); the weighted sum is divided by
    the number of weighted terms, as FSCE averages over its proposals.
    """
    keep = ious >= iou_gate
    if int(keep.sum()) < 2:
        return embeddings.sum() * 0.0
    per, valid = _per_sample(embeddings[keep], labels[keep], tau)
    if not bool(valid.any()):
        return embeddings.sum() * 0.0
    weights = ious[keep].detach()[valid]
    return (per[valid] * weights).sum() / valid.sum()
