"""Tests of `cases()`: JSONL rows to eval cases, and the errors a bad row gets."""

from __future__ import annotations

import json
import runpy
import tracemalloc
from pathlib import Path
from typing import Any

import pytest

from pytest_llmeval.calls.tool_calls import ToolCall
from pytest_llmeval.data.datasets import Case, cases, iter_cases
from pytest_llmeval.errors import DatasetError


def write_lines(path: Path, *lines: str | dict[str, Any]) -> Path:
    text = "".join((line if isinstance(line, str) else json.dumps(line)) + "\n" for line in lines)
    path.write_text(text, encoding="utf-8")
    return path


def sample(user: str, reply: str, **extra: Any) -> dict[str, Any]:
    messages = [{"role": "user", "content": user}, {"role": "assistant", "content": reply}]
    return {"messages": messages, **extra}


@pytest.fixture
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


def error_of(path: str | Path) -> str:
    with pytest.raises(DatasetError) as caught:
        cases(path)
    return str(caught.value)


def test_fine_tuning_row_sends_everything_but_the_expected_reply(in_tmp: Path) -> None:
    row = {
        "messages": [
            {"role": "system", "content": "You triage tickets."},
            {"role": "user", "content": "Printer on fire"},
            {"role": "assistant", "content": "hardware", "weight": 0},
            {"role": "user", "content": "And the fax?"},
            {"role": "assistant", "content": '{"category": "hardware"}'},
        ]
    }
    write_lines(in_tmp / "tickets.jsonl", row)

    [case] = cases("tickets.jsonl")

    assert case.messages == tuple(row["messages"][:-1])
    assert case.expected == '{"category": "hardware"}'
    assert case.prompt == "And the fax?"
    assert case.meta == {}


def test_rows_sharing_a_system_prompt_hold_it_once(in_tmp: Path) -> None:
    system = "You triage support tickets. " * 10
    rows = [
        {"messages": [{"role": "system", "content": system}, *sample(f"t{n}", "x")["messages"]]}
        for n in range(3)
    ]
    write_lines(in_tmp / "tickets.jsonl", *rows)

    first, second, third = cases("tickets.jsonl")

    assert first.messages[0]["content"] == system
    assert first.messages[0]["content"] is second.messages[0]["content"]
    assert second.messages[0]["content"] is third.messages[0]["content"]
    assert [case.prompt for case in (first, second, third)] == ["t0", "t1", "t2"]


def test_input_row_with_system_and_any_expected_value(in_tmp: Path) -> None:
    write_lines(
        in_tmp / "qa.jsonl",
        {"input": "2+2?", "expected": {"answer": 4}, "system": "Be terse.", "lang": "en"},
        {"input": "Hi"},
    )

    first, second = cases("qa.jsonl")

    assert first.messages == (
        {"role": "system", "content": "Be terse."},
        {"role": "user", "content": "2+2?"},
    )
    assert first.expected == {"answer": 4}
    assert first.meta == {"lang": "en"}
    assert second.messages == ({"role": "user", "content": "Hi"},)
    assert second.expected is None


def test_ids_come_from_the_row_else_the_line_number(in_tmp: Path) -> None:
    write_lines(
        in_tmp / "mixed.jsonl",
        sample("a", "b", id="refund-1"),
        "",
        sample("c", "d"),
        sample("e", "f", id=42),
    )

    found = cases("mixed.jsonl")

    assert [case.id for case in found] == ["refund-1", "3", "42"]
    assert [case.source for case in found] == ["mixed.jsonl:1", "mixed.jsonl:3", "mixed.jsonl:4"]


def test_meta_holds_the_other_fields_of_the_row(in_tmp: Path) -> None:
    tools = [{"type": "function", "function": {"name": "lookup"}}]
    write_lines(in_tmp / "d.jsonl", sample("q", "a", id="x", tools=tools, difficulty=3))

    [case] = cases("d.jsonl")

    assert case.meta == {"tools": tools, "difficulty": 3}


def test_case_reads_well_and_works_as_a_parameter(in_tmp: Path) -> None:
    write_lines(in_tmp / "d.jsonl", sample("q" * 500, "a", id="long"))

    [case] = cases("d.jsonl")

    assert repr(case) == "Case(id='long', source='d.jsonl:1')"
    assert {case: 1}[case] == 1
    with pytest.raises(AttributeError):
        case.id = "other"  # type: ignore[misc]


def test_prompt_joins_text_chunks(in_tmp: Path) -> None:
    chunks = [{"type": "text", "text": "Look:"}, {"type": "image_url", "image_url": "x"}]
    write_lines(in_tmp / "d.jsonl", sample(chunks, "a"))  # type: ignore[arg-type]

    assert cases("d.jsonl")[0].prompt == "Look:"


def test_assistant_tool_call_message_may_have_empty_content(in_tmp: Path) -> None:
    call = [{"id": "c1", "function": {"name": "lookup", "arguments": "{}"}}]
    row = {
        "messages": [
            {"role": "user", "content": "Order 7?"},
            {"role": "assistant", "content": "", "tool_calls": call},
            {"role": "tool", "content": '{"status": "sent"}', "tool_call_id": "c1"},
            {"role": "assistant", "content": "It was sent."},
        ]
    }
    write_lines(in_tmp / "d.jsonl", row)

    assert cases("d.jsonl")[0].expected == "It was sent."


def test_tool_call_rows_give_the_messages_and_the_expected_tool_calls(in_tmp: Path) -> None:
    calls = [
        {"id": "c1", "type": "function", "function": {"name": "lookup", "arguments": '{"n": 7}'}},
        {"id": "c2", "function": {"name": "track", "arguments": {"n": 7}}},
    ]
    asked = {"role": "user", "content": "Order 7?"}
    calling = {"messages": [asked, {"role": "assistant", "content": "", "tool_calls": calls}]}
    answering = {
        "messages": [
            asked,
            {"role": "assistant", "content": "", "tool_calls": calls[:1]},
            {"role": "tool", "content": '{"status": "sent"}', "tool_call_id": "c1"},
            {"role": "assistant", "content": "It was sent."},
        ]
    }
    write_lines(in_tmp / "d.jsonl", calling, answering, sample("Hi", "Hello"))

    first, second, plain = cases("d.jsonl")
    assert first.messages == (asked,)
    assert first.expected_tool_calls == [
        ToolCall("c1", "lookup", '{"n": 7}'),
        ToolCall("c2", "track", '{"n": 7}'),
    ]
    assert [message["role"] for message in second.messages] == ["user", "assistant", "tool"]
    assert (second.expected, second.expected_tool_calls) == ("It was sent.", [])
    assert plain.expected_tool_calls == []


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (
            '{"input": "a" "expected": 1}',
            "not valid JSON (Expecting ',' delimiter at column 15)",
        ),
        ('["input"]', "row is a list, not an object; each line holds one JSON object"),
        ('{"prompt": "hi"}', 'row has neither "messages" nor "input"; give one of them'),
        (
            '{"messages": []}',
            '"messages" is an empty list; give a non-empty list of messages',
        ),
        (
            '{"messages": [{"role": "user", "content": "a"}, "hi"]}',
            'messages[1] is a string, not an object; a message is {"role": ..., "content": ...}',
        ),
        (
            '{"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"},'
            ' {"role": "bot", "content": "c"}]}',
            'messages[2] has role "bot"; roles are system, user, assistant, tool',
        ),
        (
            '{"messages": [{"content": "a"}]}',
            'messages[0] has no "role"; roles are system, user, assistant, tool',
        ),
        (
            '{"messages": [{"role": "user", "content": "a"}]}',
            'the last message is "user"; a fine-tuning sample ends with the assistant message'
            " (the expected reply)",
        ),
        (
            '{"messages": [{"role": "system", "content": "s"},'
            ' {"role": "assistant", "content": "b"}]}',
            'no "user" message before the final assistant message',
        ),
        (
            '{"messages": [{"role": "user"}, {"role": "assistant", "content": "b"}]}',
            'messages[0] has no "content"; give the message text',
        ),
        (
            '{"messages": [{"role": "user", "content": 5}, {"role": "assistant", "content": "b"}]}',
            "messages[0].content is a number; give a string or a list of chunks",
        ),
        ('{"input": ["a"]}', '"input" is a list; give the user message as a string'),
        ('{"input": "a", "system": 1}', '"system" is a number; give the system prompt as a string'),
        (
            '{"input": "a", "messages": []}',
            'row has both "messages" and "input"; give only one of them',
        ),
        ('{"input": "a", "id": null}', '"id" is null; give a string or an integer'),
    ],
)
def test_malformed_row_names_file_line_and_fix(in_tmp: Path, line: str, message: str) -> None:
    write_lines(in_tmp / "tickets.jsonl", sample("ok", "ok"), "", line)

    assert error_of("tickets.jsonl").startswith(f"tickets.jsonl:3: {message}")


def test_error_message_is_one_line(in_tmp: Path) -> None:
    write_lines(in_tmp / "tickets.jsonl", '{"input": "a\\nb", "messages": 1}')

    assert "\n" not in error_of("tickets.jsonl")


def test_duplicate_ids_name_both_lines(in_tmp: Path) -> None:
    write_lines(in_tmp / "d.jsonl", sample("a", "b", id="x"), sample("c", "d", id="x"))

    assert error_of("d.jsonl") == (
        "d.jsonl:2: id 'x' is already used on line 1; give every row a different id"
    )


def test_explicit_id_clashing_with_a_line_number_id_is_a_duplicate(in_tmp: Path) -> None:
    write_lines(in_tmp / "d.jsonl", sample("a", "b"), sample("c", "d", id=1))

    assert error_of("d.jsonl").startswith("d.jsonl:2: id '1' is already used on line 1")


def test_line_number_id_clashing_with_an_earlier_explicit_id(in_tmp: Path) -> None:
    write_lines(in_tmp / "d.jsonl", sample("a", "b", id="2"), sample("c", "d"))

    assert error_of("d.jsonl").startswith("d.jsonl:2: id '2' is already used on line 1")


def test_utf8_bom_and_blank_lines_are_tolerated(in_tmp: Path) -> None:
    text = "\r\n".join([json.dumps(sample("é", "a")), "   ", "", json.dumps(sample("b", "c"))])
    (in_tmp / "bom.jsonl").write_bytes(b"\xef\xbb\xbf" + text.encode("utf-8") + b"\r\n")

    found = cases("bom.jsonl")

    assert [case.id for case in found] == ["1", "4"]
    assert found[0].prompt == "é"


def test_invalid_utf8_names_the_line(in_tmp: Path) -> None:
    good = json.dumps(sample("a", "b")).encode()
    (in_tmp / "d.jsonl").write_bytes(good + b"\n" + b'{"input": "caf\xe9"}\n')

    assert error_of("d.jsonl") == (
        "d.jsonl:2: not valid UTF-8 (byte 0xe9 at byte 15); save the file as UTF-8"
    )


def test_missing_file_names_the_resolved_path(in_tmp: Path) -> None:
    message = error_of("nope.jsonl")

    assert message.startswith("dataset file not found: ")
    assert str(in_tmp / "nope.jsonl") in message


def test_relative_path_is_found_next_to_the_calling_module(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    suite = tmp_path / "suite"
    suite.mkdir()
    write_lines(suite / "tickets.jsonl", sample("next to the module", "a"))
    module = suite / "test_suite.py"
    module.write_text("from pytest_llmeval import cases\nCASES = cases('tickets.jsonl')\n")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    write_lines(elsewhere / "tickets.jsonl", sample("in the working directory", "a"))
    monkeypatch.chdir(elsewhere)

    loaded = runpy.run_path(str(module))

    assert [case.prompt for case in loaded["CASES"]] == ["next to the module"]


def test_relative_path_falls_back_to_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    suite = tmp_path / "suite"
    (suite / "data").mkdir(parents=True)
    write_lines(suite / "data" / "tickets.jsonl", sample("from the working directory", "a"))
    module = tmp_path / "tests" / "test_suite.py"
    module.parent.mkdir()
    module.write_text("from pytest_llmeval import cases\nCASES = cases('data/tickets.jsonl')\n")
    monkeypatch.chdir(suite)

    loaded = runpy.run_path(str(module))

    [case] = loaded["CASES"]
    assert case.prompt == "from the working directory"
    assert case.source == str(Path("data", "tickets.jsonl")) + ":1"


def test_limit_stops_reading_before_a_later_bad_row(in_tmp: Path) -> None:
    write_lines(in_tmp / "d.jsonl", sample("a", "b"), sample("c", "d"), "not json")

    assert [case.id for case in cases("d.jsonl", limit=2)] == ["1", "2"]
    assert cases("d.jsonl", limit=0) == []


def test_iter_cases_yields_rows_before_reading_the_rest(in_tmp: Path) -> None:
    write_lines(in_tmp / "d.jsonl", sample("a", "b"), "not json")

    rows = iter_cases("d.jsonl")
    first = next(rows)

    assert isinstance(first, Case)
    assert first.prompt == "a"
    with pytest.raises(DatasetError, match=r"^d\.jsonl:2: not valid JSON"):
        next(rows)


def test_iter_cases_reports_a_missing_file_at_the_call(in_tmp: Path) -> None:
    with pytest.raises(DatasetError, match="dataset file not found"):
        iter_cases("missing.jsonl")


def test_large_file_streams_in_bounded_memory(in_tmp: Path) -> None:
    # Rows of a realistic size (about 450 bytes); tracemalloc makes each row slow to read,
    # so the count stays at 50,000 (a 22 MB file).
    rows = 50_000
    ticket = "Classify this support ticket: my invoice was charged twice. " * 6
    line = json.dumps(sample(ticket, '{"category": "billing"}')) + "\n"
    big = in_tmp / "big.jsonl"
    with big.open("w", encoding="utf-8") as stream:
        for _ in range(rows // 1000):
            stream.write(line * 1000)
    size = big.stat().st_size

    tracemalloc.start()
    try:
        count = 0
        last = None
        for case in iter_cases("big.jsonl"):
            count += 1
            last = case
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert count == rows
    assert last is not None
    assert last.id == str(rows)
    # Holding the rows would take several times the file's size; streaming needs a
    # one-byte-per-line id register and a read buffer.
    assert peak < size / 20, f"peak {peak} bytes for a {size}-byte file"


def test_expected_json_parses_a_fine_tuning_reply(tmp_path: Path) -> None:
    dataset = tmp_path / "rows.jsonl"
    reply = json.dumps({"category": "bug", "priority": 2})
    rows = [
        {"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": reply}]},
        {"messages": [{"role": "user", "content": "b"}, {"role": "assistant", "content": "{no"}]},
        {"input": "c", "expected": {"category": "bug"}},
    ]
    dataset.write_text("\n".join(json.dumps(row) for row in rows) + "\n", encoding="utf-8")
    first, second, third = cases(dataset)
    assert first.expected_json == {"category": "bug", "priority": 2}
    assert third.expected_json == {"category": "bug"}
    with pytest.raises(ValueError, match=r"rows\.jsonl:2: the expected reply is not JSON"):
        second.expected_json  # noqa: B018
