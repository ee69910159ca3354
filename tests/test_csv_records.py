"""csv_records: RFC 4180 records with their first line numbers; a quote left open costs only its own line."""

from __future__ import annotations

from inspector.runlog.csv_records import MAX_RECORD_LINES, first_line_number, read_records


def test_a_quoted_cell_may_span_lines_and_keeps_its_first_line_number() -> None:
    text = 'step,note\n1,"two\nlines"\n2,plain\n'
    bad: list[int] = []
    assert read_records(text, ",", 2, bad) == [
        (1, ["step", "note"]),
        (2, ["1", "two\nlines"]),
        (4, ["2", "plain"]),
    ]
    assert bad == []


def test_an_open_quote_costs_only_its_own_line() -> None:
    rows = "".join(f"{i},{i / 10}\n" for i in range(3, 40))
    text = 'step,loss\n1,0.1\n2,"0.2\n' + rows
    bad: list[int] = []
    got = read_records(text, ",", 2, bad)
    assert bad == [3]
    assert [line for line, _ in got] == [1, 2, *range(4, 41)]
    assert got[-1] == (40, ["39", "3.9"])


def test_a_record_longer_than_the_limit_is_an_open_quote() -> None:
    # Continuation lines that are no rows of the header's width: a cell, until the limit.
    cell = "\n".join("x" for _ in range(MAX_RECORD_LINES + 4))
    text = f'step,note\n1,"{cell}"\n2,ok\n'
    bad: list[int] = []
    got = read_records(text, ",", 2, bad)
    assert 2 in bad
    assert got[-1] == (MAX_RECORD_LINES + 6, ["2", "ok"])


def test_text_after_a_closing_quote_is_an_error_not_a_cell() -> None:
    bad: list[int] = []
    got = read_records('a,b\n"ab"c,1\n2,3\n', ",", 2, bad)
    assert bad == [2] and got == [(1, ["a", "b"]), (3, ["2", "3"])]


def test_first_line_number_counts_cr_lf_and_crlf_once_each() -> None:
    assert first_line_number("step,loss\n") == 1
    assert first_line_number("\r\n\n\rstep,loss\n") == 4
