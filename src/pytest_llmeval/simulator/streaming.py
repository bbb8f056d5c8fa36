"""A chat completion sent as Mistral streams it: server-sent `data: {...}` events, then `[DONE]`.

The first event holds the role and an empty content, then one event per token of the text
(the simulator's tokens: 4 characters), the tool calls in one event, and a last one with the
finish reason and the usage; the stream ends with `data: [DONE]`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from pytest_llmeval.simulator.script import CHARS_PER_TOKEN, message_text

DONE = b"data: [DONE]\n\n"


def stream_events(payload: Mapping[str, Any]) -> list[bytes]:
    """The events of the stream that carries the completion `payload` (one choice)."""
    choice = payload["choices"][0]
    message = choice.get("message") or {}
    text = message_text(message.get("content"))
    head = {
        "id": payload["id"],
        "object": "chat.completion.chunk",
        "created": payload["created"],
        "model": payload["model"],
    }

    def event(delta: dict[str, Any], **extra: Any) -> bytes:
        finish = extra.pop("finish_reason", None)
        chunk = {**head, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
        chunk.update(extra)
        return b"data: " + json.dumps(chunk, separators=(",", ":")).encode() + b"\n\n"

    events = [event({"role": "assistant", "content": ""})]
    events.extend(
        event({"content": text[start : start + CHARS_PER_TOKEN]})
        for start in range(0, len(text), CHARS_PER_TOKEN)
    )
    tool_calls = message.get("tool_calls")
    if tool_calls:
        events.append(event({"tool_calls": tool_calls}))
    events.append(
        event({"content": ""}, finish_reason=choice.get("finish_reason"), usage=payload["usage"])
    )
    events.append(DONE)
    return events
