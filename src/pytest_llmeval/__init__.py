"""pytest-llmeval: evaluate customized Mistral models as ordinary pytest tests."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .errors import (
    DatasetError,
    InvalidSchemaError,
    JsonFormatError,
    JudgeError,
    LLMAPIError,
    ReplayMissError,
)
from .lazy import lazy_attributes

if TYPE_CHECKING:
    from .categories import CATEGORIES
    from .datasets import Case, cases, iter_cases
    from .judge import JudgeVerdict
    from .moderation import ModerationResult
    from .reply import ModelInfo, Reply, Usage
    from .strict_json import ParsedJson, parse_json

__version__ = "0.1.0"

# Names loaded on first access, so that `pytest` with this plugin installed starts as fast as
# without it: their modules import the Mistral SDK, jsonschema or msgspec, and the plugin
# imports this package at every start-up.
_LAZY = {
    "Case": ".datasets",
    "cases": ".datasets",
    "iter_cases": ".datasets",
    "CATEGORIES": ".categories",
    "ParsedJson": ".strict_json",
    "parse_json": ".strict_json",
    "ModelInfo": ".reply",
    "Reply": ".reply",
    "Usage": ".reply",
    "JudgeVerdict": ".judge",
    "ModerationResult": ".moderation",
}


__getattr__ = lazy_attributes(__name__, _LAZY)


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
