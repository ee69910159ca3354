"""A real browser on the Overview at 1600×1000: every caption's colour, as chromium computes it (its opacity
and its ancestors' applied over the background behind it), has at least WCAG AA's 4.5:1 contrast."""

from __future__ import annotations

import re

import pytest

from inspector.paths import DEMO_DIR
from inspector.ui.tables import contrast_ratio

from .selectors import wait_until_idle

pytestmark = [
    pytest.mark.slow,
    pytest.mark.browser,
    pytest.mark.skipif(not any((DEMO_DIR / "runs").glob("*/log.jsonl")), reason="demo/runs not bundled"),
]
CAPTION = '[data-testid="stCaptionContainer"]'
# Each caption's text colour, the product of its and its ancestors' opacity, and the first opaque background
# behind it.
CAPTION_COLOURS = """els => els.filter(e => e.innerText.trim()).map(e => {
  let opacity = 1, background = null;
  for (let n = e; n; n = n.parentElement) {
    const style = getComputedStyle(n);
    opacity *= parseFloat(style.opacity);
    const b = style.backgroundColor;
    if (background === null && b && b !== 'rgba(0, 0, 0, 0)' && b !== 'transparent') background = b;
  }
  return {text: e.innerText.slice(0, 60), colour: getComputedStyle(e).color, opacity, background};
})"""


def _rgba(css: str) -> list[float]:
    """[r, g, b, a] of a CSS "rgb(r, g, b)" or "rgba(r, g, b, a)" (alpha 1 when absent)."""
    parts = [float(x) for x in re.findall(r"[\d.]+", css)]
    return [*parts[:3], parts[3] if len(parts) > 3 else 1.0]


def _hex(rgb: list[float]) -> str:
    return "#" + "".join(f"{round(c):02x}" for c in rgb)


def seen_colour(colour: str, opacity: float, background: str) -> str:
    """The colour a reader sees: the text colour (with its alpha) at `opacity` over the background."""
    *text, alpha = _rgba(colour)
    *behind, _ = _rgba(background)
    a = alpha * opacity
    return _hex([a * t + (1 - a) * b for t, b in zip(text, behind, strict=True)])


def test_captions_have_at_least_4_5_to_1_contrast(app_url: str, browser) -> None:
    context = browser.new_context(viewport={"width": 1600, "height": 1000})
    page = context.new_page()
    try:
        page.goto(app_url)
        page.wait_for_selector(CAPTION, timeout=60_000)
        wait_until_idle(page, 120_000)
        captions = page.locator(CAPTION).evaluate_all(CAPTION_COLOURS)
        assert captions, "the Overview has captions"
        for c in captions:
            seen = seen_colour(c["colour"], c["opacity"], c["background"] or "rgb(255, 255, 255)")
            ratio = contrast_ratio(seen, _hex(_rgba(c["background"] or "rgb(255, 255, 255)")[:3]))
            assert ratio >= 4.5, (
                f"{c['text']!r}: {c['colour']} at opacity {c['opacity']} = {seen}, {ratio:.2f}:1"
            )
    finally:
        context.close()
