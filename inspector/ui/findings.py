"""Findings as cards: severity colour and icon, title, evidence, next step, a link to where it shows."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from inspector.findings import Finding
from inspector.paths import REPO_ROOT

# Streamlit's container border colours are theme-fixed, so severity rides on the icon and a coloured title.
STYLE = {"critical": (":material/error:", "red"), "warning": (":material/warning:", "orange"),
         "info": (":material/info:", "blue")}
# Where each Finding.page is drawn (relative to the app's main script).
PAGES = {"Overview": "app.py", "Loss curves": "pages/1_Loss_curves.py", "Episodes": "pages/2_Episodes.py"}


def page_for(finding: Finding) -> str | None:
    """Return the script path of the page that shows `finding`, or None when that page is not installed."""
    path = PAGES.get(finding.page)
    return path if path and (REPO_ROOT / path).exists() else None


def render_findings(findings: tuple[Finding, ...] | list[Finding], *, link: bool = True, judged: bool = True) -> None:
    """Draw one bordered card per finding, most severe first (the order diagnose returns).

    With no findings, "nothing looks wrong" is said only of a run the rules could judge (`judged`).
    """
    if not findings:
        if judged:
            st.success("No findings: nothing in this log looks wrong.", icon=":material/check_circle:")
        else:
            st.info("No findings, because the rules could not judge this run (see above).", icon=":material/info:")
        return
    for f in findings:
        icon, colour = STYLE.get(f.severity, STYLE["info"])
        with st.container(border=True):
            st.markdown(f"{icon} :{colour}[**{f.severity.upper()} · {f.title}**]")
            st.markdown(f"{f.evidence}")
            st.markdown(f"**Next step:** {f.next_step}")
            target = page_for(f) if link else None
            if target:
                st.page_link(target, label=f"Show on {f.page}", icon=":material/arrow_forward:")
