"""How a case's ending is classified, and the case record's keys in one definition."""

from __future__ import annotations

import pytest

from pytest_llmeval.case_record import (
    RECORD_FIELDS,
    CaseRecorder,
    GroupSettings,
    Outcome,
    classify_outcome,
)
from pytest_llmeval.errors import JsonFormatError, LLMAPIError, ReplayMissError
from pytest_llmeval.report.build import build_report
from pytest_llmeval.report.model import RunInfo
from tests.factories import case_record, gate_settings


@pytest.mark.parametrize(
    ("phase", "error", "expected"),
    [
        ("call", None, Outcome("passed")),
        ("call", AssertionError("wrong label"), Outcome("failed")),
        (
            "call",
            JsonFormatError("no JSON", category="no_json_start", detail=""),
            Outcome("failed"),
        ),
        # An assertion in a fixture is the test's own error, not the model's failure.
        ("setup", AssertionError("bad fixture"), Outcome("error", "AssertionError", False)),
        ("call", ValueError("bug in the test"), Outcome("error", "ValueError", False)),
        ("call", LLMAPIError("503 after 4 attempts"), Outcome("error", "LLMAPIError", True)),
        ("setup", ReplayMissError("not recorded"), Outcome("error", "ReplayMissError", True)),
    ],
)
def test_classify_outcome(phase: str, error: BaseException | None, expected: Outcome) -> None:
    assert classify_outcome(phase, error) == expected


def test_a_recorder_writes_every_key_of_the_record_in_its_order() -> None:
    record = CaseRecorder("t.py::test_a", GroupSettings("triage")).to_record(
        outcome="passed", duration_s=0.5
    )
    assert tuple(record) == RECORD_FIELDS
    assert tuple(case_record(0)) == RECORD_FIELDS


def test_a_record_missing_keys_counts_as_an_error_of_its_own_group() -> None:
    complete = case_record(0, "triage")
    report = build_report(
        [complete, {"nodeid": "t.py::test_bare"}],  # type: ignore[list-item]
        RunInfo(model="m"),
        gate_settings(),
    )
    assert [(group.name, group.kind, group.errors) for group in report.groups] == [
        ("t.py::test_bare", "metric", 1),
        ("triage", "metric", 0),
    ]
    assert report.cases[1]["outcome"] == "error"
