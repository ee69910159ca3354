"""Loss balance: what each weighted loss does to the shared layers (gradient shares, conflicts) over a run's
checkpoints, and weights to try on the Loss curves page."""

from __future__ import annotations

import streamlit as st

from inspector.ui import balance_views as bal
from inspector.ui import episode_views as views
from inspector.ui import nav
from inspector.ui.guard import guard
from inspector.ui.nav import sidebar_nav

st.set_page_config(page_title="inspector · loss balance", page_icon=":material/balance:", layout="wide")
sidebar_nav(nav.BALANCE)
st.title("Loss balance")

checkpoint, adapter = views.pick_checkpoint(default=bal.DEFAULT_CHECKPOINT)
more = bal.pick_more(checkpoint) if checkpoint is not None else []
dataset = views.pick_dataset()
trained = views.checkpoint_shape(checkpoint.key) if checkpoint is not None else {}
settings = bal.balance_settings(trained, checkpoint.key if checkpoint is not None else None)
if checkpoint is None or dataset is None:
    if not views.demo_checkpoints():
        st.info(views.NO_DEMO)
    st.info("Choose a checkpoint and a dataset in the sidebar.")
    st.stop()

log = bal.run_log(checkpoint)
measured = []
for choice in (checkpoint, *more):
    with guard(f"the measurement of {choice.label}"):
        measured.append(bal.report_of(choice, adapter, dataset, settings, log))
if not measured or measured[0].choice != checkpoint:
    st.stop()
main = measured[0]
st.caption(bal.describe(main, adapter, dataset, settings, trained, log))
linked = bal.remember(main, log)
over_time = bal.in_time_order(measured)

with guard("the verdict"):
    st.subheader("Verdict")
    bal.render_verdicts(over_time)

with guard("the gradient shares"):
    st.subheader("Who moves the shared features")
    st.plotly_chart(bal.shares_figure(over_time), width="stretch", key="bal_shares")
    bal.render_terms(over_time)

with guard("the conflicts"):
    st.subheader("Do the terms pull apart?")
    bal.render_conflicts(over_time)

with guard("the suggested weights"):
    st.subheader(f"Weights to try ({main.label})")
    bal.render_suggestions(main)
    bal.render_try(log, linked)

with guard("the notes"):
    bal.render_notes(over_time)
