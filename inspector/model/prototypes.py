"""Class prototypes from support boxes, and query features conditioned on them.

A way's prototype is the mean feature inside its support boxes (masked average pooling, averaged
over the K shots), one per FPN level. A query map is conditioned on way n by channel-wise
modulation (query ⊙ prototype_n, as in Meta-YOLO's feature re-weighting) plus a cosine-similarity
map, so one shared classifier scores any way, including classes never seen in training.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def box_masks(boxes: torch.Tensor, height: int, width: int, stride: int) -> torch.Tensor:
    """Returns (K, H, W) weights: the fraction of each stride×stride cell that box k (K, 4 xyxy px) covers.

    Fractional cover (not "centre inside") keeps boxes smaller than a cell from pooling nothing.
    """
    edges_x = torch.arange(width, dtype=boxes.dtype, device=boxes.device) * stride  # (W,) cell left edges
    edges_y = torch.arange(height, dtype=boxes.dtype, device=boxes.device) * stride
    x1, y1, x2, y2 = (boxes[:, i : i + 1] for i in range(4))  # (K, 1) each
    wx = (torch.minimum(x2, edges_x + stride) - torch.maximum(x1, edges_x)).clamp(min=0) / stride  # (K, W)
    wy = (torch.minimum(y2, edges_y + stride) - torch.maximum(y1, edges_y)).clamp(min=0) / stride  # (K, H)
    return wy[:, :, None] * wx[:, None, :]  # (K, H, W)


def box_pool(
    features: torch.Tensor, image_index: torch.Tensor, boxes: torch.Tensor, stride: int
) -> torch.Tensor:
    """Returns (K, C) mean features inside boxes (K, 4 xyxy px) of images image_index (K,),
    from maps (B, C, H, W)."""
    _, c, h, w = features.shape
    if boxes.shape[0] == 0:
        return features.new_zeros(0, c)
    masks = box_masks(boxes.to(features.dtype), h, w, stride).flatten(1)  # (K, H·W)
    masks = masks / masks.sum(1, keepdim=True).clamp(min=1e-6)
    per_box = features[image_index].flatten(2)  # (K, C, H·W)
    return torch.einsum("kp,kcp->kc", masks, per_box)  # (K, C)


def class_prototypes(
    features: list[torch.Tensor],
    strides: tuple[int, ...],
    support_boxes: list[torch.Tensor],
    support_ways: torch.Tensor,
    n_way: int,
) -> list[torch.Tensor]:
    """Returns one (N, C) prototype per level: per way, the mean of its support boxes' pooled features.

    features: per level (S, C, H, W) maps of the S support images; support_boxes[i] (k_i, 4) xyxy px are
    all of way support_ways[i]. Every box counts once, so a way's K shots are averaged box by box.
    A way with no boxes gets a zero prototype (its logits then carry no class evidence).
    """
    device = features[0].device
    counts = torch.tensor([len(b) for b in support_boxes], device=device)
    image_index = torch.repeat_interleave(torch.arange(len(support_boxes), device=device), counts)  # (K,)
    box_ways = support_ways.to(device)[image_index]  # (K,)
    boxes = torch.cat([b.reshape(-1, 4) for b in support_boxes]).to(device)  # (K, 4)
    onehot = F.one_hot(box_ways, n_way).to(features[0].dtype).T  # (N, K)
    onehot = onehot / onehot.sum(1, keepdim=True).clamp(min=1)
    return [
        onehot @ box_pool(f, image_index, boxes, s) for f, s in zip(features, strides, strict=False)
    ]  # [(N, C)]


def condition(query: torch.Tensor, prototypes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Returns (modulated (Q·N, C, H, W), cosine (Q, N, H, W)) for query maps (Q, C, H, W) and
    prototypes (N, C).

    Row q·N + n of `modulated` is query q re-weighted channel by channel by way n's prototype.
    """
    q, c, h, w = query.shape
    n = prototypes.shape[0]
    modulated = query[:, None] * prototypes[None, :, :, None, None]  # (Q, N, C, H, W)
    cosine = torch.einsum(
        "qchw,nc->qnhw", F.normalize(query, dim=1), F.normalize(prototypes, dim=1)
    )  # (Q, N, H, W)
    return modulated.reshape(q * n, c, h, w), cosine
