"""inspector — overview: pick a run, see what it is, what looks wrong, and its components at a glance."""

from __future__ import annotations

import streamlit as st

from inspector.report import not_judged_banner
from inspector.runlog import RunLog
from inspector.ui import live_views, nav, tables
from inspector.ui import loss_views as views
from inspector.ui.corrections import corrections_editor
from inspector.ui.findings import render_findings, render_triage
from inspector.ui.guard import guard
from inspector.ui.nav import sidebar_nav
from inspector.ui.sources import demo_runs, load_run, pick_run_source

st.set_page_config(page_title="inspector", page_icon=":material/troubleshoot:", layout="wide")
sidebar_nav(nav.OVERVIEW)
st.title("inspector")
st.caption("Why is my few-shot detector's training misbehaving? Pick a run in the sidebar.")

source = pick_run_source("run", "Run")
if source is None:
    if not demo_runs():
        st.info(
            "No demo runs are bundled here (demo/runs/*/log.jsonl). Upload a training log in the sidebar, "
            "or give a path on the server."
        )
    st.stop()

st.subheader(f"Run: {source.label}")


def show(log: RunLog, key: str) -> None:
    """The run's summary, triage, findings and component curves (at every poll while following)."""
    diag = None
    with guard("the diagnosis"):
        inferred = views.run_diagnosis(log, key)
        diag = views.corrected_diagnosis(log, key)
    if diag is None:
        return

    rest = diag.findings
    with guard("the triage"):
        rest = render_triage(diag.triage, diag.not_yet, diag.findings)

    with guard("the run summary"):
        cols = st.columns([3, 2, 1, 1, 1])
        cols[0].metric("Format", log.format)
        cols[1].metric("Framework", log.framework)
        cols[2].metric("Steps", f"{diag.n_steps:,}")
        cols[3].metric("Step unit", log.step_unit)
        cols[4].metric("Segments", len(log.segments))
        if not diag.judged:
            st.warning(
                not_judged_banner(
                    diag,
                    "A log whose loss terms are named `loss…`, or add up to a logged total, can be judged.",
                ),
                icon=":material/help:",
            )
        rows = views.summary_rows(diag)
        if len(rows):
            tables.show(rows, views.SUMMARY_KINDS, "summary_table")
            if diag.components.total_evidence:
                st.caption(f"Logged total: {diag.components.total_evidence}.")
            with st.expander("How each term was read, and correcting it"):
                corrections_editor(inferred.components.components, key)
        if diag.warnings:
            with st.expander(f"Reader warnings ({len(diag.warnings)})"):
                for w in diag.warnings:
                    st.markdown(f"- {w}")

    with guard("the findings"):
        if rest or not diag.triage:
            st.subheader("Other findings" if diag.triage else "Findings")
            render_findings(rest, judged=diag.judged)
        if diag.skipped:
            st.caption("Not judged for lack of points: " + "; ".join(diag.skipped) + ".")

    with guard("the component curves"):
        if diag.decomposition.components:
            st.subheader("Components (weighted, EMA 0.6)")
            st.plotly_chart(views.small_multiples(diag, log, key), width="stretch", key="small_multiples")
            st.page_link(nav.LOSS_CURVES.script, label="Explore the loss curves", icon=nav.LOSS_CURVES.icon)


live_views.followed(live_views.follow_interval(), source, show, load_run)
