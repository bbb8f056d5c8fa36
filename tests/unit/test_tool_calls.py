"""Reading tool calls, the tools a request offers, and the checks of `llm_json.tool_call`."""

from __future__ import annotations

from typing import Any

import pytest

from pytest_llmeval.calls.tool_calls import (
    ToolCall,
    check_tool_call,
    offered_tools,
    tool_calls_from,
)

PARAMETERS = {
    "type": "object",
    "properties": {"city": {"type": "string"}, "unit": {"enum": ["C", "F"]}},
    "required": ["city"],
    "additionalProperties": False,
}
TOOLS = [{"type": "function", "function": {"name": "get_weather", "parameters": PARAMETERS}}]


def calls(name: str, arguments: str) -> list[ToolCall]:
    return [ToolCall("call-1", name, arguments)]


def test_tool_calls_from_dicts_with_text_or_object_arguments() -> None:
    raw: list[dict[str, Any]] = [
        {"id": "a", "function": {"name": "f", "arguments": '{"x": 1}'}},
        {"id": "b", "type": "function", "function": {"name": "g", "arguments": {"y": "é"}}},
    ]
    assert tool_calls_from(raw) == [
        ToolCall("a", "f", '{"x": 1}'),
        ToolCall("b", "g", '{"y": "é"}'),
    ]
    assert tool_calls_from(None) == []


def test_the_sdk_models_read_like_dicts() -> None:
    from mistralai.client import models

    typed = models.ToolCall(id="a", function=models.FunctionCall(name="f", arguments="{}"))
    assert tool_calls_from([typed]) == [ToolCall("a", "f", "{}")]
    tool = models.Tool(function=models.Function(name="get_weather", parameters=PARAMETERS))
    assert offered_tools([tool]) == {"get_weather": PARAMETERS}


def test_offered_tools_by_name() -> None:
    bare = {"type": "function", "function": {"name": "ping"}}
    assert offered_tools([*TOOLS, bare]) == {"get_weather": PARAMETERS, "ping": None}
    assert offered_tools(None) == {}


@pytest.mark.parametrize(
    ("tool_calls", "name", "category"),
    [
        (calls("get_weather", '{"city": "Paris"}'), None, "valid"),
        (calls("get_weather", '{"city": "Paris"}'), "get_weather", "valid"),
        ([], None, "no_tool_call"),
        (calls("book_flight", '{"city": "Paris"}'), None, "unknown_tool"),
        (calls("get_weather", '{"city": "Paris"}'), "get_time", "unknown_tool"),
        (calls("book_flight", '{"city": "Paris"}'), "get_weather", "unknown_tool"),
        (calls("get_weather", '{"city": "Par'), None, "unterminated_json"),
        (calls("get_weather", '{"unit": "C"}'), None, "missing_field"),
        (calls("get_weather", '{"city": "Paris", "unit": "K"}'), None, "enum_violation"),
        (calls("get_weather", ""), None, "empty_output"),
    ],
)
def test_the_category_of_the_first_call(
    tool_calls: list[ToolCall], name: str | None, category: str
) -> None:
    parsed, call = check_tool_call(tool_calls, offered_tools(TOOLS), name=name)
    assert parsed.category == category
    assert call == (tool_calls[0] if tool_calls else None)


def test_the_details_say_what_was_said_or_called_instead() -> None:
    offered = offered_tools(TOOLS)
    text, _ = check_tool_call([], offered, text="It is sunny.", finish_reason="stop")
    assert (
        text.detail
        == "the reply calls no tool; it answered in text: 'It is sunny.' (finish_reason=stop)"
    )
    silent, _ = check_tool_call([], offered)
    assert silent.detail == "the reply calls no tool; nor any text"
    other, _ = check_tool_call(calls("book_flight", "{}"), offered)
    assert (
        other.detail
        == 'called "book_flight", which the request did not offer (offered: "get_weather")'
    )
    named, _ = check_tool_call(
        calls("get_weather", "{}"), {**offered, "get_time": {}}, name="get_time"
    )
    assert named.detail == 'called "get_weather", not "get_time"'


def test_only_the_first_call_is_checked() -> None:
    two = [*calls("get_weather", '{"city": "Oslo"}'), ToolCall("call-2", "nope", "{")]
    parsed, _ = check_tool_call(two, offered_tools(TOOLS))
    assert (parsed.category, parsed.value) == ("valid", {"city": "Oslo"})


def test_message_part_is_what_the_api_takes_back() -> None:
    assert ToolCall("a", "f", "{}").message_part() == {
        "id": "a",
        "type": "function",
        "function": {"name": "f", "arguments": "{}"},
    }
