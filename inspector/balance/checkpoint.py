"""One checkpoint end to end: its sibling log, its stated weights, its measurement and its report."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from inspector.errors import InspectorError
from inspector.results import SharedParameters
from inspector.runlog.record import RunLog

if TYPE_CHECKING:
    # only a type here: inspector.data imports torch, which the Loss curves page (log levels) does not need
    from inspector.data.records import Episode

from inspector.balance.levels import log_levels
from inspector.balance.measuring import measure, stated_weights, term_weights
from inspector.balance.records import BalanceReport, Measurements
from inspector.balance.report import balance_report


def sibling_log(checkpoint: str | Path) -> Path | None:
    """Returns the run's log.jsonl beside the checkpoint (as the Compare page finds a run's log), or None."""
    sibling = Path(checkpoint).parent / "log.jsonl"
    return sibling if sibling.is_file() else None


def checkpoint_meta(checkpoint: str | Path) -> dict[str, Any]:
    """Returns the checkpoint file's top-level metadata; {} for a file inspector cannot read (a user
    adapter's)."""
    from inspector.checkpoint import load_raw

    try:
        raw = load_raw(checkpoint)
    except InspectorError:
        return {}
    return {k: v for k, v in raw.items() if k != "state_dict"} if isinstance(raw, dict) else {}


def measure_checkpoint(
    detector: Any,
    checkpoint: str,
    episodes: Iterable[Episode],
    total: int,
    shared: SharedParameters = "last",
) -> Measurements:
    """Returns `measure(detector, episodes)`; InspectorError naming the checkpoint when the adapter cannot
    measure per-loss gradients, or measured them on none of its `total` episodes."""
    if not callable(getattr(detector, "term_gradients", None)):
        raise InspectorError(
            f"adapter {detector.name!r} cannot measure per-loss gradients "
            "(it has no term_gradients(episode) → TermGradients)",
            path=checkpoint,
        )
    measured = measure(detector, episodes, shared)
    if measured is None:
        raise InspectorError(
            f"adapter {detector.name!r} measured no per-loss gradients on any of its {total} episodes",
            path=checkpoint,
        )
    return measured


def checkpoint_report(
    checkpoint: str, detector: Any, measured: Measurements, log: RunLog | None
) -> BalanceReport:
    """Returns the BalanceReport of one checkpoint's Measurements: its terms' weights as the losses were
    summed (checked against what the checkpoint and the log state), the log's levels up to the checkpoint's
    step (for the uncertainty and DWA suggestions), and the detector's load warnings among the notes."""
    meta = checkpoint_meta(checkpoint)
    levels = None
    if log is not None:
        step = meta.get("step")
        step = step if isinstance(step, int) and not isinstance(step, bool) else None
        levels = log_levels(log, measured.names, step)
    stated = [("the checkpoint", stated_weights(meta))]
    if levels is not None:
        stated.append(("the log", levels.weights))
    weights, notes = term_weights(measured.names, measured.raw, measured.weighted, stated)
    loaded = getattr(detector, "warnings", ())
    loaded = [str(w) for w in loaded] if isinstance(loaded, (tuple, list)) else []
    return balance_report(checkpoint, measured, weights, levels, [*loaded, *notes])
