"""Each gate rule failing and holding, its reason as the user reads it, and custom rules."""

from __future__ import annotations

from typing import Any

import pytest

from pytest_llmeval.report.build import build_report
from pytest_llmeval.report.gate import INTERRUPTED_REASON, drop_blocks, evaluate_gate
from pytest_llmeval.report.gate_settings import GateSettings
from pytest_llmeval.report.model import Report, RunInfo
from tests.factories import case_record as record
from tests.factories import gate_settings


def outcomes(group: str, passed: int, failed: int, **fields: Any) -> list[dict[str, Any]]:
    results = ["passed"] * passed + ["failed"] * failed
    return [record(index, group, outcome, **fields) for index, outcome in enumerate(results)]


def gate_of(
    records: list[dict[str, Any]], settings: GateSettings | None = None, **options: Any
) -> Report:
    return build_report(
        records, RunInfo(model="ft:open-mistral-7b:x"), settings or gate_settings(), **options
    )


def test_group_below_its_threshold_blocks_with_both_rates() -> None:
    report = gate_of(outcomes("triage", 41, 9, threshold=0.9))
    assert not report.gate.passed
    assert report.gate.verdict == "block"
    assert report.gate.reasons == ["group 'triage' pass rate 0.82 is below its threshold 0.90"]


def test_group_exactly_at_its_threshold_holds() -> None:
    report = gate_of(outcomes("triage", 9, 1, threshold=0.9))
    assert report.gate.passed
    assert report.gate.reasons == []
    assert report.gate.verdict == "promote"


def test_threshold_reason_shows_enough_decimals_to_differ() -> None:
    report = gate_of(outcomes("triage", 899, 101, threshold=0.9))
    assert report.gate.reasons == ["group 'triage' pass rate 0.899 is below its threshold 0.900"]


def test_group_without_threshold_is_informational_and_never_blocks() -> None:
    report = gate_of(outcomes("tone", 1, 9))
    assert report.gate.passed
    assert report.groups[0].verdict == "info"


def test_the_strictest_threshold_of_a_group_applies() -> None:
    records = outcomes("triage", 17, 3, threshold=0.8)
    records[0]["threshold"] = 0.9
    report = gate_of(records)
    assert report.groups[0].threshold == 0.9
    assert report.gate.reasons == ["group 'triage' pass rate 0.85 is below its threshold 0.90"]


def test_group_with_a_threshold_but_only_errors_blocks() -> None:
    records = [
        record(index, "triage", "error", threshold=0.9, error_type="TypeError", message="boom")
        for index in range(2)
    ]
    report = gate_of(records)
    assert (
        "group 'triage' has no evidence: none of its 2 cases passed or failed (2 errors)"
    ) in report.gate.reasons
    assert report.groups[0].verdict == "no_evidence"


def test_a_safety_group_of_tolerated_infrastructure_errors_has_no_evidence_and_blocks() -> None:
    records = [
        record(
            index,
            "jailbreaks",
            "error",
            kind="safety",
            error_type="LLMAPIError",
            infrastructure=True,
            message="503 Service Unavailable",
        )
        for index in range(4)
    ]
    report = gate_of(records, gate_settings(max_errors=10))
    assert report.groups[0].verdict == "no_evidence"
    assert report.gate.reasons == [
        "group 'jailbreaks' has no evidence: none of its 4 cases passed or failed (4 errors)"
    ]


def test_a_group_with_one_decided_case_has_evidence() -> None:
    records = [*outcomes("jailbreaks", 1, 0, kind="safety")]
    records.append(record(9, "jailbreaks", "error", kind="safety", infrastructure=True))
    report = gate_of(records, gate_settings(max_errors=1))
    assert report.groups[0].verdict == "pass"
    assert report.gate.passed


def test_safety_group_over_max_unsafe_blocks() -> None:
    report = gate_of(outcomes("jailbreaks", 8, 2, kind="safety"))
    assert report.gate.reasons == [
        "safety group 'jailbreaks' has 2 unsafe cases, more than max_unsafe 0"
    ]
    assert report.groups[0].verdict == "fail"


def test_safety_group_within_max_unsafe_holds() -> None:
    report = gate_of(outcomes("jailbreaks", 8, 2, kind="safety", max_unsafe=2))
    assert report.gate.passed
    assert report.groups[0].verdict == "pass"


def test_safety_group_all_safe_holds_with_default_max_unsafe_zero() -> None:
    report = gate_of(outcomes("jailbreaks", 5, 0, kind="safety"))
    assert report.gate.passed
    assert report.groups[0].max_unsafe == 0


def format_records(categories: list[str]) -> list[dict[str, Any]]:
    return [
        record(
            index,
            "extract",
            "passed" if category == "valid" else "failed",
            category=category,
            format_checks=[category],
        )
        for index, category in enumerate(categories)
    ]


def test_format_validity_below_threshold_lists_the_failed_categories() -> None:
    categories = ["valid"] * 57 + ["no_json_start"] + ["unterminated_json"] * 2
    report = gate_of(format_records(categories))
    assert report.gate.reasons == [
        "strict JSON validity 0.95 is below the format threshold 1.00 "
        "(3 of 60 outputs failed: 2 unterminated_json, 1 no_json_start)"
    ]


def test_format_validity_at_a_lower_threshold_holds() -> None:
    categories = ["valid"] * 57 + ["no_json_start"] * 3
    report = gate_of(format_records(categories), gate_settings(format_threshold=0.95))
    assert report.gate.passed


def test_format_rule_does_not_apply_without_llm_json_checks() -> None:
    report = gate_of(outcomes("triage", 3, 0))
    assert report.format.checked == 0
    assert report.gate.passed


def infrastructure_errors(count: int) -> list[dict[str, Any]]:
    return [
        record(
            100 + index,
            "triage",
            "error",
            error_type="LLMAPIError",
            infrastructure=True,
            message=f"503 Service Unavailable from /v1/chat/completions (try {index})",
        )
        for index in range(count)
    ]


def test_infrastructure_errors_over_the_limit_block_and_show_the_first() -> None:
    report = gate_of(outcomes("triage", 5, 0) + infrastructure_errors(3))
    assert report.gate.reasons == [
        "3 infrastructure errors, more than --llm-max-errors 0 (first: LLMAPIError: "
        "503 Service Unavailable from /v1/chat/completions (try 0))"
    ]


def test_infrastructure_errors_within_the_limit_hold() -> None:
    report = gate_of(
        outcomes("triage", 5, 0) + infrastructure_errors(3), gate_settings(max_errors=3)
    )
    assert report.gate.passed


def test_errors_in_test_code_block_even_when_infrastructure_errors_are_tolerated() -> None:
    broken = record(7, "triage", "error", error_type="KeyError", message="'priority'")
    report = gate_of([*outcomes("triage", 5, 0), broken], gate_settings(max_errors=10))
    assert report.gate.reasons == [
        "1 eval case raised an error in the test itself, which is neither a model failure nor "
        "an infrastructure error (first: KeyError: 'priority')"
    ]


def test_interrupted_session_blocks_with_the_finished_cases_reported() -> None:
    report = gate_of(outcomes("triage", 3, 0, threshold=0.5), interrupted=True)
    assert report.gate.reasons == [INTERRUPTED_REASON]
    assert INTERRUPTED_REASON.startswith("interrupted: ")
    assert report.groups[0].passed == 3


def run_info(**fields: Any) -> RunInfo:
    return RunInfo(model="ft:open-mistral-7b:x", **fields)


def test_an_incomplete_run_blocks_with_the_count_and_the_cause() -> None:
    run = run_info(eval_cases=20, not_run=14, stop_reason="stopped after the first failure, -x")
    report = build_report(outcomes("triage", 6, 0), run, gate_settings(), interrupted=True)
    # One reason: the count says more than "interrupted" would.
    assert report.gate.reasons == [
        "incomplete run: 14 of 20 eval cases did not run (stopped after the first failure, -x)"
    ]


def test_deselected_cases_do_not_block() -> None:
    run = run_info(eval_cases=6, deselected=14)
    assert build_report(outcomes("triage", 6, 0), run, gate_settings()).gate.passed


def test_cases_skipped_for_want_of_a_model_block_only_where_a_model_is_required() -> None:
    required = run_info(skipped_no_model=3, model_required=True)
    report = build_report([], required, gate_settings())
    assert report.gate.reasons == [
        "no model under test: 3 eval cases skipped; pass --llm-model=ID or set LLMEVAL_MODEL"
    ]
    assert build_report([], run_info(skipped_no_model=3), gate_settings()).gate.passed


def test_no_records_pass_with_no_reasons() -> None:
    report = gate_of([])
    assert report.gate.passed
    assert report.gate.reasons == []


def test_no_records_but_interrupted_blocks() -> None:
    assert gate_of([], interrupted=True).gate.reasons == [INTERRUPTED_REASON]


def test_several_failing_rules_give_one_reason_each() -> None:
    records = outcomes("triage", 1, 1, threshold=0.9) + outcomes("jail", 0, 1, kind="safety")
    report = gate_of(records + infrastructure_errors(1), interrupted=True)
    assert len(report.gate.reasons) == 4
    assert report.gate.reasons[0] == INTERRUPTED_REASON


class TokenBudget:
    name = "token_budget"

    def __init__(self, budget: int) -> None:
        self.budget = budget

    def check(self, report: Report) -> list[str]:
        if report.usage.total_tokens > self.budget:
            return [f"{report.usage.total_tokens} tokens, more than the budget {self.budget}"]
        return []


class BrokenRule:
    name = "broken"

    def check(self, report: Report) -> list[str]:
        raise ZeroDivisionError("division by zero")


def test_a_custom_rule_can_block() -> None:
    report = gate_of(outcomes("triage", 3, 0), extra_rules=[TokenBudget(100)])
    assert report.gate.reasons == ["129 tokens, more than the budget 100"]


def test_a_custom_rule_that_holds_keeps_the_verdict() -> None:
    report = gate_of(outcomes("triage", 3, 0), extra_rules=[TokenBudget(1000)])
    assert report.gate.passed


def test_a_custom_rule_that_raises_becomes_a_reason_naming_it() -> None:
    report = gate_of(
        outcomes("triage", 1, 1, threshold=0.9), extra_rules=[BrokenRule(), TokenBudget(1)]
    )
    assert report.gate.reasons == [
        "group 'triage' pass rate 0.50 is below its threshold 0.90",
        "gate rule 'broken' failed with ZeroDivisionError: division by zero",
        "86 tokens, more than the budget 1",
    ]


def test_a_custom_rule_returning_none_holds() -> None:
    class Forgetful:
        name = "forgetful"

        def check(self, report: Report) -> list[str]:
            return None  # type: ignore[return-value]

    assert gate_of(outcomes("triage", 1, 0), extra_rules=[Forgetful()]).gate.passed


def test_evaluate_gate_can_rerun_on_a_report() -> None:
    report = gate_of(outcomes("triage", 3, 0))
    result = evaluate_gate(report, [TokenBudget(10)])
    assert not result.passed
    assert result.to_dict() == {
        "passed": False,
        "verdict": "block",
        "reasons": ["129 tokens, more than the budget 10"],
    }


@pytest.mark.parametrize(
    ("delta", "p_value", "blocks"),
    [
        (-0.10, 0.001, True),  # significant AND over max_drop
        (-0.03, 0.001, False),  # significant but within max_drop
        (-0.02, 0.34, False),  # small and noisy: tolerated
        (-0.10, 0.25, False),  # over max_drop, but not significant (2 of 20 cases)
        (-0.10, 0.05, False),  # p exactly alpha is not below it
        (-0.05000000000000004, 0.001, False),  # exactly max_drop, after float noise
        (0.05, 0.01, False),  # better is never a block
        (None, 0.0, False),  # nothing to compare
    ],
)
def test_drop_blocks(delta: float | None, p_value: float, blocks: bool) -> None:
    assert drop_blocks(delta, p_value, gate_settings()) is blocks


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"format_threshold": 1.5}, "format_threshold"),
        ({"max_errors": -1}, "max_errors"),
        ({"max_drop": -0.1}, "max_drop"),
        ({"alpha": 0.0}, "alpha"),
    ],
)
def test_gate_settings_reject_impossible_values(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        gate_settings(**options)
