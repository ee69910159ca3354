"""inspector/ui/tables.py: each kind written as issue 21 asks, missing cells empty, a change coloured by
whether it improves, heights that show every row, and the colours' contrast (the theme's captions too); and
how the Compare page's A / B / Δ rows read (compare_views.reading)."""

from __future__ import annotations

import math
import re
import tomllib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from inspector.ui import tables
from inspector.ui.delta_tables import DELTA, delta_view, reading

REPO = Path(__file__).resolve().parents[1]
# Streamlit draws st.caption in the theme's text colour at this opacity (measured in chromium:
# tests/e2e/test_browser_contrast.py).
CAPTION_OPACITY = 0.6


def _cells(html: str) -> list[str]:
    """The text of each body cell of a Styler's HTML, row by row."""
    return re.findall(r'<td id="[^"]+" class="data[^"]*" >([^<]*)</td>', html)


@pytest.mark.parametrize(
    ("kind", "value", "written"),
    [
        ("pixels", 12.345, "12.3"),
        ("score", 0.12345, "0.123"),
        ("iou", 0.98765, "0.988"),
        ("map", 0.123456, "0.1235"),
        ("loss", 1.234567, "1.235"),
        ("count", 12345.0, "12,345"),
        ("mean", 9.9623, "9.96"),
        ("percent", 52.43, "52.4"),
        ("signed", 0.1, "+0.1000"),
    ],
)
def test_each_kind_is_written_to_its_precision(kind: tables.Kind, value: float, written: str) -> None:
    assert tables.formatter(kind)(value) == written


@pytest.mark.parametrize("missing", [None, math.nan, np.float32("nan"), np.inf, pd.NA])
def test_a_missing_value_is_an_empty_cell(missing: object) -> None:
    assert tables.formatter("map")(missing) == "" and tables.signed_formatter("map")(missing) == ""


def test_a_change_is_signed_at_its_kinds_precision() -> None:
    assert tables.signed_formatter("map")(0.1) == "+0.1000"
    assert (
        tables.signed_formatter("count")(3.0) == "+3" and tables.signed_formatter("signed")(-0.5) == "-0.5000"
    )


def test_styled_formats_columns_and_leaves_missing_cells_empty() -> None:
    frame = pd.DataFrame({"name": ["a", "b"], "IoU": [0.71234, math.nan], "mAP": [0.123456, 0.5]})
    assert _cells(tables.styled(frame, {"IoU": "iou", "mAP": "map"}).to_html()) == [
        "a",
        "0.712",
        "0.1235",
        "b",
        "",
        "0.5000",
    ]


def test_styled_signs_and_colours_a_change_column() -> None:
    frame = pd.DataFrame({"K": [1, 2], "Δ": [0.01234, -0.5]})
    html = tables.styled(frame, {"K": "count", "Δ": "map"}, better={"Δ": "higher"}).to_html()
    assert _cells(html) == ["1", "+0.0123", "2", "-0.5000"]
    assert tables.IMPROVED in html and tables.WORSENED in html


@pytest.mark.parametrize(
    ("value", "better", "colour"),
    [
        (0.1, "higher", tables.IMPROVED),  # IoU up
        (-0.1, "higher", tables.WORSENED),  # IoU down
        (-0.1, "lower", tables.IMPROVED),  # loss down
        (0.1, "lower", tables.WORSENED),  # loss up
    ],
)
def test_a_change_is_coloured_by_whether_it_improves(
    value: float, better: tables.Better, colour: str
) -> None:
    assert tables.change_colour(value, better).startswith(f"color: {colour}")


@pytest.mark.parametrize("value", [0.0, math.nan, None, "n/a"])
def test_no_change_or_a_missing_one_is_not_coloured(value: object) -> None:
    assert tables.change_colour(value, "higher") == ""


def test_the_change_header_states_its_direction() -> None:
    assert tables.change_header("Δ (B − A)", "higher") == "Δ (B − A), ↑ better"
    assert tables.change_header("Δ loss", "lower") == "Δ loss, ↓ better"
    assert tables.row_change_header("Δ (B − A)") == "Δ (B − A), green = better"


def test_styled_rows_writes_each_row_as_its_kind_and_colours_its_change() -> None:
    frame = pd.DataFrame(
        {
            "metric": ["mAP", "loss", "IoU"],
            "A": [0.1, 2.5, math.nan],
            "B": [0.2, 3.0, 0.5],
            "Δ": [0.1, 0.5, np.nan],
        }
    )
    style = tables.styled_rows(frame, ["map", "loss", "iou"], ["A", "B"], "Δ", ["higher", "lower", "higher"])
    html = style.to_html()
    assert _cells(html) == [
        "mAP",
        "0.1000",
        "0.2000",
        "+0.1000",
        "loss",
        "2.5",
        "3",
        "+0.5",
        "IoU",
        "",
        "0.500",
        "",
    ]
    colours = dict(re.findall(r"#T_\w+_(row\d_col3) \{\s*color: (#\w+)", html))
    assert colours == {"row0_col3": tables.IMPROVED, "row1_col3": tables.WORSENED}  # mAP up, loss up


def test_styled_rows_formats_interleaved_kinds_each_as_its_own() -> None:
    # rows of one kind are formatted together: those of another kind between them keep their own format
    frame = pd.DataFrame({"metric": list("abcde"), "A": [0.25, 2.5, 0.5, 7.0, 0.125], "Δ": [0.25] * 5})
    kinds: list[tables.Kind] = ["map", "loss", "map", "count", "map"]
    html = tables.styled_rows(frame, kinds, ["A"], "Δ", ["higher"] * 5).to_html()
    assert _cells(html) == [
        *("a", "0.2500", "+0.2500"),
        *("b", "2.5", "+0.25"),
        *("c", "0.5000", "+0.2500"),
        *("d", "7", "+0"),
        *("e", "0.1250", "+0.2500"),
    ]


def test_height_shows_every_row_and_the_header_up_to_the_cap() -> None:
    assert tables.height_for(5) == tables.ROW_PX * 6 + 3
    assert tables.height_for(0) == tables.height_for(1)
    assert tables.height_for(500) == tables.height_for(tables.MAX_ROWS_SHOWN)
    assert tables.height_for(500, max_rows=None) == tables.ROW_PX * 501 + 3


def test_the_change_colours_meet_wcag_aa_on_white() -> None:
    assert tables.contrast_ratio("#000000") == pytest.approx(21.0)
    assert tables.contrast_ratio("#ffffff") == pytest.approx(1.0)
    assert tables.contrast_ratio(tables.IMPROVED) >= 4.5 and tables.contrast_ratio(tables.WORSENED) >= 4.5


def test_the_themes_captions_meet_wcag_aa_on_white() -> None:
    """st.caption is the theme's textColor at 60% opacity on the white page: at least 4.5:1."""
    theme = tomllib.loads((REPO / ".streamlit" / "config.toml").read_text())["theme"]
    text = theme["textColor"]
    blended = "#" + "".join(
        f"{round(CAPTION_OPACITY * int(text[i : i + 2], 16) + (1 - CAPTION_OPACITY) * 255):02x}"
        for i in (1, 3, 5)
    )
    assert tables.contrast_ratio(blended) >= 4.5, (text, blended)


@pytest.mark.parametrize(
    ("metric", "kind", "better"),
    [
        ("mAP@0.5", "map", "higher"),
        ("mean IoU of TPs", "iou", "higher"),
        ("recall @0.5", "score", "higher"),
        ("positives per target", "mean", "higher"),
        ("targets with no positive", "share", "lower"),
        ("loss total", "loss", "lower"),
        ("AP@0.5 · circle", "map", "higher"),
        ("loss bbox (weighted)", "loss", "lower"),
        ("FP", "count", "lower"),
        ("FN", "count", "lower"),
        ("TP", "count", "higher"),
        ("something new", "loss", None),
    ],
)
def test_each_compare_row_reads_its_way(metric: str, kind: str, better: str | None) -> None:
    assert reading(metric) == (kind, better)


def test_the_delta_view_says_which_way_each_row_improves() -> None:
    table = pd.DataFrame(
        {"metric": ["mAP@0.5", "loss total"], "A": [0.1, 2.0], "B": [0.2, 1.0], DELTA: [0.1, -1.0]}
    )
    shown, kinds, ways = delta_view(table)
    assert list(shown.columns) == ["metric", "better", "A", "B", "Δ (B − A), green = better"]
    assert list(shown["better"]) == ["↑ higher", "↓ lower"] and kinds == ["map", "loss"]
    assert ways == ["higher", "lower"]
