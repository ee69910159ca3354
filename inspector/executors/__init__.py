"""Where a command's shards run: in this process one after another (`local`), or as Ray tasks (`ray`).

    options:  add_executor_arguments(parser)  → --executor local|ray, --shards N, --ray-address, --task-gpus
    pool:     with open_pool(args, "evaluate") as pool: pool.map(fn, items, labels) → [fn(item) for item]

A pool's `map` returns every result in the order of `items`, or raises InspectorError naming the item (its
label, e.g. "shard 2/3") that failed; it never drops one. `workers` is how many tasks can run at once, the
default number of shards. The Ray import is lazy: only `--executor ray` needs Ray installed.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Literal, Protocol, TypeVar, get_args

from inspector.errors import InspectorError

Executor = Literal["local", "ray"]
EXECUTORS: tuple[Executor, ...] = get_args(Executor)

T = TypeVar("T")
R = TypeVar("R")


class Pool(Protocol):
    """Runs one function over items as tasks (see the module docstring)."""

    workers: int

    def map(self, fn: Callable[[T], R], items: Sequence[T], labels: Sequence[str]) -> list[R]: ...


def add_executor_arguments(parser: argparse.ArgumentParser, what: str) -> None:
    """--executor, --shards, --ray-address and --task-gpus; `what` says what one task does."""
    parser.add_argument(
        "--executor",
        choices=EXECUTORS,
        default=None,
        help=f"where {what} run: 'local' (in this process, one after another) or 'ray' (Ray tasks, one "
        "CPU and one torch thread each; pip install -r requirements-ray.txt)",
    )
    parser.add_argument(
        "--shards",
        type=int,
        default=None,
        metavar="N",
        help="with --executor: the number of tasks (default: ray, one per CPU of the cluster; local, 1)",
    )
    parser.add_argument(
        "--ray-address",
        default=None,
        metavar="ADDR",
        help="with --executor ray: the cluster to join (default: RAY_ADDRESS, else a local cluster started "
        "for this command, one worker per available CPU)",
    )
    parser.add_argument(
        "--task-gpus",
        type=float,
        default=0.0,
        metavar="G",
        help="with --executor ray: GPUs each task asks Ray for (default 0)",
    )


def is_sharded(args: argparse.Namespace) -> bool:
    """Whether the command runs through a pool (--executor or --shards given)."""
    return getattr(args, "executor", None) is not None or getattr(args, "shards", None) is not None


def check_executor_options(args: argparse.Namespace) -> None:
    """Refuses, before any work, what the executor options cannot do: --shards below 1, Ray's options without
    --executor ray, and --executor ray without Ray installed (saying how to install it)."""
    if args.shards is not None and args.shards < 1:
        raise InspectorError(f"--shards must be ≥ 1 (got {args.shards})")
    if args.executor != "ray" and (args.ray_address is not None or args.task_gpus):
        raise InspectorError("--ray-address and --task-gpus need --executor ray")
    if args.task_gpus < 0:
        raise InspectorError(f"--task-gpus must be ≥ 0 (got {args.task_gpus})")
    if args.executor == "ray":
        from inspector.executors.ray_tasks import import_ray

        import_ray()


def available_cpus() -> int:
    """The CPUs this process may run on (its affinity, not the machine's count)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def shard_count(args: argparse.Namespace, pool: Pool, items: int | None = None) -> int:
    """--shards, else one per worker of the pool; never more than `items` when given."""
    n = pool.workers if args.shards is None else args.shards
    return max(1, min(n, items)) if items is not None else n


@contextmanager
def open_pool(args: argparse.Namespace, command: str) -> Iterator[Pool]:
    """The pool --executor names (local when only --shards is given), open for the block."""
    executor: Executor = args.executor or "local"
    if executor == "local":
        from inspector.executors.local import LocalPool

        yield LocalPool(command)
        return
    from inspector.executors.ray_tasks import RayPool, connected

    with connected(args.ray_address) as workers:
        yield RayPool(command, workers, args.task_gpus)


__all__ = [
    "EXECUTORS",
    "Executor",
    "Pool",
    "add_executor_arguments",
    "available_cpus",
    "check_executor_options",
    "is_sharded",
    "open_pool",
    "shard_count",
]
