"""pytest-llmeval: evaluate customized Mistral models as ordinary pytest tests."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pytest_llmeval.errors import (
    DatasetError,
    InvalidSchemaError,
    JsonFormatError,
    JudgeError,
    LLMAPIError,
    ReplayMissError,
)
from pytest_llmeval.support.lazy import lazy_attributes

if TYPE_CHECKING:
    from pytest_llmeval.calls.reply import ModelInfo, Reply, Usage
    from pytest_llmeval.categories import CATEGORIES
    from pytest_llmeval.data.datasets import Case, cases, iter_cases
    from pytest_llmeval.grading.judge import JudgeVerdict
    from pytest_llmeval.grading.moderation import ModerationResult
    from pytest_llmeval.strict_json import ParsedJson, parse_json

__version__ = "0.1.0"

# Names loaded on first access, so that `pytest` with this plugin installed starts as fast as
# without it: their modules import the Mistral SDK, jsonschema or msgspec, and the plugin
# imports this package at every start-up.
_LAZY = {
    "Case": ".data.datasets",
    "cases": ".data.datasets",
    "iter_cases": ".data.datasets",
    "CATEGORIES": ".categories",
    "ParsedJson": ".strict_json",
    "parse_json": ".strict_json",
    "ModelInfo": ".calls.reply",
    "Reply": ".calls.reply",
    "Usage": ".calls.reply",
    "JudgeVerdict": ".grading.judge",
    "ModerationResult": ".grading.moderation",
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
