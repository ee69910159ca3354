"""Shares of the objective: each weighted term's share of the total's mean and of its step-to-step
variance."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from inspector.losses import Decomposition


def _share_terms(decomposition: Decomposition) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Return the terms (weighted components, plus residual when a total was logged) and their total."""
    terms = {c.name: decomposition.weighted[c.name] for c in decomposition.components}
    if np.isfinite(decomposition.logged_total).any():
        terms["residual"] = decomposition.residual
        total = decomposition.logged_total
    else:
        total = decomposition.total
    # A sum is finite only when every value is: one read per series instead of a mask each (the usual case).
    if all(np.isfinite(np.sum(a)) for a in (total, *terms.values())):
        return terms, total
    ok = np.isfinite(total)
    for t in terms.values():
        ok &= np.isfinite(t)
    if ok.all():
        return terms, total
    return {k: t[ok] for k, t in terms.items()}, total[ok]


# The total's step-to-step changes count as "no variance" when their standard deviation is within float
# noise of the terms' magnitude: a few float32 ulps (2^-23 ≈ 1.2e-7 relative each), since values logged from
# float32 tensors carry that much rounding. A real loss moves by 1e-4 of its level or more between logged
# steps (epoch averages); perfectly linear losses gave var(Δtotal) of pure rounding and shares of 9e12 %.
FLOAT_NOISE_REL = 1e-6


def _abs_max(a: np.ndarray) -> float:
    """Return max |a| (two reads, no |a| array)."""
    return max(float(a.max()), -float(a.min()))


def variance_shares(decomposition: Decomposition) -> dict[str, float]:
    """Return each term's share of the total's step-to-step variance: in [0, 1], summing to 1 over the terms.

    Terms are the weighted components plus "residual" when a total was logged, so Δtotal = Σ Δterm and
    var(Δtotal) = Σ_k cov(Δterm_k, Δtotal) (the Euler allocation, which is also the Shapley value of the
    variance). That allocation is right where it matters: independent terms get var(Δterm_k)/var(Δtotal),
    and collinear terms get their share of the amplitude (a term moving 3× another in lockstep carries 3/4,
    a family of copies adds up to its real weight in the total), which var(Δterm_k)/Σ var(Δterm_j) is not.
    Its one flaw is sign: a term that moves against the total (negative covariance) damps the total's noise
    rather than making it, and its negative share pushed the others above 1. So

        share_k = max(c_k, 0) / Σ_j max(c_j, 0),   c_k = cov(Δterm_k, Δtotal)

    which is bounded by construction, sums to 1, and equals the Euler share whenever no term moves against
    the total. All NaN with fewer than 3 rows, or when the total's changes vary by no more than float noise
    (std(Δtotal) ≤ FLOAT_NOISE_REL × the largest |term| or |total|): a straight-line total has no noise
    for anyone to carry.
    """
    terms, total = _share_terms(decomposition)
    nan = {k: float("nan") for k in terms}
    if total.size < 3:
        return nan
    dt = np.diff(total)
    dt -= dt.mean()
    scale = max(_abs_max(a) for a in (total, *terms.values()))
    if float(np.sqrt(np.dot(dt, dt) / (dt.size - 1))) <= FLOAT_NOISE_REL * scale:
        return nan
    cov = {}
    d = np.empty_like(dt)  # every term's changes in one buffer (np.diff's arithmetic, no fresh array each)
    for k, t in terms.items():
        np.subtract(t[1:], t[:-1], out=d)
        d -= d.mean()  # centred as well: an uncentred Δterm times Σ Δtotal's rounding error is not 0
        cov[k] = max(float(np.dot(d, dt)), 0.0)
    s = sum(cov.values())
    return {k: c / s for k, c in cov.items()} if s > 0 else nan


def mean_shares(decomposition: Decomposition) -> dict[str, float]:
    """Return each term's share of the objective's mean: in [0, 1], summing to 1 (terms of `variance_shares`).

    share_k = max(m_k, 0) / Σ_j max(m_j, 0) with m_k the term's mean: for non-negative terms with no
    residual, exactly m_k / mean(total). A term with a negative mean, typically a negative residual (the
    weighted components add up to more than the logged total: a weight or a term's semantics is off,
    which the total-mismatch rule reports), takes nothing from the mean and gets 0; the others are
    shares of what the positive terms add up to. All NaN when no term has a positive mean.
    """
    terms, total = _share_terms(decomposition)
    pos = {k: max(float(t.mean()), 0.0) if t.size else 0.0 for k, t in terms.items()}
    s = sum(pos.values())
    if s <= 0.0:
        return {k: float("nan") for k in terms}
    return {k: m / s for k, m in pos.items()}
