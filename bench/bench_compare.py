"""Benchmark: the Compare page on the demo — the paired bootstrap against the loop it replaced, and the page's
first run with empty caches and a rerun, in AppTest and in a real browser.

    python bench/bench_compare.py [--rounds 3] [--parts bootstrap,apptest,browser] [--baseline DIR]

bootstrap: `bootstrap_delta_map` (1,000 paired resamples of the demo's 100 episodes; A troubled/best.pt,
B fixed/best.pt) against the per-resample `searchsorted` loop it replaced (kept in
tests/test_compare_bootstrap.py), interleaved rounds in this process; min / median, the speed-up, and the
largest difference of their numbers.

apptest, browser: every round starts from empty caches: a fresh process (AppTest) or a fresh `streamlit run`
server (browser: chromium driven by Playwright, as tests/e2e), each with a fresh INSPECTOR_CACHE_DIR, so
nothing is evaluated, summarised, held by Streamlit's caches or imported beyond what the process starts
with. AppTest opens the page twice per round, each time in a fresh process: on the Aggregate tab (the first
run is everything the page runs: the episode, both evaluations, the aggregate table, the bootstrap, TIDE and
the PR curves; the aggregate runs only while its tab is open), then on the Episode tab (the episode alone),
opening the Aggregate tab next and then the Training logs tab, and on the Episode tab again, opening the
Aggregate tab PAUSE_S after (the page evaluates it ahead meanwhile). Each first run is timed in wall time and
in the CPU time of all its threads and of the page's worker process (which moves less with other jobs' load),
then a rerun. The browser times, from navigation to /Compare: the episode's overlays drawn (the page's first
run); the aggregate table drawn (the Aggregate tab clicked once the overlays are there, and in another round
PAUSE_S after), also from the click; the page idle (all drawn); then a rerun (the "r" key) until idle.
The AppTest and browser rounds alternate. --baseline DIR adds AppTest rounds of another checkout's page (e.g.
`git archive HEAD inspector pages | tar -x -C DIR`), interleaved with this one's.

Goal (issue 18): first run ≤ 4 s, rerun ≤ 0.2 s; the bootstrap ≥ 10× faster, the same numbers to 1e-12.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # run from a checkout, no install needed
from timing import Timing, interleaved, report, speedup  # noqa: E402

if TYPE_CHECKING:
    from playwright.sync_api import Page

DEMO = REPO / "demo"
PAIR = ("troubled/best.pt", "fixed/best.pt")  # the page's default A and B
FIRST_RUN_GOAL_S, RERUN_GOAL_S = 4.0, 0.2


# ---------------------------------------------------------------------------------------------- bootstrap


def demo_records() -> tuple[list, list, np.ndarray]:
    """(A's image records, B's, each image's episode) over the page's default plan: 100 episodes of A's
    shape."""
    import torch

    from inspector.adapters import load_detector
    from inspector.batch import EpisodePlan, EvalSettings, evaluate_batch, image_records, plan_meta
    from inspector.data import read_dataset
    from inspector.plan import DEFAULT_SEED, resolve_shape, trained_shape

    torch.set_num_threads(1)
    a, b = (DEMO / "runs" / p for p in PAIR)
    shape = resolve_shape(trained_shape(a))
    data = read_dataset(DEMO / "data" / "val")
    plan = EpisodePlan(data, None, EvalSettings(100, DEFAULT_SEED, shape.n_way, shape.k_shot, shape.n_query))
    rows = [evaluate_batch(load_detector(p), plan, plan_meta(plan, data.class_names)).rows for p in (a, b)]
    episodes = rows[0].loc[rows[0]["kind"] == "image", "position"].to_numpy()
    return image_records(rows[0]), image_records(rows[1]), episodes


def bench_bootstrap(rounds: int) -> None:
    from inspector.compare import bootstrap_delta_map, coco_matches, episode_groups, weighted_map
    from tests.test_compare_bootstrap import (
        reference_bootstrap_delta_map,
        reference_coco_matches,
        reference_weighted_map,
    )

    ra, rb, episodes = demo_records()
    timings = interleaved(
        {
            "loop (before)": lambda: reference_bootstrap_delta_map(ra, rb, episodes),
            "vectorised": lambda: bootstrap_delta_map(ra, rb, episodes),
        },
        rounds,
    )
    new, old = bootstrap_delta_map(ra, rb, episodes), reference_bootstrap_delta_map(ra, rb, episodes)
    ci_diff = max(
        abs(getattr(x, f) - getattr(y, f))
        for x, y in zip(new, old, strict=True)
        for f in ("delta", "low", "high")
    )
    # every resample's mAPs, not only the interval's ends: the same weights through both
    group, n = episode_groups(episodes)
    counts = np.random.default_rng(0).integers(0, n, (1000, n))
    weights = np.concatenate([np.ones((1, n)), np.stack([np.bincount(d, minlength=n) for d in counts])])[
        :, group
    ]
    map_diff = 0.0
    for records in (ra, rb):
        for x, y in zip(
            weighted_map(coco_matches(records), weights),
            reference_weighted_map(reference_coco_matches(records), weights),
            strict=True,
        ):
            map_diff = max(map_diff, float(np.nanmax(np.abs(x - y))))
    dets = sum(len(r[3]) for r in ra), sum(len(r[3]) for r in rb)
    print(
        f"bootstrap: {len(ra)} query images, {len(set(episodes))} episodes, {dets[0]} / {dets[1]} detections "
        f"(A / B), 1000 resamples, {rounds} interleaved rounds"
    )
    print(report(timings, "loop (before)"))
    print(
        f"speed-up {speedup(timings, 'loop (before)', 'vectorised'):.1f}× (median; goal ≥ 10×); largest "
        f"difference: CI ends {ci_diff:.1e}, per-resample mAPs {map_diff:.1e} (goal ≤ 1e-12)"
    )


# ---------------------------------------------------------------------------------------------- AppTest


def children_cpu() -> float:
    """CPU seconds of this process's live child processes (the Compare page's worker, which evaluates B:
    inspector/compare_worker.py), from /proc (Linux); 0 where that cannot be read."""
    total, tick = 0.0, os.sysconf("SC_CLK_TCK")
    for children in Path("/proc/self/task").glob("*/children"):
        for pid in children.read_text().split():
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            total += (int(fields[11]) + int(fields[12])) / tick  # utime, stime
    return total


def child_apptest(repo: Path, tab: str, pause: float = 0.0) -> dict[str, float]:
    """In a fresh process, the page opened on `tab` ("Episode" or "Aggregate"): its first run (wall and CPU
    seconds) and a rerun; opened on the Episode tab, then the Aggregate tab opened (at once: the evaluations
    from nothing, or from where they got ahead while the Episode tab was drawn) and the Training logs tab
    (seconds). With `pause`: the Episode tab, then the Aggregate tab opened `pause` seconds after it was
    drawn, as by someone who looked at the overlays first."""
    sys.path.insert(0, str(repo))  # that checkout's inspector, not this one's
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(repo / "pages" / "3_Compare.py"), default_timeout=600)
    at.session_state["cmp_tab"] = tab  # the tab's label (pages/3_Compare.py: st.tabs(..., key="cmp_tab"))
    steps: list[tuple[str, str | None]] = [("first run", None), ("rerun", None)]
    if pause:
        steps = [("first run", None), (f"aggregate tab {pause:g} s after", "Aggregate")]
    elif tab == "Episode":
        steps += [("aggregate tab", "Aggregate"), ("logs tab", "Training logs")]
    out = {}
    for name, opened in steps:
        if opened is not None:
            at.session_state["cmp_tab"] = opened
            time.sleep(pause)
        t0, c0 = time.perf_counter(), time.process_time() + children_cpu()
        at.run()
        out[name] = time.perf_counter() - t0
        if name == "first run":  # CPU of every thread and the worker: what the run costs however busy the box
            out["first run, CPU"] = time.process_time() + children_cpu() - c0
        if at.exception or at.error:
            raise SystemExit(f"{name}: {[e.value for e in [*at.exception, *at.error]]}")
        if opened == "Aggregate" or (name == "first run" and tab == "Aggregate"):
            tables = [d.value for d in at.dataframe if "metric" in d.value.columns]
            if not any("mAP@0.5:0.95" in set(t["metric"]) for t in tables):
                raise SystemExit(f"{name} drew no aggregate table")
    opened_on = f"{tab}, looked at" if pause else tab
    return {f"{opened_on}: {name}": t for name, t in out.items()}


PAUSE_S = 3.0  # how long someone looks at the Episode tab before opening the Aggregate tab (apptest_rounds)


def apptest_round(repo: Path, tab: str, pause: float = 0.0) -> dict[str, float]:
    """One fresh process, one fresh evaluation cache: child_apptest's times."""
    with tempfile.TemporaryDirectory() as cache:
        env = {**os.environ, "INSPECTOR_CACHE_DIR": cache, "INSPECTOR_DEMO_DIR": str(DEMO)}
        env["PYTHONPATH"] = os.pathsep.join([str(repo), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
        done = subprocess.run(
            [sys.executable, __file__, "--child-apptest", str(repo), "--tab", tab, "--pause", str(pause)],
            env=env,
            capture_output=True,
            text=True,
            timeout=900,
        )
    if done.returncode != 0:
        raise SystemExit(f"AppTest round of {repo} ({tab}) failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def apptest_rounds(repo: Path) -> dict[str, float]:
    """The page opened on the Aggregate tab, opened on the Episode tab, and opened on the Episode tab with the
    Aggregate tab PAUSE_S later: each in its own fresh process and cache."""
    return {
        **apptest_round(repo, "Aggregate"),
        **apptest_round(repo, "Episode"),
        **apptest_round(repo, "Episode", PAUSE_S),
    }


# ---------------------------------------------------------------------------------------------- browser

# Notes each change of the app's run state ("rerunRequested", "running", "notRunning") in the page's clock.
WATCH_STATE = """() => {
  window.__states = [];
  if (window.__observer) window.__observer.disconnect();
  const app = document.querySelector('[data-testid="stApp"]');
  window.__observer = new MutationObserver(() => window.__states.push(
    [app.getAttribute('data-test-script-state'), performance.now()])
  );
  window.__observer.observe(app, {attributes: true, attributeFilter: ['data-test-script-state']});
}"""
RERUNS = 3  # per round; their median is the round's


def time_rerun(page: Page) -> tuple[float, float]:
    """(seconds from pressing "r" until the run is over, seconds the run itself took: "running" until
    "notRunning" as the page saw them; a run short enough that the page never shows "running" (React merges
    the states) counts from "rerunRequested")."""
    page.evaluate(WATCH_STATE)
    page.locator("h1").first.click()  # focus the page, not a widget: "r" reruns
    start = page.evaluate("performance.now()")
    page.keyboard.press("r")
    over = (
        "() => window.__states.some(s => s[0] !== 'notRunning') && window.__states.at(-1)[0] === 'notRunning'"
    )
    page.wait_for_function(over, timeout=120_000)
    states = page.evaluate("window.__states")
    began = next((t for s, t in states if s == "running"), None)
    if began is None:
        began = next(t for s, t in states if s != "notRunning")
    return (states[-1][1] - start) / 1000, (states[-1][1] - began) / 1000


def browser_round(pause: float = 0.0) -> dict[str, float]:
    """A fresh server and evaluation cache; seconds from navigation to the overlays (the page's first run),
    the aggregate table (its tab clicked once the overlays are drawn, or `pause` seconds after) and idle, and
    from the click to the table; then a rerun's (time_rerun, the median of RERUNS), unless `pause`."""
    from playwright.sync_api import sync_playwright

    from tests.e2e.selectors import EXCEPTION, OVERLAY, wait_until_idle
    from tests.e2e.server import CHROMIUM, CHROMIUM_FLAGS, streamlit_server

    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "INSPECTOR_CACHE_DIR": tmp, "INSPECTOR_DEMO_DIR": str(DEMO)}
        with streamlit_server(Path(tmp) / "streamlit.log", env=env) as url, sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
            page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
            out = {}
            t0 = time.perf_counter()
            page.goto(url + "/Compare")
            page.wait_for_selector(OVERLAY, timeout=300_000)
            out["overlays"] = time.perf_counter() - t0
            time.sleep(pause)  # someone looking at the overlays (the page evaluates the aggregate ahead)
            clicked = time.perf_counter()
            page.get_by_role("tab", name="Aggregate").click()
            aggregate = page.get_by_role("tabpanel", name="Aggregate")
            aggregate.locator('[data-testid="stDataFrame"]').first.wait_for(state="visible", timeout=300_000)
            out["aggregate table"] = time.perf_counter() - t0
            out["click → aggregate table"] = time.perf_counter() - clicked
            page.get_by_text("CI [").first.wait_for(timeout=300_000)
            wait_until_idle(page, 300_000)
            out["idle"] = time.perf_counter() - t0
            if not pause:
                reruns = [time_rerun(page) for _ in range(RERUNS)]
                out["rerun"] = statistics.median(r[0] for r in reruns)
                out["rerun, the run itself"] = statistics.median(r[1] for r in reruns)
            if page.locator(EXCEPTION).count():
                raise SystemExit("the page shows an exception")
            browser.close()
    return out


# ---------------------------------------------------------------------------------------------- main


def _collect(results: dict[str, list[dict[str, float]]], name: str, run: Callable[[], dict]) -> Callable:
    def go() -> None:
        results.setdefault(name, []).append(run())

    return go


def _by_metric(results: dict[str, list[dict[str, float]]]) -> dict[str, dict[str, Timing]]:
    """{metric: {contestant: its Timing}}, from each contestant's per-round {metric: seconds}."""
    out: dict[str, dict[str, Timing]] = {}
    for name, rows in results.items():
        for metric in rows[0]:
            out.setdefault(metric, {})[name] = Timing(name, tuple(r[metric] for r in rows))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--parts", default="bootstrap,apptest,browser")
    parser.add_argument("--baseline", type=Path, help="another checkout whose page AppTest times too")
    parser.add_argument("--child-apptest", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--tab", default="Aggregate", help=argparse.SUPPRESS)
    parser.add_argument("--pause", type=float, default=0.0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child_apptest:
        print(json.dumps(child_apptest(args.child_apptest, args.tab, args.pause)))
        return
    parts = set(args.parts.split(","))
    if "bootstrap" in parts:
        bench_bootstrap(args.rounds)
    results: dict[str, list[dict[str, float]]] = {}
    page_runs = {}
    if args.baseline and "apptest" in parts:
        page_runs["apptest (baseline)"] = _collect(
            results, "apptest (baseline)", lambda: apptest_rounds(args.baseline)
        )
    if "apptest" in parts:
        page_runs["apptest"] = _collect(results, "apptest", lambda: apptest_rounds(REPO))
    if "browser" in parts:
        page_runs["browser"] = _collect(results, "browser", browser_round)
        looked_at = f"browser, Aggregate {PAUSE_S:g} s after"
        page_runs[looked_at] = _collect(results, looked_at, lambda: browser_round(PAUSE_S))
    if not page_runs:
        return
    load = os.getloadavg()[0]
    interleaved(page_runs, args.rounds)
    print(
        f"\nthe page, {args.rounds} interleaved rounds, each from empty caches; load average "
        f"{load:.2f} before, {os.getloadavg()[0]:.2f} after"
    )
    for metric, timings in _by_metric(results).items():
        print(f"{metric}:\n" + report(timings, next(iter(timings))))
    goals = (
        ("apptest", "Aggregate: first run", FIRST_RUN_GOAL_S),
        ("apptest", "Episode: first run", FIRST_RUN_GOAL_S),
        ("browser", "overlays", FIRST_RUN_GOAL_S),  # the page's first run, from navigation
    )
    for name, metric, goal in (
        *goals,
        ("apptest", "Aggregate: rerun", RERUN_GOAL_S),
        ("apptest", "Episode: rerun", RERUN_GOAL_S),
        ("browser", "rerun", RERUN_GOAL_S),
    ):
        if name in results:
            t = Timing(name, tuple(r[metric] for r in results[name]))
            print(f"{name} {metric}: median {t.median:.3f} s, min {t.min:.3f} s (goal ≤ {goal:g} s)")


if __name__ == "__main__":
    main()
