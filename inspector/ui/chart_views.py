"""Keeping a user's view of the charts across reruns: the page script that carries plotly's `uirevision`
over to the new plot Streamlit mounts for every changed figure (inspector/ui/keep_views.js)."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import streamlit as st

SCRIPT = Path(__file__).with_name("keep_views.js")
# The script's own element takes no room: its container is hidden (the script has run by then).
HIDE = "<style>.stElementContainer:has(#inspector-keep-views){display:none}</style>"


@cache
def _body() -> str:
    return f'{HIDE}<script id="inspector-keep-views">{SCRIPT.read_text(encoding="utf-8")}</script>'


def keep_views() -> None:
    """Install the view keeper in this browser tab (once; a later call is a no-op in the browser).

    Our own static script, no user input in it: the only JavaScript st.html runs here.
    """
    st.html(_body(), unsafe_allow_javascript=True)
