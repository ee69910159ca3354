"""Parsers for option values shared by several commands."""

from __future__ import annotations

import math

from inspector.errors import InspectorError


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
