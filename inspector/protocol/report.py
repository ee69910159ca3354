"""A grid's report: one row per (K, seed) cell, and per K the mean, spread and 95% intervals over seeds.

    cells:   [{k_shot, seed, map50, map50_95, st_iou, [nap50, nap, bap50, bap], episodes, images}, …]
    summary: [{k_shot, seeds, episodes, metrics: {name: {mean, std, ci, ci_bootstrap, bootstrap_bias}}}, …]

`ci` is the t-interval over seeds (intervals.t_interval: null ends with one seed); `ci_bootstrap` the basic
bootstrap interval of the same mean with every seed's episodes redrawn (intervals.bootstrap_over_episodes),
corrected for `bootstrap_bias` (how far the redraws' mean runs from the estimate), for the COCO metrics the
redraw can recompute (null for the others).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from inspector.batch import BatchResult, image_records, summarize
from inspector.coco import coco_matches
from inspector.protocol.grid import Cell, CellResult
from inspector.protocol.intervals import (
    CONFIDENCE,
    RESAMPLES,
    SeedMatches,
    bootstrap_over_episodes,
    t_interval,
)
from inspector.protocol.metrics import cell_numbers, metric_names, statistics
from inspector.protocol.split import ClassSplit


@dataclass(frozen=True)
class ScoredCell:
    """A cell's rows, its summary (batch.summarize) and its protocol metrics."""

    cell: Cell
    result: BatchResult
    summary: dict[str, Any]
    numbers: dict[str, float]


def score_cells(results: Sequence[CellResult], split: ClassSplit | None) -> list[ScoredCell]:
    """Every cell summarised and measured."""
    out = []
    for r in results:
        summary = summarize(r.result)
        out.append(ScoredCell(r.cell, r.result, summary, cell_numbers(r.result, summary, split)))
    return out


def cell_rows(cells: Sequence[ScoredCell]) -> list[dict[str, Any]]:
    """The JSON rows of the grid, one per cell."""
    return [
        {
            "k_shot": c.cell.k_shot,
            "seed": c.cell.seed,
            **c.numbers,
            "episodes": c.summary["episodes"],
            "images": c.summary["images"],
            "clips": c.summary["clips"],
        }
        for c in cells
    ]


def seed_matches(
    cells: Sequence[ScoredCell], paired: Sequence[ScoredCell] | None = None
) -> list[SeedMatches]:
    """Each cell's images matched as COCO does (under B too when `paired`, cell for cell), for the
    bootstrap."""
    out = []
    for i, c in enumerate(cells):
        rows = c.result.rows.sort_values("position", kind="stable")
        images = rows[rows["kind"] == "image"]
        b = None
        if paired is not None:
            rows_b = paired[i].result.rows.sort_values("position", kind="stable")
            b = coco_matches(image_records(rows_b))
        out.append(SeedMatches(coco_matches(image_records(rows)), b, images["position"].to_numpy(np.int64)))
    return out


def by_k(cells: Sequence[ScoredCell]) -> dict[int, list[ScoredCell]]:
    out: dict[int, list[ScoredCell]] = {}
    for c in cells:
        out.setdefault(c.cell.k_shot, []).append(c)
    return out


def grid_summary(
    cells: Sequence[ScoredCell],
    split: ClassSplit | None,
    class_names: Sequence[str],
    resamples: int = RESAMPLES,
    confidence: float = CONFIDENCE,
) -> list[dict[str, Any]]:
    """Per K: each metric's mean, standard deviation and intervals over its seeds (module docstring)."""
    out = []
    for k, group in by_k(cells).items():
        boot = (
            bootstrap_over_episodes(
                seed_matches(group), statistics(split, class_names), resamples, confidence=confidence
            )
            if resamples > 0
            else {}
        )
        metrics = {}
        for name in metric_names(split):
            interval = t_interval([c.numbers[name] for c in group], confidence)
            metrics[name] = {
                "mean": interval.mean,
                "std": interval.std,
                "ci": [interval.low, interval.high],
                "ci_bootstrap": [boot[name].low, boot[name].high] if name in boot else None,
                "bootstrap_bias": boot[name].bias if name in boot else None,
                "seeds": interval.n,
            }
        out.append(
            {
                "k_shot": k,
                "seeds": [c.cell.seed for c in group],
                "episodes": int(sum(c.summary["episodes"] for c in group)),
                "confidence": confidence,
                "metrics": metrics,
            }
        )
    return out


def fmt(value: float | None) -> str:
    return "n/a" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.3f}"


def grid_lines(cells: Sequence[Mapping[str, Any]], summary: Sequence[Mapping[str, Any]]) -> list[str]:
    """The grid as text: a row per cell, then per K the mean ± std and its intervals."""
    from inspector.protocol.metrics import LABELS

    names = [n for n in LABELS if cells and n in cells[0]]
    width = 13
    lines = ["  K  seed " + "".join(f"{LABELS[n]:>{width}}" for n in names)]
    for c in cells:
        lines.append(f"  {c['k_shot']:<2} {c['seed']:>5} " + "".join(f"{fmt(c[n]):>{width}}" for n in names))
    for s in summary:
        pct = round(100 * s["confidence"])
        lines.append(f"  {s['k_shot']}-shot over {len(s['seeds'])} seed(s), {s['episodes']} episodes:")
        for n in names:
            m = s["metrics"][n]
            if m["seeds"] == 0:
                lines.append(f"    {LABELS[n]:<13} not measured")
                continue
            ci, boot = m["ci"], m["ci_bootstrap"]
            t_text = (
                f"{pct}% CI [{fmt(ci[0])}, {fmt(ci[1])}] over seeds"
                if m["seeds"] > 1
                else "one seed: no spread over seeds"
                if m["seeds"] == 1
                else "not measured"
            )
            b_text = (
                f", [{fmt(boot[0])}, {fmt(boot[1])}] over episodes (redraws ran {m['bootstrap_bias']:+.3f})"
                if boot
                else ""
            )
            if n == "st_iou" and m["seeds"] > 1 and m["std"] == 0:
                b_text = " (a clip's episode takes its first K reference photos: the seed does not change it)"
            lines.append(f"    {LABELS[n]:<13} {fmt(m['mean'])} ± {fmt(m['std'])}   {t_text}{b_text}")
    return lines
