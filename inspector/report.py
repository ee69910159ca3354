"""A Diagnosis rendered for people (Markdown) and for programs (the CLI's JSON contract)."""

from __future__ import annotations

from inspector.diagnose import Diagnosis
from inspector.findings import format_number, format_percent


def to_json_dict(diagnosis: Diagnosis, source: str, format: str) -> dict:
    """Return the CLI's JSON contract: source, format, steps, segments, components, findings, warnings."""
    return {
        "source": source,
        "format": format,
        "steps": diagnosis.n_steps,
        "segments": diagnosis.n_segments,
        "components": [{"name": c.name, "metric": c.metric, "weight": c.weight, "logged": c.logged}
                       for c in diagnosis.components.components],
        "findings": [{"id": f.id, "severity": f.severity, "title": f.title, "evidence": f.evidence,
                      "next_step": f.next_step} for f in diagnosis.findings],
        "warnings": list(diagnosis.warnings),
    }


def to_markdown(diagnosis: Diagnosis) -> str:
    """Return a Markdown report: components table, then findings (most severe first), then warnings."""
    lines = [f"**{diagnosis.n_steps} steps, {diagnosis.n_segments} segment(s)**", ""]
    if diagnosis.components.components:
        lines += ["| component | metric | weight | source | logged | share of mean | share of variance |",
                  "|---|---|---|---|---|---|---|"]
        for c in diagnosis.components.components:
            s = diagnosis.stats.get(c.name)
            lines.append(f"| {c.name} | `{c.metric}` | {format_number(c.effective_weight)} | {c.weight_source} | {c.logged} "
                         f"| {format_percent(s.mean_share) if s else 'n/a'} | {format_percent(s.variance_share) if s else 'n/a'} |")
        lines.append("")
    if not diagnosis.findings:
        lines.append("No findings: nothing in this log looks wrong.")
    for f in diagnosis.findings:
        lines += [f"- **[{f.severity}] {f.title}** (`{f.id}`) — {f.evidence}", f"  - Next: {f.next_step}"]
    if diagnosis.warnings:
        lines += ["", "Warnings:"] + [f"- {w}" for w in diagnosis.warnings]
    return "\n".join(lines) + "\n"
