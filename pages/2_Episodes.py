"""Episodes: run a checkpoint on chosen episodes — overlays, anchors, assignment, losses, format doctor; and,
over many episodes, which kind of error costs the AP and which targets the assigner starves."""

from __future__ import annotations

import streamlit as st

from inspector.ui import compare_views as cmp
from inspector.ui import episode_views as views
from inspector.ui import lab_views as lab
from inspector.ui import nav
from inspector.ui import overlay_views as overlays
from inspector.ui.guard import guard
from inspector.ui.nav import sidebar_nav

st.set_page_config(
    page_title="inspector · episodes", page_icon=":material/center_focus_strong:", layout="wide"
)
sidebar_nav(nav.EPISODES)
st.title("Episodes")

checkpoint, adapter = views.pick_checkpoint()
dataset = views.pick_dataset()
trained = views.checkpoint_shape(checkpoint.key) if checkpoint is not None else {}
settings = views.episode_settings(trained, checkpoint.key if checkpoint is not None else None)
view = views.view_settings()
if checkpoint is None or dataset is None:
    if not views.demo_checkpoints():
        st.info(views.NO_DEMO)
    st.info("Choose a checkpoint and a dataset in the sidebar.")
    st.stop()

# No st.fragment around the episode: stepping inside one redraws the sidebar's "Link to this view" from the
# fragment, and Streamlit 1.67's frontend then failed 2 of 6 fresh loads ("Cannot set a node at a delta
# path"); without gradient norms a full rerun is as fast (median 0.93 s against 1.02 s, demo, 10 steps).
index = views.episode_index()
st.caption(
    f"{checkpoint.label} · adapter `{adapter}` · {dataset.label} · "
    f"{views.describe_shape(settings.shape, trained)}, seed {settings.seed}"
)

episode = result = None
with guard("the episode"):
    episode = views.load_episode(dataset.key, settings, index)
if episode is None:
    st.stop()
with guard("the detector's output"):
    result = views.run_detector(
        checkpoint.key, adapter, dataset.key, settings, index, view.score_threshold, view.nms_iou
    )
    view = views.stride_toggles(view, result)

st.subheader(f"Episode {index}: {', '.join(episode.class_names)}")
with guard("the support set"):
    st.markdown("**Support set**")
    overlays.render_support(episode, (dataset.key, settings, index))
if result is None:
    st.stop()

with guard("the queries"):
    overlays.render_queries(episode, result, view, (checkpoint.key, adapter, dataset.key, settings, index))

with guard("the diagnostics"):
    st.subheader("Diagnostics")
    views.render_diagnostics(
        result,
        views.dataset_warnings(dataset.key),
        lambda: views.episode_gradients(checkpoint.key, adapter, dataset.key, settings, index),
    )

st.subheader("Over many episodes")
n = lab.episodes_input("ep_lab_episodes")
if st.toggle(f"Break the errors down and measure the assignment over {n} episodes", key="ep_lab_on"):
    errors_tab, coverage_tab, curves_tab = st.tabs(
        ["Errors (TIDE)", "Assignment coverage", "PR and confusion"]
    )
    batch = None
    with guard("the evaluation"):
        batch = lab.evaluation(checkpoint, adapter, dataset, settings, n)
    with errors_tab, guard("the error breakdown"):
        found = lab.breakdown(batch) if batch is not None else None
        if found is None:
            st.info("No query image to break the errors down on.")
        else:
            lab.render_errors({"": found}, "ep")
    with coverage_tab, guard("the assignment coverage"):
        lab.render_coverage(lab.coverage(checkpoint, adapter, dataset, settings, n), "ep")
    with curves_tab, guard("the PR curves and confusion matrix"):
        if batch is not None:
            lab.render_pr_and_confusion({"": cmp.summary(batch)}, "ep")
