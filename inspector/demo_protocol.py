"""The demo's few-shot protocol section: both runs' best.pt over K ∈ {1, 3, 5} × 5 seeds, per-K intervals and
the verdict on fixed − troubled, written into demo/README.md by the build (inspector.demo.demo_report) from
what `evaluate --k-shot 1,3,5 --seeds 0-4` and `compare` compute."""

from __future__ import annotations

from pathlib import Path

from inspector.protocol.report import ScoredCell, grid_summary
from inspector.protocol.verdict import verdicts

PROTOCOL_HEADING = "## Did the fix help? The few-shot protocol over K-shot × seeds"
PROTOCOL_K_SHOTS = (1, 3, 5)
PROTOCOL_SEEDS = (0, 1, 2, 3, 4)
PROTOCOL_EPISODES = 100
PROTOCOL_RUNS = ("troubled", "fixed")  # A, B


def protocol_cells(
    out: str | Path = "demo",
    k_shots: tuple[int, ...] = PROTOCOL_K_SHOTS,
    seeds: tuple[int, ...] = PROTOCOL_SEEDS,
    episodes: int = PROTOCOL_EPISODES,
) -> dict[str, list[ScoredCell]]:
    """{run: its scored cells} of each run's best.pt over the grid on the validation set (one torch thread),
    as `evaluate --k-shot … --seeds … --episodes N` scores them."""
    import torch

    from inspector.adapters import load_detector
    from inspector.batch import EvalSettings, run_meta
    from inspector.data import read_dataset
    from inspector.plan import resolve_shape, trained_shape
    from inspector.protocol.grid import Grid
    from inspector.protocol.run import run_grid, scored

    out = Path(out)
    data = read_dataset(out / "data" / "val")
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    cells: dict[str, list[ScoredCell]] = {}
    try:
        for name in PROTOCOL_RUNS:
            checkpoint = out / "runs" / name / "best.pt"
            if not checkpoint.is_file():
                continue
            shape = resolve_shape(trained_shape(checkpoint))
            base = EvalSettings(episodes, seeds[0], shape.n_way, k_shots[0], shape.n_query)
            run = run_meta(checkpoint, "reference", data, None, base, data.class_names, episodes)
            grid = run_grid(
                load_detector(checkpoint), data, None, base, Grid(k_shots, seeds), run, None, "all"
            )
            cells[name] = scored(grid)
    finally:
        torch.set_num_threads(before)
    return cells


def protocol_lines(out: str | Path = "demo") -> list[str]:
    """Markdown: the per-K table of both runs and the verdicts, then every cell."""
    cells = protocol_cells(out)
    if set(cells) != set(PROTOCOL_RUNS):
        return []
    a, b = (cells[r] for r in PROTOCOL_RUNS)
    names: list[str] = []
    summaries = {r: grid_summary(cells[r], None, names) for r in PROTOCOL_RUNS}
    seeds = f"{PROTOCOL_SEEDS[0]}-{PROTOCOL_SEEDS[-1]}"
    ks = ",".join(map(str, PROTOCOL_K_SHOTS))
    lines = [
        PROTOCOL_HEADING,
        "",
        "`python -m inspector evaluate --checkpoint demo/runs/RUN/best.pt --data demo/data/val "
        f"--k-shot {ks} --seeds {seeds} --episodes {PROTOCOL_EPISODES} --out RUN.parquet`, then "
        "`python -m inspector compare troubled.parquet fixed.parquet`: mAP@0.5 per K, the mean ± std over "
        f"{len(PROTOCOL_SEEDS)} seeds with its 95% t-interval, and the bootstrap over episodes within "
        "seeds (basic interval; resampled AP runs high, by the amount shown, and the interval corrects it).",
        "",
        "| K | `troubled` mean ± std | 95% CI over seeds | over episodes | `fixed` mean ± std | 95% CI over "
        "seeds | over episodes |",
        "|---|---|---|---|---|---|---|",
    ]
    for sa, sb in zip(summaries["troubled"], summaries["fixed"], strict=True):
        row = [str(sa["k_shot"])]
        for s in (sa, sb):
            m = s["metrics"]["map50"]
            boot = m["ci_bootstrap"]
            row += [
                f"{m['mean']:.3f} ± {m['std']:.3f}",
                f"[{m['ci'][0]:.3f}, {m['ci'][1]:.3f}]",
                f"[{boot[0]:.3f}, {boot[1]:.3f}] ({m['bootstrap_bias']:+.3f})",
            ]
        lines.append("| " + " | ".join(row) + " |")
    lines += ["", *[f"- {v.sentence()}" for v in verdicts(a, b, "map50", None, names)], ""]
    lines += ["Every cell (mAP@0.5):", "", "| K | seed | `troubled` | `fixed` |", "|---|---|---|---|"]
    for ca, cb in zip(a, b, strict=True):
        lines.append(
            f"| {ca.cell.k_shot} | {ca.cell.seed} | {ca.numbers['map50']:.3f} | {cb.numbers['map50']:.3f} |"
        )
    return lines
