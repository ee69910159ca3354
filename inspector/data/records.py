"""Records shared by datasets, the episode sampler, the detector and the evaluator.

Boxes are absolute-pixel xyxy float32 everywhere inside inspector (conversions live in
inspector/boxes.py). Inside an Episode, labels are *way indices* (0..n_way-1); `Episode.classes`
maps a way index back to the dataset's class id and `class_names` to its name.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class Sample:
    """One image with its boxes: image (H, W, 3) uint8, boxes (n, 4) float32 xyxy, labels (n,) int64."""

    image_id: str
    image: np.ndarray
    boxes: np.ndarray
    labels: np.ndarray

    @property
    def size(self) -> tuple[int, int]:
        """(height, width) in pixels."""
        return int(self.image.shape[0]), int(self.image.shape[1])


@dataclass(frozen=True)
class Clip:
    """A short video query: frames in order; each frame's boxes hold the target where it is visible
    (zero rows where it has left the view)."""

    clip_id: str
    frames: tuple[Sample, ...]


@dataclass(frozen=True)
class Episode:
    """An N-way K-shot episode: support images per way, query images, optional query clips."""

    index: int
    seed: int
    classes: tuple[int, ...]
    class_names: tuple[str, ...]
    support: tuple[Sample, ...]
    queries: tuple[Sample, ...]
    clips: tuple[Clip, ...] = field(default_factory=tuple)

    @property
    def n_way(self) -> int:
        return len(self.classes)
