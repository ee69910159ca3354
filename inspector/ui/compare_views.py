"""The Compare page's parts: two checkpoint pickers, side-by-side overlays, per-target changes, the
aggregate."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from inspector import charts, compare_worker
from inspector.adapters import allowed_adapters, inspect_episode
from inspector.batch import (
    BatchResult,
    EpisodePlan,
    EvalSettings,
    Shard,
    cache_dir,
    cache_key,
    cached_summary,
    evaluate_batch,
    run_meta,
)
from inspector.compare import (
    DeltaCI,
    ResampledMaps,
    compare_targets,
    delta_cis,
    episode_metrics,
    metrics_delta_table,
    summary_delta_table,
)
from inspector.data import Episode
from inspector.draw import legend_caption
from inspector.evaluate import match_query
from inspector.results import Detector, EpisodeResult
from inspector.tide import ErrorBreakdown
from inspector.ui import episode_views as views
from inspector.ui import overlay_views as overlays
from inspector.ui import tables
from inspector.ui.delta_tables import render_deltas
from inspector.ui.episode_views import Choice, ViewSettings
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


# A and B are evaluated at once: A on this pool's one thread (one torch thread), B in the worker process
# (compare_worker: on two threads of one process the interpreter's lock serialises them). Every session shares
# the thread and the worker, so a server never runs more than two evaluations at a time, and an evaluation
# goes on when a rerun interrupts the page.
_PAIR_THREAD = ThreadPoolExecutor(max_workers=1, thread_name_prefix="inspector-compare")


@dataclass
class PairJob:
    """A's and B's evaluations: each side's BatchResult when ready, and how many episodes each side evaluated
    has done of `total` (one side when A is B)."""

    key: tuple
    results: tuple[Future[BatchResult], Future[BatchResult]]
    progress: list[Callable[[], int]]
    total: int

    def evaluated(self) -> bool:
        return all(f.done() for f in self.results)

    def done(self) -> list[int]:
        return [read() for read in self.progress]


# What each side's evaluation computed beside its rows (compare_worker.SideResult: the TIDE breakdown, its
# half of the bootstrap), by identity(result): these then run beside the other side's evaluation, not after
# both on the page's thread. A few at most: the sides of the pairs evaluated last.
_SIDES: dict[str, compare_worker.SideResult] = {}
_SIDES_KEPT = 8
_SIDES_LOCK = threading.Lock()


def _keep(side: compare_worker.SideResult) -> BatchResult:
    with _SIDES_LOCK:
        while len(_SIDES) >= _SIDES_KEPT:
            _SIDES.pop(next(iter(_SIDES)))
        _SIDES[identity(side.batch)] = side
    return side.batch


def _kept(result: BatchResult) -> compare_worker.SideResult | None:
    with _SIDES_LOCK:
        return _SIDES.get(identity(result))


def breakdown_of(result: BatchResult) -> ErrorBreakdown | None:
    """The TIDE breakdown of a result's query images in position order (None when it has none): the one its
    evaluation computed when there is one, else computed here."""
    side = _kept(result)
    return side.breakdown if side is not None else compare_worker.breakdown(result)


def _resampled(result: BatchResult) -> ResampledMaps | None:
    """The result's half of the paired bootstrap (compare.resampled_maps): its evaluation's when there is
    one, else computed here; None without query images."""
    side = _kept(result)
    return side.resampled if side is not None else compare_worker.resampled(result)


def _evaluate_here(
    detector: Detector, plan: EpisodePlan, meta: dict[str, Any], progress: Callable[[int, int], None]
) -> BatchResult:
    """One side evaluated on the pair's thread (compare_worker.evaluate_side), its breakdown kept."""
    with one_torch_thread():
        return _keep(compare_worker.evaluate_side(detector, plan, meta, progress))


def _from_worker(sent: compare_worker.Submitted) -> Future[BatchResult]:
    """The worker's side as a Future of its BatchResult, its breakdown kept when it arrives."""
    out: Future[BatchResult] = Future()

    def arrived(f: Future[compare_worker.SideResult]) -> None:
        try:
            out.set_result(_keep(f.result()))
        except BaseException as e:  # the side's error as raised in the worker, or the worker's death
            out.set_exception(e)

    sent.result.add_done_callback(arrived)
    return out


def _start_pair(
    a: tuple[Choice, str], b: tuple[Choice, str], data: Choice, s: EvalSettings, key: tuple
) -> PairJob:
    dataset = views.cached_dataset(data.key)
    plan = EpisodePlan(dataset, None, s)
    n = plan.total
    sides = {
        (c.key, adapter): (c, adapter, run_meta(c.path, adapter, dataset, None, s, dataset.class_names, n))
        for c, adapter in (a, b)
    }  # one side when A is B
    to_run = [side for side, (_, _, meta) in sides.items() if not _cache_file(meta).is_file()]
    futures: dict[tuple, Future[BatchResult]] = {}
    progress: list[Callable[[], int]] = []
    for side, (c, adapter, meta) in sides.items():
        # two sides to evaluate: the second in the worker process, where its adapter resolves
        if len(to_run) == 2 and side == to_run[1] and compare_worker.runs_in_worker(adapter):
            sent = compare_worker.submit(
                c.path, adapter, allowed_adapters(), data.key[0], s, meta, cache_dir()
            )
            futures[side] = _from_worker(sent)
            progress.append(sent.done)
            continue
        done = [0]

        def update(episodes: int, _todo: int, cell: list[int] = done) -> None:
            cell[0] = episodes

        def read(cell: list[int] = done) -> int:
            return cell[0]

        detector = views.cached_detector(c.key, adapter)
        futures[side] = _PAIR_THREAD.submit(_evaluate_here, detector, plan, meta, update)
        progress.append(read)
    fa, fb = (futures[(c.key, adapter)] for c, adapter in (a, b))
    return PairJob(key, (fa, fb), progress, plan.total)


def _cache_file(meta: dict[str, Any]) -> Path:
    """Where evaluate_batch keeps the whole plan's result of this run (batch.cache_key)."""
    return cache_dir() / f"{cache_key(meta, Shard())}.parquet"


@st.cache_resource(max_entries=4, show_spinner=False)
def _pair_job(key: tuple, _start: Callable[[], PairJob]) -> PairJob:
    return _start()


def start_pair(
    a: tuple[Choice, str], b: tuple[Choice, str], data: Choice, s: EvalSettings, episodes: int
) -> PairJob:
    """A's and B's evaluations over `episodes` episodes at `evaluate`'s default thresholds, started unless
    already running or done (every rerun and session asking the same gets the same job): each side from the
    on-disk cache when present, else run and stored there (the CLI's --cache shares it); with both to run, A
    on the pair's thread and B in the worker process (compare_worker)."""
    settings = replace(s, episodes=episodes)
    key = (a[0].key, a[1], b[0].key, b[1], data.key, settings, str(cache_dir()))
    return _pair_job(key, lambda: _start_pair(a, b, data, settings, key))


def aggregate_pair(job: PairJob) -> tuple[BatchResult, BatchResult]:
    """The job's two BatchResults, waiting for them with a progress bar. A failed job is forgotten, so that
    the next run starts it again, and its error raised."""
    if not job.evaluated():
        bar = st.progress(0.0, text=f"Evaluating A and B on {job.total} episodes…")
        while not job.evaluated():
            wait(job.results, timeout=0.1)
            done = job.done()
            bar.progress(
                min(sum(done) / (len(done) * max(job.total, 1)), 1.0),
                text=f"Evaluating A and B: episode {' and '.join(map(str, done))} of {job.total}",
            )
        bar.empty()
    try:
        return job.results[0].result(), job.results[1].result()
    except Exception:
        _pair_job.clear(job.key, None)
        raise


def identity(result: BatchResult) -> str:
    """What identifies a batch result's rows (checkpoint and data content, settings, positions)."""
    meta = result.meta
    keys = ("schema", "checkpoint_sha256", "adapter", "data_hash", "clips_hash", "settings", "positions")
    return json.dumps({k: meta.get(k) for k in keys}, sort_keys=True, default=str)


@st.cache_data(max_entries=8, show_spinner="Summarising…")
def _summary(identity: str, _result: BatchResult) -> dict[str, Any]:
    return cached_summary(_result)


def summary(result: BatchResult) -> dict[str, Any]:
    """batch.summarize of the result (mAP, PR curves, confusion matrix…), cached by content here and, for a
    result from the evaluation cache, beside its file (batch.cached_summary)."""
    return _summary(identity(result), result)


@st.cache_data(max_entries=16, show_spinner="Bootstrapping Δ mAP…")
def _bootstrap(key: tuple, _a: BatchResult, _b: BatchResult) -> tuple[DeltaCI, DeltaCI] | None:
    a, b = _resampled(_a), _resampled(_b)
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
