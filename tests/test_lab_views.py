"""inspector/ui/lab_views.py on the Episodes and Compare pages (AppTest on the demo's checkpoints): the TIDE
breakdown, the assignment coverage, the PR curves and confusion matrices render as charts, without errors."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from inspector.tide import ERROR_TYPES
from inspector.ui.episode_views import demo_checkpoints
from inspector.ui.lab_views import ERROR_NAMES, coverage_table, errors_table

REPO = Path(__file__).resolve().parents[1]
TIMEOUT = 300

needs_demo = pytest.mark.skipif(
    len(demo_checkpoints()) < 2, reason="the demo's checkpoints are not built (python -m inspector demo)"
)


def _clean(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


def _charts(at: AppTest) -> list:
    return at.get("plotly_chart")


@needs_demo
def test_episodes_page_breaks_errors_down_and_measures_coverage_on_the_demo(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("INSPECTOR_CACHE_DIR", str(tmp_path))
    at = AppTest.from_file(str(REPO / "pages" / "2_Episodes.py"), default_timeout=TIMEOUT).run()
    _clean(at)
    before = len(_charts(at))
    at.number_input(key="ep_lab_episodes").set_value(6).run()
    at.toggle(key="ep_lab_on").set_value(True).run()
    _clean(at)
    # the dAP bars, the coverage chart, the PR curves and the confusion matrix
    assert len(_charts(at)) >= before + 4
    assert any("TIDE" in c.value for c in at.caption)
    assert any(m.label.startswith("starved") for m in at.metric)
    coverage = next(d.value for d in at.dataframe if "positives per target" in d.value.columns)
    names = {g.removeprefix("class: ") for g in coverage["group"] if g.startswith("class: ")}
    assert names and not any(n.isdigit() for n in names)  # classes by name, not by id


@needs_demo
def test_compare_page_shows_a_vs_b_errors_pr_curves_and_confusion(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("INSPECTOR_CACHE_DIR", str(tmp_path))
    at = AppTest.from_file(str(REPO / "pages" / "3_Compare.py"), default_timeout=TIMEOUT)
    at.session_state["cmp_tab"] = "Aggregate"  # the aggregate's tab evaluates only when open
    at.session_state["cmp_episodes"] = 6
    at.run()
    _clean(at)
    tables = [d.value for d in at.dataframe]
    tide = next(t for t in tables if "what to look at" in t.columns)
    assert {"count A", "count B", "dAP A", "dAP B"} <= set(tide.columns)
    assert list(tide["error"]) == [ERROR_NAMES[k] for k in ERROR_TYPES]
    assert len(_charts(at)) >= 4  # dAP bars, PR curves, two confusion matrices


def test_errors_table_names_one_unnamed_side_plainly() -> None:
    import numpy as np

    from inspector.tide import error_breakdown

    record = (
        np.array([[0, 0, 10, 10]], np.float32),
        np.array([0]),
        np.array([[0, 0, 10, 10], [50, 50, 60, 60]], np.float32),
        np.array([0.9, 0.8], np.float32),
        np.array([0, 0]),
    )
    table = errors_table({"": error_breakdown([record])})
    assert {"count", "dAP", "what to look at"} <= set(table.columns)
    assert int(table.loc[table["error"] == "background", "count"].iloc[0]) == 1


def test_coverage_table_has_a_row_per_size_and_named_class_with_targets() -> None:
    group = {"count": 4, "mean_positives": 2.5, "without_positive": 1}
    empty = {"count": 0, "mean_positives": math.nan, "without_positive": 0}
    entry = {
        "targets": {"by_size": {"small": group, "large": empty}, "by_class": {"circle": group}},
        "starved": {
            "min_positives": 3,
            "by_size": {"small": {"fraction": 0.5}, "large": {"fraction": math.nan}},
            "by_class": {"circle": {"fraction": 0.25}},
        },
    }
    table = coverage_table(entry)
    assert list(table["group"]) == ["size: small", "class: circle"]  # a bucket without targets is left out
    assert list(table["starved share"]) == [0.5, 0.25] and list(table["targets"]) == [4, 4]
