"""The read-cost guard: any file of at most 2 MB reads within 1 GB of address space, or is refused.

Each read runs in a child interpreter whose address space is capped (RLIMIT_AS) at what it holds after
importing inspector plus 1 GiB. The child must exit 0 having either read a RunLog or raised InspectorError;
a MemoryError, a crash or a timeout fails the test. The inputs are the hostile generators of bench/fuzz.py
(sparse keys, deep nesting, many tags) over every sample format, plus the shapes issue 11 reported.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path

import pytest
from fuzz_catalogue import load_fuzz

fuzz = load_fuzz()

BUDGET = 1 << 30
MAX_INPUT = 2 * 1024 * 1024

CHILD = r"""
import json, resource, sys
from inspector.errors import InspectorError
from inspector.runlog import read_logs
def vm(field):
    with open("/proc/self/status") as fh:
        return next(int(l.split()[1]) * 1024 for l in fh if l.startswith(field))
base = vm("VmSize:")
resource.setrlimit(resource.RLIMIT_AS, (base + int(sys.argv[1]), resource.RLIM_INFINITY))
try:
    log = read_logs(sys.argv[2:])
    out = {"ok": True, "series": len(log.series), "points": sum(len(s) for s in log.series.values()),
           "warnings": log.warnings}
except InspectorError as exc:
    out = {"ok": False, "error": str(exc)}
print(json.dumps(out))
"""


def read_capped(paths: list[Path], budget: int = BUDGET, timeout: float = 60) -> dict:
    """What a capped child made of `paths`; fails the test on a crash, MemoryError or timeout."""
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, str(budget), *map(str, paths)],
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert proc.returncode == 0, f"rc {proc.returncode} on {paths[0].name}: {proc.stderr[-1500:]}"
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _issue_inputs() -> dict[str, tuple[str, bytes]]:
    """The inputs issue 11 measured, rebuilt from its description (name kept: detection reads names)."""
    good = [json.dumps({"step": i, "loss": 1.0 / (i + 1)}).encode() for i in range(100)]
    nested = b'{"step": 50, "x": ' + b"[" * 30_000 + b"]" * 30_000 + b"}"
    sparse = [json.dumps({"step": i, **{f"k{i}_{j}": 0.5 for j in range(5)}}).encode() for i in range(20_000)]
    distinct = [json.dumps({"step": i, f"key_{i:06d}": 1.0}).encode() for i in range(60_000)]
    text_sparse = [
        f"step {i} ".encode() + b" ".join(f"k{i}_{j}: 0.5".encode() for j in range(5)) for i in range(12_000)
    ]
    return {
        "nested_30k": ("nested.jsonl", b"\n".join(good[:50] + [nested] + good[50:]) + b"\n"),
        "sparse_jsonl": ("sparse.jsonl", b"\n".join(sparse) + b"\n"),
        "distinct_keys": ("keys.jsonl", b"\n".join(distinct) + b"\n"),
        "sparse_text": ("train.log", b"\n".join(text_sparse) + b"\n"),
    }


@pytest.mark.parametrize("case", sorted(_issue_inputs()))
def test_issue_inputs_stay_within_the_budget(tmp_path: Path, case: str):
    name, data = _issue_inputs()[case]
    assert len(data) <= MAX_INPUT
    path = tmp_path / name
    path.write_bytes(data)
    result = read_capped([path])
    if case == "nested_30k":  # the good rows are kept and the deep line named
        assert result["ok"] and result["points"] >= 100, result
        assert any("51" in w for w in result["warnings"]), result["warnings"]
    else:  # sparse series are stored sparsely and capped, not refused
        assert result["ok"], result
        assert 0 < result["series"] <= 5_000, result
        assert any("series" in w for w in result["warnings"]), result["warnings"]


@pytest.mark.slow
@pytest.mark.parametrize("generator", sorted(fuzz.HOSTILE))
def test_hostile_generators_over_every_sample_stay_within_the_budget(tmp_path: Path, generator: str):
    rng = random.Random(11)
    for i, source in enumerate(fuzz.sources(tmp_path)):
        data = fuzz.HOSTILE[generator](source.data, rng)[:MAX_INPUT]
        work = tmp_path / f"case{i}"
        work.mkdir()
        path, companions = fuzz.write_case(data, source, work)
        read_capped([path, *companions])
