"""The sidebar's page links, named for people ("Overview", not the script name "app"), and the link to the
view the user is looking at (inspector.ui.links)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import streamlit as st
from streamlit.delta_generator import DeltaGenerator
from streamlit.errors import StreamlitAPIException

from inspector.paths import REPO_ROOT
from inspector.ui import links


@dataclass(frozen=True)
class Page:
    """One page of the app: its script (relative to app.py), its sidebar label and icon."""

    script: str
    label: str
    icon: str

    @property
    def url_path(self) -> str:
        """The page's path in the app's URL ("" for the overview; "Loss_curves" for pages/1_Loss_curves.py):
        Streamlit's, the script's name without its order prefix."""
        if self.script == "app.py":
            return ""
        return self.script.removeprefix("pages/").removesuffix(".py").split("_", 1)[1]


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


def sidebar_nav(current: Page | None = None) -> None:
    """At the top of every page: the shared selection restored (a link's, or the previous page's; see
    inspector.ui.links), links to every installed page, and the link to this view (`current`)."""
    links.restore()
    with st.sidebar:
        for page in PAGES:
            if not installed(page):
                continue
            try:
                st.page_link(page.script, label=page.label, icon=page.icon)
            except StreamlitAPIException:
                return  # a page run on its own (e.g. one AppTest script): there is no app to link to
        if current is not None:
            # Drawn now and again by each picker that changes the selection (links.remember), so the link
            # always holds the view below it.
            holder = st.empty()
            st.session_state[links.LINK_VIEW] = partial(copy_link, holder, current)
            copy_link(holder, current)
        st.divider()


def copy_link(holder: DeltaGenerator, page: Page) -> None:
    """A "Link to this view" popover in `holder` holding the URL (st.code draws a copy button beside it)."""
    url = links.link(page.url_path)
    with holder.container(), st.popover("Link to this view", icon=":material/link:", width="stretch"):
        if url is None:
            st.caption("The link is shown in a browser.")
        else:
            st.code(url, language=None, wrap_lines=True)
            st.caption("Copy it with the button at its right. Uploaded files are not part of a link.")
