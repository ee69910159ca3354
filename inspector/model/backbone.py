"""Backbone: a small conv-BN-SiLU CNN with a top-down FPN, giving maps at strides 8, 16, 32."""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from inspector.model.config import ModelConfig


class ConvBNAct(nn.Module):
    """Conv2d → BatchNorm → SiLU, the block every stage is built from."""

    def __init__(self, c_in: int, c_out: int, k: int = 3, s: int = 1):
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, k, s, padding=k // 2, bias=False)
        self.bn = nn.BatchNorm2d(c_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.silu(self.bn(self.conv(x)))


class Stage(nn.Module):
    """Downsample by 2, then one residual 3×3 block."""

    def __init__(self, c_in: int, c_out: int):
        super().__init__()
        self.down = ConvBNAct(c_in, c_out, 3, 2)
        self.block = ConvBNAct(c_out, c_out, 3, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.down(x)
        return x + self.block(x)


class Backbone(nn.Module):
    """Returns FPN maps [(B, neck_dim, H/s, W/s) for s in strides] for images (B, 3, H, W) in [0, 1]."""

    def __init__(self, config: ModelConfig):
        super().__init__()
        w = config.widths  # one width per stride 2, 4, 8, 16, 32
        self.stem = ConvBNAct(3, w[0], 3, 2)  # stride 2, no residual: 3 channels in
        self.stages = nn.ModuleList(Stage(w[i], w[i + 1]) for i in range(len(w) - 1))
        # stage i outputs stride 2**(i+2), so stride s comes from stage log2(s)-2 (8 → stage 1)
        self.out_stages = [int(s).bit_length() - 3 for s in config.strides]
        c = config.neck_dim
        self.lateral = nn.ModuleList(nn.Conv2d(w[i + 1], c, 1) for i in self.out_stages)
        self.smooth = nn.ModuleList(ConvBNAct(c, c, 3, 1) for _ in self.out_stages)

    def output_layers(self) -> nn.Module:
        """The last shared layers: the FPN output convs whose maps every head reads."""
        return self.smooth

    def forward(self, images: torch.Tensor) -> list[torch.Tensor]:
        x = self.stem(images - 0.5)  # (B, w0, H/2, W/2); zero-centred input
        feats = []
        for stage in self.stages:
            x = stage(x)  # (B, w[i+1], H/2^(i+2), W/2^(i+2))
            feats.append(x)
        picked = [feats[i] for i in self.out_stages]  # strides 8, 16, 32
        # top-down: coarse semantics flow into the fine maps that see small objects
        outs = [None] * len(picked)
        top = self.lateral[-1](picked[-1])
        outs[-1] = top
        for i in range(len(picked) - 2, -1, -1):
            top = self.lateral[i](picked[i]) + F.interpolate(top, size=picked[i].shape[-2:], mode="nearest")
            outs[i] = top
        # [(B, C, H/8, W/8), (.., /16), (.., /32)]
        return [smooth(o) for smooth, o in zip(self.smooth, outs, strict=True)]
