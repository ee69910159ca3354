"""inspector/model/memo.py: in inference each image's FPN maps are its own (batch of one), kept by content
and forgotten when the weights change; detections stay those of the batched pass to float tolerance."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest
import torch

from inspector.model import ModelConfig, create_model
from inspector.model.detector import FewShotDetector
from inspector.model.memo import FeatureMemo
from inspector.model.predict import preprocess
from inspector.ui.episode_views import demo_checkpoints

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def model() -> FewShotDetector:
    torch.manual_seed(0)
    return create_model(ModelConfig(image_size=64)).eval()


def _equal(a: list[torch.Tensor], b: list[torch.Tensor]) -> bool:
    return all(torch.equal(x, y) for x, y in zip(a, b, strict=True))


@torch.no_grad()
def test_an_images_maps_are_its_own_whatever_it_is_batched_with(model: FewShotDetector) -> None:
    x = torch.rand(4, 3, 64, 64)
    maps = model.features(x)
    assert (model.memo.hits, model.memo.misses) == (0, 4)
    for i in range(4):  # bit for bit the image alone through the backbone
        assert _equal([m[i : i + 1] for m in maps], model.backbone(x[i : i + 1]))
    model.memo = FeatureMemo()
    again = model.features(x[[2, 0]])  # other companions, another order, an empty memo
    assert _equal([m[[2, 0]] for m in maps], again)
    assert _equal(maps, model.features(x)) and model.memo.hits == 2  # the memo gives what it would compute
    # and the batched pass to float tolerance (other conv kernels)
    for m, b in zip(maps, model.backbone(x), strict=True):
        torch.testing.assert_close(m, b, rtol=1e-4, atol=1e-4)


@torch.no_grad()
def test_the_box_tower_runs_once_per_image_and_on_it_alone(model: FewShotDetector) -> None:
    """The head's box tower sees a query's maps, not the prototypes: kept with the maps, each image's own."""
    calls: list[int] = []
    model.head.levels[0].box_tower.register_forward_hook(lambda _m, args, _out: calls.append(len(args[0])))
    support, query = torch.rand(2, 3, 64, 64), torch.rand(3, 3, 64, 64)
    boxes = [torch.tensor([[4.0, 4.0, 30.0, 30.0]]), torch.tensor([[10.0, 8.0, 50.0, 40.0]])]
    ways = torch.tensor([0, 1])
    out = model(support, boxes, ways, query, 2)
    assert calls == [1] * 5  # every image on a miss (support images may be queries later), one at a time
    again = model(support, boxes, ways, query[[2, 0]], 2)  # other companions: from the memo
    assert len(calls) == 5
    assert torch.equal(again.box_dist, out.box_dist[[2, 0]]) and torch.equal(
        again.pred_boxes, out.pred_boxes[[2, 0]]
    )
    maps = model.features(query)
    for i in range(3):  # bit for bit the tower on that image's maps alone
        alone = [level.box_tower(m[i : i + 1]) for level, m in zip(model.head.levels, maps, strict=True)]
        want = torch.cat([a.flatten(2).transpose(1, 2) for a in alone], 1)
        assert torch.equal(out.box_dist[i : i + 1], want)
    model.train()  # training runs the batch through the tower, as before
    model(support, boxes, ways, query, 2)
    assert calls[-1] == 3


@torch.no_grad()
def test_the_canvas_digests_key_the_memo_as_the_images_own_values(model: FewShotDetector) -> None:
    """predict.preprocess hashes each uint8 canvas (a quarter of the float image's bytes): the same image
    gives the same digest and maps, another image another, and the maps are those the float hash keys."""
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 256, (40 + 5 * i, 50, 3), dtype=np.uint8) for i in range(3)]
    batch, _, digests = preprocess([*images, images[1]], 64)
    assert digests[3] == digests[1] and len(set(digests)) == 3
    by_digest = model.features(batch)  # hashed here: image_key
    model.memo = FeatureMemo()
    got, _ = model._features_and_boxes(batch, digests)
    assert (model.memo.hits, model.memo.misses) == (1, 3)  # the repeated image found by its digest
    assert _equal(got, by_digest)
    model._features_and_boxes(batch[[2, 0]], [digests[2], digests[0]])
    assert model.memo.hits == 3
    with pytest.raises(ValueError, match="2 digests for 4 images"):
        model._features_and_boxes(batch, digests[:2])


@torch.no_grad()
def test_a_weight_change_forgets_the_maps(model: FewShotDetector) -> None:
    x = torch.rand(2, 3, 64, 64)
    before = model.features(x)
    model.backbone.stem.conv.weight.add_(0.05)  # what an optimiser step does: in place
    after = model.features(x)
    assert model.memo.misses == 4 and not _equal(before, after)
    alone = [model.backbone(x[i : i + 1]) for i in range(2)]
    assert _equal(after, [torch.cat(m) for m in zip(*alone, strict=True)])
    model.load_state_dict(create_model(ModelConfig(image_size=64)).state_dict())
    model.features(x)
    assert model.memo.misses == 6


def test_training_and_gradients_run_the_batch_without_the_memo(model: FewShotDetector) -> None:
    x = torch.rand(2, 3, 64, 64)
    model.features(x)  # eval mode, gradients on
    model.train()
    with torch.no_grad():
        model.features(x)
    assert (model.memo.hits, model.memo.misses) == (0, 0)
    copied = copy.deepcopy(model.eval())
    with torch.no_grad():
        model.features(x)
        assert copied.memo is not model.memo and copied.memo.misses == 0


def test_the_memo_holds_at_most_its_bytes() -> None:
    memo = FeatureMemo(max_bytes=3 * 4 * 4)  # three images of one (1, 2, 2) float map

    def backbone(images: torch.Tensor) -> list[torch.Tensor]:
        return [images[:, :1, :2, :2].clone()]

    for i in range(5):
        memo.maps(torch.full((1, 3, 4, 4), float(i)), backbone, ())
    memo.maps(torch.full((1, 3, 4, 4), 4.0), backbone, ())
    memo.maps(torch.full((1, 3, 4, 4), 0.0), backbone, ())  # evicted: the least recently used
    assert (memo.hits, memo.misses) == (1, 6)


@pytest.mark.skipif(not demo_checkpoints(), reason="demo/ not built (python -m inspector demo)")
def test_demo_detections_equal_the_batched_pass_to_float_tolerance() -> None:
    """The demo's B on 8 episodes: the memoised pass against one backbone pass over each episode's batch."""
    from inspector.adapters import load_detector
    from inspector.batch import EpisodePlan, EvalSettings
    from inspector.data import read_dataset
    from inspector.plan import DEFAULT_SEED, resolve_shape, trained_shape

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        path = REPO / "demo" / "runs" / "fixed" / "best.pt"
        shape = resolve_shape(trained_shape(path))
        s = EvalSettings(8, DEFAULT_SEED, shape.n_way, shape.k_shot, shape.n_query)
        plan = EpisodePlan(read_dataset(REPO / "demo" / "data" / "val"), None, s, keep=True)
        memoised, fresh, batched = (load_detector(path) for _ in range(3))
        batched.model.memo.maps = lambda images, backbone, *_: backbone(images)  # the pass before
        for p in range(plan.total):
            episode = plan.episode(p)
            got, again, want = (d.predict(episode) for d in (memoised, fresh, batched))
            for q, r, w in zip(got.queries, again.queries, want.queries, strict=True):
                for name in ("pred_boxes", "scores", "labels"):  # a memo hit is bit for bit a fresh pass
                    np.testing.assert_array_equal(getattr(q, name), getattr(r, name))
                assert len(q.scores) == len(w.scores)
                # the same detections, up to the order of near-ties in score
                order_q, order_w = np.lexsort((q.scores, q.labels)), np.lexsort((w.scores, w.labels))
                np.testing.assert_array_equal(q.labels[order_q], w.labels[order_w])
                np.testing.assert_allclose(q.scores[order_q], w.scores[order_w], atol=1e-5)
                for box, label in zip(q.pred_boxes, q.labels, strict=True):  # each box is one of the pass's
                    off = np.abs(w.pred_boxes[w.labels == label] - box).max(axis=1).min()
                    assert off < 1e-2
        assert memoised.model.memo.hits > 0
    finally:
        torch.set_num_threads(threads)
