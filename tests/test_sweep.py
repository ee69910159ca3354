"""inspector/sweep/ and `diagnose DIR --runs` on real sweeps written to disk: native logs by RunWriter,
TensorBoard run directories by tensorboard's own EventFileWriter, broken and foreign files beside them.

`write_sweep` (3 configs × 4 seeds whose diagnoses differ) is shared with tests/test_runs_page.py and the
browser test.
"""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from tensorboard.compat.proto import event_pb2, summary_pb2
from tensorboard.summary.writer.event_file_writer import EventFileWriter

from inspector.errors import InspectorError
from inspector.runlog import RunWriter
from inspector.sweep import (
    Curve,
    GroupBy,
    band,
    better,
    discover,
    flatten_config,
    group_by_key,
    group_by_pattern,
    group_findings,
    group_runs,
    main_metric,
    read_run,
    read_sweep,
    varying_keys,
    walk,
)
from inspector.sweep.bands import curve_names, group_band
from inspector.sweep.grouping import NO_MATCH
from inspector.sweep.reading import read_runs
from inspector.sweep.summaries import bin_means, nice_width

REPO = Path(__file__).resolve().parents[1]

# Three configs whose diagnoses differ: `base` evaluates well (no findings); `heavy` weights bbox 7.5 and
# evaluates poorly, so bbox dominates in the 3 seeds that stay poor (seed 3 reaches 0.3 mAP50); `collapse`
# drops its lr to 1e-9 at 40% of the run and evaluates poorly, so the lr collapsed in every seed.
CONFIGS = {
    "base": {"weights": {"bbox": 1.0, "cls": 1.0}, "floor": 1e-5},
    "heavy": {"weights": {"bbox": 7.5, "cls": 0.5}, "floor": 1e-5},
    "collapse": {"weights": {"bbox": 1.0, "cls": 1.0}, "floor": 1e-9},
}
SEEDS = 4
STEPS = 300
EVAL_EVERY = 50


def write_run(path: Path, config: str, seed: int, steps: int = STEPS) -> Path:
    """One native run of `config` (see CONFIGS) with seeded noise and eval every EVAL_EVERY steps."""
    c = CONFIGS[config]
    rng = np.random.default_rng(seed)
    t = np.arange(steps, dtype=np.float64)
    bbox = (0.4 + np.exp(-t / 80)) * (1 + 0.08 * rng.standard_normal(steps))
    cls = (0.6 + 1.5 * np.exp(-t / 60)) * (1 + 0.08 * rng.standard_normal(steps))
    if config == "collapse":
        lr = np.where(t < 0.4 * steps, 1e-3, c["floor"])
    else:
        lr = c["floor"] + (1e-3 - c["floor"]) * 0.5 * (1 + np.cos(np.pi * t / (steps - 1)))
    peak = {"base": 0.45, "heavy": 0.06 if seed < 3 else 0.3, "collapse": 0.04}[config]
    peak *= 1 + 0.05 * rng.standard_normal()
    config_dict = {
        "lr": 1e-3,
        "lr_floor": c["floor"],
        "seed": seed,
        "loss_weights": c["weights"],
        "model": {"depth": 3, "strides": [8, 16, 32]},
    }
    with RunWriter(path, config=config_dict) as w:
        for i in range(steps):
            w.step(i, losses={"bbox": bbox[i], "cls": cls[i]}, lr=lr[i], positives=10.0)
            if (i + 1) % EVAL_EVERY == 0:
                rise = 1 - np.exp(-i / 100)
                w.eval(i, {"map50": peak * rise, "map50_95": 0.55 * peak * rise})
    return path


def write_sweep(root: Path, nested: bool = False) -> Path:
    """3 configs × 4 seeds under `root`: `<config>_seed<k>/log.jsonl` (or `<config>/seed<k>/log.jsonl`)."""
    for config in CONFIGS:
        for seed in range(SEEDS):
            run = root / config / f"seed{seed}" if nested else root / f"{config}_seed{seed}"
            write_run(run / "log.jsonl", config, seed)
    return root


def write_events(directory: Path, steps: int = 50, tag: str = "loss/total") -> None:
    """A real TensorBoard event file in `directory` (tensorboard's own writer)."""
    writer = EventFileWriter(str(directory))
    for s in range(steps):
        value = summary_pb2.Summary.Value(tag=tag, simple_value=1.0 / (s + 1))
        writer.add_event(
            event_pb2.Event(step=s, wall_time=time.time(), summary=summary_pb2.Summary(value=[value]))
        )
    writer.close()


@pytest.fixture(scope="module")
def sweep_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_sweep(tmp_path_factory.mktemp("sweep"))


@pytest.fixture(scope="module")
def sweep(sweep_root: Path):
    return read_sweep(discover(sweep_root))


# ------------------------------------------------------------------------------------------------ discovery


def test_runs_are_named_by_their_folder_or_by_their_file(tmp_path: Path) -> None:
    write_run(tmp_path / "lr1e-3" / "seed2" / "log.jsonl", "base", 2, steps=20)
    write_run(tmp_path / "lr1e-3" / "seed10" / "log.jsonl", "base", 10, steps=20)
    (tmp_path / "lr1e-3" / "seed2" / "args.yaml").write_text("lr0: 0.001\n")
    write_run(tmp_path / "flat" / "a_seed0.jsonl", "base", 0, steps=20)
    write_run(tmp_path / "flat" / "a_seed1.jsonl", "base", 1, steps=20)
    found = discover(tmp_path)
    assert [r.name for r in found.runs] == [
        "flat/a_seed0.jsonl",
        "flat/a_seed1.jsonl",
        "lr1e-3/seed2",  # natural order: seed2 before seed10
        "lr1e-3/seed10",
    ]
    seed2 = found.runs[2]
    assert seed2.kind == "file" and seed2.companions == (str(tmp_path / "lr1e-3" / "seed2" / "args.yaml"),)
    assert not found.truncated and not found.skipped


def test_a_tensorboard_run_directory_is_one_run(tmp_path: Path) -> None:
    run = tmp_path / "tb_seed0"
    write_events(run)
    write_events(run)  # a relaunch: a second event file in the same directory
    write_events(run / "eval", tag="map50")  # one level below: read with the run, as eval/map50
    assert len(list(run.glob("events.out.tfevents.*"))) == 2
    found = discover(tmp_path)
    assert [(r.name, r.kind, r.format) for r in found.runs] == [("tb_seed0", "tensorboard_dir", "tfevents")]
    (row,) = read_sweep(found).rows
    assert row.read and row.format == "tfevents" and row.n_steps == 50
    assert [m.name for m in row.metrics] == ["eval/map50"]


def test_a_frameworks_own_log_speaks_for_its_folder(tmp_path: Path) -> None:
    run = tmp_path / "d2_seed0"
    write_events(run)
    write_run(run / "log.jsonl", "base", 0, steps=20)
    (run / "log.txt").write_text("".join(f"step={i} loss={1 / (i + 1):.4f}\n" for i in range(20)))
    (found,) = discover(tmp_path).runs
    assert (found.name, found.format) == ("d2_seed0", "inspector_jsonl")
    assert sorted(Path(p).name for p in found.alternates) == ["d2_seed0", "log.txt"]


def test_unreadable_runs_keep_their_rows_and_foreign_files_are_skipped(tmp_path: Path) -> None:
    write_run(tmp_path / "good" / "log.jsonl", "base", 0, steps=30)
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "log.jsonl").write_bytes(b"")  # died before its first line
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "events.out.tfevents.1.host").write_bytes(b"junk" * 1000)
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "notes.txt").write_text("what I tried\nand why\n")  # no reader claims it
    (tmp_path / "good" / "model.png").write_bytes(b"\x89PNG")
    sweep = read_sweep(discover(tmp_path))
    rows = {r.name: r for r in sweep.rows}
    assert list(rows) == ["empty", "good", "junk"]
    assert rows["good"].read and rows["good"].n_steps == 30
    assert "the file is empty" in rows["empty"].error
    assert rows["junk"].error and str(tmp_path / "junk") in rows["junk"].error
    assert any(s.startswith("notes/notes.txt: not a training log") for s in sweep.discovery.skipped)
    assert set(sweep.curves) == {"good"}


def test_the_walk_is_bounded_and_says_so(tmp_path: Path) -> None:
    for k in range(5):
        write_run(tmp_path / f"run{k}" / "log.jsonl", "base", k, steps=10)
    write_run(tmp_path / "a" / "b" / "c" / "log.jsonl", "base", 9, steps=10)
    capped = discover(tmp_path, max_runs=3)
    assert len(capped.runs) == 3 and any("first 3 runs" in t for t in capped.truncated)
    shallow = discover(tmp_path, max_depth=1)
    assert "a/b/c" not in [r.name for r in shallow.runs]
    assert any("deeper than 1 level" in t for t in shallow.truncated)
    assert [r.name for r in discover(tmp_path).runs][0] == "a/b/c"


def test_symlinks_are_not_followed_and_the_key_follows_content(tmp_path: Path) -> None:
    root = tmp_path / "root"
    write_run(root / "in" / "log.jsonl", "base", 0, steps=10)
    write_run(tmp_path / "outside" / "log.jsonl", "base", 1, steps=10)
    (root / "link").symlink_to(tmp_path / "outside")
    found = discover(root)
    assert [r.name for r in found.runs] == ["in"]
    assert any("symbolic link" in s for s in found.skipped)
    before = walk(root).key
    assert walk(root).key == before
    with open(root / "in" / "log.jsonl", "a") as fh:
        fh.write('{"type": "step", "step": 10, "losses": {"bbox": 1.0}}\n')
    assert walk(root).key != before


def test_not_a_directory_is_refused(tmp_path: Path) -> None:
    log = write_run(tmp_path / "log.jsonl", "base", 0, steps=10)
    with pytest.raises(InspectorError, match="not a directory"):
        discover(log)


# -------------------------------------------------------------------------------------------------- reading


def test_rows_summarize_each_run(sweep) -> None:
    assert len(sweep.rows) == len(CONFIGS) * SEEDS and all(r.read for r in sweep.rows)
    row = sweep.row("heavy_seed0")
    assert (row.format, row.framework, row.n_steps, row.last_step) == (
        "inspector_jsonl",
        "native",
        STEPS,
        STEPS - 1,
    )
    m = row.metric("eval/map50")
    assert m.better == "max" and m.points == STEPS // EVAL_EVERY and m.last_step == STEPS - 1
    assert m.best == m.last  # the curve only rises
    assert row.loss_name == "loss/total" and row.last_loss > 0
    assert row.top.kind == "cause" and row.top.id == "loss_balance"
    assert [f.id for f in row.findings] == ["dominant_component"]
    assert row.config["loss_weights.bbox"] == 7.5 and row.config["model.depth"] == 3
    assert "model.strides" not in row.config  # lists are not scalars
    assert sweep.row("base_seed0").top is None and sweep.row("base_seed0").judged
    assert main_metric(sweep.rows) == "eval/map50"


def test_best_is_the_max_of_a_metric_and_the_min_of_a_loss_and_undefined_points_are_no_values(
    tmp_path: Path,
) -> None:
    path = tmp_path / "log.jsonl"
    with RunWriter(path, config={"loss_weights": {"bbox": 1.0}}) as w:
        for i, (ap, val) in enumerate([(0.2, 1.5), (0.5, 0.9), (float("nan"), 1.2), (-1.0, 1.1), (0.4, 1.3)]):
            w.step(i * 10, losses={"bbox": 1.0 / (i + 1)}, lr=1e-3)
            w.eval(i * 10, {"map50": ap, "loss": val})
    result = read_run(discover(tmp_path).runs[0])
    ap, val = result.row.metric("eval/map50"), result.row.metric("eval/loss")
    assert (ap.better, ap.best, ap.best_step, ap.last, ap.last_step, ap.points) == (
        "max",
        0.5,
        10,
        0.4,
        40,
        3,
    )
    assert (val.better, val.best, val.best_step, val.last) == ("min", 0.9, 10, 1.3)
    assert list(result.curves["eval/map50"].steps) == [0, 10, 40]  # NaN and −1 are not drawn


def test_which_way_is_better_comes_from_the_name() -> None:
    assert better("eval/map50") == better("metrics/mAP50-95(B)") == better("bbox/AP50") == "max"
    assert better("loss/total") == better("val/box_loss") == better("loss_cls") == "min"
    assert better("lr") is None and better("positives") is None and better("time") is None


def test_parallel_reading_gives_the_serial_rows(sweep_root: Path, sweep) -> None:
    specs = discover(sweep_root).runs
    done: list[int] = []
    threads = read_runs(specs, "threads", workers=2, progress=lambda d, n: done.append(d))
    assert tuple(r.row for r in threads) == sweep.rows and done == list(range(1, len(specs) + 1))
    processes = read_runs(specs[:3], "processes", workers=2)
    assert tuple(r.row for r in processes) == sweep.rows[:3]
    curve = processes[0].curves["loss/total"]
    assert np.array_equal(curve.values, sweep.curves[sweep.rows[0].name]["loss/total"].values)


def _forkserver_workers() -> list[int]:
    """Pids of the worker processes our forkserver forked (Linux /proc: children of a forkserver process)."""

    def cmdline(pid: str) -> bytes:
        try:
            return Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            return b""

    workers = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or b"forkserver" not in cmdline(proc.name):
            continue
        try:
            ppid = (proc / "stat").read_text().rsplit(")", 1)[1].split()[1]
        except (OSError, IndexError):
            continue
        if ppid != str(os.getpid()) and b"forkserver" in cmdline(ppid):
            workers.append(int(proc.name))
    return workers


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="finds the worker processes through /proc")
def test_a_worker_process_killed_mid_sweep_costs_no_run(sweep_root: Path, sweep) -> None:
    specs = discover(sweep_root).runs
    killed: list[int] = []

    def kill_one(done: int, total: int) -> None:  # what the kernel's OOM killer does to a reader
        if not killed and (workers := _forkserver_workers()):
            os.kill(workers[0], signal.SIGKILL)
            killed.append(workers[0])

    results = read_runs(specs, "processes", workers=2, progress=kill_one)
    assert killed
    assert tuple(r.row for r in results) == sweep.rows  # the runs the dead worker took down were read again


def test_config_is_flattened_to_dotted_scalar_keys() -> None:
    config = {"lr": 1e-3, "model": {"depth": 3, "head": {"act": "silu"}, "widths": [1, 2]}, "x": None}
    assert flatten_config(config) == {"lr": 1e-3, "x": None, "model.depth": 3, "model.head.act": "silu"}
    assert flatten_config({"bad": float("nan")}) == {"bad": "nan"}


def test_long_series_become_bin_means_on_a_1_2_5_grid() -> None:
    assert [nice_width(x) for x in (0.3, 1, 1.5, 3, 7, 10.01, 40)] == [1, 1, 2, 5, 10, 20, 50]
    steps = np.arange(10_000)
    values = np.sin(steps / 300.0)
    values[:5] = np.nan
    curve = bin_means(steps, values, max_points=1_000)
    assert curve.width == 10 and len(curve) == 1_000 and curve.steps[1] == 10
    expected = np.nanmean(values.reshape(1_000, 10), axis=1)
    np.testing.assert_allclose(curve.values, expected)
    short = bin_means(steps[:500], values[:500], max_points=1_000)
    assert short.width == 1 and np.array_equal(short.steps, steps[:500])


# ------------------------------------------------------------------------------------------------- grouping


def test_groups_by_name_glob_the_seed() -> None:
    from inspector.sweep import RunRow

    rows = [RunRow(n, n) for n in ("lr1e-3_seed2", "lr1e-3_seed5", "lr1e-4/Seed-1", "lr1e-4/seed_0", "other")]
    groups = group_by_pattern(rows)
    assert [(g.name, g.members) for g in groups] == [
        ("lr1e-3_seed*", ("lr1e-3_seed2", "lr1e-3_seed5")),
        ("lr1e-4/Seed-*", ("lr1e-4/Seed-1",)),
        ("lr1e-4/seed_*", ("lr1e-4/seed_0",)),
        ("other", ("other",)),
    ]
    by_lr = group_by_pattern(rows, r"^(lr[^_/]+)")
    assert [(g.name, len(g.members)) for g in by_lr] == [("lr1e-3", 2), ("lr1e-4", 2), (NO_MATCH, 1)]
    whole = group_by_pattern(rows, r"lr1e-\d")  # no group: the whole match names the group
    assert [g.name for g in whole] == ["lr1e-3", "lr1e-4", NO_MATCH]
    with pytest.raises(InspectorError, match="not a valid name pattern"):
        group_by_pattern(rows, "lr(")
    assert [g.members for g in group_runs(rows, GroupBy("none"))] == [(r.name,) for r in rows]


def test_groups_by_config_key_in_numeric_order(sweep) -> None:
    groups = group_by_key(sweep.rows, "lr_floor")
    assert [(g.name, len(g.members)) for g in groups] == [("lr_floor=1e-09", 4), ("lr_floor=1e-05", 8)]
    bbox = group_runs(sweep.rows, GroupBy("key", "loss_weights.bbox"))
    assert [g.name for g in bbox] == ["loss_weights.bbox=1", "loss_weights.bbox=7.5"]
    assert group_by_key(sweep.rows, "nope")[0].name == "nope unset"
    assert {"seed", "lr_floor", "loss_weights.bbox", "loss_weights.cls"} <= set(varying_keys(sweep.rows))
    assert "lr" not in varying_keys(sweep.rows) and "model.depth" not in varying_keys(sweep.rows)


def test_group_findings_count_the_runs_each_finding_fired_in(sweep) -> None:
    groups = {g.name: g for g in group_by_pattern(sweep.rows)}
    assert list(groups) == ["base_seed*", "collapse_seed*", "heavy_seed*"]
    rows = {r.name: r for r in sweep.rows}

    def counts(name: str):
        return group_findings([rows[n] for n in groups[name].members])

    assert counts("base_seed*") == ()
    (collapsed,) = counts("collapse_seed*")
    assert (collapsed.id, len(collapsed.runs), collapsed.of) == ("lr_collapsed", 4, 4)
    (dominant,) = counts("heavy_seed*")
    assert dominant.text == "dominant_component in 3 of 4 runs"
    assert dominant.runs == ("heavy_seed0", "heavy_seed1", "heavy_seed2") and dominant.severity == "warning"
    everything = group_findings(sweep.rows)
    assert [c.id for c in everything] == ["lr_collapsed", "dominant_component"] and everything[0].of == 12


# ---------------------------------------------------------------------------------------------------- bands


def test_band_on_uneven_steps_matches_numpy_by_hand() -> None:
    a = Curve(np.array([0, 10, 20, 30]), np.array([1.0, 2.0, 3.0, 4.0]))
    b = Curve(np.array([0, 20, 30, 40]), np.array([3.0, 5.0, np.nan, 8.0]))
    c = Curve(np.array([0, 10, 20]), np.array([2.0, 6.0, 1.0]))
    got = band([a, b, c])
    # steps logged by at least 2 members with a finite value: 0 (a, b, c), 10 (a, c), 20 (a, b, c)
    # (30: a only, b's NaN is no value; 40: b only)
    assert list(got.steps) == [0, 10, 20] and list(got.count) == [3, 2, 3] and got.members == 3
    by_hand = [np.array([1.0, 3.0, 2.0]), np.array([2.0, 6.0]), np.array([3.0, 5.0, 1.0])]
    np.testing.assert_allclose(got.mean, [x.mean() for x in by_hand])
    np.testing.assert_allclose(got.std, [x.std(ddof=1) for x in by_hand])
    np.testing.assert_allclose(got.min, [x.min() for x in by_hand])
    np.testing.assert_allclose(got.max, [x.max() for x in by_hand])
    np.testing.assert_allclose(got.lower("std"), got.mean - got.std)
    assert np.array_equal(got.upper("minmax"), got.max)
    every = band([a, b, c], min_members=1)
    assert list(every.steps) == [0, 10, 20, 30, 40] and math.isnan(every.std[-1]) and every.mean[-1] == 8.0


def test_a_band_of_one_run_is_its_line() -> None:
    one = band([Curve(np.array([0, 5]), np.array([1.0, 2.0]))])
    assert list(one.mean) == [1.0, 2.0] and np.isnan(one.std).all() and list(one.min) == [1.0, 2.0]
    assert len(band([])) == 0


def test_group_bands_of_the_sweep(sweep) -> None:
    groups = group_by_pattern(sweep.rows)
    names = curve_names(sweep)
    assert names[:2] == ["eval/map50", "eval/map50_95"] and "loss/total" in names and "lr" not in names
    got = group_band(sweep, groups[0], "eval/map50")
    assert list(got.steps) == list(range(EVAL_EVERY - 1, STEPS, EVAL_EVERY)) and set(got.count) == {SEEDS}
    lasts = [sweep.row(n).metric("eval/map50").last for n in groups[0].members]
    assert got.mean[-1] == pytest.approx(np.mean(lasts)) and got.std[-1] == pytest.approx(
        np.std(lasts, ddof=1)
    )


# ------------------------------------------------------------------------------------------------------ CLI


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "inspector", *args], cwd=REPO, capture_output=True, text=True, timeout=300
    )


def test_cli_runs_json_is_one_object_with_a_record_per_run(sweep_root: Path) -> None:
    (sweep_root / "broken").mkdir(exist_ok=True)
    (sweep_root / "broken" / "log.jsonl").write_bytes(b"")
    try:
        result = run_cli("diagnose", str(sweep_root), "--runs", "--json")
    finally:
        (sweep_root / "broken" / "log.jsonl").unlink()
        (sweep_root / "broken").rmdir()
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)  # exactly one JSON object: anything else fails to parse
    assert {"root", "runs", "groups"} <= set(report) and report["root"] == str(sweep_root)
    assert len(report["runs"]) == len(CONFIGS) * SEEDS + 1
    broken = next(r for r in report["runs"] if r["name"] == "broken")
    assert "the file is empty" in broken["error"]
    heavy = next(r for r in report["runs"] if r["name"] == "heavy_seed0")
    assert heavy["top_finding"]["id"] == "loss_balance" and heavy["metrics"]["eval/map50"]["better"] == "max"
    groups = {g["name"]: g for g in report["groups"]}
    assert groups["heavy_seed*"]["findings"][0] | {"runs": None} == {
        "id": "dominant_component",
        "title": "Weighted bbox dominates the objective",
        "severity": "warning",
        "count": 3,
        "of": 4,
        "runs": None,
    }
    assert groups["broken"]["unreadable"] == ["broken"]
    assert groups["base_seed*"]["metrics"]["eval/map50"]["n"] == SEEDS


def test_cli_runs_markdown_and_grouping_by_key(sweep_root: Path) -> None:
    result = run_cli("diagnose", str(sweep_root), "--runs", "--group-by", "lr_floor")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert out.startswith(f"# Runs under {sweep_root}") and "| run | format | steps |" in out
    assert "### lr_floor=1e-09 (4 runs)" in out and "**lr_collapsed** in 4 of 4 runs" in out
    assert out.count("\n| ") == len(CONFIGS) * SEEDS + 1  # the header and one line per run


def test_cli_runs_refuses_a_file_in_one_line(tmp_path: Path) -> None:
    log = write_run(tmp_path / "log.jsonl", "base", 0, steps=10)
    result = run_cli("diagnose", str(log), "--runs")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "not a directory" in result.stderr


def test_worker_processes_do_not_run_a_streamlit_page_again(sweep_root: Path, sweep) -> None:
    """Inside Streamlit `__main__` is the page being run (AppTest leaves it there); a worker process must
    not run that page again, and the page's module is put back once the workers started."""
    import types

    page = types.ModuleType("__main__")
    page.__file__ = str(Path(__file__).resolve().parents[1] / "pages" / "5_Runs.py")
    saved = sys.modules["__main__"]
    sys.modules["__main__"] = page
    try:
        results = read_runs(discover(sweep_root).runs[:3], "processes", workers=2)
        assert sys.modules["__main__"] is page
    finally:
        sys.modules["__main__"] = saved
    assert tuple(r.row for r in results) == sweep.rows[:3]
