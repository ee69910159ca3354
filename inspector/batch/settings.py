"""What a batch run is: its settings, its shard, its plan of episodes, and the result it returns."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

import pandas as pd

from inspector.data import Dataset, Episode
from inspector.data.dataset import DecodedImages
from inspector.errors import InspectorError
from inspector.evaluate import CLIP_SCORE_THRESHOLD
from inspector.plan import DEFAULT_SEED, DEFAULT_SHAPE, DatasetEpisodes, EpisodeShape, clip_episode


@dataclass(frozen=True)
class EvalSettings:
    """What decides which episodes are drawn and how predictions are filtered (None: the model's default).

    The episode shape defaults to plan.DEFAULT_SHAPE (callers pass the checkpoint's, see plan.resolve_shape);
    clip_score_threshold is the ST-IoU score gate (evaluate.CLIP_SCORE_THRESHOLD).
    """

    episodes: int = 100
    seed: int = DEFAULT_SEED
    n_way: int = DEFAULT_SHAPE.n_way
    k_shot: int = DEFAULT_SHAPE.k_shot
    n_query: int = DEFAULT_SHAPE.n_query
    score_threshold: float | None = None
    nms_iou: float | None = None
    clip_score_threshold: float = CLIP_SCORE_THRESHOLD
    # the class names image episodes draw their ways from (a base / novel split); empty: every class
    way_classes: tuple[str, ...] = ()

    @property
    def shape(self) -> EpisodeShape:
        return EpisodeShape(self.n_way, self.k_shot, self.n_query)


@dataclass(frozen=True)
class Shard:
    """Shard `index` of `count`: positions index, index+count, … of the plan."""

    index: int = 0
    count: int = 1

    @classmethod
    def parse(cls, text: str) -> Shard:
        """The Shard of 'i/n' (0 ≤ i < n); InspectorError otherwise."""
        head, sep, tail = text.partition("/")
        try:
            shard = cls(int(head), int(tail)) if sep else None
        except ValueError:
            shard = None
        if shard is None or shard.count < 1 or not 0 <= shard.index < shard.count:
            raise InspectorError(f"--shard must be i/n with 0 ≤ i < n, e.g. 0/8 (got {text!r})")
        return shard

    def positions(self, total: int) -> list[int]:
        return list(range(self.index, total, self.count))


WHOLE_PLAN = Shard()  # shard 0 of 1: every position


@dataclass(frozen=True)
class BatchResult:
    """Rows (one per query image or clip, ordered by position) and the metadata that identifies them.

    meta: checkpoint, checkpoint_sha256, adapter, data, data_hash, clips, clips_hash, settings (dict),
    class_names, total (positions in the plan), image_episodes (the plan's first positions, before its clip
    episodes), positions (evaluated here), shard "i/n", schema.
    """

    meta: dict[str, Any]
    rows: pd.DataFrame


class EpisodePlan:
    """Positions → episodes: image episodes 0..N-1 (plan.DatasetEpisodes: position = sampler index), then one
    1-way episode per clip (plan.clip_episode).

    A video dataset passed as `data` contributes only its clips (every clip scored once, which random
    n-way sampling would not guarantee); `clips` adds a video dataset's clips after an image dataset's
    episodes.
    keep=True holds each episode once decoded (training validation scores the same plan every epoch). Either
    way the plan's image episodes decode each image once (data.DecodedImages: the demo's 100 episodes draw
    1,000 images, 72 of them distinct).
    """

    def __init__(self, data: Dataset, clips: Dataset | None, s: EvalSettings, keep: bool = False):
        self.data, self.settings = data, s
        self.clip_sets = [data] if data.clips else ([clips] if clips is not None else [])
        for d in self.clip_sets:
            if not d.clips:
                raise InspectorError("holds no reference-image + clip samples", path=d.root)
        self.n_image = 0 if data.clips else s.episodes
        self.images = (
            DatasetEpisodes(data, s.shape, s.seed, s.way_classes, DecodedImages()) if self.n_image else None
        )
        self._clip_entries = [(d, j) for d in self.clip_sets for j in range(len(d.clips))]
        self.total = self.n_image + len(self._clip_entries)
        self._kept: dict[int, Episode] | None = {} if keep else None

    def episode(self, position: int) -> Episode:
        """The episode at `position` (the same everywhere for the same data and settings)."""
        if self._kept is not None and position in self._kept:
            return self._kept[position]
        if position < self.n_image:
            # self.images is set whenever n_image > 0, which position < n_image implies
            episode = cast(DatasetEpisodes, self.images).episode(position)
        else:
            dataset, j = self._clip_entries[position - self.n_image]
            episode = clip_episode(dataset, j, self.settings.k_shot, self.settings.seed, index=position)
        if self._kept is not None:
            self._kept[position] = episode
        return episode
