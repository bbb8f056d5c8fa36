"""`run_tools`: the loop that runs the model's tool calls, and how it ends or fails."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from pytest_llmeval.calls.conversation import ToolRun, ToolRunError, run_tools
from pytest_llmeval.calls.reply import Reply, Usage
from pytest_llmeval.calls.tool_calls import ToolCall

TOOLS = [
    {"type": "function", "function": {"name": "get_weather", "parameters": {}}},
    {"type": "function", "function": {"name": "get_time", "parameters": {}}},
]


def reply(text: str = "", *calls: ToolCall) -> Reply:
    finish = "tool_calls" if calls else "stop"
    return Reply(text, finish, Usage(), 0.0, "m", tool_calls=list(calls))


def scripted(*replies: Reply) -> tuple[Callable[[list[dict[str, Any]]], Reply], list[Any]]:
    """A `send` answering with `replies` in turn, and the message lists it was sent."""
    sent: list[Any] = []
    queue = list(replies)

    def send(messages: list[dict[str, Any]]) -> Reply:
        sent.append(messages)
        return queue.pop(0)

    return send, sent


def weather(city: str, unit: str = "C") -> dict[str, Any]:
    return {"city": city, "temperature": 3, "unit": unit}


def test_the_calls_are_run_and_their_results_sent_back_until_an_answer() -> None:
    send, sent = scripted(
        reply(
            "",
            ToolCall("a1", "get_weather", '{"city": "Oslo"}'),
            ToolCall("b2", "get_time", ""),
        ),
        reply("Wear a coat; it is noon."),
    )
    functions = {"get_weather": weather, "get_time": lambda: "12:00"}
    conversation = run_tools(send, [{"role": "user", "content": "Coat?"}], TOOLS, functions)

    assert conversation.calls == [
        ToolRun("get_weather", {"city": "Oslo"}, weather("Oslo")),
        ToolRun("get_time", {}, "12:00"),
    ]
    assert conversation.final.text == "Wear a coat; it is noon."
    assert conversation.turns == 2 and len(sent) == 2
    assert conversation.messages == [
        {"role": "user", "content": "Coat?"},
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [
                {
                    "id": "a1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city": "Oslo"}'},
                },
                {"id": "b2", "type": "function", "function": {"name": "get_time", "arguments": ""}},
            ],
        },
        {
            "role": "tool",
            "tool_call_id": "a1",
            "name": "get_weather",
            "content": json.dumps(weather("Oslo")),
        },
        {"role": "tool", "tool_call_id": "b2", "name": "get_time", "content": '"12:00"'},
        {"role": "assistant", "content": "Wear a coat; it is noon."},
    ]
    assert sent[1] == conversation.messages[:-1]  # each turn sends the whole history


def test_an_answer_without_calls_ends_at_once() -> None:
    send, sent = scripted(reply("Hello."))
    conversation = run_tools(send, [{"role": "user", "content": "Hi"}], TOOLS, {})
    assert (conversation.calls, conversation.final.text, len(sent)) == ([], "Hello.", 1)


def test_a_loop_past_max_turns_is_a_test_failure_naming_it() -> None:
    calling = reply("", ToolCall("a1", "get_time", "{}"))
    send, sent = scripted(calling, calling, calling)
    with pytest.raises(ToolRunError, match=r"run_tools loop did not end.*turn 3 of max_turns=3"):
        run_tools(send, [{"role": "user", "content": "?"}], TOOLS, {"get_time": str}, max_turns=3)
    assert len(sent) == 3
    assert issubclass(ToolRunError, AssertionError)


@pytest.mark.parametrize(
    ("call", "functions", "problem"),
    [
        (
            ToolCall("a1", "get_weather", '{"city": "Oslo"}'),
            {"get_weather": lambda city: {}[city]},
            "the function 'get_weather' raised KeyError: 'Oslo' (called with {\"city\": \"Oslo\"})",
        ),
        (
            ToolCall("a1", "get_weather", '{"city": "Os'),
            {"get_weather": weather},
            "the arguments of the call to 'get_weather' are not JSON",
        ),
        (ToolCall("a1", "get_weather", "[1]"), {"get_weather": weather}, "not a JSON object"),
        (
            ToolCall("a1", "get_time", "{}"),
            {"get_weather": weather},
            "the model called 'get_time', which functions= does not provide",
        ),
        (
            ToolCall("a1", "get_time", "{}"),
            {"get_time": lambda: {1, 2}},
            "the function 'get_time' returned set, which is not JSON",
        ),
    ],
)
def test_what_goes_wrong_in_a_turn_is_a_test_failure(
    call: ToolCall, functions: dict[str, Any], problem: str
) -> None:
    send, _ = scripted(reply("", call))
    with pytest.raises(ToolRunError) as caught:
        run_tools(send, [{"role": "user", "content": "?"}], TOOLS, functions)
    assert str(caught.value).startswith("run_tools, turn 1: ")
    assert problem in str(caught.value)


def test_usage_errors_are_not_test_failures() -> None:
    send, _ = scripted()
    with pytest.raises(ValueError, match="max_turns must be a whole number"):
        run_tools(send, [], TOOLS, {}, max_turns=0)
    with pytest.raises(ValueError, match=r"functions \['book'\] are not among the tools offered"):
        run_tools(send, [], TOOLS, {"book": str})
