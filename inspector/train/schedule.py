"""The learning-rate schedule: linear warm-up, then cosine decay to a floor, or step decay (MultiStepLR) to
it."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal, get_args

Schedule = Literal["cosine", "step"]


def lr_at(
    step: int,
    total_steps: int,
    peak_lr: float,
    warmup_steps: int,
    final_lr: float,
    schedule: Schedule = "cosine",
    milestones: Sequence[int] = (),
    gamma: float = 0.1,
) -> float:
    """Returns the learning rate for optimizer step `step` (0-based) of `total_steps`.

    Steps 0..warmup_steps-1 climb linearly to peak_lr (step 0 already gets peak/warmup, never 0, so
    no step is wasted). Then "cosine" follows half a cosine from peak_lr down to final_lr at the last step.
    "step" multiplies the lr by `gamma` at each of `milestones` (optimizer steps), never going below
    final_lr; the factors compose with the warm-up's, as in Detectron2's WarmupMultiStepLR and torch's
    LinearLR chained with MultiStepLR, so a milestone inside the warm-up already cuts it.
    """
    if schedule not in get_args(Schedule):  # a config built in code skips the file loader's check
        raise ValueError(f"lr schedule is one of {get_args(Schedule)}, not {schedule!r}")
    warm = (step + 1) / warmup_steps if step < warmup_steps else 1.0
    if schedule == "step":
        passed = sum(1 for m in milestones if step >= m)
        return max(peak_lr * warm * gamma**passed, final_lr)
    if step < warmup_steps:
        return peak_lr * warm
    span = max(total_steps - 1 - warmup_steps, 1)
    progress = min(max((step - warmup_steps) / span, 0.0), 1.0)
    return final_lr + (peak_lr - final_lr) * 0.5 * (1.0 + math.cos(math.pi * progress))
