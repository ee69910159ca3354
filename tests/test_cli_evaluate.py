"""`python -m inspector evaluate`: JSON summary keys, episode i the same as `episode`'s, counts of each kind,
and one-line errors for files that are no reference checkpoint."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch

from inspector.batch import read_result
from inspector.checkpoint import save_checkpoint
from inspector.cli import main
from inspector.data.shapes import write_coco_dataset, write_video_samples
from inspector.evaluate import CLIP_SCORE_THRESHOLD
from inspector.model import ModelConfig, create_model
from inspector.plan import DEFAULT_SHAPE

DEMO = Path(__file__).resolve().parents[1] / "demo"
KEYS = {"map50", "map50_95", "st_iou", "per_class", "episodes"}
TINY = ModelConfig(widths=(8, 16, 16, 24, 32), neck_dim=24, head_dim=16, embed_dim=16)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("evaldata")
    write_coco_dataset(root / "val", 20, seed=5)
    write_video_samples(root / "clips", 2, seed=5)
    return root


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory) -> Path:
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("ckpt") / "tiny.pt"
    return save_checkpoint(
        path, create_model(TINY), TINY, half=True, train_config={"n_way": 2, "k_shot": 2, "n_query": 2}
    )


def run_json(capsys, *argv: str) -> dict:
    assert main(["evaluate", *argv, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_json_summary_of_image_episodes_and_clips(capsys, data, tiny_checkpoint):
    argv = ("--checkpoint", str(tiny_checkpoint), "--data", str(data / "val"), "--clips", str(data / "clips"))
    out = run_json(capsys, *argv, "--episodes", "3", "--seed", "1")
    assert KEYS <= set(out)
    assert (out["n_way"], out["k_shot"], out["n_query"]) == (2, 2, 2)  # from the checkpoint's train_config
    assert out["episodes"] == 3 + 2 and out["clips"] == 2 and out["images"] == 6
    assert (out["image_episodes"], out["clip_episodes"], out["clips_without_result"]) == (3, 2, 0)
    assert out["clip_score_threshold"] == CLIP_SCORE_THRESHOLD and out["warnings"] == []
    assert 0.0 <= out["map50"] <= 1.0 and out["map50_95"] <= out["map50"]
    assert out["st_iou"] is not None and 0.0 <= out["st_iou"] <= 1.0
    # same seed → same episodes → same numbers
    again = run_json(capsys, *argv, "--episodes", "3", "--seed", "1")
    assert again["map50"] == out["map50"]


def test_st_iou_is_null_without_clips(capsys, data, tiny_checkpoint):
    out = run_json(
        capsys,
        "--checkpoint",
        str(tiny_checkpoint),
        "--data",
        str(data / "val"),
        "--episodes",
        "2",
        "--n-way",
        "3",
        "--k-shot",
        "1",
    )
    assert out["st_iou"] is None and out["n_way"] == 3 and out["clips"] == 0


def test_plain_text_summary(capsys, data, tiny_checkpoint):
    assert main(["evaluate", "--checkpoint", str(tiny_checkpoint), "--data", str(data / "clips")]) == 0
    text = capsys.readouterr().out
    assert "ST-IoU" in text and "mAP@0.5 " in text and "n/a" in text  # a clip dataset has no mAP


def test_wrong_architecture_is_a_one_line_error(capsys, tmp_path, data):
    other = ModelConfig(widths=(8, 16, 16, 24, 48), neck_dim=24, head_dim=16, embed_dim=16)
    path = tmp_path / "other.pt"
    torch.save({"state_dict": create_model(other).state_dict()}, path)  # no model_config: built as default
    assert main(["evaluate", "--checkpoint", str(path), "--data", str(data / "val")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and str(path) in err
    assert "shape mismatches" in err


def test_non_checkpoint_is_a_one_line_error(capsys, tmp_path, data):
    path = tmp_path / "notes.pt"
    path.write_text("not a checkpoint\n")
    assert main(["evaluate", "--checkpoint", str(path), "--data", str(data / "val")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and str(path) in err and "not a PyTorch checkpoint" in err


@pytest.mark.skipif(not (DEMO / "runs" / "fixed" / "best.pt").exists(), reason="demo/ not built")
def test_committed_demo_checkpoint(capsys):
    out = run_json(
        capsys,
        "--checkpoint",
        str(DEMO / "runs" / "fixed" / "best.pt"),
        "--data",
        str(DEMO / "data" / "val"),
        "--clips",
        str(DEMO / "data" / "clips"),
        "--episodes",
        "5",
        "--seed",
        "0",
    )
    assert KEYS <= set(out)
    assert math.isfinite(out["map50"]) and out["st_iou"] is not None
    assert set(out["per_class"]) <= {
        "circle",
        "square",
        "triangle",
        "star",
        "cross",
        "hexagon",
        "ring",
        "diamond",
        "crescent",
        "arrow",
    }


@pytest.fixture(scope="module")
def untrained_checkpoint(tmp_path_factory) -> Path:
    """A checkpoint with no train config: both commands must fall back to the same defaults."""
    torch.manual_seed(1)
    return save_checkpoint(tmp_path_factory.mktemp("bare") / "bare.pt", create_model(TINY), TINY, half=True)


@pytest.mark.parametrize(
    "which, shape",
    [
        ("tiny_checkpoint", (2, 2, 2)),
        ("untrained_checkpoint", (DEFAULT_SHAPE.n_way, DEFAULT_SHAPE.k_shot, DEFAULT_SHAPE.n_query)),
    ],
)
def test_episode_i_is_the_same_for_episode_and_for_evaluate_shards(
    capsys, request, data, tmp_path, which, shape
):
    ckpt = str(request.getfixturevalue(which))
    for i in (1, 3):
        assert (
            main(
                [
                    "episode",
                    "--checkpoint",
                    ckpt,
                    "--data",
                    str(data / "val"),
                    "--index",
                    str(i),
                    "--seed",
                    "7",
                    "--no-gradients",
                    "--json",
                ]
            )
            == 0
        )
        episode = json.loads(capsys.readouterr().out)
        out = tmp_path / f"{which}_{i}.parquet"
        summary = run_json(
            capsys,
            "--checkpoint",
            ckpt,
            "--data",
            str(data / "val"),
            "--episodes",
            "4",
            "--seed",
            "7",
            "--shard",
            f"{i}/4",
            "--out",
            str(out),
        )
        rows = read_result(out).rows
        assert rows["position"].unique().tolist() == [i]
        assert (episode["n_way"], episode["k_shot"], episode["n_query"]) == shape
        assert (summary["n_way"], summary["k_shot"], summary["n_query"]) == shape
        assert [q["image_id"] for q in episode["queries"]] == rows.loc[
            rows["kind"] == "image", "image_id"
        ].tolist()
        assert len(episode["class_names"]) == shape[0] and 0 < len(episode["queries"]) <= shape[2]


def test_an_adapter_without_clip_results_gets_a_warning_not_a_score(
    capsys, data, tiny_checkpoint, tmp_path, monkeypatch
):
    (tmp_path / "images_only_adapter.py").write_text(
        "import numpy as np\n"
        "from inspector.adapters import EpisodeResult, QueryResult\n"
        "class ImagesOnly:\n"
        "    name, class_names = 'images-only', ()\n"
        "    def predict(self, episode, score_threshold=None, nms_iou=None):\n"
        "        qs = tuple(QueryResult(q.image_id, q.size, q.boxes, "
        "np.full(len(q.boxes), 0.9, np.float32),\n"
        "                               q.labels, q.boxes, q.labels) for q in episode.queries)\n"
        "        return EpisodeResult(episode.index, episode.class_names, qs)\n"
        "def make(path):\n"
        "    return ImagesOnly()\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    argv = ["--checkpoint", str(tiny_checkpoint), "--adapter", "images_only_adapter:make"]
    argv += ["--data", str(data / "val"), "--clips", str(data / "clips"), "--episodes", "2"]
    out = run_json(capsys, *argv)
    assert out["map50"] == 1.0 and out["st_iou"] is None
    assert (out["clips"], out["clips_without_result"], out["clip_episodes"], out["image_episodes"]) == (
        0,
        2,
        2,
        2,
    )
    assert any("no clip result for 2 of the 2 clips" in w for w in out["warnings"])
    assert main(["evaluate", *argv]) == 0
    assert "WARNING: the adapter returned no clip result" in capsys.readouterr().out
