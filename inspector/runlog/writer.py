"""RunWriter: write inspector's native JSON-lines log from your own training loop (stdlib only).

    with RunWriter("runs/exp1/log.jsonl", config={"loss_weights": {"bbox": 7.5, "cls": 0.5}}) as w:
        w.step(step, losses={"bbox": 0.41, "cls": 1.2}, lr=1e-4, epoch=0, positives=37, pos_iou=0.55)
        w.eval(step, {"map50": 0.31}, epoch=0)

Line 1 is a header carrying the run's config; every other line is one `step` or `eval` row.
Losses are logged RAW (before weighting) together with the weights used, so inspector can show
both raw and weighted curves. Each line is flushed as it is written: a crashed run leaves a log
that is readable up to its last step.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

FORMAT = "inspector-runlog"
VERSION = 1


def _number(value: Any) -> float | None:
    """A plain float from a Python number, a NumPy scalar or a one-element tensor (None stays None)."""
    if value is None:
        return None
    if hasattr(value, "item"):
        value = value.item()
    return float(value)


def _numbers(values: Mapping[str, Any]) -> dict[str, float | None]:
    return {str(k): _number(v) for k, v in values.items()}


class RunWriter:
    """Appends native log rows to `path`; writes the header only when the file has none yet.

    `config` should carry `loss_weights` ({component: weight}); they are the default weights of
    every `step`. Re-opening an existing log (a resumed run) appends to it without a second header.
    """

    def __init__(self, path: str | os.PathLike, config: Mapping[str, Any] | None = None):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        header, ends_mid_line = self._inspect_existing()
        # A resumed run given no config keeps the one its header recorded (its loss weights).
        self.config = dict(config or (header or {}).get("config") or {})
        self._weights = _numbers(self.config.get("loss_weights") or {})
        self._fh = open(self.path, "a", encoding="utf-8")
        if ends_mid_line:
            # The previous run died mid-line; start ours on a fresh line so both stay readable.
            self._fh.write("\n")
        if header is None:
            self._write(
                {
                    "type": "header",
                    "format": FORMAT,
                    "version": VERSION,
                    "config": self.config,
                    "started": time.time(),
                }
            )

    def _inspect_existing(self) -> tuple[dict | None, bool]:
        """(header of an existing log or None, whether that log ends mid-line)."""
        if not self.path.exists() or self.path.stat().st_size == 0:
            return None, False
        with open(self.path, "rb") as fh:
            first = fh.readline()
            fh.seek(-1, os.SEEK_END)
            last_byte = fh.read(1)
        try:
            head = json.loads(first)
        except ValueError:
            head = None
        if not (isinstance(head, dict) and head.get("format") == FORMAT):
            raise ValueError(
                f"{self.path} exists and is not an inspector run log; "
                "choose a new path instead of appending to another file"
            )
        return head, last_byte != b"\n"

    def _write(self, row: dict) -> None:
        # allow_nan: a diverged loss is written as the JSON literal NaN / Infinity, which the
        # reader counts instead of failing on.
        self._fh.write(json.dumps(row, allow_nan=True) + "\n")
        self._fh.flush()

    def step(
        self,
        step: int,
        losses: Mapping[str, Any],
        *,
        lr: float | None = None,
        epoch: int | None = None,
        weights: Mapping[str, Any] | None = None,
        positives: float | None = None,
        pos_iou: float | None = None,
    ) -> None:
        """Log one optimizer step: raw losses, the weights they are summed with, and the total.

        `weights` overrides the config's loss_weights for this step (e.g. a warm-up schedule);
        a component with no weight anywhere counts with weight 1.0. A loss (or weight) of None is written as
        null and left out of the total.
        """
        raw = _numbers(losses)
        used = {**self._weights, **_numbers(weights or {})}
        used = {name: used.get(name, 1.0) for name in raw}
        # A loss given as None (not computed this step) stays null in the row and out of the total, and so
        # does a term whose weight is None: the total is what was summed.
        total = sum(
            weight * value
            for name, value in raw.items()
            if value is not None and (weight := used[name]) is not None
        )
        self._write(
            {
                "type": "step",
                "step": int(step),
                "epoch": None if epoch is None else int(epoch),
                "time": time.time(),
                "lr": _number(lr),
                "losses": raw,
                "weights": used,
                "total": total,
                "positives": _number(positives),
                "pos_iou": _number(pos_iou),
            }
        )

    def eval(self, step: int, metrics: Mapping[str, Any], *, epoch: int | None = None) -> None:
        """Log evaluation metrics (mAP, ST-IoU, …) measured after optimizer step `step`."""
        self._write(
            {
                "type": "eval",
                "step": int(step),
                "epoch": None if epoch is None else int(epoch),
                "time": time.time(),
                "metrics": _numbers(metrics),
            }
        )

    def close(self) -> None:
        self._fh.close()

    def __enter__(self) -> RunWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
