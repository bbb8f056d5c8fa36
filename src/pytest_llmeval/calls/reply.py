"""What a model call returns (`Reply`, `Usage`, `ModelInfo`), and reading a recorded chat body.

No SDK import here: a session that only replays recorded chat completions never loads the
Mistral SDK (about half a second of start-up), see `read_chat_body`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pytest_llmeval.calls.tool_calls import ToolCall
from pytest_llmeval.support.messages import content_text

if TYPE_CHECKING:
    from pytest_llmeval.replay.recording import StoredResponse


@dataclass(frozen=True)
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0


@dataclass(frozen=True)
class Reply:
    """The model's answer to one chat request. `str(reply)` is its text.

    `tool_calls` are the functions it asked to run (arguments as the raw text it wrote).
    A streamed reply (`stream=True`) also has its `events` (each the `data` of one
    server-sent event, as a dict) and `time_to_first_token_s`: from the request to the
    first event holding text or a tool call (0.0 on a replay, as `latency_s` is); both
    are empty and None without streaming. `offered_tools` are the tools the request sent,
    by name, each its `parameters` schema: what `llm_json.tool_call` checks a call against.
    """

    text: str
    finish_reason: str | None
    usage: Usage
    latency_s: float
    model: str
    tool_calls: list[ToolCall] = field(default_factory=list)
    time_to_first_token_s: float | None = None
    events: tuple[dict[str, Any], ...] = field(default=(), repr=False)
    offered_tools: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    def __str__(self) -> str:
        return self.text


@dataclass(frozen=True)
class ModelInfo:
    """A model card: a fine-tuned model's `root` is the base model it was tuned from."""

    id: str
    type: str
    root: str | None
    card: Mapping[str, Any] = field(default_factory=dict, repr=False)


# The parts of a chat completion body this reader vouches for; a body with anything else in
# a choice or its message (log probabilities, image chunks, tool calls of another shape, ...)
# is left to the SDK's own models.
_CHOICE_KEYS = frozenset({"index", "finish_reason", "message"})
_MESSAGE_KEYS = frozenset({"role", "content", "tool_calls", "prefix"})
_TOKEN_FIELDS = ("prompt_tokens", "completion_tokens", "total_tokens")
_BODY_KEYS = frozenset({"id", "object", "model", "created", "usage", "choices"})
_USAGE_KEYS = frozenset({*_TOKEN_FIELDS, "prompt_audio_seconds", "service_tier"})


def read_chat_body(body: Any, model: str) -> Reply | None:
    """The `Reply` in a recorded chat completion body, or None when the SDK must read it.

    Accepts only the plain shape: the fields the SDK's `ChatCompletionResponse` requires,
    with their types, one choice whose message is text (a string, null, or text chunks) and
    tool calls of the plain shape (`_tool_calls`). For such a body the SDK's models give the
    same reply (a test checks this); anything else, however slightly unusual, returns None
    and goes through the SDK, which answers it or rejects it as it always does.
    """
    if not isinstance(body, dict):
        return None
    if not (
        _is_str(body.get("id"))
        and _is_str(body.get("object"))
        and _is_str(body.get("model"))
        and _is_int(body.get("created"))
        and _only_scalars(body, _BODY_KEYS)
    ):
        return None
    usage = _usage(body.get("usage"))
    choices = body.get("choices")
    # No choice at all is the server's failure, which the SDK path reports as such.
    if usage is None or not isinstance(choices, list) or len(choices) != 1:
        return None
    text, finish_reason = "", None
    tool_calls: list[ToolCall] = []
    if choices:
        choice = choices[0]
        if not isinstance(choice, dict) or not _only(choice, _CHOICE_KEYS):
            return None
        finish_reason = choice.get("finish_reason")
        if not _is_int(choice.get("index")) or not _is_str(finish_reason):
            return None
        message = choice.get("message")
        if message is not None:
            read = _message(message)
            if read is None:
                return None
            text, tool_calls = read
    if not _is_str(text):
        return None
    return Reply(
        text=text,
        finish_reason=finish_reason,
        usage=usage,
        latency_s=0.0,
        model=body["model"] or model,
        tool_calls=tool_calls,
    )


def _message(message: Any) -> tuple[str, list[ToolCall]] | None:
    """A message's text and tool calls, or None where the SDK must read it."""
    if not isinstance(message, dict) or not _only(message, _MESSAGE_KEYS):
        return None
    if message.get("role", "assistant") != "assistant":
        return None
    tool_calls = _tool_calls(message.get("tool_calls"))
    text = _message_text(message)
    return None if tool_calls is None or text is None else (text, tool_calls)


# A tool call's keys: the SDK's `ToolCall` and its `FunctionCall`.
_TOOL_CALL_KEYS = frozenset({"id", "type", "index", "function"})
_FUNCTION_KEYS = frozenset({"name", "arguments"})


def _tool_calls(calls: Any) -> list[ToolCall] | None:
    """Tool calls each with a string id, name and arguments (an optional string type and
    integer index): the SDK reads them alike. Anything else (no id, which the SDK makes
    "null"; arguments as an object) returns None."""
    if calls is None:
        return []
    if not isinstance(calls, list):
        return None
    found = []
    for call in calls:
        if not isinstance(call, dict) or not _only(call, _TOOL_CALL_KEYS):
            return None
        kind, index, function = call.get("type"), call.get("index"), call.get("function")
        if (kind is not None and not _is_str(kind)) or (index is not None and not _is_int(index)):
            return None
        if not isinstance(function, dict) or function.keys() != _FUNCTION_KEYS:
            return None
        call_id, name, arguments = call.get("id"), function["name"], function["arguments"]
        if not (_is_str(call_id) and _is_str(name) and _is_str(arguments)):
            return None
        found.append(ToolCall(str(call_id), name, arguments))
    return found


def _message_text(message: dict[str, Any]) -> str | None:
    prefix = message.get("prefix")
    if prefix is not None and not isinstance(prefix, bool):
        return None
    content = message.get("content")
    if content is None or isinstance(content, str):
        return content_text(content)
    if not isinstance(content, list):
        return None
    for chunk in content:
        if not (
            isinstance(chunk, dict)
            and chunk.keys() == {"type", "text"}
            and chunk["type"] == "text"
            and isinstance(chunk["text"], str)
        ):
            return None
    return content_text(content)


def _usage(usage: Any) -> Usage | None:
    if not isinstance(usage, dict):
        return None
    counts = []
    for name in _TOKEN_FIELDS:
        count = usage.get(name, 0)
        if count is not None and not _is_int(count):
            return None
        counts.append(count or 0)
    audio, tier = usage.get("prompt_audio_seconds"), usage.get("service_tier")
    if (audio is not None and not _is_int(audio)) or (tier is not None and not _is_str(tier)):
        return None
    if not _only_scalars(usage, _USAGE_KEYS):
        return None
    return Usage(*counts)


def _only(mapping: dict[str, Any], allowed: frozenset[str]) -> bool:
    """True when every key of `mapping` outside `allowed` is null."""
    return all(value is None for key, value in mapping.items() if key not in allowed)


def _only_scalars(mapping: dict[str, Any], known: frozenset[str]) -> bool:
    """True when every key of `mapping` outside `known` holds null, a boolean, an integer or
    a string: what the SDK ignores without a second thought (no nesting, no NaN)."""
    return all(
        value is None or type(value) in (bool, int) or _is_str(value)
        for key, value in mapping.items()
        if key not in known
    )


def _is_str(value: Any) -> bool:
    """A string the SDK's path can encode: no lone surrogate (as `\\ud800` can give)."""
    if not isinstance(value, str):
        return False
    if value.isascii():
        return True
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


_SCALARS = (str, int, float, bool, type(None))


def plain_json(value: Any, depth: int = 0) -> bool:
    """True for JSON made of exactly dict (string keys), list, str, int, float, bool, None."""
    kind = type(value)
    if kind in _SCALARS:
        return True
    if depth > 64:
        return False
    if kind is dict:
        return all(type(key) is str and plain_json(item, depth + 1) for key, item in value.items())
    if kind is list:
        return all(plain_json(item, depth + 1) for item in value)
    return False


def recorded_json(stored: StoredResponse) -> Any:
    """The body of a recorded 200 answer as the SDK reads it, or None where it would not.

    Only a 200 recorded as JSON, with a content type the SDK takes as `application/json`
    and decodes as UTF-8 (the charset, if any, is UTF-8).
    """
    if stored.status != 200 or stored.json_body is None:
        return None
    media_type, _, parameters = stored.content_type.partition(";")
    if media_type.strip().lower() != "application/json":
        return None
    charset = parameters.strip().lower().replace(" ", "").replace('"', "")
    if charset not in ("", "charset=utf-8", "charset=utf8"):
        return None
    return stored.json_body


def recorded_reply(stored: StoredResponse, model: str) -> Reply | None:
    """The reply in a recorded chat answer (`recorded_json`), or None where the SDK must
    read it."""
    body = recorded_json(stored)
    return None if body is None else read_chat_body(body, model)
