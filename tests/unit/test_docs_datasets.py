"""The dataset rows the docs show are rows `cases()` reads: a user who copies one gets a case."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pytest_llmeval import cases
from tests.unit.test_docs_markdown import FencedBlock, documentation_files, fenced_blocks


def is_dataset(block: FencedBlock) -> bool:
    """A JSON block of one object a line, each with "messages" or "input": JSONL rows."""
    lines = [line for line in block.body.splitlines() if line.strip()]
    if block.info not in ("json", "jsonl") or not lines:
        return False
    try:
        rows = [json.loads(line) for line in lines]
    except json.JSONDecodeError:
        return False
    return all(isinstance(row, dict) and ("messages" in row or "input" in row) for row in rows)


DATASETS = [
    block for path in documentation_files() for block in fenced_blocks(path) if is_dataset(block)
]


def test_the_docs_show_dataset_rows() -> None:
    assert len(DATASETS) >= 4


@pytest.mark.parametrize("block", DATASETS, ids=lambda block: block.where)
def test_the_rows_shown_are_cases(block: FencedBlock, tmp_path: Path) -> None:
    path = tmp_path / "rows.jsonl"
    path.write_text(block.body, encoding="utf-8")
    read = cases(path)
    assert len(read) == len([line for line in block.body.splitlines() if line.strip()])
    for case in read:
        # A request ends with the user's message, or with a tool's result to answer from.
        assert case.prompt and case.messages[-1]["role"] in ("user", "tool")
