"""Episodic training: AdamW on one N-way K-shot episode per step, logged every step, validated every epoch.

    for step in steps:  episode(step) → forward → weighted losses → backward → clip → AdamW(lr_at(step))
                        RunWriter.step(raw losses, weights, lr, positives, pos_iou)
    end of epoch:       fixed validation plan → batch.evaluate_batch + summarize (the evaluator of
                        `python -m inspector evaluate`) → RunWriter.eval(mAP@0.5, mAP@0.5:0.95, ST-IoU)
                        epoch_{n}.pt (every checkpoint_every epochs), and best.pt when mAP@0.5 improved

Training episode i is TrainingEpisodes(config).episode(i) (an image episode, or a clip-style one every
clip_episode_every steps) and the model is initialised under
torch.manual_seed(seed), so a run is a pure function of its config (on one machine, one thread count).
"""

from __future__ import annotations

import contextlib
import math
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import torch

from inspector.adapters import ReferenceDetector
from inspector.batch import EpisodePlan, EvalSettings, evaluate_batch, plan_meta, summarize
from inspector.checkpoint import build_reference_model, load_checkpoint, save_checkpoint
from inspector.data import Dataset, Episode, read_dataset
from inspector.data.episodes import EpisodeSampler, frames_as_queries
from inspector.data.shapes import write_coco_dataset, write_video_samples
from inspector.errors import InspectorError
from inspector.model.config import ModelConfig
from inspector.model.detector import FewShotDetector, create_model
from inspector.model.loss import compute_losses
from inspector.model.predict import run_episode
from inspector.model.wiou import WIoUState
from inspector.runlog.writer import RunWriter
from inspector.train.config import TrainConfig
from inspector.train.schedule import lr_at


@dataclass(frozen=True)
class TrainResult:
    """Where a run went: its log, its checkpoints, the best validation metrics and seconds spent."""

    out_dir: Path
    log: Path
    checkpoints: tuple[Path, ...]
    best: Path | None
    best_metrics: dict[str, float]
    seconds: float


@dataclass(frozen=True)
class RunData:
    """The datasets a run reads; clips is None when there are none to validate ST-IoU on, train_clips None
    when training draws image episodes only."""

    train: Dataset
    val: Dataset
    clips: Dataset | None
    train_clips: Dataset | None = None


@contextlib.contextmanager
def run_data(config: TrainConfig) -> Iterator[RunData]:
    """Yields the RunData of `config`, generating synthetic shapes in a temp dir for paths left None."""
    with tempfile.TemporaryDirectory(prefix="inspector-train-") as tmp_dir:
        seed, tmp = config.synthetic_seed, Path(tmp_dir)
        train: str | Path | None = config.train_data
        if train is None:
            write_coco_dataset(
                tmp / "train", config.synthetic_train_images, seed, clutter=config.synthetic_clutter
            )
            train = tmp / "train"
        val: str | Path | None = config.val_data
        if val is None:
            write_coco_dataset(
                tmp / "val", config.synthetic_val_images, seed + 1, clutter=config.synthetic_clutter
            )
            val = tmp / "val"
        clips: str | Path | None = config.clips_data
        if clips is None and config.synthetic_clips:
            write_video_samples(tmp / "clips", config.synthetic_clips, seed + 2)
            clips = tmp / "clips"
        train_clips: str | Path | None = config.train_clips_data
        if train_clips is None and config.synthetic_train_clips and config.clip_episode_every:
            write_video_samples(tmp / "train_clips", config.synthetic_train_clips, seed + 3)
            train_clips = tmp / "train_clips"
        yield RunData(
            read_dataset(train),
            read_dataset(val),
            None if clips is None else read_dataset(clips),
            None if train_clips is None or not config.clip_episode_every else read_dataset(train_clips),
        )


class TrainingEpisodes:
    """Training episode i: an image episode, or every clip_episode_every-th step a clip-style one.

    A clip-style episode is the video sampler's episode i (each way's reference photos as support) with
    frames of its clips as the queries (`frames_as_queries`): the task ST-IoU scores, learnt from its own
    samples. Both samplers are seeded by the run's seed, so episode i is the same in every run of a config.
    """

    def __init__(self, config: TrainConfig, data: RunData):
        self.images = EpisodeSampler(data.train, config.n_way, config.k_shot, config.n_query, config.seed)
        train_clips = data.train_clips
        self.every = config.clip_episode_every if train_clips is not None else 0
        self.clips: EpisodeSampler | None = None
        if train_clips is not None and self.every:  # self.every is 0 without train clips
            ways = min(config.clip_n_way or config.n_way, len(train_clips.class_names))
            self.clips = EpisodeSampler(train_clips, ways, config.k_shot, 0, config.seed)
        self.n_query = config.n_query

    def episode(self, i: int) -> Episode:
        if self.clips is not None and i % self.every == self.every - 1:
            return frames_as_queries(self.clips.sample(i), self.n_query)
        return self.images.sample(i)


def validation_plan(config: TrainConfig, data: RunData) -> EpisodePlan:
    """Returns the fixed validation plan (episodes decoded once, then kept): val_episodes image episodes, then
    one 1-way episode per clip — the plan `python -m inspector evaluate --seed val_seed` walks."""
    settings = EvalSettings(
        episodes=config.val_episodes,
        seed=config.val_seed,
        n_way=min(config.n_way, _n_classes(data.val)),
        k_shot=config.k_shot,
        n_query=config.n_query,
    )
    return EpisodePlan(data.val, data.clips, settings, keep=True)


def validate(
    model: FewShotDetector, plan: EpisodePlan, class_names: tuple[str, ...], wiou: WIoUState
) -> dict[str, float]:
    """Returns {map50, map50_95, st_iou} of the model (put in eval mode) on the plan, from the evaluator
    `evaluate` uses: the reference detector's predict, then batch.summarize."""
    model.eval()
    detector = ReferenceDetector.from_model(model, class_names, wiou_mean=wiou.mean)
    summary = summarize(evaluate_batch(detector, plan, plan_meta(plan, class_names)))
    return {k: summary[k] for k in ("map50", "map50_95", "st_iou")}


def _n_classes(dataset: Dataset) -> int:
    return sum(1 for v in dataset.images_by_class().values() if v)


class Progress:
    """A one-line carriage-return progress bar on stderr (tqdm is not a dependency)."""

    def __init__(self, total: int, stream: TextIO | None = None, enabled: bool = True):
        self.total, self.stream, self.enabled = total, stream or sys.stderr, enabled
        self.start, self.last = time.monotonic(), 0.0

    def update(self, step: int, text: str) -> None:
        now = time.monotonic()
        if not self.enabled or (now - self.last < 0.5 and step < self.total):
            return
        self.last = now
        rate = step / max(now - self.start, 1e-9)
        width = 24
        filled = int(width * step / self.total)
        bar = "#" * filled + "." * (width - filled)
        self.stream.write(f"\r[{bar}] {step}/{self.total} {rate:5.1f} it/s {text}   ")
        self.stream.flush()

    def close(self) -> None:
        if self.enabled:
            self.stream.write("\n")
            self.stream.flush()


def _finite(metrics: dict[str, Any]) -> dict[str, float]:
    return {k: float(v) for k, v in metrics.items() if isinstance(v, (int, float)) and math.isfinite(v)}


def train(config: TrainConfig, resume: str | Path | None = None, progress: bool = True) -> TrainResult:
    """Returns the TrainResult of training `config` (from scratch, or from the epoch checkpoint `resume`)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(config.threads)
    try:
        return _train(config, resume, progress)
    finally:
        torch.set_num_threads(threads)  # the caller's setting: train() may run inside an app or a test


def _train(config: TrainConfig, resume: str | Path | None, progress: bool) -> TrainResult:
    started = time.monotonic()
    torch.manual_seed(config.seed)
    out = Path(config.out_dir)
    model_config = config.model_config()
    model = create_model(model_config)
    weights = dict(config.loss_weights)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    wiou = WIoUState(momentum=model_config.wiou_momentum)
    step, best = 0, {"map50": -math.inf}
    if resume is not None:
        step, best = _restore(resume, model, optimizer, wiou)
    log_path = out / "log.jsonl"
    if resume is None and log_path.exists():
        raise InspectorError(
            "a run log already exists here; pass --resume CKPT or choose a new out_dir", path=log_path
        )

    checkpoints: list[Path] = []
    header = {**config.to_dict(), "model_config": model_config.to_dict()}
    with run_data(config) as data, RunWriter(log_path, config=header) as writer:
        episodes = TrainingEpisodes(config, data)
        val_plan = validation_plan(config, data)
        bar = Progress(config.total_steps, enabled=progress)
        bar.update(step, "starting")
        while step < config.total_steps:
            epoch = step // config.steps_per_epoch
            model.train()
            lr = lr_at(
                step,
                config.total_steps,
                config.lr,
                config.warmup_steps,
                config.final_lr,
                # TrainConfig.lr_schedule is annotated str; its loader lets only "cosine" or "step" through
                config.lr_schedule,
                config.lr_milestones,
                config.lr_gamma,
            )
            for group in optimizer.param_groups:
                group["lr"] = lr
            raw = run_episode(model, episodes.episode(step))
            losses = compute_losses(
                raw.output,
                raw.tensors.query_boxes,
                raw.tensors.query_labels,
                weights=weights,
                wiou_state=wiou,
            )
            optimizer.zero_grad(set_to_none=True)
            losses.total.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
            optimizer.step()
            step += 1
            writer.step(
                step,
                losses.raw,
                lr=lr,
                epoch=epoch,
                weights=weights,
                positives=losses.positives,
                pos_iou=losses.mean_iou,
            )
            bar.update(step, f"epoch {epoch + 1}/{config.epochs} loss {losses.total.item():.3f} lr {lr:.1e}")
            if step % config.steps_per_epoch == 0:
                scores = validate(model, val_plan, data.val.class_names, wiou)
                writer.eval(step, scores, epoch=epoch)
                improved = math.isfinite(scores["map50"]) and scores["map50"] > best["map50"]
                if improved:
                    best = _finite(scores)
                meta = _meta(config, model_config, step, epoch, data, scores, best, wiou)
                extra = {"optimizer": optimizer.state_dict()} if config.save_optimizer else {}
                if (epoch + 1) % config.checkpoint_every == 0 or step == config.total_steps:
                    checkpoints.append(
                        save_checkpoint(
                            out / f"epoch_{epoch + 1}.pt",
                            model,
                            model_config,
                            half=config.half_checkpoints,
                            **meta,
                            **extra,
                        )
                    )
                if improved:
                    save_checkpoint(
                        out / "best.pt", model, model_config, half=config.half_checkpoints, **meta
                    )
                bar.update(step, f"epoch {epoch + 1} val mAP@0.5 {scores['map50']:.3f}")
        bar.close()
    best_path = out / "best.pt"
    return TrainResult(
        out,
        log_path,
        tuple(checkpoints),
        best_path if best_path.exists() else None,
        best if math.isfinite(best.get("map50", math.nan)) else {},
        time.monotonic() - started,
    )


def _meta(
    config: TrainConfig,
    model_config: ModelConfig,
    step: int,
    epoch: int,
    data: RunData,
    scores: dict[str, float],
    best: dict[str, float],
    wiou: WIoUState,
) -> dict[str, Any]:
    """The checkpoint metadata: plain values only, so torch.load(weights_only=True) reads it."""
    return {
        "train_config": config.to_dict(),
        "step": step,
        "epoch": epoch + 1,
        "loss_weights": dict(model_config.loss_weights),
        "class_names": list(data.train.class_names),
        "metrics": _finite(scores),
        "best_metrics": best,
        "wiou_state": wiou.to_dict(),
    }


def _restore(
    path: str | Path, model: FewShotDetector, optimizer: torch.optim.Optimizer, wiou: WIoUState
) -> tuple[int, dict[str, float]]:
    """Loads weights, optimizer state and Wise-IoU mean from an epoch checkpoint; returns (step, best)."""
    checkpoint = load_checkpoint(path)
    if "optimizer" not in checkpoint.meta:
        raise InspectorError(
            "has no optimizer state to resume from (use an epoch_N.pt written with save_optimizer: true)",
            path=path,
        )
    restored = build_reference_model(checkpoint)
    if restored.config.to_dict() != model.config.to_dict():
        raise InspectorError("was trained with a different model config than this training config", path=path)
    model.load_state_dict(restored.state_dict())
    try:
        optimizer.load_state_dict(checkpoint.meta["optimizer"])
    except (ValueError, KeyError) as exc:
        raise InspectorError(f"its optimizer state does not fit this model ({exc})", path=path) from None
    wiou.mean = float(checkpoint.meta.get("wiou_state", {}).get("mean", wiou.mean))
    best = dict(checkpoint.meta.get("best_metrics") or {"map50": -math.inf})
    return int(checkpoint.meta.get("step", 0)), best


__all__ = ["RunData", "TrainResult", "run_data", "train", "validate", "validation_plan"]
