"""One side of a checkpoint comparison evaluated in a worker process of its own.

The Compare page evaluates A and B at once. On two threads of one process they take as long as one after the
other: an episode is ~15 ms of small torch calls, and the Python between them holds the interpreter's lock
(the demo's pair, measured: 4.1 s on two threads, 4.0 s one after the other, 2.2 s in two processes). So the
page runs A on a thread and B here, in one worker process that every session shares, one side at a time.

The worker is `python -m inspector.compare_worker`, fed pickled SideJobs on its stdin; it answers on its
stdout with ("progress", job, episodes done), then ("rows", job, BatchResult) and ("done", job, TIDE
breakdown), or ("error", job, exception). The page summarises the rows and computes their half of the paired
bootstrap while the worker runs TIDE. Written here rather than with multiprocessing or concurrent.futures'
process pool: both start a worker by re-running the parent's `__main__`, and under Streamlit `__main__` is
the page itself (measured: the spawned worker ran the Compare page and died).

`warm()` starts the worker when the page opens, so that its imports (torch, ~1.5 s) overlap the page's own.
It reads the checkpoint and the dataset from their paths and keeps the result in the evaluation cache the page
names. A worker that dies (a checkpoint that crashes the interpreter) fails the sides it held with a message
naming its exit status and takes nothing else down; the next side starts a fresh one.
"""

from __future__ import annotations

import atexit
import os
import pickle
import subprocess
import sys
import threading
from collections.abc import Callable, Collection
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from inspector.errors import InspectorError

if TYPE_CHECKING:  # the page imports this module before anything heavy, to start the worker first
    import numpy as np
    import pandas as pd

    from inspector.batch import BatchResult, EpisodePlan, EvalSettings
    from inspector.compare import ResampledMaps
    from inspector.evaluate import ImageRecord
    from inspector.results import Detector
    from inspector.tide import ErrorBreakdown


@dataclass(frozen=True)
class SideJob:
    """What the worker needs to evaluate one side: the checkpoint, its adapter and the adapters the server
    allows, the dataset's folder, the settings, the run's metadata (batch.run_meta), the evaluation cache's
    folder, and the page's import path (an adapter named 'package.module:factory' is imported from it)."""

    checkpoint: str
    adapter: str
    allowed: tuple[str, ...]
    data: str
    settings: EvalSettings
    meta: dict[str, Any]
    cache: str
    path: tuple[str, ...]


@dataclass(frozen=True)
class SideResult:
    """What the Compare page shows of one side, computed where that side was evaluated: its BatchResult
    (kept in the evaluation cache, its summary beside it), its TIDE breakdown and its half of the paired
    bootstrap (compare.resampled_maps), each None without query images."""

    batch: BatchResult
    breakdown: ErrorBreakdown | None
    resampled: ResampledMaps | None


def query_images(rows: pd.DataFrame) -> tuple[list[ImageRecord], np.ndarray]:
    """A result's query images in position order (batch.image_records) and each one's episode."""
    from inspector.batch import image_records

    images = rows[rows["kind"] == "image"].sort_values("position", kind="stable")
    return image_records(images), images["position"].to_numpy()


def breakdown(batch: BatchResult) -> ErrorBreakdown | None:
    """The TIDE breakdown of the result's query images in position order; None without one."""
    from inspector.tide import error_breakdown

    records, _ = query_images(batch.rows)
    return error_breakdown(records) if records else None


def resampled(batch: BatchResult) -> ResampledMaps | None:
    """The result's half of the paired bootstrap (compare.resampled_maps); None without query images."""
    from inspector.compare import resampled_maps

    records, episodes = query_images(batch.rows)
    return resampled_maps(records, episodes) if records else None


def evaluate_side(
    detector: Detector,
    plan: EpisodePlan,
    meta: dict[str, Any],
    progress: Callable[[int, int], None] | None = None,
) -> SideResult:
    """The side's SideResult, all of it on the calling thread (the worker splits it: see serve): its
    BatchResult from the evaluation cache or run and kept there, with its summary kept beside it
    (batch.cached_summary). The caller sets torch's threads."""
    from inspector.batch import cached_summary, evaluate_batch

    batch = evaluate_batch(detector, plan, meta, progress=progress, cache=True)
    cached_summary(batch)
    return SideResult(batch, breakdown(batch), resampled(batch))


def runs_in_worker(adapter: str) -> bool:
    """Whether a fresh interpreter resolves the adapter as this one does: a built-in name or an importable
    'package.module:factory' (a name registered at run time exists only in the process that registered it)."""
    from inspector.adapters import BUILT_IN_ADAPTERS

    return adapter in BUILT_IN_ADAPTERS or ":" in adapter


# --------------------------------------------------------------------------------------- in the worker


def _evaluate(job: SideJob, send: Callable[[tuple], None], number: int) -> BatchResult:
    from inspector.adapters import load_detector
    from inspector.batch import EpisodePlan, evaluate_batch
    from inspector.data import read_dataset

    sys.path[:0] = [p for p in job.path if p not in sys.path]
    os.environ["INSPECTOR_CACHE_DIR"] = job.cache  # batch.cache_dir(): the page's cache, not the worker's
    detector = load_detector(job.checkpoint, job.adapter, allowed=job.allowed)
    plan = EpisodePlan(read_dataset(job.data), None, job.settings)
    progress = lambda done, _todo: send(("progress", number, done))  # noqa: E731
    return evaluate_batch(detector, plan, job.meta, progress=progress, cache=True)  # the page summarises


def serve(jobs: IO[bytes], answers: IO[bytes]) -> None:
    """The worker's loop: (number, SideJob) pairs from `jobs` until it closes. Each is answered on `answers`
    with its rows ("rows": the page summarises them and computes the bootstrap's half while the worker goes
    on to) the TIDE breakdown ("done"), or with the error that stopped it ("error")."""
    import torch

    import inspector.batch
    import inspector.tide  # noqa: F401  (imported now, while the page imports its own)
    from inspector import limits

    torch.set_num_threads(limits.eval_threads())  # as the page's thread: sessions share the cores

    def send(message: tuple) -> None:
        pickle.dump(message, answers, pickle.HIGHEST_PROTOCOL)
        answers.flush()

    while True:
        try:
            number, job = pickle.load(jobs)
        except EOFError:  # the page's process closed the pipe (or died): nothing more to do
            return
        try:
            batch = _evaluate(job, send, number)
            send(("rows", number, batch))
            send(("done", number, breakdown(batch)))
        except Exception as e:  # the side's own error, raised again in the page
            try:
                send(("error", number, e))
            except Exception:  # not picklable: its text
                send(("error", number, InspectorError(f"{type(e).__name__}: {e}")))


# --------------------------------------------------------------------------------------- in the page


@dataclass
class _Side:
    """A side given to the worker: its result to come, the episodes it has done, and its rows and their half
    of the bootstrap once they came (before the breakdown)."""

    result: Future[SideResult] = field(default_factory=Future)
    done: int = 0
    rows: tuple[BatchResult, ResampledMaps | None] | None = None


class _Worker:
    """The shared worker process, the sides it holds (answered in the order given) and a thread reading its
    answers."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.process: subprocess.Popen[bytes] | None = None
        self.sides: dict[int, _Side] = {}
        self.numbered = 0

    def running(self) -> subprocess.Popen[bytes]:
        """The worker, started unless it runs; under self.lock."""
        if self.process is None:
            root = str(Path(__file__).resolve().parents[1])  # the folder holding this `inspector`
            path = os.pathsep.join([root, os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)
            self.process = subprocess.Popen(
                [sys.executable, "-m", "inspector.compare_worker"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                env={**os.environ, "PYTHONPATH": path},
            )
            threading.Thread(
                target=self._read, args=(self.process,), name="inspector-compare-worker", daemon=True
            ).start()
        return self.process

    def _read(self, process: subprocess.Popen[bytes]) -> None:
        assert process.stdout is not None
        why = "stopped"
        while True:
            try:
                kind, number, value = pickle.load(process.stdout)
            except EOFError:  # the worker exited (or died)
                break
            except Exception as e:  # a torn or unreadable answer: the stream cannot be trusted past it
                why = f"sent an unreadable answer ({type(e).__name__}: {e}) and was stopped"
                process.kill()
                break
            with self.lock:
                side = self.sides.get(number)
                if side is not None and kind == "progress":
                    side.done = int(value)
                elif side is not None and kind != "rows":
                    del self.sides[number]
            if side is not None and kind != "progress":
                self._answer(number, side, kind, value)
        status = process.wait()
        with self.lock:
            if self.process is process:
                self.process = None
            lost, self.sides = self.sides, {}
        for side in lost.values():
            side.result.set_exception(
                InspectorError(f"the evaluation's worker process {why} (exit status {status}); try again")
            )

    def _answer(self, number: int, side: _Side, kind: str, value: Any) -> None:
        """Takes one of the worker's answers about a side (not its progress)."""
        try:
            if kind == "rows":  # the summary and the bootstrap's half here while the worker runs TIDE
                from inspector.batch import cached_summary

                cached_summary(value)
                side.rows = (value, resampled(value))
            elif kind == "done":
                if side.rows is None:
                    raise InspectorError("the evaluation's worker process answered without the rows")
                side.result.set_result(SideResult(side.rows[0], value, side.rows[1]))
            else:
                side.result.set_exception(value)
        except Exception as e:
            with self.lock:
                self.sides.pop(number, None)
            if not side.result.done():
                side.result.set_exception(e)

    def close(self) -> None:
        with self.lock:
            if self.process is not None and self.process.stdin is not None:
                self.process.stdin.close()  # the worker finishes its side and exits


_WORKER = _Worker()
atexit.register(_WORKER.close)


def warm() -> None:
    """Starts the worker now unless it runs: its imports then overlap the page's."""
    with _WORKER.lock:
        _WORKER.running()


def busy() -> bool:
    """Whether the worker holds sides it has not answered yet."""
    with _WORKER.lock:
        return bool(_WORKER.sides)


@dataclass(frozen=True)
class Submitted:
    """A side given to the worker: (BatchResult, TIDE breakdown) to come, and a reader of its progress."""

    result: Future[SideResult]
    _side: _Side

    def done(self) -> int:
        """Episodes this side has evaluated (0 while the worker is on an earlier side)."""
        return self._side.done


def submit(
    checkpoint: str,
    adapter: str,
    allowed: Collection[str],
    data: str,
    settings: EvalSettings,
    meta: dict[str, Any],
    cache: str | os.PathLike[str],
) -> Submitted:
    """Evaluates the side in the worker (evaluate_side), after the sides it holds already."""
    job = SideJob(checkpoint, adapter, tuple(allowed), data, settings, meta, str(cache), tuple(sys.path))
    side = _Side()
    with _WORKER.lock:
        process = _WORKER.running()
        _WORKER.numbered += 1
        _WORKER.sides[_WORKER.numbered] = side
        assert process.stdin is not None
        try:
            pickle.dump((_WORKER.numbered, job), process.stdin, pickle.HIGHEST_PROTOCOL)
            process.stdin.flush()
        except OSError:  # the worker died just now: its reader fails the side
            pass
    return Submitted(side.result, side)


def _main() -> None:
    answers = os.fdopen(os.dup(1), "wb")  # answers on the real stdout; anything printed goes to stderr
    os.dup2(2, 1)
    serve(sys.stdin.buffer, answers)


if __name__ == "__main__":  # run as `python -m inspector.compare_worker`
    # serve from the module imported under its own name, so that what the worker pickles (SideResult…) names
    # `inspector.compare_worker`, which the page can unpickle, not `__main__`
    from inspector.compare_worker import _main as main

    main()
