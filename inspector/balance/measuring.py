"""Measuring a detector over episodes (each episode's gradients reduced to a Gram matrix at once), and the
terms' weights as its losses were summed."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from inspector.errors import InspectorError
from inspector.results import SharedParameters

if TYPE_CHECKING:
    # only a type here: inspector.data imports torch, which the Loss curves page (log levels) does not need
    from inspector.data.records import Episode

from inspector.balance.geometry import gram
from inspector.balance.records import Measurements

# A weight recovered as Σ weighted / Σ raw over float32 losses matches the stated one to ~1e-7; 1e-3 still
# tells 7.5 from 7.51.
SAME_WEIGHT = 1e-3


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
