"""row_names: the split, eval and clock names the readers take row evidence from (is_eval_name's vocabulary is
tested with the row merging it drives, tests/test_runlog_row_merging.py)."""

from __future__ import annotations

from inspector.runlog.row_names import clock_key, eval_prefix, split_key


def test_split_key_is_the_first_split_name_whatever_its_case_and_spaces() -> None:
    assert split_key(["step", "loss", " Mode "]) == " Mode "
    assert split_key(["phase", "split"]) == "split"  # SPLIT_KEYS' order, not the file's
    assert split_key(["step", "loss", "model"]) is None


def test_clock_key_takes_elapsed_seconds_and_timestamps_only() -> None:
    assert clock_key(["epoch", "time", "_runtime"]) == "time"
    assert clock_key(["step", "_timestamp"]) == "_timestamp"
    assert clock_key(["step", "data_time", "iter_time"]) is None  # durations per iteration, no clock


def test_eval_prefix_keeps_its_separator() -> None:
    assert eval_prefix("val_loss") == "val_"
    assert eval_prefix("eval/map50") == "eval/"
    assert eval_prefix("Validation.acc") == "Validation."
    assert eval_prefix("valve") is None and eval_prefix("bbox/AP50") is None
