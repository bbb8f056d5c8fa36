"""pytest-llmeval: evaluate customized Mistral models as ordinary pytest tests."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .datasets import Case, cases, iter_cases
from .errors import (
    DatasetError,
    InvalidSchemaError,
    JsonFormatError,
    JudgeError,
    LLMAPIError,
    ReplayMissError,
)

if TYPE_CHECKING:
    from .categories import CATEGORIES
    from .judge import JudgeVerdict
    from .moderation import ModerationResult
    from .reply import ModelInfo, Reply, Usage
    from .strict_json import ParsedJson, parse_json

__version__ = "0.1.0"

# Names whose modules import the Mistral SDK or jsonschema: loaded on first access, so that
# `pytest` with this plugin installed starts as fast as without it.
_LAZY = {
    "CATEGORIES": "categories",
    "ParsedJson": "strict_json",
    "parse_json": "strict_json",
    "ModelInfo": "reply",
    "Reply": "reply",
    "Usage": "reply",
    "JudgeVerdict": "judge",
    "ModerationResult": "moderation",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'pytest_llmeval' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


__all__ = [
    "CATEGORIES",
    "Case",
    "DatasetError",
    "InvalidSchemaError",
    "JsonFormatError",
    "JudgeError",
    "JudgeVerdict",
    "LLMAPIError",
    "ModelInfo",
    "ModerationResult",
    "ParsedJson",
    "ReplayMissError",
    "Reply",
    "Usage",
    "cases",
    "iter_cases",
    "parse_json",
]
