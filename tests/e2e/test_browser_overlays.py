"""A real browser on the Episodes page: the query overlay it shows is the one inspector.draw lays out, with
labels that never cover each other, and Enlarge redraws it twice as large."""

from __future__ import annotations

import io
from urllib.parse import parse_qs, unquote, urlparse

import numpy as np
import pytest
from PIL import Image

from .selectors import EXCEPTION, needs_demo_checkpoints, wait_until_idle
from .test_browser_episodes import _wait_for_episode

pytestmark = [pytest.mark.slow, pytest.mark.browser, needs_demo_checkpoints]

# every st.image on the page: its caption and its image's address
IMAGES = """() => [...document.querySelectorAll('[data-testid="stMain"] [data-testid="stImage"]')].map(e => [
    (e.querySelector('[data-testid="stImageCaption"]') || {}).innerText || '', e.querySelector('img').src])"""


def _query_image(page, title: str) -> Image.Image:
    src = next(src for caption, src in page.evaluate(IMAGES) if caption.startswith(f"{title} ·"))
    return Image.open(io.BytesIO(page.request.get(src).body())).convert("RGB")


def _page_overlay(page, query: int, enlarged: bool = False):
    """inspect the page's episode in this process, as the page does, and lay query `query` out as it does."""
    import torch

    from inspector.adapters import DEFAULT_ADAPTER, allowed_adapters, inspect_episode, load_detector
    from inspector.data import read_dataset
    from inspector.evaluate import match_query
    from inspector.plan import DEFAULT_SEED, DatasetEpisodes, resolve_shape, trained_shape
    from inspector.ui import episode_views as views
    from inspector.ui import overlay_views as overlays

    params = {k: unquote(v[0]) for k, v in parse_qs(urlparse(page.url).query).items()}
    checkpoint = views.demo_checkpoints()[params["checkpoint"].removeprefix("demo:")]
    data = views.demo_datasets()[params["dataset"].removeprefix("demo:")]
    torch.set_num_threads(1)  # as the page runs it (torch_threads.one_torch_thread)
    detector = load_detector(str(checkpoint), DEFAULT_ADAPTER, allowed=allowed_adapters())
    plan = DatasetEpisodes(read_dataset(data), resolve_shape(trained_shape(checkpoint)), DEFAULT_SEED)
    episode = plan.episode(int(params.get("episode", 0)))
    v = views.ViewSettings()
    result = inspect_episode(detector, episode, v.score_threshold, v.nms_iou, gradients=False)
    v = views.ViewSettings(strides=tuple(result.anchor_strides()))  # the stride toggles, all on
    q = result.queries[query]
    m = match_query(q, v.iou_threshold)
    return overlays.query_overlay(episode.queries[query].image, q, m, result.class_names, v, enlarged)


def _differing(a: Image.Image, b: Image.Image) -> float:
    assert a.size == b.size
    return float((np.asarray(a) != np.asarray(b)).any(-1).mean())


def test_the_overlay_shown_has_labels_that_never_overlap(app_url: str, page) -> None:
    page.goto(app_url + "/Episodes?episode=1")
    _wait_for_episode(page, 1)
    for query in range(2):
        overlay = _page_overlay(page, query)
        rects = [label.rect for label in overlay.labels if label.rect is not None]
        assert len(rects) >= 2  # the demo's queries have several labelled boxes
        assert not [(a, b) for i, a in enumerate(rects) for b in rects[i + 1 :] if a.intersects(b)]
        assert all(r.inside(overlay.image.size) for r in rects)
        # the page shows this very overlay (a few pixels may differ: torch's sums on another thread count)
        assert _differing(_query_image(page, f"query {query + 1}"), overlay.image) < 0.01
    assert page.locator(EXCEPTION).count() == 0


def test_enlarge_redraws_the_overlay_twice_as_large(app_url: str, page) -> None:
    page.goto(app_url + "/Episodes?episode=1")
    _wait_for_episode(page, 1)
    small = _query_image(page, "query 1")
    images = page.evaluate(IMAGES)
    button = next(i for i, (caption, _) in enumerate(images) if caption.startswith("query 1 ·"))
    page.get_by_role("button", name="Enlarge").nth(button).click()
    dialog = page.locator('[role="dialog"] img')
    dialog.wait_for(timeout=60_000)
    wait_until_idle(page, 60_000)
    src = dialog.get_attribute("src") or ""
    large = Image.open(io.BytesIO(page.request.get(src).body())).convert("RGB")
    assert large.width == 2 * small.width  # redrawn at 1024 px, not the page's bitmap scaled
    overlay = _page_overlay(page, 0, enlarged=True)
    assert _differing(large, overlay.image) < 0.01
    rects = [label.rect for label in overlay.labels if label.rect is not None]
    assert not [(a, b) for i, a in enumerate(rects) for b in rects[i + 1 :] if a.intersects(b)]
