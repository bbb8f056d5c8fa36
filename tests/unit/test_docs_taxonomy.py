"""docs/json-checks.md's example of each failure category, checked against `parse_json` (and the
two tool-call ones against `check_tool_call`): all 19, in table order, each getting its category
and the detail the page shows."""

from __future__ import annotations

import json
import re

import pytest

from pytest_llmeval import CATEGORIES, parse_json
from pytest_llmeval.calls.tool_calls import check_tool_call, tool_calls_from
from pytest_llmeval.categories import TOOL_CALL_CATEGORIES
from pytest_llmeval.strict_json import ParsedJson
from tests.unit.test_docs_markdown import DOCS, FencedBlock, code_spans, fenced_blocks

PAGE = DOCS / "json-checks.md"
HEADING = "### An example of each category"
LABEL = re.compile(r"^\*\*(?P<number>\d+)\. `(?P<category>\w+)`\*\*")


def section_blocks() -> list[FencedBlock]:
    lines = PAGE.read_text(encoding="utf-8").splitlines()
    start = lines.index(HEADING) + 1
    end = next((i for i in range(start, len(lines)) if lines[i].startswith("#")), len(lines))
    return [block for block in fenced_blocks(PAGE) if start < block.line <= end]


def schema() -> object:
    return json.loads(next(block.body for block in section_blocks() if block.info == "json"))


def examples() -> list[tuple[int, str, str, str]]:
    """(number, category, reply, detail) of each example, in page order."""
    found = []
    for block in section_blocks():
        label = LABEL.match(block.above)
        if label is None:
            continue
        assert block.below.startswith("→ `.detail`:"), f"{block.where}: no detail after the example"
        spans = code_spans(block.below.removeprefix("→ `.detail`:"))
        detail = "" if block.below.endswith("(empty)") else spans[0]
        reply = block.body.removesuffix("\n")
        found.append((int(label["number"]), label["category"], reply, detail))
    return found


def test_there_is_one_example_per_category_in_table_order() -> None:
    documented = [(number, category) for number, category, _, _ in examples()]
    assert documented == list(enumerate(CATEGORIES, 1))


def checked(category: str, reply: str) -> ParsedJson:
    """A tool call's example is the assistant message of a request that offered `file_ticket`
    (the page says so), the others a reply's text."""
    if category not in TOOL_CALL_CATEGORIES:
        return parse_json(reply, schema())
    message = json.loads(reply)
    offered = {"file_ticket": schema()}
    calls = tool_calls_from(message.get("tool_calls"))
    parsed, _ = check_tool_call(calls, offered, text=message.get("content") or "")
    return parsed


@pytest.mark.parametrize(
    ("number", "category", "reply", "detail"),
    examples(),
    ids=[example[1] for example in examples()],
)
def test_the_example_gets_its_category_and_the_detail_shown(
    number: int, category: str, reply: str, detail: str
) -> None:
    parsed = checked(category, reply)
    assert (parsed.category, parsed.detail) == (category, detail), f"example {number}"


def test_the_wrapped_examples_are_valid_in_lenient_mode() -> None:
    wrapped = [reply for number, _, reply, _ in examples() if 7 <= number <= 10]
    assert [parse_json(reply, schema(), strict=False).category for reply in wrapped] == [
        "valid"
    ] * 4
