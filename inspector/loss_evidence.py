"""Evidence in a log's own numbers for how its loss terms combine: scaled/unscaled twins, and the logged
total.

Two measurements, both pure functions of aligned arrays:

- `twin_ratio`: DETR-family trainers log each loss twice, multiplied by its gain and as `<name>_unscaled`;
  the ratio of the two is the gain, and it must be the same at every step.
- `check_total`: a logged total T is the objective; the terms as logged either add up to it (they are
  logged after their gains), or add up to it once multiplied by known gains (they are logged raw), or T is
  some other non-negative combination of them, which a least-squares fit (`scipy.optimize.nnls`) recovers
  when the terms are not collinear.

"Adds up" is judged against the precision the values were printed with: a log that prints 4 decimals
cannot add up closer than the sum of its rounding errors. Each value's print precision is read off the
value itself (`print_bound`), so a log written with `%.4f`, one with `%.3e` and one with full float
precision are each held to what they can show.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

# Decimal places tried when reading a value's print precision (1e-15 is below float64's resolution at 1).
_MAX_DECIMALS = 15
# Relative slack for sums computed in float32 on a GPU and averaged in float64 (DETR, YOLOX): a few ulp of
# float32 (1.2e-7) per term.
_FLOAT_SLACK = 1e-6
# An exact relation holds at this fraction of points at least (a torn last row, one NaN-adjacent step).
EXACT_FRACTION = 0.95
# Window-smoothed logs (Detectron2 prints the median over 20 iterations of each term and of the total
# separately) cannot add up exactly; a relation within 5% of the total's median is called approximate,
# and must beat the alternative by 3x to decide anything.
APPROX_RELATIVE = 0.05
APPROX_MARGIN = 3.0
# A least-squares fit names weights only when the terms are far from collinear: with values printed to 4
# significant digits a condition number of 100 leaves the fitted weights uncertain to ~1%.
MAX_CONDITION = 100.0
# A twin ratio that varies by more than this (relative) is not one constant gain.
TWIN_SPREAD = 1e-3
# Rows a relation is judged on at most: an evenly spaced sample of 20,000 rows estimates the fraction of
# exact rows to ±0.3% and the median residual closely; all 1M rows cost 1.7 s of print-precision reading
# (bench/bench_analysis.py), the sample 0.03 s.
MAX_ROWS = 20_000


def print_bound(values: np.ndarray) -> np.ndarray:
    """Half a unit in the last decimal place each value was printed with (0 for full float precision).

    0.1235 → 5e-5, 4.746e-05 → 5e-9, 3 → 0.5. A value that needs more than 15 decimals was written at full
    precision (json.dumps of a float) and gets 0: only float slack applies to it.
    """
    v = np.asarray(values, dtype=np.float64)
    bound = np.zeros(v.shape)
    todo = np.isfinite(v)
    ulps = 4 * np.spacing(np.abs(np.where(todo, v, 0.0)))
    for decimals in range(_MAX_DECIMALS + 1):
        if not todo.any():
            break
        hit = todo & (np.abs(np.round(v, decimals) - v) <= ulps)
        bound[hit] = 0.5 * 10.0**-decimals
        todo &= ~hit
    return bound


@dataclass(frozen=True)
class TotalFit:
    """How well T = Σ coefficient·term holds: relative residual, and whether it is exact to print
    precision."""

    coefficients: dict[str, float]
    relative_residual: float  # median |T − Σ a·c| / median |T|
    exact: bool  # within print precision (plus float slack) at ≥ EXACT_FRACTION of points
    points: int  # rows judged (an even sample of MAX_ROWS on long logs)

    @property
    def approximate(self) -> bool:
        return self.exact or self.relative_residual <= APPROX_RELATIVE


def _rows(total: np.ndarray, terms: dict[str, np.ndarray]) -> np.ndarray:
    """Rows where the total and every term are finite: all of them, or an even sample of MAX_ROWS."""
    ok = np.isfinite(total)
    for v in terms.values():
        ok &= np.isfinite(v)
    found = np.flatnonzero(ok)
    if found.size > MAX_ROWS:
        ok[:] = False
        ok[found[np.linspace(0, found.size - 1, MAX_ROWS).astype(np.int64)]] = True
    return ok


def fit_quality(total: np.ndarray, terms: dict[str, np.ndarray], coefficients: dict[str, float]) -> TotalFit:
    """How well `total` equals Σ coefficients[k]·terms[k] on the rows where all are finite."""
    ok = _rows(total, terms)
    n = int(ok.sum())
    if n == 0:
        return TotalFit(dict(coefficients), float("nan"), False, 0)
    t = total[ok]
    combined = np.zeros(n)
    bound = print_bound(t)
    magnitude = np.abs(t)
    for k, v in terms.items():
        a = coefficients.get(k, 0.0)
        part = a * v[ok]
        combined += part
        bound += abs(a) * print_bound(v[ok])
        magnitude += np.abs(part)
    residual = np.abs(t - combined)
    tolerance = bound * (1 + 1e-9) + _FLOAT_SLACK * magnitude
    scale = float(np.median(np.abs(t)))
    relative = (
        float(np.median(residual) / scale) if scale > 0 else (0.0 if not residual.any() else float("inf"))
    )
    exact = bool(np.mean(residual <= tolerance) >= EXACT_FRACTION)
    return TotalFit(dict(coefficients), relative, exact, n)


@dataclass(frozen=True)
class FittedWeights:
    """A non-negative least-squares fit of T on the terms, and whether its weights are determined."""

    fit: TotalFit
    unique: bool  # the terms are far from collinear (condition number ≤ MAX_CONDITION)
    condition: float
    undetermined: tuple[str, ...]  # terms that are zero or constant throughout: no fit can weigh them


def fit_weights(total: np.ndarray, terms: dict[str, np.ndarray]) -> FittedWeights | None:
    """The non-negative weights that best rebuild `total` from `terms` (scipy's NNLS), or None with too few
    points."""
    from scipy.optimize import nnls

    ok = _rows(total, terms)
    names = [k for k, v in terms.items() if np.ptp(v[ok]) > 0] if ok.any() else []
    undetermined = tuple(k for k in terms if k not in names)
    if not names or int(ok.sum()) < len(names) + 3:
        return None
    a = np.column_stack([terms[k][ok] for k in names])
    scale = np.linalg.norm(a, axis=0)
    singular = np.linalg.svd(a / scale, compute_uv=False)
    condition = float(singular[0] / singular[-1]) if singular[-1] > 0 else float("inf")
    coef, _ = nnls(a, total[ok])
    coefficients = {k: float(c) for k, c in zip(names, coef, strict=True)} | {k: 0.0 for k in undetermined}
    return FittedWeights(
        fit_quality(total, terms, coefficients), condition <= MAX_CONDITION, condition, undetermined
    )


Verdict = Literal["weighted", "raw", "fit", "inconclusive"]


@dataclass(frozen=True)
class TotalCheck:
    """What the logged total says: the terms are logged weighted, raw (with the known gains), fit, or
    nothing."""

    verdict: Verdict
    exact: bool
    as_logged: TotalFit  # T vs Σ terms as logged
    as_raw: TotalFit | None  # T vs Σ gain·term, when some known gain differs from 1
    fitted: FittedWeights | None  # when neither hypothesis holds

    def short(self, total_name: str) -> str:
        """The relation that holds, in a few words ("loss = Σ gain × term, exact"), for a component's
        evidence."""
        how = "exact" if self.exact else "approximate"
        relation = {"weighted": "Σ terms as logged", "raw": "Σ gain × term", "fit": "a fitted combination"}
        return (
            f"{total_name} = {relation.get(self.verdict, '?')}, {how}"
            if self.verdict in relation
            else f"{total_name} matches no combination of the terms"
        )

    def describe(self, total_name: str) -> str:
        """One sentence with the numbers: which relation holds, how closely, over how many points."""
        how = "exact to the printed precision" if self.exact else "approximate"
        if self.verdict == "weighted":
            extra = (
                f"; with the gains applied again {self.as_raw.relative_residual:.1%}" if self.as_raw else ""
            )
            return (
                f"{total_name} = Σ terms as logged ({how}: median residual "
                f"{self.as_logged.relative_residual:.2%} over {self.as_logged.points} points{extra})"
            )
        if self.verdict == "raw" and self.as_raw is not None:  # check_total gives "raw" with as_raw only
            return (
                f"{total_name} = Σ gain × term ({how}: median residual "
                f"{self.as_raw.relative_residual:.2%} over {self.as_raw.points} points; "
                f"as logged, without gains, {self.as_logged.relative_residual:.1%})"
            )
        if self.verdict == "fit" and self.fitted is not None:
            weights = " + ".join(f"{v:.3g}·{k}" for k, v in self.fitted.fit.coefficients.items() if v)
            return (
                f"{total_name} = {weights} (non-negative least squares, {how}: median residual "
                f"{self.fitted.fit.relative_residual:.2%} over {self.fitted.fit.points} points)"
            )
        parts = [f"as logged {self.as_logged.relative_residual:.1%}"]
        if self.as_raw is not None:
            parts.append(f"with the gains {self.as_raw.relative_residual:.1%}")
        if self.fitted is not None:
            parts.append(
                f"best non-negative fit {self.fitted.fit.relative_residual:.1%}"
                + (
                    ""
                    if self.fitted.unique
                    else f", terms near-collinear (condition {self.fitted.condition:.0f})"
                )
            )
        return f"{total_name} matches no combination of the terms (median residual: {'; '.join(parts)})"


def check_total(total: np.ndarray, terms: dict[str, np.ndarray], gains: dict[str, float]) -> TotalCheck:
    """Which relation between the logged `total` and the `terms` (as logged) the numbers support.

    `gains` are the weights known from elsewhere (config, defaults); where every gain is 1 the raw and
    weighted hypotheses are the same and only `as_logged` is tried.
    """
    ones = {k: 1.0 for k in terms}
    as_logged = fit_quality(total, terms, ones)
    with_gains = {k: gains.get(k, 1.0) for k in terms}
    as_raw = fit_quality(total, terms, with_gains) if any(v != 1.0 for v in with_gains.values()) else None
    if as_logged.exact and not (as_raw is not None and as_raw.exact):
        return TotalCheck("weighted", True, as_logged, as_raw, None)
    if as_raw is not None and as_raw.exact and not as_logged.exact:
        return TotalCheck("raw", True, as_logged, as_raw, None)
    other = as_raw.relative_residual if as_raw is not None else float("inf")
    if (
        as_logged.relative_residual <= APPROX_RELATIVE
        and as_logged.relative_residual * APPROX_MARGIN <= other
    ):
        return TotalCheck("weighted", False, as_logged, as_raw, None)
    if (
        as_raw is not None
        and as_raw.relative_residual <= APPROX_RELATIVE
        and as_raw.relative_residual * APPROX_MARGIN <= as_logged.relative_residual
    ):
        return TotalCheck("raw", False, as_logged, as_raw, None)
    fitted = fit_weights(total, terms)
    if fitted is not None and fitted.fit.exact and fitted.unique:
        return TotalCheck("fit", True, as_logged, as_raw, fitted)
    return TotalCheck("inconclusive", False, as_logged, as_raw, fitted)


@dataclass(frozen=True)
class TwinRatio:
    """The gain between a loss logged scaled and its `_unscaled` twin: their ratio, and how constant it is."""

    scaled: str
    unscaled: str
    weight: float
    spread: float  # max |ratio − weight| / weight over the points
    points: int

    @property
    def constant(self) -> bool:
        return self.spread <= TWIN_SPREAD


def twin_ratio(
    scaled_name: str, scaled: np.ndarray, unscaled_name: str, unscaled: np.ndarray
) -> TwinRatio | None:
    """scaled / unscaled on aligned rows where both are finite and the unscaled value is not ~0; None without
    any."""
    ok = np.isfinite(scaled) & np.isfinite(unscaled) & (np.abs(unscaled) > 1e-12)
    if not ok.any():
        return None  # zero or missing throughout (a loss switched off): no gain can be read
    ratio = scaled[ok] / unscaled[ok]
    weight = float(np.median(ratio))
    if weight == 0:
        spread = float(np.max(np.abs(ratio)))
    else:
        # Print rounding of small values makes their ratio imprecise: judge on points whose rounding error
        # is under TWIN_SPREAD/10 of the value.
        precise = (print_bound(unscaled[ok]) <= 1e-4 * np.abs(unscaled[ok])) & (
            print_bound(scaled[ok]) <= 1e-4 * np.abs(scaled[ok])
        )
        judged = ratio[precise] if precise.any() else ratio
        spread = float(np.max(np.abs(judged - weight)) / abs(weight))
    return TwinRatio(scaled_name, unscaled_name, weight, spread, int(ok.sum()))
