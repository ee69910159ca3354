"""inspector.report as a unit: the JSON contract, the Markdown order, the not-judged banner and `where`."""

from __future__ import annotations

import json

import numpy as np
import pytest
from synthetic_runs import seed_like

from inspector.diagnose import Diagnosis, diagnose
from inspector.report import (
    CLI_LOOK,
    SHOWN_METRICS,
    heading,
    not_judged_banner,
    to_json_dict,
    to_markdown,
    where,
)
from inspector.runlog.record import assemble

# The CLI's JSON keys, in order (scripts read them).
CONTRACT = (
    "source",
    "format",
    "steps",
    "segments",
    "judged",
    "not_judged",
    "skipped_rules",
    "components",
    "total",
    "total_evidence",
    "groups",
    "triage",
    "not_yet",
    "findings",
    "eval_metrics",
    "metrics",
    "warnings",
)


@pytest.fixture(scope="module")
def seed_run() -> Diagnosis:
    """Our users' run (bbox 7.5, a clamped lr, metrics at 0): several causes, each explaining findings."""
    return diagnose(seed_like(0).log)


def _unjudged(n_metrics: int) -> Diagnosis:
    """A log of n accuracy-like series and no loss: nothing for the rules to judge."""
    steps = np.arange(1, 201)
    columns = {f"acc/m{i:02d}": np.linspace(0.1, 0.5, steps.size) for i in range(n_metrics)}
    return diagnose(assemble("t.csv", "csv", "generic", steps, columns))


def test_where_names_the_log_when_known_and_a_placeholder_otherwise():
    assert where("loss_curves", "runs/a/log.jsonl") == CLI_LOOK["loss_curves"].replace(
        "LOG", "runs/a/log.jsonl"
    )
    assert "LOG" in where("loss_curves", None)
    assert where("lr", "x.csv") == CLI_LOOK["lr"]  # no LOG in it: unchanged


def test_the_json_contract_has_every_key_and_survives_json(seed_run: Diagnosis):
    out = to_json_dict(seed_run, "seed.jsonl", "native")
    assert list(out) == list(CONTRACT)
    again = json.loads(json.dumps(out))
    assert again["source"] == "seed.jsonl" and again["format"] == "native" and again["judged"] is True
    assert [f["id"] for f in again["findings"]] == [f.id for f in seed_run.findings]
    for f in again["findings"]:
        assert f["where"] == where(f["look_at"], "seed.jsonl") and "LOG" not in f["where"]
    for c, cause in zip(again["triage"], seed_run.triage, strict=True):
        assert c["explains"] == list(cause.explains) and c["check"].startswith(cause.check + " → ")
    assert {c["name"] for c in again["components"]} == {"bbox", "cls", "supcon", "cpe"}


def test_markdown_starts_with_the_ranked_causes_and_lists_each_finding_once(seed_run: Diagnosis):
    md = to_markdown(seed_run, "seed.jsonl")
    assert seed_run.triage, "the seed run has root causes"
    start, table = md.index("## Start here"), md.index("| component |")
    assert start < table
    for i, cause in enumerate(seed_run.triage, 1):
        assert f"{i}. **{cause.title}**" in md
    for f in seed_run.findings:
        assert md.count(f"(`{f.id}`)") >= 1
    explained = {fid for c in seed_run.triage for fid in c.explains}
    if "## Other findings" in md:
        other = md.split("## Other findings", 1)[1]
        assert not any(f"(`{fid}`)" in other for fid in explained)


def test_markdown_names_its_run_when_given_a_title_and_leaves_the_heading_to_the_cli_otherwise(
    seed_run: Diagnosis,
):
    assert (
        heading("demo/troubled", "inspector_jsonl", "native") == "# demo/troubled (inspector_jsonl, native)"
    )
    assert heading("results.csv", "ultralytics_csv") == "# results.csv (ultralytics_csv)"
    titled = to_markdown(seed_run, title=heading("demo/troubled", "inspector_jsonl", "native"))
    plain = to_markdown(seed_run)
    assert titled.startswith("# demo/troubled (inspector_jsonl, native)\n\n**")
    assert titled.endswith(plain) and titled.count("\n# ") == 0  # one title, the rest unchanged
    assert plain.startswith("**") and not plain.startswith("#")  # the CLI prints its own heading above


def test_an_unjudged_run_says_so_and_lists_what_the_log_holds():
    few = _unjudged(3)
    assert not few.judged
    banner = not_judged_banner(few)
    assert banner.startswith("**Not judged:**") and "`acc/m00`" in banner and "more" not in banner
    assert banner in to_markdown(few)
    many = _unjudged(SHOWN_METRICS + 5)
    assert f"and {len(many.metrics) - SHOWN_METRICS} more" in not_judged_banner(many)
    assert to_json_dict(many, "t.csv", "csv")["judged"] is False


def test_a_judged_run_has_no_banner(seed_run: Diagnosis):
    assert not_judged_banner(seed_run) == ""
