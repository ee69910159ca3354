"""inspector/ui/downloads.py and the Loss curves page's downloads: files named after their run (safe names),
the Markdown headed by its run, the CSV to 6 significant digits."""

from __future__ import annotations

import re

import pytest
from synthetic_runs import seed_like

from inspector.diagnose import diagnose
from inspector.ui.downloads import file_name, pair_file_name, stem_of
from inspector.ui.loss_views import decomposition_csv, findings_json, findings_markdown


@pytest.mark.parametrize(
    ("label", "stem"),
    [
        ("demo/troubled", "troubled"),  # a demo run
        ("results.csv", "results"),  # an upload: its file's stem
        ("results.csv, args.yaml", "results"),  # an upload with its config: the log's
        ("runs/exp3/log.jsonl", "exp3-log"),  # a server path: the folder says more than "log"
        ("runs/exp3", "exp3"),  # a TensorBoard run directory
        ("demo/troubled/best.pt", "troubled-best"),  # a checkpoint
        ("s3://bucket/my run/metrics.csv", "my_run-metrics"),
        ("../../etc/passwd", "passwd"),
        ("", "run"),
        ("¿¡", "run"),
    ],
)
def test_a_download_is_named_after_its_run_safely(label: str, stem: str) -> None:
    assert stem_of(label) == stem
    assert re.fullmatch(r"[A-Za-z0-9._-]+", stem_of(label))


def test_two_runs_downloads_do_not_collide() -> None:
    assert file_name("demo/troubled", "findings.md") == "troubled-findings.md"
    assert file_name("demo/fixed", "findings.md") == "fixed-findings.md"
    assert file_name("results.csv", "decomposition.csv") == "results-decomposition.csv"
    assert (
        pair_file_name("demo/troubled/best.pt", "demo/fixed/best.pt", "protocol.json")
        == "troubled-best-vs-fixed-best-protocol.json"
    )


def test_findings_name_their_run() -> None:
    d = diagnose(seed_like(0).log)
    md = findings_markdown(d, "demo/troubled", "inspector_jsonl", "native")
    assert md.splitlines()[0] == "# demo/troubled (inspector_jsonl, native)"
    assert '"source": "demo/troubled"' in findings_json(d, "demo/troubled", "inspector_jsonl")


def test_the_decomposition_csv_writes_6_significant_digits() -> None:
    csv = decomposition_csv(diagnose(seed_like(0).log).decomposition)
    numbers = re.findall(r"-?\d+\.\d+(?:e[-+]\d+)?", csv)
    assert numbers, csv[:200]
    digits = [len(n.lstrip("-").split("e")[0].replace(".", "").lstrip("0")) for n in numbers]
    assert max(digits) <= 6 and max(digits) == 6  # 6, not repr's 17
