"""What every rule reads: the run, its components and decomposition, per-component statistics, the
evaluations."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from inspector.eval_state import EvalState
from inspector.findings import ComponentStats, Thresholds
from inspector.losses import ComponentSet, Decomposition
from inspector.runlog.record import RunLog


@dataclass(frozen=True)
class RuleContext:
    """One run as the rules see it (built once by `inspector.diagnose`)."""

    log: RunLog
    comps: ComponentSet
    dec: Decomposition
    stats: dict[str, ComponentStats]  # on `judged` rows of dec (steps with positives when some had none)
    evals: EvalState
    t: Thresholds
    zero_positive: np.ndarray | None  # (T,) bool on dec.steps: ~0 positive anchors there; None: not logged
    judged: np.ndarray  # (T,) bool: the rows the statistics were computed on
