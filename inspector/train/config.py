"""TrainConfig: the one place training hyper-parameters live, loadable from YAML or JSON."""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, get_args

from inspector.errors import InspectorError
from inspector.model.config import ModelConfig
from inspector.train.schedule import Schedule

# YOLOv8's box/cls gains plus our contrastive terms: the "troubled" default users arrive with.
DEFAULT_LOSS_WEIGHTS = {"bbox": 7.5, "cls": 0.5, "supcon": 1.0, "cpe": 0.5}


@dataclass
class TrainConfig:
    # data: dataset paths (COCO / YOLO / video samples); None → synthetic shapes generated in a temp dir
    train_data: str | None = None
    val_data: str | None = None
    clips_data: str | None = None  # reference-image + clip samples for ST-IoU at validation
    synthetic_train_images: int = 600
    synthetic_val_images: int = 80
    synthetic_clips: int = 0
    synthetic_clutter: bool = True  # False: easier shapes images (fewer, larger objects, no distractors)
    synthetic_seed: int = 1  # the shapes generator's seed (validation uses seed + 1, clips seed + 2)
    # clip-style training episodes: reference photos as support, frames of a clip as queries (the task ST-IoU
    # scores); every clip_episode_every-th step is one, drawn from train_clips_data (None:
    # synthetic_train_clips generated with seed + 3). 0: image episodes only.
    train_clips_data: str | None = None
    synthetic_train_clips: int = 0
    clip_episode_every: int = 0
    clip_n_way: int = 0  # ways of a clip-style episode (0: n_way); validation scores clips 1-way

    # episodes
    n_way: int = 3
    k_shot: int = 3
    n_query: int = 4
    seed: int = 0  # model init and training episode order

    # optimisation: AdamW with linear warm-up then cosine decay to final_lr, or step decay (× lr_gamma at
    # each of lr_milestones, in optimizer steps) floored at final_lr
    epochs: int = 3
    steps_per_epoch: int = 200
    lr: float = 1e-3
    warmup_steps: int = 50
    final_lr: float = 2e-6
    lr_schedule: Schedule = "cosine"
    lr_milestones: list[int] = field(default_factory=list)
    lr_gamma: float = 0.1
    weight_decay: float = 0.05
    grad_clip: float = 10.0  # max global grad norm; rare huge Wise-IoU gradients otherwise blow up AdamW
    loss_weights: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_LOSS_WEIGHTS))

    # validation and output
    val_episodes: int = 20
    val_seed: int = 12345
    out_dir: str = "runs/exp"
    half_checkpoints: bool = False  # float16 weights (the bundled demo stays small)
    save_optimizer: bool = True  # needed to --resume; the demo drops it to stay small
    checkpoint_every: int = (
        1  # write epoch_N.pt every this many epochs (the last epoch always); best.pt always
    )
    threads: int = 2  # torch intra-op threads: training shares the machine

    model: dict[str, Any] = field(default_factory=dict)  # ModelConfig overrides

    @property
    def total_steps(self) -> int:
        return self.epochs * self.steps_per_epoch

    def model_config(self) -> ModelConfig:
        """Returns the ModelConfig this run trains, its loss_weights set to the run's weights."""
        base = ModelConfig.from_dict(dict(self.model))
        weights = {**base.loss_weights, **self.loss_weights}
        return dataclasses.replace(base, loss_weights=weights)

    def to_dict(self) -> dict[str, Any]:
        """Returns a JSON-friendly dict of every field."""
        return json.loads(json.dumps(dataclasses.asdict(self)))

    @classmethod
    def from_dict(cls, data: dict[str, Any], path: str | os.PathLike | None = None) -> TrainConfig:
        """Returns the config for `data`; an unknown key or a bad model section → InspectorError naming it."""
        if not isinstance(data, dict):
            raise InspectorError("a training config must be a mapping of keys to values", path=path)
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise InspectorError(
                f"unknown training config key(s): {', '.join(unknown)} (known: {', '.join(sorted(names))})",
                path=path,
            )
        config = cls(**data)
        try:
            config.model_config()
        except (ValueError, TypeError) as exc:
            raise InspectorError(f"bad 'model' section: {exc}", path=path) from None
        if (
            min(config.epochs, config.steps_per_epoch, config.n_way, config.k_shot, config.checkpoint_every)
            < 1
        ):
            raise InspectorError(
                "epochs, steps_per_epoch, n_way, k_shot and checkpoint_every must be ≥ 1", path=path
            )
        if min(config.clip_episode_every, config.synthetic_train_clips, config.clip_n_way) < 0:
            raise InspectorError(
                "clip_episode_every, synthetic_train_clips and clip_n_way must be ≥ 0", path=path
            )
        if config.lr_schedule not in get_args(Schedule):
            raise InspectorError(f"lr_schedule is 'cosine' or 'step', not {config.lr_schedule!r}", path=path)
        return config


def load_train_config(path: str | os.PathLike) -> TrainConfig:
    """Returns the TrainConfig in a YAML or JSON file."""
    import yaml

    path = Path(path)
    if not path.is_file():
        raise InspectorError("no such training config file", path=path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))  # YAML is a superset of JSON
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise InspectorError(
            f"not valid YAML/JSON ({getattr(exc, 'problem', exc)})",
            path=path,
            line=None if mark is None else mark.line + 1,
        ) from None
    return TrainConfig.from_dict(data or {}, path=path)
