"""The loss-balance lab: what each weighted loss term does to the shared parameters, and weights to try.

A detector trained on Σ_i w_i·L_i moves its shared parameters θ (the reference detector's `backbone`:
backbone and neck) along Σ_i g_i, with g_i = ∇_θ(w_i·L_i) the gradient of the WEIGHTED term. By default g_i is
taken on the last shared layer (`shared="last"`: the neck's output convs, whose maps every head reads), as
GradNorm does (Chen et al. 2018: W "the last shared layer of weights … to save on compute costs"): on the
reference detector it costs 0.095 s per episode against 0.21 s for every shared parameter (`shared="all"`),
and on the demo's runs it put each term's share within 5 points of the full measurement. Per episode every
g_i comes from `Detector.term_gradients` (batch norm in training mode, as a training step sees it) and is
reduced at once to the K×K Gram matrix G_ij = g_i·g_j, so memory stays K² per episode whatever the model's
size:

    norm    ‖g_i‖ = √G_ii                how hard term i pushes the shared features
    share   ‖g_i‖ / Σ_j ‖g_j‖            a share of the summed NORMS, not of the norm of the sum ‖Σ_j g_j‖
                                         (terms that cancel still each count in full): shares add up to 1
    cosine  G_ij / (‖g_i‖·‖g_j‖)         < 0: on that episode terms i and j pull the features apart

Norms and shares are per episode, then a mean and a spread (sample standard deviation) over episodes with a
95% percentile-bootstrap CI of the mean over episodes (the unit the sampler draws); a pair's cosine is its
mean over the episodes where both gradients are non-zero, and its conflict rate the fraction of those with a
negative cosine.

Suggested weights (`SuggestedWeights`), one per method, are rescaled so that they add up to the current
weights' sum: the loss scale the optimiser and its learning rate see stays the same, only the mix changes. A
term switched off (weight 0) stays off, and a term a method cannot weigh keeps its current weight (a note says
which and why); the other terms share the rest of the sum.

    equal_grad_share  GradNorm's target (Chen et al., "GradNorm", ICML 2018) with α = 0, reached directly from
                      the measured norms instead of learned: ‖∇(w·L)‖ = w·‖∇L‖, so w_i' ∝ w_i / ‖g_i‖
                      makes the terms' mean gradient norms exactly equal.
    uncertainty       Kendall, Gal & Cipolla, "Multi-Task Learning Using Uncertainty to Weigh Losses", CVPR
                      2018: at the optimum of Σ_i L_i/(2σ_i²) + log σ_i, σ_i² = L_i, so w_i ∝ 1/L_i, with L_i
                      the term's recent RAW level: the mean over the last quarter of the run's steps when a
                      log is given, else the episodes' mean raw value (the suggestion says which).
    dwa               Dynamic Weight Averaging (Liu, Johns & Davison, "End-to-End Multi-Task Learning with
                      Attention", CVPR 2019): w_k = K·exp(r_k/T) / Σ_i exp(r_i/T), T = 2, r_k = L_k(t−1) /
                      L_k(t−2). Here L_k(t−1) and L_k(t−2) are the raw term's means over the last two windows
                      of the log, each a tenth of its steps (the paper's t−1 and t−2 are epochs; two equal
                      windows at the end of the run are the log's nearest equivalent). None without a log.

`predicted_shares` gives the shares any other weights would give, ‖g_i'‖ = ‖g_i‖·w_i'/w_i (the gradient of
w·L is linear in w), so a what-if needs no new measurement.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from scipy import stats as sps

from inspector.errors import InspectorError
from inspector.loss_semantics import discover_components
from inspector.losses import Component, Decomposition, decompose
from inspector.results import SharedParameters
from inspector.runlog.record import RunLog

if TYPE_CHECKING:
    # only a type here: inspector.data imports torch, which the Loss curves page (log levels) does not need
    from inspector.data.records import Episode

Method = Literal["equal_grad_share", "uncertainty", "dwa"]
METHODS: tuple[Method, ...] = ("equal_grad_share", "uncertainty", "dwa")

CI_LEVEL = 0.95
# Efron & Tibshirani (1993) ask for at least ~1,000 resamples for percentile intervals; 2,000 over 50 episodes
# takes ~3 ms per quantity here (8 per checkpoint of 4 terms), nothing beside the gradients.
BOOTSTRAP_RESAMPLES = 2000
BOOTSTRAP_SEED = 0
RECENT_FRACTION = 0.25  # uncertainty: the last quarter of the run's steps is its recent level
DWA_WINDOW = 0.1  # DWA: the last two tenths of the run's steps, one window each
DWA_TEMPERATURE = 2.0  # Liu et al. 2019 use T = 2
# Gradients of different losses over ~4·10⁵ shared parameters (the reference model's) are rarely far from
# orthogonal (every pair on the demo's checkpoints averages |cos| < 0.1); below this the verdict says so,
# since a conflict rate near 50% then means the sign flips from episode to episode, not that the terms fight.
NEARLY_ORTHOGONAL = 0.05
# A weight recovered as Σ weighted / Σ raw over float32 losses matches the stated one to ~1e-7; 1e-3 still
# tells 7.5 from 7.51.
SAME_WEIGHT = 1e-3


# ---------------------------------------------------------------------------------------------- records


@dataclass(frozen=True)
class Estimate:
    """A per-episode quantity over episodes: mean, spread (sample sd), and the 95% bootstrap CI of the mean
    (NaN when fewer than two episodes); n is the number of episodes where it was defined."""

    mean: float
    sd: float
    lo: float
    hi: float
    n: int


@dataclass(frozen=True)
class TermBalance:
    """One loss term: its mean raw and weighted value over the episodes, its weight, and the norm and share
    of its weighted gradient on the shared parameters."""

    name: str
    raw: float
    weight: float
    weighted: float
    grad_norm: Estimate
    grad_share: Estimate


@dataclass(frozen=True)
class PairConflict:
    """Two terms' gradients: mean cosine, and the fraction of episodes where it is negative, over the
    `episodes` where both gradients are non-zero (NaN when there is none)."""

    a: str
    b: str
    cosine: float
    conflict_rate: float
    episodes: int


@dataclass(frozen=True)
class SuggestedWeights:
    """One method's weights {term: weight} (None when it cannot suggest any), what it was computed from, and
    notes on terms it left as they were."""

    method: Method
    weights: dict[str, float] | None
    basis: str
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Measurements:
    """What the episodes measured, already reduced (no gradient vector is kept).

    names (K,) terms; grams (E, K, K) float64 Gram matrices of the weighted terms' gradients; raw and weighted
    (E, K) each episode's loss values (NaN where the detector gave none); skipped: episodes the detector could
    not measure (no query).
    """

    names: tuple[str, ...]
    grams: np.ndarray
    raw: np.ndarray
    weighted: np.ndarray
    skipped: int = 0
    shared: SharedParameters = "last"

    @property
    def norms(self) -> np.ndarray:
        """(E, K) each episode's gradient norms."""
        return norms_of(self.grams)


@dataclass(frozen=True)
class LogLevels:
    """A run log's raw term levels, by the checkpoint's term names (only terms the log has).

    recent: mean over the last RECENT_FRACTION of the steps; previous / last: means over the two DWA windows
    (L(t−2), L(t−1)); weights: the gains the log states; *_steps: each window's (first, last) step.
    """

    source: str
    recent: dict[str, float]
    previous: dict[str, float]
    last: dict[str, float]
    weights: dict[str, float]
    recent_steps: tuple[int, int] | None
    previous_steps: tuple[int, int] | None
    last_steps: tuple[int, int] | None
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class BalanceReport:
    """One checkpoint's balance over `episodes` episodes: terms, pairs, the verdict, suggested weights, notes.

    norms (E, K) keeps each episode's gradient norms (term order as `terms`) for `what_if`.
    """

    checkpoint: str
    episodes: int
    terms: tuple[TermBalance, ...]
    conflicts: tuple[PairConflict, ...]
    suggestions: tuple[SuggestedWeights, ...]
    verdict: str
    notes: tuple[str, ...] = ()
    log: str | None = None
    norms: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)), repr=False)
    shared: SharedParameters = "last"

    @property
    def weights(self) -> dict[str, float]:
        return {t.name: t.weight for t in self.terms}

    def suggestion(self, method: Method) -> SuggestedWeights | None:
        return next((s for s in self.suggestions if s.method == method), None)

    def what_if(self, new_weights: Mapping[str, float]) -> dict[str, float]:
        """{term: mean over episodes of its predicted gradient share} under `new_weights` (terms it does not
        name keep their weight); with the current weights, the measured shares."""
        names = [t.name for t in self.terms]
        current = np.array([t.weight for t in self.terms])
        new = np.array([float(new_weights.get(n, t.weight)) for n, t in zip(names, self.terms, strict=True)])
        shares = predicted_shares(self.norms, current, new)  # (E, K)
        means = _nanmean_columns(shares)
        return {n: float(m) for n, m in zip(names, means, strict=True)}

    def to_json_dict(self) -> dict[str, Any]:
        """The CLI's JSON record of this checkpoint (NaN stays NaN: serialize.dumps writes it as null)."""
        suggested: dict[str, Any] = {s.method: s.weights for s in self.suggestions}
        predicted = {
            s.method: None if s.weights is None else self.what_if(s.weights) for s in self.suggestions
        }
        return {
            "checkpoint": self.checkpoint,
            "episodes": self.episodes,
            "batch_norm": "train",
            "shared": self.shared,
            "log": self.log,
            "terms": [
                {
                    "name": t.name,
                    "raw": t.raw,
                    "weight": t.weight,
                    "weighted": t.weighted,
                    "grad_norm": t.grad_norm.mean,
                    "grad_norm_ci": [t.grad_norm.lo, t.grad_norm.hi],
                    "grad_norm_sd": t.grad_norm.sd,
                    "grad_share": t.grad_share.mean,
                    "grad_share_ci": [t.grad_share.lo, t.grad_share.hi],
                    "grad_share_sd": t.grad_share.sd,
                }
                for t in self.terms
            ],
            "conflicts": [
                {
                    "a": c.a,
                    "b": c.b,
                    "cosine": c.cosine,
                    "conflict_rate": c.conflict_rate,
                    "episodes": c.episodes,
                }
                for c in self.conflicts
            ],
            "verdict": self.verdict,
            "suggested_weights": suggested,
            "suggestion_basis": {s.method: s.basis for s in self.suggestions},
            "predicted_shares": predicted,
            "notes": list(self.notes) + [n for s in self.suggestions for n in s.notes],
        }


# ---------------------------------------------------------------------------------------------- geometry


def gram(vectors: Sequence[np.ndarray]) -> np.ndarray:
    """Returns the (K, K) float64 matrix of pairwise dot products of K flat gradient vectors of one length."""
    sizes = {int(np.size(v)) for v in vectors}
    if len(sizes) > 1:
        raise ValueError(f"gradient vectors of different lengths {sorted(sizes)}")
    if not vectors:
        return np.zeros((0, 0))
    stacked = np.stack([np.asarray(v, np.float64).reshape(-1) for v in vectors])  # (K, P)
    return stacked @ stacked.T


def norms_of(grams: np.ndarray) -> np.ndarray:
    """(…, K, K) Gram matrices → (…, K) the vectors' L2 norms."""
    return np.sqrt(np.clip(np.diagonal(grams, axis1=-2, axis2=-1), 0.0, None))


def shares_of(norms: np.ndarray) -> np.ndarray:
    """(…, K) norms → (…, K) each norm's share of their sum (of the norms, not the norm of the vectors'
    sum); NaN where every norm is 0."""
    norms = np.asarray(norms, np.float64)
    total = norms.sum(-1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, norms / np.where(total > 0, total, 1.0), np.nan)


def cosines_of(grams: np.ndarray) -> np.ndarray:
    """(…, K, K) Gram matrices → (…, K, K) cosines between the vectors; NaN where either vector is zero."""
    norms = norms_of(grams)
    outer = norms[..., :, None] * norms[..., None, :]
    with np.errstate(invalid="ignore", divide="ignore"):
        cos = np.where(outer > 0, grams / np.where(outer > 0, outer, 1.0), np.nan)
    return np.clip(cos, -1.0, 1.0)


def predicted_shares(norms: np.ndarray, weights: np.ndarray, new_weights: np.ndarray) -> np.ndarray:
    """Returns the gradient shares (…, K) that `new_weights` (K,) would give where `weights` (K,) gave the
    weighted gradients' `norms` (…, K): ‖g_i'‖ = ‖g_i‖·w_i'/w_i, then each one's share of their sum.

    A term measured at weight 0 has no measured gradient to scale: its predicted norm is 0 if its new weight
    is 0 too, else unknown, which makes every share of that row NaN.
    """
    norms = np.asarray(norms, np.float64)
    w = np.asarray(weights, np.float64)
    w_new = np.asarray(new_weights, np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        scale = np.where(w > 0, w_new / np.where(w > 0, w, 1.0), np.where(w_new == 0, 0.0, np.nan))
    return shares_of(norms * scale)


def bootstrap_ci(
    values: np.ndarray,
    level: float = CI_LEVEL,
    resamples: int = BOOTSTRAP_RESAMPLES,
    seed: int = BOOTSTRAP_SEED,
) -> tuple[float, float]:
    """Returns the percentile-bootstrap CI (lo, hi) of the mean of `values` (non-finite ones dropped);
    (NaN, NaN) with fewer than two values."""
    x = np.asarray(values, np.float64)
    x = x[np.isfinite(x)]
    if len(x) < 2:
        return math.nan, math.nan
    if np.all(x == x[0]):
        return float(x[0]), float(x[0])  # every resample has the same mean
    # random_state (not scipy ≥ 1.15's rng) keeps scipy 1.13, the oldest requirements-dev.txt allows, working
    ci = sps.bootstrap(
        (x,),
        np.mean,
        confidence_level=level,
        n_resamples=resamples,
        method="percentile",
        vectorized=True,
        random_state=np.random.default_rng(seed),
    ).confidence_interval
    return float(ci.low), float(ci.high)


def estimate(values: np.ndarray) -> Estimate:
    """Returns the Estimate (mean, sd, bootstrap CI of the mean) of one quantity's per-episode values."""
    x = np.asarray(values, np.float64)
    x = x[np.isfinite(x)]
    if not len(x):
        return Estimate(math.nan, math.nan, math.nan, math.nan, 0)
    lo, hi = bootstrap_ci(x)
    sd = float(np.std(x, ddof=1)) if len(x) > 1 else math.nan
    return Estimate(float(x.mean()), sd, lo, hi, len(x))


def pair_conflicts(names: Sequence[str], grams: np.ndarray) -> tuple[PairConflict, ...]:
    """Returns every pair of terms' mean cosine and conflict rate over the episodes' (E, K, K) Gram
    matrices."""
    cos = cosines_of(np.asarray(grams, np.float64))  # (E, K, K)
    out = []
    for i in range(len(names)):
        for j in range(i + 1, len(names)):
            c = cos[:, i, j]
            c = c[np.isfinite(c)]
            mean = float(c.mean()) if len(c) else math.nan
            rate = float((c < 0).mean()) if len(c) else math.nan
            out.append(PairConflict(names[i], names[j], mean, rate, len(c)))
    return tuple(out)


def _nanmean_columns(x: np.ndarray) -> np.ndarray:
    """(E, K) → (K,) column means over finite values; NaN for a column with none (no RuntimeWarning)."""
    x = np.asarray(x, np.float64)
    finite = np.isfinite(x)
    count = finite.sum(0)
    total = np.where(finite, x, 0.0).sum(0)
    return np.where(count > 0, total / np.maximum(count, 1), np.nan)


# ---------------------------------------------------------------------------------------------- measuring


def measure(
    detector: Any, episodes: Iterable[Episode], shared: SharedParameters = "last"
) -> Measurements | None:
    """Returns the Measurements of `detector` over `episodes`, or None when it cannot measure gradients (it
    has no `term_gradients`, or that gave None on every episode).

    Each episode's gradient vectors are reduced to their Gram matrix before the next episode is measured.
    The losses are those of the same forward pass as the gradients (`TermGradients.losses`: batch norm in
    training mode, as a training step computes them), so values, weights and gradients describe one step.
    """
    term_gradients = getattr(detector, "term_gradients", None)
    if not callable(term_gradients):
        return None
    names: tuple[str, ...] | None = None
    grams, raws, weighteds, skipped = [], [], [], 0
    for episode in episodes:
        measured = term_gradients(episode, shared=shared)
        if measured is None:
            skipped += 1
            continue
        grads, losses = measured.gradients, measured.losses
        if names is None:
            names = tuple(grads)
        elif set(grads) != set(names):
            raise InspectorError(
                f"adapter {getattr(detector, 'name', '?')!r}: term_gradients gave terms {sorted(grads)} on "
                f"episode {episode.index} but {sorted(names)} before"
            )
        try:
            grams.append(gram([grads[n] for n in names]))
        except ValueError as exc:
            raise InspectorError(
                f"adapter {getattr(detector, 'name', '?')!r}: term_gradients: {exc}"
            ) from None
        del grads, measured
        raws.append([float(losses.raw.get(n, math.nan)) for n in names])
        weighteds.append([float(losses.weighted.get(n, math.nan)) for n in names])
    if names is None:
        return None
    k = len(names)
    return Measurements(
        names,
        np.asarray(grams, np.float64).reshape(-1, k, k),
        np.asarray(raws, np.float64).reshape(-1, k),
        np.asarray(weighteds, np.float64).reshape(-1, k),
        skipped,
        shared,
    )


def term_weights(
    names: Sequence[str],
    raw: np.ndarray,
    weighted: np.ndarray,
    stated: Sequence[tuple[str, Mapping[str, float]]] = (),
) -> tuple[np.ndarray, tuple[str, ...]]:
    """Returns each term's weight (K,) and notes: Σ weighted / Σ raw over the episodes (what the detector
    applied), given as the first `stated` source's value where that agrees within SAME_WEIGHT (a clean 7.5,
    not 7.5000002); where the episodes cannot tell (every raw value 0), the first stated source that has it;
    else NaN. `stated` is [(where, {term: weight})], strongest first (the checkpoint, the log)."""
    raw = np.asarray(raw, np.float64)
    weighted = np.asarray(weighted, np.float64)
    weights, notes = [], []
    for k, name in enumerate(names):
        ok = np.isfinite(raw[:, k]) & np.isfinite(weighted[:, k])
        denominator = raw[ok, k].sum()
        measured = float(weighted[ok, k].sum() / denominator) if abs(denominator) > 0 else math.nan
        given = [(where, float(table[name])) for where, table in stated if name in table]
        if math.isfinite(measured):
            agree = next((w for _, w in given if abs(measured - w) <= SAME_WEIGHT * max(abs(w), 1e-12)), None)
            if agree is None and given:
                where, w = given[0]
                notes.append(
                    f"{name}: the losses were summed with weight {measured:.4g}, {where} states {w:.4g}"
                )
            weights.append(measured if agree is None else agree)
        elif given:
            where, w = given[0]
            notes.append(f"{name}: its raw value was 0 on every episode; weight {w:.4g} from {where}")
            weights.append(w)
        else:
            notes.append(f"{name}: weight unknown (raw value 0 on every episode, and no stated weight)")
            weights.append(math.nan)
    return np.asarray(weights, np.float64), tuple(notes)


def stated_weights(checkpoint_meta: Mapping[str, Any]) -> dict[str, float]:
    """{term: weight} a checkpoint's metadata states (its model config's loss_weights, else a top-level
    loss_weights); {} when it states none."""
    config = checkpoint_meta.get("model_config")
    table = config.get("loss_weights") if isinstance(config, Mapping) else None
    if not isinstance(table, Mapping):
        table = checkpoint_meta.get("loss_weights")
    if not isinstance(table, Mapping):
        return {}
    return {
        str(k): float(v)
        for k, v in table.items()
        if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
    }


# ---------------------------------------------------------------------------------------------- the log


def match_component(components: Sequence[Component], name: str) -> Component | None:
    """Returns the log's component for the term `name`: the final one of that name, else the final copy of
    that family, else a copy of that name (aux layers, heads: the Loss curves page weighs every component);
    case-insensitive (the native log writes `loss/bbox`, whose component is named `bbox`)."""
    finals = [c for c in components if c.group is None]
    key = name.lower()
    return (
        next((c for c in finals if c.name.lower() == key), None)
        or next((c for c in finals if (c.family or "").lower() == key), None)
        or next((c for c in components if c.name.lower() == key), None)
    )


def _window_mean(steps: np.ndarray, values: np.ndarray, lo: float, hi: float, closed_lo: bool) -> float:
    inside = (steps >= lo if closed_lo else steps > lo) & (steps <= hi) & np.isfinite(values)
    return float(values[inside].mean()) if inside.any() else math.nan


def _span(steps: np.ndarray, lo: float, hi: float, closed_lo: bool) -> tuple[int, int] | None:
    inside = (steps >= lo if closed_lo else steps > lo) & (steps <= hi)
    return (int(steps[inside][0]), int(steps[inside][-1])) if inside.any() else None


def log_levels(log: RunLog, names: Sequence[str], up_to_step: int | None = None) -> LogLevels:
    """Returns the raw levels of the checkpoint's terms `names` in a run's log (components found by
    loss_semantics.discover_components, raw series by losses.decompose): decomposition_levels of them."""
    return decomposition_levels(decompose(log, discover_components(log)), names, log.source, up_to_step)


def decomposition_levels(
    d: Decomposition, names: Sequence[str], source: str, up_to_step: int | None = None
) -> LogLevels:
    """Returns the raw levels of the terms `names` (each matched by match_component) in a run's
    decomposition read from `source`, over the steps up to `up_to_step` (the checkpoint's step) when given.

    Windows are in steps over the run's span [s0, s1], R = s1 − s0: recent = [s1 − R/4, s1];
    DWA's L(t−2) = (s1 − 2R/10, s1 − R/10] and L(t−1) = (s1 − R/10, s1], two windows of equal length.
    """
    notes = []
    if up_to_step is not None and len(d.steps) and d.steps[-1] > up_to_step:
        d = d.select(d.steps <= up_to_step)
        notes.append(f"log: steps up to {up_to_step}, the checkpoint's step")
    matched = {n: c for n in names if (c := match_component(d.components, n)) is not None}
    missing = [n for n in names if n not in matched]
    if missing:
        notes.append(f"log: no series for {', '.join(missing)}")
    if not matched or not len(d.steps):
        if not len(d.steps):
            notes.append("log: no loss steps to read levels from")
        return LogLevels(source, {}, {}, {}, {}, None, None, None, tuple(notes))
    steps = d.steps.astype(np.float64)
    s0, s1 = float(steps[0]), float(steps[-1])
    span = s1 - s0
    recent_lo = s1 - RECENT_FRACTION * span
    mid, start = s1 - DWA_WINDOW * span, s1 - 2 * DWA_WINDOW * span
    recent = {n: _window_mean(steps, d.raw[c.name], recent_lo, s1, True) for n, c in matched.items()}
    if span > 0:
        previous = {n: _window_mean(steps, d.raw[c.name], start, mid, False) for n, c in matched.items()}
        last = {n: _window_mean(steps, d.raw[c.name], mid, s1, False) for n, c in matched.items()}
        previous_steps, last_steps = _span(d.steps, start, mid, False), _span(d.steps, mid, s1, False)
    else:
        previous, last, previous_steps, last_steps = {}, {}, None, None
        notes.append("log: a single step, no trend for DWA")
    weights = {n: c.weight for n, c in matched.items() if c.weight is not None}
    return LogLevels(
        source,
        recent,
        previous,
        last,
        {n: float(w) for n, w in weights.items()},
        _span(d.steps, recent_lo, s1, True),
        previous_steps,
        last_steps,
        tuple(notes),
    )


# ---------------------------------------------------------------------------------------------- weights


def _rescaled(
    names: Sequence[str], weights: np.ndarray, proposed: np.ndarray, usable: np.ndarray
) -> dict[str, float] | None:
    """{term: weight}: `proposed` (up to scale) on the usable terms, scaled so that they add up to what the
    current weights of those terms add up to; the other terms keep their weight. None if no term is usable."""
    usable = usable & np.isfinite(proposed) & (proposed > 0)
    if not usable.any():
        return None
    out = np.where(usable, 0.0, weights)
    out[usable] = proposed[usable] * weights[usable].sum() / proposed[usable].sum()
    return {n: float(w) for n, w in zip(names, out, strict=True)}


def _kept(names: Sequence[str], mask: np.ndarray, why: str) -> list[str]:
    return [f"{n}: {why}" for n, m in zip(names, mask, strict=True) if m]


def equal_grad_share(names: Sequence[str], weights: np.ndarray, norms: np.ndarray) -> SuggestedWeights:
    """Returns the weights that make the terms' mean gradient norms equal: w_i' ∝ w_i / mean‖g_i‖ (GradNorm's
    α = 0 target, Chen et al., ICML 2018, solved from the measurement), summing to the current weights' sum.

    `norms` (E, K) are the weighted terms' per-episode gradient norms. Equal MEAN norms make the shares of
    the mean norms exactly 1/K; each episode's share scatters around 1/K as much as the norms' ratios vary
    from episode to episode.
    """
    w = np.asarray(weights, np.float64)
    mean = _nanmean_columns(np.asarray(norms, np.float64).reshape(-1, len(names)))
    on = np.isfinite(w) & (w > 0)
    reaches = on & np.isfinite(mean) & (mean > 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        proposed = np.where(reaches, w / np.where(reaches, mean, 1.0), np.nan)
    notes = _kept(names, on & ~reaches, "no gradient on the shared parameters in any episode; weight kept")
    return SuggestedWeights(
        "equal_grad_share",
        _rescaled(names, w, proposed, reaches),
        "the episodes' mean gradient norms",
        tuple(f"equal_grad_share: {n}" for n in notes),
    )


def uncertainty(
    names: Sequence[str], weights: np.ndarray, levels: np.ndarray, basis: str
) -> SuggestedWeights:
    """Returns Kendall, Gal & Cipolla's (CVPR 2018) weights at their optimum σ_i² = L_i: w_i ∝ 1/L_i, L_i
    each term's recent RAW level (NaN: unknown), summing to the current weights' sum; `basis` says where the
    levels came from."""
    w = np.asarray(weights, np.float64)
    L = np.asarray(levels, np.float64)
    on = np.isfinite(w) & (w > 0)
    known = on & np.isfinite(L) & (L > 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        proposed = np.where(known, 1.0 / np.where(known, L, 1.0), np.nan)
    notes = _kept(names, on & ~known, "no positive raw level; weight kept")
    return SuggestedWeights(
        "uncertainty",
        _rescaled(names, w, proposed, known),
        basis,
        tuple(f"uncertainty: {n}" for n in notes),
    )


def dwa(
    names: Sequence[str],
    weights: np.ndarray,
    last: np.ndarray | None,
    previous: np.ndarray | None,
    basis: str,
    temperature: float = DWA_TEMPERATURE,
) -> SuggestedWeights:
    """Returns Dynamic Weight Averaging's weights (Liu, Johns & Davison, CVPR 2019): w_k ∝ exp(r_k / T),
    r_k = L_k(t−1) / L_k(t−2) from each raw term's mean over the log's last two windows (None: no log),
    summing to the current weights' sum (the paper's K·softmax, rescaled)."""
    if last is None or previous is None:
        return SuggestedWeights(
            "dwa", None, "no log", ("dwa: needs the run's log (the loss history); none given",)
        )
    w = np.asarray(weights, np.float64)
    a, b = np.asarray(last, np.float64), np.asarray(previous, np.float64)
    on = np.isfinite(w) & (w > 0)
    known = on & np.isfinite(a) & np.isfinite(b) & (b > 0)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        r = np.where(known, a / np.where(known, b, 1.0), np.nan)
        z = np.where(known, r / temperature, -np.inf)
        proposed = np.exp(z - np.max(z)) if known.any() else np.full(len(names), np.nan)
    notes = _kept(names, on & ~known, "no loss ratio over the log's last two windows; weight kept")
    return SuggestedWeights(
        "dwa",
        _rescaled(names, w, proposed, known),
        basis,
        tuple(f"dwa: {n}" for n in notes),
    )


def log_suggestions(
    names: Sequence[str],
    weights: np.ndarray,
    levels: LogLevels | None,
    episodes_raw: np.ndarray | None = None,
) -> tuple[SuggestedWeights, SuggestedWeights]:
    """Returns the (uncertainty, dwa) suggestions for the terms `names` at their current `weights` (K,)
    from a run log's levels (None: no log). Uncertainty falls back on `episodes_raw` (K,), the episodes'
    mean raw values, for terms without a log series, or for every term without a log; without either it
    keeps those terms' weights."""
    w = np.asarray(weights, np.float64)
    fallback = np.full(len(names), np.nan) if episodes_raw is None else np.asarray(episodes_raw, np.float64)
    if levels is not None and levels.recent:
        recent = np.array([levels.recent.get(n, math.nan) for n in names])
        a, b = levels.recent_steps or (0, 0)
        basis = f"the log's raw levels over its last quarter (steps {a}–{b})"
        if not np.isfinite(recent).all() and episodes_raw is not None:
            recent = np.where(np.isfinite(recent), recent, fallback)
            basis += "; terms without a log series: the episodes' mean raw value"
        uncert = uncertainty(names, w, recent, basis)
    elif episodes_raw is not None:
        uncert = uncertainty(names, w, fallback, "the episodes' mean raw values")
    else:
        uncert = uncertainty(names, w, fallback, "no raw levels")
    if levels is not None and levels.last and levels.previous:
        (a0, a1), (b0, b1) = levels.previous_steps or (0, 0), levels.last_steps or (0, 0)
        dwa_weights = dwa(
            names,
            w,
            np.array([levels.last.get(n, math.nan) for n in names]),
            np.array([levels.previous.get(n, math.nan) for n in names]),
            f"the log's raw means over steps {a0}–{a1} (t−2) and {b0}–{b1} (t−1), T = {DWA_TEMPERATURE:g}",
        )
    else:
        dwa_weights = dwa(names, w, None, None, "no log")
    return uncert, dwa_weights


# ---------------------------------------------------------------------------------------------- report


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
    raw, weighted = _nanmean_columns(m.raw), _nanmean_columns(m.weighted)  # (K,)
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


# ---------------------------------------------------------------------------------------------- a checkpoint


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
