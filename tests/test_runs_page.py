"""pages/5_Runs.py driven by AppTest on a real sweep (tests/test_sweep.py's 3 configs × 4 seeds of RunWriter
logs): the run table, groups by name and by config key with a band each, the runs drawn, the band kinds,
each group's findings counted, an unreadable run's row, and paths the page must refuse."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest
from test_sweep import CONFIGS, SEEDS, write_run, write_sweep

from inspector.ui.runs_views import HOW_TO

REPO = Path(__file__).resolve().parents[1]
PAGE = str(REPO / "pages" / "5_Runs.py")
TIMEOUT = 120
RUNS = len(CONFIGS) * SEEDS


@pytest.fixture(scope="module")
def sweep_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = write_sweep(tmp_path_factory.mktemp("runs_page"))
    (root / "crashed").mkdir()
    (root / "crashed" / "log.jsonl").write_bytes(b"")  # a run that died before its first line
    (root / "notes.txt").write_text("the sweep's plan\nnothing to read\n")  # no reader claims it
    return root


@pytest.fixture()
def roots(sweep_root: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("INSPECTOR_ROOTS", str(sweep_root.parent))
    return sweep_root


def _open(root: Path | str | None = None) -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=TIMEOUT).run()
    if root is not None:
        at.sidebar.text_input(key="runs_root").input(str(root)).run()
    return at


def _clean(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


def _traces(at: AppTest) -> list[dict]:
    charts = [c for c in at.get("plotly_chart") if (c.proto.id or "").endswith("runs_chart")]
    assert charts, "no bands chart"
    return json.loads(charts[0].proto.spec)["data"]


def _bands(at: AppTest) -> dict[str, dict]:
    """{group: its filled band trace}."""
    return {t["legendgroup"]: t for t in _traces(at) if t.get("fill") == "tonexty"}


def test_without_a_folder_the_page_says_what_to_give(roots: Path) -> None:
    at = _open()
    assert not at.exception
    assert any(i.value == HOW_TO for i in at.info)


def test_the_sweep_is_a_table_and_a_band_per_config(roots: Path) -> None:
    at = _open(roots)
    _clean(at)
    table = at.dataframe[0].value
    assert len(table) == RUNS + 1
    assert list(table.columns) == [
        "run",
        "format",
        "steps",
        "eval/map50 last",
        "eval/map50 best",
        "last loss",
        "top finding",
        "error",
    ]
    rows = table.set_index("run")
    assert "the file is empty" in rows.loc["crashed", "error"]
    assert rows.loc["heavy_seed0", "top finding"].startswith("loss_balance")
    assert rows.loc["base_seed0", "steps"] == 300 and rows.loc["base_seed0", "error"] == ""
    assert any("1 file(s) not read as runs" in e.label for e in at.expander)
    # grouped by name by default, seeds as *: one band and one mean line per config
    bands = _bands(at)
    assert list(bands) == ["base_seed*", "collapse_seed*", "heavy_seed*"]
    lines = [t for t in _traces(at) if t.get("showlegend") is not False]
    assert [t["name"] for t in lines] == ["base_seed* (n=4)", "collapse_seed* (n=4)", "heavy_seed* (n=4)"]
    assert at.selectbox(key="runs_metric").value == "eval/map50"
    markdown = " ".join(m.value for m in at.markdown)
    assert "**dominant_component** in 3 of 4 runs" in markdown
    assert "**lr_collapsed** in 4 of 4 runs" in markdown


def test_the_run_table_writes_each_number_for_what_it_is(sweep_root: Path) -> None:
    from inspector.sweep import discover, read_sweep
    from inspector.ui import tables
    from inspector.ui.runs_views import metric_kind, runs_table, table_kinds

    assert [metric_kind(m) for m in ("eval/map50", "val/mAP50-95", "eval/iou", "loss/total")] == [
        "map",
        "map",
        "iou",
        "loss",
    ]
    table = runs_table(read_sweep(discover(sweep_root)), "eval/map50")
    assert set(table_kinds("eval/map50")) <= set(table.columns)
    cells = tables.styled(table, table_kinds("eval/map50")).to_html()
    crashed = cells[cells.index(">crashed<") :].split("</tr>")[0]
    assert ">None<" not in crashed and ">nan<" not in crashed  # an unread run's numbers are empty cells


def test_group_by_config_key_and_by_pattern(roots: Path) -> None:
    at = _open(roots)
    at.sidebar.radio(key="runs_group_kind").set_value("key").run()
    key = at.sidebar.selectbox(key="runs_group_key")
    assert "lr_floor" in key.options and "lr" not in key.options  # only what the sweep varied
    key.set_value("lr_floor").run()
    _clean(at)
    assert list(_bands(at)) == ["lr_floor=1e-09", "lr_floor=1e-05"]
    at.sidebar.radio(key="runs_group_kind").set_value("pattern").run()
    at.sidebar.text_input(key="runs_pattern").input("^(base|heavy)").run()
    _clean(at)
    assert list(_bands(at)) == ["base", "heavy", "(no match)"]


def test_band_kinds_and_the_runs_drawn(roots: Path) -> None:
    at = _open(roots)
    at.selectbox(key="runs_metric").set_value("loss/total").run()
    at.radio(key="runs_band").set_value("minmax").run()
    _clean(at)
    traces = _traces(at)
    upper, lower, mean = traces[0], traces[1], traces[2]
    assert lower["fill"] == "tonexty" and mean["name"] == "base_seed* (n=4)"
    assert np.all(np.array(upper["y"]) >= np.array(mean["y"])) and np.all(
        np.array(lower["y"]) <= np.array(mean["y"])
    )
    overlay = next(m for m in at.multiselect if m.key.startswith("runs_overlay:"))
    assert len(overlay.value) == RUNS  # every readable run, under the cap
    overlay.set_value(["base_seed0", "heavy_seed1", "heavy_seed2"]).run()
    _clean(at)
    names = [t["name"] for t in _traces(at) if t.get("showlegend") is not False]
    assert names == ["base_seed* (n=1)", "heavy_seed* (n=2)"]


def test_paths_the_page_must_refuse(roots: Path, tmp_path: Path) -> None:
    at = _open("/etc")
    assert not at.exception
    assert any("outside the allowed roots" in e.value for e in at.main.error)
    log = write_run(roots.parent / "single" / "log.jsonl", "base", 0, steps=10)
    at.sidebar.text_input(key="runs_root").input(str(log)).run()
    assert not at.exception
    assert any("not a folder" in e.value for e in at.main.error)
