"""A protocol fingerprint: everything that decides what a few-shot result measures, apart from the checkpoint.

Two results are comparable when their fingerprints are equal: the same dataset content, class split, ways,
K-shots, seeds, episode shape and count, score / NMS / clip settings, test-time augmentation and inspector
version. `protocol_differences` names what differs; `check_comparable` refuses a comparison across a
difference unless it is allowed, and then returns the differences for every number to carry.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import inspector
from inspector.batch import EvalSettings
from inspector.errors import InspectorError
from inspector.protocol.split import ClassSplit, WaysFrom

# The fields in the order a message names them.
FIELDS = (
    "data_hash",
    "clips_hash",
    "split",
    "ways_from",
    "k_shots",
    "seeds",
    "episodes",
    "n_way",
    "n_query",
    "score_threshold",
    "nms_iou",
    "clip_score_threshold",
    "tta",
    "inspector_version",
)


def tta_flags(detector: object) -> list[str]:
    """The test-time augmentations a detector declares (an adapter's `tta` attribute: names such as "hflip",
    "multiscale"); inspector's own reference detector runs none."""
    flags = getattr(detector, "tta", None)
    if isinstance(flags, str):
        return [flags]
    if isinstance(flags, Sequence) and all(isinstance(f, str) for f in flags):
        return sorted(flags)
    return []


def fingerprint(
    meta: Mapping[str, Any],
    base: EvalSettings,
    k_shots: Sequence[int],
    seeds: Sequence[int],
    split: ClassSplit | None,
    ways_from: WaysFrom,
    tta: Sequence[str] = (),
) -> dict[str, Any]:
    """The protocol of a grid run: `meta` is its batch metadata (data and clips hashes), `base` its settings
    (the K and seed of each cell come from the grid)."""
    return {
        "data_hash": meta.get("data_hash"),
        "clips_hash": meta.get("clips_hash"),
        "split": None if split is None else {"novel": list(split.novel), "base": list(split.base)},
        "ways_from": ways_from,
        "k_shots": list(k_shots),
        "seeds": list(seeds),
        "episodes": base.episodes,
        "n_way": base.n_way,
        "n_query": base.n_query,
        "score_threshold": base.score_threshold,
        "nms_iou": base.nms_iou,
        "clip_score_threshold": base.clip_score_threshold,
        "tta": list(tta),
        "inspector_version": inspector.__version__,
    }


def protocol_differences(a: Mapping[str, Any], b: Mapping[str, Any]) -> list[str]:
    """What differs between two fingerprints, one "field: A's vs B's" per field (hashes shortened)."""
    out = []
    for key in (*FIELDS, *sorted((set(a) | set(b)) - set(FIELDS))):
        va, vb = a.get(key), b.get(key)
        if _canonical(va) != _canonical(vb):
            out.append(f"{key}: {_shown(key, va)} vs {_shown(key, vb)}")
    return out


def check_comparable(
    a: Mapping[str, Any] | None, b: Mapping[str, Any] | None, allow: bool, names: tuple[str, str] = ("A", "B")
) -> list[str]:
    """The differences between two results' protocols; InspectorError naming them unless `allow`. A result
    without a fingerprint (written before fingerprints) counts as a difference."""
    if a is None or b is None:
        missing = [n for n, f in zip(names, (a, b), strict=True) if f is None]
        diffs = [f"{' and '.join(missing)} carries no protocol fingerprint (an older result)"]
    else:
        diffs = protocol_differences(a, b)
    if diffs and not allow:
        raise InspectorError(
            f"{names[0]} and {names[1]} were evaluated under different protocols, so their numbers do not "
            f"compare: {'; '.join(diffs)}. Evaluate both the same way, or pass --allow-protocol-diff to "
            "compare anyway (every number is then marked)"
        )
    return diffs


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


def _shown(key: str, value: Any) -> str:
    if key.endswith("_hash") and isinstance(value, str):
        return value[:12]
    text = json.dumps(value, sort_keys=True, ensure_ascii=False)
    return text if len(text) <= 80 else text[:77] + "…"
