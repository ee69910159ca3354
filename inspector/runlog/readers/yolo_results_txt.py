"""Headerless YOLO `results.txt`: ultralytics/yolov3, ultralytics/yolov5 before results.csv,
WongKinYiu/yolov7.

One whitespace-separated row per epoch, `e/N` first (0-based epoch of N + 1), in one of the layouts of
yolo_txt_layouts (told by column count and content). The step is the epoch as logged (the Ultralytics
results.csv of yolov5 keeps it 0-based too); yolov3's 2018 layout wrote a row per batch, whose step is
e·(nb + 1) + i from its `e/N` and `i/nb` cells. Rows whose epoch goes back are appended runs (a resume, a
restart in the same folder: yolov3 before 2020-11 appended every run to ./results.txt), and a row whose N
differs from the row before it is a new launch: both start a segment. Loss gains come from hyp.yaml or
opt.yaml (yolo_txt_hyp); the losses are logged already multiplied by them.

The file is read a piece at a time (text_decode.text_pieces: CRLF, a BOM, non-UTF-8 bytes, NUL-damaged and
over-long lines) and each piece is split and converted by pyarrow, so a million rows read in seconds.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from numpy.typing import DTypeLike

from inspector.errors import InspectorError
from inspector.runlog import yolo_txt_hyp as hyp_files
from inspector.runlog.companions import gain_problem
from inspector.runlog.record import RunLog, assemble
from inspector.runlog.steps import lines_text
from inspector.runlog.text_decode import NotUtf8, TextLines, sniff_text, text_pieces
from inspector.runlog.text_pairs import as_lines
from inspector.runlog.yolo_txt_layouts import MIN_FIT_SHARE, NUMBER, SAMPLE_ROWS, Identified, Layout, identify

NAME = "yolo_results_txt"
DESCRIPTION = "YOLO results.txt without a header (YOLOv3, YOLOv5 before results.csv, YOLOv7)"

# Above the text reader's 0.5 and csv's 0.3, whose sniffs also accept a file of number rows.
SNIFF_SCORE = 0.85
_COUNTER_FIELDS = r"^(?P<a>\d{1,9})/(?P<b>\d{1,9})$"  # yolo_txt_layouts.COUNTER, its two parts named
_MEM_FIELD = rf"^(?P<v>{NUMBER})G$"
_NUMBER_FULL = rf"^{NUMBER}$"


def _head_rows(text: str, cut: bool) -> list[list[str]]:
    lines = text.splitlines()
    if cut and lines:
        lines = lines[:-1]  # the head may end inside a line
    return [line.split() for line in lines if line.strip()]


def sniff(path: Path, head: bytes) -> float:
    """SNIFF_SCORE when most complete lines of `head` are rows of one known results.txt layout, else 0.0."""
    try:
        text = sniff_text(head)
        if not text:
            return 0.0
        rows = _head_rows(text, cut=not text.endswith(("\n", "\r")) and text.count("\n") > 0)[:SAMPLE_ROWS]
        found = identify(rows)
        if not isinstance(found, Identified):
            return 0.0
        # Most lines must also have the layout's width: a console log with a stray row-like line is not a
        # results.txt, a results.txt with one damaged line still is.
        fitting = sum(len(row) == found.layout.width for row in rows)
        return SNIFF_SCORE if fitting >= MIN_FIT_SHARE * len(rows) else 0.0
    except Exception:  # sniff never raises
        return 0.0


@dataclass
class _Rows:
    """The rows of one layout gathered from every piece: per-piece arrays, joined at the end."""

    layout: Layout
    steps: list[np.ndarray] = field(default_factory=list)
    epochs: list[np.ndarray] = field(default_factory=list)
    totals: list[np.ndarray] = field(default_factory=list)  # N of each row's e/N (a change is a new launch)
    values: dict[str, list[np.ndarray]] = field(default_factory=dict)
    bad: list[np.ndarray] = field(default_factory=list)  # file lines that are no row of the layout
    truncated: int | None = None  # the unterminated last line, cut short


def _owned(array: pa.Array) -> np.ndarray:
    """A NumPy copy of a numeric Arrow array: kept across pieces, it must not pin the piece's Arrow buffers
    (the pool then grew to the whole file's payload beside the joined columns: 470 MB peak for 1M rows)."""
    return np.array(array.to_numpy(zero_copy_only=False), copy=True)


def _counter(column: pa.Array) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(a, b, valid) of `a/b` cells."""
    parts = pc.extract_regex(column, _COUNTER_FIELDS)
    valid = parts.is_valid()
    # A cell that does not match is a null struct whose fields hold "": cast "0" there instead.
    a, b = (_owned(pc.cast(pc.if_else(valid, parts.field(f), "0"), pa.int64())) for f in ("a", "b"))
    return a, b, valid.to_numpy(zero_copy_only=False)


def _numbers(column: pa.Array, kind: str) -> tuple[np.ndarray, np.ndarray]:
    """(float64 values, valid) of number cells (`7.27G` memory cells for kind "mem_g")."""
    if kind == "mem_g":
        parts = pc.extract_regex(column, _MEM_FIELD)
        valid = parts.is_valid()
        column = pc.if_else(valid, parts.field("v"), "nan")
    else:
        valid = pc.fill_null(pc.match_substring_regex(column, _NUMBER_FULL), False)
        column = pc.if_else(valid, column, pa.scalar("nan", column.type))
    return _owned(pc.cast(column, pa.float64())), valid.to_numpy(zero_copy_only=False)


def _add_piece(rows: _Rows, piece: TextLines) -> None:
    """Parse one piece's lines into `rows`: the well-formed rows, and the lines that are not.

    Only the file's last piece can end without a line break (text_pieces cuts after one), so a piece's
    `truncated_last` is the file's.
    """
    layout, width = rows.layout, rows.layout.width
    # Trimmed first: the split keeps an empty token for leading whitespace (and a blank line is one "").
    trimmed = pc.utf8_trim_whitespace(as_lines(piece.text))
    tokens = pc.utf8_split_whitespace(trimmed)
    counts = np.where(
        pc.utf8_length(trimmed).to_numpy(zero_copy_only=False) > 0,
        pc.list_value_length(tokens).to_numpy(zero_copy_only=False),
        0,
    )
    numbers = piece.line_numbers
    odd = (counts > 0) & (counts != width)
    if piece.truncated_last and counts.size and 0 < counts[-1] < width:
        odd[-1] = False
        rows.truncated = int(numbers[-1])
    full = np.flatnonzero(counts == width)
    rows.bad.extend(a for a in (numbers[odd], piece.long_lines, piece.nul_lines) if a.size)
    if full.size == 0:
        return
    cells = pc.list_flatten(tokens.take(pa.array(full)))
    ok = np.ones(full.size, dtype=bool)
    columns: dict[str, np.ndarray] = {}
    epoch = total = batch = per_epoch = None
    for j, (name, kind) in enumerate(layout.columns):
        column = cells.take(pa.array(np.arange(j, full.size * width, width)))
        if kind == "epoch":
            epoch, total, valid = _counter(column)
        elif kind == "batch":
            batch, per_epoch, valid = _counter(column)
        else:
            columns[name], valid = _numbers(column, kind)
        ok &= valid
    rows.bad.append(numbers[full[~ok]])
    keep = None if ok.all() else ok
    pick = (lambda a: a) if keep is None else (lambda a: a[keep])
    e = pick(epoch)
    rows.steps.append(e * (pick(per_epoch) + 1) + pick(batch) if layout.per_batch else e)
    rows.epochs.append(e.astype(np.float64))
    rows.totals.append(pick(total))
    for name, values in columns.items():
        rows.values.setdefault(name, []).append(pick(values))


def _first_rows(path: Path, encoding: str) -> list[list[str]]:
    """Whitespace-split non-blank lines of the file's first piece (the complete ones), for `identify`."""
    pieces = text_pieces(path, encoding)
    try:
        piece = next(pieces, None)
    finally:
        pieces.close()
    if piece is None:
        raise InspectorError("the file is empty", path=path)
    lines = piece.text.split("\n")[: piece.line_numbers.size]
    if piece.truncated_last:
        lines = lines[:-1]
    return [line.split() for line in lines if line.strip()][: SAMPLE_ROWS * 4]


def _parse(path: Path, encoding: str) -> tuple[_Rows, Identified]:
    found = identify(_first_rows(path, encoding))
    if not isinstance(found, Identified):
        raise InspectorError(f"not a YOLO results.txt: {found}", path=path)
    rows = _Rows(found.layout)
    for piece in text_pieces(path, encoding):
        _add_piece(rows, piece)
    return rows, found


def _joined(parts: list[np.ndarray], dtype: DTypeLike) -> np.ndarray:
    """`parts` end to end; each part is dropped from the list once copied, so a column is never held twice."""
    out = np.empty(sum(part.size for part in parts), dtype=dtype)
    at = 0
    for i, part in enumerate(parts):
        out[at : at + part.size] = part
        at += part.size
        parts[i] = None  # type: ignore[call-overload]
    return out


def _launch_rows(totals: np.ndarray) -> np.ndarray:
    """Rows whose `e/N` has another N than the row before: a new launch of the trainer."""
    return np.flatnonzero(totals[1:] != totals[:-1]) + 1


def _name_xy(layout: Layout, columns: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Columns with yolov3's GIoU-or-xy loss named after what it held: xy when the wh loss is ever nonzero.

    yolov3 compute_loss (09b36705 … 2ee16e82): `if giou_loss: lxy += (k * h['giou']) * (1.0 - giou).mean()`
    `else: lxy += …xy MSE…; lwh += …wh MSE…`: with GIoU (the default) the wh term stays 0.
    """
    wh = columns.get("train/wh_loss")
    if not layout.giou_or_xy or wh is None or not np.any(np.nan_to_num(wh) != 0):
        return columns
    return {("train/xy_loss" if name == "train/giou_loss" else name): v for name, v in columns.items()}


def _framework(layout: Layout, said: str | None) -> tuple[str, list[str]]:
    """RunLog.framework for `layout` given what the companions say (yolo_txt_hyp.trainer), and why."""
    if layout.legacy or said in ("yolov5", "yolov3", "not yolov7"):
        return "yolov5", []
    if said == "yolov7":
        return "yolov7", []
    return "yolov5", [
        "this results.txt layout is written alike by ultralytics/yolov5 (2020-05 … 2021-07), "
        "ultralytics/yolov3 (2020-11 … 2021-11) and WongKinYiu/yolov7, and no hyp.yaml/opt.yaml "
        "says which: YOLOv5 conventions assumed (give its hyp.yaml to tell)."
    ]


def _gains(layout: Layout, names: Sequence[str], config: hyp_files.RunConfig) -> tuple[dict, list[str]]:
    """(config entries, warnings) for the loss gains the companions state."""
    out: dict = {}
    warnings = list(config.warnings)
    if config.hyp is None or config.hyp_file is None:
        wanted = [n for n in names if hyp_files.gain_keys(n)]
        if wanted:
            warnings.append(
                "no hyp.yaml or opt.yaml next to the log or uploaded with it: no loss gains recorded "
                f"for {', '.join(wanted)}."
            )
        if wanted and layout.legacy:
            # yolov3 train.py ec942bd2 (2020-02): hyp = {'giou': 3.54, 'cls': 37.4, 'obj': 49.5, …}
            warnings.append(
                f"yolov3 of this layout ({layout.period}) kept its gains in train.py's hyp dict "
                "(e.g. giou 3.54, cls 37.4, obj 49.5 in 2020-02), not YOLOv5's hyp.scratch defaults."
            )
        return out, warnings
    file_name = config.hyp_file.name
    weights, said = hyp_files.loss_weights(names, config.hyp, file_name)
    warnings += said
    out.update(loss_weights=weights, weights_file=file_name, hyp=config.hyp, hyp_file=str(config.hyp_file))
    if gain_problem(config.hyp.get("lr0")) is None:
        out["lr0"] = config.hyp["lr0"]
    if layout.legacy:
        warnings.append(
            f"yolov3 of this layout ({layout.period}) kept its gains in train.py and scaled some in "
            "compute_loss (by the batch size or a constant k): "
            f"the {file_name} values are recorded as given."
        )
    else:
        # yolov5/train.py 6ab589583 (2021-01-09) on, and yolov7/train.py: hyp['box'] *= 3. / nl;
        # hyp['cls'] *= nc / 80. * 3. / nl; hyp['obj'] *= (imgsz / 640) ** 2 * 3. / nl
        # (yolov5 before: hyp['cls'] *= nc / 80. only)
        warnings.append(
            "YOLOv5 and YOLOv7 rescale the hyp gains at train time (box, obj, cls × 3/layers; "
            "cls × classes/80; obj × (imgsz/640)²; YOLOv5 before 2021-01 only cls × classes/80): "
            f"the {file_name} values are recorded as given."
        )
    return out, warnings


def read(path: Path, companions: Sequence[Path] = ()) -> RunLog:
    """A RunLog over epochs (0-based, as logged) of a headerless results.txt, with the gains its hyp
    states."""
    try:
        rows, found = _parse(path, "utf-8")
    except NotUtf8:
        rows, found = _parse(path, "latin-1")
    layout = rows.layout
    steps = _joined(rows.steps, np.int64)
    warnings = list(found.warnings)
    bad = np.unique(_joined(rows.bad, np.int64))
    if bad.size:
        warnings.append(
            f"{bad.size} line(s) that are no row of the {layout.key} layout "
            f"({layout.width} columns) were skipped ({lines_text(bad)})."
        )
    if rows.truncated is not None:
        warnings.append(f"the last row (line {rows.truncated}) is truncated and was skipped.")
    if steps.size == 0:
        raise InspectorError(
            f"no complete row of the {layout.key} results.txt layout ({layout.width} columns)", path=path
        )
    columns = _name_xy(layout, {name: _joined(parts, np.float64) for name, parts in rows.values.items()})
    totals = _joined(rows.totals, np.int64)
    config_files = hyp_files.find_config(path, companions)
    framework, said = _framework(layout, hyp_files.trainer(config_files))
    warnings += said
    # With GIoU, yolov3's wh loss is the constant 0 (see _name_xy): no gain to look for.
    gained = [n for n in columns if n != "train/wh_loss" or "train/xy_loss" in columns]
    config, gain_warnings = _gains(layout, gained, config_files)
    warnings += gain_warnings
    warnings += layout.notes
    config.update(layout=layout.key, layout_period=layout.period, epochs=int(totals[-1]) + 1)
    return assemble(
        str(path),
        NAME,
        framework,
        steps,
        columns,
        epochs=_joined(rows.epochs, np.float64),
        config=config,
        warnings=warnings,
        step_unit="iteration" if layout.per_batch else "epoch",
        launches=_launch_rows(totals),
    )
