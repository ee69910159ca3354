"""The loss-balance lab: gradient shares and angles against plain autograd, suggested weights with known
answers, the bootstrap CI, ReferenceDetector.term_gradients, and the `balance` command in text and JSON.

The toy model is a shared trunk with two heads and two losses: the trunk's gradient of each weighted loss,
taken with torch.autograd.grad here, is what balance must reduce to the same norms, shares and cosines.
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from tiny_model import save_tiny

from inspector import balance
from inspector.adapters import ReferenceDetector, _flat
from inspector.cli import balance as balance_cli
from inspector.data import read_dataset
from inspector.data.shapes import write_coco_dataset
from inspector.errors import InspectorError
from inspector.model.loss import compute_losses
from inspector.model.predict import run_episode
from inspector.model.wiou import WIoUState
from inspector.plan import DatasetEpisodes, EpisodeShape
from inspector.runlog import RunWriter, read_logs

TERMS = ("cls", "bbox", "supcon", "cpe")
REQUIRED_TERM_KEYS = {
    "name",
    "raw",
    "weight",
    "weighted",
    "grad_norm",
    "grad_norm_ci",
    "grad_share",
    "grad_share_ci",
}

pytestmark = pytest.mark.usefixtures("one_torch_thread")


# ---------------------------------------------------------------------------------------------- a toy model


class Toy(torch.nn.Module):
    """A shared trunk and two heads: a regression loss "a" and a 3-class loss "b"."""

    def __init__(self) -> None:
        super().__init__()
        self.trunk = torch.nn.Sequential(torch.nn.Linear(6, 16), torch.nn.Tanh(), torch.nn.Linear(16, 8))
        self.head_a = torch.nn.Linear(8, 1)
        self.head_b = torch.nn.Linear(8, 3)


@pytest.fixture(scope="module")
def toy() -> tuple[Toy, list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]]:
    torch.manual_seed(3)
    model = Toy().double()
    batches = [
        (
            torch.randn(12, 6, dtype=torch.float64),
            torch.randn(12, dtype=torch.float64),
            torch.randint(0, 3, (12,)),
        )
        for _ in range(6)
    ]
    return model, batches


def toy_gradients(model: Toy, batch, weights: dict[str, float]) -> dict[str, torch.Tensor]:
    """{loss: the trunk's gradient of weight × loss, flattened}, by torch.autograd.grad."""
    x, y_a, y_b = batch
    feats = model.trunk(x)
    losses = {
        "a": F.mse_loss(model.head_a(feats).squeeze(-1), y_a),
        "b": F.cross_entropy(model.head_b(feats), y_b),
    }
    params = list(model.trunk.parameters())
    return {
        k: torch.cat([g.reshape(-1) for g in torch.autograd.grad(weights[k] * v, params, retain_graph=True)])
        for k, v in losses.items()
    }


def toy_norms(model: Toy, batches, weights: dict[str, float]) -> np.ndarray:
    """(E, 2) gradient norms of the weighted losses, straight from autograd (no balance code)."""
    return np.array(
        [[float(g.norm()) for g in toy_gradients(model, b, weights).values()] for b in batches], np.float64
    )


def test_shares_norms_and_cosines_equal_autograd(toy):
    model, batches = toy
    weights = {"a": 3.0, "b": 0.25}
    for batch in batches:
        grads = toy_gradients(model, batch, weights)
        g = balance.gram([v.numpy() for v in grads.values()])
        norms = balance.norms_of(g)
        expected = np.array([float(torch.linalg.vector_norm(v)) for v in grads.values()])
        np.testing.assert_allclose(norms, expected, rtol=1e-12)
        np.testing.assert_allclose(balance.shares_of(norms), expected / expected.sum(), rtol=1e-12)
        cos = float(F.cosine_similarity(grads["a"], grads["b"], dim=0))
        assert balance.cosines_of(g)[0, 1] == pytest.approx(cos, rel=1e-10, abs=1e-12)
        assert balance.cosines_of(g)[0, 0] == pytest.approx(1.0)


def test_equal_share_weights_equalise_the_re_measured_shares(toy):
    model, batches = toy
    weights = {"a": 3.0, "b": 0.25}
    names, w = ("a", "b"), np.array([3.0, 0.25])
    norms = toy_norms(model, batches, weights)
    assert abs(norms.mean(0)[0] / norms.mean(0).sum() - 0.5) > 0.05  # unequal to begin with
    s = balance.equal_grad_share(names, w, norms)
    assert s.method == "equal_grad_share" and s.weights is not None
    assert sum(s.weights.values()) == pytest.approx(w.sum())  # the loss scale the optimiser sees is kept
    again = toy_norms(model, batches, s.weights)  # re-measured with the suggested weights
    mean = again.mean(0)
    assert mean[0] / mean.sum() == pytest.approx(0.5, abs=1e-6)
    # one batch: the episode's own shares are exactly equal too
    one = balance.equal_grad_share(names, w, norms[:1])
    shares = balance.shares_of(toy_norms(model, batches[:1], one.weights))
    np.testing.assert_allclose(shares, [[0.5, 0.5]], atol=1e-6)
    # the prediction needs no new measurement: ‖g'‖ = ‖g‖·w'/w
    new = np.array([s.weights["a"], s.weights["b"]])
    np.testing.assert_allclose(balance.predicted_shares(norms, w, new), balance.shares_of(again), rtol=1e-9)


def test_predicted_shares_scale_each_norm_by_its_weight_ratio():
    norms = np.array([[2.0, 6.0], [1.0, 1.0]])
    w = np.array([1.0, 3.0])
    np.testing.assert_allclose(balance.predicted_shares(norms, w, w), balance.shares_of(norms))
    # doubling a's weight doubles a's norm: [4, 6] → 0.4, [2, 1] → 2/3
    np.testing.assert_allclose(balance.predicted_shares(norms, w, np.array([2.0, 3.0]))[:, 0], [0.4, 2 / 3])
    # a term measured at weight 0 has no gradient to scale up
    assert np.isnan(balance.predicted_shares(norms, np.array([0.0, 3.0]), np.array([1.0, 3.0]))).all()


def test_balance_report_of_plain_arrays():
    names = ("a", "b", "c")
    g1 = np.array([[4.0, -1.0, 0.0], [-1.0, 1.0, 0.0], [0.0, 0.0, 0.0]])  # a·b < 0, c never reaches θ
    g2 = np.array([[1.0, 0.5, 0.0], [0.5, 1.0, 0.0], [0.0, 0.0, 0.0]])
    m = balance.Measurements(
        names,
        np.stack([g1, g2]),
        np.array([[1.0, 2.0, 0.0], [3.0, 2.0, 0.0]]),
        np.array([[2.0, 1.0, 0.0]] * 2),
    )
    report = balance.balance_report("x.pt", m, np.array([2.0, 0.5, 1.0]))
    a, b, c = report.terms
    assert a.grad_norm.mean == pytest.approx(1.5) and a.grad_share.mean == pytest.approx((2 / 3 + 0.5) / 2)
    assert c.grad_norm.mean == 0.0 and a.raw == pytest.approx(2.0)
    ab = report.conflicts[0]
    assert (ab.a, ab.b, ab.episodes) == ("a", "b", 2)
    assert ab.cosine == pytest.approx((-0.5 + 0.5) / 2) and ab.conflict_rate == pytest.approx(0.5)
    assert report.conflicts[1].episodes == 0 and math.isnan(report.conflicts[1].conflict_rate)
    equal = report.suggestion("equal_grad_share")
    assert equal is not None and equal.weights is not None
    assert equal.weights["c"] == 1.0  # no gradient anywhere: kept, and said so
    assert any("c: no gradient" in n for n in equal.notes)
    assert equal.weights["a"] / equal.weights["b"] == pytest.approx((2.0 / 1.5) / (0.5 / 1.0))
    assert sum(equal.weights.values()) == pytest.approx(3.5)
    assert report.suggestion("dwa").weights is None  # no log
    assert "a carries" in report.verdict and "a and b conflict on 50% of episodes" in report.verdict
    assert report.what_if(report.weights) == pytest.approx({t.name: t.grad_share.mean for t in report.terms})


# ---------------------------------------------------------------------------------------------- suggestions


def test_uncertainty_weights_are_inverse_raw_levels_at_the_same_sum():
    s = balance.uncertainty(("a", "b", "c"), np.array([7.5, 0.5, 0.0]), np.array([2.0, 0.5, 1.0]), "test")
    # c is switched off and stays off; a and b share 8.0 in proportion 1/2 : 1/0.5
    assert s.weights == pytest.approx({"a": 8.0 * 0.5 / 2.5, "b": 8.0 * 2.0 / 2.5, "c": 0.0})
    kept = balance.uncertainty(("a", "b"), np.array([1.0, 1.0]), np.array([2.0, 0.0]), "test")
    assert kept.weights == pytest.approx({"a": 1.0, "b": 1.0}) and "b: no positive raw level" in kept.notes[0]


def test_dwa_weights_follow_the_loss_ratios():
    s = balance.dwa(("a", "b"), np.array([1.0, 3.0]), np.array([0.5, 2.0]), np.array([1.0, 2.0]), "test")
    ea, eb = math.exp(0.5 / 2), math.exp(1.0 / 2)  # r = 0.5 and 1, T = 2
    assert s.weights == pytest.approx({"a": 4.0 * ea / (ea + eb), "b": 4.0 * eb / (ea + eb)})
    none = balance.dwa(("a", "b"), np.array([1.0, 3.0]), None, None, "no log")
    assert none.weights is None and "needs the run's log" in none.notes[0]


def write_log(path: Path, steps: int = 101) -> Path:
    """A native log whose windows have known means: bbox 1.0 up to step 80, 0.5 to 90, 0.25 after; cls 2.0,
    supcon 1.0 and cpe 0.25 throughout."""
    with RunWriter(path, config={"loss_weights": {"bbox": 7.5, "cls": 0.5, "supcon": 1.0, "cpe": 0.5}}) as w:
        for step in range(steps):
            bbox = 1.0 if step <= 80 else 0.5 if step <= 90 else 0.25
            w.step(step, {"cls": 2.0, "bbox": bbox, "supcon": 1.0, "cpe": 0.25}, lr=1e-3)
    return path


def test_log_levels_windows_and_the_suggestions_they_give(tmp_path):
    log = read_logs([write_log(tmp_path / "log.jsonl")])
    levels = balance.log_levels(log, TERMS)
    assert levels.weights == {"cls": 0.5, "bbox": 7.5, "supcon": 1.0, "cpe": 0.5}
    assert (
        levels.recent_steps == (75, 100)
        and levels.previous_steps == (81, 90)
        and levels.last_steps == (91, 100)
    )
    assert levels.recent["bbox"] == pytest.approx((6 * 1.0 + 10 * 0.5 + 10 * 0.25) / 26)
    assert (levels.previous["bbox"], levels.last["bbox"]) == (0.5, 0.25)
    assert levels.recent["cls"] == levels.last["cls"] == 2.0
    cut = balance.log_levels(log, TERMS, up_to_step=80)  # the checkpoint's step
    assert cut.last["bbox"] == 1.0 and cut.recent_steps == (60, 80) and "up to 80" in cut.notes[0]
    assert "no series for dfl" in balance.log_levels(log, ("bbox", "dfl")).notes[-1]

    grams = np.stack([np.diag([1.0, 4.0, 1.0, 1.0])] * 3)
    m = balance.Measurements(TERMS, grams, np.ones((3, 4)), np.ones((3, 4)))
    w = np.array([0.5, 7.5, 1.0, 0.5])
    report = balance.balance_report("x.pt", m, w, levels)
    d = report.suggestion("dwa")
    r = {"cls": 1.0, "bbox": 0.5, "supcon": 1.0, "cpe": 1.0}
    e = {n: math.exp(r[n] / 2) for n in TERMS}
    assert d.weights == pytest.approx({n: 9.5 * e[n] / sum(e.values()) for n in TERMS})
    u = report.suggestion("uncertainty")
    inv = {n: 1 / levels.recent[n] for n in TERMS}
    assert u.weights == pytest.approx({n: 9.5 * inv[n] / sum(inv.values()) for n in TERMS})
    assert "last quarter (steps 75–100)" in u.basis


def test_weights_are_what_the_losses_were_summed_with():
    raw = np.array([[2.0, 0.0], [1.0, 0.0]])
    weighted = np.array([[15.0000001, 0.0], [7.5, 0.0]])
    w, notes = balance.term_weights(
        ("bbox", "cpe"), raw, weighted, [("the checkpoint", {"bbox": 7.5, "cpe": 0.5})]
    )
    assert list(w) == [7.5, 0.5] and "cpe: its raw value was 0" in notes[0]
    w, notes = balance.term_weights(("bbox",), raw[:, :1], 2 * raw[:, :1], [("the log", {"bbox": 7.5})])
    assert list(w) == [2.0] and "summed with weight 2, the log states 7.5" in notes[0]
    w, _ = balance.term_weights(("cpe",), raw[:, 1:], raw[:, 1:])
    assert math.isnan(w[0])


# ---------------------------------------------------------------------------------------------- statistics


def test_bootstrap_ci_contains_the_mean_and_is_nan_for_one_episode():
    x = np.random.default_rng(0).normal(2.0, 1.0, 50)
    lo, hi = balance.bootstrap_ci(x)
    assert lo < x.mean() < hi and hi - lo < 1.0
    assert balance.bootstrap_ci(x) == (lo, hi)  # fixed seed
    assert all(math.isnan(v) for v in balance.bootstrap_ci(x[:1]))
    e = balance.estimate(x[:1])
    assert e.mean == x[0] and e.n == 1 and math.isnan(e.lo) and math.isnan(e.hi) and math.isnan(e.sd)
    assert balance.bootstrap_ci(np.array([3.0, 3.0, np.nan])) == (3.0, 3.0)


# ---------------------------------------------------------------------------------------------- the reference


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("balance")
    ckpt = save_tiny(root / "run" / "tiny.pt")
    write_coco_dataset(root / "val", 20, seed=5)
    episode = DatasetEpisodes(read_dataset(root / "val"), EpisodeShape(2, 2, 2), 0).episode(0)
    return {"root": root, "checkpoint": ckpt, "data": root / "val", "episode": episode}


def test_term_gradients_match_gradient_norms_and_autograd_and_leave_the_model_unchanged(world):
    detector = ReferenceDetector(world["checkpoint"])
    episode = world["episode"]
    before = {k: v.clone() for k, v in detector.model.state_dict().items()}
    measured = detector.term_gradients(episode, shared="all")
    last = detector.term_gradients(episode)  # default: the last shared layer
    norms = detector.gradient_norms(episode)
    assert measured is not None and norms is not None
    grads = measured.gradients
    assert tuple(grads) == tuple(norms) == TERMS
    size = sum(p.numel() for p in detector.model.backbone.parameters() if p.requires_grad)
    assert {v.shape for v in grads.values()} == {(size,)}
    for name, v in grads.items():
        assert float(np.linalg.norm(v.astype(np.float64))) == pytest.approx(norms[name], rel=1e-6, abs=1e-12)
    # independent: a copy in train mode, one forward, backward of the weighted bbox loss, the backbone's .grad
    model = copy.deepcopy(detector.model).train()
    raw = run_episode(model, _flat(episode))
    state = WIoUState(mean=detector.wiou_mean, momentum=model.config.wiou_momentum)
    losses = compute_losses(
        raw.output, raw.tensors.query_boxes, raw.tensors.query_labels, wiou_state=state, training=False
    )
    losses.weighted["bbox"].backward()
    expected = torch.cat(
        [
            (p.grad if p.grad is not None else torch.zeros_like(p)).reshape(-1)
            for p in model.backbone.parameters()
        ]
    ).numpy()
    np.testing.assert_allclose(grads["bbox"], expected, rtol=1e-4, atol=1e-7 * np.abs(expected).max())
    # shared="last": the same backward, read on the backbone's output layers only
    assert last is not None
    expected_last = torch.cat(
        [
            (p.grad if p.grad is not None else torch.zeros_like(p)).reshape(-1)
            for p in model.backbone.output_layers().parameters()
        ]
    ).numpy()
    np.testing.assert_allclose(
        last.gradients["bbox"], expected_last, rtol=1e-4, atol=1e-7 * np.abs(expected_last).max()
    )
    # the losses are that same train-mode forward's
    assert measured.losses.weighted["bbox"] == pytest.approx(
        float(losses.weighted["bbox"].detach()), rel=1e-6
    )
    after = detector.model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before), "measuring changed the model"
    assert not detector.model.training
    m = balance.measure(detector, [episode], shared="all")
    assert m is not None and m.grams.shape == (1, 4, 4)
    np.testing.assert_allclose(m.norms[0], [norms[n] for n in TERMS], rtol=1e-6)


# ---------------------------------------------------------------------------------------------- the command


def run_cli(capsys, *argv: str) -> str:
    parser = argparse.ArgumentParser()
    balance_cli.add_arguments(parser)
    assert balance_cli.run(parser.parse_args(list(argv))) == 0
    return capsys.readouterr().out


def test_cli_json_without_a_log(capsys, world):
    argv = ("--checkpoint", str(world["checkpoint"]), "--data", str(world["data"]), "--episodes", "4")
    out = json.loads(run_cli(capsys, *argv, "--json"))
    (record,) = out["checkpoints"]
    assert (
        record["checkpoint"] == str(world["checkpoint"]) and record["episodes"] == 4 and record["log"] is None
    )
    assert [t["name"] for t in record["terms"]] == list(TERMS)
    for t in record["terms"]:
        assert REQUIRED_TERM_KEYS <= set(t) and len(t["grad_norm_ci"]) == len(t["grad_share_ci"]) == 2
    assert {t["name"]: t["weight"] for t in record["terms"]} == {
        "cls": 0.5,
        "bbox": 7.5,
        "supcon": 1.0,
        "cpe": 0.5,
    }
    assert sum(t["grad_share"] for t in record["terms"]) == pytest.approx(1.0)
    assert len(record["conflicts"]) == 6 and {"a", "b", "cosine", "conflict_rate"} <= set(
        record["conflicts"][0]
    )
    suggested = record["suggested_weights"]
    assert set(suggested) == {"equal_grad_share", "uncertainty", "dwa"} and suggested["dwa"] is None
    assert sum(suggested["equal_grad_share"].values()) == pytest.approx(9.5)
    assert "episodes' mean raw values" in record["suggestion_basis"]["uncertainty"]
    assert "of the gradient on the last shared layer" in record["verdict"] and isinstance(
        record["notes"], list
    )


def test_cli_with_a_log_and_with_the_checkpoints_sibling_log(capsys, world, tmp_path):
    log = write_log(tmp_path / "elsewhere" / "log.jsonl")
    argv = ("--checkpoint", str(world["checkpoint"]), "--data", str(world["data"]), "--episodes", "2")
    (record,) = json.loads(run_cli(capsys, *argv, "--log", str(log), "--json"))["checkpoints"]
    assert record["log"] == str(log)
    dwa = record["suggested_weights"]["dwa"]
    e = {n: math.exp((0.5 if n == "bbox" else 1.0) / 2) for n in TERMS}
    assert dwa == pytest.approx({n: 9.5 * e[n] / sum(e.values()) for n in TERMS})
    assert "log's raw levels over its last quarter" in record["suggestion_basis"]["uncertainty"]
    # the same log beside a copy of the checkpoint is found without --log; two checkpoints, two records
    run = tmp_path / "run"
    run.mkdir()
    shutil.copy(log, run / "log.jsonl")
    copied = Path(shutil.copy(world["checkpoint"], run / "epoch_1.pt"))
    text = run_cli(capsys, "--checkpoint", str(world["checkpoint"]), str(copied), *argv[2:])
    assert text.count("verdict: ") == 2 and f"log: {run / 'log.jsonl'}" in text
    assert (
        "equal_grad_share" in text
        and "of the gradient on the last shared layer" in text
        and "‖∇ shared‖" in text
    )


class NoGradients:
    """A user adapter that predicts but cannot measure gradients."""

    def __init__(self, path: str) -> None:
        inner = ReferenceDetector(path)
        self.name, self.class_names, self.predict = "no-gradients", inner.class_names, inner.predict


def test_cli_refuses_an_adapter_without_term_gradients(world):
    spec = f"{__name__}:NoGradients"
    argv = ("--checkpoint", str(world["checkpoint"]), "--data", str(world["data"]), "--adapter", spec)
    parser = argparse.ArgumentParser()
    balance_cli.add_arguments(parser)
    with pytest.raises(InspectorError, match="cannot measure per-loss gradients"):
        balance_cli.run(parser.parse_args(list(argv)))
    with pytest.raises(InspectorError, match="--episodes must be"):
        balance_cli.run(parser.parse_args([*argv, "--episodes", "0"]))
