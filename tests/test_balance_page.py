"""pages/4_Balance.py driven by AppTest: the demo's checkpoints measured over a few episodes (verdict, share
chart with CIs, cosine heatmap, suggested weights), several checkpoints of one run, a checkpoint without a log
or an adapter without gradients explained, and no demo at all."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from streamlit.testing.v1 import AppTest

from inspector.checkpoint import save_checkpoint
from inspector.model import ModelConfig, create_model
from inspector.paths import DEMO_DIR
from inspector.ui.balance_views import TERMS_KINDS
from inspector.ui.episode_views import NO_DEMO, demo_checkpoints
from inspector.ui.loss_views import MeasuredBalance, balance_state_key

REPO = Path(__file__).resolve().parents[1]
PAGE = str(REPO / "pages" / "4_Balance.py")
TIMEOUT = 120
EPISODES = 4  # ~0.2 s each on the demo: enough for CIs, quick enough for a test
TINY = ModelConfig(widths=(8, 16, 16, 24, 32), neck_dim=24, head_dim=16, embed_dim=16)

needs_demo = pytest.mark.skipif(
    not demo_checkpoints() or not (DEMO_DIR / "data" / "val").is_dir(),
    reason="demo/runs has no checkpoint in this checkout",
)
pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _open(**state) -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=TIMEOUT)
    at.session_state["bal_episodes"] = EPISODES
    for key, value in state.items():
        at.session_state[key] = value
    return at.run()


def _clean(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


def _chart(at: AppTest, key: str) -> dict:
    charts = [c for c in at.get("plotly_chart") if (c.proto.id or "").endswith(key)]
    assert charts, f"no plotly chart keyed {key!r}"
    return json.loads(charts[0].proto.spec)


@needs_demo
def test_the_demo_checkpoint_shows_verdict_shares_heatmap_and_suggestions() -> None:
    at = _open()
    _clean(at)
    assert at.sidebar.selectbox(key="ckpt_demo").value == "troubled/best.pt"
    assert any("of the gradient on the last shared layer" in m.value for m in at.markdown)  # the verdict
    bars = _chart(at, "bal_shares")["data"]
    assert [t["type"] for t in bars] == ["bar"] and bars[0]["x"] == ["cls", "bbox", "supcon", "cpe"]
    assert "arrayminus" in bars[0]["error_y"]  # the 95% CI
    (heat,) = _chart(at, "bal_heatmap")["data"]
    assert heat["type"] == "heatmap" and heat["x"] == bars[0]["x"]
    terms = next(d.value for d in at.dataframe if "grad share (%)" in d.value.columns)
    assert terms["term"].tolist() == ["cls", "bbox", "supcon", "cpe"] and "share 95% CI (%)" in terms.columns
    assert terms["grad share (%)"].between(0, 100).all()  # a number, so the column sorts by value
    assert set(TERMS_KINDS) <= set(terms.columns)  # render_terms formats every number column
    suggested = next(d.value for d in at.dataframe if "weights" in d.value.columns)
    assert suggested["weights"].tolist()[0] == "current" and len(suggested) == 4
    assert suggested["bbox ×"].tolist()[0] == 7.5 and suggested["bbox ×"].notna().all()  # the log gives DWA
    assert _chart(at, "bal_predicted")["data"]
    # left for the run's Loss curves page, under its log's key
    key = balance_state_key(DEMO_DIR / "runs" / "troubled" / "log.jsonl")
    left = at.session_state[key]
    assert isinstance(left, MeasuredBalance) and left.report.episodes == EPISODES
    assert at.button(key="bal_try").label.startswith("Try equal gradient shares")


@needs_demo
def test_more_checkpoints_of_the_run_are_groups_over_time() -> None:
    at = _open()
    more = next(m for m in at.sidebar.multiselect if m.key.startswith("bal_more:"))
    assert "epoch_4.pt" in more.options and "best.pt" not in more.options
    more.set_value(["epoch_4.pt"]).run()
    _clean(at)
    groups = [t["name"] for t in _chart(at, "bal_shares")["data"]]
    assert len(groups) == 2 and groups[0].startswith("epoch_4.pt")  # by training step: epoch 4 first
    assert len(at.tabs) == 2  # a heatmap per checkpoint
    table = next(d.value for d in at.dataframe if "grad share (%)" in d.value.columns)
    assert table["checkpoint"].nunique() == 2


def test_without_the_demo_the_page_says_how_to_build_it(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("INSPECTOR_DEMO_DIR", str(tmp_path))  # a checkout without the demo
    at = AppTest.from_file(PAGE, default_timeout=TIMEOUT).run()
    assert not at.exception, [e.value for e in at.exception]
    assert any(i.value == NO_DEMO for i in at.info)


class NoGradients:
    """A user adapter that predicts but cannot measure gradients."""

    def __init__(self, path: str) -> None:
        from inspector.adapters import ReferenceDetector

        inner = ReferenceDetector(path)
        self.name, self.class_names, self.predict = "no-gradients", inner.class_names, inner.predict


@pytest.fixture(scope="module")
def lone_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny checkpoint alone in its folder: no log, no other checkpoints."""
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("lone") / "tiny.pt"
    save_checkpoint(path, create_model(TINY), TINY, train_config={"n_way": 2, "k_shot": 1, "n_query": 2})
    return path


@needs_demo
def test_a_checkpoint_without_a_log_or_gradients_is_explained(lone_checkpoint: Path, monkeypatch) -> None:
    spec = f"{__name__}:NoGradients"
    monkeypatch.setenv("INSPECTOR_ROOTS", str(lone_checkpoint.parent))
    monkeypatch.setenv("INSPECTOR_ADAPTERS", spec)
    at = _open(ckpt_kind="server path", ckpt_path=str(lone_checkpoint))
    _clean(at)
    assert not any(m.key.startswith("bal_more:") for m in at.sidebar.multiselect)  # alone in its folder
    assert any("log: none" in c.value for c in at.caption)
    assert any("No readable log.jsonl" in i.value for i in at.info)  # no way to the Loss curves page
    assert not any(isinstance(v, MeasuredBalance) for v in at.session_state.values())
    at.sidebar.text_input(key="adapter").input(spec).run()
    assert not at.exception
    assert any("cannot measure per-loss gradients" in e.value for e in at.error)
