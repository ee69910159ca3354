"""The reference few-shot detector (inspector/model/): anchors, pooling, assigner, Wise-IoU,
contrastive losses, forward shapes, an overfit run, NMS and the Episode round trip."""

from __future__ import annotations

import dataclasses
import json
import math

import numpy as np
import pytest
import torch

from inspector.data.records import Episode, Sample
from inspector.errors import InspectorError
from inspector.model import ModelConfig, create_model
from inspector.model.anchors import make_anchors
from inspector.model.assigner import TaskAlignedAssigner, anchors_inside
from inspector.model.contrastive import cpe_loss, supcon_loss
from inspector.model.head import decode_boxes, encode_boxes
from inspector.model.loss import compute_losses
from inspector.model.predict import batched_nms, postprocess, run_episode
from inspector.model.prototypes import box_masks, class_prototypes
from inspector.model.wiou import WIoUState, wiou_loss


@pytest.fixture(autouse=True)
def _two_threads():
    torch.set_num_threads(2)
    torch.manual_seed(0)


# ---------------------------------------------------------------- config, anchors, pooling


def test_config_round_trips_through_json_and_rejects_typos():
    cfg = ModelConfig(reg_max=16, strides=(8, 16))
    again = ModelConfig.from_dict(json.loads(json.dumps(cfg.to_dict())))
    assert again == cfg and again.strides == (8, 16)
    with pytest.raises(ValueError, match="topkk"):
        ModelConfig.from_dict({"topkk": 3})


def test_make_anchors_values():
    points, strides = make_anchors([(2, 2), (1, 1)], (8, 16))
    assert points.tolist() == [[4, 4], [12, 4], [4, 12], [12, 12], [8, 8]]
    assert strides[:, 0].tolist() == [8, 8, 8, 8, 16]


def test_box_masks_are_fractional_cell_cover():
    m = box_masks(torch.tensor([[0.0, 0, 8, 8], [4.0, 0, 12, 4]]), 2, 2, 8)
    assert m[0].tolist() == [[1, 0], [0, 0]]
    # half of cell (0,0) and half of cell (0,1) wide, half a cell high → 0.25 each
    assert m[1].tolist() == [[0.25, 0.25], [0, 0]]


def test_class_prototypes_average_boxes_per_way():
    # image 0 is all 1s, image 1 all 3s, image 2 all 10s; ways: 0, 0, 1
    feats = [torch.tensor([1.0, 3.0, 10.0]).view(3, 1, 1, 1).expand(3, 2, 4, 4)]
    boxes = [
        torch.tensor([[0.0, 0, 16, 16]]),
        torch.tensor([[8.0, 8, 24, 24]]),
        torch.tensor([[0.0, 0, 8, 8]]),
    ]
    protos = class_prototypes(feats, (8,), boxes, torch.tensor([0, 0, 1]), 3)
    assert protos[0][:, 0].tolist() == [2.0, 10.0, 0.0]  # way 2 has no boxes → zero prototype


# ---------------------------------------------------------------- assigner


def _random_case(seed: int, b: int = 3, m: int = 4, n: int = 3):
    g = torch.Generator().manual_seed(seed)
    points, _ = make_anchors([(16, 16), (8, 8), (4, 4)], (8, 16, 32))
    a = points.shape[0]
    xy = torch.rand(b, m, 2, generator=g) * 80
    gt = torch.cat([xy, xy + 10 + torch.rand(b, m, 2, generator=g) * 60], -1)  # (B, M, 4)
    labels = torch.randint(0, n, (b, m), generator=g)
    mask = torch.ones(b, m, dtype=torch.bool)
    mask[1] = False  # image 1 has no targets
    mask[2, 2:] = False  # image 2 has two
    pxy = torch.rand(b, a, 2, generator=g) * 100
    pred = torch.cat([pxy, pxy + 5 + torch.rand(b, a, 2, generator=g) * 50], -1)
    scores = torch.rand(b, a, n, generator=g)
    return scores, pred, points, labels, gt, mask


@pytest.mark.parametrize("seed", range(5))
def test_assigner_invariants(seed):
    scores, pred, points, labels, gt, mask = _random_case(seed)
    topk = 10
    a = TaskAlignedAssigner(topk=topk)(scores, pred, points, labels, gt, mask)
    assert a.fg_mask.shape == (3, points.shape[0]) and a.target_scores.shape == (3, points.shape[0], 3)
    assert not a.fg_mask[1].any()  # 0-target image → no positives
    assert a.fg_mask.any()
    b_idx, a_idx = a.fg_mask.nonzero(as_tuple=True)
    assigned = gt[b_idx, a.target_index[b_idx, a_idx]]
    assert mask[b_idx, a.target_index[b_idx, a_idx]].all()
    # each positive's centre lies strictly inside its gt
    inside = anchors_inside(points, assigned[None])[0]  # (P, A)
    assert inside[torch.arange(len(a_idx)), a_idx].all()
    # at most topk per gt (target_index is a single gt, so no anchor has two)
    for bi in range(3):
        counts = torch.bincount(a.target_index[bi][a.fg_mask[bi]], minlength=4)
        assert counts.max() <= topk
    # soft targets: zero off the gt's way; per gt, the best target equals that gt's best IoU
    lab = labels[b_idx, a.target_index[b_idx, a_idx]]
    off_way = a.target_scores[b_idx, a_idx] * (1 - torch.nn.functional.one_hot(lab, 3))
    assert off_way.abs().sum() == 0
    assert a.target_scores[~a.fg_mask].abs().sum() == 0
    for bi in (0, 2):
        for gi in range(int(mask[bi].sum())):
            sel = a.fg_mask[bi] & (a.target_index[bi] == gi)
            if sel.any():
                best = a.target_scores[bi][sel].sum(-1).max()
                assert best.item() == pytest.approx(a.iou[bi][sel].max().item(), abs=1e-5)


def test_assigner_gives_shared_anchor_to_higher_iou_gt():
    points = torch.tensor([[10.0, 10.0]])
    gt = torch.tensor([[[0.0, 0, 20, 20], [5.0, 5, 40, 40]]])  # both contain (10, 10)
    pred = torch.tensor([[[1.0, 1, 21, 21]]])  # overlaps gt 0 far more
    a = TaskAlignedAssigner(topk=1)(
        torch.full((1, 1, 2), 0.5),
        pred,
        points,
        torch.tensor([[0, 1]]),
        gt,
        torch.ones(1, 2, dtype=torch.bool),
    )
    assert a.fg_mask.item() and a.target_index.item() == 0


def test_assigner_all_empty_batch():
    points, _ = make_anchors([(4, 4)], (8,))
    no_labels, no_boxes = torch.zeros(2, 0, dtype=torch.long), torch.zeros(2, 0, 4)
    a = TaskAlignedAssigner()(
        torch.rand(2, 16, 3),
        torch.rand(2, 16, 4),
        points,
        no_labels,
        no_boxes,
        torch.zeros(2, 0, dtype=torch.bool),
    )
    assert not a.fg_mask.any() and a.target_scores.shape == (2, 16, 3)


# ---------------------------------------------------------------- Wise-IoU

PRED = torch.tensor([[0.0, 0, 10, 10]])
TARGET = torch.tensor([[2.0, 2, 12, 12]])
# overlap 8×8 = 64, union 100 + 100 − 64 = 136 → IoU = 64/136, L_IoU = 72/136
L_IOU = 72 / 136  # 0.5294118
# centres (5,5) vs (7,7): ρ² = 2² + 2² = 8; enclosing box 12×12: W² + H² = 288
R = math.exp(8 / 288)  # 1.0281672
V1 = R * L_IOU  # 0.5443238


def test_wiou_v1_hand_computed():
    res = wiou_loss(PRED, TARGET, version=1)
    assert res.loss.item() == pytest.approx(0.5443238, rel=1e-5)
    assert res.loss.item() == pytest.approx(V1, rel=1e-6)
    assert res.r.item() == 1.0


def test_wiou_v2_hand_computed():
    state = WIoUState(mean=0.5)
    res = wiou_loss(PRED, TARGET, state, version=2, gamma=0.5, training=False)
    # (L_IoU / mean)^0.5 · v1 = (1.0588235)^0.5 · 0.5443238 = 1.0289915 · 0.5443238
    assert res.loss.item() == pytest.approx(0.5601047, rel=1e-5)
    assert state.mean == 0.5  # eval mode: the running mean stays


def test_wiou_v3_hand_computed_and_running_mean():
    state = WIoUState(mean=0.5, momentum=0.01)
    res = wiou_loss(PRED, TARGET, state, version=3, alpha=1.9, delta=3.0, training=True)
    beta = L_IOU / 0.5  # 1.0588235
    r = beta / (3.0 * 1.9 ** (beta - 3.0))  # 1.0588235 / (3 · 0.2876675) = 1.2269088
    assert res.beta.item() == pytest.approx(1.0588235, rel=1e-6)
    assert res.r.item() == pytest.approx(r, rel=1e-5)
    assert res.r.item() == pytest.approx(1.2269088, rel=1e-5)
    assert res.loss.item() == pytest.approx(r * V1, rel=1e-5)
    # the step used the old mean, then moved it: 0.99 · 0.5 + 0.01 · 0.5294118 = 0.5002941
    assert state.mean == pytest.approx(0.5002941, rel=1e-6)


def test_wiou_v3_gain_peaks_at_delta():
    # r = β / (δ α^(β−δ)) equals 1 exactly when β = δ
    state = WIoUState(mean=L_IOU / 3.0)
    res = wiou_loss(PRED, TARGET, state, version=3, training=False)
    assert res.r.item() == pytest.approx(1.0, rel=1e-5)


# ---------------------------------------------------------------- contrastive

Z = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])


def test_supcon_hand_computed():
    # τ = 1: samples 0 and 1 see each other at cos 1 and sample 2 at cos 0:
    #   ℓ = −log(e¹ / (e¹ + e⁰)) = log(1 + e⁻¹); sample 2 has no positive and is left out
    loss = supcon_loss(Z, torch.tensor([0, 0, 1]), tau=1.0)
    assert loss.item() == pytest.approx(math.log(1 + math.exp(-1)), rel=1e-6)


def test_supcon_finite_with_singletons():
    emb = torch.randn(5, 8, requires_grad=True)
    loss = supcon_loss(emb, torch.tensor([0, 0, 1, 2, 2]), tau=0.07)  # class 1 has one sample
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(emb.grad).all()
    one = torch.randn(1, 8, requires_grad=True)
    lone = supcon_loss(one, torch.tensor([0]))
    lone.backward()
    assert lone.item() == 0.0 and torch.isfinite(one.grad).all()
    assert supcon_loss(torch.randn(3, 8), torch.tensor([0, 1, 2])).item() == 0.0


def test_cpe_gates_and_weights_by_iou():
    emb = torch.cat([Z, torch.tensor([[1.0, 0.0]])])
    labels = torch.tensor([0, 0, 1, 0])
    ious = torch.tensor([0.9, 0.6, 0.8, 0.3])  # the last is under the 0.5 gate and must not count
    loss = cpe_loss(emb, labels, ious, tau=1.0, iou_gate=0.5)
    # samples 0 and 1 each: log(1 + e⁻¹), weighted by IoU; sample 2 has no positive → (0.9 + 0.6)·ℓ / 2
    assert loss.item() == pytest.approx((0.9 + 0.6) * math.log(1 + math.exp(-1)) / 2, rel=1e-6)
    assert cpe_loss(emb, labels, torch.full((4,), 0.4)).item() == 0.0


# ---------------------------------------------------------------- head geometry, forward, losses


def test_encode_decode_round_trip():
    points, strides = make_anchors([(2, 2)], (8,))
    boxes = torch.tensor([[0.0, 0, 30, 30]]).expand(4, 4)
    d = encode_boxes(boxes, points, strides, reg_max=16)
    back = decode_boxes(d, points, strides)
    assert torch.allclose(back, boxes, atol=1e-4)


def _episode_tensors(s_per_way=2, n_way=3, q=4, size=128):
    g = torch.Generator().manual_seed(1)
    support = torch.rand(s_per_way * n_way, 3, size, size, generator=g)
    sboxes = [torch.tensor([[10.0, 20, 60, 90]]) for _ in range(s_per_way * n_way)]
    ways = torch.arange(n_way).repeat_interleave(s_per_way)
    query = torch.rand(q, 3, size, size, generator=g)
    tboxes = [
        torch.tensor([[5.0, 5, 40, 50], [60, 60, 120, 110]]),
        torch.tensor([[30.0, 30, 70, 70]]),
        torch.zeros(0, 4),
        torch.tensor([[0.0, 0, 128, 128]]),
    ][:q]
    tlabels = [torch.tensor([0, 1]), torch.tensor([2]), torch.zeros(0, dtype=torch.long), torch.tensor([1])][
        :q
    ]
    return support, sboxes, ways, query, tboxes, tlabels


@pytest.mark.parametrize("reg_max", [0, 16])
def test_forward_shapes_and_losses(reg_max):
    cfg = ModelConfig(reg_max=reg_max)
    model = create_model(cfg)
    support, sboxes, ways, query, tboxes, tlabels = _episode_tensors()
    out = model(support, sboxes, ways, query, 3)
    a = 16 * 16 + 8 * 8 + 4 * 4
    assert out.cls_logits.shape == (4, a, 3)
    assert out.pred_boxes.shape == (4, a, 4)
    assert out.box_dist.shape == (4, a, 4 * max(reg_max, 1))
    assert out.anchors.shape == (a, 2) and out.strides.shape == (a,)
    assert [f.shape[-1] for f in out.query_features] == [16, 8, 4]
    assert out.support_embeddings.shape == (6, cfg.embed_dim)
    # boxes surround their anchor (ltrb distances are non-negative)
    assert (out.pred_boxes[..., :2] <= out.anchors).all() and (out.pred_boxes[..., 2:] >= out.anchors).all()
    lb = compute_losses(out, tboxes, tlabels)
    assert set(lb.raw) == {"cls", "bbox", "supcon", "cpe"} | ({"dfl"} if reg_max else set())
    assert all(torch.isfinite(v) for v in lb.raw.values())
    assert lb.total.item() == pytest.approx(sum(v.item() for v in lb.weighted.values()), rel=1e-5)
    assert lb.weighted["bbox"].item() == pytest.approx(7.5 * lb.raw["bbox"].item(), rel=1e-6)
    assert lb.positives == int(lb.assignment.fg_mask.sum()) == len(lb.wiou_beta) > 0
    assert not lb.assignment.fg_mask[2].any()  # the query with no targets
    lb.total.backward()


def test_an_untrained_model_scores_near_the_prior():
    # RetinaNet's init of the classifier's last layer: the tower adds ~nothing, so a score is the prior's
    # logit plus the cosine term at its initial scale 1: between sigmoid(log(0.01/0.99) ∓ 1) ≈ 0.004 and 0.027
    model = create_model(ModelConfig()).eval()
    support, sboxes, ways, query, _, _ = _episode_tensors()
    with torch.no_grad():
        scores = model(support, sboxes, ways, query, 3).cls_logits.sigmoid()
    prior = math.log(0.01 / 0.99)
    low, high = (1 / (1 + math.exp(-(prior + d))) for d in (-1.0, 1.0))
    assert low - 1e-3 <= float(scores.min()) and float(scores.max()) <= high + 1e-3
    last = model.head.levels[0].cls_tower[-1].weight
    assert float(last.detach().std()) == pytest.approx(0.01, rel=0.5)


def test_varifocal_classification_loss():
    support, sboxes, ways, query, tboxes, tlabels = _episode_tensors()
    model = create_model(ModelConfig(cls_loss="varifocal"))
    out = model(support, sboxes, ways, query, 3)
    vfl = compute_losses(out, tboxes, tlabels).raw["cls"]
    bce = compute_losses(dataclasses.replace(out, config=ModelConfig(cls_loss="bce")), tboxes, tlabels)
    assert torch.isfinite(vfl) and 0 < vfl.item() < bce.raw["cls"].item()  # negatives down-weighted by α·p^γ
    with pytest.raises(ValueError, match="cls_loss"):
        compute_losses(dataclasses.replace(out, config=ModelConfig(cls_loss="focal")), tboxes, tlabels)


@pytest.mark.slow  # ~1 s alone on 2 idle cores, far more when the cores are shared
def test_overfits_a_fixed_episode():
    model = create_model(ModelConfig())
    support, sboxes, ways, query, tboxes, tlabels = _episode_tensors()
    opt = torch.optim.AdamW(model.parameters(), lr=2e-3)
    state = WIoUState()
    losses, ious = [], []
    for _ in range(20):
        lb = compute_losses(model(support, sboxes, ways, query, 3), tboxes, tlabels, wiou_state=state)
        opt.zero_grad()
        lb.total.backward()
        opt.step()
        losses.append(lb.total.item())
        ious.append(lb.mean_iou)
    assert losses[-1] < 0.25 * losses[0]
    assert ious[-1] > ious[0]


# ---------------------------------------------------------------- NMS, postprocess, episodes


def _greedy_reference(boxes, scores, labels, thr):
    order = sorted(range(len(scores)), key=lambda i: -scores[i])
    keep = []
    for i in order:
        if all(labels[i] != labels[j] or _iou(boxes[i], boxes[j]) <= thr for j in keep):
            keep.append(i)
    return keep


def _iou(a, b):
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def test_nms_hand_case():
    boxes = torch.tensor([[0.0, 0, 10, 10], [1, 1, 11, 11], [20, 20, 30, 30], [0, 0, 10, 10]])
    scores = torch.tensor([0.9, 0.8, 0.7, 0.5])
    labels = torch.tensor([0, 0, 0, 1])
    # box 1 overlaps box 0 at IoU 81/119 = 0.68 > 0.6 → gone; box 3 is another label → kept
    assert batched_nms(boxes, scores, labels, 0.6).tolist() == [0, 2, 3]
    assert batched_nms(boxes, scores, labels, 0.7).tolist() == [0, 1, 2, 3]


@pytest.mark.parametrize("seed", range(3))
def test_nms_matches_reference(seed):
    g = torch.Generator().manual_seed(seed)
    xy = torch.rand(60, 2, generator=g) * 50
    boxes = torch.cat([xy, xy + 5 + torch.rand(60, 2, generator=g) * 30], 1)
    scores = torch.rand(60, generator=g)
    labels = torch.randint(0, 3, (60,), generator=g)
    got = batched_nms(boxes, scores, labels, 0.5).tolist()
    assert got == _greedy_reference(boxes.tolist(), scores.tolist(), labels.tolist(), 0.5)


def _sample(i: int, h: int, w: int, boxes, labels) -> Sample:
    rng = np.random.default_rng(i)
    return Sample(
        f"img{i}",
        rng.integers(0, 255, (h, w, 3), dtype=np.uint8),
        np.asarray(boxes, np.float32).reshape(-1, 4),
        np.asarray(labels, np.int64),
    )


def test_run_episode_and_postprocess_map_back_to_original_pixels():
    support = (
        _sample(0, 100, 200, [[10, 10, 60, 60], [100, 20, 150, 90]], [0, 1]),  # mostly... a tie → way 0
        _sample(1, 64, 64, [[5, 5, 30, 30], [30, 30, 60, 60]], [1, 1]),
        _sample(2, 80, 60, [], []),  # no boxes → dropped
    )
    queries = (_sample(3, 150, 100, [[10, 20, 50, 80]], [1]), _sample(4, 128, 128, [], []))
    ep = Episode(index=0, seed=0, classes=(7, 9), class_names=("a", "b"), support=support, queries=queries)
    model = create_model(ModelConfig()).eval()
    with torch.no_grad():
        raw = run_episode(model, ep)
    t = raw.tensors
    assert t.support_ways.tolist() == [0, 1]
    assert [len(b) for b in t.support_boxes] == [1, 2]
    # (100, 200) → scale 0.64, pad_y 32: box (10, 10, 60, 60) → (6.4, 38.4, 38.4, 70.4)
    assert t.support_boxes[0][0].tolist() == pytest.approx([6.4, 38.4, 38.4, 70.4], abs=1e-4)
    assert t.query_images.shape == (2, 3, 128, 128)
    dets = postprocess(raw.output, t.query_letterbox, score_threshold=0.0, max_det=50)
    assert len(dets) == 2
    for d, q in zip(dets, queries, strict=True):
        boxes, scores, labels = d
        assert 0 < len(boxes) <= 50 and boxes.dtype == np.float32
        h, w = q.size
        assert (boxes[:, [0, 2]] <= w).all() and (boxes[:, [1, 3]] <= h).all() and (boxes >= 0).all()
        assert (np.diff(scores) <= 1e-6).all() and set(labels.tolist()) <= {0, 1}


def test_run_episode_without_support_boxes_is_an_inspector_error():
    ep = Episode(
        index=3,
        seed=0,
        classes=(1,),
        class_names=("a",),
        support=(_sample(0, 32, 32, [], []),),
        queries=(_sample(1, 32, 32, [], []),),
    )
    with pytest.raises(InspectorError, match="episode 3 has no support boxes"):
        run_episode(create_model(ModelConfig()), ep)


@pytest.mark.parametrize(
    ("h", "w", "size", "scaleup"),
    [
        (128, 128, 128, True),
        (96, 128, 128, True),
        (64, 64, 128, False),
        (200, 100, 128, True),
        (50, 70, 64, True),
    ],
)
def test_letterbox_skips_pillow_only_where_its_resize_is_a_copy(
    h: int, w: int, size: int, scaleup: bool
) -> None:
    """An image already at its letterboxed size is pasted as it is: the same canvas as Pillow's resize."""
    from PIL import Image

    from inspector.boxes import letterbox_params
    from inspector.model.predict import PAD_VALUE, letterbox_image

    image = np.random.default_rng(h * w).integers(0, 256, (h, w, 3), dtype=np.uint8)
    lb = letterbox_params((h, w), size, scaleup)
    rh, rw = lb.resized
    want = np.full((size, size, 3), PAD_VALUE, np.uint8)
    top, left = int(lb.pad_y), int(lb.pad_x)
    want[top : top + rh, left : left + rw] = np.asarray(
        Image.fromarray(image).resize((rw, rh), Image.Resampling.BILINEAR)
    )
    np.testing.assert_array_equal(letterbox_image(image, lb), want)
