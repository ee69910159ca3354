"""A checkpoint's balance report: its terms, pairs, suggestions and the one-line verdict."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from inspector.results import SharedParameters

if TYPE_CHECKING:
    # only a type here: inspector.data imports torch, which the Loss curves page (log levels) does not need
    pass

from inspector.balance.geometry import PairConflict, estimate, nanmean_columns, pair_conflicts, shares_of
from inspector.balance.measuring import SAME_WEIGHT
from inspector.balance.records import BalanceReport, LogLevels, Measurements, SuggestedWeights, TermBalance
from inspector.balance.suggest import equal_grad_share, log_suggestions

# Gradients of different losses over ~4·10⁵ shared parameters (the reference model's) are rarely far from
# orthogonal (every pair on the demo's checkpoints averages |cos| < 0.1); below this the verdict says so,
# since a conflict rate near 50% then means the sign flips from episode to episode, not that the terms fight.
NEARLY_ORTHOGONAL = 0.05


def _pct(x: float) -> str:
    return "n/a" if not math.isfinite(x) else f"{100 * x:.0f}%"


def _share_ci(t: TermBalance) -> str:
    s = t.grad_share
    return f" (CI {100 * s.lo:.0f}–{100 * s.hi:.0f}%)" if math.isfinite(s.lo) else ""


SHARED_WORDS: dict[SharedParameters, str] = {
    "last": "the last shared layer",
    "all": "the shared backbone and neck",
}


def verdict(
    terms: Sequence[TermBalance],
    conflicts: Sequence[PairConflict],
    equal: SuggestedWeights | None = None,
    episodes: int = 0,
    shared: SharedParameters = "last",
) -> str:
    """Returns the one-line verdict: each term's gradient share (largest first) with its CI, the pair that
    conflicts most often (among pairs whose angle is defined on at least half of the `episodes`, so that two
    episodes of a rarely active term do not make the headline), and what equal gradient shares would take the
    weights to."""
    ordered = sorted(
        terms, key=lambda t: -t.grad_share.mean if math.isfinite(t.grad_share.mean) else math.inf
    )
    if not ordered or not math.isfinite(ordered[0].grad_share.mean):
        parts = ["no term reaches the shared layers on any episode"]
    else:
        head, *rest = ordered
        parts = [
            f"{head.name} carries {_pct(head.grad_share.mean)} of the gradient on "
            f"{SHARED_WORDS[shared]}{_share_ci(head)}"
            + "".join(f", {t.name} {_pct(t.grad_share.mean)}{_share_ci(t)}" for t in rest)
        ]
    defined = [c for c in conflicts if math.isfinite(c.conflict_rate)]
    supported = [c for c in defined if 2 * c.episodes >= episodes]
    if defined:
        worst = max(supported or defined, key=lambda c: (c.conflict_rate, -c.cosine))
        where = (
            f"the {worst.episodes} episodes where both reach the shared layers"
            if worst.episodes < episodes
            else "episodes"
        )
        slight = ", nearly orthogonal on average" if abs(worst.cosine) < NEARLY_ORTHOGONAL else ""
        if worst.conflict_rate > 0:
            parts.append(
                f"{worst.a} and {worst.b} conflict on {_pct(worst.conflict_rate)} of {where} "
                f"(mean cosine {worst.cosine:+.2f}{slight})"
            )
        else:
            parts.append("no two terms' gradients point apart on any episode")
    if equal is not None and equal.weights is not None:
        by_name = {t.name: t.weight for t in terms}
        parts.append(
            "equal shares at the same weight sum: "
            + ", ".join(f"{n} ×{by_name[n]:.3g} → ×{w:.3g}" for n, w in equal.weights.items())
        )
    return "; ".join(parts)


def balance_report(
    checkpoint: str,
    m: Measurements,
    weights: np.ndarray,
    levels: LogLevels | None = None,
    notes: Sequence[str] = (),
) -> BalanceReport:
    """Returns the BalanceReport of one checkpoint's Measurements with its terms' `weights` (K,) and, when
    given, its run log's levels (for the uncertainty and DWA suggestions)."""
    names = m.names
    w = np.asarray(weights, np.float64)
    norms = m.norms  # (E, K)
    shares = shares_of(norms)  # (E, K)
    raw, weighted = nanmean_columns(m.raw), nanmean_columns(m.weighted)  # (K,)
    terms = tuple(
        TermBalance(
            name,
            float(raw[k]),
            float(w[k]),
            float(weighted[k]),
            estimate(norms[:, k]),
            estimate(shares[:, k]),
        )
        for k, name in enumerate(names)
    )
    conflicts = pair_conflicts(names, m.grams)
    equal = equal_grad_share(names, w, norms)
    uncert, dwa_weights = log_suggestions(names, w, levels, np.array([t.raw for t in terms]))
    all_notes = list(notes)
    active = (norms > 0).sum(0)  # (K,) episodes where each term reaches the shared parameters
    for name, count in zip(names, active, strict=True):
        if 0 < count < len(norms) / 2:
            all_notes.append(
                f"{name}: a gradient on the shared parameters in only {count} of {len(norms)} episodes; "
                "its mean norm and the weights suggested from it rest on those"
            )
    if m.skipped:
        all_notes.append(f"{m.skipped} episode(s) without a query were not measured")
    if levels is not None:
        all_notes.extend(levels.notes)
        for n, lw in levels.weights.items():
            k = names.index(n)
            if math.isfinite(w[k]) and abs(lw - w[k]) > SAME_WEIGHT * max(abs(w[k]), 1e-12):
                all_notes.append(
                    f"{n}: the log states weight {lw:.4g}, the checkpoint's losses use {w[k]:.4g}"
                )
    suggestions = (equal, uncert, dwa_weights)
    return BalanceReport(
        checkpoint,
        int(m.grams.shape[0]),
        terms,
        conflicts,
        suggestions,
        verdict(terms, conflicts, equal, len(norms), m.shared),
        tuple(all_notes),
        None if levels is None else levels.source,
        norms,
        m.shared,
    )
