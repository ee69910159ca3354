"""The Episodes page's parts: checkpoint / dataset pickers, episode controls, cached inference, renderers."""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import streamlit as st

from inspector.adapters import DEFAULT_ADAPTER, allowed_adapters, inspect_episode, load_detector
from inspector.batch import EvalSettings
from inspector.data import Dataset, Episode, read_dataset
from inspector.episode_diagnostics import (
    assigned_iou_histogram,
    coordinate_ranges,
    loss_rows,
    positive_rows,
    target_rows,
)
from inspector.errors import InspectorError
from inspector.evaluate import CLIP_SCORE_THRESHOLD
from inspector.format_doctor import format_doctor
from inspector.paths import demo_dir
from inspector.plan import (
    DEFAULT_SEED,
    DatasetEpisodes,
    resolve_shape,
    trained_shape,
)
from inspector.plan import describe_shape as describe_shape  # re-exported: pages/ call views.describe_shape
from inspector.results import Detector, EpisodeResult
from inspector.ui import links, tables
from inspector.ui.locations import server_location
from inspector.ui.sources import report, save_uploads
from inspector.ui.torch_threads import one_torch_thread


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
        report(f"Cannot open {label.split(':')[0].lower()} {text.strip()!r}: {exc.reason}")
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
    p: CheckpointPicker = EPISODES_PICKER, default: str | None = None, param: links.Param = "checkpoint"
) -> tuple[Choice | None, str]:
    """Sidebar: (the checkpoint chosen, or None; the adapter spec); `default` preselects a demo checkpoint.
    The choice is the URL's `param` (inspector.ui.links)."""
    demos = demo_checkpoints()
    kinds = (["demo"] if demos else []) + (["upload"] if p.upload_key else []) + ["server path"]
    slot = links.SourceSlot(p.kind_key, p.demo_key, p.path_key, tuple(demos), tuple(kinds))
    links.bind(param, slot)
    if default in demos and p.demo_key not in st.session_state:
        # The default as the widget's state, not its `index`: a link may set the state, and Streamlit warns
        # about a widget given both.
        st.session_state[p.demo_key] = default
    chosen = _pick_checkpoint(p, demos, kinds)
    links.remember(param, slot)
    return chosen


def _pick_checkpoint(
    p: CheckpointPicker, demos: dict[str, Path], kinds: list[str]
) -> tuple[Choice | None, str]:
    """pick_checkpoint's widgets and what they choose."""
    sb = st.sidebar
    if p.title:
        sb.markdown(p.title)
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
        name = sb.selectbox(p.demo_label, names, key=p.demo_key)
        return choice_of(f"demo/{name}", demos[name]), adapter
    if kind == "upload" and p.upload_key:
        file = sb.file_uploader("Checkpoint (.pt)", key=p.upload_key)
        return (choice_of(file.name, Path(save_uploads([file])[0])) if file else None), adapter
    return pick_server_path(p.path_label, p.path_key, "A .pt file inside INSPECTOR_ROOTS."), adapter


def pick_dataset() -> Choice | None:
    """Sidebar: the dataset chosen (demo, or a COCO / YOLO / video-samples folder on the server)."""
    demos = {k: v for k, v in demo_datasets().items() if v.is_dir()}
    kinds = (["demo"] if demos else []) + ["server path"]
    slot = links.SourceSlot("data_kind", "data_demo", "data_path", tuple(demos), tuple(kinds))
    links.bind("dataset", slot)
    chosen = _pick_dataset(demos, kinds)
    links.remember("dataset", slot)
    return chosen


def _pick_dataset(demos: dict[str, Path], kinds: list[str]) -> Choice | None:
    """pick_dataset's widgets and what they choose."""
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


EPISODE_SLOT = links.ValueSlot("episode", links.episode_number)


def episode_index() -> int:
    """Prev / Next buttons (keys ← and →) around a jump input; returns the episode index (the URL's
    `episode`)."""
    links.bind("episode", EPISODE_SLOT)
    prev, jump, nxt = st.columns([1, 2, 1], vertical_alignment="bottom")
    prev.button("◀ Prev", key="ep_prev", on_click=_step, args=(-1,), width="stretch", shortcut="left")
    nxt.button("Next ▶", key="ep_next", on_click=_step, args=(1,), width="stretch", shortcut="right")
    index = int(jump.number_input("Episode", min_value=0, step=1, key="episode"))
    links.remember("episode", EPISODE_SLOT)
    return index


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
    """The EpisodeResult of the checkpoint on episode `index` without gradient norms (episode_gradients
    computes them when asked: they were 90% of a step, 0.17–3.8 s against 0.02 s for the rest), cached on
    every input."""
    detector = cached_detector(ckpt_key, adapter)
    with one_torch_thread():
        return inspect_episode(
            detector, load_episode(data_key, s, index), score_threshold, nms_iou, gradients=False
        )


@st.cache_data(max_entries=32, show_spinner="Computing the gradient norms…")
def episode_gradients(
    ckpt_key: tuple[str, int], adapter: str, data_key: tuple[str, int], s: EvalSettings, index: int
) -> dict[str, float] | None:
    """{loss term: ‖∇ backbone‖} of the checkpoint on episode `index` (a backward pass per term, batch norm in
    training mode), or None when the adapter does not compute them; cached."""
    detector = cached_detector(ckpt_key, adapter)
    compute = getattr(detector, "gradient_norms", None)
    if not callable(compute):
        return None
    with one_torch_thread():
        return compute(load_episode(data_key, s, index))


def dataset_warnings(data_key: tuple[str, int]) -> tuple:
    """The dataset's box-format warnings (data.format_checks.FormatWarning), from the cached dataset."""
    return cached_dataset(data_key).warnings


LOSS_KINDS: dict[str, tables.Kind] = {
    "name": "text",
    "raw": "loss",
    "weighted": "loss",
    "gain": "weight",
    "share": "share",
}
GRADIENT_COLUMN = "‖∇ backbone‖ (train-mode BN)"
TARGET_KINDS: dict[str, tables.Kind] = {
    "query": "text",
    "target": "count",
    "class": "text",
    "width": "pixels",
    "height": "pixels",
    "positives": "count",
    "mean_align_metric": "score",
    "mean_iou": "iou",
}
POSITIVE_KINDS: dict[str, tables.Kind] = {
    "query": "text",
    "anchor": "count",
    "x": "pixels",
    "y": "pixels",
    "stride": "count",
    "target": "count",
    "class": "text",
    "align_metric": "score",
    "iou": "iou",
    "wiou_beta": "weight",
    "wiou_r": "weight",
}


def class_name(names: tuple[str, ...], label: int) -> str:
    """The way's class name (the label itself when out of range: a bad adapter's)."""
    return names[label] if 0 <= label < len(names) else str(label)


def target_table(result: EpisodeResult) -> pd.DataFrame:
    """Positives per target (episode_diagnostics.target_rows) with class names, not way indices."""
    rows = [dataclasses.asdict(t) for t in target_rows(result)]
    for row in rows:
        row["class"] = class_name(result.class_names, row.pop("label"))
    return pd.DataFrame(rows, columns=list(TARGET_KINDS))


def positive_table(result: EpisodeResult) -> pd.DataFrame:
    """One row per positive anchor (episode_diagnostics.positive_rows) with its target's class name."""
    labels = {q.image_id: q.target_labels for q in result.all_queries()}
    rows = [dataclasses.asdict(p) for p in positive_rows(result)]
    for row in rows:
        row["class"] = class_name(result.class_names, int(labels[row["query"]][row["target"]]))
    return pd.DataFrame(rows, columns=list(POSITIVE_KINDS))


def loss_table(result: EpisodeResult, norms: dict[str, float] | None = None) -> pd.DataFrame:
    """A row per loss term (episode_diagnostics.loss_rows), with its gradient norm when `norms` are given."""
    rows = pd.DataFrame([dataclasses.asdict(r) for r in loss_rows(result.losses)], columns=list(LOSS_KINDS))
    if norms is not None:
        rows[GRADIENT_COLUMN] = rows["name"].map(norms)
    return rows


def render_diagnostics(
    result: EpisodeResult,
    box_warnings: tuple = (),
    gradients: Callable[[], dict[str, float] | None] | None = None,
) -> None:
    """Losses (with gradient norms on request: `gradients()` computes them), positives per target, the
    assigned-IoU histogram, coordinate ranges, the format doctor.

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
    left, right = st.columns(2)
    if result.losses is not None:
        left.markdown("**Losses** (raw × gain = weighted)")
        norms = None
        if gradients is not None and left.toggle(
            "Gradient norms on the shared backbone",
            key="ep_gradients",
            help="The gradient norm of each weighted term on the shared backbone, with batch norm in "
            "training mode as a training step computes it: a backward pass per term, about 10× the "
            "episode's time.",
        ):
            norms = gradients()
            if norms is None:
                left.info("This adapter does not provide gradient norms.")
        kinds: dict[str, tables.Kind] = {**LOSS_KINDS, GRADIENT_COLUMN: "loss"}
        tables.show(loss_table(result, norms), kinds, "loss_table", container=left)
    hist = assigned_iou_histogram(result)
    if hist is not None:
        right.markdown("**Assigned anchors' IoU with their target**")
        labels = [f"{a:.1f}–{b:.1f}" for a, b in zip(hist.edges[:-1], hist.edges[1:], strict=False)]
        right.bar_chart(pd.DataFrame({"IoU": labels, "anchors": hist.counts}), x="IoU", y="anchors")
    targets = target_table(result)
    if len(targets):
        st.markdown("**Positives per target** (0 = the target teaches nothing this episode)")
        tables.show(targets, TARGET_KINDS, "target_table")
    ranges = coordinate_ranges(result)
    if ranges is not None:
        st.caption(
            f"Predicted coordinates: x1 {ranges.low[0]:.1f}…{ranges.high[0]:.1f}, y1 {ranges.low[1]:.1f}…"
            f"{ranges.high[1]:.1f}, x2 {ranges.low[2]:.1f}…{ranges.high[2]:.1f}, y2 {ranges.low[3]:.1f}…"
            f"{ranges.high[3]:.1f} over images up to {ranges.max_image_side} px; "
            f"{ranges.inverted} of {ranges.count} inverted."
        )
    positives = positive_table(result)
    if len(positives):
        with st.expander(f"Positive anchors ({len(positives)}): alignment, IoU, Wise-IoU β and r"):
            tables.show(positives, POSITIVE_KINDS, "positive_table")
