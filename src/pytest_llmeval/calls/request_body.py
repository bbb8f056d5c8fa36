"""The JSON body `chat.complete_async` sends for a set of arguments, worked out without the SDK.

The replay shortcut (`Endpoint.replayed_chat`) finds a recording by this body, so it must be
the body the SDK sends, byte for byte after the store's canonical form, for the arguments
users write: `temperature=0` (the SDK sends `0.0`), `stop=("\\n",)` (sent as a list), enum
members (sent as their value), the SDK's own message and format models (sent as their dump),
`None`s (the store drops nulls) and the defaults the SDK adds (`"stream": false`, an
assistant message's `"prefix": false`, a tool's `"type": "function"`, a prediction's
`"type": "content"`).

Every rewrite here is one the SDK's validation makes itself, so the SDK sends the same body
for the rewritten arguments as for the given ones. A body that still differs from the SDK's
(an argument shape not handled here) finds no recording, because every recording holds a body
the SDK sent and the SDK sends such bodies unchanged: the call then takes the SDK's path. What
cannot be worked out safely (a bool or string where a number goes, NaN, an int dict key, a set,
a foreign object) is not guessed at: `chat_body` returns None.
"""

from __future__ import annotations

import enum
import math
import sys
from collections.abc import Mapping
from typing import Any

from pytest_llmeval.replay.keys import StoreRequest

__all__ = ["CHAT_PATH", "chat_body", "chat_store_request"]

CHAT_PATH = "/v1/chat/completions"

_FLOAT_FIELDS = frozenset(
    {"temperature", "top_p", "presence_penalty", "frequency_penalty", "repetition_penalty"}
)
_INT_FIELDS = frozenset(
    {"max_tokens", "random_seed", "min_tokens", "top_k", "top_logprobs", "top_prompt_logprobs", "n"}
)
_BOOL_FIELDS = frozenset(
    {"stream", "logprobs", "prompt_logprobs", "parallel_tool_calls", "safe_prompt"}
)
_TEXT_FIELDS = frozenset({"reasoning_effort", "prompt_mode", "prompt_cache_key", "service_tier"})
_JSON_FIELDS = frozenset({"metadata", "response_format", "guardrails"})
_ROLES = frozenset({"system", "user", "assistant", "tool"})
_DEPTH_LIMIT = 64


class _Unguessable(Exception):
    """An argument whose body is not worked out here: the SDK's path decides."""


def chat_body(model: str, messages: Any, params: Mapping[str, Any]) -> dict[str, Any] | None:
    """The body the SDK sends for `complete_async(model=model, messages=messages, **params)`,
    or None where it is not worked out (see the module docstring)."""
    try:
        body: dict[str, Any] = {"model": model, "messages": _messages(messages), "stream": False}
        for name, value in params.items():
            if value is None:
                continue  # sent as null or not at all: the store's key drops nulls either way
            body[name] = _field(name, value)
    except _Unguessable:
        return None
    return body


def _field(name: str, value: Any) -> Any:
    if name in _FLOAT_FIELDS:
        if type(value) is int:
            try:
                return float(value)
            except OverflowError:
                raise _Unguessable from None
        return _finite(value)
    if name in _INT_FIELDS:
        if type(value) is int:
            return value
        raise _Unguessable
    if name in _BOOL_FIELDS:
        if type(value) is bool:
            return value
        raise _Unguessable
    if name in _TEXT_FIELDS or (name == "tool_choice" and not isinstance(value, Mapping)):
        return _text(value)
    if name == "stop":
        return _text(value) if isinstance(value, (str, enum.Enum)) else _texts(value)
    if name == "tools":
        return [_with_default(tool, "type", "function", when="function") for tool in _list(value)]
    if name == "prediction":
        return _with_default(value, "type", "content")
    if name in _JSON_FIELDS or name == "tool_choice":
        return _json(value)
    raise _Unguessable  # `model`, `messages` twice, or an argument that is not body


def _messages(messages: Any) -> list[dict[str, Any]]:
    found = []
    for message in _list(messages):
        role = message.get("role") if isinstance(message, Mapping) else None
        if isinstance(message, Mapping) and type(role) is not str:
            raise _Unguessable  # the SDK picks the message's model by its exact role text
        item = _json(message)
        if not isinstance(item, dict) or item.get("role") not in _ROLES:
            raise _Unguessable
        if item["role"] == "assistant":
            item.setdefault("prefix", False)
        found.append(item)
    return found


def _text(value: Any) -> str:
    """A text argument: a string, or an enum member with a string value (sent as the value)."""
    if type(value) is str:
        return value
    if isinstance(value, enum.Enum) and type(value.value) is str:
        return value.value
    raise _Unguessable


def _texts(value: Any) -> list[str]:
    return [_text(item) for item in _list(value)]


def _list(value: Any) -> list[Any]:
    """A list argument: a list or a tuple (the SDK sends both as a JSON array)."""
    if type(value) in (list, tuple):
        return list(value)
    raise _Unguessable  # a set has no order to send; a generator would be used up here


def _with_default(value: Any, key: str, default: str, *, when: str | None = None) -> Any:
    item = _json(value)
    if isinstance(item, dict) and (when is None or when in item):
        item.setdefault(key, default)
    return item


def _finite(value: Any) -> float:
    if type(value) is float and math.isfinite(value):
        return value
    raise _Unguessable  # NaN and infinities go out as null; bools and strings are converted


def _json(value: Any, depth: int = 0) -> Any:
    """`value` as the SDK dumps it in JSON mode, for the types whose dump is known here."""
    kind = type(value)
    if kind is str or kind is int or kind is bool or value is None:
        return value
    if kind is float:
        return _finite(value)
    if depth > _DEPTH_LIMIT:
        raise _Unguessable
    if kind is dict:
        if not all(type(key) is str for key in value):
            raise _Unguessable
        return {key: _json(item, depth + 1) for key, item in value.items()}
    if kind is list or kind is tuple:
        return [_json(item, depth + 1) for item in value]
    if isinstance(value, enum.Enum) and type(value.value) in (str, int, float):
        return _json(value.value, depth + 1)
    if _is_sdk_model(value):
        return _json(value.model_dump(by_alias=True, mode="json", exclude_none=True), depth + 1)
    raise _Unguessable


def _is_sdk_model(value: Any) -> bool:
    """True for the SDK's own models; never imports the SDK (no model exists before it)."""
    types = sys.modules.get("mistralai.client.types")
    base = getattr(types, "BaseModel", None) if types is not None else None
    return base is not None and isinstance(value, base)


def chat_store_request(
    model: str, messages: list[dict[str, Any]], params: Mapping[str, Any]
) -> StoreRequest | None:
    """The store's view of the body `chat.complete_async` sends for these arguments
    (`chat_body`), or None where it is not worked out without the SDK."""
    body = chat_body(model, messages, params)
    return None if body is None else StoreRequest("POST", CHAT_PATH, body=body)
