"""Findings and the ranked triage as cards: "Start here" first, each cause with its findings nested, then the
rest."""

from __future__ import annotations

import streamlit as st

from inspector.findings import Cause, Finding, Look
from inspector.ui import nav

# Streamlit's container border colours are theme-fixed, so severity rides on the icon and a coloured title.
STYLE = {
    "critical": (":material/error:", "red"),
    "warning": (":material/warning:", "orange"),
    "info": (":material/info:", "blue"),
}
# Where each Look is shown in the app: the page (ui/nav's registry) and what to use there.
LOOK_PAGES: dict[Look, tuple[nav.Page, str]] = {
    "episodes": (nav.EPISODES, "Episodes: boxes, assigned anchors and the format doctor"),
    "loss_curves": (nav.LOSS_CURVES, "Loss curves"),
    "whatif": (nav.LOSS_CURVES, "Loss curves → What if the weights were different?"),
    "lr": (nav.LOSS_CURVES, "Loss curves with the learning rate"),
    "eval": (nav.LOSS_CURVES, "Loss curves → Validation metrics"),
    "compare": (nav.COMPARE, "Compare the checkpoints"),
    "components": (nav.OVERVIEW, "Overview → How each term was read, and correcting it"),
    "overview": (nav.OVERVIEW, "Overview"),
}


def page_for(look: Look) -> tuple[str, str] | None:
    """(script path, label) of the page that shows `look`, or None when that page is not installed."""
    found = LOOK_PAGES.get(look)
    return (found[0].script, found[1]) if found and nav.installed(found[0]) else None


def _card(f: Finding, link: bool) -> None:
    icon, colour = STYLE.get(f.severity, STYLE["info"])
    with st.container(border=True):
        st.markdown(f"{icon} :{colour}[**{f.severity.upper()} · {f.title}**]")
        st.markdown(f"{f.evidence}")
        st.markdown(f"**Next step:** {f.next_step}")
        target = page_for(f.look_at) if link else None
        if target:
            st.page_link(target[0], label=target[1], icon=":material/arrow_forward:")


def render_findings(
    findings: tuple[Finding, ...] | list[Finding], *, link: bool = True, judged: bool = True
) -> None:
    """Draw one bordered card per finding, most severe first (the order diagnose returns).

    With no findings, "nothing looks wrong" is said only of a run the rules could judge (`judged`).
    """
    if not findings:
        if judged:
            st.success("No findings: nothing in this log looks wrong.", icon=":material/check_circle:")
        else:
            st.info(
                "No findings, because the rules could not judge this run (see above).", icon=":material/info:"
            )
        return
    for f in findings:
        _card(f, link)


def render_triage(
    causes: tuple[Cause, ...], not_yet: tuple[str, ...], findings: tuple[Finding, ...], *, link: bool = True
) -> tuple[Finding, ...]:
    """Draw "Start here": each root cause, how to check it and the findings it explains; return the others."""
    if not causes:
        return tuple(findings)
    st.subheader("Start here")
    shown: set[int] = set()
    for i, c in enumerate(causes, 1):
        with st.container(border=True):
            st.markdown(f"**{i}. {c.title}** · _{c.stage}_")
            st.markdown(c.evidence)
            st.markdown(f"**Check:** {c.check}")
            target = page_for(c.look_at) if link else None
            if target:
                st.page_link(target[0], label=target[1], icon=":material/arrow_forward:")
            mine = [f for j, f in enumerate(findings) if f.id in c.explains and j not in shown]
            shown.update(j for j, f in enumerate(findings) if f.id in c.explains)
            if mine:
                with st.expander(f"The {len(mine)} finding(s) this explains"):
                    for f in mine:
                        _card(f, link)
    for n in not_yet:
        st.warning(n, icon=":material/pan_tool:")
    return tuple(f for j, f in enumerate(findings) if j not in shown)
