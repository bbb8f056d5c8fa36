"""Cases that did not count: skipped and xfailed ones per group, a run that ran none, cases a
hook removed, and recordings the store would not trust."""

from __future__ import annotations

from typing import Any

from pytest_llmeval.report.build import build_report
from pytest_llmeval.report.model import RunInfo
from tests.factories import case_record as record
from tests.factories import gate_settings


def not_counted(index: int, outcome: str, group: str = "triage", **fields: Any) -> dict[str, Any]:
    return {
        "nodeid": f"tests/test_{group}.py::test_{group}[case-{index}]",
        "group": group,
        "kind": "metric",
        "outcome": outcome,
        "reason": "known bad",
        "threshold": 0.9,
        "max_unsafe": None,
        "min_score": None,
        **fields,
    }


def test_skipped_and_xfailed_cases_are_counted_per_group_and_out_of_the_rate() -> None:
    records = [record(index, threshold=0.9) for index in range(4)]
    skips = [not_counted(4, "skipped"), not_counted(5, "xfailed"), not_counted(6, "skipped")]
    report = build_report(
        records, RunInfo(model="m", collected=7), gate_settings(), not_counted=skips
    )
    (group,) = report.groups
    assert (group.cases, group.pass_rate, group.skipped, group.xfailed) == (4, 1.0, 2, 1)
    assert group.skipped_cases == [skips[0]["nodeid"], skips[2]["nodeid"]]
    assert group.xfailed_cases == [skips[1]["nodeid"]]
    assert (report.totals.skipped, report.totals.xfailed) == (2, 1)
    data = report.to_dict()["groups"][0]
    assert (data["skipped"], data["xfailed"], data["xfailed_cases"]) == (2, 1, [skips[1]["nodeid"]])
    assert report.gate.passed


def test_a_group_whose_every_case_was_skipped_has_no_evidence() -> None:
    records = [record(index, "tone", threshold=0.5) for index in range(3)]
    skips = [not_counted(index, "skipped") for index in range(3)]
    report = build_report(
        records, RunInfo(model="m", collected=6), gate_settings(), not_counted=skips
    )
    triage = next(group for group in report.groups if group.name == "triage")
    assert triage.verdict == "no_evidence"
    assert report.gate.reasons == [
        "group 'triage' has no evidence: none of its cases ran (3 skipped)"
    ]


def test_a_run_that_ran_no_eval_case_blocks_as_no_evidence_saying_why() -> None:
    skips = [not_counted(0, "skipped"), not_counted(1, "xfailed")]
    run = RunInfo(model="m", collected=5, eval_cases=2, deselected=3)
    report = build_report([], run, gate_settings(), not_counted=skips)
    assert report.gate.reasons == [
        "no evidence: none of 5 eval cases ran (1 skipped, 1 xfailed, 3 deselected)"
    ]


def test_cases_a_hook_removed_are_named_in_the_run() -> None:
    run = RunInfo(model="m", collected=3, eval_cases=0, removed_cases=["a", "b", "c"])
    report = build_report([], run, gate_settings())
    assert report.run.to_dict(interrupted=False)["removed"] == 3
    assert report.run.to_dict(interrupted=False)["removed_cases"] == ["a", "b", "c"]
    assert report.gate.reasons == ["no evidence: none of 3 eval cases ran (3 removed by a hook)"]


def test_a_recording_the_store_would_not_trust_blocks_naming_its_file() -> None:
    problem = "store/v1-chat-completions/ab/ab12-0.json: is a symbolic link"
    records = [record(0, threshold=0.5), record(1, threshold=0.5, store_integrity=[problem])]
    report = build_report(records, RunInfo(model="m"), gate_settings())
    assert report.store_integrity == [problem]
    (reason,) = report.gate.reasons
    assert reason.startswith("store integrity: ") and problem in reason
    assert report.to_dict()["store_integrity"] == [problem]
