"""A chat call's arguments as the SDK's own models, so that the SDK sends them as they are.

Given plain dicts for `messages`, `response_format` or `tools`, `chat.complete_async`
validates each through a pydantic model class it builds for that one call
(`utils.get_pydantic_model`): about 1.3 ms of CPU a call for the messages alone, spent on
the event loop that runs every request of the session. The same validation through a
`TypeAdapter` built once per argument costs some 0.03 ms, and the SDK takes its models as
they are. The body it sends does not change (tests/unit/test_sdk_body.py holds it to that).
A value the validation refuses is passed on untouched, for the SDK to report as it would.

Imported by the first call that goes through the SDK, which it imports.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

from mistralai.client import models
from pydantic import BaseModel, ConfigDict, TypeAdapter

# The type `chat.complete_async` validates each argument against.
_TYPES: dict[str, Any] = {
    "messages": list[models.ChatCompletionRequestMessage],
    "response_format": models.ResponseFormat | None,
    "tools": list[models.ChatCompletionRequestTool],
}
# The configuration of the SDK's per-call validation model (`utils.serializers.unmarshal`).
_CONFIG = ConfigDict(populate_by_name=True, arbitrary_types_allowed=True)


@functools.cache
def _adapter(name: str) -> TypeAdapter[Any]:
    return TypeAdapter(_TYPES[name], config=_CONFIG)


def typed(name: str, value: Any) -> Any:
    """`value` of argument `name` as the SDK's models, or `value` itself when it is not made
    of dicts, is already typed, or does not validate."""
    if name not in _TYPES or not _plain(value):
        return value
    try:
        converted = _adapter(name).validate_python(value)
    except (ValueError, TypeError):  # ValidationError, and the SDK's discriminators' own
        return value
    return converted if _typed(converted) else value


def typed_arguments(messages: Any, params: Mapping[str, Any]) -> tuple[Any, dict[str, Any]]:
    """The messages and keyword arguments of a chat call, each argument `typed`."""
    return typed("messages", messages), {name: typed(name, value) for name, value in params.items()}


def _plain(value: Any) -> bool:
    if isinstance(value, dict):
        return True
    return (
        isinstance(value, (list, tuple))
        and bool(value)
        and all(isinstance(item, dict) for item in value)
    )


def _typed(value: Any) -> bool:
    if isinstance(value, BaseModel):
        return True
    return (
        isinstance(value, list)
        and bool(value)
        and all(isinstance(item, BaseModel) for item in value)
    )
