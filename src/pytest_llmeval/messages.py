"""Chat messages: building the list sent from a prompt, and reading text out of content."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

Messages = Sequence[Mapping[str, Any]]


def to_messages(
    messages_or_text: str | Messages, system: str | None = None
) -> list[dict[str, Any]]:
    """Turns a prompt or a message list into the message list sent; `system` replaces a leading
    system message, so a marker's system prompt wins over a dataset row's."""
    if isinstance(messages_or_text, str):
        messages: list[dict[str, Any]] = [{"role": "user", "content": messages_or_text}]
    else:
        messages = [dict(message) for message in messages_or_text]
    if system is not None:
        if messages and messages[0].get("role") == "system":
            messages = messages[1:]
        messages.insert(0, {"role": "system", "content": system})
    return messages


def content_text(content: Any) -> str:
    """Message content as text: a string as is; a list of chunks joined by their text parts."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    parts: list[str] = []
    for chunk in content:
        text = getattr(chunk, "text", None)
        if text is None and isinstance(chunk, Mapping):
            text = chunk.get("text")
        if isinstance(text, str):
            parts.append(text)
    return "".join(parts)
