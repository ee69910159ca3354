"""The episodic trainer: lr schedule, TrainConfig loading, a tiny real run, its checkpoints and resume."""

from __future__ import annotations

import json
import math

import pytest
import torch

from inspector.checkpoint import build_reference_model, load_checkpoint
from inspector.errors import InspectorError
from inspector.runlog import read_log
from inspector.train.config import TrainConfig, load_train_config
from inspector.train.loop import train
from inspector.train.schedule import lr_at

# A network a few times smaller than the default, so a whole run takes about a second.
TINY_MODEL = {"widths": [8, 16, 16, 24, 32], "neck_dim": 24, "head_dim": 16, "embed_dim": 16}


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def tiny_config(tmp_path, **over) -> TrainConfig:
    data = dict(
        epochs=2,
        steps_per_epoch=3,
        warmup_steps=2,
        n_way=2,
        k_shot=1,
        n_query=2,
        synthetic_train_images=24,
        synthetic_val_images=16,
        synthetic_clips=2,
        val_episodes=2,
        out_dir=str(tmp_path / "run"),
        model=TINY_MODEL,
        threads=1,
    )
    data.update(over)
    return TrainConfig.from_dict(data)


# ---------------------------------------------------------------- schedule


def test_schedule_warms_up_then_decays_to_final_lr():
    total, peak, warm, final = 100, 1e-3, 10, 2e-6
    lrs = [lr_at(s, total, peak, warm, final) for s in range(total)]
    assert lrs[0] == pytest.approx(peak / warm)
    assert lrs[warm - 1] == pytest.approx(peak) and lrs[warm] == pytest.approx(peak)
    assert lrs[-1] == pytest.approx(final)
    mid = warm + (total - 1 - warm) // 2  # half-way through the cosine: half-way between peak and final
    assert lrs[mid] == pytest.approx((peak + final) / 2, rel=0.05)
    assert all(a < b for a, b in zip(lrs[:warm], lrs[1:warm], strict=False))
    assert all(a >= b for a, b in zip(lrs[warm:], lrs[warm + 1 :], strict=False))


def test_schedule_without_warmup_starts_at_peak():
    assert lr_at(0, 50, 1e-4, 0, 0.0) == pytest.approx(1e-4)
    assert lr_at(49, 50, 1e-4, 0, 0.0) == pytest.approx(0.0, abs=1e-12)


# ---------------------------------------------------------------- config


def test_config_loads_yaml_and_json(tmp_path):
    y = tmp_path / "c.yaml"
    y.write_text(
        "n_way: 2\nlr: 1.0e-4\nloss_weights: {bbox: 2.0, cls: 0.5, supcon: 1.0, cpe: 0.5}\n"
        "model: {head_dim: 32}\n"
    )
    c = load_train_config(y)
    assert (c.n_way, c.lr, c.loss_weights["bbox"]) == (2, 1e-4, 2.0)
    assert c.model_config().head_dim == 32 and c.model_config().loss_weights["bbox"] == 2.0
    j = tmp_path / "c.json"
    j.write_text(json.dumps({"epochs": 5, "steps_per_epoch": 7}))
    assert load_train_config(j).total_steps == 35


@pytest.mark.parametrize(
    "text, words",
    [
        ("n_way: 2\nlearning_rate: 0.1\n", ["learning_rate"]),
        ("model: {width: 3}\n", ["model", "width"]),
        ("epochs: 0\n", ["epochs"]),
        ("- 1\n- 2\n", ["mapping"]),
        ("n_way: [1\n", ["YAML", "line"]),
    ],
)
def test_config_errors_name_the_file_and_the_key(tmp_path, text, words):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(InspectorError) as info:
        load_train_config(path)
    assert str(path) in str(info.value)
    for word in words:
        assert word in str(info.value)


def test_missing_config_file(tmp_path):
    with pytest.raises(InspectorError, match="no such"):
        load_train_config(tmp_path / "nope.yaml")


# ---------------------------------------------------------------- a real (tiny) run


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("train")
    config = tiny_config(tmp)
    return config, train(config, progress=False)


@pytest.mark.slow  # a real (tiny) training run: ~2 s alone, far more on shared cores
def test_run_writes_a_log_inspector_reads(tiny_run):
    config, result = tiny_run
    log = read_log(result.log)
    assert log.framework == "native"
    for name in (
        "loss/bbox",
        "loss/cls",
        "loss/supcon",
        "loss/cpe",
        "loss/total",
        "lr",
        "positives",
        "pos_iou",
    ):
        assert list(log.get(name).steps) == list(range(1, config.total_steps + 1)), name
    assert log.config["loss_weights"] == {"bbox": 7.5, "cls": 0.5, "supcon": 1.0, "cpe": 0.5}
    assert list(log.get("eval/map50").steps) == [3, 6]
    assert log.get("eval/st_iou") is not None  # the run had clips
    total = log.get("loss/total").values
    parts = sum(
        log.config["loss_weights"][c] * log.get(f"loss/{c}").values for c in ("bbox", "cls", "supcon", "cpe")
    )
    assert total == pytest.approx(parts)
    lrs = log.get("lr").values
    assert lrs[0] == pytest.approx(config.lr / config.warmup_steps) and lrs[-1] == pytest.approx(
        config.final_lr
    )
    assert (log.get("positives").values > 0).all()


@pytest.mark.slow  # a real (tiny) training run: ~2 s alone, far more on shared cores
def test_checkpoints_load_with_weights_only(tiny_run):
    config, result = tiny_run
    assert [p.name for p in result.checkpoints] == ["epoch_1.pt", "epoch_2.pt"]
    assert result.best is not None and result.best.exists()
    raw = torch.load(result.checkpoints[-1], weights_only=True)
    for key in (
        "model",
        "model_version",
        "model_config",
        "train_config",
        "step",
        "epoch",
        "loss_weights",
        "class_names",
        "metrics",
        "state_dict",
        "wiou_state",
        "optimizer",
    ):
        assert key in raw, key
    assert raw["step"] == 6 and raw["epoch"] == 2 and raw["train_config"]["n_way"] == 2
    assert raw["class_names"][0] == "circle"
    assert set(raw["metrics"]) >= {"map50", "map50_95", "st_iou"}
    best = torch.load(result.best, weights_only=True)
    assert "optimizer" not in best  # best.pt is for inference
    model = build_reference_model(load_checkpoint(result.best))
    assert model.config.widths == tuple(TINY_MODEL["widths"])


@pytest.mark.slow  # a real (tiny) training run: ~2 s alone, far more on shared cores
def test_resume_continues_the_same_log(tiny_run, tmp_path):
    config, result = tiny_run
    longer = tiny_config(tmp_path, epochs=3, out_dir=str(result.out_dir))
    train(longer, resume=result.out_dir / "epoch_2.pt", progress=False)
    lines = [json.loads(x) for x in result.log.read_text().splitlines()]
    assert sum(1 for x in lines if x["type"] == "header") == 1
    steps = [x["step"] for x in lines if x["type"] == "step"]
    assert steps == list(range(1, 10))
    assert (result.out_dir / "epoch_3.pt").exists()
    assert torch.load(result.out_dir / "epoch_3.pt", weights_only=True)["step"] == 9


@pytest.mark.slow  # a real (tiny) training run: ~2 s alone, far more on shared cores
def test_training_is_deterministic(tiny_run, tmp_path):
    config, result = tiny_run
    again = tiny_config(tmp_path, epochs=1)
    train(again, progress=False)

    def first_losses(path):
        rows = [json.loads(x) for x in path.read_text().splitlines()]
        return [r["losses"] for r in rows if r["type"] == "step" and r["step"] <= 3]

    assert first_losses(tmp_path / "run" / "log.jsonl") == first_losses(result.log)


@pytest.mark.slow  # a real (tiny) training run: ~2 s alone, far more on shared cores
def test_a_second_run_into_the_same_folder_is_refused(tiny_run):
    config, result = tiny_run
    with pytest.raises(InspectorError, match="already exists"):
        train(config, progress=False)


@pytest.mark.slow  # a real (tiny) training run: ~2 s alone, far more on shared cores
def test_resume_needs_optimizer_state(tiny_run, tmp_path):
    config, result = tiny_run
    with pytest.raises(InspectorError, match="optimizer"):
        train(tiny_config(tmp_path), resume=result.best, progress=False)


@pytest.mark.slow  # a real (tiny) training run: ~2 s alone, far more on shared cores
def test_cli_train_with_yaml(tmp_path, capsys):
    from inspector.cli import main

    cfg = tiny_config(tmp_path, epochs=1, synthetic_clips=0).to_dict()
    path = tmp_path / "train.yaml"
    import yaml

    path.write_text(yaml.safe_dump(cfg))
    assert main(["train", "--config", str(path), "--quiet", "--out", str(tmp_path / "cli")]) == 0
    assert "trained 3 steps" in capsys.readouterr().out
    assert math.isfinite(read_log(tmp_path / "cli" / "log.jsonl").get("loss/total").values[-1])
    path.write_text("epochz: 1\n")
    assert main(["train", "--config", str(path)]) == 2
    assert "epochz" in capsys.readouterr().err


def test_step_schedule_drops_at_its_milestones_to_the_floor():
    lrs = [lr_at(s, 1000, 1e-3, 10, 2e-6, "step", (100, 200, 300), 0.1) for s in range(1000)]
    assert lrs[9] == pytest.approx(1e-3) and lrs[99] == pytest.approx(1e-3)
    assert lrs[100] == pytest.approx(1e-4) and lrs[200] == pytest.approx(1e-5)
    assert lrs[300] == pytest.approx(2e-6) and lrs[-1] == pytest.approx(2e-6)  # 1e-6 is floored at final_lr


@pytest.mark.slow  # a real (tiny) training run: ~2 s alone, far more on shared cores
def test_logged_validation_is_what_evaluate_gives_on_the_checkpoint(tiny_run, capsys):
    # Training validation runs the one evaluator (batch.evaluate_batch + summarize): `evaluate` on the epoch-2
    # checkpoint (float32, shape from its train config) over the same data, seed and episodes gives the logged
    # eval/map50, eval/map50_95 and eval/st_iou.
    from inspector.cli import main
    from inspector.train.loop import run_data

    config, result = tiny_run
    logged = [json.loads(x) for x in result.log.read_text().splitlines()]
    last = next(r for r in reversed(logged) if r["type"] == "eval" and r["step"] == 6)["metrics"]
    with run_data(config) as data:  # the synthetic sets are regenerated from their seeds, byte for byte
        assert (
            main(
                [
                    "evaluate",
                    "--checkpoint",
                    str(result.out_dir / "epoch_2.pt"),
                    "--data",
                    str(data.val.root),
                    "--clips",
                    str(data.clips.root),
                    "--episodes",
                    str(config.val_episodes),
                    "--seed",
                    str(config.val_seed),
                    "--json",
                ]
            )
            == 0
        )
    out = json.loads(capsys.readouterr().out)
    assert (out["n_way"], out["k_shot"], out["n_query"]) == (config.n_way, config.k_shot, config.n_query)
    assert (out["image_episodes"], out["clip_episodes"]) == (config.val_episodes, config.synthetic_clips)
    for key in ("map50", "map50_95", "st_iou"):
        assert out[key] == pytest.approx(last[key], abs=1e-9), key


def test_a_milestone_inside_the_warmup_cuts_it_as_detectron2_does():
    # WarmupMultiStepLR: lr = base · warmup_factor(step) ·
    # gamma^(milestones passed); floored at final_lr here.
    lrs = [lr_at(s, 1000, 1e-3, 100, 2e-6, "step", (30, 45, 60), 0.1) for s in range(200)]
    assert lrs[29] == pytest.approx(1e-3 * 30 / 100) and lrs[30] == pytest.approx(1e-4 * 31 / 100)
    assert lrs[45] == pytest.approx(1e-5 * 46 / 100)
    assert lrs[60] == pytest.approx(2e-6) and lrs[150] == pytest.approx(2e-6)
    assert max(lrs) == lrs[29]


def test_an_unknown_schedule_is_refused_not_read_as_cosine():
    from inspector.train.schedule import lr_at

    with pytest.raises(ValueError, match="'linear'"):
        lr_at(0, 100, 1e-3, 10, 1e-5, "linear")  # type: ignore[arg-type]
