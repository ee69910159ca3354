"""The Streamlit pages driven headlessly by AppTest: demo runs, every real sample, bad input, live widgets."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from inspector.paths import DEMO_DIR
from inspector.runlog import RunWriter
from inspector.ui import tables

REPO = Path(__file__).resolve().parents[1]
PAGES = ["app.py", "pages/1_Loss_curves.py"]  # the pages that read training logs
TIMEOUT = 60
HAS_DEMO = any((DEMO_DIR / "runs").glob("*/log.jsonl"))
SAMPLE_LOGS = sorted(
    p.relative_to(REPO / "tests" / "samples").as_posix()
    for p in (REPO / "tests" / "samples").rglob("*")
    if p.is_file() and p.suffix not in (".yaml", ".md")
)


def _open(page: str) -> AppTest:
    at = AppTest.from_file(str(REPO / page), default_timeout=TIMEOUT)
    return at.run()


def _open_path(page: str, path: Path) -> AppTest:
    at = _open(page)
    at.sidebar.radio(key="run_kind").set_value("server path").run()
    at.sidebar.text_input(key="run_path").input(str(path)).run()
    return at


def _no_exception(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]


def _traces(at: AppTest, key_part: str) -> list[dict]:
    """The plotly traces of the chart whose element id contains `key_part`."""
    charts = [c for c in at.get("plotly_chart") if key_part in (c.proto.id or "")]
    assert charts, f"no plotly chart with id containing {key_part!r}"
    return json.loads(charts[0].proto.spec)["data"]


def _ys(trace: dict) -> np.ndarray:
    """A trace's y values; plotly serialises numpy arrays as base64 typed arrays."""
    y = trace["y"]
    if isinstance(y, dict):
        return np.frombuffer(base64.b64decode(y["bdata"]), dtype=np.dtype(y["dtype"]))
    return np.asarray(y, dtype=float)


def _trace_named(traces: list[dict], name: str) -> dict:
    return next(t for t in traces if t.get("name") == name)


@pytest.fixture()
def standin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A small native log written by RunWriter, allowed as a server path."""
    rng = np.random.default_rng(0)
    path = tmp_path / "run" / "log.jsonl"
    with RunWriter(path, config={"loss_weights": {"bbox": 7.5, "cls": 0.5, "supcon": 0.1}}) as w:
        for s in range(1, 401):
            w.step(
                s,
                {
                    "bbox": 0.5 + 0.05 * rng.random(),
                    "cls": 1.0 + 0.1 * rng.random(),
                    "supcon": 2.0 + 0.2 * rng.random(),
                },
                lr=1e-3,
                epoch=s // 100,
                positives=30,
                pos_iou=0.5,
            )
            if s % 100 == 0:
                w.eval(s, {"map50": s / 1000})
    monkeypatch.setenv("INSPECTOR_ROOTS", str(tmp_path))
    return path


@pytest.mark.skipif(not HAS_DEMO, reason="demo/runs not bundled in this checkout")
@pytest.mark.parametrize("page", PAGES)
def test_pages_open_on_the_demo_runs(page: str) -> None:
    at = _open(page)
    _no_exception(at)
    assert not at.error, [e.value for e in at.error]
    assert at.get("plotly_chart"), "the default page shows a chart of the demo run"


@pytest.mark.skipif(not HAS_DEMO, reason="demo/runs not bundled in this checkout")
def test_the_overview_opens_on_the_troubled_demo_run() -> None:
    at = _open("app.py")
    _no_exception(at)
    assert at.sidebar.selectbox(key="run_demo").value == "troubled"


@pytest.mark.skipif(not HAS_DEMO, reason="demo/runs not bundled in this checkout")
def test_downloads_are_named_after_the_run_and_the_markdown_names_it(monkeypatch: pytest.MonkeyPatch) -> None:
    from streamlit.runtime.memory_media_file_storage import MemoryMediaFileStorage

    saved: dict[str | None, bytes] = {}
    load = MemoryMediaFileStorage.load_and_get_id

    def record(self, data, mimetype, kind, filename=None):
        saved[filename] = data if isinstance(data, bytes) else str(data).encode()
        return load(self, data, mimetype, kind, filename)

    monkeypatch.setattr(MemoryMediaFileStorage, "load_and_get_id", record)
    at = _open("pages/1_Loss_curves.py")
    _no_exception(at)
    assert {"troubled-findings.md", "troubled-findings.json"} <= set(saved)
    assert saved["troubled-findings.md"].decode().startswith("# demo/troubled (inspector_jsonl, native)\n")


@pytest.mark.skipif(not HAS_DEMO, reason="demo/runs not bundled in this checkout")
def test_the_overview_summary_is_a_table_of_numbers_with_empty_missing_cells() -> None:
    at = _open("app.py")
    _no_exception(at)
    summary = at.dataframe[0]
    assert summary.proto.row_height == tables.ROW_PX  # what tables.height_for counts on
    assert summary.proto.placeholder == ""  # a component without statistics shows empty cells, not "None"
    shares = summary.value["share of mean (%)"]
    assert shares.dtype.kind == "f" and shares.sum() == pytest.approx(100, abs=0.5)


def test_overview_without_demo_says_what_to_do(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INSPECTOR_DEMO_DIR", str(tmp_path))  # a checkout without demo runs
    at = _open("app.py")
    _no_exception(at)
    assert any("No demo runs" in i.value for i in at.info)


@pytest.mark.parametrize("page", PAGES)
@pytest.mark.parametrize("sample", SAMPLE_LOGS)
def test_pages_run_on_every_sample(
    page: str, sample: str, samples: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("INSPECTOR_ROOTS", str(samples))
    at = _open_path(page, samples / sample)
    _no_exception(at)
    assert not at.error, [e.value for e in at.error]
    assert at.get("plotly_chart"), f"{sample}: no chart"


@pytest.mark.parametrize("page", PAGES)
def test_binary_garbage_shows_an_error_not_a_traceback(
    page: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bad = tmp_path / "garbage.bin"
    bad.write_bytes(bytes(np.random.default_rng(1).integers(0, 256, 4096, dtype=np.uint8)))
    monkeypatch.setenv("INSPECTOR_ROOTS", str(tmp_path))
    at = _open_path(page, bad)
    _no_exception(at)
    assert at.error, "an unreadable log must be reported"
    assert "garbage.bin" in at.error[0].value


def test_path_outside_roots_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INSPECTOR_ROOTS", str(tmp_path))
    at = _open_path("app.py", Path("/etc/passwd"))
    _no_exception(at)
    # In the main area, where the user looks (issue 21), not only in the narrow sidebar.
    assert any("outside the allowed roots" in e.value for e in at.main.error)


def test_overview_shows_summary_and_findings(standin: Path) -> None:
    at = _open_path("app.py", standin)
    _no_exception(at)
    labels = {m.label: m.value for m in at.metric}
    assert labels["Framework"] == "native" and labels["Steps"] == "400"
    table = at.dataframe[0].value
    assert list(table["component"]) == ["bbox", "cls", "supcon"]
    assert list(table["weight"]) == [7.5, 0.5, 0.1]
    # mAP rises to 0.4: bbox's large share is no fault, so no dominance card; the findings section still
    # speaks.
    assert not any("dominates" in m.value for m in at.markdown)
    assert at.success or any("·" in m.value for m in at.markdown), (
        "findings are shown as cards or as 'no findings'"
    )


def test_whatif_bbox_weight_changes_the_total(standin: Path) -> None:
    at = _open_path("pages/1_Loss_curves.py", standin)
    _no_exception(at)
    total = next(m for m in at.metric if m.label == "what-if total (mean)")
    before = float(total.value)
    bbox = next(n for n in at.number_input if n.label == "bbox weight")
    assert bbox.value == 7.5
    bbox.set_value(1.0).run()
    _no_exception(at)
    after = float(next(m for m in at.metric if m.label == "what-if total (mean)").value)
    # Σ weighted = 7.5·bbox + … → 1.0·bbox + …: the mean drops by 6.5 × mean(bbox) ≈ 6.5 × 0.525.
    assert before - after == pytest.approx(6.5 * 0.525, rel=0.02)
    share = next(m for m in at.metric if m.label == "bbox share of mean")
    assert share.delta.startswith("-")


def test_raw_weighted_toggle_changes_the_chart(standin: Path) -> None:
    at = _open_path("pages/1_Loss_curves.py", standin)
    weighted = _ys(_trace_named(_traces(at, "loss_chart"), "bbox"))
    at.sidebar.radio(key="view").set_value("raw").run()
    _no_exception(at)
    raw = _ys(_trace_named(_traces(at, "loss_chart"), "bbox"))
    # The native log records bbox raw with weight 7.5.
    np.testing.assert_allclose(weighted, 7.5 * raw)
    assert raw.max() < 0.6 < weighted.min()


def test_side_by_side_and_compare_overlay(standin: Path) -> None:
    at = _open_path("pages/1_Loss_curves.py", standin)
    at.sidebar.radio(key="view").set_value("side by side").run()
    _no_exception(at)
    at.sidebar.radio(key="view").set_value("weighted").run()
    at.sidebar.radio(key="compare_kind").set_value("server path").run()
    at.sidebar.text_input(key="compare_path").input(str(standin)).run()
    _no_exception(at)
    dashed = [t for t in _traces(at, "loss_chart") if t.get("line", {}).get("dash") == "dash"]
    assert dashed and all("(" in t["name"] for t in dashed)


def test_server_config_is_a_tool_not_a_dev_server() -> None:
    # The limits SECURITY.md promises, and no source watcher (it re-scans every imported module after each
    # run and slowed a 129 MB upload's first chart from ~3 s to 5-6 s, bench/bench_browser.py).
    import tomllib

    config = tomllib.loads((REPO / ".streamlit" / "config.toml").read_text())
    assert config["server"]["maxUploadSize"] == 200
    assert config["server"]["fileWatcherType"] == "none"
    assert config["client"]["showErrorDetails"] == "none"


def test_corrections_reach_every_page_and_name_the_contradiction(standin: Path) -> None:
    from inspector.ui.corrections import Corrections
    from inspector.ui.sources import content_key

    key = content_key((str(standin.resolve()),))
    at = _open_path("app.py", standin)
    _no_exception(at)
    before = {r["component"]: r for r in at.dataframe[0].value.to_dict("records")}
    assert before["bbox"]["weight"] == 7.5 and before["bbox"]["weight source"] == "config"
    at.session_state[f"corrections:{key}"] = Corrections(weights=(("bbox", 2.0),))
    at.run()
    _no_exception(at)
    after = {r["component"]: r for r in at.dataframe[0].value.to_dict("records")}
    assert after["bbox"]["weight"] == 2.0 and after["bbox"]["weight source"] == "override"
    with_note = [e for e in at.expander if "Reader warnings" in e.label]
    assert with_note and any("you gave weight 2" in m.value for m in with_note[0].markdown)


def test_corrections_table_keeps_only_what_the_user_changed() -> None:
    import pandas as pd

    from inspector.losses import Component
    from inspector.ui.corrections import Corrections, corrections_from_table

    comps = (Component("bbox", "loss/bbox", 7.5, "raw"), Component("cls", "loss/cls", None, "weighted"))
    table = pd.DataFrame({"weight": [7.5, 0.5], "logged": ["weighted", "weighted"]})
    assert corrections_from_table(comps, table) == Corrections((("cls", 0.5),), (("bbox", "weighted"),))


def test_a_log_without_loss_terms_is_not_called_healthy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "metrics.csv"
    path.write_text("step,accuracy,lr\n" + "".join(f"{i},{i / 100},0.1\n" for i in range(100)))
    monkeypatch.setenv("INSPECTOR_ROOTS", str(tmp_path))
    at = _open_path("app.py", path)
    _no_exception(at)
    assert any("Not judged" in w.value and "accuracy" in w.value for w in at.warning)
    assert not any("nothing in this log looks wrong" in s.value for s in at.success)


def test_copies_of_a_term_can_be_summed_per_family(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(0)
    path = tmp_path / "log.jsonl"
    with open(path, "w") as fh:
        for e in range(30):
            row, total = {"epoch": e}, 0.0
            for layer in ["", "_0", "_1"]:
                for name, w in (("loss_ce", 1.0), ("loss_giou", 2.0)):
                    raw = float(np.exp(-e / 20) + 0.1 * rng.random())
                    row[f"train_{name}{layer}"], row[f"train_{name}{layer}_unscaled"] = raw * w, raw
                    total += raw * w
            row["train_loss"] = total
            fh.write(json.dumps(row) + "\n")
    monkeypatch.setenv("INSPECTOR_ROOTS", str(tmp_path))
    at = _open_path("pages/1_Loss_curves.py", path)
    _no_exception(at)
    each = {t["name"] for t in _traces(at, "loss_chart") if t.get("showlegend", True) is not False}
    assert {"cls", "ce_0", "giou_1"} <= each
    at.radio(key="copies_view").set_value("summed per family").run()
    _no_exception(at)
    summed = {t["name"] for t in _traces(at, "loss_chart") if t.get("showlegend", True) is not False}
    assert {"cls", "giou"} <= summed and "ce_0" not in summed


def test_overview_opens_with_start_here_on_the_seed_like_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Our users' case as RunWriter logs it: bbox ×7.5 flat with spikes, lr cliff to 2e-6 at mid-run, mAP 0.
    rng = np.random.default_rng(0)
    n = 3000
    path = tmp_path / "seed" / "log.jsonl"
    with RunWriter(path, config={"loss_weights": {"bbox": 7.5, "cls": 0.5, "supcon": 1.0, "cpe": 0.5}}) as w:
        for s in range(n):
            bbox = 0.8 + 0.05 * rng.normal() + (2.0 if s in (700, 1900) else 0.0)
            falling = np.exp(-s / 800)
            w.step(
                s,
                {
                    "bbox": bbox,
                    "cls": 0.6 + 0.6 * falling + 0.02 * rng.normal(),
                    "supcon": 0.5 + 0.5 * falling + 0.02 * rng.normal(),
                    "cpe": 0.3 + 0.3 * falling,
                },
                lr=1e-3 if s < n // 2 else 2e-6,
                positives=20,
            )
            if s % 300 == 299:
                w.eval(s, {"map50": 0.0, "st_iou": 0.0})
    monkeypatch.setenv("INSPECTOR_ROOTS", str(tmp_path))
    at = _open_path("app.py", path)
    _no_exception(at)
    assert [h.value for h in at.subheader][:2] == [f"Run: {path.resolve()}", "Start here"]
    causes = [
        m.value
        for m in at.markdown
        if m.value.startswith("**1.") or m.value.startswith("**2.") or m.value.startswith("**3.")
    ]
    assert causes[0].startswith("**1. Targets, box format or anchor assignment**")
    assert causes[-1].startswith("**3. Loss balance")
    assert any("Do not change bbox's weight yet" in w.value for w in at.warning)


def test_every_finding_look_links_to_a_registered_page():
    from typing import get_args

    from inspector.findings import Look
    from inspector.ui import nav
    from inspector.ui.findings import LOOK_PAGES, page_for

    assert set(LOOK_PAGES) == set(get_args(Look))
    assert {page for page, _ in LOOK_PAGES.values()} <= set(nav.PAGES)
    assert all(page_for(look) for look in get_args(Look))  # every page is installed in this checkout


def test_each_band_draws_its_own_envelope(standin: Path) -> None:
    at = _open_path("pages/1_Loss_curves.py", standin)
    radio = at.sidebar.radio(key="band")
    assert radio.options == ["rolling mean ± k·std", "rolling quantiles", "none"]  # labels of the Band values
    bands = {}
    for band in ("std", "quantiles", "none"):
        at.sidebar.radio(key="band").set_value(band).run()
        _no_exception(at)
        bands[band] = [t for t in _traces(at, "loss_chart") if t.get("fill")]
    assert bands["std"] and bands["quantiles"] and not bands["none"]
    assert _ys(bands["std"][0]).tolist() != _ys(bands["quantiles"][0]).tolist()


def _weights(at: AppTest) -> dict[str, float]:
    return {n.label.removesuffix(" weight"): n.value for n in at.number_input if n.label.endswith(" weight")}


@pytest.mark.skipif(not HAS_DEMO, reason="demo/runs not bundled in this checkout")
def test_whatif_presets_from_the_demo_runs_log_fill_the_weights() -> None:
    at = _open("pages/1_Loss_curves.py")
    _no_exception(at)
    current = _weights(at)
    assert current == {"cls": 0.5, "bbox": 7.5, "supcon": 1.0, "cpe": 0.5}
    assert at.button(key="preset_current").proto.type == "primary"
    assert at.button(key="preset_equal_grad_share").disabled  # nothing measured on the Loss balance page
    total = next(m for m in at.metric if m.label == "what-if total (mean)").value
    for preset in ("uncertainty", "dwa"):
        at.button(key=f"preset_{preset}").click().run()
        _no_exception(at)
        assert at.button(key=f"preset_{preset}").proto.type == "primary"
        weights = _weights(at)
        assert weights != current and sum(weights.values()) == pytest.approx(sum(current.values()))
        assert weights["bbox"] < current["bbox"]  # the troubled run's bbox ×7.5 is what both take down
        assert next(m for m in at.metric if m.label == "what-if total (mean)").value != total
    at.button(key="preset_current").click().run()
    assert _weights(at) == current


def test_dwa_is_disabled_on_a_log_too_short_for_its_windows(tmp_path: Path, monkeypatch) -> None:
    path = tmp_path / "short" / "log.jsonl"
    with RunWriter(path, config={"loss_weights": {"bbox": 7.5, "cls": 0.5}}) as w:
        for s in range(1, 6):
            w.step(s, {"bbox": 1.0 / s, "cls": 2.0 / s}, lr=1e-3)
    monkeypatch.setenv("INSPECTOR_ROOTS", str(tmp_path))
    at = _open_path("pages/1_Loss_curves.py", path)
    _no_exception(at)
    assert at.button(key="preset_dwa").disabled and not at.button(key="preset_uncertainty").disabled
    assert any("DWA (Liu et al. 2019): not available — the log is too short" in c.value for c in at.caption)


def test_a_measured_balance_gives_the_equal_gradient_share_preset_and_predicted_shares(standin: Path) -> None:
    from inspector import balance
    from inspector.ui.loss_views import PRESET_REQUEST, MeasuredBalance, balance_state_key

    # bbox's weighted gradient 9× cls's and supcon's on every episode: equal shares take bbox's weight down 9×
    names = ("bbox", "cls", "supcon")
    grams = np.stack([np.diag([81.0, 1.0, 1.0]) * (1 + e) for e in range(4)])
    raw = np.tile([0.5, 1.0, 2.0], (4, 1))
    measured = balance.Measurements(names, grams, raw, raw * [7.5, 0.5, 0.1])
    report = balance.balance_report("run/best.pt", measured, np.array([7.5, 0.5, 0.1]))
    key = balance_state_key(standin)
    at = AppTest.from_file(str(REPO / "pages/1_Loss_curves.py"), default_timeout=TIMEOUT)
    at.session_state[key] = MeasuredBalance("run/best.pt", report, key)
    at.session_state[PRESET_REQUEST] = (key, "equal_grad_share")  # what the Loss balance page's button asks
    at.run()
    at.sidebar.radio(key="run_kind").set_value("server path").run()
    at.sidebar.text_input(key="run_path").input(str(standin)).run()
    _no_exception(at)
    assert at.button(key="preset_equal_grad_share").proto.type == "primary"
    expected = report.suggestion("equal_grad_share").weights
    assert _weights(at) == pytest.approx(expected)
    predicted = {m.label: m.value for m in at.metric if m.label.endswith("share of gradient")}
    assert predicted == {f"{n} share of gradient": "33%" for n in names}
    at.button(key="preset_current").click().run()
    measured_bbox = next(m for m in at.metric if m.label == "bbox share of gradient")
    assert measured_bbox.value == "82%" and measured_bbox.delta == "+0 pp"  # 9 / 11 at the current weights
