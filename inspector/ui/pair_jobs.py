"""The Compare page's aggregate evaluations: A's and B's BatchResults over the same episodes, one job per
pair shared by every session and rerun asking the same, on the page's pair thread and in the worker process
(inspector.compare_worker), started when the Aggregate tab is opened or ahead of it while the page shows
another tab; with what each side's evaluation computed beside its rows (the TIDE breakdown, its half of the
paired bootstrap)."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import Any

import streamlit as st

from inspector import compare_worker
from inspector.adapters import allowed_adapters
from inspector.batch import BatchResult, EpisodePlan, EvalSettings, Shard, cache_dir, cache_key, run_meta
from inspector.compare import ResampledMaps
from inspector.limits import evaluate_ahead
from inspector.results import Detector
from inspector.tide import ErrorBreakdown
from inspector.ui import episode_views as views
from inspector.ui.episode_views import Choice
from inspector.ui.torch_threads import one_torch_thread

# A and B are evaluated at once: A on this pool's one thread (one torch thread), B in the worker process
# (compare_worker: on two threads of one process the interpreter's lock serialises them). Every session shares
# the thread and the worker, so a server never runs more than two evaluations at a time, and an evaluation
# goes on when a rerun interrupts the page. Started ahead of the Aggregate tab (prefetch_pair), both go to the
# worker, one after the other.
_PAIR_THREAD = ThreadPoolExecutor(max_workers=1, thread_name_prefix="inspector-compare")
_ON_PAIR_THREAD: set[Future[BatchResult]] = set()  # given to the thread and not done yet
_ON_PAIR_THREAD_LOCK = threading.Lock()


def _on_pair_thread(fn: Callable[..., BatchResult], *args: Any) -> Future[BatchResult]:
    future = _PAIR_THREAD.submit(fn, *args)
    with _ON_PAIR_THREAD_LOCK:
        _ON_PAIR_THREAD.add(future)

    def finished(f: Future[BatchResult]) -> None:
        with _ON_PAIR_THREAD_LOCK:
            _ON_PAIR_THREAD.discard(f)

    future.add_done_callback(finished)
    return future


def evaluating() -> bool:
    """Whether any session's evaluation is queued or running (on the pair's thread or in the worker)."""
    with _ON_PAIR_THREAD_LOCK:
        queued = bool(_ON_PAIR_THREAD)
    return queued or compare_worker.busy()


@dataclass
class PairJob:
    """A's and B's evaluations: each side's BatchResult when ready, and how many episodes each side evaluated
    has done of `total` (one side when A is B)."""

    key: tuple
    results: tuple[Future[BatchResult], Future[BatchResult]]
    progress: list[Callable[[], int]]
    total: int
    deferred: tuple[_Deferred, ...] = ()

    def evaluated(self) -> bool:
        return all(f.done() for f in self.results)

    def hurry(self) -> None:
        """Someone waits for the job: a side still waiting for the worker starts now on the pair's thread."""
        for side in self.deferred:
            side.start(in_worker=False)

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


def resampled_of(result: BatchResult) -> ResampledMaps | None:
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


Sides = dict[tuple, tuple[Choice, str, dict[str, Any]]]


def _sides(a: tuple[Choice, str], b: tuple[Choice, str], data: Choice, s: EvalSettings) -> tuple[Sides, list]:
    """{(checkpoint key, adapter): (choice, adapter, run_meta)} of A and B (one side when A is B), and those
    of them not in the evaluation cache."""
    dataset = views.cached_dataset(data.key)
    n = EpisodePlan(dataset, None, s).total
    sides = {
        (c.key, adapter): (c, adapter, run_meta(c.path, adapter, dataset, None, s, dataset.class_names, n))
        for c, adapter in (a, b)
    }
    return sides, [side for side, (_, _, meta) in sides.items() if not _cache_file(meta).is_file()]


Started = tuple[Future[BatchResult], Callable[[], int]]  # a side's result to come, and its episodes done


def _in_worker(c: Choice, adapter: str, data: Choice, s: EvalSettings, meta: dict[str, Any]) -> Started:
    sent = compare_worker.submit(c.path, adapter, allowed_adapters(), data.key[0], s, meta, cache_dir())
    return _from_worker(sent), sent.done


def _here(c: Choice, adapter: str, plan: EpisodePlan, meta: dict[str, Any]) -> Started:
    done = [0]

    def update(episodes: int, _todo: int) -> None:
        done[0] = episodes

    detector = views.cached_detector(c.key, adapter)
    return _on_pair_thread(_evaluate_here, detector, plan, meta, update), lambda: done[0]


class _Deferred:
    """A prefetched pair's side not started yet: the worker takes it once done with the other side (when
    nothing else is being evaluated), unless the Aggregate tab opens first (PairJob.hurry), and then the
    pair's thread takes it at once."""

    def __init__(self, in_worker: Callable[[], Started], here: Callable[[], Started]) -> None:
        self.result: Future[BatchResult] = Future()
        self._ways = {True: in_worker, False: here}
        self._started: Started | None = None
        self._lock = threading.Lock()

    def start(self, in_worker: bool) -> None:
        with self._lock:
            if self._started is not None:
                return
            self._started = self._ways[in_worker]()
        self._started[0].add_done_callback(self._arrived)

    def after(self, _first: Future[BatchResult]) -> None:
        """The worker is done with the pair's first side: it takes this one, unless started already or
        something asked for is being evaluated (then it waits for the Aggregate tab, PairJob.hurry)."""
        if not evaluating():
            self.start(in_worker=True)

    def _arrived(self, f: Future[BatchResult]) -> None:
        error = f.exception()
        if error is None:
            self.result.set_result(f.result())
        else:
            self.result.set_exception(error)

    def done(self) -> int:
        started = self._started
        return 0 if started is None else started[1]()


def _start_pair(
    a: tuple[Choice, str],
    b: tuple[Choice, str],
    data: Choice,
    s: EvalSettings,
    key: tuple,
    prefetch: bool = False,
) -> PairJob:
    """The pair's evaluations started, each side from the evaluation cache when there. With two to run, A on
    the pair's thread and B in the worker process at once. Prefetched (prefetch_pair), the last to run goes to
    the worker and the other waits for it (_Deferred), so that neither holds this page's interpreter."""
    plan = EpisodePlan(views.cached_dataset(data.key), None, s)
    sides, to_run = _sides(a, b, data, s)
    # the side for the worker: the last to run, with another to run or prefetched, where its adapter resolves
    last = to_run[-1] if to_run and (prefetch or len(to_run) == 2) else None
    to_worker = last if last is not None and compare_worker.runs_in_worker(sides[last][1]) else None
    futures: dict[tuple, Future[BatchResult]] = {}
    progress: list[Callable[[], int]] = []
    deferred: list[_Deferred] = []
    for side, (c, adapter, meta) in sides.items():
        if side == to_worker:
            futures[side], read = _in_worker(c, adapter, data, s, meta)
        elif to_worker is not None and prefetch and side in to_run:
            d = _Deferred(
                partial(_in_worker, c, adapter, data, s, meta), partial(_here, c, adapter, plan, meta)
            )
            deferred.append(d)
            futures[side], read = d.result, d.done
        else:
            futures[side], read = _here(c, adapter, plan, meta)
        progress.append(read)
    if to_worker is not None:
        for d in deferred:  # the worker's side done (or failed): the worker takes the next
            futures[to_worker].add_done_callback(d.after)
    fa, fb = (futures[(c.key, adapter)] for c, adapter in (a, b))
    return PairJob(key, (fa, fb), progress, plan.total, tuple(deferred))


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
    key = _job_key(a, b, data, settings)
    job = _pair_job(key, lambda: _start_pair(a, b, data, settings, key))
    job.hurry()  # prefetched with a side still waiting for the worker: that side starts here
    return job


def _job_key(a: tuple[Choice, str], b: tuple[Choice, str], data: Choice, s: EvalSettings) -> tuple:
    return (a[0].key, a[1], b[0].key, b[1], data.key, s, str(cache_dir()))


# The pairs prefetch_pair has looked at (and started, or found evaluated or not for the worker), by job key
# (which holds each checkpoint's mtime): every rerun of another tab asks again, and finding what is left to
# run hashes both checkpoint files (run_meta): ~0.25 s a rerun for a 250 MB checkpoint.
_LOOKED_AT: dict[tuple, None] = {}
_LOOKED_AT_KEPT = 64
_LOOKED_AT_LOCK = threading.Lock()


def prefetch_pair(
    a: tuple[Choice, str], b: tuple[Choice, str], data: Choice, s: EvalSettings, episodes: int
) -> None:
    """While the page shows another tab, starts the aggregate's evaluations (start_pair's job) in the worker
    process, one side after the other, so that the Aggregate tab, opened next, finds them under way or done
    (a side the worker has not started by then starts on the pair's thread). Only when nothing is being
    evaluated (so at most one evaluation nobody asked for runs at a time, and never ahead of one asked for),
    something is to run, and every side to run can run in the worker (none then slows this page's reruns)."""
    if not evaluate_ahead() or evaluating():
        return
    settings = replace(s, episodes=episodes)
    key = _job_key(a, b, data, settings)
    with _LOOKED_AT_LOCK:
        if key in _LOOKED_AT:
            return
        while len(_LOOKED_AT) >= _LOOKED_AT_KEPT:
            _LOOKED_AT.pop(next(iter(_LOOKED_AT)))
        _LOOKED_AT[key] = None
    sides, to_run = _sides(a, b, data, settings)
    if not to_run or not all(compare_worker.runs_in_worker(sides[side][1]) for side in to_run):
        return
    _pair_job(key, lambda: _start_pair(a, b, data, settings, key, prefetch=True))


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
