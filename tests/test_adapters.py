"""Adapters: the built-in reference detector, user factories named package.module:factory, and refusals."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import pytest
import torch

import inspector.adapters
import inspector.results
from inspector.adapters import Detector, EpisodeResult, inspect_episode, load_detector, resolve_adapter
from inspector.checkpoint import save_checkpoint
from inspector.data import read_dataset
from inspector.data.episodes import EpisodeSampler
from inspector.data.shapes import CLASSES, write_coco_dataset, write_video_samples
from inspector.errors import InspectorError
from inspector.model import ModelConfig, create_model
from inspector.plan import clip_episode
from inspector.results import result_to_dict
from inspector.serialize import dumps

_names = (f"user_adapter_{i}" for i in itertools.count())


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> dict:
    root = tmp_path_factory.mktemp("adapters")
    torch.manual_seed(0)
    ckpt = save_checkpoint(
        root / "model.pt", create_model(ModelConfig()), ModelConfig(), class_names=list(CLASSES)
    )
    write_coco_dataset(root / "data", 24, seed=0)
    episode = EpisodeSampler(read_dataset(root / "data"), 2, 2, 3, seed=0).sample(0)
    return {"root": root, "ckpt": ckpt, "episode": episode}


def _module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, source: str) -> str:
    """Writes `source` as a fresh module on sys.path; returns its name."""
    name = next(_names) + tmp_path.name.replace("-", "_")
    (tmp_path / f"{name}.py").write_text(source)
    monkeypatch.syspath_prepend(str(tmp_path))
    return name


def test_reference_adapter_on_a_good_checkpoint(world: dict) -> None:
    detector = load_detector(world["ckpt"])
    assert isinstance(detector, Detector) and detector.name == "reference"
    assert detector.class_names == CLASSES
    result = inspect_episode(detector, world["episode"])
    assert isinstance(result, EpisodeResult) and result.unavailable == ()
    assert len(result.queries) == len(world["episode"].queries)
    for q, sample in zip(result.queries, world["episode"].queries, strict=True):
        assert q.pred_boxes.shape == (len(q.scores), 4) and q.image_size == sample.size
        np.testing.assert_array_equal(q.target_boxes, sample.boxes)
        assert q.anchors.shape == (len(q.strides), 2) and set(np.unique(q.strides)) == {8, 16, 32}
        assert len(q.wiou_beta) == len(q.assigned) == len(q.wiou_r)
    assert set(result.losses.raw) == set(result.gradient_norms) == {"cls", "bbox", "supcon", "cpe"}
    assert result.losses.positives == sum(len(q.assigned) for q in result.queries)
    assert all(np.isfinite(v) and v >= 0 for v in result.gradient_norms.values())
    assert result.gradient_norms["cls"] > 0
    out = json.loads(dumps(result_to_dict(result)))
    # every assigned anchor carries its predicted box, and the reported IoU is that box's IoU with its target
    q, a = result.queries[0], result.queries[0].assigned
    record = out["queries"][0]["assigned"][str(int(a.anchor[0]))]
    assert set(record) == {"target", "align_metric", "iou", "pred_box"}
    np.testing.assert_allclose(record["pred_box"], a.pred_boxes[0], rtol=1e-6)
    assert len(out["queries"][0]["assigned"]) == len(a) > 0


def test_the_records_live_in_results_and_stay_importable_from_adapters() -> None:
    for name in ("Assigned", "QueryResult", "ClipResult", "EpisodeLosses", "EpisodeResult", "Detector"):
        assert getattr(inspector.adapters, name) is getattr(inspector.results, name), name
        assert getattr(inspector.results, name).__module__ == "inspector.results"


def test_wrong_architecture_names_the_keys(world: dict, tmp_path: Path) -> None:
    state = create_model(ModelConfig()).state_dict()
    dropped = next(iter(state))
    state.pop(dropped)
    state["head.surprise"] = torch.zeros(2)
    torch.save({"model_config": ModelConfig().to_dict(), "state_dict": state}, tmp_path / "other.pt")
    with pytest.raises(InspectorError) as err:
        load_detector(tmp_path / "other.pt")
    assert dropped in str(err.value) and "head.surprise" in str(err.value)
    assert str(tmp_path / "other.pt") in str(err.value)


class _CreatesAFile:
    def __init__(self, target: str):
        self.target = target

    def __reduce__(self):
        return (Path.write_text, (Path(self.target), "pwned"))


def test_malicious_pickle_is_refused_and_never_runs(tmp_path: Path) -> None:
    target = tmp_path / "created-by-payload.txt"
    torch.save(
        {"state_dict": create_model(ModelConfig()).state_dict(), "x": _CreatesAFile(str(target))},
        tmp_path / "evil.pt",
    )
    with pytest.raises(InspectorError, match="arbitrary Python objects"):
        load_detector(tmp_path / "evil.pt")
    assert not target.exists()


USER_ADAPTER = """
from inspector.adapters import EpisodeResult, QueryResult
import numpy as np

class Boxes:
    name = "plain-boxes"
    class_names = ("thing",)

    def __init__(self, path):
        self.path = path

    def predict(self, episode, score_threshold=None, nms_iou=None):
        queries = tuple(QueryResult(q.image_id, q.size, q.boxes + 1.0, np.full(len(q.boxes), 0.9, np.float32),
                                    q.labels, q.boxes, q.labels) for q in episode.queries)
        return EpisodeResult(episode.index, episode.class_names, queries)

def make(path):
    return Boxes(path)
"""


def test_user_adapter_from_a_module_on_sys_path(world: dict, tmp_path: Path, monkeypatch) -> None:
    name = _module(tmp_path, monkeypatch, USER_ADAPTER)
    detector = load_detector(world["ckpt"], f"{name}:make")
    assert detector.name == "plain-boxes" and detector.path == str(world["ckpt"])
    result = inspect_episode(detector, world["episode"])
    q, sample = result.queries[0], world["episode"].queries[0]
    np.testing.assert_allclose(q.pred_boxes, sample.boxes + 1.0)
    # what it cannot provide stays None and is named, never filled in
    assert (
        q.anchors is None and q.assigned is None and result.losses is None and result.gradient_norms is None
    )
    assert {"anchors", "assignment", "Wise-IoU β and r", "losses", "gradient norms"} <= set(
        result.unavailable
    )


@pytest.mark.parametrize(
    "source, spec, message",
    [
        ("", "no_such_module_for_inspector:make", "cannot import the adapter module"),
        ("def make(path): return 1\n", "{m}:missing", "has no attribute 'missing'"),
        ("make = 3\n", "{m}:make", "is not callable"),
        ("def make(path): return object()\n", "{m}:make", "not a Detector"),
        (
            "def make(path): raise ValueError('bad weights')\n",
            "{m}:make",
            "failed to load it (ValueError: bad weights)",
        ),
        ("def make(path) return 1\n", "{m}:make", "SyntaxError"),
        ("raise RuntimeError('import-time boom')\n", "{m}:make", "import-time boom"),
        ("", "{m}:", "not 'package.module:factory'"),
        ("", "no-such-adapter", "unknown adapter 'no-such-adapter'"),
    ],
)
def test_bad_adapter_specs(
    world: dict, tmp_path: Path, monkeypatch, source: str, spec: str, message: str
) -> None:
    name = _module(tmp_path, monkeypatch, source)
    with pytest.raises(InspectorError) as err:
        load_detector(world["ckpt"], spec.format(m=name))
    assert message in str(err.value)


def test_allowlist_refuses_unlisted_user_adapters(world: dict, tmp_path: Path, monkeypatch) -> None:
    name = _module(tmp_path, monkeypatch, USER_ADAPTER)
    with pytest.raises(InspectorError, match="INSPECTOR_ADAPTERS"):
        resolve_adapter("os:remove", allowed=())
    with pytest.raises(InspectorError, match="not allowed"):
        load_detector(world["ckpt"], f"{name}:make", allowed=("other:make",))
    assert load_detector(world["ckpt"], f"{name}:make", allowed=(f"{name}:make",)).name == "plain-boxes"
    assert load_detector(world["ckpt"], "reference", allowed=()).name == "reference"


def test_an_adapter_ignoring_clips_is_named_as_such(world: dict, tmp_path: Path, monkeypatch) -> None:
    write_video_samples(tmp_path / "clips", 1, seed=0)
    episode = clip_episode(read_dataset(tmp_path / "clips"), 0, k_shot=2)
    name = _module(tmp_path, monkeypatch, USER_ADAPTER)  # handles episode.queries only
    result = inspect_episode(load_detector(world["ckpt"], f"{name}:make"), episode)
    assert result.clips == () and "clip results" in result.unavailable
    reference = inspect_episode(load_detector(world["ckpt"]), episode, gradients=False)
    assert len(reference.clips) == 1 and "clip results" not in reference.unavailable


def test_an_adapter_returning_the_wrong_record_is_named(world: dict, tmp_path: Path, monkeypatch) -> None:
    name = _module(
        tmp_path,
        monkeypatch,
        USER_ADAPTER.replace(
            "return EpisodeResult(episode.index, episode.class_names, queries)", "return {'queries': queries}"
        ),
    )
    detector = load_detector(world["ckpt"], f"{name}:make")
    with pytest.raises(InspectorError, match="'plain-boxes' returned dict, not an EpisodeResult"):
        inspect_episode(detector, world["episode"])


README_ADAPTER = (
    '''
import numpy as np
from inspector.adapters import EpisodeResult, QueryResult

class Passthrough:
    """An adapter written from README: class_names and predict, no name, and no checkpoint file."""
    class_names = ("circle", "square")

    def predict(self, episode, score_threshold=None, nms_iou=None):
        queries = tuple(QueryResult(q.image_id, q.size, np.asarray(q.boxes, np.float32),
                                    np.ones(len(q.boxes), np.float32), np.asarray(q.labels), '''
    """q.boxes, q.labels)
                        for q in episode.queries)
        return EpisodeResult(episode.index, episode.class_names, queries)

def make(checkpoint_path):
    return Passthrough()
"""
)


def test_an_adapter_written_from_the_readme_needs_no_name_and_no_checkpoint_file(
    world: dict, tmp_path: Path, monkeypatch
) -> None:
    import subprocess
    import sys

    name = next(_names)
    (tmp_path / f"{name}.py").write_text(README_ADAPTER)
    monkeypatch.syspath_prepend(str(tmp_path))
    detector = load_detector("no-file-here", f"{name}:make")
    assert detector.name == f"{name}:make"
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "inspector",
            "evaluate",
            "--checkpoint",
            "hub:some-model",
            "--adapter",
            f"{name}:make",
            "--data",
            str(world["root"] / "data"),
            "--episodes",
            "2",
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env={**__import__("os").environ, "PYTHONPATH": str(tmp_path)},
    )
    assert run.returncode == 0, run.stderr
    out = json.loads(run.stdout)
    assert out["checkpoint"] == "hub:some-model" and out["map50"] == pytest.approx(1.0)
