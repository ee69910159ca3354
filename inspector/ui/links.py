"""The selection every page shares, kept in the session and mirrored in the URL, so a view can be linked.

A URL parameter (`run`, `compare`, `checkpoint`, `checkpoint_b`, `dataset`, `episode`, `view`) stands for
one choice; a *slot* is the set of widget keys that holds that choice on a page (the run picker's source
radio, demo selectbox and path input, …). Several slots may hold the same choice: Compare's checkpoint A
and the Episodes page's checkpoint are both `checkpoint`.

How it flows:
- every page calls `restore()` first (inspector.ui.nav.sidebar_nav does): a URL value the session did not
  write (a link just opened) is kept as the choice, and the URL gets every kept choice back (page links
  drop the query string);
- each picker calls `bind(param, slot)` before drawing its widgets, which sets them to the kept choice
  unless the user just changed them (another page's choice, or widgets Streamlit dropped when the page
  changed), and `remember(param, slot)` after, which keeps what they hold (in the session, under STORE,
  which Streamlit never cleans up) and writes it to `st.query_params`.

A demo item is written `demo:NAME`, a server path as the path itself. An upload cannot be linked: its
parameter is left out of the URL. Values are decoded against the widgets' options; one that matches none
is reported in the main area and never written into a widget.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, get_args
from urllib.parse import urlencode

import streamlit as st

# The session state, or a dict standing in for it in tests (SessionStateProxy is no MutableMapping subclass).
State = Any
Param = Literal["run", "compare", "checkpoint", "checkpoint_b", "dataset", "episode", "view"]
PARAMS: tuple[Param, ...] = get_args(Param)
DEMO_PREFIX = "demo:"
STORE = "_links"  # {param: URL value}: the session's choices (None: chosen, but not linkable)


@dataclass(frozen=True)
class SourceSlot:
    """The widgets of a source picker: a radio of kinds ("demo", "server path", …), the demo selectbox and
    the path input; `demos` are the demo names the selectbox offers."""

    kind_key: str
    demo_key: str
    path_key: str
    demos: tuple[str, ...]
    kinds: tuple[str, ...]

    def encode(self, state: Mapping[str, object]) -> str | None:
        """The URL value of what the widgets hold ("demo:NAME", a path, "" for none), None for an upload."""
        kind = state.get(self.kind_key)
        if kind == "demo":
            name = state.get(self.demo_key, self.demos[0] if self.demos else None)
            return None if name is None else f"{DEMO_PREFIX}{name}"
        if kind == "server path":
            path = state.get(self.path_key)
            return str(path) if path else None
        if kind == "none":
            return ""
        return None

    def decode(self, value: str) -> dict[str, object] | None:
        """The widget values that show `value`, or None when the widgets cannot (an unknown demo name)."""
        if value == "":
            return {self.kind_key: "none"} if "none" in self.kinds else None
        if value.startswith(DEMO_PREFIX):
            name = value.removeprefix(DEMO_PREFIX)
            if "demo" not in self.kinds or name not in self.demos:
                return None
            return {self.kind_key: "demo", self.demo_key: name}
        if "server path" not in self.kinds:
            return None
        return {self.kind_key: "server path", self.path_key: value}


@dataclass(frozen=True)
class ValueSlot:
    """One widget holding the choice itself (the episode index, the curves' view); `options` (if any) are
    the values it accepts, `parse` turns the URL text into its value."""

    key: str
    parse: Callable[[str], object] = str
    options: tuple[object, ...] = ()

    def encode(self, state: Mapping[str, object]) -> str | None:
        value = state.get(self.key)
        return None if value is None else str(value)

    def decode(self, value: str) -> dict[str, object] | None:
        try:
            parsed = self.parse(value)
        except ValueError:
            return None
        if self.options and parsed not in self.options:
            return None
        return {self.key: parsed}


Slot = SourceSlot | ValueSlot


def episode_number(text: str) -> int:
    """An episode index from the URL: a whole number ≥ 0 (ValueError otherwise)."""
    number = int(text)
    if number < 0:
        raise ValueError(text)
    return number


LINK_VIEW = "_link_view"  # the page's "link to this view", redrawn when a choice changes (inspector.ui.nav)
SNAPSHOTS = "_links_widgets"  # {slot id: {widget key: value}} as each slot last showed its choice


def slot_id(slot: Slot) -> str:
    return slot.kind_key if isinstance(slot, SourceSlot) else slot.key


def widget_keys(slot: Slot) -> tuple[str, ...]:
    return (slot.kind_key, slot.demo_key, slot.path_key) if isinstance(slot, SourceSlot) else (slot.key,)


def store(state: State | None = None) -> dict[str, str | None]:
    """The session's kept choices {param: URL value}."""
    return _dict_in(st.session_state if state is None else state, STORE)


def _dict_in(state: State, name: str) -> dict:
    kept = state.get(name)
    if not isinstance(kept, dict):
        kept = {}
        state[name] = kept
    return kept


def take_link(query: Mapping[str, str], state: State) -> list[Param]:
    """Keep the URL's choices that the session did not write itself (a link just opened); returns them."""
    kept = store(state)
    taken: list[Param] = []
    for param in PARAMS:
        value = query.get(param)
        if value is not None and kept.get(param) != value:
            kept[param] = value
            taken.append(param)
    return taken


def user_changed(slot: Slot, state: Mapping[str, object], snapshots: Mapping[str, Mapping]) -> bool:
    """Whether the user changed the slot's widgets since it last showed the kept choice: one of its widget
    values is in the session and differs from then (widgets Streamlit dropped on a page change are absent)."""
    seen = snapshots.get(slot_id(slot), {})
    return any(k in state and state[k] != seen.get(k) for k in widget_keys(slot))


def show_kept(param: Param, slot: Slot, state: State) -> str | None:
    """Set the slot's widgets to the kept choice of `param` unless the user just changed them; returns the
    kept value when the widgets cannot show it (an unknown demo name), else None. Mutates `state`."""
    value = store(state).get(param)
    if value is None or slot.encode(state) == value or user_changed(slot, state, _dict_in(state, SNAPSHOTS)):
        return None
    widgets = slot.decode(value)
    if widgets is None:
        return value
    state.update(widgets)
    return None


def keep(param: Param, slot: Slot, state: State) -> None:
    """Keep what the slot's widgets now hold as the choice of `param`, and the widgets' values with it."""
    store(state)[param] = slot.encode(state)
    _dict_in(state, SNAPSHOTS)[slot_id(slot)] = {k: state.get(k) for k in widget_keys(slot)}


def url_params(kept: Mapping[str, str | None]) -> dict[str, str]:
    """The URL's query parameters for the kept choices (an upload's None and a blank compare left out)."""
    return {p: v for p, v in kept.items() if p in PARAMS and v}


def sync_url(kept: Mapping[str, str | None]) -> None:
    """Make st.query_params hold exactly the kept choices' parameters (others of ours removed)."""
    wanted = url_params(kept)
    for param in PARAMS:
        if param in wanted:
            if st.query_params.get(param) != wanted[param]:
                st.query_params[param] = wanted[param]
        elif param in st.query_params:
            del st.query_params[param]


# Settings that keep their value while the user visits other pages (Streamlit drops a widget's state at the
# end of a run that did not draw it). Buttons, uploaders and charts are left out: their state cannot be set.
STICKY_KEYS = frozenset(
    {
        # the loss curves' settings
        *("view", "curve_layout", "band", "window", "k", "quantiles", "ema", "log_y", "spikes", "show_lr"),
        *("copies_view", "eval_metrics", "follow", "follow_every"),
        # the pickers' other inputs (their source, demo and path widgets follow the kept choices via bind)
        *("run_format", "compare_format", "adapter", "A_adapter", "B_adapter"),
        *("run_kind", "run_demo", "run_path", "compare_kind", "compare_demo", "compare_path"),
        *("ckpt_kind", "ckpt_demo", "ckpt_path", "data_kind", "data_demo", "data_path"),
        *("A_kind", "A_demo", "A_path", "B_kind", "B_demo", "B_path"),
        # the episodes' settings
        *(
            "seed",
            "episode",
            "score_threshold",
            "nms_iou",
            "match_iou",
            "clip_score_threshold",
            "show_anchors",
        ),
        *("ep_lab_episodes", "cmp_episodes"),
    }
)
STICKY_PREFIXES = ("zoom_from_", "zoom_to_", "whatif_", "n_way_", "k_shot_", "n_query_", "stride_")


def sticky(key: str) -> bool:
    return key in STICKY_KEYS or key.startswith(STICKY_PREFIXES)


def keep_settings(state: State) -> None:
    """Make the settings' values the session's own, so they outlive a page that does not draw their widgets
    (Streamlit's documented way: assign each its own value at the top of every page)."""
    for key in [k for k in list(state.keys()) if isinstance(k, str) and sticky(k)]:
        state[key] = state[key]


def restore() -> list[Param]:
    """At the top of every page: keep the settings across pages, take a link's choices, and put every kept
    choice back in the URL (page links drop the query string). Returns the parameters a link set."""
    keep_settings(st.session_state)
    taken = take_link(dict(st.query_params.to_dict()), st.session_state)
    sync_url(store())
    return taken


def bind(param: Param, slot: Slot) -> None:
    """Before a picker draws its widgets: make them show the kept choice (a link's, or another page's); a
    choice they cannot show is reported in the main area and dropped."""
    refused = show_kept(param, slot, st.session_state)
    if refused is not None:
        st.warning(f"The link's {param} `{refused}` is not available on this server; showing the default.")
        store().pop(param, None)


def remember(param: Param, slot: Slot) -> None:
    """After a picker drew its widgets: keep the choice they hold and put it in the URL."""
    before = store().get(param)
    keep(param, slot, st.session_state)
    sync_url(store())
    redraw = st.session_state.get(LINK_VIEW)
    if store().get(param) != before and callable(redraw):
        redraw()


def link(page_path: str) -> str | None:
    """The URL that reopens this view: the page's address and the kept choices; None when the browser's
    address is unknown (a test without a browser)."""
    base = st.context.url
    if not base:
        return None
    return page_url(base, page_path, url_params(store()))


def page_url(address: str, page_path: str, params: Mapping[str, str]) -> str:
    """The URL of page `page_path` with `params`, from the browser's `address` (the app's, or already the
    page's: Streamlit gives either, depending on how the page was reached)."""
    path = address.split("?", 1)[0].rstrip("/")
    if page_path and not path.endswith("/" + page_path):
        path = f"{path}/{page_path}"
    query = urlencode(params)
    return f"{path if page_path else path + '/'}?{query}" if query else (path if page_path else path + "/")
