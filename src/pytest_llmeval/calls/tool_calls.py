"""Tool calls: what a reply asked to run, the tools a request offered, and the check of a call.

Pure: no SDK import. The SDK's `ToolCall` models and plain dicts (a recorded body, a dataset
row) are read the same way, by attribute or by key.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pytest_llmeval.categories import NO_TOOL_CALL, UNKNOWN_TOOL

if TYPE_CHECKING:
    from pytest_llmeval.strict_json import ParsedJson


@dataclass(frozen=True)
class ToolCall:
    """One function the model asked to run: `arguments` is the raw text it wrote, unparsed,
    so a cut-off or malformed argument string is there to be checked."""

    id: str
    name: str
    arguments: str

    def message_part(self) -> dict[str, Any]:
        """The call as an assistant message's `tool_calls` entry sends it back."""
        return {
            "id": self.id,
            "type": "function",
            "function": {"name": self.name, "arguments": self.arguments},
        }


def tool_calls_from(raw: Any) -> list[ToolCall]:
    """The `ToolCall`s of a message's `tool_calls` (the SDK's models or plain dicts); []
    for None or anything that is not a list."""
    if not isinstance(raw, (list, tuple)):
        return []
    return [tool_call_from(item) for item in raw]


def tool_call_from(raw: Any) -> ToolCall:
    """One call of a `tool_calls` list; arguments the server sent as an object (the SDK
    accepts both) become their JSON text."""
    function = _part(raw, "function")
    arguments = _part(function, "arguments")
    if not isinstance(arguments, str):
        arguments = "" if arguments is None else json.dumps(arguments, ensure_ascii=False)
    call_id = _part(raw, "id")
    name = _part(function, "name")
    return ToolCall(
        id=call_id if isinstance(call_id, str) else "",
        name=name if isinstance(name, str) else "",
        arguments=arguments,
    )


def offered_tools(tools: Any) -> dict[str, Any]:
    """The tools a request offers, by function name: each its `parameters` schema (None when
    it gives none). `tools` as `chat(tools=...)` takes it: dicts or the SDK's models."""
    offered: dict[str, Any] = {}
    if not isinstance(tools, (list, tuple)):
        return offered
    for tool in tools:
        function = _part(tool, "function")
        name = _part(function, "name")
        if isinstance(name, str):
            parameters = _part(function, "parameters")
            if parameters is not None and not isinstance(parameters, Mapping):
                dump = getattr(parameters, "model_dump", None)
                parameters = dump(mode="json") if callable(dump) else None
            offered[name] = parameters
    return offered


def check_tool_call(
    tool_calls: Sequence[ToolCall],
    offered: Mapping[str, Any],
    *,
    name: str | None = None,
    text: str = "",
    finish_reason: str | None = None,
) -> tuple[ParsedJson, ToolCall | None]:
    """The verdict on a reply's first tool call, and that call (None when there is none).

    `no_tool_call` when there is none (`text` is what the reply said instead);
    `unknown_tool` when its name is not among the `offered` tools, or is not `name`;
    otherwise its arguments' category under `parse_json` (strict) with the tool's
    `parameters` schema.
    """
    from pytest_llmeval.strict_json import ParsedJson, parse_json
    from pytest_llmeval.strict_json.quoting import snippet

    if not tool_calls:
        said = f"it answered in text: {snippet(text.strip())}" if text.strip() else "nor any text"
        detail = f"the reply calls no tool; {said}"
        if finish_reason:
            detail += f" (finish_reason={finish_reason})"
        return ParsedJson(NO_TOOL_CALL, None, detail, None), None
    call = tool_calls[0]
    if call.name not in offered:
        names = ", ".join(_quoted(known) for known in offered) or "none"
        detail = f"called {_quoted(call.name)}, which the request did not offer (offered: {names})"
        return ParsedJson(UNKNOWN_TOOL, None, detail, None), call
    if name is not None and call.name != name:
        detail = f"called {_quoted(call.name)}, not {_quoted(name)}"
        return ParsedJson(UNKNOWN_TOOL, None, detail, None), call
    return parse_json(call.arguments, offered[call.name], True, finish_reason=finish_reason), call


def _quoted(name: str) -> str:
    return json.dumps(name, ensure_ascii=False)[:80]


def _part(value: Any, key: str) -> Any:
    """`value[key]` of a dict, else the attribute of an SDK model; None when absent."""
    if isinstance(value, Mapping):
        return value.get(key)
    found = getattr(value, key, None)
    # The SDK's unset optional fields are a sentinel of their own, not None.
    return None if type(found).__name__ == "Unset" else found
