"""Which episode is episode i: its shape (the checkpoint's train config, else one set of defaults) and its
content.

    shape:    resolve_shape(trained_shape(checkpoint), overrides)   → EpisodeShape (n_way, k_shot, n_query)
    episode:  DatasetEpisodes(dataset, shape, seed).episode(i)
              image dataset → EpisodeSampler(dataset, shape, seed).sample(i)
              video dataset → clip i's 1-way episode (its first k_shot reference photos, then its clip)

The `episode` and `evaluate` commands, the pages and training validation all take both from here, so episode
i is the same everywhere for the same checkpoint, dataset and seed (the batch evaluator's EpisodePlan walks
image episodes 0..N-1, then one episode per clip, through the same functions).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from inspector.checkpoint import load_raw
from inspector.data.dataset import Dataset, DecodedImages, load_rgb
from inspector.data.episodes import EpisodeSampler
from inspector.data.records import Episode, Sample
from inspector.errors import InspectorError
from inspector.train.config import TrainConfig


@dataclass(frozen=True)
class EpisodeShape:
    """How an episode is drawn: n_way ways, k_shot support images per way, n_query query images.

    A clip episode is 1-way and takes its sample's first k_shot reference photos as support (the trainer
    validates clips with its k_shot too); n_way and n_query do not apply to it.
    """

    n_way: int
    k_shot: int
    n_query: int


# A checkpoint that carries no train config (a user's detector, a bare state dict) is scored on the shape the
# reference trainer trains by default: TrainConfig is the one place those numbers live.
DEFAULT_SHAPE = EpisodeShape(TrainConfig.n_way, TrainConfig.k_shot, TrainConfig.n_query)
DEFAULT_SEED = 0
SHAPE_FIELDS = ("n_way", "k_shot", "n_query")


def trained_shape(checkpoint: str | os.PathLike) -> dict[str, int]:
    """Returns the {n_way, k_shot, n_query} the checkpoint's train config holds
    (Checkpoint.meta['train_config']), only the fields that are valid counts; {} when the file has none or
    is no checkpoint inspector reads (a user adapter's file may be anything).

    Reads the file with checkpoint.load_raw (weights_only, memory-mapped) rather than load_checkpoint, whose
    NaN scan would read every weight of a large user checkpoint just to learn three integers.
    """
    config = trained_config(checkpoint)
    if config is None:
        return {}
    least = {"n_way": 1, "k_shot": 1, "n_query": 0}
    return {
        k: int(config[k])
        for k in SHAPE_FIELDS
        if isinstance(config.get(k), int) and not isinstance(config[k], bool) and config[k] >= least[k]
    }


def trained_config(checkpoint: str | os.PathLike) -> dict[str, Any] | None:
    """The checkpoint's train config (Checkpoint.meta['train_config']) as saved, None when the file has none
    or is no checkpoint inspector reads."""
    try:
        raw = load_raw(checkpoint)
    except InspectorError:
        return None
    config = raw.get("train_config") if isinstance(raw, dict) else None
    return config if isinstance(config, dict) else None


def resolve_shape(
    trained: Mapping[str, int],
    n_way: int | None = None,
    k_shot: int | None = None,
    n_query: int | None = None,
) -> EpisodeShape:
    """Returns the EpisodeShape whose every field is the override when given, else the trained value, else
    DEFAULT_SHAPE's."""
    given = {"n_way": n_way, "k_shot": k_shot, "n_query": n_query}
    return EpisodeShape(
        **{k: v if v is not None else trained.get(k, getattr(DEFAULT_SHAPE, k)) for k, v in given.items()}
    )


def clip_episode(
    dataset: Dataset, j: int, k_shot: int, seed: int = DEFAULT_SEED, index: int | None = None
) -> Episode:
    """Returns clip j's 1-way episode: its first k_shot reference photos (fewer if it has fewer) as support,
    each box the whole photo, and its clip as the query (way 0). Every clip is scored once this way, which
    random n-way sampling would not guarantee. `index` is the episode's index (default j)."""
    entry = dataset.clips[j]
    support = []
    for path in entry.object_images[:k_shot]:
        image = load_rgb(path)
        h, w = image.shape[:2]
        support.append(
            Sample(
                f"{entry.clip_id}/object_images/{path.name}",
                image,
                np.array([[0, 0, w, h]], np.float32),
                np.array([0], np.int64),
            )
        )
    return Episode(
        j if index is None else index,
        seed,
        (entry.label,),
        (dataset.class_names[entry.label],),
        tuple(support),
        (),
        (entry.load(0),),
    )


def class_ids(dataset: Dataset, names: Sequence[str]) -> list[int]:
    """The dataset's class ids of `names`; InspectorError naming those it does not have."""
    index = {name: c for c, name in enumerate(dataset.class_names)}
    unknown = [n for n in names if n not in index]
    if unknown:
        raise InspectorError(
            f"no class {', '.join(map(repr, unknown))} in this dataset (it has "
            f"{', '.join(map(repr, dataset.class_names[:20]))}"
            f"{' …' if len(dataset.class_names) > 20 else ''})",
            path=dataset.root,
        )
    return [index[n] for n in names]


class DatasetEpisodes:
    """Episode i of one dataset (see the module docstring); `count` is None for an image dataset
    (any i ≥ 0)."""

    def __init__(
        self,
        dataset: Dataset,
        shape: EpisodeShape,
        seed: int = DEFAULT_SEED,
        way_classes: Sequence[str] = (),
        decoded: DecodedImages | None = None,
    ):
        """`way_classes`: the class names an image episode's ways are drawn from (a base / novel split);
        empty: every class. Clips keep their own class whatever it is. `decoded`: where an image episode's
        decoded images are kept for the next episodes (None: decoded each time)."""
        self.dataset, self.shape, self.seed = dataset, shape, seed
        ways = class_ids(dataset, way_classes) if way_classes else None
        self.sampler = (
            None
            if dataset.clips
            else EpisodeSampler(dataset, shape.n_way, shape.k_shot, shape.n_query, seed, ways, decoded)
        )
        self.count: int | None = len(dataset.clips) if dataset.clips else None

    def episode(self, i: int) -> Episode:
        """Episode i; InspectorError when i is negative or past a video dataset's clips."""
        if i < 0 or (self.count is not None and i >= self.count):
            last = "" if self.count is None else f" 0..{self.count - 1} (one per clip)"
            raise InspectorError(
                f"there is no episode {i}; this dataset has episodes{last or ' 0, 1, …'}",
                path=self.dataset.root,
            )
        if self.sampler is not None:
            return self.sampler.sample(i)
        return clip_episode(self.dataset, i, self.shape.k_shot, self.seed)


def describe_shape(shape: EpisodeShape, trained: Mapping[str, Any]) -> str:
    """Returns e.g. "2-way 3-shot, 4 queries (the checkpoint's train config)": the shape and where it came
    from."""
    source = (
        "the checkpoint's train config"
        if trained and shape == resolve_shape(trained)
        else "inspector's defaults"
        if not trained and shape == DEFAULT_SHAPE
        else "chosen here"
    )
    return f"{shape.n_way}-way {shape.k_shot}-shot, {shape.n_query} queries ({source})"
