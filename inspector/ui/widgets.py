"""Sidebar and inline controls; each returns a small frozen record of what the user chose."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal, get_args

import streamlit as st

from inspector.losses import Component
from inspector.ui import links
from inspector.ui.run_keys import state_key

View = Literal["weighted", "raw", "side by side"]
VIEWS: tuple[View, ...] = get_args(View)
# panels: one per component, each on its own y scale (a small term is not flattened by a large one);
# overlay: every component on one y axis.
Layout = Literal["panels", "overlay"]
LAYOUTS: tuple[Layout, ...] = get_args(Layout)
VIEW_SLOT = links.ValueSlot("view", str, VIEWS)  # the URL's `view`: the loss chart's values
Band = Literal["std", "quantiles", "none"]
BANDS: tuple[Band, ...] = get_args(Band)
BAND_LABELS: dict[Band, str] = {
    "std": "rolling mean ± k·std",
    "quantiles": "rolling quantiles",
    "none": "none",
}
# TensorBoard's scalar dashboard opens with smoothing 0.6; users compare our EMA against it.
EMA_DEFAULT = 0.6
# ~2,000 points per trace keeps a browser chart interactive; spikes are kept on top of these.
POINTS_PER_TRACE = 2000


@dataclass(frozen=True)
class CurveSettings:
    """How loss curves are drawn: which values, what band, how much smoothing, which extras."""

    view: View = "weighted"
    band: Band = "std"
    window: int = 200  # steps
    k: float = 2.0
    quantiles: tuple[float, float] = (0.1, 0.9)
    ema: float = EMA_DEFAULT
    log_y: bool = False
    spikes: bool = True
    lr: bool = True
    points: int = POINTS_PER_TRACE
    layout: Layout = "panels"


def default_window(last_step: int | None) -> int:
    """Return a band window of about 2% of the run (at least 5 steps): wide enough to average noise."""
    return max(5, int((last_step or 0) * 0.02))


def curve_settings(last_step: int | None) -> CurveSettings:
    """Sidebar controls for the loss-curve chart."""
    sb = st.sidebar
    sb.divider()
    sb.subheader("Curves")
    view: View = sb.radio(
        "Values",
        VIEWS,
        key="view",
        horizontal=True,
        help="raw: before the loss weights; weighted: as summed into the objective.",
    )
    layout: Layout = sb.radio(
        "Layout",
        LAYOUTS,
        key="curve_layout",
        horizontal=True,
        help="panels: one per component, each with its own y scale; overlay: all on one y axis.",
    )
    band: Band = sb.radio("Band", BANDS, key="band", format_func=BAND_LABELS.__getitem__)
    window = int(
        sb.number_input(
            "Band window (steps)", min_value=2, value=default_window(last_step), step=10, key="window"
        )
    )
    k, q = 2.0, (0.1, 0.9)
    if band == "std":
        k = float(sb.slider("k (band half-width in std)", 0.5, 4.0, 2.0, 0.5, key="k"))
    elif band == "quantiles":
        lo, hi = sb.slider("Quantiles", 0.0, 1.0, (0.1, 0.9), 0.05, key="quantiles")
        q = (float(lo), float(hi))
    ema = float(
        sb.slider("EMA smoothing (TensorBoard)", 0.0, 0.999, EMA_DEFAULT, 0.001, format="%.3f", key="ema")
    )
    log_y = sb.checkbox("Log y axis", key="log_y")
    spikes = sb.checkbox("Mark spikes", value=True, key="spikes")
    lr = sb.checkbox("Learning rate", value=True, key="show_lr", help="On its own log axis.")
    return CurveSettings(view, band, window, k, q, ema, log_y, spikes, lr, layout=layout)


def whatif_weights(
    components: tuple[Component, ...],
    run_key: str,
    preset: Mapping[str, float] | None = None,
    preset_key: str = "",
) -> dict[str, float]:
    """Number inputs, one per component, pre-filled with the run's weights, or with `preset`'s where it names
    the component; returns {name: weight}. `preset_key` names the preset: choosing another one starts the
    inputs over from its weights, and the user may change them from there."""
    cols = st.columns(min(max(len(components), 1), 4))
    weights = {}
    start = {} if preset is None else preset
    for i, c in enumerate(components):
        # The run's key is part of the widget key so another run starts from its own weights, the preset's so
        # that choosing a preset fills the inputs.
        run = state_key(run_key)
        key = f"whatif_{run}_{preset_key}_{c.name}" if preset_key else f"whatif_{run}_{c.name}"
        weights[c.name] = float(
            cols[i % len(cols)].number_input(
                f"{c.name} weight",
                min_value=0.0,
                value=float(start.get(c.name, c.effective_weight)),
                step=0.05,
                format="%.4g",
                key=key,
            )
        )
    return weights


def copies_view(families: dict[str, tuple[str, ...]]) -> bool:
    """When terms have copies (aux layers, heads): whether to draw each family summed (True) or every copy."""
    if not families:
        return False
    shown = ", ".join(f"{k} ×{len(v)}" for k, v in families.items())
    choice = st.radio(
        "Copies of a term",
        ("each copy", "summed per family"),
        horizontal=True,
        key="copies_view",
        help=f"This run logs some terms several times (aux decoder layers, heads, denoising): {shown}.",
    )
    return choice == "summed per family"
