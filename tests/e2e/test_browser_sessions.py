"""Four browser sessions on one server open different runs at the same time and see only their own."""

from __future__ import annotations

from pathlib import Path

import pytest

from .selectors import CHART, EXCEPTION

pytestmark = [pytest.mark.slow, pytest.mark.browser]


def _runs(samples: Path) -> dict[str, tuple[list[Path], str]]:
    """{session: (files to upload, text only that run's page shows: its file name, framework or
    component)}."""
    ultra = samples / "ultralytics_csv" / "yolov8n-ados-oldstyle"
    return {
        "ultralytics": ([ultra / "results.csv", ultra / "args.yaml"], "dfl"),
        "detectron2": (
            [samples / "detectron2_metrics" / "frcnn-fruits-eval" / "metrics.json"],
            "metrics.json",
        ),
        "mmdet2": (
            [samples / "text_log" / "mmdet2-maskrcnn-balloon" / "20230208_162410.log"],
            "20230208_162410.log",
        ),
        "yolov5": ([samples / "ultralytics_csv" / "yolov5s-lego" / "results.csv"], "yolov5"),
    }


def test_four_sessions_see_only_their_own_run(app_url, browser, samples: Path, artifacts: Path) -> None:
    runs = _runs(samples)
    contexts, pages = [], {}
    try:
        # Open all four first, then upload in quick succession so the server works on them concurrently.
        for name in runs:
            context = browser.new_context(viewport={"width": 1300, "height": 900})
            contexts.append(context)
            page = context.new_page()
            page.goto(app_url)
            page.wait_for_selector(CHART, timeout=90_000)  # the demo run is drawn: the app is fully up
            page.locator('[data-testid="stSidebar"]').get_by_text("upload", exact=True).first.click()
            pages[name] = page
        for _name, page in pages.items():
            page.wait_for_selector(
                '[data-testid="stSidebar"] input[type=file]', state="attached", timeout=30_000
            )
        for name, page in pages.items():
            page.locator('[data-testid="stSidebar"] input[type=file]').first.set_input_files(
                [str(f) for f in runs[name][0]]
            )
        for name, page in pages.items():
            # Its own run's marker appears once the rerun with the upload finished; then its chart.
            page.wait_for_function(
                "marker => document.body.innerText.includes(marker)", arg=runs[name][1], timeout=90_000
            )
            page.wait_for_selector(CHART, timeout=90_000)
            page.wait_for_timeout(500)
        for name, page in pages.items():
            text = page.inner_text("body")
            assert runs[name][1] in text, f"{name} does not show its own marker {runs[name][1]}"
            for other, (_, marker) in runs.items():
                if other != name:
                    assert marker not in text, f"{name}'s page shows {other}'s marker {marker}"
            assert page.locator(EXCEPTION).count() == 0
            page.screenshot(path=str(artifacts / f"session_{name}.png"))
    finally:
        for context in contexts:
            context.close()
