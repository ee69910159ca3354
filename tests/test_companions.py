"""Companion files (args.yaml, hyp.yaml, MMEngine config dumps): bounded, and never the reason a log is
refused.

Issue 11, items 3 and 8: a 20 MB MMEngine `.py` companion took 4.4 GB and then the log was refused; a
config dump of deeply nested YAML lists refused the log; gains of NaN, -5, inf or strings were taken
silently; a rejected YAML was reported as "no args.yaml … uploaded".
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from inspector import limits
from inspector.runlog import companions, read_logs
from inspector.runlog.readers import mmdet_json

GOOD_ARGS = "task: detect\nmodel: yolov8n.pt\nepochs: 3\nlr0: 0.01\nbox: 7.5\ncls: 0.5\ndfl: 1.5\n"

CHILD = r"""
import json, resource, sys
from inspector.errors import InspectorError
from inspector.runlog import read_logs
def vm():
    with open("/proc/self/status") as fh:
        return next(int(l.split()[1]) * 1024 for l in fh if l.startswith("VmSize:"))
resource.setrlimit(resource.RLIMIT_AS, (vm() + (1 << 30), resource.RLIM_INFINITY))
try:
    log = read_logs(sys.argv[1:])
    out = {"ok": True, "points": sum(len(s) for s in log.series.values()), "warnings": log.warnings,
           "notes": log.warnings, "weights": log.config.get("loss_weights", {})}
except InspectorError as exc:
    out = {"ok": False, "error": str(exc)}
print(json.dumps(out))
"""


def _read_capped(paths: list[Path]) -> dict:
    """What a child capped at its import footprint + 1 GiB of address space made of `paths`; it must exit
    0."""
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, *map(str, paths)], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _results_csv(tmp_path: Path) -> Path:
    path = tmp_path / "results.csv"
    rows = "".join(f"{e},{1.0 / e:.4f},{2.0 / e:.4f},{1.5 / e:.4f},{e / 10:.3f},0.01\n" for e in range(1, 4))
    path.write_text("epoch,train/box_loss,train/cls_loss,train/dfl_loss,metrics/mAP50(B),lr/pg0\n" + rows)
    return path


def _scalars_json(tmp_path: Path) -> Path:
    path = tmp_path / "scalars.json"
    path.write_text(
        "".join(
            json.dumps(
                {
                    "lr": 0.01,
                    "data_time": 0.1,
                    "loss": 1.0 / s,
                    "loss_cls": 0.5 / s,
                    "time": 0.2,
                    "epoch": 1,
                    "iter": s,
                    "step": s,
                }
            )
            + "\n"
            for s in range(1, 11)
        )
    )
    return path


def _write(path: Path, text: str | bytes) -> Path:
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return path


# --- item 3: what a companion may cost -------------------------------------------------------------


def test_a_20_mb_mmengine_config_is_ignored_and_the_log_read(tmp_path: Path) -> None:
    # Before: 4.4 GB, then "not a valid mmengine_json log (MemoryError: )".
    cfg = tmp_path / "config.py"
    with open(cfg, "w") as fh:
        fh.write("model = dict(bbox_head=dict(loss_cls=dict(type='FocalLoss', loss_weight=1.0)))\n")
        fh.write("x = [" + "a, " * 7_000_000 + "]\n")
    assert cfg.stat().st_size > 20_000_000
    result = _read_capped([_scalars_json(tmp_path), cfg])
    assert result["ok"] and result["points"] >= 10, result
    assert any(n.startswith("config.py ignored (too large: 20.0 MB") for n in result["notes"]), result


def test_a_config_just_under_the_size_limit_is_bounded_by_its_tokens(tmp_path: Path) -> None:
    # 1.9 MB of names: ast.parse alone measured 1.4 GB for 2 MB of them.
    text = "model = dict(a=1)\nx = [" + "a," * 950_000 + "]\n"
    assert len(text) < limits.max_companion_bytes()
    cfg = _write(tmp_path / "config.py", text)
    result = _read_capped([_scalars_json(tmp_path), cfg])
    assert result["ok"], result
    assert any("config.py ignored (more than 100,000 tokens)" in n for n in result["notes"]), result


@pytest.mark.parametrize(
    ("depth", "problem"),
    [
        (800, "nested deeper than 64 levels (line 8)"),  # within libyaml's limit; safe_load recursed out
        (50_000, "YAML error at line 8: exceeded maximum nesting depth"),  # libyaml's own limit (1,000)
    ],
)
def test_nested_yaml_lists_do_not_refuse_the_log(tmp_path: Path, depth: int, problem: str) -> None:
    # Before: yaml.safe_load's recursion refused the whole log.
    args = _write(tmp_path / "args.yaml", GOOD_ARGS + "extra: " + "[" * depth + "]" * depth + "\n")
    result = _read_capped([_results_csv(tmp_path), args])
    assert result["ok"] and result["points"] > 0, result
    assert any(f"args.yaml was rejected: {problem}" in w for w in result["warnings"]), result["warnings"]
    assert any("no usable args.yaml" in w and "default loss gains assumed" in w for w in result["warnings"])


def test_a_billion_laughs_yaml_is_rejected_by_its_expanded_size(tmp_path: Path) -> None:
    levels = ["a: &a [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 10):
        prev, name = chr(96 + i), chr(97 + i)
        levels.append(f"{name}: &{name} [" + ", ".join([f"*{prev}"] * 10) + "]")
    text = GOOD_ARGS + "\n".join(levels) + "\n"
    assert len(text) < 1000
    with pytest.raises(
        companions.CompanionError, match="more than 100,000 values once its aliases are expanded"
    ):
        companions.yaml_mapping(text)
    args = _write(tmp_path / "args.yaml", text)
    result = _read_capped([_results_csv(tmp_path), args])
    assert result["ok"] and any(
        "args.yaml was rejected: more than 100,000 values" in w for w in result["warnings"]
    )


def test_a_few_anchors_are_still_fine() -> None:
    data = companions.yaml_mapping("base: &b {lr: 0.01, box: 7.5}\nrun: {<<: *b, cls: 0.5}\n")
    assert data["run"] == {"lr": 0.01, "box": 7.5, "cls": 0.5}


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("- box\n- cls\n", "not a mapping of settings (it holds list)"),
        ("box: 7.5\ncls: [0.5\ndfl: 1.5\n", "YAML error at line 3"),
        ("box: !!python/object:os.system 1\n", "YAML error at line 1"),
        ("box: " + "9" * 5000 + "\n", "cannot be loaded (ValueError"),
    ],
)
def test_a_rejected_yaml_says_why(tmp_path: Path, text: str, problem: str) -> None:
    loaded = companions.load(_write(tmp_path / "args.yaml", text))
    assert loaded.data is None and loaded.problem.startswith(problem), loaded.problem
    assert loaded.warning.startswith("args.yaml ignored (")


def test_a_too_large_or_special_companion_is_not_read(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("INSPECTOR_MAX_COMPANION_BYTES", "1000")
    loaded = companions.load(_write(tmp_path / "args.yaml", GOOD_ARGS + "#" * 2000 + "\n"))
    assert loaded.problem == "too large: 2 kB, the limit is 1 kB (INSPECTOR_MAX_COMPANION_BYTES)"
    assert companions.load(tmp_path).problem == "not a regular file"
    assert companions.load(tmp_path / "missing.yaml").problem.startswith("cannot read it")


def test_an_embedded_mmdet2_config_is_bounded_too() -> None:
    assert mmdet_json.config_literals("model = dict(a=1)\nx = [" + "a," * 200_000 + "]\n") == {}
    assert mmdet_json.config_literals("model = dict(a=1)\n") == {"model": {"a": 1}}
    assert mmdet_json.config_literals("x = (" * 300 + ")" * 300) == {}  # too deep for Python's parser


def test_mmengine_config_yaml_dump_and_bad_weights(tmp_path: Path) -> None:
    cfg = _write(
        tmp_path / "config.yaml",
        "model:\n  bbox_head:\n    loss_cls: {loss_weight: 2.0}\n    loss_bbox: {loss_weight: .nan}\n",
    )
    log = read_logs([_scalars_json(tmp_path), cfg])
    assert log.config["loss_weights"] == {"loss_cls": 2.0}
    assert "companion_warnings" not in log.config  # they are the log's warnings, shown with the others
    assert "config.yaml: 1 loss weight(s) ignored (loss_bbox: loss_weight nan is not finite)." in log.warnings


# --- item 8: gains that are no gains; a rejected args.yaml says why ---------------------------------


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        (".nan", "nan is not finite"),
        ("-5", "-5 is negative"),
        (".inf", "inf is not finite"),
        ("'7.5'", "'7.5' is not a number (a str)"),
        ("heavy", "'heavy' is not a number (a str)"),
        ("true", "True is not a number (a bool)"),
    ],
)
def test_a_bad_gain_is_ignored_with_a_warning(tmp_path: Path, value: str, problem: str) -> None:
    args = _write(
        tmp_path / "args.yaml",
        GOOD_ARGS.replace("box: 7.5", f"box: {value}").replace("cls: 0.5", "cls: 0.25"),
    )
    log = read_logs([_results_csv(tmp_path), args])
    assert log.config["loss_weights"]["train/box_loss"] == 7.5  # the default, not the bad value
    assert log.config["loss_weights"]["train/cls_loss"] == 0.25  # the good gains are still read
    assert (
        f"args.yaml: 1 loss gain(s) ignored, the default used instead (box {problem}, 7.5 used)."
        in log.warnings
    ), log.warnings


def test_a_zero_gain_is_a_gain(tmp_path: Path) -> None:
    args = _write(tmp_path / "args.yaml", GOOD_ARGS.replace("cls: 0.5", "cls: 0"))
    log = read_logs([_results_csv(tmp_path), args])
    assert log.config["loss_weights"]["train/cls_loss"] == 0.0
    assert not any("ignored" in w for w in log.warnings)


def test_a_rejected_args_yaml_is_named_with_its_reason(tmp_path: Path) -> None:
    args = _write(tmp_path / "args.yaml", "box: 7.5\ncls: [0.5\n")
    log = read_logs([_results_csv(tmp_path), args])
    (warning,) = [w for w in log.warnings if "args.yaml" in w]
    assert warning.startswith("no usable args.yaml (args.yaml was rejected: YAML error at line 3")
    assert warning.endswith("default loss gains assumed (box 7.5, cls 0.5, dfl 1.5).")
    assert "uploaded" not in warning


def test_an_unrelated_yaml_beside_a_good_one_is_not_a_warning(tmp_path: Path) -> None:
    data = _write(tmp_path / "data.yaml", "names: [a, b]\n")
    args = _write(tmp_path / "args.yaml", GOOD_ARGS)
    log = read_logs([_results_csv(tmp_path), data, args])
    assert log.config["args_file"] == str(args) and log.warnings == []


def test_a_checkpoint_beside_a_log_gives_its_train_config_gains(tmp_path):
    # A native log whose header lost its config: the checkpoint's model_config.loss_weights are the run's
    # gains.
    import shutil

    from inspector.loss_semantics import discover_components
    from inspector.paths import DEMO_DIR
    from inspector.runlog import read_logs

    ckpt = DEMO_DIR / "runs" / "troubled" / "best.pt"
    if not ckpt.is_file():
        pytest.skip("demo checkpoint not bundled")
    lines = (DEMO_DIR / "runs" / "troubled" / "log.jsonl").read_text().splitlines()[1:400]  # no header
    log_path = tmp_path / "log.jsonl"
    log_path.write_text("\n".join(lines) + "\n")
    shutil.copy(ckpt, tmp_path / "best.pt")
    log = read_logs([log_path, tmp_path / "best.pt"])
    assert log.config["weights_file"] == "best.pt" and log.config["loss_weights"]["bbox"] == 7.5
    bbox = discover_components(log).get("bbox")
    assert bbox.weight == 7.5 and bbox.weight_source == "config" and "best.pt" in bbox.why


def test_an_unreadable_checkpoint_beside_a_log_is_named_not_fatal(tmp_path, samples):
    import shutil

    from inspector.runlog import read_logs

    csv = tmp_path / "results.csv"
    shutil.copy(samples / "ultralytics_csv/yolov8n-ados-oldstyle/results.csv", csv)
    (tmp_path / "best.pt").write_bytes(b"\x80\x02not a zip")
    log = read_logs([csv, tmp_path / "best.pt"])
    assert any(w.startswith("best.pt ignored (a legacy (non-zip) torch pickle") for w in log.warnings)
