"""Episodic training of the reference detector: config, lr schedule, loop."""

from inspector.train.config import TrainConfig, load_train_config
from inspector.train.schedule import lr_at

__all__ = ["TrainConfig", "load_train_config", "lr_at"]
