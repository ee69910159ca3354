"""The Compare page's parts: two checkpoint pickers, side-by-side overlays, per-target changes, the
aggregate."""

from __future__ import annotations

from dataclasses import asdict, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from inspector import charts
from inspector.adapters import inspect_episode
from inspector.batch import (
    BatchResult,
    EpisodePlan,
    EvalSettings,
    cached_summary,
    evaluate_batch,
    run_meta,
)
from inspector.compare import (
    DeltaCI,
    compare_targets,
    delta_cis,
    episode_metrics,
    metrics_delta_table,
    summary_delta_table,
)
from inspector.data import Episode
from inspector.draw import legend_caption
from inspector.evaluate import match_query
from inspector.results import EpisodeResult
from inspector.ui import episode_views as views
from inspector.ui import overlay_views as overlays
from inspector.ui import tables
from inspector.ui.delta_tables import render_deltas
from inspector.ui.episode_views import Choice, ViewSettings
from inspector.ui.pair_jobs import identity, resampled_of
from inspector.ui.torch_threads import one_torch_thread
from inspector.ui.widgets import POINTS_PER_TRACE

if TYPE_CHECKING:
    from inspector.runlog import RunLog

# The demo's story: the troubled run (A) and what the diagnosis recommends (B), from the same seed and data.

DEFAULT_PAIR = ("troubled/best.pt", "fixed/best.pt")
DEFAULT_EPISODES = 100


def pick_pair() -> tuple[tuple[Choice | None, str], tuple[Choice | None, str]]:
    """Sidebar: ((checkpoint A, adapter A), (checkpoint B, adapter B)); defaults: the demo's two runs."""
    return (
        views.pick_checkpoint(views.side_picker("A"), DEFAULT_PAIR[0], "checkpoint"),
        views.pick_checkpoint(views.side_picker("B"), DEFAULT_PAIR[1], "checkpoint_b"),
    )


def run_pair(
    a: tuple[Choice, str],
    b: tuple[Choice, str],
    data: Choice,
    s: EvalSettings,
    index: int,
    v: ViewSettings,
) -> tuple[EpisodeResult, EpisodeResult]:
    """Both checkpoints' EpisodeResults on episode `index`, cached per checkpoint."""

    def run(c: Choice, adapter: str) -> EpisodeResult:
        return _episode_result(c.key, adapter, data.key, s, index, v.score_threshold, v.nms_iou)

    return run(*a), run(*b)


@st.cache_data(max_entries=32, show_spinner="Running the detectors…")
def _episode_result(
    ckpt_key: tuple[str, int],
    adapter: str,
    data_key: tuple[str, int],
    s: EvalSettings,
    index: int,
    score_threshold: float,
    nms_iou: float,
) -> EpisodeResult:
    """The EpisodeResult of the checkpoint on episode `index`, on one torch thread and without gradient norms:
    this page shows none, and they were 6× the episode's time here (the Episodes page computes its own)."""
    detector = views.cached_detector(ckpt_key, adapter)
    episode = views.load_episode(data_key, s, index)
    with one_torch_thread():
        return inspect_episode(detector, episode, score_threshold, nms_iou, gradients=False)


def render_side_by_side(
    episode: Episode, ra: EpisodeResult, rb: EpisodeResult, v: ViewSettings, identity: tuple | None = None
) -> None:
    """Per query (and clip frame): A's and B's overlays in two columns (captioned, each can be enlarged), the
    legend in words, and the per-target comparison. `identity`: what the episode and both results were
    cached by (overlay_views.show_image keeps each overlay's PNG by it)."""
    samples = list(episode.queries) + [f for c in episode.clips for f in c.frames]
    titles = [f"query {k + 1}" for k in range(len(episode.queries))] + [
        f"clip {c.clip_id} · frame {t}" for c in episode.clips for t in range(len(c.frames))
    ]
    qa, qb = ra.all_queries(), rb.all_queries()
    if not samples:
        st.warning("This episode has no query images.")
        return
    if len(samples) > len(episode.queries):
        k = st.slider("Clip frame", 0, len(samples) - 1, 0, key="cmp_frame")
        shown = [k]
    else:
        shown = list(range(len(samples)))
    st.caption(legend_caption(anchors=v.anchors))
    for k in shown:
        left, right = st.columns(2)
        ma, mb = match_query(qa[k], v.iou_threshold), match_query(qb[k], v.iou_threshold)  # once per side
        for col, q, m, side, names in (
            (left, qa[k], ma, "A", ra.class_names),
            (right, qb[k], mb, "B", rb.class_names),
        ):
            draw = overlays.overlay_drawer(samples[k].image, q, m, names, v)
            caption = f"{side} · {overlays.query_caption(titles[k], q, m)}"
            named = None if identity is None else (*identity, k, side, v)
            overlays.show_image(col, draw, caption, f"cmp_{side}_{k}", identity=named)
        rows = [asdict(t) for t in compare_targets(ma, mb, qa[k].target_labels)]
        if rows:
            table = pd.DataFrame(rows).rename(columns={"iou_a": "IoU A", "iou_b": "IoU B", "label": "class"})
            table["class"] = [views.class_name(ra.class_names, i) for i in table["class"]]
            tables.show(table, TARGET_CHANGE_KINDS, f"cmp_targets_{k}")


# The per-target comparison's columns (compare.TargetComparison), as tables.show writes them.
TARGET_CHANGE_KINDS: dict[str, tables.Kind] = {
    "target": "count",
    "class": "text",
    "IoU A": "iou",
    "IoU B": "iou",
    "change": "text",
}


def episode_deltas(ra: EpisodeResult, rb: EpisodeResult, v: ViewSettings) -> pd.DataFrame:
    """This episode's metrics under A and B (at the sidebar's IoU threshold and clip score gate), and their
    difference."""
    return metrics_delta_table(
        episode_metrics(ra, v.iou_threshold, v.clip_score_threshold),
        episode_metrics(rb, v.iou_threshold, v.clip_score_threshold),
    )


def render_episode_deltas(ra: EpisodeResult, rb: EpisodeResult, v: ViewSettings) -> None:
    """This episode's A / B / Δ table (episode_deltas), each change coloured by whether it improves."""
    render_deltas(episode_deltas(ra, rb, v), "cmp_episode")


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


@st.cache_data(max_entries=8, show_spinner="Summarising…")
def _summary(identity: str, _result: BatchResult) -> dict[str, Any]:
    return cached_summary(_result)


def summary(result: BatchResult) -> dict[str, Any]:
    """batch.summarize of the result (mAP, PR curves, confusion matrix…), cached by content here and, for a
    result from the evaluation cache, beside its file (batch.cached_summary)."""
    return _summary(identity(result), result)


@st.cache_data(max_entries=16, show_spinner="Bootstrapping Δ mAP…")
def _bootstrap(key: tuple, _a: BatchResult, _b: BatchResult) -> tuple[DeltaCI, DeltaCI] | None:
    a, b = resampled_of(_a), resampled_of(_b)
    return None if a is None or b is None else delta_cis(a, b)


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
    render_deltas(summary_delta_table(sa, sb), "cmp_aggregate")
    if sa["images"] and len(a.rows) == len(b.rows):
        key = (
            a.meta["checkpoint_sha256"],
            b.meta["checkpoint_sha256"],
            a.meta["data_hash"],
            str(a.meta["settings"]),
        )
        for ci in _bootstrap(key, a, b) or ():
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


def render_logs(a: Choice, b: Choice) -> None:
    """Both runs' training curves, metric by metric (a multiselect), when both checkpoints sit next to their
    run's log.jsonl."""
    logs = run_logs(a, b)
    if logs is None:
        st.info("Training curves appear when both checkpoints sit next to their run's log.jsonl.")
        return
    metrics = log_metrics(logs)
    chosen = st.multiselect(
        "Metrics",
        metrics,
        default=[m for m in metrics if m in ("loss/total", "eval/map50")] or metrics[:2],
        key="cmp_log_metrics",
    )
    for metric in chosen:
        fig = logs_figure(logs, metric)
        if fig is not None:
            st.plotly_chart(fig, key=f"cmp_log_{metric}")
