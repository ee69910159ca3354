"""Strict JSON out of analysis results: numpy values become Python values, NaN/inf become null."""

from __future__ import annotations

import dataclasses
import json
import math
from typing import Any

import numpy as np


def json_safe(value: Any) -> Any:
    """A copy of `value` made only of dict/list/str/int/float/bool/None, with finite floats only."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return json_safe(dataclasses.asdict(value))
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if isinstance(value, np.ndarray):
        return json_safe(value.tolist())
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    if value is None or isinstance(value, str):
        return value
    return str(value)


def dumps(value: Any, **kwargs: Any) -> str:
    """Strict JSON text (no NaN literals) of `value`."""
    return json.dumps(json_safe(value), allow_nan=False, **kwargs)
