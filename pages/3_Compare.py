"""Compare: two checkpoints on the same episodes — overlays side by side, per-target changes, A / B / Δ, and
the few-shot protocol over K-shot × seeds with its verdict."""

from __future__ import annotations

import streamlit as st

from inspector import compare_worker

# The worker process that evaluates B starts first: its imports (torch) then overlap this page's own.
compare_worker.warm()

from inspector.ui import compare_views as cmp  # noqa: E402
from inspector.ui import episode_views as views  # noqa: E402
from inspector.ui import lab_views as lab  # noqa: E402
from inspector.ui import nav  # noqa: E402
from inspector.ui import pair_jobs as pairs  # noqa: E402
from inspector.ui.guard import guard  # noqa: E402
from inspector.ui.nav import sidebar_nav  # noqa: E402

st.set_page_config(page_title="inspector · compare", page_icon=":material/compare:", layout="wide")
sidebar_nav(nav.COMPARE)
st.title("Compare checkpoints")

(ckpt_a, adapter_a), (ckpt_b, adapter_b) = cmp.pick_pair()
dataset = views.pick_dataset()
trained = views.checkpoint_shape(ckpt_a.key) if ckpt_a is not None else {}  # both are scored on A's shape
settings = views.episode_settings(trained, ckpt_a.key if ckpt_a is not None else None)
view = views.view_settings()
if ckpt_a is None or ckpt_b is None or dataset is None:
    if not views.demo_checkpoints():
        st.info(views.NO_DEMO)
    st.info("Choose checkpoints A and B and a dataset in the sidebar.")
    st.stop()

st.caption(
    f"A: {ckpt_a.label} (`{adapter_a}`) · B: {ckpt_b.label} (`{adapter_b}`) · {dataset.label} · "
    f"{views.describe_shape(settings.shape, trained)} (A's), seed {settings.seed}"
)

# Stateful tabs: the Aggregate, K-shot × seeds and Training logs tabs run only when opened (the aggregate
# evaluates both checkpoints over its episodes: seconds; reading the logs imports scipy, ~0.7 s).
tab_episode, tab_aggregate, tab_protocol, tab_logs = st.tabs(
    ["Episode", "Aggregate", "K-shot × seeds", "Training logs"], key="cmp_tab", on_change="rerun"
)

with tab_aggregate:  # the input is drawn even when hidden, so that its value outlives a visit to another tab
    n = int(
        st.number_input(
            "Episodes",
            min_value=1,
            max_value=5000,
            value=cmp.DEFAULT_EPISODES,
            step=10,
            key="cmp_episodes",
            help="Model's default thresholds, as `python -m inspector evaluate`.",
        )
    )
    job = None
    if tab_aggregate.open:
        with guard("the evaluation"):  # A on a thread, B in the worker process, while the episode is drawn
            job = pairs.start_pair((ckpt_a, adapter_a), (ckpt_b, adapter_b), dataset, settings, n)

with tab_episode:
    if tab_episode.open:  # the overlays cost ~0.1 s a rerun: not behind another tab
        index = views.episode_index()
        episode = results = None
        with guard("the episode"):
            episode = views.load_episode(dataset.key, settings, index)
        with guard("the detectors' output"):
            if episode is not None:
                pair = (ckpt_a, adapter_a), (ckpt_b, adapter_b)
                results = cmp.run_pair(*pair, dataset, settings, index, view)
                view = views.stride_toggles(view, *results)
        if episode is not None and results is not None:
            st.subheader(f"Episode {index}: {', '.join(episode.class_names)}")
            with guard("the episode's metrics"):
                st.markdown("**This episode, A vs B**")
                cmp.render_episode_deltas(*results, view)
            with guard("the overlays"):
                shown = (ckpt_a.key, adapter_a, ckpt_b.key, adapter_b, dataset.key, settings, index)
                cmp.render_side_by_side(episode, *results, view, shown)

with tab_aggregate:
    batch_a = batch_b = None
    with guard("the aggregate"):
        if job is not None:
            batch_a, batch_b = pairs.aggregate_pair(job)
            st.markdown(
                f"**Over {n} episodes** (COCO mAP, equal to pycocotools; losses are means over episodes)"
            )
            cmp.render_aggregate(batch_a, batch_b)
    if batch_a is not None and batch_b is not None:
        with guard("the error breakdown"):
            st.markdown("**Which kind of error costs the AP, A vs B** (TIDE)")
            found = {"A": lab.breakdown(batch_a), "B": lab.breakdown(batch_b)}
            if all(b is not None for b in found.values()):
                lab.render_errors({side: b for side, b in found.items() if b is not None}, "cmp")
            else:
                st.info("No query image to break the errors down on.")
        with guard("the PR curves and confusion matrices"):
            st.markdown("**Per-class precision-recall and confusion, A vs B**")
            lab.render_pr_and_confusion({"A": cmp.summary(batch_a), "B": cmp.summary(batch_b)}, "cmp")

with tab_protocol:
    if tab_protocol.open:
        from inspector.ui import protocol_views as protocol  # imports scipy.stats (~0.55 s): only when opened

        with guard("the few-shot protocol"):
            protocol.render_protocol((ckpt_a, adapter_a), (ckpt_b, adapter_b), dataset, settings)

with tab_logs:
    if tab_logs.open:
        with guard("the training logs"):
            cmp.render_logs(ckpt_a, ckpt_b)

if not tab_aggregate.open:  # all drawn: the aggregate's evaluations start in the worker, unless it is busy
    with guard("the aggregate's evaluation"):
        pairs.prefetch_pair((ckpt_a, adapter_a), (ckpt_b, adapter_b), dataset, settings, n)
