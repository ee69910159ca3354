"""Benchmark: upload a 1M-step native log through a real browser and time it until the loss chart is drawn.

    python bench/bench_browser.py [--steps N] [--page Loss_curves|app]

Writes a synthetic native log (inspector-runlog JSONL, 4 raw components + lr, evals every 10k steps),
starts `streamlit run app.py` on a free port like tests/e2e, uploads the file with Playwright driving
/usr/bin/chromium, and prints the seconds from set_input_files to the first plotly chart on the page,
and their ratio to the 5 s goal. A second run (the same file again, now cached) is printed too.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # run from a checkout, no install needed
from tests.e2e.selectors import CHART  # noqa: E402
from tests.e2e.server import CHROMIUM, CHROMIUM_FLAGS, streamlit_server  # noqa: E402

GOAL_S = 5.0
WEIGHTS = {"bbox": 7.5, "cls": 0.5, "supcon": 0.1, "cpe": 0.1}


def write_log(path: Path, steps: int, seed: int = 0) -> None:
    """A native log of `steps` optimizer steps; values rounded to 5 digits (as a real logger would print)."""
    rng = np.random.default_rng(seed)
    t = np.arange(1, steps + 1)
    decay = np.exp(-t / (steps / 4))
    losses = {
        "bbox": 0.2 + 0.6 * decay + 0.05 * rng.standard_normal(steps),
        "cls": 0.8 + 0.4 * decay + 0.1 * rng.standard_normal(steps),
        "supcon": 2.0 + 0.2 * rng.standard_normal(steps),
        "cpe": np.abs(0.3 * rng.standard_normal(steps)),
    }
    lr = 1e-3 * np.minimum(1.0, t / 1000) * (1 - t / (steps + 1))
    header = {
        "type": "header",
        "format": "inspector-runlog",
        "version": 1,
        "config": {"loss_weights": WEIGHTS},
    }
    with open(path, "w") as fh:
        fh.write(json.dumps(header) + "\n")
        chunk = 100_000
        for a in range(0, steps, chunk):
            rows = []
            for i in range(a, min(a + chunk, steps)):
                parts = ", ".join(f'"{n}": {v[i]:.5g}' for n, v in losses.items())
                rows.append(f'{{"type": "step", "step": {t[i]}, "lr": {lr[i]:.5g}, "losses": {{{parts}}}}}\n')
                if t[i] % 10_000 == 0:
                    rows.append(
                        f'{{"type": "eval", "step": {t[i]}, '
                        f'"metrics": {{"map50": {t[i] / steps * 0.5:.4f}}}}}\n'
                    )
            fh.write("".join(rows))


def time_upload(url: str, log: Path, page_path: str) -> float:
    """Seconds from handing the file to the uploader until a plotly chart is in the DOM."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
        page.goto(url + page_path)
        page.locator('[data-testid="stSidebar"]').get_by_text("upload", exact=True).first.click()
        page.wait_for_selector('[data-testid="stSidebar"] input[type=file]', state="attached", timeout=60_000)
        start = time.perf_counter()
        page.locator('[data-testid="stSidebar"] input[type=file]').first.set_input_files(str(log))
        page.wait_for_selector(CHART, timeout=300_000)
        elapsed = time.perf_counter() - start
        if page.locator('[data-testid="stException"]').count():
            raise RuntimeError("the page shows an exception")
        browser.close()
    return elapsed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=1_000_000)
    ap.add_argument("--page", default="Loss_curves", help="Loss_curves (default) or app (the overview)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "log.jsonl"
        t0 = time.perf_counter()
        write_log(log, args.steps)
        print(
            f"wrote {args.steps:,} steps, {log.stat().st_size / 1e6:.0f} MB "
            f"in {time.perf_counter() - t0:.1f} s"
        )
        with streamlit_server(Path(tmp) / "streamlit.log") as url:
            path = "" if args.page == "app" else "/" + args.page
            cold = time_upload(url, log, path)
            warm = time_upload(url, log, path)
        print(
            f"upload → chart ({args.page}): first {cold:.2f} s (ratio to the {GOAL_S:g} s goal: "
            f"{cold / GOAL_S:.2f}); again, cached: {warm:.2f} s ({warm / GOAL_S:.2f})"
        )


if __name__ == "__main__":
    main()
