"""The few-shot protocol's grid costs the sum of its cells: one detector load and one dataset read for all.

    python bench/bench_protocol.py [--k-shot 1,3,5] [--seeds 0-2] [--episodes 20] [--rounds 3]

Contestants, in interleaved rounds (bench/timing.py), on demo/runs/fixed/best.pt over demo/data/val, one
torch thread, no cache:
- grid: inspector.protocol.run.run_grid over every (K, seed) cell, each scored (batch.summarize and the
  protocol's metrics), as `evaluate --k-shot … --seeds …` does after loading;
- cells: each cell's evaluate_batch + summarize alone, the detector and dataset already loaded (the sum of
  the cells: the grid's goal is ≈ 1.0× this, i.e. no repeated work per cell);
- separate runs: one in-process `evaluate --k-shot K --seed S --json` per cell, each loading the checkpoint
  and reading the dataset again (what a shell loop over cells costs).
Also prints the summary's own share: the per-K bootstrap over episodes within seeds.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import sys
import tempfile
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))
from timing import interleaved, report  # noqa: E402

from inspector.adapters import load_detector  # noqa: E402
from inspector.batch import EpisodePlan, EvalSettings, evaluate_batch, run_meta, summarize  # noqa: E402
from inspector.cli import main as cli  # noqa: E402
from inspector.data import read_dataset  # noqa: E402
from inspector.protocol.grid import Grid, cell_meta, cell_settings  # noqa: E402
from inspector.protocol.report import grid_summary  # noqa: E402
from inspector.protocol.run import run_grid, scored  # noqa: E402

CKPT = REPO / "demo" / "runs" / "fixed" / "best.pt"
DATA = REPO / "demo" / "data" / "val"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--k-shot", default="1,3,5")
    parser.add_argument("--seeds", default="0-2")
    parser.add_argument("--episodes", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(1)
    os.environ["INSPECTOR_CACHE_DIR"] = tempfile.mkdtemp()  # no cache is used; keep any away from ~
    grid = Grid.parse(args.k_shot, args.seeds)
    detector = load_detector(CKPT)
    data = read_dataset(DATA)
    base = EvalSettings(episodes=args.episodes, n_way=2, k_shot=grid.k_shots[0], n_query=4)
    run = run_meta(CKPT, "reference", data, None, base, data.class_names, base.episodes)

    def whole_grid() -> None:  # evaluated and summarised, as the cells alone are; the bootstrap apart below
        scored(run_grid(detector, data, None, base, grid, run, None, "all"))

    def cells_alone() -> None:
        for cell in grid.cells():
            plan = EpisodePlan(data, None, cell_settings(base, cell))
            summarize(evaluate_batch(detector, plan, cell_meta(run, plan)))

    def separate_runs() -> None:
        for cell in grid.cells():
            argv = [
                "evaluate",
                "--checkpoint",
                str(CKPT),
                "--data",
                str(DATA),
                "--episodes",
                str(args.episodes),
            ]
            argv += ["--k-shot", str(cell.k_shot), "--seed", str(cell.seed), "--n-way", "2", "--n-query", "4"]
            with contextlib.redirect_stdout(io.StringIO()):
                assert cli([*argv, "--threads", "1", "--json"]) == 0

    timings = interleaved(
        {"cells alone (sum)": cells_alone, "grid": whole_grid, "separate evaluate runs": separate_runs},
        args.rounds,
    )
    cells = len(grid.cells())
    print(f"{cells} cells (K {list(grid.k_shots)} × seeds {list(grid.seeds)}), {args.episodes} episodes each")
    print(report(timings, "cells alone (sum)"))
    result = scored(run_grid(detector, data, None, base, grid, run, None, "all"))
    t0 = time.perf_counter()
    grid_summary(result, None, data.class_names)
    print(
        f"of the grid: the per-K summary with its 1,000-resample bootstrap {time.perf_counter() - t0:.3f} s"
    )
    print("goal: grid ≈ 1.0× the sum of its cells")


if __name__ == "__main__":
    main()
