"""Quoting the reply in a detail: every quote is bounded and repr-escaped, never megabytes."""

from __future__ import annotations

from typing import Final

# How many characters of the reply a detail quotes: enough to recognise.
SNIPPET: Final = 20
MESSAGE_LIMIT: Final = 200


def snippet(text: str, limit: int = SNIPPET, *, from_end: bool = False) -> str:
    """`repr` of at most `limit` characters of `text`, with … where it was cut."""
    if len(text) <= limit:
        return repr(text)
    if from_end:
        quoted = repr(text[-limit:])
        return quoted[0] + "…" + quoted[1:]
    quoted = repr(text[:limit])
    return quoted[:-1] + "…" + quoted[-1]


def near(text: str, pos: int) -> str:
    """`near '…the text around pos…'`: where in the reply a problem is."""
    begin = max(0, pos - SNIPPET)
    end = min(len(text), pos + 6)
    quoted = repr(text[begin:end])
    if begin > 0:
        quoted = quoted[0] + "…" + quoted[1:]
    if end < len(text):
        quoted = quoted[:-1] + "…" + quoted[-1]
    return f"near {quoted}"


def shorten(message: str, limit: int = MESSAGE_LIMIT) -> str:
    """`message` on one printable line of at most `limit` characters."""
    if not message.isprintable():
        message = "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in message)
    return message if len(message) <= limit else message[: limit - 1] + "…"
