"""The session's exit status once the gate has decided."""

from __future__ import annotations

from typing import Any

import pytest

from pytest_llmeval.session.collector import exit_status

OK, FAILED = pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED


def status(pytest_status: int = FAILED, **overrides: Any) -> int:
    given: dict[str, Any] = {
        "gate_passed": True,
        "other_failures": 0,
        "failed_cases": True,
        "strict_cases": False,
        **overrides,
    }
    return exit_status(pytest_status, **given)


def test_failed_eval_cases_do_not_fail_a_session_whose_gate_passes() -> None:
    assert status() == OK


def test_a_blocking_gate_fails_the_session_even_when_every_test_passed() -> None:
    assert status(OK, gate_passed=False, failed_cases=False) == FAILED


def test_an_ordinary_failed_test_fails_the_session() -> None:
    assert status(other_failures=1) == FAILED


def test_strict_cases_make_a_failed_eval_case_fail_the_session() -> None:
    assert status(strict_cases=True) == FAILED
    assert status(OK, strict_cases=True, failed_cases=False) == OK


@pytest.mark.parametrize(
    "pytest_status",
    [
        pytest.ExitCode.INTERRUPTED,
        pytest.ExitCode.INTERNAL_ERROR,
        pytest.ExitCode.USAGE_ERROR,
        pytest.ExitCode.NO_TESTS_COLLECTED,
    ],
)
@pytest.mark.parametrize("gate_passed", [True, False])
def test_pytest_own_statuses_other_than_0_and_1_are_kept(
    pytest_status: int, gate_passed: bool
) -> None:
    if pytest_status == pytest.ExitCode.NO_TESTS_COLLECTED and not gate_passed:
        pytest.skip("a run left with no test (every eval case deselected) blocks: below")
    assert status(pytest_status, gate_passed=gate_passed) == pytest_status


def test_a_run_whose_every_eval_case_was_deselected_fails_when_the_gate_blocks() -> None:
    assert status(pytest.ExitCode.NO_TESTS_COLLECTED, gate_passed=False) == FAILED
