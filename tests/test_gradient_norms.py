"""Per-loss gradient norms as training computes them: training-mode batch norm, checked against plain
autograd.

The reference: a copy of the model in train mode, one forward over the episode as the training loop runs it
(`run_episode` + `compute_losses`), `loss.backward()` per weighted term, and the L2 norm of the backbone
parameters' `.grad`. The detector's `gradient_norms` must give the same numbers, leave the model's running
statistics as they were, and differ from the eval-mode numbers (which it labels separately).
"""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from inspector.adapters import ReferenceDetector, _flat
from inspector.checkpoint import save_checkpoint
from inspector.data import read_dataset
from inspector.data.episodes import EpisodeSampler
from inspector.data.shapes import CLASSES, write_coco_dataset
from inspector.model import ModelConfig, create_model
from inspector.model.loss import compute_losses
from inspector.model.predict import run_episode
from inspector.model.wiou import WIoUState


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, one_torch_thread) -> dict:
    root = tmp_path_factory.mktemp("gradients")
    torch.manual_seed(0)
    model = create_model(ModelConfig())
    # Running statistics away from their initial (0, 1), as a trained model has them.
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.0)
    ckpt = save_checkpoint(root / "model.pt", model, ModelConfig(), class_names=list(CLASSES))
    write_coco_dataset(root / "data", 24, seed=0)
    episode = EpisodeSampler(read_dataset(root / "data"), 2, 2, 3, seed=0).sample(0)
    return {"detector": ReferenceDetector(ckpt), "episode": episode}


def autograd_norms(detector: ReferenceDetector, episode, train: bool) -> dict[str, float]:
    model = copy.deepcopy(detector.model)
    model.train(train)
    raw = run_episode(model, _flat(episode))
    state = WIoUState(mean=detector.wiou_mean, momentum=model.config.wiou_momentum)
    losses = compute_losses(
        raw.output, raw.tensors.query_boxes, raw.tensors.query_labels, wiou_state=state, training=False
    )
    norms = {}
    for name, loss in losses.weighted.items():
        model.zero_grad(set_to_none=True)
        if not loss.requires_grad:
            norms[name] = 0.0
            continue
        loss.backward(retain_graph=True)
        grads = [p.grad.double().pow(2).sum() for p in model.backbone.parameters() if p.grad is not None]
        norms[name] = float(torch.stack(grads).sum().sqrt()) if grads else 0.0
    return norms


def test_training_mode_norms_equal_autograd_and_leave_the_model_unchanged(world):
    detector, episode = world["detector"], world["episode"]
    before = {k: v.clone() for k, v in detector.model.state_dict().items()}
    got = detector.gradient_norms(episode)
    expected = autograd_norms(detector, episode, train=True)
    assert got.keys() == expected.keys() == {"cls", "bbox", "supcon", "cpe"}
    for name in got:
        assert got[name] == pytest.approx(expected[name], rel=1e-6, abs=1e-9), name
    after = detector.model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before), "inspecting changed the model"
    assert not detector.model.training


def test_eval_mode_norms_are_labelled_apart_and_differ(world):
    detector, episode = world["detector"], world["episode"]
    train = detector.gradient_norms(episode, batch_norm="train")
    evals = detector.gradient_norms(episode, batch_norm="eval")
    expected = autograd_norms(detector, episode, train=False)
    for name in evals:
        assert evals[name] == pytest.approx(expected[name], rel=1e-6, abs=1e-9), name
    assert any(abs(train[k] - evals[k]) > 1e-3 * max(train[k], 1e-12) for k in train if train[k] > 0)
    with pytest.raises(ValueError):
        detector.gradient_norms(episode, batch_norm="running")


def test_norms_are_finite_and_non_negative(world):
    norms = world["detector"].gradient_norms(world["episode"])
    assert all(np.isfinite(v) and v >= 0 for v in norms.values())
