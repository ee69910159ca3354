"""The Ray pool: each item a Ray task (`num_cpus=1`, or `num_gpus` when asked; one torch thread), retried
once, watched with `ray.wait` for progress, cancelled on Ctrl-C.

Ray is imported here only, when `--executor ray` is given; without it the command stops with one line
saying how to install it. A command joins the Ray already initialised in its process (a test's, a
notebook's), else the cluster at --ray-address or RAY_ADDRESS, else starts a local one sized by the CPUs it
may use; it shuts down only what it started or joined.
"""

from __future__ import annotations

import logging
import os
import socket
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, redirect_stdout
from types import ModuleType
from typing import Any, TypeVar

from inspector.errors import InspectorError
from inspector.executors.progress import Progress

T = TypeVar("T")
R = TypeVar("R")

# A task that raises (or whose worker dies) runs once more before its shard is reported: a flaky node or an
# OOM-killed worker should not cost the run, a deterministic failure costs one repeat of one shard.
RETRIES = 1
# inspector's settings (cache dir, limits, roots, allowed adapters) travel with each task, as read here now:
# a worker reads and caches as this process would (the same rule as sweep/reading.py's process pool).
_SETTINGS = "INSPECTOR_"


def import_ray() -> ModuleType:
    """The ray module; InspectorError saying how to install it when it is missing."""
    try:
        import ray
    except ImportError:
        raise InspectorError("--executor ray needs Ray: pip install -r requirements-ray.txt") from None
    return ray


# How long a cluster's address may take to accept a connection: ray.init itself waits minutes on a wrong one.
CONNECT_TIMEOUT_S = 10.0


def check_reachable(address: str) -> None:
    """InspectorError when a host:port address (also ray://host:port) accepts no TCP connection within
    CONNECT_TIMEOUT_S; other forms ("auto", a local session) are left to ray.init."""
    host, sep, port = address.removeprefix("ray://").rpartition(":")
    if not sep or not host or not port.isdigit():
        return
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=CONNECT_TIMEOUT_S).close()
    except OSError as exc:
        raise InspectorError(f"cannot reach the Ray cluster at {address} ({exc})") from None


@contextmanager
def connected(address: str | None) -> Iterator[int]:
    """Ray initialised for the block; yields the cluster's CPU count (the default number of tasks)."""
    from inspector.executors import available_cpus

    ray = import_ray()
    ours = not ray.is_initialized()
    if ours:
        address = address or os.environ.get("RAY_ADDRESS") or None
        if address:
            check_reachable(address)
        local = {} if address else {"num_cpus": available_cpus()}
        try:
            ray.init(
                address=address,
                include_dashboard=False,
                log_to_driver=False,
                logging_level=logging.WARNING,
                **local,
            )
        except (ConnectionError, RuntimeError, ValueError) as exc:
            where = f"the Ray cluster at {address}" if address else "a local Ray cluster"
            raise InspectorError(f"cannot start or join {where} ({type(exc).__name__}: {exc})") from None
    try:
        yield max(1, int(ray.cluster_resources().get("CPU", 1)))
    finally:
        if ours:
            ray.shutdown()


def run_task(fn: Callable[[T], R], item: T, settings: dict[str, str]) -> R:
    """One task's body in a Ray worker: this command's inspector settings, one torch thread, then fn(item)."""
    import torch

    for name in [k for k in os.environ if k.startswith(_SETTINGS) and k not in settings]:
        del os.environ[name]
    os.environ.update(settings)
    torch.set_num_threads(1)
    return fn(item)


def failure_text(exc: BaseException) -> str:
    """A failed task's cause as "Type: message" (the user's exception, not Ray's wrapper around it)."""
    cause = getattr(exc, "cause", None)
    if isinstance(cause, BaseException):
        return f"{type(cause).__name__}: {cause}"
    first = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {first[0] if first else ''}"


class RayPool:
    """Runs each item as a Ray task; `workers` is the cluster's CPU count."""

    def __init__(self, command: str, workers: int, gpus: float = 0.0):
        self.command, self.workers, self.gpus = command, workers, gpus

    def map(self, fn: Callable[[T], R], items: Sequence[T], labels: Sequence[str]) -> list[R]:
        ray = import_ray()
        settings = {k: v for k, v in os.environ.items() if k.startswith(_SETTINGS)}
        resources: dict[str, Any] = {"num_cpus": 1}
        if self.gpus:
            resources["num_gpus"] = self.gpus
        task = ray.remote(run_task)
        # Ray's driver prints its notes on tasks (a retry, say) to stdout, from a thread of its own: while the
        # tasks run they go to stderr, so stdout keeps only the command's output (one JSON object).
        with redirect_stdout(sys.stderr):
            refs = [
                task.options(
                    name=f"{self.command} {label}", max_retries=RETRIES, retry_exceptions=True, **resources
                ).remote(fn, item, settings)
                for item, label in zip(items, labels, strict=True)
            ]
            return self._run(ray, refs, labels)

    def _run(self, ray: ModuleType, refs: list[Any], labels: Sequence[str]) -> list[Any]:
        """The refs' results in order, with progress; a failure names its label, and cancels the rest."""
        index = {ref: i for i, ref in enumerate(refs)}
        results: list[Any] = [None] * len(refs)
        progress = Progress(self.command, len(refs))
        pending = list(refs)
        try:
            while pending:
                ready, pending = ray.wait(pending, num_returns=1)
                for ref in ready:
                    i = index[ref]
                    try:
                        results[i] = ray.get(ref)
                    except Exception as exc:  # noqa: BLE001 — Ray's errors wrap the task's: report by shard
                        raise InspectorError(
                            f"{labels[i]} failed {RETRIES + 1} times: {failure_text(exc)}"
                        ) from None
                    progress.step()
        except BaseException:  # a failed shard or Ctrl-C: the other tasks are of no use now
            for ref in pending:
                ray.cancel(ref, force=True)
            raise
        return results
