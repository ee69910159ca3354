"""The user's corrections to how a run's loss terms were read: a weight, or raw vs weighted, per component.

What inspector inferred (weight, semantics, and the evidence) is shown in an editable table inside a
form; what the user changes is kept per run in the session (so every page diagnoses with it) and handed
to `diagnose` as `weights_override` / `logged_override`, which names any evidence it contradicts.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import pandas as pd
import streamlit as st

from inspector.losses import Component
from inspector.ui.run_keys import state_key

LOGGED_CHOICES = ("raw", "weighted")


@dataclass(frozen=True)
class Corrections:
    """A run's corrections, hashable so that cached diagnoses key on them."""

    weights: tuple[tuple[str, float], ...] = ()
    logged: tuple[tuple[str, str], ...] = ()

    def __bool__(self) -> bool:
        return bool(self.weights or self.logged)


def _state_key(run_key: str) -> str:
    return f"corrections:{state_key(run_key)}"


def current(run_key: str) -> Corrections:
    """The corrections the user made to this run (none yet: empty)."""
    return st.session_state.get(_state_key(run_key), Corrections())


def corrections_from_table(components: tuple[Component, ...], table: pd.DataFrame) -> Corrections:
    """What differs in `table` (one row per component: weight, logged) from the inferred `components`."""
    weights, logged = [], []
    for c, (_, row) in zip(components, table.iterrows(), strict=False):
        w = row["weight"]
        if pd.notna(w) and float(w) >= 0 and abs(float(w) - c.effective_weight) > 1e-12:
            weights.append((c.name, float(w)))
        if row["logged"] in LOGGED_CHOICES and row["logged"] != c.logged:
            logged.append((c.name, str(row["logged"])))
    return Corrections(tuple(weights), tuple(logged))


def _table(components: tuple[Component, ...], made: Corrections) -> pd.DataFrame:
    weights, logged = dict(made.weights), dict(made.logged)
    return pd.DataFrame(
        {
            "component": [c.name for c in components],
            "metric": [c.metric for c in components],
            "weight": [weights.get(c.name, c.effective_weight) for c in components],
            "logged": [logged.get(c.name, c.logged) for c in components],
            "inferred from": [f"weight: {c.weight_source}; logged: {c.logged_source}" for c in components],
            "evidence": [c.why for c in components],
        }
    )


def corrections_editor(components: tuple[Component, ...], run_key: str) -> Corrections:
    """The editable table of weights and semantics (applied on submit); returns this run's corrections."""
    made = current(run_key)
    if not components:
        return made
    # A new widget whenever the corrections change, so the table always starts from what is applied.
    version = hashlib.sha1(repr(made).encode()).hexdigest()[:8]
    with st.form(f"corrections_form_{run_key}"):
        st.caption(
            "Each weight and raw/weighted reading below was inferred from the evidence shown. If you know "
            "better, change it and apply: every page then uses your reading, and the notes say where the "
            "log disagrees."
        )
        edited = st.data_editor(
            _table(components, made),
            hide_index=True,
            width="stretch",
            key=f"corrections_{state_key(run_key)}_{version}",
            disabled=("component", "metric", "inferred from", "evidence"),
            column_config={
                "weight": st.column_config.NumberColumn("weight", min_value=0.0, format="%.4g"),
                "logged": st.column_config.SelectboxColumn(
                    "logged", options=list(LOGGED_CHOICES), required=True
                ),
            },
        )
        left, right = st.columns(2)
        apply = left.form_submit_button("Apply corrections")
        reset = right.form_submit_button("Back to the inferred reading", disabled=not made)
    if apply:
        made = corrections_from_table(components, edited)
        st.session_state[_state_key(run_key)] = made
        st.rerun()
    if reset:
        st.session_state.pop(_state_key(run_key), None)
        st.rerun()
    return made
