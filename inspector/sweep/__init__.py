"""Many runs at once: the runs under a sweep root, read in parallel, grouped, and banded across seeds.

Few-shot detection results move with the seed as much as with the config (FsDet#107: 48.4 vs 45.6 nAP50
from one config), so one run's curve misleads. The flow:

    discover(root) ─▶ Discovery (RunSpec per run) ─▶ read_sweep() ─▶ Sweep (RunRow per run + curves)
    group_runs(rows, GroupBy) ─▶ Groups ─▶ band(curves of a group's members, metric) ─▶ Band
                                       ─▶ group_findings(rows of a group) ─▶ "lr_collapsed in 7 of 10 runs"

`inspector/sweep/report.py` writes a Sweep as Markdown or as the CLI's JSON (`diagnose DIR --runs`);
`inspector/band_charts.py` draws the bands; the Runs page composes both.
"""

from inspector.sweep.bands import BAND_KINDS, Band, BandKind, band, curve_names, group_band
from inspector.sweep.discovery import MAX_DEPTH, MAX_RUNS, discover, find_runs, natural_key, walk
from inspector.sweep.grouping import (
    FindingCount,
    Group,
    GroupBy,
    Spread,
    group_by_key,
    group_by_pattern,
    group_findings,
    group_runs,
    main_metric,
    spread,
    varying_keys,
)
from inspector.sweep.reading import DEFAULT_EXECUTOR, read_run, read_runs, read_sweep
from inspector.sweep.records import (
    Curve,
    Discovery,
    FindingBrief,
    MetricSummary,
    RunResult,
    RunRow,
    RunSpec,
    Sweep,
    TopFinding,
)
from inspector.sweep.summaries import better, flatten_config

__all__ = [
    "BAND_KINDS",
    "DEFAULT_EXECUTOR",
    "MAX_DEPTH",
    "MAX_RUNS",
    "Band",
    "BandKind",
    "Curve",
    "Discovery",
    "FindingBrief",
    "FindingCount",
    "Group",
    "GroupBy",
    "MetricSummary",
    "RunResult",
    "RunRow",
    "RunSpec",
    "Spread",
    "Sweep",
    "TopFinding",
    "band",
    "better",
    "curve_names",
    "discover",
    "find_runs",
    "flatten_config",
    "group_band",
    "group_by_key",
    "group_by_pattern",
    "group_findings",
    "group_runs",
    "main_metric",
    "natural_key",
    "read_run",
    "read_runs",
    "read_sweep",
    "spread",
    "varying_keys",
    "walk",
]
