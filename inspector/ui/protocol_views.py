"""The Compare page's few-shot protocol: A and B over K-shot × seeds, per-K intervals, and a verdict that says
when the difference cannot be told from the variance (inspector.protocol, as `evaluate --k-shot … --seeds …`
and `compare` run it)."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from inspector.batch import EvalSettings, run_meta
from inspector.plan import trained_config
from inspector.protocol.files import GridResult
from inspector.protocol.fingerprint import protocol_differences
from inspector.protocol.grid import Grid
from inspector.protocol.metrics import LABELS, metric_names
from inspector.protocol.report import ScoredCell, grid_summary
from inspector.protocol.run import run_grid, scored
from inspector.protocol.split import WAYS_FROM, ClassSplit, WaysFrom, config_split, make_split
from inspector.protocol.verdict import default_metric, verdicts
from inspector.serialize import dumps
from inspector.ui import episode_views as views
from inspector.ui import tables
from inspector.ui.delta_tables import DELTA
from inspector.ui.downloads import pair_file_name
from inspector.ui.episode_views import Choice
from inspector.ui.torch_threads import one_torch_thread

DEFAULT_K_SHOTS = "1,3,5"
DEFAULT_SEEDS = "0-4"
DEFAULT_CELL_EPISODES = 20
_STATE = "protocol_results"  # per session: the protocols run, by what decides them


@dataclass(frozen=True)
class Request:
    """What the form asks for."""

    grid: Grid
    episodes: int
    novel: tuple[str, ...]
    ways_from: WaysFrom


@dataclass(frozen=True)
class Outcome:
    """Both sides' grids, scored, with their per-K summaries."""

    a: GridResult
    b: GridResult
    cells_a: list[ScoredCell]
    cells_b: list[ScoredCell]
    summary_a: list[dict[str, Any]]
    summary_b: list[dict[str, Any]]
    split: ClassSplit | None


def default_split(ckpt: Choice, class_names: list[str]) -> ClassSplit | None:
    """The split A's train config names, if any (and if it fits this dataset)."""
    try:
        return config_split(trained_config(ckpt.path), class_names)
    except Exception:  # noqa: BLE001 — a config naming other classes just gives no default here
        return None


def request_form(class_names: list[str], preset: ClassSplit | None) -> Request | None:
    """The protocol's form; the Request when submitted (and valid), else None."""
    with st.form("protocol_form"):
        c1, c2, c3 = st.columns(3)
        k_text = c1.text_input("K-shot", DEFAULT_K_SHOTS, help="one K or a list: 1,3,5", key="protocol_k")
        seeds_text = c2.text_input(
            "Seeds", DEFAULT_SEEDS, help="a list or ranges: 0-4, or 0,2,7", key="protocol_seeds"
        )
        episodes = int(
            c3.number_input(
                "Episodes per cell", 1, 2000, DEFAULT_CELL_EPISODES, step=10, key="protocol_episodes"
            )
        )
        novel = st.multiselect(
            "Novel classes (the rest are base)",
            class_names,
            default=list(preset.novel) if preset else [],
            help="reports nAP and bAP per K"
            + (f"; preset from {preset.source}" if preset else "; none: every class counts alike"),
            key="protocol_novel",
        )
        ways_from: WaysFrom = st.radio(
            "Episodes draw their ways from", WAYS_FROM, index=2, horizontal=True, key="protocol_ways"
        )
        submitted = st.form_submit_button("Run the protocol", type="primary", key="protocol_run")
    if not submitted:
        return None
    grid = Grid.parse(k_text, seeds_text)
    return Request(grid, episodes, tuple(novel), ways_from)


def run_side(
    choice: Choice,
    adapter: str,
    data: Choice,
    base: EvalSettings,
    r: Request,
    split: ClassSplit | None,
    label: str,
) -> GridResult:
    detector = views.cached_detector(choice.key, adapter)
    dataset = views.cached_dataset(data.key)
    run = run_meta(choice.path, adapter, dataset, None, base, dataset.class_names, base.episodes)
    bar = st.progress(0.0, text=f"Evaluating {label} over the grid…")

    def progress(done: int, todo: int) -> None:
        bar.progress(done / max(todo, 1), text=f"Evaluating {label}: episode {done} of {todo} over the grid")

    with one_torch_thread():
        out = run_grid(
            detector, dataset, None, base, r.grid, run, split, r.ways_from, cache=True, progress=progress
        )
    bar.empty()
    return out


def run_protocol(
    a: tuple[Choice, str], b: tuple[Choice, str], data: Choice, settings: EvalSettings, r: Request
) -> Outcome:
    """A's and B's grids (each cell from the evaluation cache when there), scored and summarised."""
    names = list(views.cached_dataset(data.key).class_names)
    split = make_split(names, r.novel, None, "chosen here") if r.novel else None
    base = replace(settings, episodes=r.episodes, k_shot=r.grid.k_shots[0])
    ga = run_side(a[0], a[1], data, base, r, split, "A")
    gb = ga if (a[0].key, a[1]) == (b[0].key, b[1]) else run_side(b[0], b[1], data, base, r, split, "B")
    with st.spinner("Intervals over seeds and episodes…"):
        ca, cb = scored(ga), scored(gb)
        return Outcome(ga, gb, ca, cb, grid_summary(ca, split, names), grid_summary(cb, split, names), split)


def render_protocol(
    a: tuple[Choice, str], b: tuple[Choice, str], data: Choice, settings: EvalSettings
) -> None:
    """The protocol tab: the form, then (once run in this session) the verdicts, tables and chart."""
    st.markdown(
        "Few-shot results swing with the episode seed: one seed at one K often cannot tell A from B. "
        "Run both over K-shot × seeds; each K gets a 95% interval over seeds (and over episodes within "
        "seeds), and the verdict says when the difference is within the noise."
    )
    names = list(views.cached_dataset(data.key).class_names)
    request = request_form(names, default_split(a[0], names))
    results: dict[tuple, Outcome] = st.session_state.setdefault(_STATE, {})
    pair_key = (a[0].key, a[1], b[0].key, b[1], data.key, settings)
    if request is not None:
        results[pair_key] = run_protocol(a, b, data, settings, request)
    outcome = results.get(pair_key)
    if outcome is None:
        st.info("Set the grid and press **Run the protocol** (each cell is kept in the evaluation cache).")
        return
    render_outcome(outcome, names, (a[0].label, b[0].label))


def render_outcome(o: Outcome, class_names: list[str], labels: tuple[str, str] = ("A", "B")) -> None:
    """The verdicts, the seed chart, the per-K and per-cell tables and the download of both grids (named
    after the checkpoints' `labels`)."""
    available = list(metric_names(o.split))
    metric = st.selectbox(
        "Metric",
        available,
        index=available.index(default_metric(o.split)),
        format_func=lambda m: LABELS[m],
        key="protocol_metric",
    )
    differences = protocol_differences(o.a.fingerprint, o.b.fingerprint)
    if differences:  # e.g. A's adapter declares test-time augmentation and B's does not
        st.error("A and B were evaluated under different protocols: " + "; ".join(differences))
        if not st.checkbox("Compare anyway (every number is marked)", key="protocol_allow_diff"):
            return
    mark = " [protocol differs]" if differences else ""
    for v in verdicts(o.cells_a, o.cells_b, metric, o.split, class_names):
        show = (
            st.success if v.distinguishable and v.delta > 0 else st.error if v.distinguishable else st.warning
        )
        show(v.sentence() + mark)
    st.plotly_chart(seed_figure(o, metric), key="protocol_chart")
    st.markdown(f"**Per K: mean ± std over seeds, 95% intervals**{mark}")
    kind = metric_kind(metric)
    tables.show(
        _marked(summary_table(o, metric), mark),
        {"K": "count", "seeds": "count", "mean": kind, "std": kind},
        "protocol_summary",
    )
    st.markdown(f"**Per (K, seed) cell**{mark}")
    tables.show(
        _marked(cell_table(o, metric), mark).rename(columns={DELTA: tables.change_header(DELTA, "higher")}),
        {"K": "count", "seed": "count", "A": kind, "B": kind, tables.change_header(DELTA, "higher"): kind},
        "protocol_cells",
        better={tables.change_header(DELTA, "higher"): "higher"},
    )
    with st.expander("Protocol fingerprint"):
        st.json(o.a.fingerprint, expanded=False)
        st.download_button(
            "Download both grids (JSON)",
            dumps(
                {"a": _grid_json(o.cells_a, o.summary_a, o.a), "b": _grid_json(o.cells_b, o.summary_b, o.b)}
            ),
            file_name=pair_file_name(*labels, "protocol.json"),
            mime="application/json",
            key="protocol_download",
        )


def _grid_json(cells: list[ScoredCell], summary: list[dict[str, Any]], g: GridResult) -> dict[str, Any]:
    from inspector.protocol.report import cell_rows

    return {"cells": cell_rows(cells), "summary": summary, "fingerprint": g.fingerprint}


def _marked(table: pd.DataFrame, mark: str) -> pd.DataFrame:
    """The table with a column saying, on every row, that its numbers cross a protocol difference."""
    return table.assign(protocol=mark.strip(" []")) if mark else table


def metric_kind(metric: str) -> tables.Kind:
    """How a protocol metric is written: ST-IoU as an IoU (3 decimals), the APs as mAP (4)."""
    return "iou" if metric == "st_iou" else "map"


def summary_table(o: Outcome, metric: str) -> pd.DataFrame:
    rows = []
    for side, summary in (("A", o.summary_a), ("B", o.summary_b)):
        for s in summary:
            m = s["metrics"][metric]
            boot = m["ci_bootstrap"] or [math.nan, math.nan]
            rows.append(
                {
                    "K": s["k_shot"],
                    "side": side,
                    "seeds": m["seeds"],
                    "mean": m["mean"],
                    "std": m["std"],
                    "95% CI over seeds": _span(m["ci"], metric_kind(metric)),
                    "95% CI over episodes": _span(boot, metric_kind(metric)),
                }
            )
    return pd.DataFrame(rows).sort_values(["K", "side"], kind="stable")


def cell_table(o: Outcome, metric: str) -> pd.DataFrame:
    b = {c.cell: c for c in o.cells_b}
    rows = []
    for ca in o.cells_a:
        va, vb = ca.numbers[metric], b[ca.cell].numbers[metric] if ca.cell in b else math.nan
        rows.append({"K": ca.cell.k_shot, "seed": ca.cell.seed, "A": va, "B": vb, DELTA: vb - va})
    return pd.DataFrame(rows)


def _span(ends: list[float], kind: tables.Kind) -> str:
    """An interval as "[low, high]" written as `kind`; empty when an end is missing."""
    low, high = ends
    if low is None or high is None or math.isnan(low) or math.isnan(high):
        return ""
    write = tables.formatter(kind)
    return f"[{write(low)}, {write(high)}]"


def seed_figure(o: Outcome, metric: str) -> go.Figure:
    """Per K: every seed's value for A and B, and each side's mean with its 95% interval over seeds."""
    fig = go.Figure()
    for side, cells, summary, offset, color in (
        ("A", o.cells_a, o.summary_a, -0.12, "#d62728"),
        ("B", o.cells_b, o.summary_b, 0.12, "#1f77b4"),
    ):
        fig.add_trace(
            go.Scatter(
                x=[c.cell.k_shot + offset for c in cells],
                y=[c.numbers[metric] for c in cells],
                mode="markers",
                marker={"color": color, "opacity": 0.45, "size": 7},
                name=f"{side}, one seed",
                text=[f"seed {c.cell.seed}" for c in cells],
            )
        )
        means = [s["metrics"][metric] for s in summary]
        fig.add_trace(
            go.Scatter(
                x=[s["k_shot"] + offset for s in summary],
                y=[m["mean"] for m in means],
                mode="markers",
                marker={"color": color, "size": 13, "symbol": "diamond"},
                error_y={
                    "type": "data",
                    "symmetric": False,
                    "array": [_or0(m["ci"][1] - m["mean"]) for m in means],
                    "arrayminus": [_or0(m["mean"] - m["ci"][0]) for m in means],
                },
                name=f"{side}, mean and 95% CI",
            )
        )
    fig.update_layout(
        xaxis_title="K-shot",
        yaxis_title=LABELS[metric],
        xaxis={"tickmode": "array", "tickvals": sorted({c.cell.k_shot for c in o.cells_a})},
        height=360,
        margin={"l": 40, "r": 10, "t": 10, "b": 40},
    )
    return fig


def _or0(x: float | None) -> float:
    return 0.0 if x is None or not isinstance(x, float) or math.isnan(x) else x
