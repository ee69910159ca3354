"""The Episodes and Compare pages' images: support and query overlays drawn for their column (labels
legible at the size shown), their captions and per-box tables, clips, and an Enlarge dialog that redraws
an image at a larger size."""

from __future__ import annotations

import io
import math
from collections.abc import Callable

import numpy as np
import pandas as pd
import streamlit as st
from PIL import Image
from streamlit.delta_generator import DeltaGenerator

from inspector.data import Episode
from inspector.draw import DISPLAY_SIDE, MAX_LABELS, Overlay, compose_boxes, compose_overlay, legend_caption
from inspector.evaluate import Matching, clip_st_iou, match_query
from inspector.results import ClipResult, EpisodeResult, QueryResult
from inspector.ui import tables
from inspector.ui.episode_views import ViewSettings, class_name

# Widths (CSS px) the images are drawn for: labels are LABEL_PX tall when shown this wide or wider. A query
# overlay's column is ~650 px at 1600 px and ~460 px at 1280; four support images to a row are ~260 px wide
# at 1600 and ~180 at 1280; the enlarged view's dialog is up to 1280 px.
QUERY_SHOWN = 440
SUPPORT_SIDE = 256
SUPPORT_SHOWN = 180
SUPPORT_COLUMNS = 4
ENLARGED_SIDE = 1024
ENLARGED_SHOWN = 900


# draw(enlarged): an image drawn for the page (False) or for the enlarged view (True)
Drawer = Callable[[bool], Image.Image]


def png(image: Image.Image) -> bytes:
    """The image as PNG (lossless: labels stay crisp), compressed fast: level 1 took 45 ms for an episode's
    ten images where Pillow's default 6 took 112 ms, for 13% more bytes."""
    out = io.BytesIO()
    image.save(out, format="PNG", compress_level=1)
    return out.getvalue()


@st.dialog("Enlarged", width="large")
def _enlarged(draw: Drawer, caption: str, legend: str) -> None:
    st.image(png(draw(True)), caption=caption, output_format="PNG")
    if legend:
        st.caption(legend)


@st.cache_data(max_entries=64, show_spinner=False)
def _page_png(identity: tuple, _draw: Drawer) -> bytes:
    """The page's PNG of the image `identity` names, drawn by `_draw` the first time only."""
    return png(_draw(False))


def show_image(
    container: DeltaGenerator,
    draw: Drawer,
    caption: str,
    key: str,
    legend: str = "",
    identity: tuple | None = None,
) -> None:
    """`draw`'s image in `container` with its caption and an Enlarge button that opens it redrawn at
    ENLARGED_SIDE (labels redrawn for the larger size, not a scaled bitmap) in a dialog, with `legend`.
    `identity`, when given, names everything the image's pixels depend on (the cache keys of its episode and
    result, which image, the view settings): it is then drawn and encoded once and kept across reruns
    (drawing and encoding were 45% of a Compare rerun)."""
    with container:
        data = png(draw(False)) if identity is None else _page_png(identity, draw)
        st.image(data, caption=caption, output_format="PNG")
        if st.button("Enlarge", key=f"enlarge_{key}", icon=":material/zoom_in:", type="tertiary"):
            _enlarged(draw, caption, legend)


def support_caption(names: list[str], image_id: str) -> str:
    """ "support · circle · image 17": what a support image shows."""
    return f"support · {', '.join(dict.fromkeys(names))} · image {image_id}"


def boxes_drawer(image: np.ndarray, boxes: np.ndarray, names: list[str]) -> Drawer:
    """A support image with its labelled boxes (draw.compose_boxes), for the page or enlarged."""

    def draw(enlarged: bool) -> Image.Image:
        side, shown = (ENLARGED_SIDE, ENLARGED_SHOWN) if enlarged else (SUPPORT_SIDE, SUPPORT_SHOWN)
        return compose_boxes(image, boxes, names, side=side, shown=shown).image

    return draw


def render_support(episode: Episode, identity: tuple | None = None) -> None:
    """Support images with their boxes, labelled by class, captioned; each can be enlarged. `identity`: what
    the episode was cached by (show_image)."""
    cols = st.columns(min(SUPPORT_COLUMNS, max(1, len(episode.support))))
    for i, s in enumerate(episode.support):
        names = [episode.class_names[int(lab)] for lab in s.labels]
        draw = boxes_drawer(s.image, s.boxes, names)
        shown = None if identity is None else (*identity, "support", i)
        show_image(
            cols[i % len(cols)], draw, support_caption(names, s.image_id), f"support_{i}", identity=shown
        )


def box_table(q: QueryResult, m: Matching, class_names: tuple[str, ...]) -> pd.DataFrame:
    """One row per prediction (TP/FP, matched IoU) and per missed target, as the Matching `m` of `q` says."""
    name = lambda k: class_name(class_names, k)  # noqa: E731
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


def query_caption(title: str, q: QueryResult, m: Matching) -> str:
    """ "query 2 · image 1234 · 3 targets · 2 TP, 1 FP, 0 missed": what a query image shows."""
    targets = len(q.target_boxes)
    return (
        f"{title} · image {q.image_id} · {targets} target{'s' * (targets != 1)} · "
        f"{m.tp} TP, {m.fp} FP, {m.fn} missed"
    )


BOX_KINDS: dict[str, tables.Kind] = {
    "kind": "text",
    "class": "text",
    "score": "score",
    "IoU": "iou",
    **{c: "pixels" for c in ("x1", "y1", "x2", "y2")},
}


def query_overlay(
    image: np.ndarray,
    q: QueryResult,
    m: Matching,
    class_names: tuple[str, ...],
    v: ViewSettings,
    enlarged: bool = False,
) -> Overlay:
    """The query's Overlay as the page draws it (draw.compose_overlay for a QUERY_SHOWN-wide column) or,
    enlarged, at ENLARGED_SIDE with twice the labels."""
    if enlarged:
        return compose_overlay(
            image,
            q,
            m,
            class_names,
            v.strides,
            v.anchors,
            side=ENLARGED_SIDE,
            shown=ENLARGED_SHOWN,
            max_labels=2 * MAX_LABELS,
        )
    return compose_overlay(
        image, q, m, class_names, v.strides, v.anchors, side=DISPLAY_SIDE, shown=QUERY_SHOWN
    )


def overlay_drawer(
    image: np.ndarray, q: QueryResult, m: Matching, class_names: tuple[str, ...], v: ViewSettings
) -> Drawer:
    """query_overlay's image, for the page or enlarged."""
    return lambda enlarged: query_overlay(image, q, m, class_names, v, enlarged).image


def render_query(
    image: np.ndarray,
    q: QueryResult,
    class_names: tuple[str, ...],
    v: ViewSettings,
    key: str,
    title: str = "query",
    identity: tuple | None = None,
) -> None:
    """A query's overlay (captioned; it can be enlarged) beside its table of per-box values (one matching
    serves both). `identity`: what names this query's image and result (show_image)."""
    m = match_query(q, v.iou_threshold)
    left, right = st.columns([3, 2])
    legend = legend_caption(anchors=v.anchors and q.assigned is not None)
    draw = overlay_drawer(image, q, m, class_names, v)
    shown = None if identity is None else (*identity, v)
    show_image(left, draw, query_caption(title, q, m), key, legend, shown)
    tables.show(box_table(q, m, class_names), BOX_KINDS, f"boxes_{key}", container=right)


def render_queries(
    episode: Episode, result: EpisodeResult, v: ViewSettings, identity: tuple | None = None
) -> None:
    """The legend in words, every query image's overlay and box table, then every clip (a warning when there
    is neither). `identity`: what the episode and its result were cached by (show_image)."""
    if result.queries or result.clips:
        st.caption(legend_caption(anchors=v.anchors))
    for k, (sample, q) in enumerate(zip(episode.queries, result.queries, strict=False)):
        shown = None if identity is None else (*identity, "query", k)
        render_query(sample.image, q, result.class_names, v, f"q{k}", f"query {k + 1}", shown)
    for clip, source in zip(result.clips, episode.clips, strict=False):
        render_clip(clip, source.frames, result.class_names, v, identity)
    if not result.queries and not result.clips:
        st.warning("This episode has no query images.")


def render_clip(
    clip: ClipResult,
    frames: tuple,
    class_names: tuple[str, ...],
    v: ViewSettings,
    identity: tuple | None = None,
) -> None:
    """A clip: its ST-IoU (evaluate.clip_st_iou at the sidebar's score gate), a frame slider and the chosen
    frame's overlay. `identity`: what the episode and its result were cached by (show_image)."""
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
    render_query(
        frames[t].image,
        clip.frames[t],
        class_names,
        v,
        f"{clip.clip_id}_{t}",
        f"clip {clip.clip_id} · frame {t}",
        None if identity is None else (*identity, "clip", clip.clip_id, t),
    )
