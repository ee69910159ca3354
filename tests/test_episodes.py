"""The episode sampler: determinism, support/query rules, skipped classes, video episodes."""

from __future__ import annotations

import json

import numpy as np
import pytest

from inspector.data import read_dataset
from inspector.data.episodes import EpisodeSampler
from inspector.data.shapes import write_coco_dataset, write_video_samples
from inspector.errors import InspectorError


@pytest.fixture(scope="module")
def shapes(tmp_path_factory):
    root = tmp_path_factory.mktemp("shapes")
    write_coco_dataset(root, 60, seed=11)
    return read_dataset(root)


def _fingerprint(ep):
    return (
        ep.classes,
        [(s.image_id, s.boxes.tobytes(), s.labels.tolist()) for s in ep.support],
        [(s.image_id, s.boxes.tobytes(), s.labels.tolist()) for s in ep.queries],
    )


def test_same_index_same_episode_other_index_differs(shapes):
    a = EpisodeSampler(shapes, n_way=3, k_shot=2, n_query=4, seed=5)
    b = EpisodeSampler(shapes, n_way=3, k_shot=2, n_query=4, seed=5)
    assert _fingerprint(a.sample(7)) == _fingerprint(b.sample(7))
    assert np.array_equal(a.sample(7).queries[0].image, b.sample(7).queries[0].image)
    assert _fingerprint(a.sample(7)) != _fingerprint(a.sample(8))
    c = EpisodeSampler(shapes, n_way=3, k_shot=2, n_query=4, seed=6)
    assert _fingerprint(a.sample(7)) != _fingerprint(c.sample(7))


def test_episode_rules(shapes):
    sampler = EpisodeSampler(shapes, n_way=3, k_shot=2, n_query=5, seed=0)
    for i in range(10):
        ep = sampler.sample(i)
        assert ep.n_way == 3 and len(set(ep.classes)) == 3
        assert ep.class_names == tuple(shapes.class_names[c] for c in ep.classes)
        assert len(ep.support) == 6 and len(ep.queries) == 5
        # support: k_shot per way in order, only that way's boxes, at least one
        for n, s in enumerate(ep.support):
            assert len(s.labels) >= 1 and set(s.labels.tolist()) == {n // 2}
        support_ids = {s.image_id for s in ep.support}
        entries = {e.image_id: e for e in shapes.images}
        for q in ep.queries:
            assert q.image_id not in support_ids
            assert len(q.labels) >= 1 and set(q.labels.tolist()) <= {0, 1, 2}
            # every box of an episode class is kept, as its way index; other classes dropped
            entry = entries[q.image_id]
            want = [ep.classes.index(c) for c in entry.labels.tolist() if c in ep.classes]
            assert q.labels.tolist() == want


def test_rare_classes_are_skipped_with_a_reason(tmp_path):
    images = [{"id": i, "file_name": f"{i}.png", "width": 32, "height": 32} for i in range(1, 6)]
    anns = [
        {"id": i, "image_id": i, "category_id": 1 if i <= 4 else 2, "bbox": [1, 1, 8, 8], "iscrowd": 0}
        for i in range(1, 6)
    ] + [{"id": 9, "image_id": 4, "category_id": 3, "bbox": [10, 10, 8, 8], "iscrowd": 0}]
    from PIL import Image

    for im in images:
        Image.new("RGB", (32, 32)).save(tmp_path / im["file_name"])
    cats = [{"id": 1, "name": "common"}, {"id": 2, "name": "rare"}, {"id": 3, "name": "rarer"}]
    doc = {"images": images, "annotations": anns, "categories": cats}
    (tmp_path / "annotations.json").write_text(json.dumps(doc))
    ds = read_dataset(tmp_path)
    sampler = EpisodeSampler(ds, n_way=1, k_shot=2, n_query=2, seed=0)
    assert set(sampler.skipped_classes) == {"rare", "rarer"}
    assert "needs k_shot + 1 = 3" in sampler.skipped_classes["rare"]
    ep = sampler.sample(0)
    assert ep.class_names == ("common",) and len(ep.queries) == 2
    with pytest.raises(InspectorError, match="only 1 class"):
        EpisodeSampler(ds, n_way=2, k_shot=2, n_query=2, seed=0)


def test_video_episode_uses_photos_as_support_and_clips_as_queries(tmp_path):
    write_video_samples(tmp_path, 4, seed=2)
    ds = read_dataset(tmp_path)
    sampler = EpisodeSampler(ds, n_way=2, k_shot=2, n_query=1, seed=0)
    ep = sampler.sample(3)
    assert ep.queries == () and len(ep.clips) == 2 and len(ep.support) == 4
    for way, clip in enumerate(ep.clips):
        assert clip.clip_id.rsplit("_", 1)[0] == ep.class_names[way]
        for s in ep.support[2 * way : 2 * way + 2]:
            assert s.image_id.startswith(clip.clip_id + "/object_images/")
            h, w = s.size
            np.testing.assert_array_equal(s.boxes, [[0, 0, w, h]])
            assert s.labels.tolist() == [way]
        assert all(set(f.labels.tolist()) <= {way} for f in clip.frames)
    assert _fingerprint(ep) == _fingerprint(EpisodeSampler(ds, 2, 2, 1, seed=0).sample(3))
    with pytest.raises(InspectorError):
        EpisodeSampler(ds, n_way=2, k_shot=4, n_query=1, seed=0)  # only 3 photos per sample
