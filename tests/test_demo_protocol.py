"""demo/README.md's few-shot protocol section: its per-K rows and verdicts follow from its own cells, and its
cells are what `evaluate --k-shot … --seeds …` measures on the runs' best.pt. The lesson: the fixed run beats
the troubled one at every K, beyond the variance over seeds."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from inspector.demo_protocol import PROTOCOL_EPISODES, PROTOCOL_HEADING, PROTOCOL_K_SHOTS, PROTOCOL_SEEDS
from inspector.protocol.intervals import t_interval

DEMO = Path(__file__).resolve().parents[1] / "demo"
needs_demo = pytest.mark.skipif(
    not (DEMO / "runs" / "fixed" / "best.pt").is_file(), reason="demo/ not built (python -m inspector demo)"
)
pytestmark = needs_demo


def _section() -> list[str]:
    lines = (DEMO / "README.md").read_text(encoding="utf-8").splitlines()
    assert PROTOCOL_HEADING in lines
    start = lines.index(PROTOCOL_HEADING)
    return lines[start : lines.index("## Choices")]


def _table(lines: list[str], header: str) -> list[list[str]]:
    start = next(i for i, line in enumerate(lines) if line.startswith(header))
    rows = []
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        rows.append([c.strip() for c in line.strip("|").split("|")])
    return rows


def _cells() -> dict[tuple[int, int], tuple[float, float]]:
    return {(int(k), int(s)): (float(a), float(b)) for k, s, a, b in _table(_section(), "| K | seed |")}


def test_the_section_covers_the_grid():
    assert sorted(_cells()) == [(k, s) for k in PROTOCOL_K_SHOTS for s in PROTOCOL_SEEDS]


def test_per_k_rows_and_verdicts_follow_from_the_cells():
    cells = _cells()
    rows = _table(_section(), "| K | `troubled` mean")
    verdicts = [line for line in _section() if line.startswith("- K=")]
    assert len(rows) == len(verdicts) == len(PROTOCOL_K_SHOTS)
    for row, verdict, k in zip(rows, verdicts, PROTOCOL_K_SHOTS, strict=True):
        assert int(row[0]) == k
        for side, (mean_std, ci) in enumerate(((row[1], row[2]), (row[4], row[5]))):
            values = [cells[(k, s)][side] for s in PROTOCOL_SEEDS]
            i = t_interval(values)
            mean, std = (float(x) for x in mean_std.split(" ± "))
            low, high = (float(x) for x in ci.strip("[]").split(", "))
            # the README rounds each cell to 3 decimals: the recomputed numbers agree to that rounding
            assert (mean, std, low, high) == pytest.approx((i.mean, i.std, i.low, i.high), abs=2e-3)
        diffs = [cells[(k, s)][1] - cells[(k, s)][0] for s in PROTOCOL_SEEDS]
        d = t_interval(diffs)
        found = re.search(r"Δ mAP@0.5 = ([+-][0-9.]+) \(95% CI \[([+-][0-9.]+), ([+-][0-9.]+)\]", verdict)
        assert found, verdict
        assert tuple(map(float, found.groups())) == pytest.approx((d.mean, d.low, d.high), abs=2e-3)
        # the demo's lesson, with the variance respected: fixed is better at every K
        assert verdict.startswith(f"- K={k}: B is better than A") and d.low > 0
        assert f"over {len(PROTOCOL_SEEDS)} seed(s) × {PROTOCOL_EPISODES} episodes" in verdict


@pytest.mark.slow
def test_cells_are_what_evaluate_measures():
    """Two cells recomputed (another CPU's kernels may round the last digit differently: within 0.005)."""
    from inspector.demo_protocol import protocol_cells

    cells = _cells()
    for k, seed in ((PROTOCOL_K_SHOTS[0], PROTOCOL_SEEDS[0]), (PROTOCOL_K_SHOTS[-1], PROTOCOL_SEEDS[-1])):
        measured = protocol_cells(DEMO, (k,), (seed,), PROTOCOL_EPISODES)
        got = (measured["troubled"][0].numbers["map50"], measured["fixed"][0].numbers["map50"])
        assert got == pytest.approx(cells[(k, seed)], abs=5e-3)
        assert np.all(np.isfinite(got))
