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
    """A reply's content as its text: a string as is; text chunks concatenated, since they
    are pieces of one answer (as the SDK streams and returns them)."""
    return "".join(_chunk_texts(content))


def prompt_text(content: Any) -> str:
    """A prompt message's content as text: a string as is; its text chunks one per line,
    since each is a separate piece of what was asked."""
    return "\n".join(_chunk_texts(content))


def _chunk_texts(content: Any) -> list[str]:
    """The text parts of message content: plain dicts or the SDK's chunk models."""
    if content is None:
        return []
    if isinstance(content, str):
        return [content]
    if not isinstance(content, (list, tuple)):
        return []
    parts: list[str] = []
    for chunk in content:
        text = getattr(chunk, "text", None)
        if text is None and isinstance(chunk, Mapping):
            text = chunk.get("text")
        if isinstance(text, str):
            parts.append(text)
    return parts
