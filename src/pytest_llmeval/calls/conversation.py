"""`run_tools`: a conversation that runs the tools the model calls, turn by turn, to its answer.

Pure: the chat call is handed in (`send`), so the loop knows nothing of the endpoint, the
store or pytest. What goes wrong in it is the model's or the test's doing, never the
infrastructure's, so every failure here is an `AssertionError` that names the loop.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pytest_llmeval.calls.tool_calls import ToolCall, offered_tools

if TYPE_CHECKING:
    from pytest_llmeval.calls.reply import Reply

_SHOWN = 200


class ToolRunError(AssertionError):
    """`run_tools` could not go on: a function raised or returned what is not JSON, the model
    called a function the test did not give or wrote arguments that are not a JSON object,
    or the loop ran past `max_turns`. A test failure, not an infrastructure error."""


@dataclass(frozen=True)
class ToolRun:
    """One function run for the model: its name, the parsed arguments and what it returned."""

    name: str
    arguments: Any
    result: Any


@dataclass(frozen=True)
class Conversation:
    """What `run_tools` did: every message (the ones given, each assistant turn, each tool
    result, the final answer), the functions run, and the final reply (which calls no tool)."""

    messages: list[dict[str, Any]]
    calls: list[ToolRun]
    final: Reply

    @property
    def turns(self) -> int:
        """The chat requests the conversation took: one per assistant message."""
        return sum(1 for message in self.messages if message.get("role") == "assistant")


def run_tools(
    send: Callable[[list[dict[str, Any]]], Reply],
    messages: Sequence[Mapping[str, Any]],
    tools: Sequence[Any],
    functions: Mapping[str, Callable[..., Any]],
    max_turns: int = 5,
) -> Conversation:
    """Sends `messages`, runs each function the reply calls (an object of arguments is passed
    as keyword arguments), appends the result as a `tool` message, and sends again, until a
    reply calls no tool. At most `max_turns` requests."""
    if isinstance(max_turns, bool) or not isinstance(max_turns, int) or max_turns < 1:
        raise ValueError(
            f"run_tools: max_turns must be a whole number, 1 or more, not {max_turns!r}"
        )
    unknown = sorted(set(functions) - set(offered_tools(list(tools))))
    if unknown:
        raise ValueError(
            f"run_tools: functions {unknown} are not among the tools offered; give each a tool"
        )
    history = [dict(message) for message in messages]
    runs: list[ToolRun] = []
    for turn in range(1, max_turns + 1):
        reply = send(list(history))
        history.append(assistant_message(reply))
        if not reply.tool_calls:
            return Conversation(history, runs, reply)
        if turn == max_turns:
            called = ", ".join(call.name for call in reply.tool_calls)
            raise ToolRunError(
                f"run_tools loop did not end: the model still called tools ({called}) in turn"
                f" {turn} of max_turns={max_turns}; raise max_turns or see why it keeps calling"
            )
        for call in reply.tool_calls:
            run = _run(call, functions, turn)
            runs.append(run)
            history.append(tool_message(call, _encoded(run, turn)))
    raise AssertionError("unreachable: the loop returns or raises by its last turn")


def assistant_message(reply: Reply) -> dict[str, Any]:
    """The reply as the assistant message sent back in the next request."""
    message: dict[str, Any] = {"role": "assistant", "content": reply.text}
    if reply.tool_calls:
        message["tool_calls"] = [call.message_part() for call in reply.tool_calls]
    return message


def tool_message(call: ToolCall, content: str) -> dict[str, Any]:
    """A function's result as the `tool` message that answers `call`."""
    return {"role": "tool", "tool_call_id": call.id, "name": call.name, "content": content}


def _run(call: ToolCall, functions: Mapping[str, Callable[..., Any]], turn: int) -> ToolRun:
    where = f"run_tools, turn {turn}"
    function = functions.get(call.name)
    if function is None:
        given = ", ".join(sorted(functions)) or "none"
        raise ToolRunError(
            f"{where}: the model called {call.name!r}, which functions= does not provide"
            f" (given: {given})"
        )
    try:
        arguments = json.loads(call.arguments) if call.arguments.strip() else {}
    except ValueError as error:
        raise ToolRunError(
            f"{where}: the arguments of the call to {call.name!r} are not JSON ({error}):"
            f" {call.arguments[:_SHOWN]!r}; check them with llm_json.tool_call(reply)"
        ) from None
    if not isinstance(arguments, dict):
        raise ToolRunError(
            f"{where}: the arguments of the call to {call.name!r} are not a JSON object:"
            f" {call.arguments[:_SHOWN]!r}"
        )
    try:
        result = function(**arguments)
    except Exception as error:
        raise ToolRunError(
            f"{where}: the function {call.name!r} raised {type(error).__name__}: {error}"
            f" (called with {_shown(arguments)})"
        ) from error
    return ToolRun(call.name, arguments, result)


def _encoded(run: ToolRun, turn: int) -> str:
    try:
        return json.dumps(run.result, ensure_ascii=False)
    except (TypeError, ValueError) as error:
        raise ToolRunError(
            f"run_tools, turn {turn}: the function {run.name!r} returned"
            f" {type(run.result).__name__}, which is not JSON ({error}); return dicts, lists,"
            " strings, numbers, booleans or None"
        ) from None


def _shown(arguments: Mapping[str, Any]) -> str:
    text = json.dumps(arguments, ensure_ascii=False, default=repr)
    return text if len(text) <= _SHOWN else text[: _SHOWN - 1] + "…"
