"""Identical messages of many cases become one line with the count and the first case."""

from __future__ import annotations

from pytest_llmeval.report.repeated import gather


def test_identical_messages_are_gathered_in_order_of_arrival() -> None:
    gathered = gather([("t::a", "no key"), ("t::b", "bad json"), ("t::c", "no key")])
    assert [(entry.message, entry.nodeids) for entry in gathered] == [
        ("no key", ("t::a", "t::c")),
        ("bad json", ("t::b",)),
    ]


def test_the_line_of_one_case_and_of_many() -> None:
    one, many = gather([("t::b", "bad json"), ("t::a", "no key"), ("t::c", "no key")])
    assert one.line() == "t::b: bad json"
    assert many.line() == "no key (2 cases, the first: t::a)"
