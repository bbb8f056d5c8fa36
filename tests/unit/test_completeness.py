"""Why a run is a subset run: each reason in words, none for a complete run."""

from __future__ import annotations

from pytest_llmeval.session.completeness import subset_reasons


def test_a_complete_run_has_no_reason() -> None:
    assert subset_reasons() == []


def test_each_way_of_running_a_subset_is_named() -> None:
    reasons = subset_reasons(
        deselected=9,
        not_run=3,
        stop_reason="stopped after the first failure, -x",
        last_failed=True,
        stepwise=True,
        shard="1/3",
    )
    assert reasons == [
        "9 eval cases deselected (-k, -m or --deselect)",
        "--lf ran the last failures only",
        "--sw (stepwise) skips and stops",
        "shard 1/3",
        "3 did not run (stopped after the first failure, -x)",
    ]
