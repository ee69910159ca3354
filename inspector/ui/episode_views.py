"""The Episodes page's parts: checkpoint / dataset pickers, episode controls, cached inference, renderers."""

from __future__ import annotations

import dataclasses
import hashlib
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import streamlit as st

from inspector.adapters import DEFAULT_ADAPTER, allowed_adapters, inspect_episode, load_detector
from inspector.batch import EvalSettings
from inspector.data import Dataset, Episode, read_dataset
from inspector.draw import draw_boxes, draw_overlay
from inspector.episode_diagnostics import (
    assigned_iou_histogram,
    coordinate_ranges,
    loss_rows,
    positive_rows,
    target_rows,
)
from inspector.errors import InspectorError
from inspector.evaluate import CLIP_SCORE_THRESHOLD, Matching, clip_st_iou, match_query
from inspector.format_doctor import format_doctor
from inspector.paths import demo_dir
from inspector.plan import (
    DEFAULT_SEED,
    DatasetEpisodes,
    resolve_shape,
    trained_shape,
)
from inspector.plan import describe_shape as describe_shape  # re-exported: pages/ call views.describe_shape
from inspector.results import ClipResult, Detector, EpisodeResult, QueryResult
from inspector.ui.locations import server_location
from inspector.ui.sources import save_uploads


def demo_datasets() -> dict[str, Path]:
    """{label: folder} of the demo's datasets under demo_dir() (INSPECTOR_DEMO_DIR, as the run picker)."""
    return {"shapes (val)": demo_dir() / "data" / "val", "video clips": demo_dir() / "data" / "clips"}


NO_DEMO = (
    "The bundled demo (demo/runs, demo/data) is not here yet: run `python -m inspector demo` to build it, "
    "or choose *upload* / *server path*."
)


@dataclass(frozen=True)
class Choice:
    """A file or folder the user picked, and the key its cached products are filed under (path + mtime)."""

    label: str
    path: str
    key: tuple[str, int]


def choice_of(label: str, path: Path) -> Choice:
    """A Choice of `path` shown as `label`, keyed by the path and its modification time."""
    return Choice(label, str(path), (str(path), path.stat().st_mtime_ns))


def demo_checkpoints() -> dict[str, Path]:
    """{"run/file": path} of the demo checkpoints, best.pt first within each run."""
    found = {}
    for run in sorted((demo_dir() / "runs").glob("*")):
        for p in sorted(run.glob("*.pt"), key=lambda p: (p.name != "best.pt", p.name)):
            found[f"{run.name}/{p.name}"] = p
    return found


def pick_server_path(label: str, key: str, help: str) -> Choice | None:
    """Sidebar: a path or URL typed by the user, confined to INSPECTOR_ROOTS (an error shown and None
    otherwise); a remote checkpoint or dataset is read from its local mirror."""
    text = st.sidebar.text_input(label, key=key, help=help)
    if not text:
        return None
    try:
        where = server_location(text)
        return choice_of(where.label if where.url else text, where.local)
    except InspectorError as exc:
        st.sidebar.error(str(exc))
        return None


ADAPTER_HELP = "'reference', or package.module:factory listed in INSPECTOR_ADAPTERS"


@dataclass(frozen=True)
class CheckpointPicker:
    """The widget keys and labels of one checkpoint picker: the Episodes page's, or Compare's A and B."""

    kind_key: str
    kind_label: str
    adapter_key: str
    adapter_label: str
    demo_key: str
    demo_label: str
    path_key: str
    path_label: str
    upload_key: str | None = None  # None: no upload option
    title: str | None = None  # a heading above the widgets (and the source radio's label hidden)


EPISODES_PICKER = CheckpointPicker(
    "ckpt_kind",
    "Checkpoint source",
    "adapter",
    "Adapter",
    "ckpt_demo",
    "Demo checkpoint",
    "ckpt_path",
    "Checkpoint: path on the server",
    upload_key="ckpt_upload",
)


def side_picker(side: str) -> CheckpointPicker:
    """The picker of checkpoint `side` ("A" or "B") on the Compare page."""
    return CheckpointPicker(
        f"{side}_kind",
        f"{side}: source",
        f"{side}_adapter",
        f"{side}: adapter",
        f"{side}_demo",
        f"{side}: demo checkpoint",
        f"{side}_path",
        f"{side}: path on the server",
        title=f"**Checkpoint {side}**",
    )


def pick_checkpoint(
    p: CheckpointPicker = EPISODES_PICKER, default: str | None = None
) -> tuple[Choice | None, str]:
    """Sidebar: (the checkpoint chosen, or None; the adapter spec); `default` preselects a demo checkpoint."""
    demos = demo_checkpoints()
    sb = st.sidebar
    if p.title:
        sb.markdown(p.title)
    kinds = (["demo"] if demos else []) + (["upload"] if p.upload_key else []) + ["server path"]
    kind = sb.radio(
        p.kind_label,
        kinds,
        key=p.kind_key,
        horizontal=True,
        label_visibility="collapsed" if p.title else "visible",
    )
    adapter = sb.text_input(p.adapter_label, DEFAULT_ADAPTER, key=p.adapter_key, help=ADAPTER_HELP)
    if kind == "demo":
        names = list(demos)
        name = sb.selectbox(
            p.demo_label, names, key=p.demo_key, index=names.index(default) if default in names else 0
        )
        return choice_of(f"demo/{name}", demos[name]), adapter
    if kind == "upload" and p.upload_key:
        file = sb.file_uploader("Checkpoint (.pt)", key=p.upload_key)
        return (choice_of(file.name, Path(save_uploads([file])[0])) if file else None), adapter
    return pick_server_path(p.path_label, p.path_key, "A .pt file inside INSPECTOR_ROOTS."), adapter


def pick_dataset() -> Choice | None:
    """Sidebar: the dataset chosen (demo, or a COCO / YOLO / video-samples folder on the server)."""
    demos = {k: v for k, v in demo_datasets().items() if v.is_dir()}
    kinds = (["demo"] if demos else []) + ["server path"]
    kind = st.sidebar.radio("Dataset source", kinds, key="data_kind", horizontal=True)
    if kind == "demo":
        name = st.sidebar.selectbox("Demo dataset", list(demos), key="data_demo")
        return choice_of(f"demo/{name}", demos[name])
    return pick_server_path(
        "Dataset: path on the server",
        "data_path",
        "A COCO annotations.json (or its folder), a YOLO data.yaml folder, or video sample folders.",
    )


@st.cache_data(max_entries=16, show_spinner=False)
def checkpoint_shape(ckpt_key: tuple[str, int]) -> dict[str, int]:
    """The episode shape the checkpoint's train config holds ({} without one): plan.trained_shape, cached."""
    return trained_shape(ckpt_key[0])


def episode_settings(trained: dict[str, int], source: object) -> EvalSettings:
    """Sidebar: n-way, k-shot, n-query and seed, as the `evaluate` command's settings (its other fields at
    their defaults). They start at the checkpoint's train config (else inspector's defaults), as the `episode`
    and `evaluate` commands do, and start over whenever `source` (the checkpoint they came from) changes; the
    user may change them after that.

    The shape inputs are keyed by their source and take the trained shape as their `value`, rather than
    having it written into the session state: a widget's proto carries its default, and a click during the
    page's first run could make the browser draw the inputs from a later run's proto, whose default was then
    the minimum (1-way 1-shot, 0 queries), and send that back.
    """
    shape = resolve_shape(trained)
    tag = hashlib.sha256(repr(source).encode()).hexdigest()[:12]
    st.session_state.setdefault("seed", DEFAULT_SEED)  # its minimum: no default to lose
    sb = st.sidebar
    sb.divider()
    a, b = sb.columns(2)
    c, d = sb.columns(2)
    return EvalSettings(
        seed=int(d.number_input("seed", 0, 2**31 - 1, key="seed")),
        n_way=int(a.number_input("n-way", 1, 20, value=shape.n_way, key=f"n_way_{tag}")),
        k_shot=int(
            b.number_input(
                "k-shot",
                1,
                20,
                value=shape.k_shot,
                key=f"k_shot_{tag}",
                help="support images per way; a clip's first k reference photos",
            )
        ),
        n_query=int(c.number_input("n-query", 0, 32, value=shape.n_query, key=f"n_query_{tag}")),
    )


def _step(delta: int) -> None:
    st.session_state["episode"] = max(0, int(st.session_state.get("episode", 0)) + delta)


def episode_index() -> int:
    """Prev / Next buttons around a jump input; returns the episode index."""
    prev, jump, nxt = st.columns([1, 2, 1], vertical_alignment="bottom")
    prev.button("◀ Prev", key="ep_prev", on_click=_step, args=(-1,), width="stretch")
    nxt.button("Next ▶", key="ep_next", on_click=_step, args=(1,), width="stretch")
    return int(jump.number_input("Episode", min_value=0, step=1, key="episode"))


@dataclass(frozen=True)
class ViewSettings:
    """Thresholds for the overlays and ST-IoU, and which anchors to draw (strides None: every stride)."""

    score_threshold: float = 0.1
    nms_iou: float = 0.6
    iou_threshold: float = 0.5
    clip_score_threshold: float = CLIP_SCORE_THRESHOLD
    strides: tuple[int, ...] | None = None
    anchors: bool = True


def view_settings() -> ViewSettings:
    """Sidebar: thresholds for the overlays, the clip score gate of ST-IoU, and whether to draw anchors."""
    sb = st.sidebar
    sb.divider()
    score = sb.slider("Score threshold", 0.0, 1.0, 0.1, 0.01, key="score_threshold")
    nms = sb.slider("NMS IoU", 0.05, 1.0, 0.6, 0.05, key="nms_iou")
    iou = sb.slider("IoU for TP / FP / FN", 0.05, 0.95, 0.5, 0.05, key="match_iou")
    gate = sb.slider(
        "Clip: target found at score ≥",
        0.0,
        1.0,
        CLIP_SCORE_THRESHOLD,
        0.01,
        key="clip_score_threshold",
        help="ST-IoU counts a frame's best box of the clip's way only from this score on "
        "(the default is the `episode` and `evaluate` commands' default)",
    )
    anchors = sb.checkbox("Assigned anchors", value=True, key="show_anchors")
    return ViewSettings(score, nms, iou, gate, None, anchors)


def stride_toggles(v: ViewSettings, *results: EpisodeResult) -> ViewSettings:
    """Sidebar: a toggle per anchor stride the results hold (EpisodeResult.anchor_strides, never assumed);
    returns `v` with the strides switched on."""
    strides = sorted({s for r in results for s in r.anchor_strides()})
    shown = tuple(
        s
        for s in strides
        if st.sidebar.checkbox(f"stride {s}", value=True, key=f"stride_{s}", disabled=not v.anchors)
    )
    return dataclasses.replace(v, strides=shown)


@st.cache_resource(show_spinner="Loading the checkpoint…", max_entries=4)
def cached_detector(key: tuple[str, int], adapter: str) -> Detector:
    """The adapter's Detector for the checkpoint `key`, kept across reruns."""
    return load_detector(key[0], adapter, allowed=allowed_adapters())


@st.cache_resource(show_spinner="Reading the dataset…", max_entries=4)
def cached_dataset(key: tuple[str, int]) -> Dataset:
    """The dataset `key`, read once and kept across reruns."""
    return read_dataset(key[0])


@st.cache_resource(max_entries=16)
def _episodes(key: tuple[str, int], s: EvalSettings) -> DatasetEpisodes:
    return DatasetEpisodes(cached_dataset(key), s.shape, s.seed)


@st.cache_data(max_entries=32, show_spinner=False)
def load_episode(data_key: tuple[str, int], s: EvalSettings, index: int) -> Episode:
    """Episode `index` of the dataset (plan.DatasetEpisodes: the same as the `episode` command's)."""
    return _episodes(data_key, s).episode(index)


@st.cache_data(max_entries=32, show_spinner="Running the detector…")
def run_detector(
    ckpt_key: tuple[str, int],
    adapter: str,
    data_key: tuple[str, int],
    s: EvalSettings,
    index: int,
    score_threshold: float,
    nms_iou: float,
) -> EpisodeResult:
    """The EpisodeResult of the checkpoint on episode `index`, cached on every input."""
    detector = cached_detector(ckpt_key, adapter)
    return inspect_episode(detector, load_episode(data_key, s, index), score_threshold, nms_iou)


def render_support(episode: Episode) -> None:
    """Support images as thumbnails with their boxes, captioned by way."""
    cols = st.columns(min(6, max(1, len(episode.support))))
    for i, s in enumerate(episode.support):
        names = [episode.class_names[int(lab)] for lab in s.labels]
        cols[i % len(cols)].image(
            draw_boxes(s.image, s.boxes, names), caption=f"{', '.join(set(names))} · {s.image_id}"
        )


def box_table(q: QueryResult, m: Matching, class_names: tuple[str, ...]) -> pd.DataFrame:
    """One row per prediction (TP/FP, matched IoU) and per missed target, as the Matching `m` of `q` says."""
    name = lambda k: class_names[k] if 0 <= k < len(class_names) else str(k)  # noqa: E731
    rows = [
        {
            "kind": "TP" if m.pred_tp[p] else "FP",
            "class": name(int(q.labels[p])),
            "score": float(q.scores[p]),
            "IoU": float(m.pred_iou[p]) if m.pred_tp[p] else math.nan,
            "x1": b[0],
            "y1": b[1],
            "x2": b[2],
            "y2": b[3],
        }
        for p, b in enumerate(q.pred_boxes.tolist())
    ]
    rows += [
        {
            "kind": "FN",
            "class": name(int(q.target_labels[t])),
            "score": math.nan,
            "IoU": math.nan,
            "x1": b[0],
            "y1": b[1],
            "x2": b[2],
            "y2": b[3],
        }
        for t, b in enumerate(q.target_boxes.tolist())
        if not m.gt_matched[t]
    ]
    return pd.DataFrame(rows, columns=["kind", "class", "score", "IoU", "x1", "y1", "x2", "y2"])


def render_query(
    image: np.ndarray, q: QueryResult, class_names: tuple[str, ...], v: ViewSettings, key: str
) -> None:
    """A query's overlay beside its table of per-box values (one matching serves both)."""
    m = match_query(q, v.iou_threshold)
    left, right = st.columns([3, 2])
    left.image(draw_overlay(image, q, m, class_names, v.strides, v.anchors), caption=q.image_id)
    right.dataframe(box_table(q, m, class_names), hide_index=True, key=f"boxes_{key}")


def render_clip(clip: ClipResult, frames: tuple, class_names: tuple[str, ...], v: ViewSettings) -> None:
    """A clip: its ST-IoU (evaluate.clip_st_iou at the sidebar's score gate), a frame slider and the chosen
    frame's overlay."""
    value = clip_st_iou(clip, v.clip_score_threshold)
    st.metric(
        f"ST-IoU · {clip.clip_id}",
        "n/a" if math.isnan(value) else f"{value:.3f}",
        help=f"Σ IoU over frames where both the prediction (best box of its way scoring ≥ "
        f"{v.clip_score_threshold:g}) and the target exist ÷ frames where either exists",
    )
    t = (
        st.slider("Frame", 0, len(clip.frames) - 1, 0, key=f"frame_{clip.clip_id}")
        if len(clip.frames) > 1
        else 0
    )
    render_query(frames[t].image, clip.frames[t], class_names, v, f"{clip.clip_id}_{t}")


def dataset_warnings(data_key: tuple[str, int]) -> tuple:
    """The dataset's box-format warnings (data.format_checks.FormatWarning), from the cached dataset."""
    return cached_dataset(data_key).warnings


def render_diagnostics(result: EpisodeResult, box_warnings: tuple = ()) -> None:
    """Losses with gradient norms, positives per target, assigned-IoU histogram, ranges, the format doctor.

    `box_warnings` are the dataset's own box-format warnings: shown, and given to the doctor as evidence
    about the targets (a COCO file holding xyxy is the dataset's fault, not the adapter's).
    """
    if result.unavailable:
        st.info("This adapter does not provide: " + ", ".join(result.unavailable) + ".")
    for warning in result.warnings:
        st.warning(warning)
    for w in box_warnings:
        st.warning("Dataset: " + w.message)
    doctor = format_doctor(result, box_warnings)
    (st.warning if doctor.mismatch else st.caption)("Box format: " + doctor.message)
    rows = pd.DataFrame([r.__dict__ for r in loss_rows(result.losses)])
    if len(rows) and result.gradient_norms:
        rows["‖∇ backbone‖ (train-mode BN)"] = rows["name"].map(result.gradient_norms)
    left, right = st.columns(2)
    if len(rows):
        left.markdown(
            "**Losses** (raw × gain = weighted; the gradient norm of each weighted term on the shared "
            "backbone, with batch norm in training mode as a training step computes it)"
        )
        left.dataframe(rows, hide_index=True, key="loss_table")
    hist = assigned_iou_histogram(result)
    if hist is not None:
        right.markdown("**Assigned anchors' IoU with their target**")
        labels = [f"{a:.1f}–{b:.1f}" for a, b in zip(hist.edges[:-1], hist.edges[1:], strict=False)]
        right.bar_chart(pd.DataFrame({"IoU": labels, "anchors": hist.counts}), x="IoU", y="anchors")
    targets = target_rows(result)
    if targets:
        st.markdown("**Positives per target** (0 = the target teaches nothing this episode)")
        st.dataframe(pd.DataFrame([t.__dict__ for t in targets]), hide_index=True, key="target_table")
    ranges = coordinate_ranges(result)
    if ranges is not None:
        st.caption(
            f"Predicted coordinates: x1 {ranges.low[0]:.1f}…{ranges.high[0]:.1f}, y1 {ranges.low[1]:.1f}…"
            f"{ranges.high[1]:.1f}, x2 {ranges.low[2]:.1f}…{ranges.high[2]:.1f}, y2 {ranges.low[3]:.1f}…"
            f"{ranges.high[3]:.1f} over images up to {ranges.max_image_side} px; "
            f"{ranges.inverted} of {ranges.count} inverted."
        )
    positives = positive_rows(result)
    if positives:
        with st.expander(f"Positive anchors ({len(positives)}): alignment, IoU, Wise-IoU β and r"):
            st.dataframe(pd.DataFrame([p.__dict__ for p in positives]), hide_index=True, key="positive_table")
