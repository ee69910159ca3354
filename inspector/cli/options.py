"""Parsers for option values shared by several commands."""

from __future__ import annotations

import argparse
import math
import os
from typing import TYPE_CHECKING

from inspector.errors import InspectorError

if TYPE_CHECKING:
    from inspector.batch import EvalSettings


def parse_weights(text: str | None) -> dict[str, float] | None:
    """{name: weight} from "bbox=2.0,cls=0.5"; None for an empty option."""
    if not text:
        return None
    weights: dict[str, float] = {}
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        name, sep, value = part.partition("=")
        try:
            weight = float(value)
        except ValueError:
            weight = math.nan
        if not sep or not name.strip() or not math.isfinite(weight):
            raise InspectorError(f"--weights: {part!r} is not NAME=NUMBER (e.g. bbox=2.0,cls=0.5)")
        weights[name.strip()] = weight
    return weights


def parse_logged(text: str | None) -> dict[str, str] | None:
    """{name: "raw" | "weighted"} from "bbox=raw,cls=weighted"; None for an empty option."""
    if not text:
        return None
    logged: dict[str, str] = {}
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        name, sep, value = part.partition("=")
        value = value.strip().lower()
        if not sep or not name.strip() or value not in ("raw", "weighted"):
            raise InspectorError(f"--logged: {part!r} is not NAME=raw or NAME=weighted (e.g. iou=weighted)")
        logged[name.strip()] = value
    return logged


def eval_settings(args: argparse.Namespace, checkpoint: str | os.PathLike) -> EvalSettings:
    """The EvalSettings the episode options give for `checkpoint`, as `evaluate` builds them: the episode
    shape from the checkpoint's train config unless given, inspector's default seed and clip gate unless
    given.

    Commands without prediction filters (`balance`, `coverage`) leave them at the model's defaults: the
    episodes drawn depend on the shape and seed only, so every command scores the same episodes.
    """
    from inspector.batch import EvalSettings  # torch: imported only by the commands that run a model
    from inspector.evaluate import CLIP_SCORE_THRESHOLD
    from inspector.plan import DEFAULT_SEED, resolve_shape, trained_shape

    shape = resolve_shape(trained_shape(checkpoint), args.n_way, args.k_shot, args.n_query)
    clip_gate = getattr(args, "clip_score_threshold", None)
    return EvalSettings(
        episodes=args.episodes,
        seed=DEFAULT_SEED if args.seed is None else args.seed,
        n_way=shape.n_way,
        k_shot=shape.k_shot,
        n_query=shape.n_query,
        score_threshold=getattr(args, "score_threshold", None),
        nms_iou=getattr(args, "nms_iou", None),
        clip_score_threshold=CLIP_SCORE_THRESHOLD if clip_gate is None else clip_gate,
    )


def add_model_arguments(parser: argparse.ArgumentParser, adapter_needs: str = "") -> None:
    """--adapter and --threads, as every command that runs a checkpoint takes them; `adapter_needs` says
    what this command needs of a user adapter beyond `predict` (e.g. "term_gradients")."""
    from inspector import limits

    needs = f"; it must provide {adapter_needs}" if adapter_needs else ""
    parser.add_argument(
        "--adapter",
        default="reference",
        metavar="SPEC",
        help=f"'reference' (default) or your own as package.module:factory{needs}",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=limits.eval_threads(),
        help=f"torch CPU threads per process (default {limits.eval_threads()}, INSPECTOR_EVAL_THREADS: the "
        "small episode tensors gain nothing from more, and torch's default oversubscribes the cores)",
    )
