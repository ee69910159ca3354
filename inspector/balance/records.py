"""The balance lab's records: a term, a suggestion, the measurements, a log's levels, a checkpoint's
report."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from inspector.results import SharedParameters

if TYPE_CHECKING:
    # only a type here: inspector.data imports torch, which the Loss curves page (log levels) does not need
    pass

from inspector.balance.geometry import Estimate, PairConflict, nanmean_columns, norms_of, predicted_shares

Method = Literal["equal_grad_share", "uncertainty", "dwa"]


METHODS: tuple[Method, ...] = ("equal_grad_share", "uncertainty", "dwa")


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
        means = nanmean_columns(shares)
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
