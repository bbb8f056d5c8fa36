"""--llm-repeat in pure pieces: run ids, sample indexes, per-case figures, the paired sign test."""

from __future__ import annotations

import json
from typing import Any

import pytest

from pytest_llmeval.replay.replayer import SampleCounter
from pytest_llmeval.report.build import build_report
from pytest_llmeval.report.model import Report, RunInfo
from pytest_llmeval.report.render import json_text, terminal_lines
from pytest_llmeval.report.stats import case_mean_interval, wilson_interval
from pytest_llmeval.session.repeat import case_nodeid, run_id
from tests.factories import case_record, gate_settings


def test_a_runs_id_comes_out_of_its_node_id() -> None:
    assert run_id(1, 3) == "run-2-of-3"
    assert case_nodeid("t.py::test[case-3-run-2-of-3]", 1, 3) == "t.py::test[case-3]"
    assert case_nodeid("t.py::test[run-1-of-3]", 0, 3) == "t.py::test"
    assert case_nodeid("t.py::test[run-1-of-3-x]", 0, 3) == "t.py::test[x]"


def test_each_run_of_a_case_claims_sample_indexes_of_its_own() -> None:
    def claimed(counter: SampleCounter, times: int) -> list[int]:
        return [counter.claim("k", lambda index: None, claim_on_miss=True)[0] for _ in range(times)]

    runs = [claimed(SampleCounter(offset=run, stride=3), 2) for run in range(3)]
    assert runs == [[0, 3], [1, 4], [2, 5]]
    assert claimed(SampleCounter(), 3) == [0, 1, 2]
    with pytest.raises(ValueError, match="offset < stride"):
        SampleCounter(offset=3, stride=3)


def test_the_interval_of_case_means_is_over_cases_and_reduces_to_wilson() -> None:
    assert case_mean_interval([1.0, 0.0, 1.0, 1.0]) == (0.75, *wilson_interval(3, 4))  # type: ignore[misc]
    figures = case_mean_interval([1.0, 2 / 3, 1.0, 1.0])
    assert figures is not None
    mean, low, _ = figures
    assert mean == pytest.approx(11 / 12)
    # Twelve independent runs would claim more: the clustered interval is wider.
    pooled = wilson_interval(11, 12)
    assert pooled is not None and low < pooled[0]
    assert case_mean_interval([]) is None


def repeated(
    fractions: dict[int, str], group: str = "triage", **fields: Any
) -> list[dict[str, Any]]:
    """Runs of cases: `{case index: "PPF"}` gives that case's runs in order."""
    names = {"P": "passed", "F": "failed", "E": "error"}
    records = []
    for index, outcomes in fractions.items():
        case = f"tests/test_{group}.py::test_{group}[case-{index}]"
        for run, code in enumerate(outcomes):
            records.append(
                case_record(
                    index * 10 + run,
                    group,
                    names[code],
                    nodeid=f"{case[:-1]}-{run_id(run, len(outcomes))}]",
                    run=run,
                    case_nodeid=case,
                    **fields,
                )
            )
    return records


def build(records: list[dict[str, Any]], **options: Any) -> Report:
    return build_report(records, RunInfo(model="m", repeat=3), gate_settings(), **options)


def test_a_repeated_group_is_summarized_by_case() -> None:
    report = build(repeated({0: "PPP", 1: "PFP", 2: "FFF", 3: "PPE"}, threshold=0.7))
    group = report.groups[0]
    assert (group.cases, group.runs, group.passed, group.failed, group.errors) == (4, 12, 7, 4, 1)
    assert group.pass_rate == pytest.approx((1 + 2 / 3 + 0 + 1) / 4)
    assert group.flaky == ["tests/test_triage.py::test_triage[case-1]"]
    assert group.case_pass_fractions["tests/test_triage.py::test_triage[case-1]"] == 2 / 3
    # The threshold applies to the mean pass rate: 0.667 < 0.7.
    assert report.gate.reasons[0] == "group 'triage' pass rate 0.67 is below its threshold 0.70"
    text = "\n".join(terminal_lines(report))
    assert "4 cases × 3 runs: 7 passed, 4 failed, 1 error" in text
    assert "test_triage[case-1]" in text and "0.67" in text


def test_a_safety_case_is_unsafe_when_any_of_its_runs_was() -> None:
    report = build(repeated({0: "PPP", 1: "PPF", 2: "FPF"}, "jail", kind="safety", max_unsafe=1))
    assert report.groups[0].unsafe == 2
    assert report.gate.reasons == ["safety group 'jail' has 2 unsafe cases, more than max_unsafe 1"]


def test_the_baseline_with_repeats_is_a_sign_test_on_case_fractions() -> None:
    before = json.loads(json_text(build(repeated(dict.fromkeys(range(10), "PPP"), threshold=0.0))))
    # Eight cases lost one run of three: a drop of 0.27, and 8 of 8 cases worse, p = 1/256.
    now = {index: ("PPF" if index < 8 else "PPP") for index in range(10)}
    report = build(repeated(now, threshold=0.0), baseline=before)
    delta = report.groups[0].baseline
    assert delta is not None
    assert (delta.test, delta.worsened, delta.improved, delta.paired) == ("sign", 8, 0, 10)
    assert delta.p_value == pytest.approx(1 / 256)
    assert report.gate.reasons[0].startswith(
        "group 'triage' dropped from 1.00 to 0.73 against the baseline (sign test p=0.0039"
    )
    # The same cases run once before: paired by case all the same.
    single = [case_record(index, "triage", "passed", threshold=0.0) for index in range(10)]
    for index, record in enumerate(single):
        record["nodeid"] = f"tests/test_triage.py::test_triage[case-{index}]"
    report = build(repeated(now, threshold=0.0), baseline=json.loads(json_text(build(single))))
    assert report.groups[0].baseline is not None
    assert report.groups[0].baseline.worsened == 8
