"""Loss curves: raw vs weighted components with bands, EMA and spikes; shares; what-if weights; metrics."""

from __future__ import annotations

import streamlit as st

from inspector.report import not_judged_banner
from inspector.runlog import RunLog
from inspector.ui import links, live_views, nav
from inspector.ui import loss_views as views
from inspector.ui.downloads import file_name
from inspector.ui.findings import render_findings
from inspector.ui.guard import guard
from inspector.ui.nav import sidebar_nav
from inspector.ui.sources import load_run, pick_run_source
from inspector.ui.widgets import VIEW_SLOT, copies_view, curve_settings, whatif_weights

st.set_page_config(page_title="inspector · loss curves", page_icon=":material/show_chart:", layout="wide")
sidebar_nav(nav.LOSS_CURVES)
st.title("Loss curves")

source = pick_run_source("run", "Run")
compare = pick_run_source("compare", "Compare with", allow_none=True)
if source is None:
    st.stop()  # the picker said what to choose
every = live_views.follow_interval()
# The sidebar's settings are drawn outside the followed part (a fragment cannot write to the sidebar);
# the band window's default follows the run's length when the page is opened.
first = live_views.current_log(every, source, load_run)
if first is None:
    st.stop()
links.bind("view", VIEW_SLOT)
s = curve_settings(first.last_step)
links.remember("view", VIEW_SLOT)


def show(log: RunLog, key: str) -> None:
    """The run's curves, contributions, what-if weights, metrics and findings (at every poll while
    following)."""
    diag = None
    with guard("the diagnosis"):
        diag = views.corrected_diagnosis(log, key)
    if diag is None:
        return
    dec = diag.decomposition
    per_family = copies_view(diag.components.families)
    if not diag.judged:
        st.warning(
            not_judged_banner(
                diag, "Correct the reading on the Overview page if some of these are loss terms."
            ),
            icon=":material/help:",
        )

    with guard("the loss chart"):
        if dec.components:
            other = load_run(compare) if compare else None
            if other is None or compare is None:
                views.render_loss_chart(diag, log, key, s, per_family)
            else:
                views.render_loss_chart(
                    diag, log, key, s, per_family, other, compare.content_key, compare.label
                )

    with guard("the contributions"):
        if dec.components:
            left, right = st.columns(2)
            shown = views.shown_decomposition(diag, per_family)
            left.plotly_chart(
                views.contributions_figure(shown, f"{key}:{per_family}", s.points, views.step_label(log)),
                width="stretch",
                key="contributions",
            )
            right.plotly_chart(
                views.shares_figure(shown, f"{key}:{per_family}"), width="stretch", key="shares"
            )

    with guard("the what-if weights"):
        if dec.components:
            st.subheader("What if the weights were different?")
            measured = views.measured_balance(source.paths)
            preset = views.pick_preset(views.whatif_presets(dec, key, measured), key, measured)
            weights = whatif_weights(dec.components, key, preset.weights, preset.key)
            views.render_whatif(dec, key, weights, s.points, views.step_label(log))
            if measured is not None:
                views.render_gradient_shares(measured, dec, weights)

    with guard("the validation metrics"):
        names = diag.components.eval_metrics
        if names:
            chosen = st.multiselect("Validation metrics", names, default=list(names[:4]), key="eval_metrics")
            figure = views.metrics_figure(log, key, tuple(chosen))
            if figure is not None:
                st.plotly_chart(figure, width="stretch", key="metrics_chart")

    with guard("the findings"):
        with st.expander(f"Findings ({len(diag.findings)})"):
            render_findings(diag.findings, link=False, judged=diag.judged)
        cols = st.columns(3)
        cols[0].download_button(
            "Findings (Markdown)",
            views.findings_markdown(diag, source.label, log.format, log.framework),
            file_name(source.label, "findings.md"),
            "text/markdown",
            key="dl_md",
        )
        cols[1].download_button(
            "Findings (JSON)",
            views.findings_json(diag, source.label, log.format),
            file_name(source.label, "findings.json"),
            "application/json",
            key="dl_json",
        )
        cols[2].download_button(
            "Decomposed series (CSV)",
            lambda: views.decomposition_csv(dec),
            file_name(source.label, "decomposition.csv"),
            "text/csv",
            key="dl_csv",
            disabled=not dec.components,
        )


live_views.followed(every, source, show, load_run)
