"""A streamed chat answer: its events put together into one reply, and when its first token came.

Pure: the events are the SDK's `CompletionChunk`s as plain dicts (`data` of each server-sent
event), and the watch reads the raw bytes of the stream as they arrive.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pytest_llmeval.calls.tool_calls import ToolCall
from pytest_llmeval.support.messages import content_text

# An event ends at a blank line; Mistral sends "\n\n", the SSE standard allows "\r\n" too.
_EVENT_END = re.compile(rb"\r?\n\r?\n|\r\r")


def carries_token(chunk: Any) -> bool:
    """True when a chunk's delta holds text or a tool call: the first such chunk is the first
    token (Mistral's first chunk often holds only the role and an empty content)."""
    choices = chunk.get("choices") if isinstance(chunk, Mapping) else None
    for choice in choices if isinstance(choices, list) else ():
        delta = choice.get("delta") if isinstance(choice, Mapping) else None
        if not isinstance(delta, Mapping):
            continue
        if content_text(delta.get("content")) or delta.get("tool_calls"):
            return True
    return False


class FirstTokenWatch:
    """Fed a stream's bytes as they arrive; `feed` is True from the chunk that completes the
    first event carrying a token (`carries_token`) on."""

    def __init__(self) -> None:
        self._buffer = b""
        self.seen = False

    def feed(self, data: bytes) -> bool:
        if self.seen:
            return True
        self._buffer += data
        while not self.seen:
            end = _EVENT_END.search(self._buffer)
            if end is None:
                break
            event, self._buffer = self._buffer[: end.start()], self._buffer[end.end() :]
            self.seen = carries_token(_event_data(event))
        if self.seen:
            self._buffer = b""
        return self.seen


def _event_data(event: bytes) -> Any:
    """The JSON of an event's `data:` lines, or None."""
    lines = event.decode("utf-8", "replace").splitlines()
    data = "\n".join(line[5:].removeprefix(" ") for line in lines if line.startswith("data:"))
    try:
        return json.loads(data) if data else None
    except ValueError:
        return None  # "[DONE]", or not JSON: no token either way


@dataclass
class StreamedAnswer:
    """The events of one streamed chat answer, added in order, and the reply they make: the
    text of every delta, the tool calls (a call's argument pieces joined), the last finish
    reason and usage."""

    events: list[dict[str, Any]] = field(default_factory=list)
    text_parts: list[str] = field(default_factory=list)
    tool_calls: list[ToolCall] = field(default_factory=list)
    finish_reason: str | None = None
    usage: dict[str, Any] | None = None
    model: str | None = None

    @property
    def text(self) -> str:
        return "".join(self.text_parts)

    def add(self, chunk: dict[str, Any]) -> None:
        self.events.append(chunk)
        if isinstance(chunk.get("model"), str):
            self.model = chunk["model"]
        if isinstance(chunk.get("usage"), dict):
            self.usage = chunk["usage"]
        choices = chunk.get("choices")
        for choice in choices if isinstance(choices, list) else ():
            if not isinstance(choice, dict) or choice.get("index", 0) != 0:
                continue
            if choice.get("finish_reason") is not None:
                self.finish_reason = str(choice["finish_reason"])
            delta = choice.get("delta")
            if isinstance(delta, dict):
                self.text_parts.append(content_text(delta.get("content")))
                self._add_calls(delta.get("tool_calls"))

    def _add_calls(self, calls: Any) -> None:
        for call in calls if isinstance(calls, list) else ():
            if not isinstance(call, dict):
                continue
            function = call.get("function")
            function = function if isinstance(function, dict) else {}
            call_id = call.get("id")
            call_id = call_id if isinstance(call_id, str) else ""
            arguments = function.get("arguments")
            if not isinstance(arguments, str):
                arguments = "" if arguments is None else json.dumps(arguments, ensure_ascii=False)
            name = function.get("name")
            name = name if isinstance(name, str) else ""
            known = {existing.id for existing in self.tool_calls}
            # A piece of a call already begun (no id of its own, or the same id): its
            # arguments continue that call's, as OpenAI-style streams send them.
            if self.tool_calls and (call_id in ("", "null") or call_id in known) and not name:
                last = self.tool_calls[-1]
                self.tool_calls[-1] = ToolCall(last.id, last.name, last.arguments + arguments)
            else:
                self.tool_calls.append(ToolCall(call_id, name, arguments))
