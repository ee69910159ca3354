"""The readers' contract under damaged input, and partial logs keep every complete row.

Contract: on any bytes, detect/read_log/read_logs return a RunLog or raise InspectorError naming the
file; nothing else escapes, nothing hangs. The mutation catalogue lives in bench/fuzz.py (which runs
10,000 cases); here hypothesis draws a few hundred, reproducibly (derandomize=True).
"""

from __future__ import annotations

import json
import random
import re
import struct
import tempfile
from pathlib import Path

import numpy as np
import pytest
from fuzz_catalogue import load_fuzz, replayable
from hypothesis import given
from hypothesis import strategies as st

from inspector.errors import InspectorError
from inspector.runlog import RunLog, Series, detect, formats, read_log

fuzz = load_fuzz()
SMALL = [n for n in fuzz.MUTATIONS if not n.startswith("huge")]
HUGE = [n for n in fuzz.MUTATIONS if n.startswith("huge")]


@pytest.fixture(scope="module")
def seeds(samples, tmp_path_factory) -> list:
    return fuzz.sources(tmp_path_factory.mktemp("native"))


def _assert_contract(data: bytes, source, mutation: str, workdir: Path) -> None:
    failures = fuzz.run_case(data, source, mutation, workdir)
    assert not failures, "\n".join(f"[{f.format}] {f.source} / {f.mutation}: {f.problem}" for f in failures)


# --- the harness itself can fail ------------------------------------------------------------------


def test_check_runlog_flags_unsorted_steps():
    series = Series("m", np.array([2, 1], np.int64), np.array([0.0, 1.0]))
    assert "strictly increasing" in fuzz.check_runlog(RunLog("x", "csv", "generic", {"m": series}))


def test_every_mutation_changes_something(seeds):
    rng = random.Random(0)
    source = next(s for s in seeds if s.label.startswith("native"))
    for name, mutate in fuzz.MUTATIONS.items():
        if name == "truncate":
            continue  # may keep the whole file by design
        assert mutate(source.data, rng) != source.data, name


# --- contract: every sample and our native log, every mutation, auto + every forced format -------


def test_every_sample_reads_unmutated(seeds, tmp_path):
    for source in seeds:
        path = tmp_path / source.name
        path.write_bytes(source.data)
        assert isinstance(read_log(path, format=detect(path)), RunLog), source.label


@pytest.mark.parametrize("mutation", SMALL)
def test_each_mutation_on_each_sample(seeds, tmp_path, mutation):
    rng = random.Random(mutation)
    for source in seeds:
        _assert_contract(fuzz.MUTATIONS[mutation](source.data, rng), source, mutation, tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize("mutation", HUGE)
def test_huge_lines_on_each_sample(seeds, tmp_path, mutation):
    rng = random.Random(mutation)
    for source in seeds:
        _assert_contract(fuzz.MUTATIONS[mutation](source.data, rng), source, mutation, tmp_path)


@pytest.mark.slow
@replayable(250, slow_ok=True)
@given(data=st.data())
def test_stacked_mutations_hypothesis(seeds, tmp_path, data):
    source = data.draw(st.sampled_from(seeds), label="source")
    names = data.draw(st.lists(st.sampled_from(SMALL), min_size=1, max_size=3), label="mutations")
    rng = data.draw(st.randoms(use_true_random=False), label="rng")
    body = source.data
    for name in names:
        body = fuzz.MUTATIONS[name](body, rng)
    _assert_contract(body, source, "+".join(names), tmp_path)


@replayable(40)
@given(
    body=st.binary(max_size=2048),
    name=st.sampled_from(
        [
            "log.jsonl",
            "results.csv",
            "metrics.json",
            "scalars.json",
            "x.log.json",
            "log.txt",
            "events.out.tfevents.1.host.1.0",
        ]
    ),
)
def test_arbitrary_bytes_hypothesis(tmp_path, body, name):
    source = fuzz.Source("random", name, body)
    _assert_contract(body, source, "random", tmp_path)


def test_missing_and_directory_inputs_raise_inspector_error(tmp_path):
    for fmt in [None, *formats()]:
        with pytest.raises(InspectorError, match="nope"):
            read_log(tmp_path / "nope", format=fmt) if fmt else detect(tmp_path / "nope")
    empty_dir = tmp_path / "run"
    empty_dir.mkdir()
    for fmt in [None, *formats()]:
        try:
            read_log(empty_dir, format=fmt)
        except InspectorError as exc:
            assert str(empty_dir) in str(exc)


# --- partial data: a log cut at a random byte keeps every complete row before the cut ------------


def _line_records(data: bytes, step_of) -> list[tuple[int, int, int | None]]:
    """(start, end, step or None) per line, `end` past its newline."""
    out, pos = [], 0
    for line in data.splitlines(keepends=True):
        out.append((pos, pos + len(line), step_of(line)))
        pos += len(line)
    return out


def _json_step(key: str):
    def step_of(line: bytes) -> int | None:
        try:
            obj = json.loads(line)
        except ValueError:
            return None
        value = obj.get(key) if isinstance(obj, dict) else None
        return int(value) if isinstance(value, (int, float)) else None

    return step_of


def _csv_step(line: bytes) -> int | None:
    try:
        return int(float(line.split(b",")[0]))
    except ValueError:
        return None


def _regex_step(pattern: bytes):
    compiled = re.compile(pattern)

    def step_of(line: bytes) -> int | None:
        m = compiled.search(line)
        return int(m.group(1)) if m else None

    return step_of


def _tfevents_records(data: bytes) -> list[tuple[int, int, int | None]]:
    """(start, end, step) per TFRecord: 8-byte length, 4-byte CRC, payload, 4-byte CRC."""
    from tensorboard.compat.proto import event_pb2

    out, pos = [], 0
    while pos + 12 <= len(data):
        (length,) = struct.unpack("<Q", data[pos : pos + 8])
        end = pos + 12 + length + 4
        event = event_pb2.Event.FromString(data[pos + 12 : pos + 12 + length])
        out.append((pos, end, int(event.step) if event.summary.value else None))
        pos = end
    return out


def _native_log(tmp: Path) -> Path:
    return fuzz.write_native(tmp / "native.jsonl", steps=300)


def _generic_jsonl(tmp: Path) -> Path:
    path = tmp / "generic.jsonl"
    rng = np.random.default_rng(1)
    path.write_text(
        "".join(
            json.dumps({"step": s * 10, "loss": float(rng.random()), "acc": float(rng.random())}) + "\n"
            for s in range(300)
        )
    )
    return path


def _generic_csv(tmp: Path) -> Path:
    path = tmp / "table.csv"
    rng = np.random.default_rng(2)
    rows = "".join(f"{s},{rng.random():.6f},{rng.random():.6f}\n" for s in range(300))
    path.write_text("step,loss,acc\n" + rows)
    return path


def _kv_text(tmp: Path) -> Path:
    path = tmp / "train.log"
    rng = np.random.default_rng(3)
    path.write_text(
        "".join(f"step={s} loss={rng.random():.5f} lr={1e-3 * (1 - s / 400):.6f}\n" for s in range(300))
    )
    return path


def _sample(rel: str):
    return lambda tmp: fuzz.SAMPLES / rel


PARTIAL_CASES = {
    "native_jsonl": (_native_log, _json_step("step")),
    "generic_jsonl": (_generic_jsonl, _json_step("step")),
    "csv": (_generic_csv, _csv_step),
    "ultralytics_csv": (_sample("ultralytics_csv/yolov8n-ados-oldstyle/results.csv"), _csv_step),
    "yolov5_csv": (_sample("ultralytics_csv/yolov5s-lego/results.csv"), _csv_step),
    "detectron2_metrics": (
        _sample("detectron2_metrics/frcnn-fruits-eval/metrics.json"),
        _json_step("iteration"),
    ),
    "text_key_value": (_kv_text, _regex_step(rb"step=(\d+)")),
    "text_detectron2": (
        _sample("text_log/detectron2-frcnn-nyu/log_semi-supervised-to-supervised.txt"),
        _regex_step(rb"iter: (\d+)"),
    ),
    "tfevents": (
        _sample("tfevents/frcnn-fruits-d2/events.out.tfevents.1628430255.db4a6b63f2f6.1641.3"),
        None,
    ),
}


def _assert_prefix_kept(full: RunLog, cut: RunLog, before: int | None, label: str) -> None:
    """Every point of `full` with step < `before` is in `cut` with the identical value (NaN = NaN)."""
    for name, series in full.series.items():
        wanted = series.steps < before if before is not None else np.ones(len(series), bool)
        if not wanted.any():
            continue
        got = cut.series.get(name)
        assert got is not None, f"{label}: series {name!r} lost"
        idx = np.searchsorted(got.steps, series.steps[wanted])
        assert np.all(idx < len(got)) and np.array_equal(
            got.steps[np.minimum(idx, len(got) - 1)], series.steps[wanted]
        ), f"{label}: {name} steps lost"
        np.testing.assert_array_equal(got.values[idx], series.values[wanted], err_msg=f"{label}: {name}")


@pytest.mark.parametrize("case", list(PARTIAL_CASES))
@replayable(15)
@given(fraction=st.floats(0.05, 1.0))
def test_cut_log_keeps_every_complete_row(samples, tmp_path, case, fraction):
    make, step_of = PARTIAL_CASES[case]
    tmp = Path(tempfile.mkdtemp(dir=tmp_path))  # tmp_path is shared by every hypothesis example
    original = make(tmp)
    data = original.read_bytes()
    records = _tfevents_records(data) if step_of is None else _line_records(data, step_of)
    cut_at = int(fraction * len(data))
    # The step of the line (record) the cut falls in, or of the next one that has a step.
    before = next((step for start, end, step in records if end > cut_at and step is not None), None)
    full = read_log(original)
    path = tmp / "cut" / original.name
    path.parent.mkdir()
    path.write_bytes(data[:cut_at])
    if before is not None and not any(s.steps[0] < before for s in full.series.values() if len(s)):
        return  # the cut falls before the first complete row: nothing to keep
    cut = read_log(path, format=full.format)
    _assert_prefix_kept(full, cut, before, f"{case} cut at byte {cut_at}/{len(data)}")


# --- differential: the piecewise readers give what a whole-file read gives, on damaged input too ---


@pytest.mark.parametrize("mutation", SMALL)
def test_pieces_and_chunks_match_whole_reads_under_mutation(seeds, tmp_path, mutation):
    # Any bytes may reach the text reader (it is the fallback); piece edges then land inside whatever the
    # mutation broke. Event files are also read in 1-39-record chunks.
    rng = random.Random(f"pieces-{mutation}")
    for source in seeds:
        path = tmp_path / source.name
        path.write_bytes(fuzz.MUTATIONS[mutation](source.data, rng))
        assert fuzz.piecewise_problem(path, rng) is None, (source.label, mutation)


def test_piecewise_check_can_fail(tmp_path, monkeypatch):
    from inspector.runlog import text_dialects

    path = tmp_path / "train.log"
    path.write_text("".join(f"step={i} loss={1 / (i + 1):.4f}\n" for i in range(400)))
    assert fuzz.piecewise_problem(path, random.Random(0)) is None
    # A parser that forgets the step carried from the previous piece must be caught.
    real_feed = text_dialects.GenericParser.feed

    def forgetful(self, lines, first):
        self.last = None
        return real_feed(self, lines, first)

    monkeypatch.setattr(text_dialects.GenericParser, "feed", forgetful)
    path.write_text("".join(f"step={i} loss=1\n" + "val_loss=2\n" for i in range(400)))
    assert "pieces read differently" in fuzz.piecewise_problem(path, random.Random(0))
