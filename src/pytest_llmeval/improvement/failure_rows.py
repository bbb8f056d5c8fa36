"""Hard cases: each failed eval case as a Mistral fine-tuning row, for the next round of tuning."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

#: The key of a row that training ignores, holding where the row came from.
SOURCE_KEY = "llmeval"


@dataclass(frozen=True)
class Export:
    """The rows of the failed cases, and the failed cases that could not become one."""

    rows: list[dict[str, Any]]
    without_reply: list[str]  # nodeids of failed cases with no expected reply or no request


def failure_rows(records: Iterable[Mapping[str, Any]]) -> Export:
    """Every failed case (outcome "failed": the model's fault, not an error) as a row.

    A row is the case's request ending with its expected assistant reply, so it teaches
    what the model should have said; the case's nodeid, category, finish reason and raw
    output go under `"llmeval"`, a key mistral-finetune does not read. A case without an
    expected reply has nothing right to teach and is listed in `without_reply` instead.
    """
    rows: list[dict[str, Any]] = []
    missing: list[str] = []
    for record in records:
        if record.get("outcome") != "failed":
            continue
        row = _row(record)
        if row is None:
            missing.append(str(record.get("nodeid")))
        else:
            rows.append(row)
    return Export(rows, missing)


def _row(record: Mapping[str, Any]) -> dict[str, Any] | None:
    request = record.get("request")
    expected = record.get("expected")
    if not isinstance(request, list) or not request or expected is None:
        return None
    reply = expected if isinstance(expected, (str, list)) else _json_text(expected)
    if isinstance(reply, str) and not reply.strip():
        return None
    messages = [_training_message(message) for message in request if isinstance(message, dict)]
    messages.append({"role": "assistant", "content": reply})
    output = record.get("output")
    return {
        "messages": messages,
        SOURCE_KEY: {
            "nodeid": record.get("nodeid"),
            "group": record.get("group"),
            "category": record.get("category"),
            "finish_reason": record.get("finish_reason"),
            "message": record.get("message"),
            "output": output.get("text") if isinstance(output, Mapping) else output,
        },
    }


def _training_message(message: Mapping[str, Any]) -> dict[str, Any]:
    """A request message as training takes it: without the SDK's `prefix` flag."""
    return {key: value for key, value in message.items() if key != "prefix"}


def _json_text(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def jsonl_lines(rows: Iterable[Mapping[str, Any]]) -> Iterator[str]:
    """The rows as JSONL lines, each ending with a new line."""
    for row in rows:
        yield json.dumps(row, ensure_ascii=False) + "\n"
