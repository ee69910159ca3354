"""ModelConfig: the only place the reference detector's hyper-parameters live."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

from inspector.limits import MAX_MODEL_IMAGE_SIZE

NAME = "reference-fsdet"
VERSION = 1  # bump when a change makes old checkpoints load into a different network


# Inclusive ranges a checkpoint's model_config must fall in before anything is built from it. They are
# sanity bounds, not tuning advice: each is far beyond what the reference detector or a common detector uses.
INT_BOUNDS: dict[str, tuple[int, int]] = {
    # ≥ the coarsest stride (32) so every level has a cell; above the cap one episode costs GBs (limits.py)
    "image_size": (32, MAX_MODEL_IMAGE_SIZE),
    # channel counts: ResNet-50's widest stage is 2048, ViT-H 1280; 4096 leaves room, 8000 is an attack
    "neck_dim": (1, 4096),
    "head_dim": (1, 4096),
    "embed_dim": (1, 4096),
    # DFL bins: YOLOv8 16, GFL 8-16; 0 turns DFL off (1 bin would be a softmax over one value)
    "reg_max": (0, 64),
    "topk": (1, 100),  # TAL candidates per target: TOOD 13, YOLOv8 10
    "cpe_max_proposals": (1, 10_000),
    "max_det": (1, 10_000),  # COCO scores 100 per image, YOLO keeps 300
    "wiou_version": (1, 3),  # Wise-IoU v1, v2, v3
}
# (low, high, low end open?) for floats; all must be finite
FLOAT_BOUNDS: dict[str, tuple[float, float, bool]] = {
    "alpha": (0.0, 20.0, False),  # TAL exponents: 0.5 / 6.0 in TOOD and YOLOv8
    "beta": (0.0, 20.0, False),
    "wiou_alpha": (0.0, 100.0, True),  # Wise-IoU v3: α=1.9, δ=3 in the paper
    "wiou_delta": (0.0, 100.0, True),
    "wiou_gamma": (0.0, 10.0, False),
    "wiou_momentum": (0.0, 1.0, True),  # an EMA rate: 0 would freeze the mean, >1 diverges
    "vfl_alpha": (0.0, 1.0, False),
    "vfl_gamma": (0.0, 10.0, False),
    "supcon_tau": (0.0, 10.0, True),  # temperatures divide logits: 0 gives inf
    "cpe_tau": (0.0, 10.0, True),
    "cpe_iou_gate": (0.0, 1.0, False),
    "score_threshold": (0.0, 1.0, False),
    "nms_iou": (0.0, 1.0, False),
}
MAX_WIDTH = 4096  # per backbone stage, as for the channel counts above
MAX_STAGES = 8  # the stem plus 7 stages reaches stride 256, beyond any FPN in use (P7 = 128)
CLS_LOSSES = ("bce", "varifocal")


def _shown(value: Any) -> str:
    """repr(value), cut to 80 characters: a hostile config may hold a megabyte string."""
    try:
        text = repr(value)
    except ValueError:  # an int over Python's 4300-digit str limit
        return f"an integer of about {value.bit_length() * 0.30103:.0f} digits"
    return text if len(text) <= 80 else text[:77] + "..."


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_real(value: Any) -> bool:
    # ints are finite; math.isfinite(10**400) would raise OverflowError converting it to a float
    return _is_int(value) or (isinstance(value, float) and math.isfinite(value))


@dataclass
class ModelConfig:
    # input: square letterboxed canvas; shapes images are small, 128 px keeps CPU training to minutes
    image_size: int = 128
    # Support images smaller than the canvas are enlarged to fill it (YOLO's letterbox `scaleup`); False
    # pastes them at their own scale, so a 64 px reference photo's object stays the size it has in a 128 px
    # frame.
    upscale_support: bool = True
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
    def from_dict(cls, data: dict[str, Any]) -> ModelConfig:
        """Returns the config for `data`; unknown keys raise ValueError (a typo must not pass silently)."""
        names = {f.name: f for f in dataclasses.fields(cls)}
        unknown = set(data) - set(names)
        if unknown:
            raise ValueError(f"unknown ModelConfig keys: {sorted(unknown)}")
        kw: dict[str, Any] = {}
        for k, v in data.items():
            default = getattr(cls(), k)
            kw[k] = tuple(v) if isinstance(default, tuple) else (dict(v) if isinstance(v, dict) else v)
        return cls(**kw)

    def problems(self) -> list[str]:
        """Returns one message per field outside its allowed range ('widths[4] is 8000; allowed 1..4096');
        [] when every field is sane. Checked before a model is built from a checkpoint's config."""
        out = []
        low: float  # the int bounds, then the float ones
        high: float
        for name, (low, high) in INT_BOUNDS.items():
            value = getattr(self, name)
            if not _is_int(value) or not low <= value <= high:
                out.append(f"{name} is {_shown(value)}; allowed an integer in {low}..{high}")
        for name, (low, high, open_low) in FLOAT_BOUNDS.items():
            value = getattr(self, name)
            inside = _is_real(value) and (low < value if open_low else low <= value) and value <= high
            if not inside:
                out.append(
                    f"{name} is {_shown(value)}; allowed a finite number in {'(' if open_low else '['}"
                    f"{low}, {high}]"
                )
        out += self._structure_problems()
        if self.cls_loss not in CLS_LOSSES:
            out.append(f"cls_loss is {_shown(self.cls_loss)}; allowed {' or '.join(map(repr, CLS_LOSSES))}")
        if not isinstance(self.upscale_support, bool):
            out.append(f"upscale_support is {_shown(self.upscale_support)}; allowed true or false")
        if self.reg_max == 1:
            out.append("reg_max is 1; allowed 0 (no DFL) or 2..64 bins")
        if not isinstance(self.loss_weights, dict):
            out.append(
                f"loss_weights is {type(self.loss_weights).__name__}; allowed a mapping of name to gain"
            )
        else:
            bad = {k: v for k, v in self.loss_weights.items() if not (_is_real(v) and v >= 0)}
            if bad:
                out.append(f"loss_weights {_shown(bad)}; allowed finite gains ≥ 0")
        return out

    def _structure_problems(self) -> list[str]:
        """Messages for widths and strides: the backbone's stage i outputs stride 2**(i+2), so each stride
        must be a power of two that some stage produces."""
        widths, strides = self.widths, self.strides
        if not isinstance(widths, tuple) or not 2 <= len(widths) <= MAX_STAGES:
            return [f"widths is {_shown(widths)}; allowed 2..{MAX_STAGES} integers in 1..{MAX_WIDTH}"]
        out = [
            f"widths[{i}] is {_shown(w)}; allowed an integer in 1..{MAX_WIDTH}"
            for i, w in enumerate(widths)
            if not (_is_int(w) and 1 <= w <= MAX_WIDTH)
        ]
        top = 2 ** len(widths)  # the last stage's stride (stage len-2 → 2**len)
        if not isinstance(strides, tuple) or not 1 <= len(strides) <= len(widths) - 1:
            return out + [
                f"strides is {_shown(strides)}; allowed 1..{len(widths) - 1} powers of two in 4..{top}"
            ]
        ok = all(_is_int(s) and 4 <= s <= top and s & (s - 1) == 0 for s in strides)
        if not ok or list(strides) != sorted(set(strides)):
            out.append(
                f"strides is {_shown(list(strides))}; allowed increasing powers of two in 4..{top} "
                f"(one per backbone stage, for {len(widths)} widths)"
            )
        return out
