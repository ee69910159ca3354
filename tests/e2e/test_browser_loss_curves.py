"""A real browser against `streamlit run app.py`: upload a log, see the curves, no exception box."""

from __future__ import annotations

from pathlib import Path

import pytest

from inspector.paths import DEMO_DIR

from .selectors import CHART, EXCEPTION

pytestmark = [pytest.mark.slow, pytest.mark.browser]


def _choose_upload(page, app_url: str, path: str = "") -> None:
    page.goto(app_url + path)
    sidebar = page.locator('[data-testid="stSidebar"]')
    sidebar.get_by_text("upload", exact=True).first.click()
    page.wait_for_selector('[data-testid="stSidebar"] input[type=file]', state="attached", timeout=30_000)


def _upload(page, files: list[Path]) -> None:
    page.locator('[data-testid="stSidebar"] input[type=file]').first.set_input_files([str(f) for f in files])


def test_uploaded_detectron2_log_draws_its_components(app_url, page, samples: Path, artifacts: Path) -> None:
    _choose_upload(page, app_url, "/Loss_curves")
    _upload(page, [samples / "detectron2_metrics" / "frcnn-fruits-eval" / "metrics.json"])
    page.wait_for_selector(CHART, timeout=60_000)
    page.wait_for_timeout(1500)  # let the remaining charts of the rerun settle before the screenshot
    text = page.inner_text("body")
    # Detectron2's loss_box_reg / loss_cls / loss_rpn_* under their component names, in the summary and
    # legend.
    for name in ("bbox", "cls", "rpn_cls", "rpn_loc"):
        assert name in text, name
    assert page.locator(EXCEPTION).count() == 0
    page.screenshot(path=str(artifacts / "loss_curves.png"), full_page=True)


def test_uploaded_ultralytics_run_on_the_overview(app_url, page, samples: Path, artifacts: Path) -> None:
    run = samples / "ultralytics_csv" / "yolov8n-ados-oldstyle"
    _choose_upload(page, app_url)
    _upload(page, [run / "results.csv", run / "args.yaml"])
    page.wait_for_selector(CHART, timeout=60_000)
    text = page.inner_text("body")
    assert "ultralytics" in text
    for name in ("bbox", "cls", "dfl"):
        assert name in text
    assert page.locator(EXCEPTION).count() == 0
    page.screenshot(path=str(artifacts / "overview_ultralytics.png"), full_page=True)


@pytest.mark.skipif(not any((DEMO_DIR / "runs").glob("*/log.jsonl")), reason="demo/runs not bundled")
def test_default_page_shows_the_demo_run(app_url, page) -> None:
    page.goto(app_url)
    page.wait_for_selector(CHART, timeout=60_000)
    text = page.inner_text("body")
    assert "demo/" in text and "bbox" in text
    assert page.locator(EXCEPTION).count() == 0
