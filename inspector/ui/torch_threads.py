"""torch held to one thread while the pages evaluate, shared by every page that runs a detector: the
server's other sessions use the cores too."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from inspector import limits


@dataclass
class _TorchThreads:
    """How many evaluations run now, and torch's thread count before the first of them began."""

    users: int = 0
    before: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


_TORCH_THREADS = _TorchThreads()


@contextmanager
def one_torch_thread() -> Iterator[None]:
    """torch limited to limits.eval_threads() (one) for an evaluation, as `evaluate` runs by default, and
    restored when the last evaluation running (on any thread: A and B run at once) is done.

    The server's other sessions use the cores too: torch's default thread pool oversubscribes them (an episode
    with gradient norms took 3.3 s on torch's 2 threads with the other core busy, 0.17 s on one).
    """
    import torch

    state = _TORCH_THREADS
    with state.lock:
        if state.users == 0:
            state.before = torch.get_num_threads()
            torch.set_num_threads(limits.eval_threads())
        state.users += 1
    try:
        yield
    finally:
        with state.lock:
            state.users -= 1
            if state.users == 0:
                torch.set_num_threads(state.before)
