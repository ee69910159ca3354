"""The learning-rate schedule: linear warm-up, then cosine decay to a floor."""

from __future__ import annotations

import math


def lr_at(step: int, total_steps: int, peak_lr: float, warmup_steps: int, final_lr: float) -> float:
    """Returns the learning rate for optimizer step `step` (0-based) of `total_steps`.

    Steps 0..warmup_steps-1 climb linearly to peak_lr (step 0 already gets peak/warmup, never 0, so
    no step is wasted); the rest follow half a cosine from peak_lr down to final_lr at the last step.
    """
    if step < warmup_steps:
        return peak_lr * (step + 1) / warmup_steps
    span = max(total_steps - 1 - warmup_steps, 1)
    progress = min(max((step - warmup_steps) / span, 0.0), 1.0)
    return final_lr + (peak_lr - final_lr) * 0.5 * (1.0 + math.cos(math.pi * progress))
