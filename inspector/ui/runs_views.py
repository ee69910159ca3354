"""The Runs page's parts: a sweep directory on the server, read once per content, its run table, the pickers
(runs to overlay, grouping, metric, band) and the bands chart, and each group's spread and shared findings."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from inspector.band_charts import GroupBand, bands_figure
from inspector.errors import InspectorError
from inspector.sweep import (
    BAND_KINDS,
    BandKind,
    Group,
    GroupBy,
    Sweep,
    curve_names,
    discover,
    group_band,
    group_findings,
    group_runs,
    read_sweep,
    varying_keys,
    walk,
)
from inspector.sweep.bands import BAND_LABELS
from inspector.sweep.grouping import compile_pattern
from inspector.sweep.report import spread_text, top_text
from inspector.ui import tables
from inspector.ui.locations import server_location
from inspector.ui.sources import report

# Lines a chart stays readable with: 24 runs is 6 configs × 4 seeds, and as many legend entries when
# each run is its own group.
MAX_OVERLAY = 24
HOW_TO = (
    "Give the folder that holds a sweep's runs in the sidebar: every log file inspector reads and every "
    "TensorBoard run directory under it is one run, named by its path below the folder "
    "(`lr1e-3/seed2`). Runs are grouped by name with seed numbers as `*` (`lr1e-3/seed*`), or by a "
    "config value, and each group is drawn as its mean with a band."
)
GROUP_LABELS = {"pattern": "name pattern", "key": "config key", "none": "none"}
PATTERN_HELP = (
    "A regular expression searched in each run's name: its first group (or the whole match) names the "
    "run's group, with seed numbers as `*`. Empty: the whole name, so `lr1e-3_seed2` and `lr1e-3_seed5` "
    "are both in `lr1e-3_seed*`. Example: `^(lr[^_/]+)` groups them as `lr1e-3`."
)


def pick_sweep_root() -> Path | None:
    """Sidebar text input for the sweep's folder, confined to INSPECTOR_ROOTS; None until one is usable."""
    text = st.sidebar.text_input(
        "Sweep folder on the server",
        key="runs_root",
        help="A folder inside INSPECTOR_ROOTS holding the runs (log files, TensorBoard run folders), or a "
        "prefix (s3://, gs://) below a remote root listed there.",
    )
    if not text:
        return None
    try:
        path = server_location(text).local  # a URL below a remote root: its mirror
    except InspectorError as exc:
        report(f"Cannot open the sweep folder {text.strip()!r}: {exc.reason}")
        return None
    if not path.is_dir():
        report(f"{text}: not a folder; give the folder that holds the sweep's runs")
        return None
    return path


# cache_resource: a Sweep is immutable and its curves can reach ~100 MB for 1,000 runs; cache_data would
# pickle and copy them on every rerun. The content key (the listing's names, sizes and mtimes) re-reads
# the sweep when a run grows or appears.
@st.cache_resource(show_spinner="Reading the sweep's runs…", max_entries=4)
def _read_cached(root: str, key: str) -> Sweep:
    return read_sweep(discover(root))


def load_sweep(root: Path) -> tuple[Sweep, str]:
    """The sweep under `root` (read once per content) and its content key."""
    key = walk(root).key  # one scandir and stat per kept file: cheap enough for every rerun
    return _read_cached(str(root), key), key


def render_notes(sweep: Sweep) -> None:
    """What the walk left out: a warning when it stopped early, the skipped files in an expander."""
    for text in sweep.discovery.truncated:
        st.warning(text)
    skipped = sweep.discovery.skipped
    if skipped:
        with st.expander(f"{len(skipped)} file(s) not read as runs"):
            st.markdown("\n".join(f"- {s}" for s in skipped))


def runs_table(sweep: Sweep, metric: str | None) -> pd.DataFrame:
    """One row per run: run, format, steps, the main metric's last and best, last loss, top finding, error."""
    records = []
    for r in sweep.rows:
        m = r.metric(metric) if metric else None
        record: dict[str, object] = {
            "run": r.name,
            "format": r.format or "",
            "steps": r.n_steps if r.read else math.nan,
        }
        if metric:
            record[f"{metric} last"] = m.last if m else math.nan
            record[f"{metric} best"] = m.best if m else math.nan
        record["last loss"] = r.last_loss
        record["top finding"] = top_text(r)
        record["error"] = r.error or ""
        records.append(record)
    return pd.DataFrame.from_records(records)


def metric_kind(metric: str) -> tables.Kind:
    """How a logged metric is written, from its name: mAP to 4 decimals, IoU to 3, anything else (a loss, an
    accuracy) to 4 significant digits."""
    name = metric.lower()
    return "map" if "map" in name or "ap50" in name else "iou" if "iou" in name else "loss"


def table_kinds(metric: str | None) -> dict[str, tables.Kind]:
    """How each number of `runs_table` is written."""
    kinds: dict[str, tables.Kind] = {"steps": "count", "last loss": "loss"}
    if metric:
        kinds |= {f"{metric} last": metric_kind(metric), f"{metric} best": metric_kind(metric)}
    return kinds


def render_table(sweep: Sweep, metric: str | None) -> None:
    """The run table (runs_table): numbers written per column, an unread run's cells empty, sized to its
    rows (a long sweep scrolls past tables.MAX_ROWS_SHOWN)."""
    tables.show(runs_table(sweep, metric), table_kinds(metric), "runs_table")


def pick_grouping(sweep: Sweep) -> GroupBy:
    """Sidebar controls: group by name pattern (default), by a config key the runs vary, or not at all."""
    sb = st.sidebar
    sb.divider()
    kind = sb.radio(
        "Group runs by",
        list(GROUP_LABELS),
        format_func=GROUP_LABELS.__getitem__,
        key="runs_group_kind",
        help="A group should be one config's seeds: its band is then the seed-to-seed spread.",
    )
    if kind == "key":
        keys = varying_keys(sweep.rows)
        if not keys:
            sb.info("No config value differs between these runs; grouping by name instead.")
            return GroupBy("pattern")
        return GroupBy("key", sb.selectbox("Config key", keys, key="runs_group_key"))
    if kind == "none":
        return GroupBy("none")
    pattern = sb.text_input("Name pattern (regex)", key="runs_pattern", help=PATTERN_HELP) or None
    try:
        compile_pattern(pattern)
    except InspectorError as exc:
        sb.error(f"{exc}; grouping by the whole name instead.")
        return GroupBy("pattern")
    return GroupBy("pattern", pattern)


def pick_overlay(sweep: Sweep, key: str) -> list[str]:
    """The read runs to draw (default: the first MAX_OVERLAY); the widget is keyed by the sweep's content."""
    names = [r.name for r in sweep.rows if r.read]
    return st.multiselect(
        f"Runs to draw (at most {MAX_OVERLAY})",
        names,
        default=names[:MAX_OVERLAY],
        max_selections=MAX_OVERLAY,
        key=f"runs_overlay:{key}",
    )


def pick_chart(sweep: Sweep, main: str | None) -> tuple[str | None, BandKind]:
    """The metric to draw (eval metrics first, the main one by default) and the band kind."""
    names = curve_names(sweep)
    left, right = st.columns([2, 1])
    metric = (
        left.selectbox("Metric", names, index=names.index(main) if main in names else 0, key="runs_metric")
        if names
        else None
    )
    kind: BandKind = right.radio(
        "Band", BAND_KINDS, format_func=BAND_LABELS.__getitem__, key="runs_band", horizontal=True
    )
    return metric, kind


def chosen_groups(sweep: Sweep, chosen: Sequence[str], by: GroupBy) -> tuple[Group, ...]:
    """The groups of the chosen runs."""
    keep = set(chosen)
    return group_runs([r for r in sweep.rows if r.name in keep], by)


def bands_chart(sweep: Sweep, groups: Sequence[Group], metric: str, kind: BandKind) -> go.Figure:
    """The bands figure of `metric`: one mean line and band per group that logged it."""
    drawn = [GroupBand(g.name, group_band(sweep, g, metric)) for g in groups]
    return bands_figure([g for g in drawn if len(g.band)], kind, metric)


def _md(text: str) -> str:
    """`text` shown literally in Markdown: a group's `*` is a glob, not emphasis."""
    return text.replace("\\", "\\\\").replace("*", "\\*").replace("_", "\\_")


def render_groups(sweep: Sweep, groups: Sequence[Group], metric: str | None) -> None:
    """Each group's spread of the main metric and its findings counted over its read members."""
    by_name = {r.name: r for r in sweep.rows}
    for g in groups:
        rows = [by_name[n] for n in g.members if n in by_name]
        read = [r for r in rows if r.read]
        with st.container(border=True):
            st.markdown(f"**{_md(g.name)}** · {len(rows)} run{'s' if len(rows) != 1 else ''}")
            text = spread_text(read, metric) if metric else None
            if text:
                st.markdown(text)
            counts = group_findings(read)
            lines = [
                f"- **{c.id}** in {len(c.runs)} of {c.of} runs: {c.title} ({_md(', '.join(c.runs))})"
                for c in counts
            ]
            if lines:
                st.markdown("\n".join(lines))
            elif read:
                st.caption("No findings in any run.")
            unread = [r.name for r in rows if not r.read]
            if unread:
                st.caption(f"Unreadable: {_md(', '.join(unread))}")
