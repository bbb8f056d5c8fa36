"""Failed cases exported as fine-tuning rows that `llmeval check-data` accepts."""

from __future__ import annotations

import json
from pathlib import Path

from pytest_llmeval.cli import main as check_data
from pytest_llmeval.improvement.failure_rows import failure_rows, jsonl_lines
from tests.factories import case_record

REQUEST = [
    {"role": "system", "content": "Triage the ticket."},
    {"role": "user", "content": "The app crashes"},
]


def test_failed_cases_become_rows_ending_with_the_expected_reply(tmp_path: Path) -> None:
    records = [
        case_record(0, outcome="passed", request=REQUEST, expected="x"),
        case_record(
            1,
            outcome="failed",
            category="leading_text",
            request=[
                *REQUEST,
                {"role": "assistant", "content": "earlier", "prefix": False},
                {"role": "user", "content": "and again"},
            ],
            expected='{"priority": 1}',
            output={"text": 'Sure! {"priority": 1}', "length": 21},
        ),
        case_record(2, outcome="failed", request=REQUEST, expected={"priority": 2}),
        case_record(3, outcome="failed", request=REQUEST, expected=None),
        case_record(4, outcome="error", request=REQUEST, expected="x"),
    ]

    export = failure_rows(records)

    assert [row["llmeval"]["nodeid"] for row in export.rows] == [
        records[1]["nodeid"],
        records[2]["nodeid"],
    ]
    first, second = export.rows
    assert first["messages"][-1] == {"role": "assistant", "content": '{"priority": 1}'}
    assert "prefix" not in first["messages"][2]
    assert first["llmeval"]["category"] == "leading_text"
    assert first["llmeval"]["output"] == 'Sure! {"priority": 1}'
    assert second["messages"][-1]["content"] == '{"priority":2}'
    assert export.without_reply == [records[3]["nodeid"]]
    path = tmp_path / "hard.jsonl"
    path.write_text("".join(jsonl_lines(export.rows)), encoding="utf-8")
    assert check_data(["check-data", str(path)]) == 0
    assert json.loads(path.read_text().splitlines()[0])["llmeval"]["group"] == "triage"
