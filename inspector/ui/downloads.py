"""Names of the files the pages offer for download: each begins with what it was made from (a run, a pair of
checkpoints), so that two runs' downloads do not overwrite each other in a downloads folder (issue 21)."""

from __future__ import annotations

import re
from pathlib import PurePosixPath

# What a file name keeps: letters, digits, dot, underscore, hyphen; any other run of characters becomes "_".
UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
# Long enough for a run directory and a file stem; file systems allow 255 bytes.
MAX_STEM = 80


def stem_of(label: str) -> str:
    """A safe file-name stem for a run's or checkpoint's label: the demo run "demo/troubled" → "troubled", an
    upload "results.csv, args.yaml" → "results", a server path "runs/exp3/log.jsonl" → "exp3-log", the
    checkpoint "demo/troubled/best.pt" → "troubled-best"."""
    first = PurePosixPath(label.split(", ")[0].strip().rstrip("/"))
    stem = first.name
    if first.suffix:  # a file: its stem, after its folder when the label names one (log.jsonl says little)
        parent = first.parent.name
        stem = f"{parent}-{first.stem}" if parent else first.stem
    safe = UNSAFE.sub("_", stem).strip("._-")[:MAX_STEM]
    return safe or "run"


def file_name(label: str, what: str) -> str:
    """`what` ("findings.md") named after the run it was made from: "troubled-findings.md"."""
    return f"{stem_of(label)}-{what}"


def pair_file_name(label_a: str, label_b: str, what: str) -> str:
    """`what` named after two checkpoints compared: "troubled-best-vs-fixed-best-protocol.json"."""
    return f"{stem_of(label_a)}-vs-{stem_of(label_b)}-{what}"
