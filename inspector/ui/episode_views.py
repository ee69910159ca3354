"""The Episodes page's parts: checkpoint / dataset pickers, episode controls, cached inference, renderers."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import streamlit as st

from inspector.adapters import (DEFAULT_ADAPTER, ClipResult, Detector, EpisodeResult, QueryResult, allowed_adapters,
                                inspect_episode, load_detector)
from inspector.data import Dataset, Episode, read_dataset
from inspector.data.episodes import EpisodeSampler
from inspector.draw import Overlay, draw_boxes, draw_overlay
from inspector.episode_diagnostics import (assigned_iou_histogram, clip_st_iou, coordinate_ranges, format_doctor,
                                           loss_rows, positive_rows, target_rows)
from inspector.errors import InspectorError
from inspector.evaluate import match
from inspector.paths import DEMO_DIR, confined_path
from inspector.ui.sources import save_uploads

DEMO_DATA = {"shapes (val)": DEMO_DIR / "data" / "val", "video clips": DEMO_DIR / "data" / "clips"}
NO_DEMO = ("The bundled demo (demo/runs, demo/data) is not here yet: run `python -m inspector demo` to build it, "
           "or choose *upload* / *server path*.")


@dataclass(frozen=True)
class Choice:
    """A file or folder the user picked, and the key its cached products are filed under (path + mtime)."""

    label: str
    path: str
    key: tuple[str, int]


def _choice(label: str, path: Path) -> Choice:
    return Choice(label, str(path), (str(path), path.stat().st_mtime_ns))


def demo_checkpoints() -> dict[str, Path]:
    """{"run/file": path} of the demo checkpoints, best.pt first within each run."""
    found = {}
    for run in sorted((DEMO_DIR / "runs").glob("*")):
        for p in sorted(run.glob("*.pt"), key=lambda p: (p.name != "best.pt", p.name)):
            found[f"{run.name}/{p.name}"] = p
    return found


def _server_path(label: str, key: str, help: str) -> Choice | None:
    text = st.sidebar.text_input(label, key=key, help=help)
    if not text:
        return None
    try:
        return _choice(text, confined_path(text))
    except InspectorError as exc:
        st.sidebar.error(str(exc))
        return None


def pick_checkpoint() -> tuple[Choice | None, str]:
    """Sidebar: (the checkpoint chosen, or None; the adapter spec)."""
    demos = demo_checkpoints()
    kinds = (["demo"] if demos else []) + ["upload", "server path"]
    kind = st.sidebar.radio("Checkpoint source", kinds, key="ckpt_kind", horizontal=True)
    adapter = st.sidebar.text_input("Adapter", DEFAULT_ADAPTER, key="adapter",
                                    help="'reference', or package.module:factory listed in INSPECTOR_ADAPTERS")
    if kind == "demo":
        name = st.sidebar.selectbox("Demo checkpoint", list(demos), key="ckpt_demo")
        return _choice(f"demo/{name}", demos[name]), adapter
    if kind == "upload":
        file = st.sidebar.file_uploader("Checkpoint (.pt)", key="ckpt_upload")
        return (_choice(file.name, Path(save_uploads([file])[0])) if file else None), adapter
    return _server_path("Checkpoint: path on the server", "ckpt_path", "A .pt file inside INSPECTOR_ROOTS."), adapter


def pick_dataset() -> Choice | None:
    """Sidebar: the dataset chosen (demo, or a COCO / YOLO / video-samples folder on the server)."""
    demos = {k: v for k, v in DEMO_DATA.items() if v.is_dir()}
    kinds = (["demo"] if demos else []) + ["server path"]
    kind = st.sidebar.radio("Dataset source", kinds, key="data_kind", horizontal=True)
    if kind == "demo":
        name = st.sidebar.selectbox("Demo dataset", list(demos), key="data_demo")
        return _choice(f"demo/{name}", demos[name])
    return _server_path("Dataset: path on the server", "data_path",
                        "A COCO annotations.json (or its folder), a YOLO data.yaml folder, or video sample folders.")


@dataclass(frozen=True)
class EpisodeSettings:
    n_way: int = 2
    k_shot: int = 2
    n_query: int = 4
    seed: int = 0


def episode_settings() -> EpisodeSettings:
    """Sidebar: n-way, k-shot, n-query and seed."""
    sb = st.sidebar
    sb.divider()
    a, b = sb.columns(2)
    c, d = sb.columns(2)
    return EpisodeSettings(int(a.number_input("n-way", 1, 20, 2, key="n_way")),
                           int(b.number_input("k-shot", 1, 20, 2, key="k_shot")),
                           int(c.number_input("n-query", 0, 32, 4, key="n_query")),
                           int(d.number_input("seed", 0, 2**31 - 1, 0, key="seed")))


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
    score_threshold: float = 0.1
    nms_iou: float = 0.6
    iou_threshold: float = 0.5
    strides: tuple[int, ...] = ()
    anchors: bool = True


def view_settings(strides: tuple[int, ...]) -> ViewSettings:
    """Sidebar: thresholds for the overlays and a toggle per anchor stride."""
    sb = st.sidebar
    sb.divider()
    score = sb.slider("Score threshold", 0.0, 1.0, 0.1, 0.01, key="score_threshold")
    nms = sb.slider("NMS IoU", 0.05, 1.0, 0.6, 0.05, key="nms_iou")
    iou = sb.slider("IoU for TP / FP / FN", 0.05, 0.95, 0.5, 0.05, key="match_iou")
    anchors = sb.checkbox("Assigned anchors", value=True, key="show_anchors")
    shown = tuple(s for s in strides if sb.checkbox(f"stride {s}", value=True, key=f"stride_{s}",
                                                      disabled=not anchors))
    return ViewSettings(score, nms, iou, shown, anchors)


@st.cache_resource(show_spinner="Loading the checkpoint…", max_entries=4)
def _detector(key: tuple[str, int], adapter: str) -> Detector:
    return load_detector(key[0], adapter, allowed=allowed_adapters())


@st.cache_resource(show_spinner="Reading the dataset…", max_entries=4)
def _dataset(key: tuple[str, int]) -> Dataset:
    return read_dataset(key[0])


@st.cache_resource(max_entries=16)
def _sampler(key: tuple[str, int], s: EpisodeSettings) -> EpisodeSampler:
    return EpisodeSampler(_dataset(key), s.n_way, s.k_shot, s.n_query, s.seed)


@st.cache_data(max_entries=32, show_spinner=False)
def load_episode(data_key: tuple[str, int], s: EpisodeSettings, index: int) -> Episode:
    """Episode `index` of the dataset (the same everywhere for the same settings)."""
    return _sampler(data_key, s).sample(index)


@st.cache_data(max_entries=32, show_spinner="Running the detector…")
def run_detector(ckpt_key: tuple[str, int], adapter: str, data_key: tuple[str, int], s: EpisodeSettings,
                 index: int, score_threshold: float, nms_iou: float) -> EpisodeResult:
    """The EpisodeResult of the checkpoint on episode `index`, cached on every input."""
    detector = _detector(ckpt_key, adapter)
    return inspect_episode(detector, load_episode(data_key, s, index), score_threshold, nms_iou)


def overlay_of(q: QueryResult, class_names: tuple[str, ...]) -> Overlay:
    """The drawing record of a query result."""
    a = q.assigned
    return Overlay(q.target_boxes, q.target_labels, q.pred_boxes, q.scores, q.labels, class_names, q.anchors,
                   q.strides, None if a is None else a.anchor, None if a is None else a.target,
                   None if a is None else a.align_metric)


def render_support(episode: Episode) -> None:
    """Support images as thumbnails with their boxes, captioned by way."""
    cols = st.columns(min(6, max(1, len(episode.support))))
    for i, s in enumerate(episode.support):
        names = [episode.class_names[int(lab)] for lab in s.labels]
        cols[i % len(cols)].image(draw_boxes(s.image, s.boxes, names), caption=f"{', '.join(set(names))} · {s.image_id}")


def box_table(q: QueryResult, class_names: tuple[str, ...], iou_threshold: float) -> pd.DataFrame:
    """One row per prediction (TP/FP, matched IoU) and per missed target."""
    m = match(q.pred_boxes, q.scores, q.labels, q.target_boxes, q.target_labels, iou_threshold)
    name = lambda k: class_names[k] if 0 <= k < len(class_names) else str(k)  # noqa: E731
    rows = [{"kind": "TP" if m.pred_tp[p] else "FP", "class": name(int(q.labels[p])), "score": float(q.scores[p]),
             "IoU": float(m.pred_iou[p]) if m.pred_tp[p] else math.nan,
             "x1": b[0], "y1": b[1], "x2": b[2], "y2": b[3]} for p, b in enumerate(q.pred_boxes.tolist())]
    rows += [{"kind": "FN", "class": name(int(q.target_labels[t])), "score": math.nan, "IoU": math.nan,
              "x1": b[0], "y1": b[1], "x2": b[2], "y2": b[3]}
             for t, b in enumerate(q.target_boxes.tolist()) if not m.gt_matched[t]]
    return pd.DataFrame(rows, columns=["kind", "class", "score", "IoU", "x1", "y1", "x2", "y2"])


def render_query(image: np.ndarray, q: QueryResult, class_names: tuple[str, ...], v: ViewSettings,
                 key: str) -> None:
    """A query's overlay beside its table of per-box values."""
    left, right = st.columns([3, 2])
    left.image(draw_overlay(image, overlay_of(q, class_names), v.iou_threshold, v.strides, v.anchors),
               caption=q.image_id)
    right.dataframe(box_table(q, class_names, v.iou_threshold), hide_index=True, key=f"boxes_{key}")


def render_clip(clip: ClipResult, frames: tuple, class_names: tuple[str, ...], v: ViewSettings) -> None:
    """A clip: its ST-IoU, a frame slider and the chosen frame's overlay."""
    value = clip_st_iou(clip)
    st.metric(f"ST-IoU · {clip.clip_id}", "n/a" if math.isnan(value) else f"{value:.3f}")
    t = st.slider("Frame", 0, len(clip.frames) - 1, 0, key=f"frame_{clip.clip_id}") if len(clip.frames) > 1 else 0
    render_query(frames[t].image, clip.frames[t], class_names, v, f"{clip.clip_id}_{t}")


def render_diagnostics(result: EpisodeResult) -> None:
    """Losses with gradient norms, positives per target, assigned-IoU histogram, ranges, the format doctor."""
    if result.unavailable:
        st.info("This adapter does not provide: " + ", ".join(result.unavailable) + ".")
    for warning in result.warnings:
        st.warning(warning)
    doctor = format_doctor(result)
    (st.warning if doctor.mismatch else st.caption)("Box format: " + doctor.message)
    rows = pd.DataFrame([r.__dict__ for r in loss_rows(result.losses)])
    if len(rows) and result.gradient_norms:
        rows["‖∇ backbone‖"] = rows["name"].map(result.gradient_norms)
    left, right = st.columns(2)
    if len(rows):
        left.markdown("**Losses** (raw × gain = weighted; gradient norm on the shared backbone)")
        left.dataframe(rows, hide_index=True, key="loss_table")
    hist = assigned_iou_histogram(result)
    if hist is not None:
        right.markdown("**Assigned anchors' IoU with their target**")
        labels = [f"{a:.1f}–{b:.1f}" for a, b in zip(hist.edges[:-1], hist.edges[1:])]
        right.bar_chart(pd.DataFrame({"IoU": labels, "anchors": hist.counts}), x="IoU", y="anchors")
    targets = target_rows(result)
    if targets:
        st.markdown("**Positives per target** (0 = the target teaches nothing this episode)")
        st.dataframe(pd.DataFrame([t.__dict__ for t in targets]), hide_index=True, key="target_table")
    ranges = coordinate_ranges(result)
    if ranges is not None:
        st.caption(f"Predicted coordinates: x1 {ranges.low[0]:.1f}…{ranges.high[0]:.1f}, y1 {ranges.low[1]:.1f}…"
                   f"{ranges.high[1]:.1f}, x2 {ranges.low[2]:.1f}…{ranges.high[2]:.1f}, y2 {ranges.low[3]:.1f}…"
                   f"{ranges.high[3]:.1f} over images up to {ranges.max_image_side} px; "
                   f"{ranges.inverted} of {ranges.count} inverted.")
    positives = positive_rows(result)
    if positives:
        with st.expander(f"Positive anchors ({len(positives)}): alignment, IoU, Wise-IoU β and r"):
            st.dataframe(pd.DataFrame([p.__dict__ for p in positives]), hide_index=True, key="positive_table")
