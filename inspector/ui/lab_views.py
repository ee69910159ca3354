"""Error analysis over many episodes, for the Episodes and Compare pages: the TIDE breakdown (which kind of
error costs the AP, and which loss term it points at), per-class PR curves, the confusion matrix and the
assignment coverage.

Everything here composes records the core computes (inspector/tide.py, batch.summarize's "pr_curves" and
"confusion", inspector/coverage.py) with figures from inspector/charts.py; results are cached by content.
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from inspector import charts
from inspector.batch import BatchResult, EpisodePlan, EvalSettings
from inspector.coverage import coverage_dict, measure_coverage, summarize_coverage
from inspector.tide import ERROR_TYPES, LEVERS, ErrorBreakdown
from inspector.ui import episode_views as views
from inspector.ui import tables
from inspector.ui.compare_views import aggregate
from inspector.ui.episode_views import Choice
from inspector.ui.pair_jobs import breakdown_of, identity
from inspector.ui.torch_threads import one_torch_thread

# Episodes the Episodes page analyses by default: at the demo's ~20 episodes/s, a few seconds per checkpoint.
DEFAULT_EPISODES = 50

ERROR_NAMES = {
    "cls": "classification",
    "loc": "localisation",
    "both": "cls and loc",
    "dupe": "duplicate",
    "bkg": "background",
    "missed": "missed",
}


def _named(column: str, side: str) -> str:
    """A column's name for one side ("dAP A"), or plain when there is one unnamed side."""
    return f"{column} {side}" if side else column


def episodes_input(key: str, default: int = DEFAULT_EPISODES) -> int:
    """How many episodes to analyse (the plan `evaluate` draws, from episode 0)."""
    return int(st.number_input("Episodes", min_value=1, max_value=5000, value=default, step=10, key=key))


def evaluation(
    checkpoint: Choice, adapter: str, data: Choice, settings: EvalSettings, episodes: int
) -> BatchResult:
    """The checkpoint's BatchResult over `episodes` episodes, as the Compare page's aggregate (and `evaluate`)
    computes it: from the on-disk cache when present."""
    return aggregate(checkpoint, adapter, data, settings, episodes, checkpoint.label)


@st.cache_data(max_entries=8, show_spinner="Breaking the errors down (TIDE)…")
def _breakdown(identity: str, _result: BatchResult) -> ErrorBreakdown | None:
    return breakdown_of(_result)


def breakdown(result: BatchResult) -> ErrorBreakdown | None:
    """The TIDE breakdown of a result's query images (None when it has none), cached by content."""
    return _breakdown(identity(result), result)


def errors_table(breakdowns: dict[str, ErrorBreakdown]) -> pd.DataFrame:
    """One row per error type: its count and dAP@0.5 per side, and the lever it points at."""
    rows = []
    for kind in ERROR_TYPES:
        row: dict[str, Any] = {"error": ERROR_NAMES[kind]}
        for side, b in breakdowns.items():
            impact = b.errors[kind]
            row[_named("count", side)] = impact.count
            row[_named("dAP", side)] = impact.dap
        row["what to look at"] = LEVERS[kind]
        rows.append(row)
    return pd.DataFrame(rows)


# Built once per content and kept (st.cache_resource: the same object, not a copy, which plotly would validate
# again): building these three figures was 0.23 s of a 0.42 s Compare rerun once everything else was cached.
@st.cache_resource(max_entries=16, show_spinner=False)
def _tide_figure(daps: dict[str, dict[str, float]]) -> go.Figure:
    return charts.error_breakdown_figure(daps)


# Their numbers come as arrays: Streamlit hashes an array's bytes at once but a list element by element (the
# PR curves' lists were 13% of a Compare rerun).
@st.cache_resource(max_entries=16, show_spinner=False)
def _pr_figure(curves: dict[str, tuple[np.ndarray, np.ndarray]]) -> go.Figure:
    lines = {name: (recall.tolist(), precision.tolist()) for name, (recall, precision) in curves.items()}
    return charts.pr_curves_figure(lines, "Precision-recall per class, IoU 0.5")


@st.cache_resource(max_entries=16, show_spinner=False)
def _confusion_figure(labels: list[str], matrix: np.ndarray, title: str) -> go.Figure:
    return charts.confusion_figure(labels, matrix.tolist(), title)


def render_errors(breakdowns: dict[str, ErrorBreakdown], key: str) -> None:
    """The TIDE section: AP@0.5 per side, the dAP bars (what fixing each error type would gain) and the table
    of counts, dAPs and levers."""
    st.caption(
        "TIDE (Bolya et al. 2020): each false positive and missed object gets one error type (foreground IoU "
        "0.5, background 0.1); dAP is the AP@0.5 gained by fixing all errors of that type, recomputed by "
        "pycocotools. " + " · ".join(f"{side}: AP@0.5 {b.ap50:.3f}" for side, b in breakdowns.items())
    )
    daps = {side: {ERROR_NAMES[k]: b.errors[k].dap for k in ERROR_TYPES} for side, b in breakdowns.items()}
    st.plotly_chart(_tide_figure(daps), width="stretch", key=f"{key}_tide")
    kinds: dict[str, tables.Kind] = {}
    for side in breakdowns:
        kinds |= {_named("count", side): "count", _named("dAP", side): "map"}
    tables.show(errors_table(breakdowns), kinds, f"{key}_tide_table")


def render_pr_and_confusion(summaries: dict[str, dict[str, Any]], key: str) -> None:
    """Per-class PR curves at IoU 0.5 (one line per class and side) and each side's confusion matrix with its
    background row and column."""
    curves = {}
    for side, summary in summaries.items():
        pr = summary.get("pr_curves") or {}
        for name, c in (pr.get("classes") or {}).items():
            label = f"{name} ({side})" if len(summaries) > 1 else name
            # a missing precision (past the class's highest recall) is None: nan in the array, a gap drawn
            curves[label] = (np.asarray(pr["recall"], np.float64), np.array(c["precision"], np.float64))
    if curves:
        st.plotly_chart(_pr_figure(curves), width="stretch", key=f"{key}_pr")
    columns = st.columns(len(summaries))
    for col, (side, summary) in zip(columns, summaries.items(), strict=True):
        confusion = summary.get("confusion")
        if not confusion:
            continue
        gate = confusion.get("score_threshold")
        title = (
            f"{side}: confusion at IoU {confusion['iou_threshold']:g}"
            f"{'' if gate is None else f', score ≥ {gate:g}'} (rows true, columns predicted)"
        )
        col.plotly_chart(
            _confusion_figure(confusion["labels"], np.asarray(confusion["matrix"], np.int64), title),
            width="stretch",
            key=f"{key}_confusion_{side}",
        )


@st.cache_data(max_entries=8, show_spinner="Measuring the assignment coverage…")
def coverage(
    checkpoint: Choice, adapter: str, data: Choice, settings: EvalSettings, episodes: int
) -> dict[str, Any]:
    """The assignment coverage of the checkpoint over `episodes` episodes (the JSON form of
    coverage.summarize_coverage, as the `coverage` command writes it)."""
    detector = views.cached_detector(checkpoint.key, adapter)
    plan = EpisodePlan(views.cached_dataset(data.key), None, replace(settings, episodes=episodes))
    with one_torch_thread():
        run = measure_coverage(detector, plan)
    summary = summarize_coverage(run.targets)
    return {**coverage_dict(summary), "queries_without_assignment": run.queries_without_assignment}


def render_coverage(entry: dict[str, Any], key: str) -> None:
    """Positives per target by size bucket and class, the starved share, and the overlooked anchors."""
    t, s = entry["targets"], entry["starved"]
    cols = st.columns(4)
    cols[0].metric("targets", t["count"])
    cols[1].metric("positives per target", f"{t['mean_positives']:.2f}" if t["count"] else "n/a")
    cols[2].metric(f"starved (< {s['min_positives']} positives)", f"{s['count']}")
    overlooked = t.get("overlooked_anchors")
    cols[3].metric(
        "overlooked anchors",
        "n/a" if overlooked is None else overlooked,
        help="Anchors left negative although their predicted box fits a target (IoU ≥ 0.5 and ≥ its weakest "
        "positive's): their class score kept them out of TAL's top-k, the score feedback loop.",
    )
    groups = {f"size: {b}": g for b, g in t["by_size"].items() if g["count"]}
    groups |= {f"class: {c}": g for c, g in t["by_class"].items()}
    starved = {f"size: {b}": g for b, g in s["by_size"].items()} | {
        f"class: {c}": g for c, g in s["by_class"].items()
    }
    st.plotly_chart(
        charts.coverage_figure(
            {name: g["mean_positives"] for name, g in groups.items()},
            {name: starved[name]["fraction"] for name in groups},
        ),
        width="stretch",
        key=f"{key}_coverage",
    )
    tables.show(coverage_table(entry), COVERAGE_KINDS, f"{key}_coverage_table")
    if entry.get("queries_without_assignment"):
        st.warning(f"{entry['queries_without_assignment']} queries came without an assignment.")


COVERAGE_KINDS: dict[str, tables.Kind] = {
    "targets": "count",
    "positives per target": "mean",
    "without a positive": "count",
    "starved share": "share",
}


def coverage_table(entry: dict[str, Any]) -> pd.DataFrame:
    """One row per size bucket and per class (by name) with targets: how many, their positives per target, how
    many have no positive, and the share starved (fewer than the starved minimum), as coverage_figure draws
    them."""
    t, s = entry["targets"], entry["starved"]
    rows = [
        {
            "group": f"{label}: {name}",
            "targets": g["count"],
            "positives per target": g["mean_positives"],
            "without a positive": g["without_positive"],
            "starved share": s[by].get(name, {}).get("fraction", math.nan),
        }
        for by, label in (("by_size", "size"), ("by_class", "class"))
        for name, g in t[by].items()
        if g["count"]
    ]
    return pd.DataFrame(rows)
