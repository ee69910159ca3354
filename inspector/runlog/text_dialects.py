"""Which program wrote a console log, and its step counters: mmdet 2.x, Detectron2, Ultralytics, epoch-local.

Each `parse_*` turns cleaned lines into a `Table` (row-aligned columns in file order) that
`text.read` hands to `assemble`. Numbers come from the vectorised pair extractor (text_pairs);
the per-line Python here only touches the few lines a dialect owns (headers, val rows, copypaste).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from inspector.runlog.text_pairs import NUM_RE2, extract_pairs

MMDET_TRAIN = r"Epoch \[(?P<e>\d+)\]\[(?P<i>\d+)/(?P<n>\d+)\]"
MMDET_ITER = r"Iter \[(?P<i>\d+)/(?P<n>\d+)\]"
MMDET_VAL = r"Epoch\(val\) \[(?P<e>\d+)\]\[\d+\]"
D2_ITER = r"\biter: (?P<i>\d+)\s"
ULTRA_HEADER = re.compile(r"^\s*Epoch\s+GPU_mem\s+(?P<cols>.+?)\s+Instances\s+Size\s*$")
# "Epoch 2 (268/500): loss=…" and tqdm's "Epoch 2:  54%|███ | 268/500 [… loss=…]".
EPOCH_LOCAL = r"(?i:epoch)\s*\[?(?P<e>\d+)\]?\D{0,40}?\b(?P<i>\d+)/(?P<n>\d+)\b"

DIALECT_SNIFF = {
    "mmdet": re.compile(r"Epoch(?:\(val\))? \[\d+\]\[\d+(?:/\d+)?\]|\bIter \[\d+/\d+\]\s+lr:"),
    "detectron2": re.compile(r"d2\.utils\.events|\beta: \S+\s+iter: \d+\s"),
    "ultralytics": re.compile(r"^\s*Epoch\s+GPU_mem\s+\w*_loss", re.M),
    "epoch_local": re.compile(EPOCH_LOCAL + r".{0,200}?[A-Za-z_]\w*\s*[=:]\s*[-+.\d]"),
}
# mmdet's config dump before the first training line is 20-200 KB in the logs we have seen.
DETECT_CHARS = 512 * 1024
STEP_KEYS = ("global_step", "step", "iteration", "iter", "it", "batch")
FIRST_BAD_LINES = 5
ULTRA_VAL = (r"(?:^|\]\s*)\s*all\s+(?P<images>\d+)\s+(?P<inst>\d+)"
             + "".join(rf"\s+(?P<m{i}>{NUM_RE2})" for i in range(4))
             + "(?:" + "".join(rf"\s+(?P<m{i}>{NUM_RE2})" for i in range(4, 8)) + r")?\s*$")
_ULTRA_VAL_PY = re.compile(ULTRA_VAL)
ULTRA_ROW = re.compile(r"^\s*(?P<e>\d+)/(?P<n>\d+)\s+(?P<mem>[\d.]+)G\s+(?P<rest>.*?)(?::\s|$)")
ULTRA_METRICS = ("precision", "recall", "mAP50", "mAP50-95")


@dataclass
class Table:
    """Row-aligned columns in file order, ready for `assemble`."""

    framework: str
    steps: np.ndarray
    columns: dict[str, np.ndarray]
    present: dict[str, np.ndarray]
    rows: np.ndarray                 # line index of each row (for the truncated-tail check)
    step_unit: str = "iteration"
    epochs: np.ndarray | None = None
    config: dict = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    bad_lines: list[int] = field(default_factory=list)   # line indices that looked like rows


def detect_dialect(text: str) -> str:
    """The dialect whose marker appears in `text`: mmdet, detectron2, ultralytics, epoch_local or generic.

    Only the first DETECT_CHARS are searched: every dialect prints its marker within the first
    training lines, and a full-text Python regex search costs seconds on a million-line log.
    """
    head = text[:DETECT_CHARS]
    for name, pattern in DIALECT_SNIFF.items():
        if pattern.search(head):
            return name
    return "generic"


def _bools(array: pa.Array) -> np.ndarray:
    return np.asarray(array.to_numpy(zero_copy_only=False), dtype=bool)


def _ints(array: pa.Array) -> np.ndarray:
    return pc.cast(array, pa.int64()).to_numpy(zero_copy_only=False)


def _matching(lines: pa.Array, pattern: str) -> np.ndarray:
    return np.flatnonzero(_bools(pc.match_substring_regex(lines, pattern)))


def _minus(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Sorted indices in `a` but not in `b` (a mask instead of np.setdiff1d's slow hashing)."""
    if a.size == 0:
        return a
    mask = np.zeros(int(max(a.max(), b.max() if b.size else 0)) + 1, dtype=bool)
    mask[a] = True
    mask[b] = False
    return np.flatnonzero(mask)


def _fields(lines: pa.Array, rows: np.ndarray, pattern: str) -> pa.StructArray:
    return pc.extract_regex(lines.take(pa.array(rows, pa.int64())), pattern)


def _rows_table(framework: str, lines: pa.Array, rows: np.ndarray, steps: np.ndarray,
                drop: tuple[str, ...] = ()) -> Table:
    """Pairs of `rows` as a table whose step per row is `steps`."""
    pairs = extract_pairs(lines, rows)
    keep = np.isin(rows, pairs.rows)
    at = np.searchsorted(pairs.rows, rows[keep])
    columns = {k: v[at] for k, v in pairs.columns.items() if k not in drop}
    present = {k: pairs.present[k][at] for k in columns}
    return Table(framework, steps[keep], columns, present, rows[keep])


def _merge(table: Table, rows: np.ndarray, steps: np.ndarray, columns: dict[str, np.ndarray]) -> Table:
    """`table` with extra values (validation, eval) merged into the last row of their step.

    `assemble` keeps one row per repeated step, so an eval printed as its own line must join the
    training row of the same step rather than become a second row that would replace it. Values at
    a step no row has become new rows, in file order.
    """
    if rows.size == 0:
        return table
    n = table.rows.size
    last_row_of = {int(s): i for i, s in enumerate(table.steps.tolist())}
    target = np.array([last_row_of.get(int(s), -1) for s in steps], dtype=np.int64)
    extra = np.flatnonzero(target < 0)
    target[extra] = n + np.arange(extra.size)
    total = n + extra.size
    cols, pres = {}, {}
    for name in dict.fromkeys([*table.columns, *columns]):
        v = np.full(total, np.nan)
        p = np.zeros(total, dtype=bool)
        if name in table.columns:
            v[:n], p[:n] = table.columns[name], table.present[name]
        if name in columns:
            new = np.asarray(columns[name], dtype=np.float64)
            given = ~np.isnan(new)
            v[target[given]], p[target[given]] = new[given], True
        cols[name], pres[name] = v, p
    all_rows = np.concatenate([table.rows, rows[extra]])
    all_steps = np.concatenate([table.steps, steps[extra]])
    order = np.argsort(all_rows, kind="stable")
    return Table(table.framework, all_steps[order], {k: v[order] for k, v in cols.items()},
                 {k: v[order] for k, v in pres.items()}, all_rows[order], table.step_unit, None,
                 table.config, table.warnings, table.bad_lines)


def parse_mmdet(lines: pa.Array) -> Table:
    """mmdet 2.x text: `Epoch [e][i/N]` → step (e-1)·N + i; `Epoch(val) [e][n]` at its epoch's last step."""
    train = _matching(lines, MMDET_TRAIN)
    if train.size:
        f = _fields(lines, train, MMDET_TRAIN)
        e, i, n = (_ints(pc.struct_field(f, k)) for k in "ein")
        steps = (e - 1) * n + i
    else:   # IterBasedRunner: `Iter [i/N]` is already global
        train = _matching(lines, MMDET_ITER)
        f = _fields(lines, train, MMDET_ITER)
        e, steps, n = np.zeros(train.size, np.int64), _ints(pc.struct_field(f, "i")), None
    table = _rows_table("mmdet", lines, train, steps, drop=("eta",))
    bad = _minus(_matching(lines, r"Epoch \[|Iter \["), table.rows)
    table.bad_lines = bad.tolist()

    val = _matching(lines, MMDET_VAL)
    if val.size:
        ve = _ints(pc.struct_field(_fields(lines, val, MMDET_VAL), "e"))
        vt = _rows_table("mmdet", lines, val, ve)
        # A val line reports the epoch that just ended: attach it to that epoch's last train step.
        last = {}
        for epoch, step in zip(e.tolist(), table.steps.tolist() if train.size else []):
            last[epoch] = step
        per_epoch = n[0] if train.size and n is not None else 0
        vsteps = np.array([last.get(int(x), int(x) * int(per_epoch)) for x in vt.steps], dtype=np.int64)
        table = _merge(table, vt.rows, vsteps, {k: np.where(vt.present[k], v, np.nan)
                                                   for k, v in vt.columns.items()})
    return table


def parse_detectron2(lines: pa.Array) -> Table:
    """Detectron2 log.txt: `iter: N` lines; `copypaste:` eval tables at the iteration they precede."""
    rows = _matching(lines, D2_ITER)
    steps = _ints(pc.struct_field(_fields(lines, rows, D2_ITER), "i"))
    table = _rows_table("detectron2", lines, rows, steps, drop=("iter", "eta"))
    table.bad_lines = _minus(_matching(lines, r"\biter:"), table.rows).tolist()

    # EvalHook runs before the PeriodicWriter of the same iteration, so a copypaste block belongs to
    # the next `iter:` line; a final evaluation after training belongs to the last one.
    cp = _matching(lines, r"copypaste: ")
    texts = lines.take(pa.array(cp, pa.int64())).to_pylist() if cp.size else []
    task, names = "bbox", None
    eval_rows, eval_steps, eval_cols = [], [], []
    for row, line in zip(cp.tolist(), texts):
        body = line.split("copypaste: ", 1)[1].strip()
        if body.startswith("Task: "):
            task = body[6:].strip()
        elif names is None:
            names = [x.strip() for x in body.split(",")]
        else:
            values = [float(x) if re.fullmatch(r"[-+\w.]+", x.strip()) else np.nan
                      for x in body.split(",")]
            after = np.searchsorted(table.rows, row)
            step = table.steps[after] if after < table.rows.size else (table.steps[-1] if table.steps.size else 0)
            eval_rows.append(row)
            eval_steps.append(int(step))
            eval_cols.append({f"{task}/{k}": v for k, v in zip(names, values)})
            names = None
    if eval_rows:
        keys = list(dict.fromkeys(k for c in eval_cols for k in c))
        cols = {k: np.array([c.get(k, np.nan) for c in eval_cols]) for k in keys}
        table = _merge(table, np.array(eval_rows), np.array(eval_steps, np.int64), cols)
    return table


def parse_ultralytics(lines: pa.Array) -> Table:
    """Ultralytics console: one row per epoch (its final tqdm state), its `all` val row at that epoch."""
    marked = _matching(lines, r"Epoch\s+GPU_mem|^\s*\d+/\d+\s+[\d.]+G\s|\ball\s+\d+\s+\d+\s")
    texts = lines.take(pa.array(marked, pa.int64())).to_pylist() if marked.size else []
    loss_names: list[str] = []
    rows, steps, cols = [], [], []
    bad: list[int] = []
    epoch_has_val = True
    for row, line in zip(marked.tolist(), texts):
        header = ULTRA_HEADER.match(line)
        if header:
            loss_names = header.group("cols").split()
            continue
        m = ULTRA_ROW.match(line)
        if m and loss_names:
            values = m.group("rest").split()
            if len(values) < len(loss_names) + 2:
                bad.append(row)
                continue
            try:
                numbers = [float(v) for v in values[:len(loss_names)]]
            except ValueError:
                bad.append(row)
                continue
            rows.append(row)
            steps.append(int(m.group("e")))
            cols.append({f"train/{k}": v for k, v in zip(loss_names, numbers)} | {"GPU_mem": float(m.group("mem"))})
            epoch_has_val = False
            continue
        v = _ULTRA_VAL_PY.search(line)
        if v and rows and not epoch_has_val:
            # Only the first `all` row after an epoch's progress row is that epoch's validation;
            # a later one (the final best.pt check) would overwrite it.
            suffixes = ["B"] if v.group("m4") is None else ["B", "M"]
            got = {}
            for si, suffix in enumerate(suffixes):
                for mi, name in enumerate(ULTRA_METRICS):
                    got[f"metrics/{name}({suffix})"] = float(v.group(f"m{si * 4 + mi}"))
            cols[-1] = cols[-1] | got
            epoch_has_val = True
    keys = list(dict.fromkeys(k for c in cols for k in c))
    columns = {k: np.array([c.get(k, np.nan) for c in cols]) for k in keys}
    present = {k: np.array([k in c for c in cols], dtype=bool) for k in keys}
    return Table("ultralytics", np.array(steps, np.int64), columns, present,
                 np.array(rows, np.int64), step_unit="epoch", bad_lines=bad)


def parse_epoch_local(lines: pa.Array) -> Table:
    """`Epoch e (i/N): k=v …` → step (e - e0)·N + i, e0 = 0 if any epoch 0 is logged, else 1.

    Epochs are numbered from 0 or 1 depending on the script; choosing e0 from the log keeps a
    resumed log (which starts at, say, epoch 5) on the same absolute steps as the original run.
    """
    rows = _matching(lines, EPOCH_LOCAL)
    f = _fields(lines, rows, EPOCH_LOCAL)
    e, i, n = (_ints(pc.struct_field(f, k)) for k in "ein")
    e0 = 0 if (e == 0).any() else 1
    steps = (e - e0) * n + i
    return _rows_table("generic", lines, rows, steps)


def parse_generic(lines: pa.Array) -> Table:
    """`step=120 loss=0.53` / `step: 120, loss: 0.53` lines; rows without a step join the last step."""
    pairs = extract_pairs(lines)
    step_key = next((k for k in STEP_KEYS if k in pairs.present), None)
    unit = "iteration"
    if step_key is None and "epoch" in pairs.present:
        step_key, unit = "epoch", "epoch"
    warnings: list[str] = []
    if step_key is None:
        steps = np.arange(pairs.rows.size, dtype=np.int64)
        keep = np.ones(pairs.rows.size, dtype=bool)
        warnings.append("no step counter (step=, iter=, …) in the log; rows are numbered in file order.")
    else:
        has = pairs.present[step_key]
        raw = np.where(has, pairs.columns[step_key], np.nan)
        # Rows without a step (e.g. a validation line) belong to the last step logged before them.
        idx = np.where(has, np.arange(raw.size), -1)
        np.maximum.accumulate(idx, out=idx)
        keep = idx >= 0
        good = keep & np.isfinite(raw[np.maximum(idx, 0)])
        steps = raw[np.maximum(idx, 0)][good].astype(np.int64)
        keep = good
    columns = {k: v[keep] for k, v in pairs.columns.items() if k != step_key}
    present = {k: pairs.present[k][keep] for k in columns}
    table = Table("generic", steps, columns, present, pairs.rows[keep], step_unit=unit, warnings=warnings)
    if step_key is not None:
        # Only lines without a parsed step can be bad ones: scan those, usually none.
        unparsed = _minus(np.arange(len(lines)), pairs.rows[pairs.present[step_key]])
        if unparsed.size:
            rest = lines.take(pa.array(unparsed))
            loose = _matching(rest, rf"(?:^|[^\w./\-]){re.escape(step_key)}\s*[=:]")
            table.bad_lines = unparsed[loose].tolist()
    return table


PARSERS = {
    "mmdet": parse_mmdet,
    "detectron2": parse_detectron2,
    "ultralytics": parse_ultralytics,
    "epoch_local": parse_epoch_local,
    "generic": parse_generic,
}
