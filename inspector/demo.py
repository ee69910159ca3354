"""The bundled demo: a validation set, clips, and two real runs from identical initial weights.

    demo/data/val/        COCO shapes validation images (the episodes page and `evaluate` read them)
    demo/data/clips/      reference-image + clip samples (ST-IoU)
    demo/runs/troubled/   the setting users bring: bbox 7.5, and step-decay milestones written for a 30-epoch
                          recipe but counted in steps, so the lr sits at its 2e-6 floor from step 30
    demo/runs/fixed/      what the diagnosis recommends: bbox 2.0, and a cosine decay with a sane floor

Training images and training clips are generated in a temp dir and never written under demo/. Both runs share
the seed, the data and the episodes (every second training step is a clip-style episode, so ST-IoU can be
learnt), so they start from the same weights and see the same inputs: the loss weights and the lr schedule
are the only change. Nothing is staged: every number in demo/README.md comes from the runs' own logs.
"""

from __future__ import annotations

import json
import math
import shutil
import time
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from inspector.data.shapes import write_coco_dataset, write_video_samples
from inspector.train.config import DEFAULT_LOSS_WEIGHTS, TrainConfig
from inspector.train.loop import train

if TYPE_CHECKING:
    from inspector.diagnose import Diagnosis
    from inspector.runlog.record import RunLog

VAL_IMAGES = 72  # 128 px JPEGs, ~5 KB each: the validation set stays well under a megabyte
CLIP_SAMPLES = 30  # ~0.2 MB each; fewer make ST-IoU too noisy to compare two runs on
TRAIN_IMAGES = 1000
TRAIN_CLIPS = 400  # generated with the run (seed + 3), like the training images

# The settings both demo runs share. The model is the reference detector with a varifocal cls loss (the
# classification loss of VarifocalNet / PP-YOLOE next to TAL): with plain BCE the cls term's own episode-to-
# episode noise hides everything else, so the bbox weight's effect, the point of the demo, is not visible.
# Supports are letterboxed without upscaling, as clip reference photos are smaller than the model input.
COMMON: dict[str, Any] = dict(
    n_way=2,
    k_shot=3,
    n_query=4,  # 2-way 3-shot, 2 queries per class
    epochs=8,
    steps_per_epoch=500,
    warmup_steps=100,
    weight_decay=0.05,
    synthetic_train_images=TRAIN_IMAGES,
    synthetic_clutter=False,
    synthetic_train_clips=TRAIN_CLIPS,
    clip_episode_every=2,
    clip_n_way=2,
    model=dict(cls_loss="varifocal", upscale_support=False),
    val_episodes=30,
    half_checkpoints=True,
    save_optimizer=False,
    checkpoint_every=4,
    threads=1,  # one thread: reproducible, and the build's time is one thread's (as the brief budgets it)
)
RUNS: dict[str, dict[str, Any]] = {
    # milestones [10, 20, 30] as a 30-epoch recipe writes them, counted here in optimizer steps (the usual
    # slip with iteration-based trainers): the lr reaches 1e-4 at step 10 of its warm-up, then 1e-5, then the
    # floor
    "troubled": dict(
        lr=1e-3,
        final_lr=2e-6,
        lr_schedule="step",
        lr_milestones=[10, 20, 30],
        loss_weights=dict(DEFAULT_LOSS_WEIGHTS),
    ),
    # the issue suggested peak 1e-4; in this budget it stays far below the mAP a working detector reaches
    # (0.31 against 0.47 at 2,500 steps, measured on an earlier version), so the fix uses 3e-4, floor 10×
    # lower
    "fixed": dict(
        lr=3e-4, final_lr=3e-5, lr_schedule="cosine", loss_weights={**DEFAULT_LOSS_WEIGHTS, "bbox": 2.0}
    ),
}


def demo_config(name: str, out: Path, seed: int = 0) -> TrainConfig:
    """Returns the TrainConfig of demo run `name` ('troubled' or 'fixed') writing under `out`."""
    return TrainConfig.from_dict(
        {
            **COMMON,
            **RUNS[name],
            "seed": seed,
            "synthetic_seed": seed,
            "val_data": str(out / "data" / "val"),
            "clips_data": str(out / "data" / "clips"),
            "out_dir": str(out / "runs" / name),
        }
    )


def build_demo(
    out: str | Path = "demo", seed: int = 0, progress: bool = True, runs: tuple[str, ...] = tuple(RUNS)
) -> dict[str, dict[str, Any]]:
    """Returns {run: {seconds, best_metrics}} after (re)building the demo folder `out` and its README.md."""
    started_build = time.monotonic()
    out = Path(out)
    for sub in ("data/val", "data/clips"):
        shutil.rmtree(out / sub, ignore_errors=True)
    # seeds apart from the training data (synthetic_seed = seed), so validation images and clips are unseen
    write_coco_dataset(out / "data" / "val", VAL_IMAGES, seed + 1000, clutter=False)
    write_video_samples(out / "data" / "clips", CLIP_SAMPLES, seed + 2000)
    summary = {}
    for name in runs:
        shutil.rmtree(out / "runs" / name, ignore_errors=True)
        started = time.monotonic()
        result = train(demo_config(name, out, seed), progress=progress)
        summary[name] = {"seconds": round(time.monotonic() - started, 1), "best_metrics": result.best_metrics}
    built_all = set(runs) == set(RUNS)
    report = demo_report(out, seed, (time.monotonic() - started_build) / 60 if built_all else None)
    (out / "README.md").write_text(report, encoding="utf-8")
    return summary


def _describe(config: TrainConfig) -> str:
    """One line of a run's training settings, as its log header holds them."""
    weights = ", ".join(f"{k} {v:g}" for k, v in config.loss_weights.items())
    if config.lr_schedule == "step":
        schedule = (
            f"peak lr {config.lr:g} after {config.warmup_steps} warm-up steps, ×{config.lr_gamma:g} at steps "
            f"{', '.join(map(str, config.lr_milestones))} (the warm-up and the steps compose), "
            f"floor {config.final_lr:g}"
        )
    else:
        schedule = (
            f"peak lr {config.lr:g} after {config.warmup_steps} warm-up steps, cosine decay to "
            f"{config.final_lr:g}"
        )
    return f"loss weights {weights}; {schedule}"


# Why the settings are what they are (the report repeats it; measured while choosing them, 2026-12).
CHOICES = (
    "The troubled run's milestones [10, 20, 30] are a 30-epoch recipe's, applied to optimizer steps. With "
    "the "
    "warm-up and the steps composed (as Detectron2's WarmupMultiStepLR does), its lr peaks at 1e-4 (logged "
    "step 10) and sits at the 2e-6 floor from step 30. Later milestones (30–60, 60–100, 100–140, 150–250) "
    "were tried first: those few hundred useful steps already taught the detector to mAP@0.5 0.035–0.13 and, "
    "with the clip episodes, ST-IoU 0.01–0.07.",
    "The fixed run's peak lr is 3e-4, not the 1e-4 first suggested: in an earlier version of this set-up, "
    "1e-4 reached mAP@0.5 0.31 in 2,500 steps where 3e-4 reached 0.47. Its floor is 3e-5, a tenth of the "
    "peak.",
    "Both runs use the varifocal cls loss: with plain BCE over 4-image episodes the cls term's "
    "episode-to-episode "
    "noise (division by a small target-score sum) was 80% of the objective's, which hid the bbox term that "
    "the loss weights are about. Clip-style episodes are 2-way like the image episodes: 1-way ones made the "
    "contrastive terms jump between two levels from one step to the next.",
    "The classifier's last layer starts as RetinaNet's (weights N(0, 0.01²), bias at the 0.01 prior) and the "
    "cosine term's scale at 1, so every untrained score is within e^±1 of the prior. With default weights "
    "and "
    "scale 4, an untrained model scored some clip boxes 1.0 (0.66 with the weights alone changed), and a run "
    "that had learnt nothing still got ST-IoU 0.01–0.02.",
    "diagnose calls a term dominant from 60% of the objective's mean or 70% of its recent noise (the brief's "
    "troubled run: ~84% / 86%), and stationary when its last half has no significant trend. The supervised-"
    "contrastive term hardly learns at the troubled run's lr, so weighted bbox is the largest term without "
    "reaching those shares. Adam's steps at 2e-6 still move each weight by up to ~0.008 over 4,000 steps: "
    "enough for raw bbox to fall 8% over the last half and for a few scores to pass the gates after step "
    "2,500. The thresholds were not changed to make the demo say more than its log does.",
)


def demo_report(
    out: str | Path = "demo", seed: int = 0, build_minutes: float | None = None, lab: bool = True
) -> str:
    """The text of demo/README.md: each run's configuration and what its own log measured, and (with `lab`)
    what the loss-balance lab and the error breakdown measure on each run's best.pt.

    Everything is read back from the runs (their logs, `diagnose`, `balance`, `errors`), so the README cannot
    drift from what was built.
    """
    from inspector.diagnose import diagnose
    from inspector.runlog import read_logs

    out = Path(out)
    common = demo_config("troubled", out, seed)
    lines = [
        "# The bundled demo",
        "",
        f"Built by `python -m inspector demo --out demo --seed {seed}` (`inspector/demo.py`)"
        + (f" in {build_minutes:.1f} minutes on one CPU thread" if build_minutes is not None else "")
        + ". The build writes this file from the runs' own logs, `diagnose`, `balance` and `errors`; only "
        "the Choices section at the end is prose, recording what was measured while the settings were "
        "chosen.",
        "",
        f"- `data/val/`: {VAL_IMAGES} shapes images (128 px, COCO JSON), 1–2 large shapes each, no "
        "distractors.",
        f"- `data/clips/`: {CLIP_SAMPLES} samples, each with reference photos and a clip, scored by ST-IoU.",
        f"- Both runs: {common.n_way}-way {common.k_shot}-shot, {common.n_query} queries "
        f"({common.n_query // common.n_way} per class), {common.total_steps:,} steps; one step in "
        f"{common.clip_episode_every} is a clip-style episode (reference photos as support, clip frames as "
        f"queries, {common.clip_n_way}-way). They share the seed, so they start from identical "
        f"weights and see identical episodes. {TRAIN_IMAGES:,} training images and {TRAIN_CLIPS} training "
        "clips are generated in a temp dir and not stored here. Model: the reference detector "
        f"(cls loss {common.model_config().cls_loss}, supports letterboxed without upscaling).",
        f"- Validation after each epoch: {common.val_episodes} image episodes and every clip, score gate of "
        "the "
        "clips as in `evaluate`. Checkpoints hold float16 weights and no optimizer state (not resumable); "
        f"`epoch_N.pt` every {common.checkpoint_every} epochs and `best.pt` (best validation mAP@0.5).",
        "",
        "`best.pt` is the checkpoint of the best validation mAP@0.5; its columns are that evaluation's.",
        "",
        "| run | configuration | best.pt: step | mAP@0.5 | mAP@0.5:0.95 | ST-IoU | best ST-IoU of any epoch "
        "| last mAP@0.5 | final lr | train time |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    logs = {name: read_logs([path]) for name in RUNS if (path := out / "runs" / name / "log.jsonl").is_file()}
    lines += [_result_row(name, log, out, seed) for name, log in logs.items()]
    if logs:
        lines += ["", "Every validation (mAP@0.5 / ST-IoU):", "", *_eval_table(logs)]
    for name, log in logs.items():
        lines += [
            "",
            f"`python -m inspector diagnose demo/runs/{name}/log.jsonl` finds:",
            "",
            *_diagnosis_lines(diagnose(log)),
        ]
    if lab and logs:
        from inspector.demo_protocol import protocol_lines

        lines += ["", *lab_lines(out), "", *protocol_lines(out)]
    lines += ["", "## Choices", ""] + [f"- {c}" for c in CHOICES]
    return "\n".join(lines) + "\n"


LAB_HEADING = "## Why: the loss-balance lab and the error breakdown on best.pt"
LAB_BALANCE_EPISODES = 50
LAB_ERROR_EPISODES = 100


def lab_numbers(out: str | Path = "demo") -> dict[str, dict[str, Any]]:
    """{run: {"shares": {term: backbone-gradient share}, "verdict": str, "dap": {error type: dAP}, "counts":
    {error type: count}, "ap50": float}}: `balance` over LAB_BALANCE_EPISODES and `errors` over
    LAB_ERROR_EPISODES episodes of each run's best.pt on the validation set, as the commands compute them."""
    import torch

    from inspector.adapters import load_detector
    from inspector.balance import checkpoint_report, measure_checkpoint
    from inspector.batch import EpisodePlan, EvalSettings, evaluate_batch, image_records, plan_meta
    from inspector.data import read_dataset
    from inspector.plan import resolve_shape, trained_shape
    from inspector.runlog import read_logs
    from inspector.tide import ERROR_TYPES, error_breakdown

    out = Path(out)
    data = read_dataset(out / "data" / "val")
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    numbers: dict[str, dict[str, Any]] = {}
    try:
        for name in RUNS:
            checkpoint = out / "runs" / name / "best.pt"
            if not checkpoint.is_file():
                continue
            detector = load_detector(checkpoint)
            shape = resolve_shape(trained_shape(checkpoint))
            settings = EvalSettings(LAB_BALANCE_EPISODES, 0, shape.n_way, shape.k_shot, shape.n_query)
            plan = EpisodePlan(data, None, settings)
            episodes = (plan.episode(i) for i in range(plan.total))
            measured = measure_checkpoint(detector, str(checkpoint), episodes, plan.total)
            log = read_logs([out / "runs" / name / "log.jsonl"])
            report = checkpoint_report(str(checkpoint), detector, measured, log)
            plan = EpisodePlan(data, None, replace(settings, episodes=LAB_ERROR_EPISODES))
            rows = evaluate_batch(detector, plan, plan_meta(plan, data.class_names)).rows
            found = error_breakdown(image_records(rows))
            numbers[name] = {
                "shares": {t.name: t.grad_share.mean for t in report.terms},
                "weights": report.weights,
                "verdict": report.verdict,
                "ap50": found.ap50,
                "dap": {k: found.errors[k].dap for k in ERROR_TYPES},
                "counts": {k: found.errors[k].count for k in ERROR_TYPES},
            }
    finally:
        torch.set_num_threads(before)
    return numbers


def lab_lines(out: str | Path = "demo") -> list[str]:
    """Markdown: each run's best.pt under `balance` (gradient shares, the verdict) and `errors` (TIDE)."""
    numbers = lab_numbers(out)
    if not numbers:
        return []
    runs = list(numbers)
    terms = list(next(iter(numbers.values()))["shares"])
    lines = [
        LAB_HEADING,
        "",
        f"`python -m inspector balance --checkpoint demo/runs/RUN/best.pt --data demo/data/val --episodes "
        f"{LAB_BALANCE_EPISODES}`: each weighted term's mean share of the gradient norm on the last shared "
        "layer (the neck's output convs every head reads; batch norm in training mode).",
        "",
        "| term | " + " | ".join(f"`{r}` weight | `{r}` gradient share" for r in runs) + " |",
        "|---|" + "---|---|" * len(runs),
    ]
    for term in terms:
        nan = float("nan")
        cells = [
            f"{numbers[r]['weights'].get(term, nan):g} | {numbers[r]['shares'].get(term, nan):.0%}"
            for r in runs
        ]
        lines.append(f"| {term} | " + " | ".join(cells) + " |")
    lines += ["", *[f"- `{r}`: {numbers[r]['verdict']}" for r in runs], ""]
    lines += [
        f"`python -m inspector errors --checkpoint demo/runs/RUN/best.pt --data demo/data/val --episodes "
        f"{LAB_ERROR_EPISODES}`: TIDE's error types, with the AP@0.5 that fixing each would gain (dAP).",
        "",
        "| error | " + " | ".join(f"`{r}` count | `{r}` dAP" for r in runs) + " |",
        "|---|" + "---|---|" * len(runs),
    ]
    for kind in next(iter(numbers.values()))["dap"]:
        cells = [f"{numbers[r]['counts'][kind]} | {numbers[r]['dap'][kind]:.3f}" for r in runs]
        lines.append(f"| {kind} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "AP@0.5 over those episodes: " + ", ".join(f"`{r}` {numbers[r]['ap50']:.3f}" for r in runs) + ".",
    ]
    return lines


def _result_row(name: str, log: RunLog, out: Path, seed: int) -> str:
    """One run's row of the results table: its configuration, best.pt's evaluation, last values, time."""
    m50, m95, st = (log.series[f"eval/{k}"] for k in ("map50", "map50_95", "st_iou"))
    best = int(m50.values.argmax())
    return (
        f"| `runs/{name}` | {_describe(demo_config(name, out, seed))} | {int(m50.steps[best])} | "
        f"{m50.values[best]:.3f} | {m95.values[best]:.3f} | {st.values[best]:.3f} | {st.values.max():.3f} | "
        f"{m50.values[-1]:.3f} | {log.series['lr'].values[-1]:.2g} | "
        f"{_train_minutes(out / 'runs' / name / 'log.jsonl'):.1f} min |"
    )


def _eval_table(logs: dict[str, RunLog]) -> list[str]:
    """Markdown rows: each validation step, then mAP@0.5 / ST-IoU of every run at it."""
    steps = sorted({int(s) for log in logs.values() for s in log.series["eval/map50"].steps})
    rows = ["| step | " + " | ".join(f"`runs/{n}`" for n in logs) + " |", "|---|" + "---|" * len(logs)]
    for step in steps:
        cells = []
        for log in logs.values():
            m50, st = log.series["eval/map50"], log.series["eval/st_iou"]
            at = np.flatnonzero(m50.steps == step)
            cells.append(f"{m50.values[at[0]]:.3f} / {st.values[at[0]]:.3f}" if at.size else "–")
        rows.append(f"| {step} | " + " | ".join(cells) + " |")
    return rows


def _diagnosis_lines(d: Diagnosis) -> list[str]:
    """Markdown: the findings' titles, then each term's shares
    and last-half trend as diagnose measured them."""
    lines = [f"- [{f.severity}] {f.title} (`{f.id}`)" for f in d.findings] or ["- nothing"]
    lines += [
        "",
        "| term | weight | share of the mean | share of the recent noise | raw change over the last "
        "half (Theil-Sen) | Mann-Kendall p |",
        "|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {c.name} | {c.effective_weight:g} | {st.mean_share:.0%} | {st.variance_share:.0%} | "
        f"{st.trend.rel_change:+.1%} | {st.trend.p_value:.2g} |"
        for c in d.components.components
        if (st := d.stats.get(c.name)) is not None
    ]
    return lines


def _train_minutes(log_path: Path) -> float:
    """Minutes from a run log's first timed row to its last (training and validation, not data generation)."""
    times = [
        row["time"]
        for line in log_path.read_text(encoding="utf-8").splitlines()
        if "time" in (row := json.loads(line))
    ]
    return (times[-1] - times[0]) / 60 if times else math.nan
