"""Wise-IoU box loss (Tong et al. 2023, "Wise-IoU: Bounding Box Regression Loss with Dynamic
Focusing Mechanism"), on xyxy boxes.

    L_IoU = 1 − IoU
    v1:  R = exp(ρ²(centres) / (W_g² + H_g²)*)       W_g, H_g: enclosing box, * = detached
         L_v1 = R · L_IoU
    v2:  L = (L_IoU* / mean)^γ · L_v1                  monotonic focusing, γ = 0.5
    v3:  β = L_IoU* / mean                             outlier degree
         r = β / (δ · α^(β − δ))                       non-monotonic gain, α = 1.9, δ = 3
         L = r · L_v1
`mean` is a running mean of L_IoU (momentum m) that lives in WIoUState; a step's loss uses the
mean from before the step, and the mean moves only in training mode.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from inspector.boxes import bbox_iou_aligned


@dataclass
class WIoUState:
    """Running mean of L_IoU for v2/v3; mutable on purpose (the trainer saves it with the checkpoint)."""

    mean: float = 1.0  # the reference implementation starts at 1
    momentum: float = 1 - 0.5 ** (1 / 500)

    def update(self, l_iou: torch.Tensor) -> None:
        """Moves the mean toward this batch's mean L_IoU (no-op for an empty batch)."""
        if l_iou.numel():
            self.mean = (1 - self.momentum) * self.mean + self.momentum * float(l_iou.detach().mean())

    def to_dict(self) -> dict[str, float]:
        return {"mean": self.mean, "momentum": self.momentum}


@dataclass(frozen=True)
class WIoUResult:
    """Per-box Wise-IoU terms, each (n,): loss, iou, beta (outlier degree) and r (gradient gain; 1 for v1)."""

    loss: torch.Tensor
    iou: torch.Tensor
    beta: torch.Tensor
    r: torch.Tensor


def wiou_loss(
    pred: torch.Tensor,
    target: torch.Tensor,
    state: WIoUState | None = None,
    version: int = 3,
    gamma: float = 0.5,
    alpha: float = 1.9,
    delta: float = 3.0,
    training: bool = True,
) -> WIoUResult:
    """Returns the WIoUResult for xyxy boxes pred (n, 4) against target (n, 4); updates `state`
    when training."""
    if version not in (1, 2, 3):
        raise ValueError(f"Wise-IoU version must be 1, 2 or 3, got {version}")
    state = state if state is not None else WIoUState()
    iou = bbox_iou_aligned(pred, target, "iou")
    l_iou = 1 - iou
    cw = torch.maximum(pred[:, 2], target[:, 2]) - torch.minimum(pred[:, 0], target[:, 0])
    ch = torch.maximum(pred[:, 3], target[:, 3]) - torch.minimum(pred[:, 1], target[:, 1])
    rho2 = (
        (pred[:, 0] + pred[:, 2] - target[:, 0] - target[:, 2]) ** 2
        + (pred[:, 1] + pred[:, 3] - target[:, 1] - target[:, 3]) ** 2
    ) / 4
    # the enclosing size is detached so R does not pull boxes apart to shrink it (paper §3.1)
    r_wiou = torch.exp(rho2 / (cw**2 + ch**2).detach().clamp(min=1e-7))
    loss = r_wiou * l_iou  # v1
    beta = l_iou.detach() / state.mean
    gain = torch.ones_like(beta)
    if version == 2:
        gain = beta.pow(gamma)
    elif version == 3:
        gain = beta / (delta * alpha ** (beta - delta))
    if training and version > 1:
        state.update(l_iou)
    return WIoUResult(loss=gain * loss, iou=iou, beta=beta, r=gain)
