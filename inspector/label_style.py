"""How a label looks: a TrueType font sized so that the label is LABEL_PX tall as displayed, and black or
white text on the label's colour at WCAG AA contrast."""

from __future__ import annotations

import importlib.util
from functools import lru_cache
from pathlib import Path

from PIL import ImageFont

RGB = tuple[int, int, int]
WHITE: RGB = (255, 255, 255)
BLACK: RGB = (0, 0, 0)
# A label's height as displayed, in CSS pixels: issue 21 measured ~10 px support labels and asks ≥ 14.
LABEL_PX = 16
# The narrowest width an overlay is assumed to be shown at when the caller does not say (a query's column at
# a 1280 px window); a narrower display shrinks labels below LABEL_PX in proportion.
SHOWN_PX = 480
# WCAG 2 AA for text under 18 pt: a label's text against its background.
MIN_CONTRAST = 4.5
_TALL_TEXT = "Ag|"  # ascender, descender and full height: a label's text box fits any text


def relative_luminance(color: RGB) -> float:
    """WCAG 2's relative luminance of an sRGB colour (the same formula as inspector.ui.tables)."""
    linear = [c / 255 / 12.92 if c <= 10 else ((c / 255 + 0.055) / 1.055) ** 2.4 for c in color]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast(a: RGB, b: RGB) -> float:
    """WCAG 2's contrast ratio of two colours (1 to 21)."""
    hi, lo = sorted((relative_luminance(a), relative_luminance(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def label_colours(color: RGB) -> tuple[RGB, RGB]:
    """(background, text) of a label in `color`: black or white text, whichever contrasts more, with the
    background darkened until the pair reaches MIN_CONTRAST (none of draw.STROKES' colours needs it)."""
    background = color
    for _ in range(20):
        text = max((BLACK, WHITE), key=lambda t: contrast(t, background))
        if contrast(text, background) >= MIN_CONTRAST:
            return background, text
        background = (int(background[0] * 0.9), int(background[1] * 0.9), int(background[2] * 0.9))
    return background, WHITE


@lru_cache(maxsize=1)
def font_path() -> str | None:
    """DejaVu Sans Bold from matplotlib's mpl-data (found without importing matplotlib) or the system's
    fonts; None when neither is installed (Pillow's built-in font is used)."""
    spec = importlib.util.find_spec("matplotlib")
    places = (
        [Path(p) / "mpl-data" / "fonts" / "ttf" for p in (spec.submodule_search_locations or [])]
        if spec
        else []
    )
    places.append(Path("/usr/share/fonts/truetype/dejavu"))
    return next(
        (str(p / "DejaVuSans-Bold.ttf") for p in places if (p / "DejaVuSans-Bold.ttf").is_file()), None
    )


@lru_cache(maxsize=128)
def font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    """The label font at `size` px."""
    path = font_path()
    return ImageFont.truetype(path, size) if path else ImageFont.load_default(size=size)


@lru_cache(maxsize=128)
def label_font(height: float) -> tuple[int, int, int]:
    """(font size, padding, text top offset) of the largest font whose label is at most `height` px tall
    (and at least 6 px type): the label is the text's full height plus the padding above and below."""
    size, pad, top = 6, 1, 0
    for s in range(6, 200):
        p = max(1, round(s / 6))
        left, t, right, bottom = font(s).getbbox(_TALL_TEXT, anchor="la")
        if s > 6 and bottom - t + 2 * p > height:
            break
        size, pad, top = s, p, int(t)
    return size, pad, top
