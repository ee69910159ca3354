"""Every number a finding states, checked against an independent computation on a constructed run.

Each test builds a run through `assemble`, computes the number the finding must state with plain numpy
or scipy from the data it built, and looks for it in the finding's evidence (formatted as
`findings.format_number` formats numbers: three significant digits).
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as sps

from inspector.diagnose import diagnose
from inspector.findings import format_number, format_percent
from inspector.runlog.record import Sparse, assemble

N = 2000
WEIGHTS = {"bbox": 2.0, "cls": 1.0}


def run(
    raw: dict[str, np.ndarray],
    *,
    lr=None,
    evals: dict[str, tuple[np.ndarray, np.ndarray]] | None = None,
    extra: dict | None = None,
    framework: str = "native",
    steps=None,
):
    steps = np.arange(len(next(iter(raw.values())))) if steps is None else steps
    cols: dict = {f"loss/{k}": v for k, v in raw.items()}
    cols["loss/total"] = sum(WEIGHTS.get(k, 1.0) * v for k, v in raw.items())
    if lr is not None:
        cols["lr"] = lr
    for name, (rows, values) in (evals or {}).items():
        cols[name] = Sparse(np.asarray(rows), np.asarray(values, dtype=float))
    cols.update(extra or {})
    return assemble(
        "synthetic.jsonl",
        "native",
        framework,
        steps,
        cols,
        config={"loss_weights": {k: WEIGHTS.get(k, 1.0) for k in raw}},
    )


def decaying(n: int = N, seed: int = 0, noise: float = 0.03, start: float = 1.0, end: float = 0.3):
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    return (end + (start - end) * np.exp(-t / (n / 4))) * (1 + noise * rng.standard_normal(n))


def one(d, fid: str):
    found = [f for f in d.findings if f.id == fid]
    assert found, (fid, [(f.id, f.evidence) for f in d.findings])
    return found[0]


def test_lr_collapsed_states_peak_final_cliff_and_since():
    t = np.arange(N)
    lr = np.where(t < 100, 1e-3 * t / 100, np.where(t < 1200, 1e-3, 2e-6))  # warm-up, plateau, cliff at 1200
    d = diagnose(
        run(
            {"bbox": decaying(), "cls": decaying(seed=1)},
            lr=lr,
            evals={"eval/map50": (np.arange(199, N, 200), np.zeros(10))},
        )
    )
    f = one(d, "lr_collapsed")
    peak_step = int(np.argmax(lr))
    assert f"peaked at {format_number(1e-3)} (step {peak_step})" in f.evidence
    assert f"ends at {format_number(2e-6)} ({format_number(2e-6 / 1e-3)}× the peak)" in f.evidence
    assert "a cliff at step 1200 (" + format_percent(1200 / (N - 1)) + " into the run)" in f.evidence
    assert "since step 1200" in f.evidence and "step 0 (" not in f.evidence


def test_lr_out_of_range_states_the_peak_and_its_factor():
    lr = np.full(N, 0.1)
    d = diagnose(run({"bbox": decaying(), "cls": decaying(seed=1)}, lr=lr, framework="detectron2"))
    f = one(d, "lr_out_of_range")
    assert f"peaks at {format_number(0.1)}, {format_number(0.1 / 0.02)}× the top" in f.evidence


def test_eval_regression_states_best_when_and_change():
    rows = np.array([199, 399, 599, 799, 999, 1199])
    ap = np.array([0.20, 0.27, 0.30, 0.26, 0.23, 0.21])
    d = diagnose(
        run(
            {"bbox": decaying(), "cls": decaying(seed=1)},
            lr=np.full(N, 1e-3),
            evals={"eval/map50": (rows, ap)},
        )
    )
    f = one(d, "eval_regression")
    best = int(np.argmax(ap))
    assert f"peaked at {format_number(ap[best])} at step {rows[best]}" in f.evidence
    assert (
        f"now {format_number(ap[-1])} ({(ap[-1] - ap[best]) / ap[best]:+.0%}, "
        f"{ap.size - 1 - best} evaluation(s) later)" in f.evidence
    )


def test_train_val_divergence_states_the_rise_and_the_train_change():
    rows = np.arange(199, N, 200)
    val = np.array([1.0, 0.8, 0.7, 0.75, 0.85, 0.95, 1.05, 1.2, 1.3, 1.32])
    log = run(
        {"bbox": decaying(noise=0.0), "cls": decaying(seed=1, noise=0.0)},
        lr=np.full(N, 1e-3),
        evals={"val/loss": (rows, val)},
    )
    f = one(diagnose(log), "train_val_divergence")
    i = int(np.argmin(val))
    assert f"lowest at step {rows[i]} ({format_number(val[i])})" in f.evidence
    assert (
        f"now {format_number(val[-1])} ({val[-1] / val[i] - 1:+.0%}, over {val.size - 1 - i} evaluation(s))"
        in f.evidence
    )
    total = log.series["loss/total"].values
    half = 100
    near = lambda s: np.median(total[max(0, s - half) : s + half + 1])  # noqa: E731
    assert f"changed {near(rows[-1]) / near(rows[i]) - 1:+.0%}" in f.evidence


def test_eval_stopped_states_the_last_metric_step():
    rows = np.arange(199, N, 200)
    ap = np.r_[[0.1, 0.2, 0.25, 0.3], np.full(6, np.nan)]
    d = diagnose(
        run(
            {"bbox": decaying(), "cls": decaying(seed=1)},
            lr=np.full(N, 1e-3),
            evals={"eval/map50": (rows, ap)},
        )
    )
    f = one(d, "eval_stopped")
    assert f"is at step {rows[3]}" in f.evidence and "6 later value(s)" in f.evidence


def test_no_positives_states_counts_fraction_and_stretch():
    rng = np.random.default_rng(3)
    none = rng.random(N) < 0.3
    none[500:530] = True
    bbox = np.where(none, 0.0, decaying())
    positives = np.where(none, 0.0, 12.0)
    d = diagnose(run({"bbox": bbox, "cls": 2 * decaying(seed=1)}, extra={"positives": positives}))
    f = one(d, "no_positive_anchors")
    edges = np.diff(np.r_[0, none.astype(np.int8), 0])
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    k = int(np.argmax(ends - starts))
    assert f"below 0.5 on {int(none.sum())} of {N} logged steps ({format_percent(none.mean())})" in f.evidence
    assert f"the longest stretch is {ends[k] - starts[k]} step(s) ({starts[k]}–{ends[k] - 1})" in f.evidence
    assert "bbox is ~0 on 100% of them" in f.evidence
    assert not {"dominant_component", "high_volatility", "loss_spikes"} & {x.id for x in d.findings}


def test_high_volatility_states_the_robust_scale():
    rng = np.random.default_rng(4)
    noisy = 0.5 * (1 + 0.7 * rng.standard_normal(N))
    d = diagnose(run({"bbox": decaying(), "cls": noisy}))
    f = one(d, "high_volatility")
    recent = noisy[N - int(np.ceil(N * 0.5)) :]  # the last half of the step range (findings.recent_rows)
    scale = sps.median_abs_deviation(np.diff(recent), scale="normal")
    assert f"moves by {format_number(scale)}" in f.evidence
    assert (
        f"{format_percent(scale / np.median(recent))} of its median level {format_number(np.median(recent))}"
        in f.evidence
    )


def test_one_outlier_is_no_high_volatility():
    calm = decaying(seed=2, noise=0.02)
    calm[1700] *= 8
    d = diagnose(run({"bbox": decaying(), "cls": calm}))
    assert "high_volatility" not in {f.id for f in d.findings}


def test_loss_spikes_state_count_and_the_largest_against_its_neighbours():
    x = decaying(seed=5, noise=0.02)
    x[[600, 1400]] *= [3.0, 4.0]
    d = diagnose(
        run({"bbox": decaying(), "cls": x}, evals={"eval/map50": (np.arange(199, N, 200), np.zeros(10))})
    )
    f = one(d, "loss_spikes")
    assert "cls: 2" in f.evidence
    around = np.r_[x[1400 - 25 : 1400], x[1401:1426]]
    base = np.median(around)
    assert (
        f"weighted cls = {format_number(x[1400])} at step 1400, {format_number(x[1400] / base)}× its local "
        f"baseline {format_number(base)}" in f.evidence
    )


def test_regime_change_states_the_step_and_levels():
    l1 = np.where(np.arange(N) >= 1700, 0.3, 0.0)
    d = diagnose(run({"bbox": decaying(), "cls": decaying(seed=1), "l1": l1}))
    f = one(d, "regime_change")
    assert f.component == "l1" and "switched on at step 1700" in f.title
    assert f"from a level of {format_number(0.0)} to {format_number(0.3)}" in f.evidence
    assert "loss_spikes" not in {x.id for x in d.findings}


def test_dominant_states_shares_and_a_lower_weight():
    bbox, cls = decaying(seed=6) * 2, decaying(seed=7) * 0.05
    log = run({"bbox": bbox, "cls": cls}, evals={"eval/map50": (np.arange(199, N, 200), np.zeros(10))})
    d = diagnose(log)
    f = one(d, "dominant_component")
    w = {"bbox": 2.0 * bbox, "cls": 1.0 * cls}
    mean_share = w["bbox"].mean() / (w["bbox"].mean() + w["cls"].mean())
    assert f"and {format_percent(mean_share)} of its mean" in f.evidence
    suggested = 2.0 * (0.4 / 0.6) * (1 - mean_share) / mean_share
    assert f"e.g. {format_number(suggested)}" in f.next_step


@pytest.mark.parametrize("placeholder", [np.nan, -1.0])
def test_undefined_metrics_are_counted_and_only_info(placeholder):
    rows = np.arange(199, N, 200)
    d = diagnose(
        run(
            {"bbox": decaying(), "cls": decaying(seed=1)},
            lr=np.full(N, 1e-3),
            evals={
                "bbox/AP50": (rows, np.linspace(0.3, 0.6, 10)),
                "bbox/APs": (rows, np.full(10, placeholder)),
            },
        )
    )
    f = one(d, "undefined_metric")
    assert f.severity == "info" and "bbox/APs at all 10 evaluation(s)" in f.evidence
    assert not [x for x in d.findings if x.severity != "info"]


def test_short_epoch_logs_are_judged_without_false_alarms():
    for n in (10, 20, 40):
        rng = np.random.default_rng(n)
        t = np.arange(1, n + 1)
        bbox = np.round(0.3 + np.exp(-t / 8) * (1 + 0.02 * rng.standard_normal(n)), 4)
        cls = np.round(0.8 + 2 * np.exp(-t / 6) * (1 + 0.02 * rng.standard_normal(n)), 4)
        d = diagnose(
            run(
                {"bbox": bbox, "cls": cls}, steps=t, evals={"eval/map50": (t - 1, 0.6 * (1 - np.exp(-t / 5)))}
            )
        )
        assert not [f for f in d.findings if f.severity != "info"], (
            n,
            [(f.id, f.evidence) for f in d.findings],
        )


def test_metric_near_zero_names_the_zero_metric_and_the_poor_others():
    rows = np.arange(199, N, 200)
    raw = {"bbox": decaying(), "cls": decaying(seed=1)}
    poor = {"eval/map50": (rows, np.full(rows.size, 0.04)), "eval/st_iou": (rows, np.zeros(rows.size))}
    d = diagnose(run(raw, lr=np.full(N, 1e-3), evals=poor))
    f = one(d, "metric_near_zero")
    assert f.severity == "warning" and "metric_stuck_at_zero" not in {x.id for x in d.findings}
    assert f"eval/st_iou at all {rows.size} evaluations since step 199" in f.evidence
    assert "eval/map50 0.04" in f.evidence and "nothing on eval/st_iou" in f.next_step
    # the same zero beside a working detector, or every metric at zero, is not this finding
    good = {**poor, "eval/map50": (rows, np.full(rows.size, 0.45))}
    assert "metric_near_zero" not in {
        x.id for x in diagnose(run(raw, lr=np.full(N, 1e-3), evals=good)).findings
    }
    zero = {**poor, "eval/map50": (rows, np.zeros(rows.size))}
    ids = {x.id for x in diagnose(run(raw, lr=np.full(N, 1e-3), evals=zero)).findings}
    assert "metric_stuck_at_zero" in ids and "metric_near_zero" not in ids
