"""Evaluate throughput on CPU at the demo's settings: episodes per second against a goal of 20.

    python bench/bench_evaluate.py [--episodes 100] [--threads 1]
    python bench/bench_evaluate.py --threads-ab 3   # 1 thread vs torch's default, interleaved rounds

Measures inspector.batch.evaluate_batch (episode sampling, image decoding, one forward pass per episode
under no_grad, losses, rows) on demo/runs/troubled/best.pt over demo/data/val, 2-way 3-shot 4 queries (the
settings the demo was trained with), and separately the summary (COCO mAP: inspector/coco.py) and the
1,000-resample bootstrap of Δ mAP between the two demo runs.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from inspector.adapters import load_detector  # noqa: E402
from inspector.batch import EpisodePlan, EvalSettings, evaluate_batch, image_records, run_meta, summarize  # noqa: E402
from inspector.compare import bootstrap_delta_map  # noqa: E402
from inspector.data import read_dataset  # noqa: E402

GOAL = 20.0  # episodes / s on CPU (the task's target for the demo's settings)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--episodes", type=int, default=100)
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="default 1, what each of several shards on one machine should use; measured on a 2-core box: "
        "37/s with 1, 49/s with 2 when idle, but 2 threads under load from other "
        "processes fell to ~2.4/s (oversubscription)",
    )
    parser.add_argument(
        "--threads-ab",
        type=int,
        default=0,
        metavar="ROUNDS",
        help="instead: ROUNDS interleaved rounds of 1 thread vs torch's default thread count "
        "on the troubled checkpoint; prints min and median episodes/s of each",
    )
    args = parser.parse_args()
    if args.threads_ab:
        threads_ab(args.episodes, args.threads_ab)
        return
    torch.set_num_threads(args.threads)
    data = read_dataset(REPO / "demo" / "data" / "val")
    settings = EvalSettings(episodes=args.episodes, seed=0, n_way=2, k_shot=3, n_query=4)
    plan = EpisodePlan(data, None, settings)
    results = {}
    for run in ("troubled", "fixed"):
        ckpt = REPO / "demo" / "runs" / run / "best.pt"
        detector = load_detector(ckpt)
        meta = run_meta(ckpt, "reference", data, None, settings, data.class_names, plan.total)
        evaluate_batch(detector, plan, meta, shard=_warmup(plan.total))
        start = time.perf_counter()
        results[run] = evaluate_batch(detector, plan, meta)
        seconds = time.perf_counter() - start
        rate = plan.total / seconds
        print(
            f"evaluate {run}: {plan.total} episodes in {seconds:.2f} s = {rate:.1f} episodes/s "
            f"(goal {GOAL:.0f}/s: ratio {rate / GOAL:.2f}x, threads {args.threads})"
        )
    start = time.perf_counter()
    summary = summarize(results["troubled"])
    print(f"summarize (COCO mAP over {summary['images']} images): {time.perf_counter() - start:.3f} s")
    a, b = results["troubled"], results["fixed"]
    start = time.perf_counter()
    ci50, _ = bootstrap_delta_map(
        image_records(a.rows),
        image_records(b.rows),
        a.rows.loc[a.rows["kind"] == "image", "position"].to_numpy(),
    )
    print(
        f"bootstrap Δ mAP (1,000 paired resamples, both mAPs): {time.perf_counter() - start:.2f} s; "
        f"Δ mAP@0.5 = {ci50.delta:+.4f} [{ci50.low:+.4f}, {ci50.high:+.4f}]"
    )


def threads_ab(episodes: int, rounds: int) -> None:
    """Interleaved A/B: the same evaluation with 1 torch thread and with torch's default (one per core)."""
    default = torch.get_num_threads()
    data = read_dataset(REPO / "demo" / "data" / "val")
    settings = EvalSettings(episodes=episodes, seed=0, n_way=2, k_shot=3, n_query=4)
    plan = EpisodePlan(data, None, settings)
    ckpt = REPO / "demo" / "runs" / "troubled" / "best.pt"
    detector = load_detector(ckpt)
    meta = run_meta(ckpt, "reference", data, None, settings, data.class_names, plan.total)
    rates: dict[int, list[float]] = {1: [], default: []}
    for _ in range(rounds):
        for threads in (1, default):
            torch.set_num_threads(threads)
            evaluate_batch(detector, plan, meta, shard=_warmup(plan.total))
            start = time.perf_counter()
            evaluate_batch(detector, plan, meta)
            rates[threads].append(plan.total / (time.perf_counter() - start))
    for threads, r in rates.items():
        print(
            f"{threads} thread(s): {plan.total} episodes, min {min(r):.1f} / "
            f"median {statistics.median(r):.1f} episodes/s over {rounds} rounds"
        )
    print(
        f"1 thread vs {default}: {statistics.median(rates[1]) / statistics.median(rates[default]):.2f}× "
        "(median ratio)"
    )


def _warmup(total: int):
    from inspector.batch import Shard

    return Shard(0, max(1, total // 5))  # a few episodes first: one-off allocator and kernel set-up


if __name__ == "__main__":
    main()
