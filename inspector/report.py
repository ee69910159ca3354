"""A Diagnosis rendered for people (Markdown) and for programs (the CLI's JSON contract)."""

from __future__ import annotations

from dataclasses import asdict

from inspector.diagnose import Diagnosis
from inspector.findings import format_number, format_percent
from inspector.losses import Component

# Series named in a "not judged" banner before it says "and N more".
SHOWN_METRICS = 30
# What a CLI user can do about a run the rules could not judge.
CLI_FIX = "If some of these are loss terms, say so with `--weights`/`--logged`, or log the total they add up to."


def component_dict(c: Component) -> dict:
    """A component as the JSON contract writes it: the weight, the semantics, and the evidence for both."""
    return {"name": c.name, "metric": c.metric, "weight": c.weight, "weight_source": c.weight_source,
            "logged": c.logged, "logged_source": c.logged_source, "why": c.why, "family": c.family,
            "group": c.group, "twin": c.twin}


def to_json_dict(diagnosis: Diagnosis, source: str, format: str) -> dict:
    """The CLI's JSON contract: source, format, steps, segments, judged, components, groups, findings, eval metrics."""
    comps = diagnosis.components
    return {
        "source": source,
        "format": format,
        "steps": diagnosis.n_steps,
        "segments": diagnosis.n_segments,
        "judged": diagnosis.judged,
        "not_judged": list(diagnosis.not_judged),
        "components": [component_dict(c) for c in comps.components],
        "total": comps.total,
        "total_evidence": comps.total_evidence,
        "groups": {"families": {k: list(v) for k, v in comps.families.items()},
                   "copies": {k: list(v) for k, v in comps.groups.items()}},
        "findings": [{"id": f.id, "severity": f.severity, "title": f.title, "evidence": f.evidence,
                      "next_step": f.next_step} for f in diagnosis.findings],
        "eval_metrics": [asdict(e) for e in diagnosis.eval_metrics],
        "metrics": list(diagnosis.metrics),
        "warnings": list(diagnosis.warnings),
    }


def not_judged_banner(diagnosis: Diagnosis, how_to_fix: str = CLI_FIX) -> str:
    """Why the run was not judged and which series it holds, for the top of a report (empty when judged)."""
    if diagnosis.judged:
        return ""
    shown = ", ".join(f"`{m}`" for m in diagnosis.metrics[:SHOWN_METRICS])
    more = f" and {len(diagnosis.metrics) - SHOWN_METRICS} more" if len(diagnosis.metrics) > SHOWN_METRICS else ""
    found = f"The log holds: {shown}{more}." if diagnosis.metrics else "The log holds no series."
    return (f"**Not judged:** {'; '.join(diagnosis.not_judged)}. The absence of findings below says nothing about "
            f"this run. {found} {how_to_fix}")


def to_markdown(diagnosis: Diagnosis) -> str:
    """A Markdown report: the not-judged banner, components with their evidence, findings, eval metrics, warnings."""
    lines = [f"**{diagnosis.n_steps} steps, {diagnosis.n_segments} segment(s)**", ""]
    banner = not_judged_banner(diagnosis)
    if banner:
        lines += [banner, ""]
    comps = diagnosis.components
    if comps.components:
        lines += ["| component | metric | weight | source | logged | share of mean | share of variance | evidence |",
                  "|---|---|---|---|---|---|---|---|"]
        for c in comps.components:
            s = diagnosis.stats.get(c.name)
            weight = format_number(c.effective_weight) + ("" if c.weight is not None else " (unknown)")
            lines.append(f"| {c.name} | `{c.metric}` | {weight} | {c.weight_source} | {c.logged} ({c.logged_source}) "
                         f"| {format_percent(s.mean_share) if s else 'n/a'} "
                         f"| {format_percent(s.variance_share) if s else 'n/a'} | {c.why} |")
        lines.append("")
        if comps.total_evidence:
            lines += [f"Logged total: {comps.total_evidence}.", ""]
        if comps.groups:
            lines += ["Copies of the terms: " + "; ".join(f"{k}: {', '.join(v)}" for k, v in comps.groups.items()), ""]
    if diagnosis.judged and not diagnosis.findings:
        lines.append("No findings: nothing in this log looks wrong.")
    for f in diagnosis.findings:
        lines += [f"- **[{f.severity}] {f.title}** (`{f.id}`) — {f.evidence}", f"  - Next: {f.next_step}"]
    if diagnosis.eval_metrics:
        lines += ["", "| eval metric | points | steps | last | best |", "|---|---|---|---|---|"]
        for e in diagnosis.eval_metrics:
            span = f"{e.first_step}–{e.last_step}" if e.points else "—"
            undefined = f" (+{e.undefined} undefined)" if e.undefined else ""
            lines.append(f"| `{e.name}` | {e.points}{undefined} | {span} | {format_number(e.last)} | "
                         f"{format_number(e.best)} |")
    if diagnosis.warnings:
        lines += ["", "Warnings:"] + [f"- {w}" for w in diagnosis.warnings]
    return "\n".join(lines) + "\n"
