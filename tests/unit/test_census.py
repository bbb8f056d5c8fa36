"""The census of eval cases and the words for why some never ran."""

from __future__ import annotations

from pytest_llmeval.session.census import EvalCensus, StopEvidence, position_ranges, stop_text


def test_positions_become_ranges_and_back() -> None:
    flags = [True, True, False, True, False, False, True]
    assert position_ranges(flags) == [[0, 2], [3, 4], [6, 7]]
    assert position_ranges([]) == []
    worker = EvalCensus(deselected=2)
    ids = [f"t{index}" for index in range(len(flags))]
    worker.collected(ids, flags)
    controller = EvalCensus()
    controller.merge(worker.to_message(flags), ids)
    assert controller.selected == worker.selected == ["t0", "t1", "t3", "t6"]
    assert controller.deselected == 2


def test_the_first_census_wins_and_a_garbled_one_is_ignored() -> None:
    census = EvalCensus()
    census.merge("not a census", ["a"])
    census.merge({"ranges": "nope"}, ["a"])
    assert census.selected is None
    census.merge({"ranges": [[0, 1]], "deselected": 0}, ["a", "b"])
    census.merge({"ranges": [[0, 2]], "deselected": 5}, ["a", "b"])
    assert census.selected == ["a"]


def test_cases_that_reported_nothing_did_not_run() -> None:
    census = EvalCensus(selected=["a", "b", "c"])
    assert census.not_run({"a"}) == 2
    assert EvalCensus().not_run(set()) == 0


def test_the_reason_names_the_early_stop() -> None:
    assert StopEvidence(maxfail=1, should_fail="stopping after 1 failures").reason() == (
        "stopped after the first failure, -x"
    )
    assert StopEvidence(maxfail=2, should_fail="stopping after 2 failures").reason() == (
        "stopped after 2 failures, --maxfail=2"
    )
    # Under xdist the controller hears it as the interrupting exception's message.
    assert StopEvidence(maxfail=1, interrupt="stopping after 1 failures").reason() == (
        "stopped after the first failure, -x"
    )
    assert StopEvidence(crashed_workers=["gw1: Not properly terminated"]).reason() == (
        "xdist worker crashed: gw1: Not properly terminated"
    )
    assert StopEvidence(exit_message="bye").reason() == "pytest.exit(): bye"
    assert StopEvidence(interrupt="").reason() == "interrupted"
    assert StopEvidence(should_stop="Test failed, continuing").reason() == (
        "stopped: Test failed, continuing"
    )
    assert StopEvidence().reason() == "the session ended before they ran"


def test_stop_text_reads_pytests_flags() -> None:
    assert stop_text(False) is None
    assert stop_text(True) == "stopped early"
    assert stop_text("stopping after 1 failures") == "stopping after 1 failures"
