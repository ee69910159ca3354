"""text_pairs: the template fast path finds exactly the pairs the one-line definition (`template_of`) finds.

Which lines a template's RE2 pattern claims depends on which lines were sampled, so on where a piece
of the file begins; only when every claim agrees with `template_of` is a log read the same in pieces
as in one. The fuzzer found two ways it did not (issue 11): an unanchored template swallowed a line
whose pairs came before its key, and a non-ASCII key character was a key to Python and a boundary to
RE2. The property here draws lines of repeated shapes from those ingredients and compares with the
definition line by line.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_fuzz_readers import fuzz  # bench/fuzz.py: text_outcome, all a caller of text.read sees

from inspector.runlog import text_pairs
from inspector.runlog.readers import text
from inspector.runlog.text_pairs import _first_keys, extract_pairs, template_of, to_float


def definition(lines: list[str]) -> tuple[list[int], dict[str, dict[int, float]]]:
    """(lines holding a pair, {key: {line: value}}), one line at a time through `template_of`."""
    rows: list[int] = []
    values: dict[str, dict[int, float]] = {}
    for i, line in enumerate(lines):
        parsed = template_of(line)
        if parsed is None:
            continue
        rows.append(i)
        template, slots = parsed
        for key, slot in _first_keys(template).items():
            value, ok = to_float(pa.array([slots[slot]], pa.string()))
            if ok[0]:
                values.setdefault(key, {})[i] = float(value[0])
    return rows, values


def found(
    lines: list[str], candidates: np.ndarray | None = None
) -> tuple[list[int], dict[str, dict[int, float]]]:
    """What extract_pairs gives, in the definition's terms (line indices of the whole list)."""
    pairs = extract_pairs(pa.array(lines, pa.string()), candidates)
    n = pairs.rows.size
    out = {
        key: dict(zip(pairs.rows[column.positions(n)].tolist(), column.values.tolist(), strict=False))
        for key, column in pairs.columns.items()
    }
    return pairs.rows.tolist(), out


def same(a: dict[str, dict[int, float]], b: dict[str, dict[int, float]]) -> bool:
    return a.keys() == b.keys() and all(
        a[k].keys() == b[k].keys()
        and all(
            x == y or (math.isnan(x) and math.isnan(y))
            for x, y in zip((a[k][r] for r in a[k]), (b[k][r] for r in a[k]), strict=True)
        )
        for k in a
    )


# --- the two faults the fuzzer found, built here ---------------------------------------------------------


def test_a_template_whose_first_key_comes_late_leaves_lines_with_earlier_pairs_alone():
    # Sampled first, "… 7 eps=1e-05)" makes an unanchored template (its first number holds no pair)
    # that also fits the end of a torch module dump line; that line's num_features must not be lost.
    lines = [
        "          (stem): Block 7 eps=1e-05)",
        "          (norm): FrozenBatchNorm2d(num_features=64, eps=1e-05)",
    ]
    rows, values = found(lines)
    assert rows == [0, 1]
    assert values == {"eps": {0: 1e-05, 1: 1e-05}, "num_features": {1: 64.0}}
    assert (rows, values) == definition(lines)


@pytest.mark.parametrize(
    "line, key, value",
    [
        ('"dflȢ: 0.4302987319478333}', "dflȢ", 0.4302987319478333),
        ("Verlust_größe: 0.3", "Verlust_größe", 0.3),
        ("损失: 0.5, 学习率: 0.01", "损失", 0.5),
        ("loss\u3000=\xa00.25", "loss", 0.25),
    ],
)
def test_a_line_reads_the_same_sampled_or_among_many(line, key, value):
    # Alone, the line is sampled and parsed in Python; among 40 JSON lines it is reached through the
    # RE2 pre-filter. Both must see the same key (once: Python's Unicode \w against RE2's ASCII one).
    alone = found([line])[1]
    noise = [json.dumps({"step": i, "loss": 0.5}) for i in range(40)]
    among = found(noise[:20] + [line] + noise[20:])[1]
    assert alone[key] == {0: value}
    assert among[key] == {20: value}


def test_whitespace_is_what_str_isspace_says_in_both_engines():
    spaces = {chr(c) for c in range(0x110000) if chr(c).isspace()}
    assert set(text_pairs._SPACE_CHARS) == spaces
    for s in sorted(spaces):
        rows, values = found([f"lr:{s}0.5{s}loss={s}1"])
        assert values == {"lr": {0: 0.5}, "loss": {0: 1.0}}, repr(s)


def test_values_that_are_no_number_token_are_not_pairs_whichever_line_made_the_template():
    shapes = [
        "loss: 1.5, lr: 0.1",
        "loss: 1.5iB, lr: 0.1",
        "loss: 2.0.0, lr: 0.1",
        "loss: a=3, lr: 0.1",
        "AP: 1.0 2.0",
        "AP: 1.0 2.0.0",
    ]
    for order in (shapes, shapes[::-1]):
        assert found(order) == definition(order)


def test_the_fuzz_cases_read_the_same_in_pieces(tmp_path):
    # The two fuzz failures of the 10k run, rebuilt: a module dump cut short with Latin-1 text
    # inside a key, and JSON lines (UTF-16) whose one bit flip made "dfl": into "dflȢ:.
    dump = ["[12/05 20:01:33 d2.engine]: Model:", "GeneralizedRCNN("]
    for i in range(120):
        width = 64 * (1 + i % 3)
        dump.append(f"{'  ' * (1 + i % 4)}(norm): FrozenBatchNorm2d(num_features={width}, eps=1e-05)")
        dump.append(f"{'  ' * (1 + i % 4)}(conv{i}): Conv2d({width}, {width}, kernel_size=(1, 1), bias=False")
    dump[150] = dump[150].replace("num_fea", "num_feaVerlust für Größe µ")
    log = tmp_path / "log.txt"
    log.write_bytes("\n".join(dump).encode("latin-1"))
    rows = [json.dumps({"type": "step", "step": i, "losses": {"bbox": 0.1, "dfl": 0.4}}) for i in range(120)]
    rows[34] = rows[34].replace('"dfl":', '"dflȢ:')
    jsonl = tmp_path / "log.jsonl"
    jsonl.write_bytes("\n".join(rows).encode("utf-16"))
    for path in (log, jsonl):
        whole = fuzz.text_outcome(path, 1 << 30)
        for piece in (64, 700, 2797, 10185):
            assert fuzz.text_outcome(path, piece) == whole, (path.name, piece)
    assert text.read(log).series["num_features"].values.size == 119  # one key lost to the Latin-1 text


# --- the property --------------------------------------------------------------------------------------

KEYS = [
    "loss",
    "lr",
    "eps",
    "num_features",
    "a.b",
    "x-y",
    "loss/box",
    "_k",
    "K2",
    "größe",
    "损失",
    "dflȢ",
    "iter",
    "e",
    "nan",
    "Epoch",
    "time",
]
SEPARATORS = ["=", ": ", ":", " = ", "=\xa0", ":\v", ":\u3000", "\t: "]
NUMBERS = [
    "1",
    "0.5",
    "-3",
    "+2",
    "1e-05",
    "4.746e-05",
    "11811M",
    "1.76G",
    "5%",
    "nan",
    "-inf",
    "Infinity",
    "5.",
    ".5",
    "1.5iB",
    "2.0.0",
    "0:01:23",
    "3x",
    "12",
    "007",
    "1,5",
    "NaN",
    "-nan",
    "9KiB",
]
GLUE = [
    " ",
    ", ",
    ",",
    "; ",
    " | ",
    "(",
    ")",
    "[",
    "]",
    "{",
    "}",
    "\t",
    "\xa0",
    "\u3000",
    "/",
    "-",
    " - ",
    '"',
    "'",
    "Ȣ",
    "é",
    "x",
    "Conv2d(",
    "Epoch [",
    "][",
    "]\t",
    "\v",
    "INFO ",
    "ü",
    "µ",
]
NUMBER = None  # a slot of the shape: a number drawn per line

part = st.one_of(
    st.tuples(st.sampled_from(KEYS), st.sampled_from(SEPARATORS)).map(lambda ks: ks[0] + ks[1]),
    st.just(NUMBER),
    st.sampled_from(GLUE),
    st.sampled_from(KEYS),
)
shape = st.lists(part, min_size=1, max_size=12)


@st.composite
def log_lines(draw) -> list[str]:
    shapes = draw(st.lists(shape, min_size=1, max_size=4))
    n = draw(st.integers(1, 60))
    lines = []
    for _ in range(n):
        parts = draw(st.sampled_from(shapes))
        lines.append("".join(draw(st.sampled_from(NUMBERS)) if p is NUMBER else p for p in parts))
    return lines


@settings(max_examples=300, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(lines=log_lines(), data=st.data())
def test_extract_pairs_finds_what_template_of_finds_line_by_line(lines, data):
    rows, values = definition(lines)
    got_rows, got = found(lines)
    assert got_rows == rows
    assert same(got, values)
    # Only some lines (as a dialect asks for its train rows): the same pairs on those lines.
    picked = np.flatnonzero(
        np.asarray(data.draw(st.lists(st.booleans(), min_size=len(lines), max_size=len(lines))))
    )
    some_rows, some = found(lines, picked)
    assert some_rows == [r for r in rows if r in set(picked.tolist())]
    assert same(
        some,
        {
            k: {r: v for r, v in col.items() if r in set(picked.tolist())}
            for k, col in values.items()
            if any(r in set(picked.tolist()) for r in col)
        },
    )
