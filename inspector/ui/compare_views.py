"""The Compare page's parts: two checkpoint pickers, side-by-side overlays, per-target changes, the
aggregate."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from inspector import charts, limits
from inspector.batch import (
    BatchResult,
    EpisodePlan,
    EvalSettings,
    evaluate_batch,
    image_records,
    run_meta,
    summarize,
)
from inspector.compare import (
    DeltaCI,
    bootstrap_delta_map,
    compare_targets,
    episode_metrics,
    metrics_delta_table,
    summary_delta_table,
)
from inspector.data import Episode
from inspector.draw import draw_overlay
from inspector.evaluate import match_query
from inspector.results import EpisodeResult
from inspector.ui import episode_views as views
from inspector.ui.episode_views import Choice, ViewSettings
from inspector.ui.widgets import POINTS_PER_TRACE

if TYPE_CHECKING:
    from inspector.runlog import RunLog

# The demo's story: the troubled run (A) and what the diagnosis recommends (B), from the same seed and data.
DEFAULT_PAIR = ("troubled/best.pt", "fixed/best.pt")
DEFAULT_EPISODES = 100


def pick_pair() -> tuple[tuple[Choice | None, str], tuple[Choice | None, str]]:
    """Sidebar: ((checkpoint A, adapter A), (checkpoint B, adapter B)); defaults: the demo's two runs."""
    return (
        views.pick_checkpoint(views.side_picker("A"), DEFAULT_PAIR[0]),
        views.pick_checkpoint(views.side_picker("B"), DEFAULT_PAIR[1]),
    )


def run_pair(
    a: tuple[Choice, str],
    b: tuple[Choice, str],
    data: Choice,
    s: EvalSettings,
    index: int,
    v: ViewSettings,
) -> tuple[EpisodeResult, EpisodeResult]:
    """Both checkpoints' EpisodeResults on episode `index` (cached per checkpoint by the Episodes page's
    cache)."""

    def run(side: tuple[Choice, str]) -> EpisodeResult:
        c, adapter = side
        return views.run_detector(c.key, adapter, data.key, s, index, v.score_threshold, v.nms_iou)

    return run(a), run(b)


def render_side_by_side(episode: Episode, ra: EpisodeResult, rb: EpisodeResult, v: ViewSettings) -> None:
    """Per query (and clip frame): A's and B's overlays in two columns, and the per-target comparison."""
    samples = list(episode.queries) + [f for c in episode.clips for f in c.frames]
    qa, qb = ra.all_queries(), rb.all_queries()
    if not samples:
        st.warning("This episode has no query images.")
        return
    if len(samples) > len(episode.queries):
        k = st.slider("Clip frame", 0, len(samples) - 1, 0, key="cmp_frame")
        shown = [k]
    else:
        shown = list(range(len(samples)))
    for k in shown:
        left, right = st.columns(2)
        ma, mb = match_query(qa[k], v.iou_threshold), match_query(qb[k], v.iou_threshold)  # once per side
        for col, q, m, side, names in (
            (left, qa[k], ma, "A", ra.class_names),
            (right, qb[k], mb, "B", rb.class_names),
        ):
            image = draw_overlay(samples[k].image, q, m, names, v.strides, v.anchors)
            col.image(image, caption=f"{side} · {q.image_id} · {m.fp} FP")
        rows = [asdict(t) for t in compare_targets(ma, mb, qa[k].target_labels)]
        if rows:
            table = pd.DataFrame(rows).rename(columns={"iou_a": "IoU A", "iou_b": "IoU B"})
            table["label"] = [
                ra.class_names[i] if 0 <= i < len(ra.class_names) else str(i) for i in table["label"]
            ]
            st.dataframe(table, hide_index=True, key=f"cmp_targets_{k}")


def episode_deltas(ra: EpisodeResult, rb: EpisodeResult, v: ViewSettings) -> pd.DataFrame:
    """This episode's metrics under A and B (at the sidebar's IoU threshold and clip score gate), and their
    difference."""
    return metrics_delta_table(
        episode_metrics(ra, v.iou_threshold, v.clip_score_threshold),
        episode_metrics(rb, v.iou_threshold, v.clip_score_threshold),
    )


def aggregate(
    choice: Choice, adapter: str, data: Choice, s: EvalSettings, episodes: int, label: str
) -> BatchResult:
    """The checkpoint's BatchResult over `episodes` episodes at `evaluate`'s default thresholds (the model's,
    and evaluate.CLIP_SCORE_THRESHOLD for clips): from the on-disk cache when present, else run with a
    progress bar and stored there (the CLI's --cache shares it)."""
    detector = views.cached_detector(choice.key, adapter)
    dataset = views.cached_dataset(data.key)
    settings = replace(s, episodes=episodes)
    plan = EpisodePlan(dataset, None, settings)
    meta = run_meta(choice.path, adapter, dataset, None, settings, dataset.class_names, plan.total)
    bar = st.progress(0.0, text=f"Evaluating {label} on {plan.total} episodes…")

    def progress(done: int, todo: int) -> None:
        bar.progress(done / todo, text=f"Evaluating {label}: episode {done} of {todo}")

    with one_torch_thread():
        result = evaluate_batch(detector, plan, meta, progress=progress, cache=True)
    bar.empty()
    return result


@contextmanager
def one_torch_thread() -> Iterator[None]:
    """torch limited to limits.eval_threads() (one) for the evaluation, as `evaluate` runs by default, then
    restored.

    The server's other sessions use the cores too: torch's default thread pool oversubscribes them.
    """
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(limits.eval_threads())
    try:
        yield
    finally:
        torch.set_num_threads(before)


def identity(result: BatchResult) -> str:
    """What identifies a batch result's rows (checkpoint and data content, settings, positions)."""
    meta = result.meta
    keys = ("schema", "checkpoint_sha256", "adapter", "data_hash", "clips_hash", "settings", "positions")
    return json.dumps({k: meta.get(k) for k in keys}, sort_keys=True, default=str)


@st.cache_data(max_entries=8, show_spinner="Summarising…")
def _summary(identity: str, _result: BatchResult) -> dict[str, Any]:
    return summarize(_result)


def summary(result: BatchResult) -> dict[str, Any]:
    """batch.summarize of the result (mAP, PR curves, confusion matrix…), cached by content."""
    return _summary(identity(result), result)


@st.cache_data(max_entries=16, show_spinner="Bootstrapping Δ mAP…")
def _bootstrap(key: tuple, _a: BatchResult, _b: BatchResult) -> tuple[DeltaCI, DeltaCI]:
    images = _a.rows[_a.rows["kind"] == "image"]
    return bootstrap_delta_map(image_records(_a.rows), image_records(_b.rows), images["position"].to_numpy())


def render_aggregate(a: BatchResult, b: BatchResult) -> None:
    """The A / B / Δ table over all episodes, with the paired bootstrap CI on Δ mAP."""
    sa, sb = summary(a), summary(b)
    for side, s in (("A", sa), ("B", sb)):
        for warning in s["warnings"]:
            st.warning(f"{side}: {warning}")
        doctor = s["format_doctor"]
        if not doctor.mismatch:
            st.caption(f"{side}: box formats {doctor.verdict} — {doctor.message}")
    st.caption(
        f"{sa['image_episodes']} image episodes ({sa['images']} query images) · {sa['clip_episodes']} clip "
        f"episodes ({sa['clips']} clips scored by A, {sb['clips']} by B)"
    )
    st.dataframe(
        summary_delta_table(sa, sb),
        hide_index=True,
        key="cmp_aggregate",
        column_config={c: st.column_config.NumberColumn(format="%.4f") for c in ("A", "B", "Δ (B − A)")},
    )
    if sa["images"] and len(a.rows) == len(b.rows):
        key = (
            a.meta["checkpoint_sha256"],
            b.meta["checkpoint_sha256"],
            a.meta["data_hash"],
            str(a.meta["settings"]),
        )
        for ci in _bootstrap(key, a, b):
            st.caption(
                f"Δ {ci.metric} = {ci.delta:+.4f}, {ci.confidence:.0%} CI [{ci.low:+.4f}, {ci.high:+.4f}] "
                f"(paired bootstrap over episodes, {ci.resamples} resamples, seed 0)"
            )


def run_logs(a: Choice, b: Choice) -> tuple[Path, Path] | None:
    """The two runs' log.jsonl when both checkpoints sit next to one."""
    logs = (Path(a.path).parent / "log.jsonl", Path(b.path).parent / "log.jsonl")
    return logs if all(p.is_file() for p in logs) else None


@st.cache_resource(max_entries=4, show_spinner="Reading the runs' logs…")
def _log(path: str, mtime: int) -> RunLog:
    from inspector.runlog import read_logs

    return read_logs([path])


def logs_figure(paths: tuple[Path, Path], metric: str) -> go.Figure | None:
    """`metric` of both runs on one chart (A solid, B dashed), downsampled for display; None if absent."""
    from inspector import stats

    curves = []
    for side, path, dash in (("A", paths[0], None), ("B", paths[1], "dash")):
        series = _log(str(path), path.stat().st_mtime_ns).get(metric)
        if series is None or not len(series):
            continue
        idx = stats.downsample(series.steps, series.values, POINTS_PER_TRACE)
        curves.append(
            charts.Curve(f"{side} · {path.parent.name}", series.steps[idx], series.values[idx], dash=dash)
        )
    return charts.curves_figure(curves, metric) if curves else None


def log_metrics(paths: tuple[Path, Path]) -> list[str]:
    """Metrics both logs share, losses first."""
    a, b = (set(_log(str(p), p.stat().st_mtime_ns).metrics) for p in paths)
    return sorted(a & b, key=lambda m: (not m.startswith("loss"), m))
