"""pycocotools' `COCOeval.summarize()` block: each of its lines as a named metric.

Definition (cocodataset/cocoapi, PythonAPI/pycocotools/cocoeval.py, `COCOeval.summarize._summarize`):
every line is `iStr.format(title, type, iou, area, maxDets, value)` with

    iStr = ' {:<18} {} @[ IoU={:<9} | area={:>6s} | maxDets={:>3d} ] = {:0.3f}'

e.g. ` Average Precision  (AP) @[ IoU=0.50:0.95 | area=   all | maxDets=100 ] = 0.123`. `_summarizeDets`
prints 12 lines in this order: AP over IoU 0.50:0.95, AP at IoU 0.50, at 0.75, AP of small, medium and
large objects (at maxDets[2], 100 by default), AR at maxDets[0], [1], [2] (1, 10, 100), AR of small,
medium and large objects; `_summarizeKps` prints 10 (maxDets=20). When no ground truth falls in a
cell (no small objects in the set, say) the mean is over nothing and the line prints `-1.000`: that
is "not measured", never a score, so it becomes NaN and the dialect says so in a warning.

Names are built from what the line says, not from its position, so a block with other maxDets
(mmdet's proposal_nums 100/300/1000) or the keypoint block still gets distinct, meaningful names:
AP/AR; + the IoU in percent when it is one threshold (AP50, AP75); + s/m/l for a size (APs, ARl);
+ maxDets for an AR over all sizes and the IoU range (AR1, AR10, AR100). YOLOX, Detectron2 and
mmdet 2.x evaluators print this block into their logs; each dialect adds its own prefix (`val/`).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Literal, cast

# A line of the block, for `text_table.matching` (RE2) before the per-line parse below.
SUMMARY_RE2 = r"^\s*Average (?:Precision|Recall)\s+\(A[PR]\)\s+@\[\s*IoU="
_LINE = re.compile(
    r"^\s*Average (?:Precision|Recall)\s+\((?P<kind>A[PR])\)\s+@\[\s*IoU=(?P<iou>[0-9.:]+)\s*\|\s*"
    r"area=\s*(?P<area>\S+)\s*\|\s*maxDets=\s*(?P<dets>[0-9]+)\s*\]\s*=\s*"
    r"(?P<value>[-+]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][-+]?[0-9]+)?|[-+]?(?i:nan|inf))\s*$"
)
# What `_summarize` prints when no ground truth falls in the cell (`mean_s = -1`).
NOT_MEASURED = -1.0
AREA_SUFFIX = {"all": "", "small": "s", "medium": "m", "large": "l"}


@dataclass(frozen=True)
class SummaryLine:
    """One line of the block: what it averages and its value (NaN where pycocotools printed -1)."""

    kind: Literal["AP", "AR"]
    iou: str  # "0.50:0.95" (a range) or one threshold, "0.50"
    area: str  # all, small, medium, large (or a custom areaRngLbl)
    max_dets: int
    value: float
    not_measured: bool  # the line printed -1.000: no ground truth of that kind

    @property
    def name(self) -> str:
        """AP, AP50, AP75, APs, APm, APl, AR1, AR10, AR100, ARs, ARm, ARl (see the module docstring)."""
        name: str = self.kind
        one_threshold = ":" not in self.iou
        if one_threshold:
            name += f"{round(float(self.iou) * 100):d}"
        suffix = AREA_SUFFIX.get(self.area, f"_{self.area}")
        name += suffix
        if self.kind == "AR" and not one_threshold and not suffix:
            name += str(self.max_dets)
        return name


def parse_line(line: str) -> SummaryLine | None:
    """The summary line `line` is, or None when it is not one (or is damaged)."""
    m = _LINE.match(line)
    if m is None:
        return None
    iou = m.group("iou")
    try:
        for bound in iou.split(":"):
            float(bound)
        value = float(m.group("value"))
    except ValueError:
        return None
    if iou.count(":") > 1:
        return None
    not_measured = value == NOT_MEASURED
    return SummaryLine(
        cast(Literal["AP", "AR"], m.group("kind")),  # `_LINE` only matches (?P<kind>A[PR])
        iou,
        m.group("area"),
        int(m.group("dets")),
        math.nan if not_measured else value,
        not_measured,
    )


def not_measured_warning(counts: dict[str, int]) -> str:
    """The warning for metrics that printed -1.000, {metric name: how many evaluations}."""
    detail = ", ".join(f"{name}: {n}" for name, n in counts.items())
    return (
        f"pycocotools printed -1.000 for {detail} (evaluation(s)): no ground-truth object of that kind "
        "(size) in the evaluation set, so nothing was measured; kept as NaN, not as a score of -1."
    )
