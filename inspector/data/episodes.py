"""The deterministic N-way K-shot episode sampler.

Episode i depends only on (dataset content, n_way, k_shot, n_query, seed, i): its generator is
numpy.random.default_rng([seed, i]) and the dataset's entries come in a fixed order, so the app,
the CLI and the tests see the same episode i.
"""

from __future__ import annotations

from collections.abc import Collection

import numpy as np

from inspector.data.dataset import ClipEntry, Dataset, DecodedImages, load_rgb
from inspector.data.records import Episode, Sample
from inspector.errors import InspectorError


class EpisodeSampler:
    """Draws episodes from an image dataset (support + query images) or a video dataset (photos + clips).

    Image datasets: per way, k_shot support images containing the class (only that class's boxes
    kept); then n_query query images, distinct from the support, containing at least one episode
    class (boxes of other classes dropped). Labels are way indices.

    Video datasets: per way, one sample of the class; its object images are the support (box = the
    whole photo) and its clip is the query (Episode.clips), since the photos show that very object.
    n_query does not apply there.
    """

    def __init__(
        self,
        dataset: Dataset,
        n_way: int,
        k_shot: int,
        n_query: int,
        seed: int = 0,
        classes: Collection[int] | None = None,
        decoded: DecodedImages | None = None,
    ):
        """`classes`: the class ids ways may be drawn from (a base / novel split); None: every class.
        `decoded`: where images decoded for one episode are kept for the next (None: decoded each time)."""
        if min(n_way, k_shot) < 1 or n_query < 0:
            raise InspectorError(
                f"need n_way ≥ 1, k_shot ≥ 1, n_query ≥ 0 (got {n_way}, {k_shot}, {n_query})"
            )
        self.dataset = dataset
        self.n_way, self.k_shot, self.n_query, self.seed = n_way, k_shot, n_query, seed
        self.decoded = decoded
        self.skipped_classes: dict[str, str] = {}
        self._pool: dict[int, list[int]] = {}  # class → image indices, or clip indices for video
        allowed = set(range(len(dataset.class_names))) if classes is None else {int(c) for c in classes}
        if dataset.clips:
            by_class: dict[int, list[int]] = {}
            for i, clip in enumerate(dataset.clips):
                if len(clip.object_images) >= k_shot:
                    by_class.setdefault(clip.label, []).append(i)
            for c, name in enumerate(dataset.class_names):
                if c not in allowed:
                    continue
                if c in by_class:
                    self._pool[c] = by_class[c]
                else:
                    self.skipped_classes[name] = f"no sample with ≥ {k_shot} object images"
        else:
            for c, images in dataset.images_by_class().items():
                if c not in allowed:
                    continue
                # One image more than the shots, so at least one query can show the class.
                if len(images) >= k_shot + 1:
                    self._pool[c] = images
                else:
                    self.skipped_classes[dataset.class_names[c]] = (
                        f"{len(images)} image(s) contain it; needs k_shot + 1 = {k_shot + 1}"
                    )
        self.classes: tuple[int, ...] = tuple(sorted(self._pool))
        if len(self.classes) < n_way:
            among = "" if classes is None else f" of the {len(allowed)} the ways are drawn from"
            raise InspectorError(
                f"only {len(self.classes)} class(es){among} can fill a {n_way}-way {k_shot}-shot episode"
                + "".join(f"; {k}: {v}" for k, v in self.skipped_classes.items()),
                path=dataset.root,
            )

    def sample(self, i: int) -> Episode:
        """Episode `i`, the same for the same dataset content, settings, seed and i."""
        rng = np.random.default_rng([self.seed, i])
        ways = [int(c) for c in rng.choice(self.classes, size=self.n_way, replace=False)]
        if self.dataset.clips:
            support, clips = self._video_episode(rng, ways)
            queries: tuple[Sample, ...] = ()
        else:
            support, queries = self._image_episode(rng, ways)
            clips = ()
        return Episode(
            index=i,
            seed=self.seed,
            classes=tuple(ways),
            class_names=tuple(self.dataset.class_names[c] for c in ways),
            support=support,
            queries=queries,
            clips=clips,
        )

    def _image_episode(
        self, rng: np.random.Generator, ways: list[int]
    ) -> tuple[tuple[Sample, ...], tuple[Sample, ...]]:
        images = self.dataset.images
        used: set[int] = set()
        support = []
        for way, c in enumerate(ways):
            free = [j for j in self._pool[c] if j not in used]
            # Another way's support may have taken images of this class; then share rather than fail.
            candidates = free if len(free) >= self.k_shot + 1 else self._pool[c]
            for j in rng.choice(candidates, size=self.k_shot, replace=False):
                used.add(int(j))
                keep = images[j].labels == c
                support.append(images[j].sample(keep, np.full(int(keep.sum()), way, np.int64), self.decoded))
        way_of = {c: way for way, c in enumerate(ways)}
        pool = sorted({j for c in ways for j in self._pool[c]} - used)
        chosen: np.ndarray | list[int] = (
            rng.choice(pool, size=min(self.n_query, len(pool)), replace=False) if pool else []
        )
        queries = []
        for j in sorted(int(j) for j in chosen):
            entry = images[j]
            keep = np.isin(entry.labels, ways)
            way_labels = np.array([way_of[int(c)] for c in entry.labels[keep]], np.int64)
            queries.append(entry.sample(keep, way_labels, self.decoded))
        return tuple(support), tuple(queries)

    def _video_episode(self, rng: np.random.Generator, ways: list[int]) -> tuple[tuple[Sample, ...], tuple]:
        support, clips = [], []
        for way, c in enumerate(ways):
            clip: ClipEntry = self.dataset.clips[int(rng.choice(self._pool[c]))]
            for j in sorted(rng.choice(len(clip.object_images), size=self.k_shot, replace=False)):
                path = clip.object_images[int(j)]
                image = load_rgb(path)
                h, w = image.shape[:2]
                support.append(
                    Sample(
                        image_id=f"{clip.clip_id}/object_images/{path.name}",
                        image=image,
                        boxes=np.array([[0, 0, w, h]], np.float32),
                        labels=np.array([way], np.int64),
                    )
                )
            clips.append(clip.load(way))
        return tuple(support), tuple(clips)


def frames_as_queries(episode: Episode, n_query: int) -> Episode:
    """The clip episode `episode` as an image episode to train on: `n_query` of its clips' frames become
    queries.

    A video episode's support is each way's reference photos (the whole photo is the box) and its query is
    a clip; training needs query images with targets. About n_query / n_way frames of each way's clip are
    drawn (the target in view, partly out, or gone: the clip sweeps it out and back), so a model trains on the
    task ST-IoU scores: find the photographed object in a frame, or nothing where it has left the view.
    Deterministic: the frames come from numpy.random.default_rng([seed, index, FRAME_STREAM]).
    """
    if not episode.clips:
        return episode
    rng = np.random.default_rng([episode.seed, episode.index, FRAME_STREAM])
    per_way = max(1, -(-n_query // len(episode.clips)))
    queries = []
    for clip in episode.clips:
        picks = np.sort(rng.choice(len(clip.frames), size=min(per_way, len(clip.frames)), replace=False))
        queries += [clip.frames[int(i)] for i in picks]
    return Episode(
        episode.index, episode.seed, episode.classes, episode.class_names, episode.support, tuple(queries), ()
    )


# A stream of the episode's generator apart from the one that chose its ways and clips.
FRAME_STREAM = 3
