"""Screenshots of every page of the app on the bundled demo, at 1600×1000, for reviewing the app's handling.

    .venv/bin/python scripts/screenshots.py artifacts/screenshots/after
    .venv/bin/python scripts/screenshots.py /tmp/before --repo /tmp/before-tree   # another checkout's app

Starts `streamlit run app.py` from the repository (or `--repo`), opens each page with Debian's chromium,
waits for the script run to end, and writes `<NN>-<page>.png` (the 1600×1000 window) and
`<NN>-<page>-whole.png` (the whole page) into the output folder.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.e2e.server import CHROMIUM, CHROMIUM_FLAGS, streamlit_server  # noqa: E402

# (file name, URL path and query, extra wait in seconds for charts and images to settle)
PAGES: tuple[tuple[str, str, float], ...] = (
    ("01-overview", "", 2.0),
    ("02-loss-curves", "Loss_curves", 2.0),
    ("03-loss-curves-side-by-side", "Loss_curves?view=side+by+side", 2.0),
    ("04-episodes", "Episodes", 3.0),
    ("05-compare-episode", "Compare", 3.0),
    ("06-loss-balance", "Balance", 2.0),
    ("07-runs", "Runs", 2.0),
    ("08-upload-empty", "", 1.0),
)
IDLE = '[data-testid="stApp"][data-test-script-state="notRunning"]'
MAIN_HEIGHT = "() => document.querySelector('[data-testid=\"stMain\"]').scrollHeight"
MAX_HEIGHT = 8000
RUNNING = '[data-testid="stApp"][data-test-script-state="running"]'


def settle(page, extra: float, timeout_ms: int = 180_000) -> None:
    """Wait for a script run to start and end (or none to start within 3 s), then `extra` seconds."""
    try:
        page.wait_for_selector(RUNNING, state="attached", timeout=3_000)
    except Exception:  # noqa: BLE001 — the run may have ended before we looked
        pass
    page.wait_for_selector(IDLE, state="attached", timeout=timeout_ms)
    time.sleep(extra)


def shoot(url: str, out: Path) -> list[Path]:
    from playwright.sync_api import sync_playwright

    out.mkdir(parents=True, exist_ok=True)
    written = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        context = browser.new_context(viewport={"width": 1600, "height": 1000})
        page = context.new_page()
        for name, path, extra in PAGES:
            page.goto(f"{url}/{path}")
            settle(page, extra)
            if name == "08-upload-empty":
                page.get_by_text("upload", exact=True).first.click()
                settle(page, extra)
            target = out / f"{name}.png"
            page.screenshot(path=str(target))  # what a 1600×1000 window shows
            written.append(target)
            # The whole page: Streamlit scrolls its main area itself, so the window is made as tall as it.
            height = min(int(page.evaluate(MAIN_HEIGHT)), MAX_HEIGHT)
            page.set_viewport_size({"width": 1600, "height": max(1000, height)})
            time.sleep(1.5)  # charts re-lay out to the new size
            whole = out / f"{name}-whole.png"
            page.screenshot(path=str(whole))
            written.append(whole)
            page.set_viewport_size({"width": 1600, "height": 1000})
            print(target, whole, flush=True)
        context.close()
        browser.close()
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--repo", type=Path, default=REPO, help="the checkout whose app.py is served")
    args = parser.parse_args()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    log = args.out.parent / f"{args.out.name}-streamlit.log"
    with streamlit_server(log, env=dict(os.environ), repo=args.repo) as url:
        shoot(url, args.out)


if __name__ == "__main__":
    main()
