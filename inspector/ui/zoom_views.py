"""The loss chart's zoom controls: a box dragged over the chart, or two step inputs, choose the step window
the chart draws at full resolution (inspector.zoom); "Full range" goes back to the whole run.

The window lives in the step inputs' session state, one pair per run (its content key), so a box drag, a
typed step and the reset button all move the same two numbers, and another run starts unzoomed. A box
arrives through the chart's `on_select` callback, which runs before the script, so the rerun it causes
already draws the new window.
"""

from __future__ import annotations

from functools import partial

import plotly.graph_objects as go
import streamlit as st

from inspector import zoom
from inspector.ui.run_keys import state_key
from inspector.zoom import StepWindow

CHART_KEY = "loss_chart"


def _keys(run_key: str) -> tuple[str, str]:
    run = state_key(run_key)  # a followed run keeps its window as new rows arrive
    return f"zoom_from_{run}", f"zoom_to_{run}"


def _set(run_key: str, window: StepWindow, full: StepWindow | None = None) -> None:
    first, last = _keys(run_key)
    st.session_state[first], st.session_state[last] = window.first, window.last
    if full is not None:
        st.session_state[_end_key(run_key)] = full.last


def _end_key(run_key: str) -> str:
    """Where the run's last step is kept as of when the window was set: a window that reached it keeps
    reaching the last step while a followed run grows."""
    return f"zoom_end_{state_key(run_key)}"


def _on_box(run_key: str, full: StepWindow) -> None:
    """The chart's on_select callback: zoom to the box's steps. An empty selection (the new chart of a
    zoom starts with none; a double click clears one) leaves the window as it is."""
    event = st.session_state.get(CHART_KEY)
    x = zoom.box_range(event.get("selection") if event else None)
    window = None if x is None else zoom.clamp_window(x[0], x[1], full)
    if window is not None:
        _set(run_key, window, full)


def zoom_window(run_key: str, full: StepWindow, unit: str = "step") -> StepWindow | None:
    """Render "from step" / "to step" inputs and a "Full range" button; return the chosen window, or None
    for the whole run."""
    first_key, last_key = _keys(run_key)
    state = st.session_state
    # Keep the stored numbers inside the run (a compared run may have widened the range they were set in);
    # writing them before the inputs exist is allowed, and the inputs then take them without a default.
    chosen = StepWindow(int(state.get(first_key, full.first)), int(state.get(last_key, full.last)))
    end = state.get(_end_key(run_key))
    if end is not None and chosen.last == end and full.last > end:  # the run grew: keep up with its end
        chosen = StepWindow(chosen.first, full.last)
    window = zoom.clamp_window(chosen.first, chosen.last, full) or full
    if window != chosen or first_key not in state or last_key not in state or end != full.last:
        _set(run_key, window, full)
    cols = st.columns([2, 2, 1], vertical_alignment="bottom")
    first = cols[0].number_input(
        f"from {unit}",
        min_value=full.first,
        max_value=full.last,
        step=1,
        key=first_key,
        help="Drag a box over the chart to zoom into its steps; every point of a window narrower than the "
        "chart's point budget is drawn, and every spike in it.",
    )
    last = cols[1].number_input(f"to {unit}", min_value=full.first, max_value=full.last, step=1, key=last_key)
    zoomed = zoom.clamp_window(int(first), int(last), full) or full
    cols[2].button(
        "Full range",
        key=f"zoom_reset_{state_key(run_key)}",
        disabled=zoomed == full,
        on_click=_set,
        args=(run_key, full, full),
        width="stretch",
    )
    return None if zoomed == full else zoomed


def zoom_chart(fig: go.Figure, run_key: str, full: StepWindow, caption: str) -> None:
    """Draw the loss chart with box selection wired to the zoom, and `caption` (what it draws) below."""
    st.plotly_chart(
        fig,
        width="stretch",
        key=CHART_KEY,
        on_select=partial(_on_box, run_key, full),
        selection_mode="box",
    )
    st.caption(caption)
