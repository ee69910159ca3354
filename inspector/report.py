"""A Diagnosis rendered for people (Markdown) and for programs (the CLI's JSON contract)."""

from __future__ import annotations

from dataclasses import asdict

from inspector.diagnose import Diagnosis
from inspector.findings import Cause, Finding, Look, format_number, format_percent
from inspector.losses import Component

# Series named in a "not judged" banner before it says "and N more".
SHOWN_METRICS = 30
# Where a CLI user looks for each Look (LOG is replaced by the log's path when the report knows it).
CLI_LOOK: dict[Look, str] = {
    "episodes": "`python -m inspector episode --checkpoint CKPT --data DATA --index I --json` "
    "(boxes, positives per target, the assigned anchors' IoU, the format doctor)",
    "loss_curves": "the decomposed series in `python -m inspector diagnose LOG --json`",
    "whatif": "`python -m inspector diagnose LOG --weights NAME=W` "
    "(the objective and the shares with other weights)",
    "lr": "the lr series in the log beside the schedule in the training config",
    "eval": "`eval_metrics` in `python -m inspector diagnose LOG --json`",
    "compare": "`python -m inspector evaluate --checkpoint CKPT --data DATA --json` on both checkpoints",
    "components": "`python -m inspector diagnose LOG --weights NAME=W --logged NAME=raw|weighted`",
    "overview": "`python -m inspector diagnose LOG`",
}


def where(look: Look, source: str | None) -> str:
    """The CLI's words for a Look, with the log's path filled in when known."""
    return CLI_LOOK[look].replace("LOG", source or "LOG")


# What a CLI user can do about a run the rules could not judge.
CLI_FIX = (
    "If some of these are loss terms, say so with `--weights`/`--logged`, or log the total they add up to."
)


def component_dict(c: Component) -> dict:
    """A component as the JSON contract writes it: the weight, the semantics, and the evidence for both."""
    return {
        "name": c.name,
        "metric": c.metric,
        "weight": c.weight,
        "weight_source": c.weight_source,
        "logged": c.logged,
        "logged_source": c.logged_source,
        "why": c.why,
        "family": c.family,
        "group": c.group,
        "twin": c.twin,
    }


def cause_dict(c: Cause, source: str | None) -> dict:
    """A root cause as the JSON contract writes it: cause, explains (finding ids), evidence, check."""
    return {
        "id": c.id,
        "stage": c.stage,
        "cause": c.title,
        "explains": list(c.explains),
        "evidence": c.evidence,
        "check": f"{c.check} → {where(c.look_at, source)}",
        "look_at": c.look_at,
    }


def to_json_dict(diagnosis: Diagnosis, source: str, format: str) -> dict:
    """The CLI's JSON contract: source, format, steps, segments, judged, components, groups, findings, eval
    metrics."""
    comps = diagnosis.components
    return {
        "source": source,
        "format": format,
        "steps": diagnosis.n_steps,
        "segments": diagnosis.n_segments,
        "judged": diagnosis.judged,
        "not_judged": list(diagnosis.not_judged),
        "skipped_rules": list(diagnosis.skipped),
        "components": [component_dict(c) for c in comps.components],
        "total": comps.total,
        "total_evidence": comps.total_evidence,
        "groups": {
            "families": {k: list(v) for k, v in comps.families.items()},
            "copies": {k: list(v) for k, v in comps.groups.items()},
        },
        "triage": [cause_dict(c, source) for c in diagnosis.triage],
        "not_yet": list(diagnosis.not_yet),
        "findings": [
            {
                "id": f.id,
                "severity": f.severity,
                "title": f.title,
                "evidence": f.evidence,
                "next_step": f.next_step,
                "component": f.component,
                "look_at": f.look_at,
                "where": where(f.look_at, source),
            }
            for f in diagnosis.findings
        ],
        "eval_metrics": [asdict(e) for e in diagnosis.eval_metrics],
        "metrics": list(diagnosis.metrics),
        "warnings": list(diagnosis.warnings),
    }


def not_judged_banner(diagnosis: Diagnosis, how_to_fix: str = CLI_FIX) -> str:
    """Why the run was not judged and which series it holds, for the top of a report (empty when judged)."""
    if diagnosis.judged:
        return ""
    shown = ", ".join(f"`{m}`" for m in diagnosis.metrics[:SHOWN_METRICS])
    more = (
        f" and {len(diagnosis.metrics) - SHOWN_METRICS} more"
        if len(diagnosis.metrics) > SHOWN_METRICS
        else ""
    )
    found = f"The log holds: {shown}{more}." if diagnosis.metrics else "The log holds no series."
    return (
        f"**Not judged:** {'; '.join(diagnosis.not_judged)}. "
        f"The absence of findings below says nothing about this run. {found} {how_to_fix}"
    )


def _finding_lines(f: Finding, source: str | None, indent: str = "", said: str = "") -> list[str]:
    """A finding as Markdown bullets; its evidence and next step left out where `said` (its cause) has
    them."""
    evidence = "" if f.evidence in said else f" — {f.evidence}"
    lines = [f"{indent}- **[{f.severity}] {f.title}** (`{f.id}`){evidence}"]
    if f.next_step not in said:
        lines.append(f"{indent}  - Next: {f.next_step} Where: {where(f.look_at, source)}.")
    return lines


def start_here(diagnosis: Diagnosis, source: str | None = None) -> list[str]:
    """The ranked triage as Markdown lines: each cause, how to check it, the findings it explains; then 'not
    yet'."""
    if not diagnosis.triage:
        return []
    lines = ["## Start here", ""]
    explained = set()
    for i, c in enumerate(diagnosis.triage, 1):
        lines += [
            f"{i}. **{c.title}** ({c.stage}) — {c.evidence}",
            f"   - Check: {c.check} → {where(c.look_at, source)}.",
        ]
        for f in diagnosis.findings:
            if f.id in c.explains and id(f) not in explained:
                explained.add(id(f))
                lines += _finding_lines(f, source, "   ", c.evidence)
    if diagnosis.not_yet:
        lines += ["", "Not yet:"] + [f"- {n}" for n in diagnosis.not_yet]
    return lines + [""]


def heading(source: str, format: str, framework: str | None = None) -> str:
    """A report's first line, naming the run it reads: "# demo/troubled (jsonl, native)"."""
    return f"# {source} ({format}{'' if framework is None else f', {framework}'})"


def to_markdown(diagnosis: Diagnosis, source: str | None = None, *, title: str | None = None) -> str:
    """A Markdown report: the run it reads (`title`, a heading line: the CLI prints its own), not-judged
    banner, Start here (causes with their findings), components, other findings. `source` is the log's path
    as the CLI commands it suggests should name it."""
    lines = [title, ""] if title else []
    lines += [f"**{diagnosis.n_steps} steps, {diagnosis.n_segments} segment(s)**", ""]
    banner = not_judged_banner(diagnosis)
    if banner:
        lines += [banner, ""]
    lines += start_here(diagnosis, source)
    comps = diagnosis.components
    if comps.components:
        lines += [
            "| component | metric | weight | source | logged "
            "| share of mean | share of variance | evidence |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for c in comps.components:
            s = diagnosis.stats.get(c.name)
            weight = format_number(c.effective_weight) + ("" if c.weight is not None else " (unknown)")
            lines.append(
                f"| {c.name} | `{c.metric}` | {weight} | {c.weight_source} | {c.logged} ({c.logged_source}) "
                f"| {format_percent(s.mean_share) if s else 'n/a'} "
                f"| {format_percent(s.variance_share) if s else 'n/a'} | {c.why} |"
            )
        lines.append("")
        if comps.total_evidence:
            lines += [f"Logged total: {comps.total_evidence}.", ""]
        if comps.groups:
            lines += [
                "Copies of the terms: " + "; ".join(f"{k}: {', '.join(v)}" for k, v in comps.groups.items()),
                "",
            ]
    in_causes = {fid for c in diagnosis.triage for fid in c.explains}
    others = [f for f in diagnosis.findings if f.id not in in_causes]
    if diagnosis.judged and not diagnosis.findings:
        lines.append(
            "No findings: nothing in this log looks wrong"
            + (" to the rules that could judge it." if diagnosis.skipped else ".")
        )
    if diagnosis.skipped:
        lines.append("Not judged for lack of points: " + "; ".join(diagnosis.skipped) + ".")
    elif others:
        lines += ["## Other findings", ""] if diagnosis.triage else []
        for f in others:
            lines += _finding_lines(f, source)
    if diagnosis.eval_metrics:
        lines += ["", "| eval metric | points | steps | last | best |", "|---|---|---|---|---|"]
        for e in diagnosis.eval_metrics:
            span = f"{e.first_step}–{e.last_step}" if e.points else "—"
            undefined = f" (+{e.undefined} undefined)" if e.undefined else ""
            lines.append(
                f"| `{e.name}` | {e.points}{undefined} | {span} | {format_number(e.last)} | "
                f"{format_number(e.best)} |"
            )
    if diagnosis.warnings:
        lines += ["", "Warnings:"] + [f"- {w}" for w in diagnosis.warnings]
    return "\n".join(lines) + "\n"
