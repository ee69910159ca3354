"""Runs: every run of a sweep under one folder, in one table, grouped by config with each group's seeds drawn
as a mean and a band, and the findings its runs share."""

from __future__ import annotations

import streamlit as st

from inspector.sweep import group_runs, main_metric
from inspector.ui import nav
from inspector.ui import runs_views as runs
from inspector.ui.guard import guard
from inspector.ui.nav import sidebar_nav

st.set_page_config(page_title="inspector · runs", page_icon=":material/stacked_line_chart:", layout="wide")
sidebar_nav(nav.RUNS)
st.title("Runs")

root = runs.pick_sweep_root()
if root is None:
    st.info(runs.HOW_TO)
    st.stop()

sweep = key = None
with guard("the sweep"):
    sweep, key = runs.load_sweep(root)
if sweep is None or key is None:
    st.stop()
runs.render_notes(sweep)
if not sweep.rows:
    st.info(f"No runs under {root}. {runs.HOW_TO}")
    st.stop()
by = runs.pick_grouping(sweep)
main = main_metric(sweep.rows)

with guard("the run table"):
    st.subheader(f"{len(sweep.rows)} runs")
    runs.render_table(sweep, main)

with guard("the bands"):
    st.subheader("Across seeds")
    chosen = runs.pick_overlay(sweep, key)
    metric, kind = runs.pick_chart(sweep, main)
    groups = runs.chosen_groups(sweep, chosen, by)
    if metric is None or not chosen:
        st.info("Choose runs that logged an eval metric or a loss to draw them.")
    else:
        st.plotly_chart(runs.bands_chart(sweep, groups, metric, kind), width="stretch", key="runs_chart")

with guard("the groups"):
    st.subheader("Groups")
    st.caption(f"Every run, grouped by {by.describe()}; findings counted over each group's read runs.")
    runs.render_groups(sweep, group_runs(sweep.rows, by), main)
