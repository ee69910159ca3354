"""Benchmark: one step on the Episodes page in a real browser, from the step to the next episode drawn.

    python bench/bench_stepping.py --baseline DIR [--rounds 5]

Starts `streamlit run app.py` from this checkout and from DIR (another checkout: `git worktree add DIR REV`),
opens the Episodes page of the bundled demo in chromium on each, and in interleaved rounds (bench/timing.py)
steps each one episode forward: this checkout by the → key, the baseline by its "Next" button (it may have
no key), timed until the heading "Episode k:" is drawn and the script run has ended. Goal (issue 21): ≤ 1 s.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from contextlib import ExitStack
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # run from a checkout, no install needed
from bench.timing import interleaved, report  # noqa: E402
from tests.e2e.selectors import wait_until_idle  # noqa: E402
from tests.e2e.server import CHROMIUM, CHROMIUM_FLAGS, streamlit_server  # noqa: E402

GOAL_S = 1.0
HEADING = "n => [...document.querySelectorAll('h3')].some(h => h.innerText.startsWith('Episode ' + n + ':'))"


class Stepper:
    """One server's Episodes page in its own browser page, stepped one episode per call."""

    def __init__(self, page, url: str, by_key: bool):
        self.page, self.by_key, self.index = page, by_key, 0
        page.goto(f"{url}/Episodes")
        page.wait_for_function(HEADING, arg=0, timeout=300_000)
        wait_until_idle(page, 300_000)
        self.step()  # warm: the first step loads what the page caches

    def step(self) -> None:
        self.index += 1
        if self.by_key:
            self.page.locator("body").press("ArrowRight")
        else:
            self.page.get_by_role("button", name="Next").first.click()
        self.page.wait_for_function(HEADING, arg=self.index, timeout=120_000)
        wait_until_idle(self.page, 120_000)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", type=Path, required=True, help="another checkout's root")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    logs = Path(tempfile.mkdtemp(prefix="bench-stepping-"))
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    with ExitStack() as stack, sync_playwright() as p:
        now = stack.enter_context(streamlit_server(logs / "now.log", env=env))
        before = stack.enter_context(streamlit_server(logs / "before.log", env=env, repo=args.baseline))
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        view = {"width": 1600, "height": 1000}
        steppers = {
            "this checkout (→ key)": Stepper(browser.new_page(viewport=view), now, by_key=True),
            "baseline (Next button)": Stepper(browser.new_page(viewport=view), before, by_key=False),
        }
        timings = interleaved({name: s.step for name, s in steppers.items()}, rounds=args.rounds)
        browser.close()
    print(report(timings, "baseline (Next button)"))
    mine = timings["this checkout (→ key)"]
    verdict = "met" if mine.median <= GOAL_S else "not met"
    print(f"goal ≤ {GOAL_S:.1f} s per step: median {mine.median:.2f} s ({verdict})")


if __name__ == "__main__":
    main()
