"""inspector/data/dataset.py DecodedImages: a plan decodes each image once, and its episodes are the ones
sampled without it, bit for bit."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from inspector.batch import EpisodePlan, EvalSettings
from inspector.data import Dataset, read_dataset
from inspector.data.dataset import DecodedImages
from inspector.data.episodes import EpisodeSampler
from inspector.data.shapes import write_coco_dataset
from inspector.plan import DatasetEpisodes, EpisodeShape


@pytest.fixture(scope="module")
def shapes(tmp_path_factory: pytest.TempPathFactory) -> Dataset:
    root = tmp_path_factory.mktemp("shapes")
    write_coco_dataset(root, 24, seed=3)
    return read_dataset(root)


def _same(a, b) -> None:  # two episodes, every array bit for bit
    assert (a.index, a.classes, a.class_names) == (b.index, b.classes, b.class_names)
    for x, y in zip(a.support + a.queries, b.support + b.queries, strict=True):
        assert x.image_id == y.image_id
        for name in ("image", "boxes", "labels"):
            got, want = getattr(x, name), getattr(y, name)
            assert got.dtype == want.dtype and np.array_equal(got, want)


def test_a_plans_episodes_equal_those_decoded_each_time(shapes: Dataset) -> None:
    s = EvalSettings(episodes=30, n_way=2, k_shot=2, n_query=3)
    plan = EpisodePlan(shapes, None, s)
    plain = EpisodeSampler(shapes, 2, 2, 3, s.seed)
    episodes = [plan.episode(i) for i in range(plan.total)]
    for i, episode in enumerate(episodes):
        _same(episode, plain.sample(i))
    decoded = plan.images.sampler.decoded  # type: ignore[union-attr]
    drawn = sum(len(e.support) + len(e.queries) for e in episodes)
    distinct = {s.image_id for e in episodes for s in e.support + e.queries}
    assert (decoded.misses, decoded.hits) == (len(distinct), drawn - len(distinct))


def test_a_kept_image_is_shared_and_read_only(shapes: Dataset) -> None:
    decoded = DecodedImages()
    sampler = DatasetEpisodes(shapes, EpisodeShape(2, 2, 3), 0, decoded=decoded).sampler
    assert sampler is not None
    first = {s.image_id: s.image for e in (sampler.sample(i) for i in range(10)) for s in e.queries}
    again = {s.image_id: s.image for e in (sampler.sample(i) for i in range(10)) for s in e.queries}
    for image_id, image in first.items():
        assert again[image_id] is image  # one array per image, handed to every episode that draws it
        assert not image.flags.writeable  # so no episode can change another's pixels
        with pytest.raises(ValueError):
            image[0, 0, 0] = 0


def test_at_most_max_bytes_are_kept_least_recently_used_first_out(shapes: Dataset) -> None:
    entries = shapes.images[:4]
    size = entries[0].load().nbytes
    assert all(e.load().nbytes == size for e in entries)
    decoded = DecodedImages(max_bytes=2 * size)
    for e in (*entries[:3], entries[2], entries[0]):  # 0 was pushed out by 2; 2 was kept
        decoded.load(e)
    assert (decoded.hits, decoded.misses) == (1, 4)
    np.testing.assert_array_equal(decoded.load(entries[3]), entries[3].load())  # decodes the same pixels


def test_the_demo_plan_decodes_each_of_its_images_once() -> None:
    root = Path(__file__).resolve().parents[1] / "demo" / "data" / "val"
    if not root.is_dir():
        pytest.skip("demo/ not built (python -m inspector demo)")
    plan = EpisodePlan(read_dataset(root), None, EvalSettings(episodes=100, n_way=2, k_shot=3, n_query=4))
    for i in range(plan.total):
        plan.episode(i)
    decoded = plan.images.sampler.decoded  # type: ignore[union-attr]
    assert decoded.misses + decoded.hits == 1000 and decoded.misses <= 72
