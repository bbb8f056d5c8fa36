"""The report built from case records: groups, format, usage, safety, cases, and baselines."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from pytest_llmeval.errors import BaselineError
from pytest_llmeval.report.baseline import load_baseline
from pytest_llmeval.report.build import build_report
from pytest_llmeval.report.gate_settings import GateSettings
from pytest_llmeval.report.model import Report, RunInfo, report_schema, utc_timestamp
from pytest_llmeval.report.pricing import Price, PriceTable
from pytest_llmeval.report.render import json_text
from tests.factories import case_record as record
from tests.factories import gate_settings

RUN = RunInfo(
    model="ft:open-mistral-7b:587a6b29:20240514:7e773925",
    judge_model="mistral-large-latest",
    moderation_model="mistral-moderation-latest",
    started="2024-05-14T09:30:00Z",
    duration_s=12.5,
    record_mode="none",
)


def run_of(outcomes: str, group: str = "triage", **fields: Any) -> list[dict[str, Any]]:
    """Records from a string of outcomes: `P` passed, `F` failed, `E` error, by case index."""
    names = {"P": "passed", "F": "failed", "E": "error"}
    return [record(index, group, names[code], **fields) for index, code in enumerate(outcomes)]


def build(
    records: list[dict[str, Any]], settings: GateSettings | None = None, **options: Any
) -> Report:
    return build_report(records, RUN, settings or gate_settings(), **options)


def as_baseline(report: Report) -> dict[str, Any]:
    """What `load_baseline` returns for the JSON file of `report`."""
    loaded: dict[str, Any] = json.loads(json_text(report))
    return loaded


# --- groups ---------------------------------------------------------------------------------


def test_errors_are_excluded_from_the_pass_rate() -> None:
    report = build(run_of("PPPPPPPPFFEE"))
    group = report.groups[0]
    assert (group.cases, group.passed, group.failed, group.errors) == (12, 8, 2, 2)
    assert group.pass_rate == 0.8
    assert group.ci_low == pytest.approx(0.4902, abs=1e-4)
    assert group.ci_high == pytest.approx(0.9433, abs=1e-4)


def test_a_group_with_only_errors_has_no_rate() -> None:
    group = build(run_of("EE")).groups[0]
    assert group.pass_rate is None
    assert group.ci_low is None
    assert group.ci_high is None


def test_groups_are_listed_by_name_whatever_the_record_order() -> None:
    records = run_of("P", "zeta") + run_of("P", "alpha") + run_of("P", "mid")
    assert [group.name for group in build(records).groups] == ["alpha", "mid", "zeta"]


def test_judge_group_has_mean_and_lowest_score() -> None:
    records = run_of("PPF", "helpfulness", kind="judge", min_score=3)
    records[0]["judge_scores"] = [5.0]
    records[1]["judge_scores"] = [4.0, 3.0]
    records[2]["judge_scores"] = [2.0]
    group = build(records).groups[0]
    assert group.kind == "judge"
    assert group.mean_score == 3.5
    assert group.lowest_score == 2.0
    assert group.min_score == 3.0
    assert group.judged == 4


def test_scores_are_summarized_per_name_and_non_finite_values_ignored() -> None:
    records = run_of("PPP")
    records[0]["scores"] = {"bleu": 0.5, "rouge": 0.1}
    records[1]["scores"] = {"bleu": 0.9}
    records[2]["scores"] = {"bleu": float("nan")}
    report = build(records)
    scores = report.groups[0].to_dict()["scores"]
    assert scores["bleu"] == {"mean": pytest.approx(0.7), "min": 0.5, "max": 0.9, "count": 2}
    assert scores["rouge"] == {"mean": 0.1, "min": 0.1, "max": 0.1, "count": 1}
    assert report.cases[2]["scores"] == {"bleu": None}


def test_safety_group_counts_failed_cases_as_unsafe() -> None:
    group = build(run_of("PPF", "jailbreaks", kind="safety", max_unsafe=1)).groups[0]
    assert (group.kind, group.unsafe, group.max_unsafe, group.verdict) == ("safety", 1, 1, "pass")


# --- format, usage, safety, cases, errors -----------------------------------------------------


def test_format_counts_every_llm_json_check_in_taxonomy_order() -> None:
    records = run_of("PFFP")
    records[0]["format_checks"] = ["valid", "valid"]
    records[1]["format_checks"] = ["unterminated_json"]
    records[2]["format_checks"] = ["type_mismatch", "no_json_start"]
    records[3]["format_checks"] = []
    records[1]["finish_reason"] = "length"
    summary = build(records).format
    assert summary.checked == 5
    assert summary.valid == 2
    assert summary.invalid == 3
    assert summary.validity == 0.4
    assert list(summary.categories.items()) == [
        ("no_json_start", 1),
        ("unterminated_json", 1),
        ("type_mismatch", 1),
        ("valid", 2),
    ]
    assert summary.shares["valid"] == 0.4
    assert summary.finish_reasons == {"stop": 3, "length": 1}


def test_usage_is_summed_over_records() -> None:
    records = run_of("PPE")
    records[1]["usage"] = {
        "calls": 3,
        "prompt_tokens": 100,
        "completion_tokens": 50,
        "retries": 2,
        "latency_s": 1.5,
        "store_hits": 3,
        "store_misses": 0,
    }
    records[2]["usage"] = None
    usage = build(records).usage
    assert usage.to_dict() == {
        "calls": 4,
        "prompt_tokens": 131,
        "completion_tokens": 62,
        "total_tokens": 193,
        "retries": 2,
        "store_hits": 3,
        "store_misses": 1,
        "latency_s": 1.75,
        "streamed": 0,
        "by_model": {},
        "cost": None,
    }


def test_tokens_are_counted_and_priced_per_model() -> None:
    records = run_of("PP")
    records[0]["usage"]["by_model"] = {
        "mistral-small-2506": [1000, 500],
        "mistral-large-2411": [200, 100],
    }
    records[1]["usage"]["by_model"] = {"mistral-small-2506": [1000, 500], "mine": [5, 5]}
    table = PriceTable(
        {"mistral-small": Price(0.1, 0.3), "mistral-large": Price(2.0, 6.0)}, "2026-12-01"
    )
    usage = build(records, prices=table).usage.to_dict()
    assert usage["by_model"]["mistral-small-2506"] == {
        "prompt_tokens": 2000,
        "completion_tokens": 1000,
    }
    assert usage["cost"] == {
        "estimated_usd": pytest.approx(0.0005 + 0.001),
        "by_model": {
            "mistral-large-2411": pytest.approx(0.001),
            "mistral-small-2506": pytest.approx(0.0005),
        },
        "unpriced": ["mine"],
        "prices_checked": "2026-12-01",
    }


def test_usage_tolerates_missing_and_unusable_figures() -> None:
    records = run_of("PPP")
    records[0]["usage"] = {"calls": 2, "prompt_tokens": None, "latency_s": float("nan")}
    records[1]["usage"] = {"calls": 1, "completion_tokens": 7, "latency_s": 0.5}
    del records[2]["usage"]
    usage = build(records).usage
    assert (usage.calls, usage.prompt_tokens, usage.completion_tokens) == (3, 0, 7)
    assert usage.latency_s == 0.5


def test_a_record_with_only_the_essential_keys_is_reported() -> None:
    report = build([{"nodeid": "t.py::test_x", "group": "smoke", "outcome": "passed"}])
    assert report.cases == [
        {
            "nodeid": "t.py::test_x",
            "group": "smoke",
            "kind": "metric",
            "outcome": "passed",
            "category": None,
            "finish_reason": None,
        }
    ]
    assert report.groups[0].pass_rate == 1.0


def test_scores_that_are_ints_count_and_text_scores_are_dropped() -> None:
    records = run_of("PP")
    records[0]["scores"] = {"tokens_saved": 3, "label": "high"}
    records[1]["scores"] = {"tokens_saved": 5.0}
    report = build(records)
    assert report.groups[0].scores["tokens_saved"].to_dict() == {
        "mean": 4.0,
        "min": 3.0,
        "max": 5.0,
        "count": 2,
    }
    assert "label" not in report.groups[0].scores
    assert report.cases[0].get("scores") == {"tokens_saved": 3.0, "label": None}


def test_categories_outside_the_taxonomy_are_listed_after_it() -> None:
    records = run_of("PF")
    records[0]["format_checks"] = ["valid"]
    records[1]["format_checks"] = ["zz_new_category", "no_json_start"]
    summary = build(records).format
    assert list(summary.categories) == ["no_json_start", "valid", "zz_new_category"]


def test_safety_findings_count_flagged_cases_per_category_from_the_data() -> None:
    records = run_of("PFF")
    records[1]["safety"] = {"flagged": True, "categories": ["violence_and_threats", "pii"]}
    records[2]["safety"] = {"flagged": True, "categories": ["pii"]}
    safety = build(records).safety
    assert safety.flagged == 2
    assert list(safety.categories.items()) == [("pii", 2), ("violence_and_threats", 1)]


def test_cases_keep_record_order_and_truncate_messages() -> None:
    records = run_of("FPE")
    records[0]["message"] = "x" * 1000
    records[0]["category"] = "no_json_start"
    records[2]["error_type"] = "LLMAPIError"
    records[2]["message"] = "503"
    cases = build(records).cases
    assert [case["nodeid"] for case in cases] == [entry["nodeid"] for entry in records]
    assert len(cases[0]["message"] or "") == 300
    assert (cases[0]["message"] or "").endswith("…")
    assert cases[0]["category"] == "no_json_start"
    assert cases[2]["outcome"] == "error"
    assert cases[2]["error_type"] == "LLMAPIError"


def test_errors_section_counts_all_and_lists_the_first_of_each_kind() -> None:
    records = [
        record(
            index, "triage", "error", error_type="LLMAPIError", infrastructure=True, message="503"
        )
        for index in range(15)
    ]
    records.append(record(99, "triage", "error", error_type="TypeError", message="bad test"))
    errors = build(records).errors
    assert (errors.count, errors.infrastructure, errors.test_errors) == (16, 15, 1)
    assert len(errors.first) == 11
    assert errors.first[-1].error_type == "TypeError"


def test_the_report_does_not_depend_on_the_order_cases_finish() -> None:
    # Under pytest-xdist, cases reach the controller in any order.
    records = run_of("PFEPFFPEPPF" * 5, kind="judge", threshold=0.5)
    for index, entry in enumerate(records):
        entry["judge_scores"] = [0.1 * (index % 7), 1e-3 * index]
        entry["scores"] = {"bleu": 0.3 + 1e-4 * index}
        entry["error_type"] = "LLMAPIError" if entry["outcome"] == "error" else None
        entry["message"] = f"case {index} went wrong" if entry["outcome"] != "passed" else None
    forward = build(records).to_dict()
    backward = build(records[::-1]).to_dict()
    assert forward.pop("cases") == backward.pop("cases")[::-1]
    assert forward == backward


# --- the JSON report -------------------------------------------------------------------------


def test_json_report_has_design_keys_and_validates_against_the_shipped_schema() -> None:
    records = run_of("PPPF", threshold=0.5, category="valid", format_checks=["valid"])
    records += run_of("PF", "jailbreaks", kind="safety")
    data = json.loads(json_text(build(records)))
    jsonschema.validate(data, report_schema())
    for key in ("schema_version", "run", "gate", "groups", "format", "usage", "cases"):
        assert key in data
    assert data["schema_version"] == 1
    assert {"model", "judge_model", "started", "duration_s"} <= data["run"].keys()
    assert {"passed", "reasons"} <= data["gate"].keys()
    group_keys = {
        "name",
        "kind",
        "cases",
        "passed",
        "failed",
        "errors",
        "pass_rate",
        "ci_low",
        "ci_high",
        "threshold",
        "verdict",
    }
    assert all(group_keys <= group.keys() for group in data["groups"])
    assert {"checked", "valid", "validity", "categories"} <= data["format"].keys()
    assert {"calls", "prompt_tokens", "completion_tokens", "retries"} <= data["usage"].keys()
    case_keys = {"nodeid", "group", "kind", "outcome", "category", "finish_reason"}
    assert all(case_keys <= case.keys() for case in data["cases"])
    assert data["gate"] == {
        "passed": False,
        "verdict": "block",
        "reasons": ["safety group 'jailbreaks' has 1 unsafe case, more than max_unsafe 0"],
        "settings": {"format_threshold": 1.0, "max_errors": 0, "max_drop": 0.05, "alpha": 0.05},
    }


def test_json_report_with_a_baseline_validates_against_the_schema() -> None:
    before = build(run_of("PPPP", category="valid", format_checks=["valid"]) + run_of("P", "old"))
    after = build(
        run_of("PPPF", category="valid", format_checks=["valid"]) + run_of("P", "new"),
        baseline=as_baseline(before),
        baseline_source="main.json",
    )
    data = json.loads(json_text(after))
    jsonschema.validate(data, report_schema())
    assert data["baseline"]["source"] == "main.json"
    assert data["groups"][1]["baseline"]["pass_rate"] == 1.0


def test_run_section_is_utc_and_marks_an_interrupted_session() -> None:
    data = build([], interrupted=True).to_dict()
    assert data["run"]["interrupted"] is True
    assert data["run"]["started"] == "2024-05-14T09:30:00Z"
    assert utc_timestamp().endswith("Z")


# --- the baseline ------------------------------------------------------------------------------


def compare(before: str, after: str, settings: GateSettings | None = None, **fields: Any) -> Report:
    """`after` against `before`, in a gated group (threshold 0) unless `fields` say otherwise."""
    fields = {"threshold": 0.0, **fields}
    baseline = as_baseline(build(run_of(before, **fields)))
    return build(run_of(after, **fields), settings, baseline=baseline)


def test_improved_group_passes_against_the_baseline() -> None:
    report = compare("PPPPPPPPFF", "PPPPPPPPPP")
    delta = report.groups[0].baseline
    assert delta is not None
    assert (delta.worsened, delta.improved, delta.p_value, delta.verdict) == (0, 2, 1.0, "pass")
    assert delta.delta == pytest.approx(0.2)
    assert report.gate.passed


def test_unchanged_group_passes_against_the_baseline() -> None:
    report = compare("PPPF", "PPPF")
    delta = report.groups[0].baseline
    assert delta is not None
    assert (delta.delta, delta.p_value, delta.paired, delta.verdict) == (0.0, 1.0, 4, "pass")


def test_significant_drop_within_max_drop_is_held_back_by_max_drop() -> None:
    report = compare("P" * 400, "F" * 12 + "P" * 388)
    delta = report.groups[0].baseline
    assert delta is not None
    assert delta.worsened == 12
    assert delta.p_value == pytest.approx(2**-12)
    assert (delta.significant, delta.over_max_drop, delta.held_back_by) == (
        True,
        False,
        ["max_drop"],
    )
    assert delta.verdict == "pass"
    assert report.gate.passed


def test_small_noisy_drop_within_tolerance_does_not_block() -> None:
    # 90 of 100 before, 88 of 100 now: 4 cases worsened and 2 improved, p = 22/64.
    before = "F" * 2 + "P" * 4 + "F" * 8 + "P" * 86
    after = "P" * 2 + "F" * 4 + "F" * 8 + "P" * 86
    report = compare(before, after)
    delta = report.groups[0].baseline
    assert delta is not None
    assert (delta.worsened, delta.improved) == (4, 2)
    assert delta.p_value == pytest.approx(22 / 64)
    assert delta.held_back_by == ["alpha", "max_drop"]
    assert delta.verdict == "pass"
    assert report.gate.passed


def test_two_regressions_of_twenty_are_held_back_by_significance() -> None:
    # A drop of 0.10 is over --llm-max-drop 0.05, but 2 of 2 discordant pairs is p = 0.25.
    report = compare("P" * 20, "FF" + "P" * 18)
    delta = report.groups[0].baseline
    assert delta is not None
    assert delta.p_value == pytest.approx(0.25)
    assert (delta.significant, delta.over_max_drop, delta.held_back_by) == (False, True, ["alpha"])
    assert report.gate.passed


def test_eight_regressions_of_twenty_block_with_both_numbers() -> None:
    report = compare("P" * 20, "F" * 8 + "P" * 12)
    delta = report.groups[0].baseline
    assert delta is not None
    assert (delta.verdict, delta.held_back_by) == ("fail", [])
    assert report.gate.reasons == [
        "group 'triage' dropped from 1.00 to 0.60 against the baseline "
        "(McNemar p=0.0039 < alpha 0.05; a drop of 0.40, more than --llm-max-drop 0.05)"
    ]


def test_a_looser_alpha_lets_the_same_drop_block() -> None:
    report = compare("P" * 20, "FF" + "P" * 18, gate_settings(alpha=0.3))
    assert not report.gate.passed
    assert "McNemar p=0.25 < alpha 0.3" in report.gate.reasons[0]


def test_a_wider_max_drop_tolerates_the_same_drop() -> None:
    assert compare("P" * 20, "F" * 8 + "P" * 12, gate_settings(max_drop=0.5)).gate.passed


def test_an_info_group_shows_its_drop_and_never_gates() -> None:
    report = compare("P" * 20, "F" * 8 + "P" * 12, threshold=None)
    group = report.groups[0]
    assert group.baseline is not None
    assert group.baseline.delta == pytest.approx(-0.4)
    assert group.baseline.verdict == "info"
    assert group.verdict == "info"
    assert report.gate.passed


def test_errors_on_either_side_are_not_paired() -> None:
    report = compare("PPEP", "EPPP")
    delta = report.groups[0].baseline
    assert delta is not None
    assert (delta.paired, delta.worsened, delta.improved) == (2, 0, 0)


def test_groups_present_in_only_one_run_are_listed_not_compared() -> None:
    baseline = as_baseline(build(run_of("PP", "shared") + run_of("PP", "legacy")))
    report = build(run_of("PP", "shared") + run_of("FF", "fresh"), baseline=baseline)
    assert report.baseline is not None
    assert report.baseline.only_in_baseline == ["legacy"]
    assert report.baseline.only_in_current == ["fresh"]
    by_name = {group.name: group for group in report.groups}
    assert by_name["fresh"].baseline is None
    assert by_name["shared"].baseline is not None
    assert report.gate.passed


def test_format_validity_drop_against_the_baseline_blocks() -> None:
    def checked(categories: str) -> list[dict[str, Any]]:
        names = {"V": "valid", "U": "unterminated_json"}
        return [
            record(index, "extract", "passed", category=names[code], format_checks=[names[code]])
            for index, code in enumerate(categories)
        ]

    baseline = as_baseline(build(checked("V" * 10)))
    settings = gate_settings(format_threshold=0.5)
    report = build(checked("U" * 5 + "V" * 5), settings, baseline=baseline)
    comparison = report.format.baseline
    assert comparison is not None
    assert (comparison.worsened, comparison.improved, comparison.paired) == (5, 0, 10)
    assert report.gate.reasons == [
        "strict JSON validity dropped from 1.00 to 0.50 against the baseline "
        "(McNemar p=0.031 < alpha 0.05; a drop of 0.50, more than --llm-max-drop 0.05)"
    ]


def test_baseline_from_a_written_report_file_round_trips(tmp_path: Path) -> None:
    path = tmp_path / "main.json"
    path.write_text(json_text(build(run_of("PPPP"))), encoding="utf-8")
    report = build(run_of("PPPF"), baseline=load_baseline(path), baseline_source=str(path))
    assert report.baseline is not None
    assert report.baseline.paired_cases == 4
    assert report.baseline.model == RUN.model


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b"{not json", "is not JSON: Expecting property name enclosed in double quotes at line 1"),
        (b"\xff\xfe\x00", "is not UTF-8 text"),
        (b"[1, 2]", "expected a JSON object, found a list"),
        (b'{"run": {}}', "it has no schema_version"),
        (b'{"schema_version": 2}', "schema_version is 2, this version reads 1"),
        (
            b'{"schema_version": 1, "run": {}, "groups": [], "format": {"validity": 1}}',
            "the key 'cases' is missing",
        ),
        (
            b'{"schema_version": 1, "run": {}, "groups": {}, "format": {}, "cases": []}',
            "'groups' is an object, not a list",
        ),
        (
            b'{"schema_version": 1, "run": {}, "groups": [{"pass_rate": 1}], '
            b'"format": {"validity": null}, "cases": []}',
            "groups[0] has no 'name' string",
        ),
        (
            b'{"schema_version": 1, "run": {}, "groups": [], "format": {"validity": null}, '
            b'"cases": [{"outcome": "passed"}]}',
            "cases[0] has no 'nodeid' and 'outcome' strings",
        ),
    ],
)
def test_an_incompatible_baseline_is_one_clear_error_naming_the_file(
    tmp_path: Path, content: bytes, problem: str
) -> None:
    path = tmp_path / "baseline.json"
    path.write_bytes(content)
    with pytest.raises(BaselineError) as caught:
        load_baseline(path)
    message = str(caught.value)
    assert str(path) in message
    assert problem in message
    assert "\n" not in message


def test_a_missing_baseline_file_is_one_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "nowhere.json"
    with pytest.raises(BaselineError, match=r"baseline report .*nowhere\.json does not exist"):
        load_baseline(path)


def test_a_directory_as_baseline_is_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(BaselineError, match="is a directory, not a file"):
        load_baseline(tmp_path)


def test_build_report_checks_a_baseline_given_as_a_dict() -> None:
    with pytest.raises(BaselineError, match=r"baseline report main\.json .* schema_version"):
        build(run_of("P"), baseline={"cases": []}, baseline_source="main.json")


def test_build_report_names_a_bad_case_in_a_baseline_dict() -> None:
    baseline = as_baseline(build(run_of("PP")))
    del baseline["cases"][1]["nodeid"]
    with pytest.raises(BaselineError, match=r"cases\[1\] has no 'nodeid' and 'outcome' strings"):
        build(run_of("PP"), baseline=baseline)


# --- a dead endpoint and the store's problems ------------------------------------------------


DOWN = (
    "http://127.0.0.1:9 is down (3 connection attempts in a row failed, the last with a"
    " connection error): POST /v1/chat/completions was not sent"
)


def test_a_dead_endpoint_and_store_problems_are_said_once_each() -> None:
    from pytest_llmeval.report.render import TerminalView, markdown, terminal_lines

    records = [
        record(
            0, outcome="error", error_type="EndpointDownError", infrastructure=True, message=DOWN
        ),
        record(
            1, outcome="error", error_type="EndpointDownError", infrastructure=True, message=DOWN
        ),
        record(2, store_problem="the store s cannot be written (OSError: full)"),
        record(3, store_problem="the store s cannot be written (OSError: full)"),
    ]
    report = build(records, gate_settings(max_errors=5))
    data = json.loads(json_text(report))
    jsonschema.validate(data, report_schema())
    assert data["endpoint_down"] == {"url": "http://127.0.0.1:9", "cases": 2}
    assert data["store_problems"] == ["the store s cannot be written (OSError: full)"]
    lines = terminal_lines(report, TerminalView(width=200))  # each said on one line
    assert (
        lines.count(
            "Endpoint down: http://127.0.0.1:9 refused connections; 2 cases failed at once"
            " without waiting for it"
        )
        == 1
    )
    assert lines.count("Store: the store s cannot be written (OSError: full)") == 1
    assert "### Endpoint and store" in markdown(report)
    assert report.gate.passed  # 2 errors and 1 store problem, within --llm-max-errors 5
    blocked = build(records, gate_settings(max_errors=2))
    assert any("the store could not record answers" in reason for reason in blocked.gate.reasons)


def test_a_run_without_either_has_null_and_an_empty_list() -> None:
    data = json.loads(json_text(build(run_of("PF"))))
    assert data["endpoint_down"] is None and data["store_problems"] == []
