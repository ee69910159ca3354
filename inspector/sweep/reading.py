"""Reading every run of a sweep: each run read and diagnosed on its own, in parallel, none sinking another.

`read_run` never raises for a run's input: an unreadable log (InspectorError) and anything a reader did not
expect (a bug, MemoryError on a hostile file) become the run's `error`, so twenty good runs are shown
beside the one that is not. `read_runs` maps it over the runs with `concurrent.futures`.

Threads or processes, measured on the project's 2-core box (bench/bench_sweep.py, BENCHMARKS.md): 200
runs × 10k steps took 15.6 s serially, 13.0 s on two threads (1.20×: the readers and rules hold the GIL
for much of their time) and 8.2 s on two processes (1.90×). A process pool's first start costs ~1.7 s
(the forkserver imports the readers once), so "auto" takes processes from `PROCESS_MIN_RUNS` runs on and
threads below. A worker process that dies (a reader crashing on a hostile file) costs only its own run:
the runs it took down with it are read again, each in a pool of its own.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
import threading
import types
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager, nullcontext
from dataclasses import replace
from pathlib import Path
from typing import Literal, get_args

from inspector.diagnose import diagnose
from inspector.errors import InspectorError
from inspector.runlog import detect, read_logs
from inspector.sweep.records import Discovery, RunResult, RunSpec, Sweep
from inspector.sweep.summaries import CURVE_POINTS, error_row, run_curves, run_row

Parallel = Literal["auto", "threads", "processes", "serial"]
PARALLEL: tuple[Parallel, ...] = get_args(Parallel)
DEFAULT_EXECUTOR: Parallel = "auto"
# Where processes start to pay on two cores: they save ~24 ms a run over threads (65 → 41 ms), and the
# first pool's ~1.7 s start is repaid after ~70 runs; later pools start in ~0.1 s. 64 keeps small sweeps
# (and every page test) on threads.
PROCESS_MIN_RUNS = 64
Progress = Callable[[int, int], None]


def default_workers() -> int:
    """One worker per core (the readers are CPU-bound; more only queue)."""
    return max(1, os.cpu_count() or 1)


def read_run(spec: RunSpec, max_points: int = CURVE_POINTS) -> RunResult:
    """The run read and diagnosed: its row and curves, or a row whose `error` says why it was not read."""
    if spec.error is not None:
        return RunResult(error_row(spec, spec.error))
    fmt = spec.format
    if fmt is None:
        try:
            fmt = detect(spec.path)
        except InspectorError as exc:
            return RunResult(error_row(spec, str(exc)), not_a_log=exc.reason)
    try:
        log = read_logs([spec.path, *spec.companions], format=fmt)
        diagnosis = diagnose(log)
        return RunResult(run_row(spec, log, diagnosis), run_curves(log, max_points))
    except InspectorError as exc:
        return RunResult(error_row(spec, str(exc)))
    except Exception as exc:  # noqa: BLE001 — one run's surprise must not cost the others their rows
        return RunResult(error_row(spec, f"{spec.path}: {type(exc).__name__}: {exc}"))


def _executor(parallel: Parallel, workers: int) -> Executor:
    if parallel == "processes":
        # forkserver, not fork: the app's server process has threads (Tornado, pyarrow) a fork would copy
        # mid-lock. The server imports the readers once and lives as long as this process, so only the
        # first pool pays the imports; later pools fork ready workers.
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload([__name__])
        # The forkserver keeps the environment it started with; inspector's settings (limits, roots) are
        # handed to each worker as they are now, so a worker reads a run as this process would.
        settings = {k: v for k, v in os.environ.items() if k.startswith(_SETTINGS)}
        return ProcessPoolExecutor(workers, mp_context=context, initializer=_settle, initargs=(settings,))
    return ThreadPoolExecutor(workers, thread_name_prefix="sweep")


_SETTINGS = "INSPECTOR_"


def _settle(settings: dict[str, str]) -> None:
    """A worker's inspector settings made those of the process that started the pool."""
    for name in [k for k in os.environ if k.startswith(_SETTINGS) and k not in settings]:
        del os.environ[name]
    os.environ.update(settings)


def choose_executor(parallel: Parallel, runs: int, workers: int) -> Parallel:
    """What `parallel` means for `runs` runs on `workers` workers ("auto": see the module docstring)."""
    if parallel not in PARALLEL:
        raise InspectorError(f"unknown executor {parallel!r}; choose one of {', '.join(PARALLEL)}")
    if workers == 1 or runs < 2:
        return "serial"
    if parallel == "auto":
        return "processes" if runs >= PROCESS_MIN_RUNS else "threads"
    return parallel


_MAIN_SWAP = threading.Lock()


@contextmanager
def _plain_main() -> Iterator[None]:
    """While worker processes start: a `__main__` that multiprocessing will not re-run in them.

    A new worker re-runs the parent's main script (`__main__.__file__`) unless it is a package's
    `__main__`. Inside Streamlit the main module is the page being run (the script runner puts it there,
    and AppTest leaves it), so each worker would run the page again. The pool's processes start on
    `submit`; for that moment the main module is a blank one, and the page's is put back after.
    """
    with _MAIN_SWAP:
        main = sys.modules.get("__main__")
        sys.modules["__main__"] = types.ModuleType("__main__")
        try:
            yield
        finally:
            if main is not None:
                sys.modules["__main__"] = main


def _died(spec: RunSpec, exc: BaseException) -> RunResult:
    return RunResult(error_row(spec, f"{spec.path}: the reader's process died reading this run ({exc})"))


def _read_alone(spec: RunSpec, max_points: int) -> RunResult:
    """`read_run` in a process of its own: a crash there names this run only."""
    with _executor("processes", 1) as pool:
        try:
            with _plain_main():
                future = pool.submit(read_run, spec, max_points)
            return future.result()
        except BrokenProcessPool as exc:
            return _died(spec, exc)


def read_runs(
    specs: Sequence[RunSpec],
    parallel: Parallel = DEFAULT_EXECUTOR,
    workers: int | None = None,
    progress: Progress | None = None,
    max_points: int = CURVE_POINTS,
) -> list[RunResult]:
    """`read_run` of every spec, in the order given; `progress(done, total)` after each run finishes."""
    workers = min(workers or default_workers(), max(len(specs), 1))
    how = choose_executor(parallel, len(specs), workers)
    results: list[RunResult | None] = [None] * len(specs)
    done = 0

    def finished(i: int, result: RunResult) -> None:
        nonlocal done
        results[i], done = result, done + 1
        if progress is not None:
            progress(done, len(specs))

    if how == "serial":
        for i, spec in enumerate(specs):
            finished(i, read_run(spec, max_points))
        return [r for r in results if r is not None]
    lost: list[int] = []  # runs a dying worker process took down with it
    with _executor(how, workers) as pool:
        with _plain_main() if how == "processes" else nullcontext():
            futures = {pool.submit(read_run, spec, max_points): i for i, spec in enumerate(specs)}
        for future in as_completed(futures):
            try:
                finished(futures[future], future.result())
            except BrokenProcessPool:
                lost.append(futures[future])
    if lost:  # each in a process of its own, `workers` at a time
        with ThreadPoolExecutor(workers, thread_name_prefix="sweep-alone") as alone:
            again = alone.map(lambda i: _read_alone(specs[i], max_points), lost)
            for i, result in zip(lost, again, strict=True):
                finished(i, result)
    return [r for r in results if r is not None]


def _relative(path: str, root: str) -> str:
    """`path` as the user knows it under the sweep root."""
    p = Path(path)
    return p.relative_to(root).as_posix() if p.is_relative_to(root) else path


def read_sweep(
    discovery: Discovery,
    parallel: Parallel = DEFAULT_EXECUTOR,
    workers: int | None = None,
    progress: Callable[[int, int], None] | None = None,
    max_points: int = CURVE_POINTS,
) -> Sweep:
    """Every run of `discovery` read and diagnosed (`read_runs`): the Sweep of their rows and curves."""
    return sweep_of(discovery, read_runs(discovery.runs, parallel, workers, progress, max_points))


def sweep_of(discovery: Discovery, results: Sequence[RunResult]) -> Sweep:
    """The Sweep of `discovery`'s runs read (one RunResult per run, in order), however they were read;
    results that are no log after all move to the discovery's `skipped`."""
    runs = [r for r in results if r.not_a_log is None]
    skipped = [f"{_relative(r.row.path, discovery.root)}: {r.not_a_log}" for r in results if r.not_a_log]
    if skipped:
        kept = {r.row.name for r in runs}
        discovery = replace(
            discovery,
            runs=tuple(s for s in discovery.runs if s.name in kept),
            skipped=discovery.skipped + tuple(skipped),
        )
    return Sweep(discovery, tuple(r.row for r in runs), {r.row.name: r.curves for r in runs if r.row.read})
