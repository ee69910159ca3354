"""The Compare page's K-shot × seeds tab (AppTest): the form runs the protocol for A and B, verdicts name the
K, the seeds and the interval, the tables hold every cell, and the numbers are the CLI grid's."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from inspector.cli import main
from inspector.ui.episode_views import demo_checkpoints

REPO = Path(__file__).resolve().parents[1]
needs_demo = pytest.mark.skipif(
    len(demo_checkpoints()) < 2, reason="the demo's checkpoints are not built (python -m inspector demo)"
)
pytestmark = [needs_demo, pytest.mark.usefixtures("one_torch_thread")]


def _page(tmp_path, monkeypatch):
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("INSPECTOR_CACHE_DIR", str(tmp_path / "cache"))
    at = AppTest.from_file(str(REPO / "pages" / "3_Compare.py"), default_timeout=300)
    at.session_state["cmp_tab"] = "K-shot × seeds"  # the aggregate's tab, closed, evaluates nothing
    return at.run()


def test_protocol_tab_runs_the_grid_and_gives_a_verdict_per_k(tmp_path, monkeypatch, capsys):
    at = _page(tmp_path, monkeypatch)
    assert not at.exception and not at.error
    assert any("Run the protocol" in i.value for i in at.info)  # nothing runs before the form is sent
    at.text_input(key="protocol_k").set_value("1,2")
    at.text_input(key="protocol_seeds").set_value("0-2")
    at.number_input(key="protocol_episodes").set_value(4)
    at.button(key="protocol_run").click().run()
    assert not at.exception and not at.error, [e.value for e in [*at.exception, *at.error]]
    said = [e.value for e in (*at.success, *at.warning, *at.get("alert"))]
    verdicts = [v for v in said if v.startswith("K=")]
    assert [v[:3] for v in verdicts] == ["K=1", "K=2"], said
    assert all("over 3 seed(s) × 4 episodes" in v and "95% CI" in v for v in verdicts)
    cells = next(d.value for d in at.dataframe if "seed" in d.value.columns)
    assert list(cells.columns) == ["K", "seed", "A", "B", "Δ (B − A), ↑ better"]  # the header says which way
    assert len(cells) == 6 and list(cells["seed"]) == [0, 1, 2, 0, 1, 2]
    summary = next(d.value for d in at.dataframe if "95% CI over seeds" in d.value.columns)
    assert len(summary) == 4 and set(summary["side"]) == {"A", "B"}
    # the page's numbers are the CLI's: B's cells equal `evaluate --k-shot 1,2 --seeds 0-2` of fixed/best.pt
    ckpt = REPO / "demo" / "runs" / demo_checkpoints()["fixed/best.pt"].relative_to(REPO / "demo" / "runs")
    argv = ["evaluate", "--checkpoint", str(ckpt), "--data", str(REPO / "demo" / "data" / "val")]
    argv += ["--k-shot", "1,2", "--seeds", "0-2", "--episodes", "4", "--resamples", "0", "--json"]
    capsys.readouterr()
    assert main(argv) == 0
    cli = json.loads(capsys.readouterr().out)
    assert [c["map50"] for c in cli["cells"]] == pytest.approx(list(cells["B"]), abs=0, nan_ok=True)
    # another metric: the same cells, re-read without evaluating again
    at.selectbox(key="protocol_metric").set_value("map50_95").run()
    assert not at.exception and any(
        "mAP@0.5:0.95" in v for v in (e.value for e in (*at.success, *at.warning))
    )


def test_novel_classes_add_nap_and_bap(tmp_path, monkeypatch):
    at = _page(tmp_path, monkeypatch)
    at.text_input(key="protocol_k").set_value("1")
    at.text_input(key="protocol_seeds").set_value("0,1")
    at.number_input(key="protocol_episodes").set_value(3)
    at.multiselect(key="protocol_novel").set_value(["circle", "star"])
    at.button(key="protocol_run").click().run()
    assert not at.exception and not at.error, [e.value for e in [*at.exception, *at.error]]
    assert at.selectbox(key="protocol_metric").value == "nap50"  # the few-shot headline
    assert set(at.selectbox(key="protocol_metric").options) >= {"nAP50", "bAP50", "nAP", "bAP"}
    bad = _page(tmp_path, monkeypatch)
    bad.text_input(key="protocol_seeds").set_value("4-1")
    bad.button(key="protocol_run").click().run()
    assert not bad.exception and any("runs backwards" in e.value for e in bad.error)


def test_a_protocol_difference_is_refused_until_allowed_then_marked(tmp_path, monkeypatch):
    """A's adapter declaring test-time augmentation and B's not: no verdict until the user allows it."""
    from streamlit.testing.v1 import AppTest

    from inspector.protocol import run as protocol_run

    real = protocol_run.tta_flags
    calls = {"n": 0}

    def flags(detector: object) -> list[str]:
        calls["n"] += 1
        return ["hflip"] if calls["n"] == 1 else real(detector)  # A's grid runs first

    monkeypatch.setattr(protocol_run, "tta_flags", flags)
    monkeypatch.setenv("INSPECTOR_CACHE_DIR", str(tmp_path / "cache"))
    at = AppTest.from_file(str(REPO / "pages" / "3_Compare.py"), default_timeout=300)
    at.session_state["cmp_tab"] = "K-shot × seeds"
    at.session_state["cmp_episodes"] = 2
    at.run()
    at.text_input(key="protocol_k").set_value("1")
    at.text_input(key="protocol_seeds").set_value("0,1")
    at.number_input(key="protocol_episodes").set_value(2)
    at.button(key="protocol_run").click().run()
    assert not at.exception
    assert any('tta: ["hflip"] vs []' in e.value for e in at.error)
    assert not [w for w in at.warning if w.value.startswith("K=")] and not [s for s in at.success]
    at.checkbox(key="protocol_allow_diff").check().run()
    said = [e.value for e in (*at.success, *at.warning, *at.error) if e.value.startswith("K=")]
    assert said and all(v.endswith("[protocol differs]") for v in said)
    cells = next(d.value for d in at.dataframe if "seed" in d.value.columns)
    assert set(cells["protocol"]) == {"protocol differs"}
