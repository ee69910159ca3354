"""ModelConfig: the only place the reference detector's hyper-parameters live."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

NAME = "reference-fsdet"
VERSION = 1  # bump when a change makes old checkpoints load into a different network


@dataclass
class ModelConfig:
    # input: square letterboxed canvas; shapes images are small, 128 px keeps CPU training to minutes
    image_size: int = 128
    # backbone widths for strides 2, 4, 8, 16, 32; few channels on purpose (2-core CPU training)
    widths: tuple[int, ...] = (16, 32, 48, 64, 96)
    neck_dim: int = 64  # FPN channels at every output level
    head_dim: int = 48  # channels inside the head towers
    embed_dim: int = 64  # box embedding for SupCon / CPE
    strides: tuple[int, ...] = (8, 16, 32)
    reg_max: int = 0  # DFL bins per side (YOLOv8 uses 16); 0 = plain ltrb distances (softplus × stride)

    # task-aligned assigner (TOOD, Feng et al. 2021; YOLOv8 defaults)
    topk: int = 10
    alpha: float = 0.5
    beta: float = 6.0

    # Wise-IoU (Tong et al. 2023): v3 defaults α=1.9, δ=3 from the paper
    wiou_version: int = 3
    wiou_alpha: float = 1.9
    wiou_delta: float = 3.0
    wiou_gamma: float = 0.5  # v2 exponent
    # the paper's code uses 1-0.5^(1/7000) (half-life 7000 steps); our runs are ~1-3k steps, so 500
    wiou_momentum: float = 1 - 0.5 ** (1 / 500)

    cls_loss: str = "bce"  # "bce" | "varifocal"
    vfl_alpha: float = 0.75  # varifocal negatives' weight α·p^γ (VarifocalNet defaults)
    vfl_gamma: float = 2.0

    supcon_tau: float = 0.07  # SupCon temperature (Khosla et al. 2020)
    cpe_tau: float = 0.2  # FSCE contrastive proposal encoding temperature (Sun et al. 2021)
    cpe_iou_gate: float = 0.5  # FSCE: only proposals with IoU >= 0.5 to their gt take part
    cpe_max_proposals: int = 128  # keeps CPE cheap: the best-aligned positives only

    # loss gains; bbox/cls/dfl as in YOLOv8 (7.5 / 0.5 / 1.5)
    loss_weights: dict[str, float] = field(
        default_factory=lambda: {"bbox": 7.5, "cls": 0.5, "dfl": 1.5, "supcon": 1.0, "cpe": 0.5}
    )

    # inference
    score_threshold: float = 0.05
    nms_iou: float = 0.6
    max_det: int = 100

    name: str = NAME
    version: int = VERSION

    def to_dict(self) -> dict[str, Any]:
        """Returns a JSON-friendly dict (tuples become lists)."""
        out = dataclasses.asdict(self)
        return {k: list(v) if isinstance(v, tuple) else v for k, v in out.items()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "ModelConfig":
        """Returns the config for `data`; unknown keys raise ValueError (a typo must not pass silently)."""
        names = {f.name: f for f in dataclasses.fields(cls)}
        unknown = set(data) - set(names)
        if unknown:
            raise ValueError(f"unknown ModelConfig keys: {sorted(unknown)}")
        kw = {}
        for k, v in data.items():
            default = getattr(cls(), k)
            kw[k] = tuple(v) if isinstance(default, tuple) else (dict(v) if isinstance(v, dict) else v)
        return cls(**kw)
