"""`key=value` / `key: value` pairs of many log lines at once, as row-aligned float columns.

Speed comes from line *templates*: a log prints the same line shape thousands of times with only the
numbers changing. A few sampled lines are turned into templates (numbers → slots) in Python; each
template becomes one RE2 pattern that pyarrow runs over all lines in C++ (finding the template's
lines and cutting out their values in one pass), so per-line work never runs in the interpreter.
Lines no template covers after a few rounds (free text that happens to contain a pair) are parsed
one by one. Measured on a 1M-line `step= loss= loss_bbox= lr=` log (bench/bench_text.py, 2-core
shared box): read_log 0.84 s vs 2.5 s for a per-line `re.findall` loop, about 3×; the RE2 extract
is ~60 % of our time, the rest is decoding, line splitting and `assemble`. text.read calls this once
per piece of the file (a few MB), so templates are found per piece.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import cast

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

# Both engines must agree on every character class: a line's pairs may come from a template's RE2
# pattern or from `template_of` in Python, depending on which lines were sampled (so on where a piece
# of the file begins). Python's \w, \d, \s and (?i) are Unicode-wide and RE2's are not (nor does RE2's
# \s hold \v), so every class is spelled out, with the characters themselves (the two engines write
# escapes above \xff differently). Whitespace is what str.isspace() calls whitespace; a key or a word
# may hold any other non-ASCII character ("Verlust_größe: 0.3", "损失: 0.5").
_SPACE_CHARS = (
    "\t\n\v\f\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006"
    "\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)


def _non_ascii_except(excluded: str) -> str:
    """Character-class ranges of every code point from U+0080 up, less `excluded` (sorted runs)."""
    ranges, start = [], 0x80
    for code in sorted(ord(c) for c in excluded if ord(c) >= 0x80):
        if code > start:
            ranges.append(f"{chr(start)}-{chr(code - 1)}")
        start = code + 1
    ranges.append(f"{chr(start)}-{chr(0x10FFFF)}")
    return "".join(ranges)


_WS = f"[{_SPACE_CHARS}]"
_WORD = "A-Za-z0-9_" + _non_ascii_except(_SPACE_CHARS)  # a class body: letters, digits, _, non-ASCII
_KEY = f"[{_WORD.replace('0-9', '')}][{_WORD}./\\-]*"
_NOT_KEY_CHAR = f"[^{_WORD}./\\-]"
_NAN_INF = r"(?:[nN][aA][nN]|[iI][nN][fF](?:[iI][nN][iI][tT][yY])?)"
# A number token, in Python's `re` (templates) and RE2 (pyarrow) spellings. Units on memory
# ("11811M", "1.76G") and percentages belong to the token so `max_mem: 11811M` is a pair.
_NUM_BODY = rf"[-+]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][-+]?[0-9]+)?(?:[KMGT]i?B?|%)?|[-+]?{_NAN_INF}"
NUM_PY = re.compile(f"(?<![{_WORD}.])(?:{_NUM_BODY})(?![{_WORD}.])")
NUM_RE2 = f"(?:{_NUM_BODY})"
UNIT_CHARS = "KMGTiB%"
# Any line that might hold a pair; a cheap RE2 pre-filter
# before templates (a superset of template_of's pairs).
LOOSE_PAIR_RE2 = f"{_KEY}{_WS}*[=:]{_WS}*[-+]?(?:[0-9.]|[nN][aA][nN]|[iI][nN][fF])"
# Text before a slot that makes the slot a value of `key`.
_KEY_BEFORE = re.compile(f"(?:^|{_NOT_KEY_CHAR})({_KEY}){_WS}*[=:]{_WS}*$")
# Characters that may end a value (what follows a pair).
_VALUE_END = f"[{_SPACE_CHARS},;|)\\]}}]"
_ENDS_VALUE = re.compile(f"^(?:$|{_VALUE_END})")
# What a slot's capture may span: the characters of a number token. Capturing NUM_RE2 itself measured
# 2.2x slower, a class excluding the non-ASCII spaces 2x; shape_pattern checks the tokens instead.
_SLOT_RE2 = "[-+0-9.eEKMGTiIB%nNaAfFtTyY]+"
# Where a key may start (as in _KEY_BEFORE): the line's start or a character no key holds.
_KEY_START = f"(?:^|{_NOT_KEY_CHAR})"
# Sampled lines per round, and rounds before the leftovers are parsed line by line.
SAMPLE_PER_ROUND = 16
MAX_ROUNDS = 6
_RE2_SPECIAL = re.compile(r"([\\.^$|?*+()\[\]{}])")


@dataclass(frozen=True)
class Template:
    """A line shape: literal text around number slots, and which slots are values of which key."""

    literals: tuple[str, ...]  # len(slots) + 1 pieces of text
    keys: tuple[str | None, ...]  # per slot: the key it is the value of, or None

    @property
    def first_key_slot(self) -> int:
        return next(i for i, key in enumerate(self.keys) if key is not None)

    @property
    def extract_pattern(self) -> str:
        """RE2 pattern that cuts the values out of the line's shape: the slots that are values are captured.

        A slot here is any run of characters that may stand for a number (a number token, NUM_RE2,
        measured 2.2× slower to capture), so a hit is confirmed with `shape_pattern`. When numbers come
        before the first key (timestamps, `Epoch [e][i/N]`, an ETA), they hold no pair and the pattern
        starts at the key instead of the line: on mmdet console lines that halved the read (10.5 s →
        4.9 s for 1M lines; bench_memory's mmdet_text). A line without such a prefix keeps the anchored
        whole-line pattern, which RE2 runs faster (0.42 s vs 0.48 s, bench_text).
        """
        first = next(i for i, key in enumerate(self.keys) if key is not None)
        if first == 0:
            parts = ["^", _re2_escape(self.literals[0])]
        else:
            lead = self.literals[first]
            # A slot has a key only where template_of found _KEY_BEFORE in the literal before it.
            key_before = cast(re.Match[str], _KEY_BEFORE.search(lead))
            parts = [_KEY_START, _re2_escape(lead[key_before.start(1) :])]
        for i in range(first, len(self.keys)):
            parts.append(f"(?P<s{i}>{_SLOT_RE2})" if self.keys[i] is not None else _SLOT_RE2)
            parts.append(_re2_escape(self.literals[i + 1]))
        return "".join(parts) + "$"

    @property
    def shape_pattern(self) -> str:
        """RE2 pattern of the whole line with number tokens in the slots, nothing captured.

        A line it matches has exactly this template (`template_of` gives it), so its values are the
        extract's captures: a line whose text at a slot is no number, or holds a pair of its own before
        an unanchored pattern's first key, is left to another template. A match without captures runs
        as a DFA, about a fifth of the extract's cost.
        """
        return "^" + NUM_RE2.join(_re2_escape(literal) for literal in self.literals) + "$"


@dataclass(frozen=True)
class Column:
    """One key's float64 values and the rows (increasing indices) they were logged on; `rows` None: every row.

    Sparse keys cost their values only: a log whose lines each add new keys was a dense rows × keys
    table before (issue 11: 343 KB of text became 2.3 GB).
    """

    values: np.ndarray
    rows: np.ndarray | None = None

    def positions(self, n: int) -> np.ndarray:
        """Row index of each value, for a table of `n` rows."""
        return np.arange(n, dtype=np.int64) if self.rows is None else self.rows

    def dense(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        """(one value per row of a table of `n` rows, NaN where not logged; where logged)."""
        if self.rows is None:
            return self.values, np.ones(n, dtype=bool)
        values, logged = np.full(n, np.nan), np.zeros(n, dtype=bool)
        values[self.rows] = self.values
        logged[self.rows] = True
        return values, logged


def column_of(positions: np.ndarray, values: np.ndarray, n: int) -> Column:
    """A Column of `values` at row `positions` (any order; a row given twice keeps its last value), n rows."""
    positions = np.asarray(positions, dtype=np.int64)
    values = np.asarray(values, dtype=np.float64)
    if positions.size > 1 and not bool(np.all(positions[1:] > positions[:-1])):
        if not bool(np.all(positions[1:] >= positions[:-1])):
            order = np.argsort(positions, kind="stable")
            positions, values = positions[order], values[order]
        last = np.ones(positions.size, dtype=bool)
        np.not_equal(positions[1:], positions[:-1], out=last[:-1])
        positions, values = positions[last], values[last]
    return Column(values) if positions.size == n else Column(values, positions)


@dataclass(frozen=True)
class Pairs:
    """Pairs found on `rows` (line indices, increasing): per key,
    a Column over those rows (file order of keys)."""

    rows: np.ndarray
    columns: dict[str, Column] = field(default_factory=dict)
    dropped: tuple[str, ...] = ()  # keys after the first `keep` (file order), found but not kept


def _re2_escape(text: str) -> str:
    return _RE2_SPECIAL.sub(r"\\\1", text)


def template_of(line: str) -> tuple[Template, list[str]] | None:
    """The template of one line and its slot texts, or None when the line holds no pair."""
    literals: list[str] = []
    slots: list[str] = []
    pos = 0
    for m in NUM_PY.finditer(line):
        literals.append(line[pos : m.start()])
        slots.append(m.group())
        pos = m.end()
    literals.append(line[pos:])
    keys: list[str | None] = []
    for i in range(len(slots)):
        km = _KEY_BEFORE.search(literals[i])
        after = literals[i + 1]
        # "AP: 1.0 2.0 3.0" is a list, not a pair: a value is not followed by another bare number.
        is_list = not after.strip(_SPACE_CHARS) and i + 1 < len(slots)
        keys.append(km.group(1) if km and _ENDS_VALUE.match(after) and not is_list else None)
    if not any(keys):
        return None
    return Template(tuple(literals), tuple(keys)), slots


def to_float(strings: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """Float64 values of number strings ("1e-4", "11811M", "nan") and where they parsed (bool)."""
    trimmed = pc.utf8_rtrim(strings, characters=UNIT_CHARS)
    try:
        values = pc.cast(trimmed, pa.float64())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        ok = pc.match_substring_regex(trimmed, rf"^(?:{NUM_RE2})$")
        values = pc.cast(pc.if_else(ok, trimmed, pa.scalar(None, pa.string())), pa.float64())
    parsed = np.asarray(pc.is_valid(values).to_numpy(zero_copy_only=False), dtype=bool)
    return values.to_numpy(zero_copy_only=False).astype(np.float64, copy=False), parsed


def _take(array: pa.Array, rows: np.ndarray) -> pa.Array:
    """array[rows], without a copy when rows is every row in order."""
    if rows.size == len(array):
        return array
    return array.take(pa.array(rows))


def _first_keys(template: Template) -> dict[str, int]:
    """{key: slot} keeping the first slot of a key that a line repeats."""
    out: dict[str, int] = {}
    for i, key in enumerate(template.keys):
        if key is not None and key not in out:
            out[key] = i
    return out


# Below this many lines one RE2 pass is fast enough that threads only add overhead. text.read parses
# 4 MB pieces (~75k lines of the bench log), so each piece is still split per core: measured
# 0.52 s → 0.41 s for the 1M-line bench log on 2 cores (bench/bench_text.py).
PARALLEL_MIN_LINES = 40_000


def _by_chunks(kernel: Callable[[pa.Array, str], pa.Array], lines: pa.Array, pattern: str) -> pa.Array:
    """`kernel(lines, pattern)` (pc.extract_regex,
    pc.match_substring_regex), one chunk per core on long inputs.

    Arrow's regex kernels run single-threaded per call but release the GIL, so chunks run in parallel:
    the whole read of a 1M-line log measured 0.66 s → 0.55 s with 2 cores.
    """
    workers = os.cpu_count() or 1
    if workers == 1 or len(lines) < PARALLEL_MIN_LINES:
        return kernel(lines, pattern)
    size = -(-len(lines) // workers)
    chunks = [lines.slice(i, size) for i in range(0, len(lines), size)]
    with ThreadPoolExecutor(workers) as pool:
        parts = list(pool.map(lambda chunk: kernel(chunk, pattern), chunks))
    return pa.concat_arrays(parts)


def _template_rows(lines: pa.Array, template: Template) -> tuple[np.ndarray, pa.StructArray]:
    """Which of `lines` have `template`'s shape (bool), and the captured slots of those lines."""
    # One RE2 pass both finds the template's lines (non-null rows) and cuts out their values; a
    # separate match pass first measured 30 % slower overall.
    extracted = _by_chunks(pc.extract_regex, lines, template.extract_pattern)
    hit = np.asarray(extracted.is_valid().to_numpy(zero_copy_only=False), dtype=bool)
    if hit.any():
        confirmed = _by_chunks(
            pc.match_substring_regex, _take(lines, np.flatnonzero(hit)), template.shape_pattern
        )
        hit[hit] = np.asarray(confirmed.to_numpy(zero_copy_only=False), dtype=bool)
    return hit, extracted if hit.all() or not hit.any() else extracted.filter(pa.array(hit))


def extract_pairs(lines: pa.Array, candidates: np.ndarray | None = None, keep: int | None = None) -> Pairs:
    """Every `key=value` / `key: value` pair on `lines` (or only on the `candidates` indices).

    With `keep`, only the first `keep` keys (by first line) get a Column; the rest are named in
    `dropped`. A caller capping series at N keeps no key that N others precede, so on a log whose lines
    each add keys the ~130k Columns per 2 MB that would be thrown away are never built.
    """
    idx = np.arange(len(lines), dtype=np.int64) if candidates is None else np.asarray(candidates, np.int64)
    sub = lines if candidates is None else lines.take(pa.array(idx))
    unassigned = np.arange(len(sub), dtype=np.int64)
    filtered = False

    groups: list[tuple[Template, np.ndarray, pa.StructArray]] = []  # template, rows of sub, slots
    singles: dict[int, tuple[Template, list[str]]] = {}  # row → parsed in Python
    seen: set[Template] = set()
    for round_ in range(MAX_ROUNDS):
        if unassigned.size and not filtered and round_ > 0:
            # After the first round the dominant shapes are gone; drop lines that cannot hold a
            # pair (banners, config dumps) with one cheap RE2 pass instead of sampling them.
            loose = pc.match_substring_regex(_take(sub, unassigned), LOOSE_PAIR_RE2)
            unassigned = unassigned[np.asarray(loose.to_numpy(zero_copy_only=False), dtype=bool)]
            filtered = True
        if unassigned.size == 0:
            break
        picks = np.unique(
            np.linspace(0, unassigned.size - 1, min(SAMPLE_PER_ROUND, unassigned.size)).astype(np.int64)
        )
        dropped = np.zeros(unassigned.size, dtype=bool)
        new: list[Template] = []
        for p in picks:
            parsed = template_of(sub[int(unassigned[p])].as_py())
            if parsed is None:
                dropped[p] = True  # looked like a pair to the pre-filter, but is not one
            elif parsed[0] not in seen:
                seen.add(parsed[0])
                new.append(parsed[0])
        unassigned = unassigned[~dropped]
        for template in new:
            if unassigned.size == 0:
                break
            hit, extracted = _template_rows(_take(sub, unassigned), template)
            if hit.any():
                groups.append((template, unassigned[hit], extracted))
                unassigned = unassigned[~hit]
    if unassigned.size and not filtered:
        loose = pc.match_substring_regex(_take(sub, unassigned), LOOSE_PAIR_RE2)
        unassigned = unassigned[np.asarray(loose.to_numpy(zero_copy_only=False), dtype=bool)]
    for row in unassigned:
        parsed = template_of(sub[int(row)].as_py())
        if parsed is not None:
            singles[int(row)] = parsed

    # A mask, not np.unique: the union of group rows is the hot path on million-line logs.
    has_pair = np.zeros(len(sub), dtype=bool)
    for _, rows, _ in groups:
        has_pair[rows] = True
    has_pair[np.fromiter(singles, dtype=np.int64, count=len(singles))] = True
    rows_sub = np.flatnonzero(has_pair)
    position = np.cumsum(has_pair) - 1  # row of sub → index into rows_sub
    # Per key, (positions, values) parts; a row is in one group or among the singles, so parts never overlap.
    parts: dict[str, list[tuple[np.ndarray, np.ndarray]]] = {}
    for template, rows, extracted in groups:
        at = position[rows]
        for key, slot in _first_keys(template).items():
            values, ok = to_float(pc.struct_field(extracted, f"s{slot}"))
            if ok.any():  # a slot that is no number ("loss=abc") is not a value
                parts.setdefault(key, []).append((at[ok], values[ok]))
    if singles:
        _add_singles(parts, singles, position)
    n = rows_sub.size
    # Keys in the order of their first line, so that "the first keys" (limits.max_series) means file order.
    first = {key: min(int(p[0][0]) for p in ps) for key, ps in parts.items()}
    columns = {}
    ordered = sorted(parts, key=first.__getitem__)
    dropped_keys = tuple(ordered[keep:]) if keep is not None else ()
    for key in ordered[:keep]:
        ps = parts.pop(key)
        if len(ps) == 1:  # one group's rows: increasing already
            at, values = ps[0]
            columns[key] = Column(values) if at.size == n else Column(values, at)
        else:
            columns[key] = column_of(
                np.concatenate([p[0] for p in ps]), np.concatenate([p[1] for p in ps]), n
            )
    return Pairs(rows=idx[rows_sub], columns=columns, dropped=dropped_keys)


def _add_singles(
    parts: dict[str, list[tuple[np.ndarray, np.ndarray]]],
    singles: dict[int, tuple[Template, list[str]]],
    position: np.ndarray,
) -> None:
    """The one-by-one parsed lines' values added to `parts`, converted in one to_float call.

    A log whose every line has its own keys puts all of its lines here (no template repeats);
    one Arrow conversion instead of one per value keeps that to ~1 s for 2 MB.
    """
    keys: list[str] = []
    rows: list[int] = []
    texts: list[str] = []
    for row, (template, slots) in singles.items():
        for key, slot in _first_keys(template).items():
            keys.append(key)
            rows.append(row)
            texts.append(slots[slot])
    values, ok = to_float(pa.array(texts, pa.string()))
    at = position[np.asarray(rows, dtype=np.int64)]
    index: dict[str, int] = {}
    ids = np.fromiter((index.setdefault(k, len(index)) for k in keys), dtype=np.int64, count=len(keys))
    ids, at, values = ids[ok], at[ok], values[ok]
    # Grouped by key with one stable sort (rows stay in order within a key), not one array per value.
    order = np.argsort(ids, kind="stable")
    ids, at, values = ids[order], at[order], values[order]
    starts = np.flatnonzero(np.r_[True, ids[1:] != ids[:-1]]) if ids.size else np.zeros(0, np.int64)
    ends = np.r_[starts[1:], ids.size]
    names = list(index)
    for key_id, a, b in zip(ids[starts].tolist(), starts.tolist(), ends.tolist(), strict=False):
        parts.setdefault(names[key_id], []).append((at[a:b], values[a:b]))


def as_lines(text: str) -> pa.Array:
    """The `\\n`-separated lines of `text` as one Arrow string array (split in C++).

    A final newline ends the last line rather than starting an empty one.
    """
    big = pa.array([text], type=pa.large_string())
    lines = pc.split_pattern(big, "\n").flatten()
    return lines.slice(0, len(lines) - 1) if text.endswith("\n") else lines
