"""A rule's `tool_calls`: the tools the simulated model calls, and their arguments' text."""

from __future__ import annotations

import json
from collections.abc import Mapping


def parse_tool_calls(value: object) -> tuple[tuple[str, str], ...] | None:
    """`tool_calls`: a list of `{"name": ..., "arguments": ...}`, the arguments a string sent
    as is (cut off or malformed, if you like) or an object sent as its JSON."""
    if value is None:
        return None
    problem = (
        "'tool_calls' must be a non-empty list of objects such as "
        '{"name": "get_weather", "arguments": {"city": "Paris"}}'
    )
    if not isinstance(value, list) or not value:
        raise ValueError(problem)
    calls = []
    for call in value:
        if not isinstance(call, Mapping) or not isinstance(call.get("name"), str):
            raise ValueError(problem)
        if set(call) - {"name", "arguments"}:
            raise ValueError(
                f"{problem}; unknown key {sorted(set(call) - {'name', 'arguments'})[0]!r}"
            )
        arguments = call.get("arguments", {})
        if not isinstance(arguments, str):
            try:
                arguments = json.dumps(arguments, ensure_ascii=False)
            except (TypeError, ValueError):
                raise ValueError(f"{problem}; the arguments must be a string or JSON") from None
        calls.append((call["name"], arguments))
    return tuple(calls)
