"""Every column layout a headerless YOLO `results.txt` was written in, and which one a file's rows are.

ultralytics/yolov3 (2018-08 … 2021-11), ultralytics/yolov5 (2020-05 … 2021-07) and WongKinYiu/yolov7 append
one whitespace-separated row to results.txt per epoch (per batch in yolov3's first months), with no header.
The row is the tqdm description string `s` of the epoch's last batch plus the validation results:

    # yolov5/train.py (1e84a23f3 … 96e36a7c9), yolov7/train.py, yolov3/train.py (76807fae … 7eb23e3c):
    s = ('%10s' * 2 + '%10.4g' * 6) % ('%g/%g' % (epoch, epochs - 1), mem, *mloss, targets.shape[0], imgsz)
    f.write(s + '%10.4g' * 7 % results + '\n')  # P, R, mAP@.5, mAP@.5-.95, val_loss(box, obj, cls)

yolov3 changed the tuple many times before it adopted yolov5's; each `Layout` below cites the commits of
ultralytics/yolov3 `train.py` (the `s = …` and `file.write(s + …)` lines) and `utils/utils.py`
`plot_results` (which names the columns) it was read from. Series are named as the Ultralytics CSV of the
same family names them (`train/box_loss`, `metrics/mAP_0.5`, …); where a version's TensorBoard tags named
them otherwise, as yolov3's `train/giou_loss` and `metrics/F1` (yolov3 train.py 41246aa0), those names.
The logged total is `train/total_loss`, the remaining columns `labels`, `img_size`, `gpu_mem`,
`batch_time`. yolov3 printed its objectness term as "conf" until da9ec7d1 (2019-07-08) and "obj" after:
the same BCE term of compute_loss, named `obj_loss` throughout.

A layout is told by its column count and by what its cells hold (`e/N` counters, a `7.27G` memory cell,
whole numbers where a count or an image size belongs) and by the significant digits of its numbers
(`%10.3g` in yolov3 until 2020-11, `%10.4g` after and in yolov5/yolov7).
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

# What a cell holds: `e/N` (the 0-based epoch of N + 1), `i/N` (the batch in the epoch), memory as
# '%.3gG' (GB), memory as a bare number, a whole number (a count, an image size), any number.
Kind = Literal["epoch", "batch", "mem_g", "mem", "count", "size", "number"]

# A number as Python's %g writes it, and the nan/inf it writes for non-finite values.
NUMBER = r"[-+]?(?:(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?|[nN]a[nN]|[iI]nf(?:inity)?)"
COUNTER = r"\d{1,9}/\d{1,9}"  # '%g/%g' of two ints; 9 digits keep e·(N + 1) + i inside int64
_NUMBER = re.compile(NUMBER)
_MEM_G = re.compile(NUMBER + "G")
_COUNTER = re.compile(COUNTER)
# Rows of a file's head that decide its layout (a results.txt has one per epoch: a few hundred at most).
SAMPLE_ROWS = 200
# How far a logged total may be from the sum of its logged parts: each is rounded to 3 or 4 significant
# digits (relative error ≤ 5e-3 each), so 2 % holds for any rounding and rejects a count read as a loss.
TOTAL_TOLERANCE = 0.02
# Share of a head's rows (of its most common width) a layout must hold: one damaged row in five is the
# reader's to skip, fewer fitting rows say the file is something else.
MIN_FIT_SHARE = 0.8

Col = tuple[str, Kind]
_EPOCH: Col = ("epoch", "epoch")
_BATCH: Col = ("batch", "batch")
_MEM_G_COL: Col = ("gpu_mem", "mem_g")
_LABELS: Col = ("labels", "count")
_IMG: Col = ("img_size", "size")
_TIME: Col = ("batch_time", "number")  # seconds the epoch's last batch took (time.time() - t)


def _numbers(*names: str) -> tuple[Col, ...]:
    return tuple((name, "number") for name in names)


# The five running means yolov3 kept from 2019-02-19 to 2019-08-24: GIoU (or xy), wh, obj, cls, total.
_XYWH5 = _numbers("train/giou_loss", "train/wh_loss", "train/obj_loss", "train/cls_loss", "train/total_loss")
_XY5 = _numbers("train/xy_loss", "train/wh_loss", "train/obj_loss", "train/cls_loss", "train/total_loss")
_PRF = _numbers("metrics/precision", "metrics/recall", "metrics/mAP_0.5", "metrics/F1")
_VAL_TOTAL: Col = ("val/total_loss", "number")  # the test loss, the total of the val terms
# yolov3 2018: running x, y, w, h, conf, cls, total losses, then the batch's P, R, nGT, TP, FP, FN, time.
_XYWH_2018 = _numbers(
    "train/x_loss",
    "train/y_loss",
    "train/w_loss",
    "train/h_loss",
    "train/obj_loss",
    "train/cls_loss",
    "train/total_loss",
)
_BATCH_2018 = (
    *_XYWH_2018,
    *_numbers("train/precision", "train/recall"),
    _LABELS,
    *_numbers("train/TP", "train/FP", "train/FN"),
    _TIME,
)


@dataclass(frozen=True)
class Layout:
    """One results.txt layout: its columns in file order and where it was written."""

    key: str
    period: str  # the trainer and commits that wrote it
    columns: tuple[Col, ...]
    digits: int  # significant digits of its %g numbers
    per_batch: bool = False  # a row per batch (yolov3 2018), not per epoch
    giou_or_xy: bool = False  # the first loss is GIoU, or xy when trained with --xywh (wh then nonzero)
    notes: tuple[str, ...] = ()  # what is always uncertain about this layout (warnings)

    @property
    def width(self) -> int:
        return len(self.columns)

    @property
    def legacy(self) -> bool:
        """Written by yolov3 before it took yolov5's layout (gains then lived in train.py, not a hyp.yaml)."""
        return self.key != "yolov5"


LAYOUTS: tuple[Layout, ...] = (
    # yolov5/train.py 1e84a23f3 (2020-05-29) … 96e36a7c9 (2021-07-25, results.csv from then on); the same
    # lines in yolov7/train.py and in yolov3/train.py 76807fae (2020-11-26) … 7eb23e3c (2021-11-14).
    Layout(
        "yolov5",
        "ultralytics/yolov5 2020-05 … 2021-07, ultralytics/yolov3 2020-11 … 2021-11, WongKinYiu/yolov7",
        (
            _EPOCH,
            _MEM_G_COL,
            *_numbers("train/box_loss", "train/obj_loss", "train/cls_loss", "train/total_loss"),
            _LABELS,
            _IMG,
            *_numbers(
                "metrics/precision",
                "metrics/recall",
                "metrics/mAP_0.5",
                "metrics/mAP_0.5:0.95",
                "val/box_loss",
                "val/obj_loss",
                "val/cls_loss",
            ),
        ),
        digits=4,
    ),
    # yolov3 39dcf0d5 (2019-08-24) … 76807fae: s = ('%10s' * 2 + '%10.3g' * 6) % (…, mem, *mloss,
    # len(targets), img_size); f.write(s + '%10.3g' * 7 % results)  # P, R, mAP, F1,
    # test_losses=(GIoU, obj, cls)
    Layout(
        "yolov3-2019-08-24",
        "ultralytics/yolov3 39dcf0d5 (2019-08-24) … 76807fae (2020-11-26)",
        (
            _EPOCH,
            _MEM_G_COL,
            *_numbers("train/giou_loss", "train/obj_loss", "train/cls_loss", "train/total_loss"),
            _LABELS,
            _IMG,
            *_PRF,
            *_numbers("val/giou_loss", "val/obj_loss", "val/cls_loss"),
        ),
        digits=3,
    ),
    # yolov3 2ee16e82 (2019-08-04) … 39dcf0d5: s = ('%10s' * 2 + '%10.3g' * 7);
    # f.write(s + '%11.3g' * 7 % results); test.py: loss += compute_loss(…)[1][[0, 2, 3]]  # GIoU, obj, cls
    Layout(
        "yolov3-2019-08-04",
        "ultralytics/yolov3 2ee16e82 (2019-08-04) … 39dcf0d5 (2019-08-24)",
        (
            _EPOCH,
            _MEM_G_COL,
            *_XYWH5,
            _LABELS,
            _IMG,
            *_PRF,
            *_numbers("val/giou_loss", "val/obj_loss", "val/cls_loss"),
        ),
        digits=3,
        giou_or_xy=True,
    ),
    # yolov3 51d7e460 (2019-07-16) … 2ee16e82: s = ('%10s' * 2 + '%10.3g' * 7) % (…, '%.3gG' % mem,
    # *mloss, …); f.write(s + '%11.3g' * 5 % results)  # P, R, mAP, F1, test_loss (the total)
    Layout(
        "yolov3-2019-07-16c",
        "ultralytics/yolov3 51d7e460 (2019-07-16) … 2ee16e82 (2019-08-04)",
        (_EPOCH, _MEM_G_COL, *_XYWH5, _LABELS, _IMG, *_PRF, _VAL_TOTAL),
        digits=3,
        giou_or_xy=True,
    ),
    # yolov3 81540b80 (2019-07-16): s = ('%8s' + '%10.3g' * 8) % (…, mem, *mloss, len(targets), img_size),
    # mem in GB.
    Layout(
        "yolov3-2019-07-16b",
        "ultralytics/yolov3 81540b80 … 51d7e460 (2019-07-16)",
        (_EPOCH, ("gpu_mem", "mem"), *_XYWH5, _LABELS, _IMG, *_PRF, _VAL_TOTAL),
        digits=3,
        giou_or_xy=True,
    ),
    # yolov3 09b36705 … b459587c (2019-07-16): s = ('%8s' + '%10.3g' * 8) % (…, *mloss, len(targets),
    # img_size, mem); mem was memory_cached() in bytes, then / 1E6, then / 1E9 within that day.
    Layout(
        "yolov3-2019-07-16a",
        "ultralytics/yolov3 09b36705 … 81540b80 (2019-07-16)",
        (_EPOCH, *_XYWH5, _LABELS, _IMG, ("gpu_mem", "mem"), *_PRF, _VAL_TOTAL),
        digits=3,
        giou_or_xy=True,
        notes=("gpu_mem of this yolov3 layout is in bytes, MB or GB: three commits of 2019-07-16 differ.",),
    ),
    # yolov3 db2674aa (2019-06-30) … 09b36705: s = ('%8s%12s' + '%10.3g' * 7) % (e/N, i/nb, *mloss,
    # len(targets), img_size); f.write(s + '%11.3g' * 5 % results)  # P, R, mAP, F1, test_loss
    Layout(
        "yolov3-2019-06-30",
        "ultralytics/yolov3 db2674aa (2019-06-30) … 09b36705 (2019-07-16)",
        (_EPOCH, _BATCH, *_XYWH5, _LABELS, _IMG, *_PRF, _VAL_TOTAL),
        digits=3,
        giou_or_xy=True,
    ),
    # yolov3 cb352be0 (2019-04-05) … db2674aa: the same with time.time() - t where img_size is now.
    Layout(
        "yolov3-2019-04-05",
        "ultralytics/yolov3 cb352be0 (2019-04-05) … db2674aa (2019-06-30)",
        (_EPOCH, _BATCH, *_XYWH5, _LABELS, _TIME, *_PRF, _VAL_TOTAL),
        digits=3,
        giou_or_xy=True,
    ),
    # yolov3 45fac6bf (2019-03-17) … cb352be0: s = ('%8s%12s' + '%10.3g' * 7);
    # f.write(s + '%11.3g' * 3 % (P, R, mAP))
    Layout(
        "yolov3-2019-03-17",
        "ultralytics/yolov3 45fac6bf (2019-03-17) … cb352be0 (2019-04-05)",
        (
            _EPOCH,
            _BATCH,
            *_XY5,
            _LABELS,
            _TIME,
            *_numbers("metrics/precision", "metrics/recall", "metrics/mAP_0.5"),
        ),
        digits=3,
    ),
    # yolov3 15bba5a3 (2019-02-19) … 45fac6bf: the same tuple, then f.write(s + '%11.3g' * 3 % (mAP, P, R)).
    Layout(
        "yolov3-2019-02-19",
        "ultralytics/yolov3 15bba5a3 (2019-02-19) … 45fac6bf (2019-03-17)",
        (
            _EPOCH,
            _BATCH,
            *_XY5,
            _LABELS,
            _TIME,
            *_numbers("metrics/mAP_0.5", "metrics/precision", "metrics/recall"),
        ),
        digits=3,
    ),
    # yolov3 22dc8c0e (2019-02-10) … 15bba5a3: s = ('%8s%12s' + '%10.3g' * 9) % (e/N, i/N, x, y, w, h,
    # conf, cls, loss, nT, time); f.write(s + '%11.3g' * 3 % (mAP, P, R))
    Layout(
        "yolov3-2019-02-10",
        "ultralytics/yolov3 22dc8c0e (2019-02-10) … 15bba5a3 (2019-02-19)",
        (
            _EPOCH,
            _BATCH,
            *_XYWH_2018,
            _LABELS,
            _TIME,
            *_numbers("metrics/mAP_0.5", "metrics/precision", "metrics/recall"),
        ),
        digits=3,
    ),
    # yolov3 80966740 (2018-11-22) … 22dc8c0e: s = ('%11s%11s' + '%11.3g' * 14)
    # (later '%8s%12s' + '%10.3g' * 14); f.write(s + '%11.3g' * 3 % (mAP, P, R))
    Layout(
        "yolov3-2018-11-22",
        "ultralytics/yolov3 80966740 (2018-11-22) … 22dc8c0e (2019-02-10)",
        (_EPOCH, _BATCH, *_BATCH_2018, *_numbers("metrics/mAP_0.5", "metrics/precision", "metrics/recall")),
        digits=3,
    ),
    # yolov3 45c55677 (2018-11-14) … 80966740: f.write(s + '%11.3g' % mAP), once per epoch.
    Layout(
        "yolov3-2018-11-14",
        "ultralytics/yolov3 45c55677 (2018-11-14) … 80966740 (2018-11-22)",
        (_EPOCH, _BATCH, *_BATCH_2018, ("metrics/mAP_0.5", "number")),
        digits=3,
    ),
    # yolov3 c3731591 (2018-08-26) … 45c55677: file.write(s + '\n') inside the batch loop: a row per batch.
    Layout(
        "yolov3-2018-08-26",
        "ultralytics/yolov3 c3731591 (2018-08-26) … 45c55677 (2018-11-14)",
        (_EPOCH, _BATCH, *_BATCH_2018),
        digits=3,
        per_batch=True,
    ),
)
WIDTHS = tuple(sorted({layout.width for layout in LAYOUTS}))


@dataclass(frozen=True)
class Identified:
    """The layout a file's rows were written in, and what is uncertain about that choice."""

    layout: Layout
    warnings: tuple[str, ...] = ()


def _fits(cell: str, kind: Kind) -> bool:
    if kind in ("epoch", "batch"):
        return _COUNTER.fullmatch(cell) is not None
    if kind == "mem_g":
        return _MEM_G.fullmatch(cell) is not None
    if _NUMBER.fullmatch(cell) is None:
        return False
    if kind in ("count", "size"):
        value = float(cell)
        return math.isfinite(value) and value >= 0 and value.is_integer()
    return True


def significant_digits(cell: str) -> int:
    """Significant digits %g wrote in a number cell (0 for nan/inf and for zero)."""
    mantissa = re.split(r"[eE]", cell.lstrip("+-"), maxsplit=1)[0].replace(".", "")
    return len(mantissa.lstrip("0")) if mantissa.isdigit() else 0


def _total_parts(layout: Layout) -> tuple[int, tuple[int, ...]] | None:
    """(column of train/total_loss, columns of the train losses before it), None without a total."""
    names = [name for name, _ in layout.columns]
    if "train/total_loss" not in names:
        return None
    total = names.index("train/total_loss")
    return total, tuple(
        j for j, name in enumerate(names[:total]) if name.startswith("train/") and name.endswith("_loss")
    )


def _sums_up(row: Sequence[str], total: int, parts: tuple[int, ...]) -> bool:
    """Whether the row's total is the sum of its parts, to the %g rounding (a row with nan/inf passes)."""
    values = [float(row[j]) for j in (total, *parts)]
    if not all(math.isfinite(v) for v in values):
        return True
    return abs(values[0] - sum(values[1:])) <= TOTAL_TOLERANCE * max(abs(values[0]), 1e-6)


def _mismatch(layout: Layout, row: Sequence[str]) -> str | None:
    """What in `row` `layout` cannot hold, described; None when the row fits.

    Beyond each cell's kind, the logged total must be the sum of the losses before it (compute_loss
    returns `loss = lbox + lobj + lcls` and the row holds their running means): among layouts of one
    width this tells a count from a loss where both are whole numbers.
    """
    for j, (cell, (name, kind)) in enumerate(zip(row, layout.columns, strict=False)):
        if not _fits(cell, kind):
            return f"column {j + 1} holds {cell!r} where {layout.key} has {name} ({kind})"
    split = _total_parts(layout)
    if split is not None and not _sums_up(row, *split):
        return f"column {split[0] + 1} ({row[split[0]]}) is not the sum of the {layout.key} losses before it"
    return None


def _constrained(layout: Layout) -> frozenset[tuple[int, Kind]]:
    return frozenset((j, kind) for j, (_, kind) in enumerate(layout.columns) if kind not in ("number", "mem"))


def _observed_digits(layout: Layout, rows: Sequence[Sequence[str]]) -> int:
    numeric = [j for j, (_, kind) in enumerate(layout.columns) if kind in ("number", "mem")]
    return max((significant_digits(row[j]) for row in rows for j in numeric), default=0)


def identify(rows: Sequence[Sequence[str]]) -> Identified | str:
    """The layout of `rows` (whitespace-split lines of a file's head), or a sentence saying why none fits.

    The most common row width decides which layouts are candidates; rows of other widths are the reader's
    to skip. A candidate must hold MIN_FIT_SHARE of those rows (a damaged row is the reader's to skip too)
    and the most of them; among several, the more specific one, then the one whose %g precision the numbers
    show, wins, and any ambiguity left is said in a warning.
    """
    widths = Counter(len(row) for row in rows if row)
    if not widths:
        return "no rows"
    width = widths.most_common(1)[0][0]
    sample = [row for row in rows if len(row) == width][:SAMPLE_ROWS]
    candidates = [layout for layout in LAYOUTS if layout.width == width]
    if not candidates:
        return (
            f"rows of {width} whitespace-separated column(s); the known results.txt layouts have "
            f"{', '.join(map(str, WIDTHS))}"
        )
    fits: dict[str, list[Sequence[str]]] = {}
    first_misfit: dict[str, str] = {}
    for layout in candidates:
        fits[layout.key] = []
        for row in sample:
            problem = _mismatch(layout, row)
            if problem is None:
                fits[layout.key].append(row)
            else:
                first_misfit.setdefault(layout.key, problem)
    best = max(len(rows_) for rows_ in fits.values())
    if best == 0 or best < MIN_FIT_SHARE * len(sample):
        return (
            f"rows of {width} columns that fit no known layout of that width "
            f"({'; '.join(first_misfit.values())})"
        )
    fitting = [layout for layout in candidates if len(fits[layout.key]) == best]
    # A layout whose constrained cells are a strict subset of another fitting one's says less about the rows
    # (yolov3's `batch_time` column holds any number, the `img_size` that replaced it only whole ones).
    fitting = [a for a in fitting if not any(_constrained(a) < _constrained(b) for b in fitting)]
    digits = _observed_digits(fitting[0], fits[fitting[0].key])
    precise = [layout for layout in fitting if digits <= layout.digits]
    exact = [layout for layout in precise if layout.digits == digits] or precise
    if not exact:
        return (
            f"rows of {width} columns whose numbers have {digits} significant digits, "
            "more than its layouts write"
        )
    chosen, others = exact[0], exact[1:]
    warnings = []
    if others:
        warnings.append(
            f"the rows fit {len(exact)} results.txt layouts of {width} columns ("
            f"{'; '.join(f'{o.key}: {o.period}' for o in exact)}); read as {chosen.key}, "
            "whose column names are given to the series."
        )
    return Identified(chosen, tuple(warnings))
