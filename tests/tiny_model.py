"""A tiny reference detector saved as a checkpoint: the tests that run a model end to end use it, so they take
seconds (its train config holds the 2-way 2-shot 2-query shape the plans then draw)."""

from __future__ import annotations

from pathlib import Path

import torch

from inspector.checkpoint import save_checkpoint
from inspector.model import ModelConfig, create_model

TINY = ModelConfig(widths=(8, 16, 16, 24, 32), neck_dim=24, head_dim=16, embed_dim=16)
TRAIN_SHAPE = {"n_way": 2, "k_shot": 2, "n_query": 2}


def save_tiny(path: Path, seed: int = 0) -> Path:
    """Saves an untrained tiny model (weights drawn from `seed`) as a float16 checkpoint at `path`."""
    torch.manual_seed(seed)
    return save_checkpoint(path, create_model(TINY), TINY, half=True, train_config=dict(TRAIN_SHAPE))
