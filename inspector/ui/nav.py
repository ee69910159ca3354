"""The sidebar's page links, named for people ("Overview", not the script name "app")."""

from __future__ import annotations

import streamlit as st
from streamlit.errors import StreamlitAPIException

from inspector.paths import REPO_ROOT

# (script relative to app.py, label, icon) in sidebar order. Streamlit's own page list is hidden
# (client.showSidebarNavigation = false) because it would label the overview "app".
PAGES = (
    ("app.py", "Overview", ":material/troubleshoot:"),
    ("pages/1_Loss_curves.py", "Loss curves", ":material/show_chart:"),
    ("pages/2_Episodes.py", "Episodes", ":material/center_focus_strong:"),
    ("pages/3_Compare.py", "Compare", ":material/compare:"),
)


def sidebar_nav() -> None:
    """Links to every installed page at the top of the sidebar."""
    with st.sidebar:
        for script, label, icon in PAGES:
            if not (REPO_ROOT / script).exists():
                continue
            try:
                st.page_link(script, label=label, icon=icon)
            except StreamlitAPIException:
                return  # a page run on its own (e.g. one AppTest script): there is no app to link to
        st.divider()
