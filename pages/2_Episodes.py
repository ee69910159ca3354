"""Episodes: run a checkpoint on chosen episodes — overlays, anchors, assignment, losses, format doctor."""

from __future__ import annotations

import streamlit as st

from inspector.ui import episode_views as views
from inspector.ui.guard import guard
from inspector.ui.nav import sidebar_nav

st.set_page_config(page_title="inspector · episodes", page_icon=":material/center_focus_strong:", layout="wide")
sidebar_nav()
st.title("Episodes")

checkpoint, adapter = views.pick_checkpoint()
dataset = views.pick_dataset()
settings = views.episode_settings()
if checkpoint is None or dataset is None:
    if not views.demo_checkpoints():
        st.info(views.NO_DEMO)
    st.info("Choose a checkpoint and a dataset in the sidebar.")
    st.stop()

index = views.episode_index()
st.caption(f"{checkpoint.label} · adapter `{adapter}` · {dataset.label} · "
           f"{settings.n_way}-way {settings.k_shot}-shot, seed {settings.seed}")

episode = result = None
with guard("the episode"):
    episode = views.load_episode(dataset.key, settings, index)
if episode is None:
    st.stop()
with guard("the detector's output"):
    strides = (8, 16, 32)
    view = views.view_settings(strides)
    result = views.run_detector(checkpoint.key, adapter, dataset.key, settings, index, view.score_threshold,
                                view.nms_iou)
    found = sorted({int(s) for q in result.all_queries() if q.strides is not None for s in set(q.strides.tolist())})
    if found and tuple(found) != strides:
        st.caption(f"This model's anchor strides: {', '.join(map(str, found))}")

st.subheader(f"Episode {index}: {', '.join(episode.class_names)}")
with guard("the support set"):
    st.markdown("**Support set**")
    views.render_support(episode)
if result is None:
    st.stop()

with guard("the queries"):
    for k, (sample, q) in enumerate(zip(episode.queries, result.queries)):
        views.render_query(sample.image, q, result.class_names, view, f"q{k}")
    for clip, source in zip(result.clips, episode.clips):
        views.render_clip(clip, source.frames, result.class_names, view)
    if not result.queries and not result.clips:
        st.warning("This episode has no query images.")

with guard("the diagnostics"):
    st.subheader("Diagnostics")
    views.render_diagnostics(result)
