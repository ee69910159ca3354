"""Following a growing log: a background writer appends while a Follower polls, and after each poll the
series equal a fresh full read; a poll parses the appended bytes only; half-written lines and records
are waited for, never reported as damage."""

from __future__ import annotations

import json
import random
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tfevents_records import framed, scalar_event, version_event

from inspector.errors import InspectorError
from inspector.live import Follower, freshness
from inspector.runlog import RunLog, RunWriter, increments, jsonlines, read_logs


def assert_same_series(a: RunLog, b: RunLog) -> None:
    assert list(a.series) == list(b.series)
    for name, s in a.series.items():
        t = b.series[name]
        assert np.array_equal(s.steps, t.steps), name
        assert np.array_equal(s.values, t.values, equal_nan=True), name
    assert [(g.first_step, g.last_step, g.rows) for g in a.segments] == [
        (g.first_step, g.last_step, g.rows) for g in b.segments
    ]


def _step_line(step: int, rng: random.Random) -> bytes:
    row = {
        "type": "step",
        "step": step,
        "losses": {"bbox": rng.random(), "cls": rng.random() * 2},
        "total": rng.random() * 10,
        "lr": 1e-3,
    }
    if step % 50 == 0:
        row = {"type": "eval", "step": step, "metrics": {"map50": rng.random()}}
    return (json.dumps(row) + "\n").encode()


def _native_log(path: Path) -> None:
    with RunWriter(path, config={"loss_weights": {"bbox": 7.5, "cls": 0.5}}) as log:
        log.step(0, losses={"bbox": 1.0, "cls": 1.0}, lr=1e-3)


class ByteWriter(threading.Thread):
    """Appends `data` to `path` in random-sized pieces (cutting lines and records anywhere), pausing after
    each piece until the test has polled and compared, so each comparison sees a fixed file."""

    def __init__(self, path: Path, data: bytes, pieces: int, seed: int) -> None:
        super().__init__(daemon=True)
        rng = random.Random(seed)
        cuts = sorted(rng.sample(range(1, len(data)), pieces - 1))
        self.parts = [data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)], strict=True)]
        self.path = path
        self.wrote = threading.Event()
        self.go_on = threading.Event()

    def run(self) -> None:
        with open(self.path, "ab") as fh:
            for part in self.parts:
                fh.write(part)
                fh.flush()
                self.wrote.set()
                self.go_on.wait(10)
                self.go_on.clear()


def _follow_in_step(follower: Follower, writer: ByteWriter, fresh) -> list[int]:
    """Poll after each piece the writer appends; compare with a fresh read. The bytes parsed per poll."""
    parsed = []
    writer.start()
    for _ in writer.parts:
        assert writer.wrote.wait(10)
        writer.wrote.clear()
        poll = follower.poll()
        expected = fresh()
        if expected is None:  # not one complete row yet: the follower says so and keeps nothing
            assert poll.log is None and poll.error
        else:
            assert poll.error is None, poll.error
            assert_same_series(poll.log, expected)
            assert not any("incomplete" in w or "truncated" in w for w in poll.log.warnings)
        parsed.append(poll.parsed_bytes)
        writer.go_on.set()
    writer.join(10)
    return parsed


def _fresh(path: Path):
    def read():
        try:
            return read_logs([path])
        except Exception:
            return None

    return read


def test_native_log_followed_while_written_in_random_pieces_equals_fresh_reads(tmp_path: Path) -> None:
    path = tmp_path / "log.jsonl"
    _native_log(path)
    rng = random.Random(1)
    data = b"".join(_step_line(step, rng) for step in range(1, 400))
    follower = Follower([path])
    first = follower.poll()
    assert first.log is not None and first.log.last_step == 0
    parsed = _follow_in_step(follower, ByteWriter(path, data, 25, seed=2), _fresh(path))
    # Every byte is parsed once: the pieces' bytes, give or take the line left for the next poll.
    assert sum(parsed) == len(data)
    assert follower.poll().changed is False


def test_generic_jsonl_and_detectron2_logs_follow_too(tmp_path: Path) -> None:
    rng = random.Random(3)
    for name, row in (
        (
            "metrics.json",
            lambda i: {"iteration": i, "total_loss": rng.random(), "loss_cls": 1.0, "data_time": 0.1},
        ),
        ("train.jsonl", lambda i: {"step": i, "loss": rng.random(), "mode": "train" if i % 7 else "val"}),
    ):
        path = tmp_path / name
        path.write_bytes(b"")
        data = b"".join((json.dumps(row(i)) + "\n").encode() for i in range(300))
        follower = Follower([path])
        _follow_in_step(follower, ByteWriter(path, data, 12, seed=4), _fresh(path))
        assert follower.poll().log.format == read_logs([path]).format


def test_tensorboard_run_directory_followed_with_a_new_event_file(tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    version = version_event()
    first = run / "events.out.tfevents.1000.host"
    first.write_bytes(framed([version]))
    follower = Follower([run])
    assert follower.poll().error  # a file with no scalar yet: said, not raised
    data = framed([scalar_event(s, t, s * 0.01) for s in range(200) for t in ("loss/bbox", "loss/cls")])
    _follow_in_step(follower, ByteWriter(first, data, 15, seed=5), _fresh(run))
    # The trainer restarts and opens a second event file in the same directory.
    second = run / "events.out.tfevents.2000.host"
    second.write_bytes(framed([version] + [scalar_event(s, "loss/bbox", 1.0) for s in range(150, 260)]))
    poll = follower.poll()
    assert poll.parsed_bytes == second.stat().st_size
    assert_same_series(poll.log, read_logs([run]))
    assert poll.log.last_step == 259


def test_a_rewritten_file_is_read_again_whole(tmp_path: Path) -> None:
    path = tmp_path / "train.jsonl"
    path.write_text("".join(json.dumps({"step": i, "loss": 1.0}) + "\n" for i in range(100)))
    follower = Follower([path])
    follower.poll()
    path.write_text("".join(json.dumps({"step": i, "loss": 2.0}) + "\n" for i in range(120)))
    poll = follower.poll()
    assert not poll.incremental and poll.parsed_bytes == path.stat().st_size
    assert_same_series(poll.log, read_logs([path]))


def test_a_csv_log_is_read_whole_on_change_and_the_poll_says_so(tmp_path: Path) -> None:
    path = tmp_path / "results.csv"
    path.write_text("step,loss\n" + "".join(f"{i},{1 / (i + 1)}\n" for i in range(50)))
    follower = Follower([path])
    follower.poll()
    with open(path, "a") as fh:
        fh.write("".join(f"{i},{1 / (i + 1)}\n" for i in range(50, 60)))
    poll = follower.poll()
    assert not poll.incremental and poll.parsed_bytes == path.stat().st_size
    assert_same_series(poll.log, read_logs([path]))


def test_free_running_writer_and_follower_agree_at_the_end(tmp_path: Path) -> None:
    path = tmp_path / "log.jsonl"
    _native_log(path)
    done = threading.Event()

    def write() -> None:
        with RunWriter(path) as log:
            for step in range(1, 3000):
                log.step(step, losses={"bbox": 1 / step, "cls": 0.5}, lr=1e-3)
                if step % 300 == 0:
                    log.eval(step, {"map50": step / 3000})
        done.set()

    thread = threading.Thread(target=write, daemon=True)
    thread.start()
    follower = Follower([path])
    versions = []
    while not done.is_set():
        versions.append(follower.poll().version)
        time.sleep(0.005)
    thread.join(10)
    final = follower.poll()
    assert_same_series(final.log, read_logs([path]))
    assert final.log.last_step == 2999 and versions == sorted(versions)


def test_freshness_says_the_last_step_and_how_old_the_data_is(tmp_path: Path) -> None:
    path = tmp_path / "train.jsonl"
    path.write_text("".join(json.dumps({"step": i * 10, "loss": 1.0}) + "\n" for i in range(1235)))
    poll = Follower([path]).poll()
    assert freshness(poll, now=poll.data_at + 4) == "last step 12,340, data 4 s old"
    assert freshness(poll, now=poll.data_at + 600) == "last step 12,340, data 10 min old"


@pytest.mark.parametrize("rows", [0, 1])
def test_a_log_with_no_complete_row_yet_waits(tmp_path: Path, rows: int) -> None:
    path = tmp_path / "train.jsonl"
    path.write_text("".join(json.dumps({"step": i, "loss": 1.0}) + "\n" for i in range(rows)) + '{"step": 9')
    poll = Follower([path]).poll()
    if rows:
        assert poll.log is not None and poll.log.last_step == 0 and poll.error is None
    else:
        assert poll.log is None and str(path) in (poll.error or "")


@settings(max_examples=30, deadline=None)
@given(
    rows=st.lists(
        st.dictionaries(
            st.sampled_from(["step", "loss", "rare", "mode", "nested"]),
            st.one_of(
                st.integers(-5, 5), st.floats(allow_nan=False, width=32), st.sampled_from(["train", "val"])
            ),
            min_size=1,
        ),
        min_size=1,
        max_size=60,
    ),
    cuts=st.lists(st.integers(1, 4000), max_size=6),
)
def test_json_rows_read_in_pieces_equal_one_load(rows: list[dict], cuts: list[int]) -> None:
    """Keys that come and go, dense and sparse, numbers and strings: the rows a follower builds piece by
    piece equal one load of the whole file."""
    data = b"".join((json.dumps(r) + "\n").encode() for r in rows)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "rows.jsonl"
        path.write_bytes(b"")
        store = increments.Increments()
        for cut in [*sorted(c % len(data) for c in cuts), len(data)]:
            with open(path, "ab") as fh:
                fh.write(data[path.stat().st_size : max(cut, path.stat().st_size)])
            with increments.following(store):
                try:
                    grown = jsonlines.load(path)
                except InspectorError:
                    continue
        whole = jsonlines.load(path)
    assert grown.n_rows == whole.n_rows and np.array_equal(grown.line_numbers, whole.line_numbers)
    for kind in ("numbers", "texts"):
        a, b = getattr(grown, kind), getattr(whole, kind)
        assert set(a) == set(b)
        for name in a:
            assert np.array_equal(a[name].positions(), b[name].positions()), name
            assert list(a[name].logged()) == list(b[name].logged()), name
