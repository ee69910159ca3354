"""pages/2_Episodes.py driven by AppTest: step through episodes, overlays change, bad checkpoints are explained."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from streamlit.testing.v1 import AppTest

from inspector.checkpoint import save_checkpoint
from inspector.data.shapes import CLASSES, write_coco_dataset, write_video_samples
from inspector.model import ModelConfig, create_model
from inspector.ui.episode_views import demo_checkpoints

REPO = Path(__file__).resolve().parents[1]
PAGE = str(REPO / "pages" / "2_Episodes.py")
TIMEOUT = 120


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("episodes_page")
    torch.manual_seed(0)
    save_checkpoint(root / "m.pt", create_model(ModelConfig()), ModelConfig(), class_names=list(CLASSES))
    write_coco_dataset(root / "data", 20, seed=0)
    write_video_samples(root / "clips", 2, seed=0)
    return root


@pytest.fixture()
def roots(files: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("INSPECTOR_ROOTS", str(files))
    return files


def _open(checkpoint: Path, data: Path) -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=TIMEOUT).run()
    at.sidebar.radio(key="ckpt_kind").set_value("server path").run()
    at.sidebar.text_input(key="ckpt_path").input(str(checkpoint)).run()
    at.sidebar.radio(key="data_kind").set_value("server path").run()
    at.sidebar.text_input(key="data_path").input(str(data)).run()
    return at


def _clean(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


def _state(at: AppTest) -> tuple[int, str, tuple[str, ...]]:
    """(episode index, heading, overlay image URLs — streamlit names media by content hash)."""
    urls = tuple(img.url for el in at.get("image") for img in el.proto.imgs)
    return int(at.number_input(key="episode").value), at.subheader[0].value, urls


def test_next_and_prev_step_through_episodes(roots: Path) -> None:
    at = _open(roots / "m.pt", roots / "data")
    _clean(at)
    first = _state(at)
    assert first[0] == 0 and first[1].startswith("Episode 0") and len(first[2]) >= 4
    at.button(key="ep_next").click().run()
    _clean(at)
    second = _state(at)
    assert second[0] == 1 and second[1].startswith("Episode 1") and second[2] != first[2]
    at.button(key="ep_prev").click().run()
    assert _state(at) == first  # deterministic: episode 0 again, pixel for pixel
    at.number_input(key="episode").set_value(5).run()
    assert _state(at)[1].startswith("Episode 5")
    assert any("Losses" in m.value for m in at.markdown)
    losses = next(d.value for d in at.dataframe if "weighted" in d.value.columns)
    assert losses["name"].tolist() == ["cls", "bbox", "supcon", "cpe"] and "‖∇ backbone‖" in losses.columns


def test_sliders_and_stride_toggles_change_the_overlay(roots: Path) -> None:
    at = _open(roots / "m.pt", roots / "data")
    before = _state(at)[2]
    at.sidebar.checkbox(key="stride_8").uncheck().run()
    _clean(at)
    assert _state(at)[2] != before
    at.sidebar.slider(key="score_threshold").set_value(0.0).run()
    _clean(at)


def test_video_samples_show_frames_and_st_iou(roots: Path) -> None:
    at = _open(roots / "m.pt", roots / "clips")
    _clean(at)
    assert any(m.label.startswith("ST-IoU") for m in at.metric)
    slider = at.slider[0]
    before = _state(at)[2]
    slider.set_value(3).run()
    _clean(at)
    assert _state(at)[2] != before


class _CreatesAFile:
    def __init__(self, target: str):
        self.target = target

    def __reduce__(self):
        return (Path.write_text, (Path(self.target), "pwned"))


def test_bad_checkpoints_are_explained_without_a_traceback(roots: Path, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("INSPECTOR_ROOTS", f"{roots}:{tmp_path}")
    target = tmp_path / "created.txt"
    torch.save({"state_dict": {}, "x": _CreatesAFile(str(target))}, tmp_path / "evil.pt")
    state = create_model(ModelConfig()).state_dict()
    state.pop(next(iter(state)))
    torch.save({"state_dict": state}, tmp_path / "other.pt")
    (tmp_path / "notes.pt").write_text("hello")
    for name, message in (("evil.pt", "arbitrary Python objects"), ("other.pt", "missing keys"),
                          ("notes.pt", "not a PyTorch checkpoint")):
        at = _open(tmp_path / name, roots / "data")
        assert not at.exception, [e.value for e in at.exception]
        assert any(message in e.value for e in at.error), (name, [e.value for e in at.error])
    assert not target.exists()


def test_user_adapters_need_the_operators_allowlist(roots: Path) -> None:
    at = _open(roots / "m.pt", roots / "data")
    at.sidebar.text_input(key="adapter").input("os:remove").run()
    assert not at.exception
    assert any("INSPECTOR_ADAPTERS" in e.value for e in at.error)
    assert (roots / "m.pt").exists()


@pytest.mark.skipif(not demo_checkpoints(), reason="demo/runs has no checkpoint in this checkout")
def test_opens_on_the_demo_checkpoint_and_dataset() -> None:
    at = AppTest.from_file(PAGE, default_timeout=TIMEOUT).run()
    _clean(at)
    assert at.sidebar.radio(key="ckpt_kind").value == "demo"
    assert _state(at)[1].startswith("Episode 0") and _state(at)[2]
