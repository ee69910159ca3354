"""The sidebar's page links, named for people ("Overview", not the script name "app")."""

from __future__ import annotations

from dataclasses import dataclass

import streamlit as st
from streamlit.errors import StreamlitAPIException

from inspector.paths import REPO_ROOT


@dataclass(frozen=True)
class Page:
    """One page of the app: its script (relative to app.py), its sidebar label and icon."""

    script: str
    label: str
    icon: str


OVERVIEW = Page("app.py", "Overview", ":material/troubleshoot:")
LOSS_CURVES = Page("pages/1_Loss_curves.py", "Loss curves", ":material/show_chart:")
EPISODES = Page("pages/2_Episodes.py", "Episodes", ":material/center_focus_strong:")
COMPARE = Page("pages/3_Compare.py", "Compare", ":material/compare:")
BALANCE = Page("pages/4_Balance.py", "Loss balance", ":material/balance:")
RUNS = Page("pages/5_Runs.py", "Runs", ":material/stacked_line_chart:")
# The one page registry, in sidebar order. Streamlit's own page list is hidden
# (client.showSidebarNavigation = false) because it would label the overview "app".
PAGES = (OVERVIEW, LOSS_CURVES, EPISODES, COMPARE, BALANCE, RUNS)


def installed(page: Page) -> bool:
    """Whether the page's script is in this checkout."""
    return (REPO_ROOT / page.script).exists()


def sidebar_nav() -> None:
    """Links to every installed page at the top of the sidebar."""
    with st.sidebar:
        for page in PAGES:
            if not installed(page):
                continue
            try:
                st.page_link(page.script, label=page.label, icon=page.icon)
            except StreamlitAPIException:
                return  # a page run on its own (e.g. one AppTest script): there is no app to link to
        st.divider()
