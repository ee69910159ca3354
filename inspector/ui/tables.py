"""Tables as people read them: each column formatted for what it holds, missing values as empty cells, the
table as tall as its rows, and a change coloured by whether it is an improvement.

Formatting goes through a pandas Styler (which st.dataframe renders as displayed), so a column keeps its
numbers underneath: sorting a column sorts by value, not by text. Streamlit draws a missing number as "None"
whatever the Styler says, so the tables are drawn with an empty placeholder.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Literal

import numpy as np
import pandas as pd
import streamlit as st
from pandas.io.formats.style import Styler

# What a column holds decides how it is written (issue 21: pixels 1 decimal, scores and IoU 3, mAP 4).
Kind = Literal[
    "pixels",
    "score",
    "iou",
    "map",
    "loss",
    "weight",
    "share",
    "percent",
    "count",
    "mean",
    "signed",
    "text",
]
FORMATS: dict[Kind, str] = {
    "pixels": "{:.1f}",
    "score": "{:.3f}",
    "iou": "{:.3f}",
    "map": "{:.4f}",
    "loss": "{:.4g}",
    "weight": "{:.4g}",
    "share": "{:.3f}",
    "percent": "{:.1f}",
    "count": "{:,.0f}",
    "mean": "{:.2f}",  # a mean of counts, e.g. positives per target
    "signed": "{:+.4f}",
    "text": "{}",
}
# Which way is better for a change column: a lower loss is an improvement, a lower IoU is not.
Better = Literal["higher", "lower"]
BETTER_WORDS: dict[Better, str] = {"higher": "↑ better", "lower": "↓ better"}
# Text colours with at least 4.5:1 contrast on white (WCAG AA for small text): Okabe–Ito's bluish green and
# vermillion darkened until they pass (contrast_ratio below checks them in tests).
IMPROVED = "#006B4F"
WORSENED = "#B03A00"
# The header of a change column in a table whose rows go different ways (a "better" column says which).
CHANGE_BY_ROW = "green = better"
# The row height and the header's, in pixels (Streamlit's default, passed to st.dataframe as row_height).
ROW_PX = 35
MAX_ROWS_SHOWN = 30


def formatter(kind: Kind) -> Callable[[object], str]:
    """A cell formatter for `kind`: the number written as FORMATS says, a missing value as ""."""
    return _writer(FORMATS[kind])


def signed_formatter(kind: Kind) -> Callable[[object], str]:
    """formatter(kind) with the sign always written ("+0.012"), for a change; "" for a missing value."""
    pattern = FORMATS[kind]
    return _writer(pattern if "{:+" in pattern else pattern.replace("{:", "{:+", 1))


def _writer(pattern: str) -> Callable[[object], str]:
    def write(value: object) -> str:
        if (
            value is None
            or value is pd.NA
            or (isinstance(value, float | np.floating) and not np.isfinite(value))
        ):
            return ""
        try:
            return pattern.format(value)
        except (ValueError, TypeError):
            return str(value)

    return write


def styled(
    frame: pd.DataFrame,
    kinds: Mapping[str, Kind],
    better: Mapping[str, Better] | None = None,
) -> Styler:
    """`frame` with each column of `kinds` formatted, missing cells empty, and each column of `better` (a
    change: B − A) signed and coloured green where it improves and vermillion where it worsens."""
    writers = {
        c: signed_formatter(k) if c in (better or {}) else formatter(k)
        for c, k in kinds.items()
        if c in frame.columns
    }
    style = frame.style.format(writers, na_rep="")
    for column, way in (better or {}).items():
        if column in frame.columns:
            style = style.map(lambda v, way=way: change_colour(v, way), subset=[column])
    return style.hide(axis="index")


def styled_rows(
    frame: pd.DataFrame,
    kinds: Sequence[Kind],
    columns: Sequence[str],
    change: str | None = None,
    better: Sequence[Better | None] = (),
) -> Styler:
    """`frame` whose row i holds one quantity of kind kinds[i] (an A / B / Δ table): its `columns` formatted
    as that kind, its `change` column signed and coloured by better[i] (None: no colour), missing cells
    empty."""
    style = frame.style
    shown = [c for c in columns if c in frame.columns]
    rows_of: dict[Kind, list[object]] = {}
    for row, kind in zip(frame.index, kinds, strict=True):
        rows_of.setdefault(kind, []).append(row)
    # one format per kind, not per row: each locates its cells (a .loc), ~0.5 ms; per row that was half of a
    # Compare rerun (its aggregate table has a row per class and per loss term)
    for kind, rows in rows_of.items():
        style = style.format(formatter(kind), subset=pd.IndexSlice[rows, shown], na_rep="")
        if change is not None and change in frame.columns:
            style = style.format(signed_formatter(kind), subset=pd.IndexSlice[rows, [change]], na_rep="")
    if change is not None and change in frame.columns and better:
        ways = list(better)
        style = style.apply(
            lambda col: [change_colour(v, w) if w else "" for v, w in zip(col, ways, strict=True)],
            subset=[change],
        )
    return style.hide(axis="index")


def change_colour(value: object, better: Better) -> str:
    """The CSS of a change cell: green text when it improves, vermillion when it worsens, none when 0/NaN."""
    if not isinstance(value, (int, float, np.number)) or not np.isfinite(value) or value == 0:
        return ""
    improved = (value > 0) == (better == "higher")
    return f"color: {IMPROVED if improved else WORSENED}; font-weight: 600"


def change_header(name: str, better: Better) -> str:
    """A change column's header that states its direction, e.g. "Δ (B − A), ↑ better"."""
    return f"{name}, {BETTER_WORDS[better]}"


def row_change_header(name: str) -> str:
    """The header of a change column whose rows go different ways, e.g. "Δ (B − A), green = better"."""
    return f"{name}, {CHANGE_BY_ROW}"


def height_for(rows: int, max_rows: int | None = MAX_ROWS_SHOWN) -> int:
    """The height in pixels that shows `rows` rows and the header without an inner scrollbar (up to
    `max_rows` rows, a longer table scrolls; None: every row)."""
    shown = max(rows, 1) if max_rows is None else min(max(rows, 1), max_rows)
    return ROW_PX * (shown + 1) + 3


def show(
    frame: pd.DataFrame,
    kinds: Mapping[str, Kind],
    key: str,
    better: Mapping[str, Better] | None = None,
    container: object = st,
    max_rows: int | None = MAX_ROWS_SHOWN,
) -> None:
    """Draw `frame` formatted (styled) and sized to its rows (up to `max_rows`; None: all), in `container`
    (st or a column)."""
    container.dataframe(  # type: ignore[attr-defined]
        styled(frame, kinds, better),
        hide_index=True,
        key=key,
        placeholder="",
        row_height=ROW_PX,
        height=height_for(len(frame), max_rows),
    )


def show_rows(
    frame: pd.DataFrame,
    kinds: Sequence[Kind],
    columns: Sequence[str],
    key: str,
    change: str | None = None,
    better: Sequence[Better | None] = (),
    container: object = st,
    max_rows: int | None = None,
) -> None:
    """Draw an A / B / Δ table formatted row by row (styled_rows), every row shown unless `max_rows`."""
    container.dataframe(  # type: ignore[attr-defined]
        styled_rows(frame, kinds, columns, change, better),
        hide_index=True,
        key=key,
        placeholder="",
        row_height=ROW_PX,
        height=height_for(len(frame), max_rows),
    )


def relative_luminance(hex_color: str) -> float:
    """WCAG 2's relative luminance of an sRGB colour "#rrggbb"."""
    channels = [int(hex_color[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast_ratio(foreground: str, background: str = "#ffffff") -> float:
    """WCAG 2's contrast ratio of two colours (1 to 21; small text needs 4.5)."""
    lighter, darker = sorted((relative_luminance(foreground), relative_luminance(background)), reverse=True)
    return (lighter + 0.05) / (darker + 0.05)
