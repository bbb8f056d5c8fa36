"""What a case entry of the report carries beyond its contract keys: the exchange with the
model, bounded, and what a reviewer reads beside it."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from pytest_llmeval.case_record import TEXT_LIMIT
from pytest_llmeval.report.model import CaseEntry
from pytest_llmeval.support.messages import prompt_text


def add_exchange(case: CaseEntry, request: Any, output: Any) -> None:
    """The case's request (each message's role and text) and output, bounded by TEXT_LIMIT.

    Only role and text: an entry then holds no object that could begin with "nodeid", which
    `render.json_text` relies on. A request or output already in that shape (a passed case's
    plain messages) is shared with the record, not copied: a big run holds it once.
    """
    if isinstance(request, list):
        if all(_plain_message(message) for message in request):
            case["request"] = request
        else:
            case["request"] = [
                {
                    "role": str(message.get("role")),
                    "content": prompt_text(message.get("content"))[:TEXT_LIMIT],
                }
                for message in request
                if isinstance(message, Mapping)
            ]
    if isinstance(output, Mapping) and isinstance(output.get("text"), str):
        length = output.get("length")
        text = output["text"]
        bounded = type(length) is int and len(text) <= TEXT_LIMIT
        if isinstance(output, dict) and len(output) == 2 and bounded:
            case["output"] = output  # already in shape: shared with the record
            return
        case["output"] = {
            "text": text[:TEXT_LIMIT],
            "length": length if isinstance(length, int) else len(text),
        }


def _plain_message(message: Any) -> bool:
    """A message that holds a role and a bounded text and nothing else."""
    return (
        type(message) is dict
        and len(message) == 2
        and type(message.get("role")) is str
        and type(content := message.get("content")) is str
        and len(content) <= TEXT_LIMIT
    )


def add_review_details(case: CaseEntry, record: Mapping[str, Any]) -> None:
    """What the HTML report shows beside a case's output: the parse detail of its failed
    check, the judge's reasoning and the moderation scores, each only when there is one."""
    detail = record.get("parse_detail")
    if isinstance(detail, str) and detail:
        case["parse_detail"] = detail
    reasoning = record.get("judge_reasoning")
    if reasoning:
        case["judge_reasoning"] = [str(text) for text in reasoning]
    scores = record.get("moderation_scores")
    if isinstance(scores, Mapping):
        finite = {str(name): float(value) for name, value in scores.items() if _finite(value)}
        if finite:
            case["moderation_scores"] = finite


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
