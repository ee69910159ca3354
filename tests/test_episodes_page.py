"""pages/2_Episodes.py driven by AppTest: step through episodes, overlays change, bad checkpoints are
explained, the episode shape and the stride toggles come from the checkpoint and its results."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from streamlit.testing.v1 import AppTest

from inspector.checkpoint import save_checkpoint
from inspector.data import read_dataset
from inspector.data.shapes import CLASSES, write_coco_dataset, write_video_samples
from inspector.evaluate import CLIP_SCORE_THRESHOLD
from inspector.model import ModelConfig, create_model
from inspector.plan import DEFAULT_SHAPE, DatasetEpisodes, resolve_shape, trained_shape
from inspector.ui.episode_views import demo_checkpoints

REPO = Path(__file__).resolve().parents[1]
PAGE = str(REPO / "pages" / "2_Episodes.py")
TIMEOUT = 120


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("episodes_page")
    torch.manual_seed(0)
    save_checkpoint(root / "m.pt", create_model(ModelConfig()), ModelConfig(), class_names=list(CLASSES))
    other = ModelConfig(strides=(4, 8, 16))  # not the default strides: the page must not assume (8, 16, 32)
    save_checkpoint(
        root / "strides.pt",
        create_model(other),
        other,
        class_names=list(CLASSES),
        train_config={"n_way": 2, "k_shot": 1, "n_query": 3},
    )
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


def _frame(element):
    """The DataFrame an st.dataframe element shows (tables.show passes a pandas Styler)."""
    value = element.value
    return getattr(value, "data", value)


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
    losses = _frame(next(d for d in at.dataframe if "weighted" in _frame(d).columns))
    assert losses["name"].tolist() == ["cls", "bbox", "supcon", "cpe"]
    assert "‖∇ backbone‖ (train-mode BN)" not in losses.columns  # a backward pass per term: on request
    at.toggle(key="ep_gradients").set_value(True).run()
    _clean(at)
    losses = _frame(next(d for d in at.dataframe if "weighted" in _frame(d).columns))
    norms = losses["‖∇ backbone‖ (train-mode BN)"]
    assert norms.notna().all() and (norms > 0).any()


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
    assert [m.label for m in at.metric] == [
        "ST-IoU · " + read_dataset(roots / "clips").clips[0].clip_id
    ]  # clip 0
    assert at.sidebar.slider(key="clip_score_threshold").value == CLIP_SCORE_THRESHOLD
    slider = next(s for s in at.slider if s.key.startswith("frame_"))
    before = _state(at)[2]
    slider.set_value(3).run()
    _clean(at)
    assert _state(at)[2] != before


def test_shape_and_strides_come_from_the_checkpoint_and_its_result(roots: Path) -> None:
    at = _open(roots / "strides.pt", roots / "data")
    _clean(at)
    shape = tuple(int(_sidebar_input(at, label).value) for label in ("n-way", "k-shot", "n-query"))
    assert shape == (2, 1, 3)  # the checkpoint's train config
    toggles = {c.key for c in at.sidebar.checkbox if c.key.startswith("stride_")}
    assert toggles == {"stride_4", "stride_8", "stride_16"}
    want = DatasetEpisodes(
        read_dataset(roots / "data"), resolve_shape(trained_shape(roots / "strides.pt")), 0
    )
    assert _state(at)[1] == f"Episode 0: {', '.join(want.episode(0).class_names)}"  # the `episode` command's
    at.sidebar.text_input(key="ckpt_path").input(str(roots / "m.pt")).run()  # no train config: the defaults
    _clean(at)
    shape = tuple(int(_sidebar_input(at, label).value) for label in ("n-way", "k-shot", "n-query"))
    assert shape == (DEFAULT_SHAPE.n_way, DEFAULT_SHAPE.k_shot, DEFAULT_SHAPE.n_query)
    assert {c.key for c in at.sidebar.checkbox if c.key.startswith("stride_")} == {
        "stride_8",
        "stride_16",
        "stride_32",
    }


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
    for name, message in (
        ("evil.pt", "arbitrary Python objects"),
        ("other.pt", "missing keys"),
        ("notes.pt", "not a PyTorch checkpoint"),
    ):
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


def test_the_episode_pickers_follow_inspector_demo_dir(tmp_path, monkeypatch):
    # the run picker (ui/sources) honours INSPECTOR_DEMO_DIR; the checkpoint and dataset pickers do too
    from inspector.ui.episode_views import demo_checkpoints, demo_datasets

    (tmp_path / "runs" / "mine").mkdir(parents=True)
    (tmp_path / "runs" / "mine" / "best.pt").write_bytes(b"")
    monkeypatch.setenv("INSPECTOR_DEMO_DIR", str(tmp_path))
    assert demo_checkpoints() == {"mine/best.pt": tmp_path / "runs" / "mine" / "best.pt"}
    assert set(demo_datasets().values()) == {tmp_path / "data" / "val", tmp_path / "data" / "clips"}


def _sidebar_input(at, label: str):
    """The sidebar's number input labelled `label` (the shape inputs are keyed by their checkpoint)."""
    return next(n for n in at.sidebar.number_input if n.label == label)


def _shape_page() -> None:
    import streamlit as st

    from inspector.ui.episode_views import episode_settings

    source = st.session_state.get("which", "ckpt-a")
    trained = {"ckpt-a": {"n_way": 2, "k_shot": 3, "n_query": 4}, "ckpt-b": {"n_way": 5, "k_shot": 1}}[source]
    s = episode_settings(trained, source)
    st.write(f"{s.n_way}/{s.k_shot}/{s.n_query}")


def test_the_episode_shape_starts_at_the_checkpoints_keeps_edits_and_starts_over_with_another():
    """The inputs take the trained shape as their default (not written into the session state: a click
    during the first run once made the browser send back the inputs' minimums, 1/1/0)."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_function(_shape_page).run()
    assert not at.exception and at.markdown[-1].value == "2/3/4"
    next(n for n in at.number_input if n.label == "k-shot").set_value(5).run()
    at.run()
    assert at.markdown[-1].value == "2/5/4"  # the user's change stays
    at.session_state["which"] = "ckpt-b"
    at.run()
    assert at.markdown[-1].value == "5/1/4" and not at.warning  # n_query: inspector's default (4)


def _shown(element):
    """The cells of an st.dataframe as displayed (tables.show formats them through a Styler)."""
    import pyarrow as pa

    return pa.ipc.open_stream(element.proto.arrow_data.styler.display_values).read_all().to_pandas()


def test_captions_say_what_each_image_is_and_tables_read_as_people_read_them(roots: Path) -> None:
    at = _open(roots / "m.pt", roots / "data")
    _clean(at)
    captions = [img.caption for el in at.get("image") for img in el.proto.imgs]
    support = [c for c in captions if c.startswith("support · ")]
    queries = [c for c in captions if c.startswith("query ")]
    assert support and all(" · image " in c and c.split(" · ")[1] in CLASSES for c in support)
    assert queries[0].startswith("query 1 · image ") and " target" in queries[0]
    assert all(c.endswith(" missed") and " TP, " in c and " FP, " in c for c in queries)
    assert any(c.value.startswith("solid: matched (TP) · dashed: false positive") for c in at.caption)
    assert len([b for b in at.button if b.label == "Enlarge"]) == len(captions)
    boxes = next(d for d in at.dataframe if "x1" in _frame(d).columns)
    raw, shown = _frame(boxes), _shown(boxes)
    assert all(len(v.split(".")[1]) == 1 for v in shown["x1"])  # pixels: 1 decimal
    assert all(len(v.split(".")[1]) == 3 for v in shown["score"] if v)  # scores: 3 (a missed target: none)
    assert (shown["IoU"][raw["IoU"].isna()] == "").all()  # a false positive's IoU: empty, not "None"
    targets = next(d for d in at.dataframe if "positives" in _frame(d).columns)
    assert "label" not in _frame(targets).columns and set(_frame(targets)["class"]) <= set(CLASSES)
    positives = next(d for d in at.dataframe if "wiou_beta" in _frame(d).columns)
    assert set(_frame(positives)["class"]) <= set(CLASSES)
