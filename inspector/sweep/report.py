"""A read Sweep for people (Markdown: a run table, then each group's spread and shared findings) and for
programs (`diagnose DIR --runs --json`: one object, one record per run).

JSON fields (names are stable, new fields may be added):
- `root`, `group_by` {`kind`, `value`, `description`}, `main_metric`, `truncated`, `skipped`;
- `runs`: one per run, `name`, `path`, `format`, `framework`, `n_steps`, `last_step`, `metrics`
  {name: {`better`, `points`, `last`, `last_step`, `best`, `best_step`}}, `loss` {`name`, `last`},
  `top_finding` {`kind` (cause or finding), `id`, `title`} or null, `findings` [{`id`, `severity`,
  `title`}], `judged`, `config` (flattened, scalars), `error` (null when read);
- `groups`: `name`, `members`, `read`, `unreadable`, `findings` [{`id`, `title`, `severity`, `count`,
  `of`, `runs`}], `metrics` {name: {`better`, `n`, `last_mean`, `last_std`, `best_mean`, `best_std`,
  `best_min`, `best_max`}}.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict

from inspector.findings import format_number
from inspector.sweep.grouping import FindingCount, Group, GroupBy, group_findings, main_metric, spread
from inspector.sweep.records import RunRow, Sweep

# Runs named after a finding's count in Markdown before "and N more".
SHOWN_RUNS = 8


def run_dict(row: RunRow) -> dict:
    """One run as the JSON contract writes it."""
    return {
        "name": row.name,
        "path": row.path,
        "format": row.format,
        "framework": row.framework,
        "n_steps": row.n_steps,
        "last_step": row.last_step,
        "metrics": {
            m.name: {
                "better": m.better,
                "points": m.points,
                "last": m.last,
                "last_step": m.last_step,
                "best": m.best,
                "best_step": m.best_step,
            }
            for m in row.metrics
        },
        "loss": {"name": row.loss_name, "last": row.last_loss},
        "top_finding": None if row.top is None else asdict(row.top),
        "findings": [asdict(f) for f in row.findings],
        "judged": row.judged,
        "config": dict(row.config),
        "error": row.error,
    }


def _members(sweep: Sweep, group: Group) -> list[RunRow]:
    by_name = {r.name: r for r in sweep.rows}
    return [by_name[n] for n in group.members if n in by_name]


def _metric_names(rows: Sequence[RunRow]) -> list[str]:
    names: list[str] = []
    for r in rows:
        names += [m.name for m in r.metrics if m.name not in names]
    return names


def finding_dict(c: FindingCount) -> dict:
    return {
        "id": c.id,
        "title": c.title,
        "severity": c.severity,
        "count": len(c.runs),
        "of": c.of,
        "runs": list(c.runs),
    }


def group_dict(sweep: Sweep, group: Group) -> dict:
    """One group as the JSON contract writes it: members, shared findings, each metric's spread."""
    rows = _members(sweep, group)
    spreads = {name: spread(rows, name) for name in _metric_names(rows)}
    return {
        "name": group.name,
        "members": list(group.members),
        "read": sum(r.read for r in rows),
        "unreadable": [r.name for r in rows if not r.read],
        "findings": [finding_dict(c) for c in group_findings(rows)],
        "metrics": {
            name: {k: v for k, v in asdict(s).items() if k != "name"}
            for name, s in spreads.items()
            if s is not None
        },
    }


def to_json_dict(sweep: Sweep, groups: Sequence[Group], by: GroupBy) -> dict:
    """The CLI's one JSON object for a sweep (fields in the module docstring)."""
    return {
        "root": sweep.root,
        "group_by": {"kind": by.kind, "value": by.value, "description": by.describe()},
        "main_metric": main_metric(sweep.rows),
        "runs": [run_dict(r) for r in sweep.rows],
        "groups": [group_dict(sweep, g) for g in groups],
        "truncated": list(sweep.discovery.truncated),
        "skipped": list(sweep.discovery.skipped),
    }


def _cell(text: object) -> str:
    """A Markdown table cell: one line, pipes escaped."""
    return " ".join(str(text).split()).replace("|", "\\|")


def top_text(row: RunRow) -> str:
    """The run's top finding in words ("" when none; "not judged" when the rules could not look)."""
    if row.top is not None:
        return f"{row.top.id}: {row.top.title}"
    return "" if row.judged or not row.read else "not judged"


def run_table(sweep: Sweep, metric: str | None) -> list[str]:
    """The runs as Markdown table lines: run, format, steps, the metric's last and best, loss, top, error."""
    head = ["run", "format", "steps"]
    if metric:
        head += [f"{metric} last", f"{metric} best"]
    head += ["last loss", "top finding", "error"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in sweep.rows:
        m = r.metric(metric) if metric else None
        cells = [r.name, r.format or "", f"{r.n_steps:,}" if r.read else ""]
        if metric:
            cells += [format_number(m.last) if m else "", format_number(m.best) if m else ""]
        cells += [format_number(r.last_loss) if r.read else "", top_text(r), r.error or ""]
        lines.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    return lines


def _runs_text(names: Sequence[str]) -> str:
    shown = ", ".join(names[:SHOWN_RUNS])
    return shown + (f" and {len(names) - SHOWN_RUNS} more" if len(names) > SHOWN_RUNS else "")


def spread_text(rows: Sequence[RunRow], metric: str) -> str | None:
    """'eval/map50 best 0.452 ± 0.012 over 4 runs (0.44–0.47), last 0.440 ± 0.010' (None: no values)."""
    s = spread(rows, metric)
    if s is None:
        return None
    pm = f" ± {format_number(s.best_std)}" if s.best_std is not None else ""
    last_pm = f" ± {format_number(s.last_std)}" if s.last_std is not None else ""
    span = f" ({format_number(s.best_min)}–{format_number(s.best_max)})" if s.n > 1 else ""
    return (
        f"{metric} best {format_number(s.best_mean)}{pm} over {s.n} run(s){span}, "
        f"last {format_number(s.last_mean)}{last_pm}"
    )


def group_lines(sweep: Sweep, group: Group, metric: str | None) -> list[str]:
    """A group in Markdown: its size, the main metric's spread, each finding's count, unreadable members."""
    rows = _members(sweep, group)
    read = [r for r in rows if r.read]
    lines = [f"### {group.name} ({len(rows)} run{'s' if len(rows) != 1 else ''})", ""]
    text = spread_text(read, metric) if metric else None
    if text:
        lines.append(f"- {text}")
    for c in group_findings(read):
        lines.append(f"- **{c.id}** in {len(c.runs)} of {c.of} runs ({c.title}): {_runs_text(c.runs)}")
    if read and not any(r.findings for r in read):
        lines.append("- no findings in any run")
    unread = [r.name for r in rows if not r.read]
    if unread:
        lines.append(f"- unreadable: {_runs_text(unread)}")
    return lines + [""]


def to_markdown(sweep: Sweep, groups: Sequence[Group], by: GroupBy) -> str:
    """The sweep for people: a header, the run table, then each group's spread and shared findings."""
    rows = sweep.rows
    unread = sum(not r.read for r in rows)
    metric = main_metric(rows)
    lines = [
        f"# Runs under {sweep.root}",
        "",
        f"{len(rows)} run(s), {unread} unreadable; grouped by {by.describe()}.",
        "",
    ]
    lines += [f"> {t}" for t in sweep.discovery.truncated]
    if sweep.discovery.truncated:
        lines.append("")
    lines += run_table(sweep, metric) + ["", "## Groups", ""]
    for g in groups:
        lines += group_lines(sweep, g, metric)
    if sweep.discovery.skipped:
        lines += ["## Not read as runs", ""] + [f"- {_cell(s)}" for s in sweep.discovery.skipped]
    return "\n".join(lines).rstrip() + "\n"
