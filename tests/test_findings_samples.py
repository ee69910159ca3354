"""Findings on every real public sample log, held to the list an expert signed
(tests/fixtures/sample_findings.json).

The fixture also records what the rules said before issue 13, and why each change is right: a NaN AP
for an absent size is undefined (info), a well-evaluating run gets no weight advice, a planned stage
switch (YOLO close_mosaic, RTMDet's second pipeline) is a regime change, not a spike.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from inspector.diagnose import diagnose
from inspector.runlog import read_logs

FIXTURE = json.loads((Path(__file__).parent / "fixtures" / "sample_findings.json").read_text())["samples"]


@pytest.mark.parametrize("rel", sorted(FIXTURE))
def test_sample_findings_are_the_signed_ones(samples, rel):
    path = samples / rel
    d = diagnose(read_logs([path, *sorted(path.parent.glob("*.yaml"))]))
    assert [[f.id, f.severity, f.component] for f in d.findings] == FIXTURE[rel]["after"]
    assert not [f for f in d.findings if f.severity != "info"], (
        "no sample log gets a warning an expert would reject"
    )
