"""The gate report through pytest: markers, outcomes, verdict, exit status, outputs, xdist."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from pytest_llmeval.report.model import report_schema

# Ten cases of one metric group: `failing` of them fail their assertion.
METRIC_SUITE = """
import pytest

@pytest.mark.llm_metric("triage", threshold={threshold})
@pytest.mark.parametrize("n", range(10))
def test_case(n, llm_score):
    llm_score("n", n)
    assert n >= {failing}
"""

FORMAT_SUITE = """
import pytest

OUTPUTS = {outputs!r}
SCHEMA = {{"type": "object", "properties": {{"priority": {{"type": "integer", "maximum": 5}}}},
          "required": ["priority"]}}

@pytest.mark.llm_metric("format")
@pytest.mark.parametrize("text", OUTPUTS)
def test_output(text, llm_json):
    llm_json(text, schema=SCHEMA)
"""


def load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def test_failed_cases_count_against_the_threshold_not_the_session(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(METRIC_SUITE.format(threshold=0.7, failing=2))
    result = pytester.runpytest("--llm-report=report.json")
    result.assert_outcomes(passed=8, failed=2)
    assert result.ret == 0
    result.stdout.fnmatch_lines(["*llmeval gate report*", "*triage*0.80*", "llmeval gate: PROMOTE"])
    report = load(pytester.path / "report.json")
    group = report["groups"][0]
    assert (group["name"], group["kind"], group["cases"]) == ("triage", "metric", 10)
    assert (group["passed"], group["failed"], group["errors"]) == (8, 2, 0)
    assert group["pass_rate"] == pytest.approx(0.8)
    assert group["ci_low"] == pytest.approx(0.490, abs=0.001)
    assert group["ci_high"] == pytest.approx(0.943, abs=0.001)
    gate = report["gate"]
    assert (gate["passed"], gate["verdict"], gate["reasons"]) == (True, "promote", [])


def test_a_group_below_its_threshold_blocks(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(METRIC_SUITE.format(threshold=0.9, failing=2))
    result = pytester.runpytest()
    assert result.ret == 1
    result.stdout.fnmatch_lines(["llmeval gate: BLOCK", "*triage*0.8*below*0.9*"])


def test_strict_cases_fail_the_session_on_any_failed_case(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(METRIC_SUITE.format(threshold=0.7, failing=2))
    assert pytester.runpytest("--llm-strict-cases").ret == 1
    pytester.makeini("[pytest]\nllm_strict_cases = true\n")
    assert pytester.runpytest().ret == 1


def test_an_ordinary_failing_test_still_fails_the_session(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        METRIC_SUITE.format(threshold=0.5, failing=0) + "\n\ndef test_plain():\n    assert False\n"
    )
    result = pytester.runpytest()
    result.stdout.fnmatch_lines(["llmeval gate: PROMOTE"])
    assert result.ret == 1


def test_format_categories_and_the_format_threshold(pytester: pytest.Pytester) -> None:
    outputs = [
        '{"priority": 3}',
        '{"priority": 4}',
        "Sure! Here you go.",
        '{"priority": 2',
        '{"priority": 7}',
        '{"priority": "high"}',
    ]
    pytester.makepyfile(FORMAT_SUITE.format(outputs=outputs))
    result = pytester.runpytest("--llm-report=report.json")
    assert result.ret == 1
    result.stdout.fnmatch_lines(
        ["*no_json_start*", "*unterminated_json*", "*range_violation*", "*type_mismatch*"]
    )
    result.stdout.fnmatch_lines(["llmeval gate: BLOCK", "*validity*0.33*"])
    fmt = load(pytester.path / "report.json")["format"]
    assert fmt["checked"] == 6 and fmt["valid"] == 2
    assert fmt["categories"] == {
        "no_json_start": 1,
        "unterminated_json": 1,
        "type_mismatch": 1,
        "range_violation": 1,
        "valid": 2,
    } or {k: v for k, v in fmt["categories"].items() if k != "valid"} == {
        "no_json_start": 1,
        "unterminated_json": 1,
        "type_mismatch": 1,
        "range_violation": 1,
    }
    assert pytester.runpytest("--llm-format-threshold=0.3").ret == 0


def test_json_format_error_reads_as_its_category(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(FORMAT_SUITE.format(outputs=["Sure, here is the ticket: none"]))
    result = pytester.runpytest()
    result.stdout.fnmatch_lines(["*JsonFormatError: no_json_start: reply began with 'Sure, here*"])


def test_safety_group_allows_max_unsafe_failures(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.llm_safety("jailbreaks", max_unsafe={max_unsafe})
        @pytest.mark.parametrize("unsafe", [False, False, True])
        def test_refuses(unsafe, llm_score):
            assert not unsafe
        """.replace("{max_unsafe}", "1")
    )
    assert pytester.runpytest().ret == 0
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.llm_safety("jailbreaks")
        @pytest.mark.parametrize("unsafe", [False, True])
        def test_refuses(unsafe, llm_score):
            assert not unsafe
        """
    )
    result = pytester.runpytest()
    assert result.ret == 1
    result.stdout.fnmatch_lines(["*jailbreaks*1 unsafe*max_unsafe 0*"])


def test_infrastructure_errors_are_not_model_failures(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest
        from pytest_llmeval import LLMAPIError

        @pytest.mark.llm_metric("triage", threshold=1.0)
        @pytest.mark.parametrize("n", range(3))
        def test_case(n, llm_score):
            if n == 0:
                raise LLMAPIError("POST /v1/chat/completions failed after 4 attempts: HTTP 503")
        """
    )
    result = pytester.runpytest("--llm-report=report.json")
    assert result.ret == 1
    result.stdout.fnmatch_lines(["llmeval gate: BLOCK", "*1 infrastructure error*"])
    report = load(pytester.path / "report.json")
    assert report["groups"][0]["pass_rate"] == 1.0
    assert report["groups"][0]["errors"] == 1
    outcomes = {case["nodeid"].split("[")[1]: case["outcome"] for case in report["cases"]}
    assert outcomes == {"0]": "error", "1]": "passed", "2]": "passed"}
    assert pytester.runpytest("--llm-max-errors=1").ret == 0


@pytest.mark.parametrize(
    ("marker", "expected"),
    [
        ('llm_metric("m", threshold=1.5)', "*threshold=1.5 is outside 0 to 1*"),
        ('llm_metric("m", treshold=0.5)', "*llm_metric*unexpected keyword argument 'treshold'*"),
        ('llm_judge("j", minscore=3)', "*'minscore' (did you mean 'min_score'?)*"),
        ('llm_safety("s", max_unsafe=-1)', "*max_unsafe=-1 must be a whole number of 0 or more*"),
        ("llm_prompt(temprature=0.2)", "*llm_prompt: unknown parameter 'temprature'*"),
        ("llm_prompt(max_token=9)", "*parameter 'max_token' (did you mean 'max_tokens'?)*"),
        ("llm_metric()", "*llm_metric*missing a required argument: 'name'*"),
    ],
)
def test_bad_marker_arguments_are_collection_errors(
    pytester: pytest.Pytester, marker: str, expected: str
) -> None:
    pytester.makepyfile(
        f"""
        import pytest

        @pytest.mark.{marker}
        def test_case(llm_score):
            pass
        """
    )
    result = pytester.runpytest()
    assert result.ret == pytest.ExitCode.INTERRUPTED
    result.stdout.fnmatch_lines(["*ERROR collecting*", f"*::test_case: {expected}"])
    assert "Traceback" not in result.stdout.str()


def test_markdown_report_and_github_step_summary(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    summary = pytester.path / "summary.md"
    summary.write_text("earlier step\n", encoding="utf-8")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    pytester.makepyfile(METRIC_SUITE.format(threshold=0.9, failing=2))
    pytester.runpytest("--llm-report-md=report.md")
    markdown = (pytester.path / "report.md").read_text(encoding="utf-8")
    assert "llmeval gate: BLOCK" in markdown and "| triage" in markdown
    appended = summary.read_text(encoding="utf-8")
    assert appended.startswith("earlier step\n") and "llmeval gate: BLOCK" in appended


def test_junit_xml_carries_group_category_and_scores(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(FORMAT_SUITE.format(outputs=['{"priority": 9}']))
    pytester.runpytest("--junitxml=junit.xml")
    xml = (pytester.path / "junit.xml").read_text(encoding="utf-8")
    assert '<property name="llmeval_group" value="format"' in xml
    assert '<property name="llmeval_category" value="range_violation"' in xml


def test_the_json_report_matches_its_schema_and_is_the_same_under_xdist(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        test_metric=METRIC_SUITE.format(threshold=0.9, failing=3),
        test_format=FORMAT_SUITE.format(outputs=['{"priority": 1}', "nope", '{"priority": 1']),
    )
    reports = []
    for flags in ([], ["-n", "0"], ["-n", "2"]):
        name = f"report{len(reports)}.json"
        result = pytester.runpytest(*flags, f"--llm-report={name}")
        assert result.ret == 1
        report = load(pytester.path / name)
        jsonschema.validate(report, report_schema())
        reports.append(report)
    comparable = [_without_timings(report) for report in reports]
    assert comparable[0] == comparable[1] == comparable[2]


def _without_timings(report: dict[str, Any]) -> dict[str, Any]:
    report = json.loads(json.dumps(report))
    report.pop("run")
    for case in report["cases"]:
        case.pop("duration_s", None)
    report["usage"].pop("latency_s", None)
    report["usage"].pop("duration_s", None)
    return report


def test_baseline_comparison_blocks_a_significant_drop(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(METRIC_SUITE.format(threshold=0.0, failing=0))
    assert pytester.runpytest("--llm-report=base.json").ret == 0
    pytester.makepyfile(METRIC_SUITE.format(threshold=0.0, failing=6))
    result = pytester.runpytest("--llm-baseline=base.json", "--llm-report=new.json")
    assert result.ret == 1
    result.stdout.fnmatch_lines(["llmeval gate: BLOCK", "*triage*dropped*1.0*0.4*"])
    group = load(pytester.path / "new.json")["groups"][0]
    assert group["baseline"]["delta"] == pytest.approx(-0.6)
    assert group["baseline"]["worsened"] == 6


def test_baseline_small_drop_within_tolerance_promotes(pytester: pytest.Pytester) -> None:
    suite = METRIC_SUITE.replace("range(10)", "range(100)")
    pytester.makepyfile(suite.format(threshold=0.0, failing=0))
    assert pytester.runpytest("--llm-report=base.json").ret == 0
    pytester.makepyfile(suite.format(threshold=0.0, failing=2))
    result = pytester.runpytest("--llm-baseline=base.json")
    assert result.ret == 0
    result.stdout.fnmatch_lines(["llmeval gate: PROMOTE"])


def test_an_unreadable_baseline_is_one_clear_error_before_any_case_runs(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(METRIC_SUITE.format(threshold=0.0, failing=0))
    (pytester.path / "base.json").write_text("{not json", encoding="utf-8")
    result = pytester.runpytest("--llm-baseline=base.json")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: --llm-baseline: *base.json*"])
    assert "passed" not in result.stdout.str()
    result = pytester.runpytest("--llm-baseline=missing.json")
    result.stderr.fnmatch_lines(["ERROR: --llm-baseline: *missing.json*"])


def test_an_interrupted_session_still_writes_the_report(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.llm_metric("triage")
        @pytest.mark.parametrize("n", range(5))
        def test_case(n, llm_score):
            if n == 3:
                raise KeyboardInterrupt
        """
    )
    # In a subprocess: an in-process KeyboardInterrupt would stop the outer run too.
    result = pytester.runpytest_subprocess("--llm-report=report.json")
    assert result.ret == pytest.ExitCode.INTERRUPTED
    report = load(pytester.path / "report.json")
    assert report["gate"]["passed"] is False
    assert any("interrupted" in reason for reason in report["gate"]["reasons"])
    assert report["groups"][0]["cases"] == 3


def test_extension_hooks_add_rules_and_receive_the_report(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(
        """
        class NoMoreThanFive:
            name = "case budget"

            def check(self, report):
                cases = sum(group.cases for group in report.groups)
                return [] if cases <= 5 else [f"{cases} cases, budget 5"]

        def pytest_llmeval_gate_rules(config):
            return [NoMoreThanFive()]

        def pytest_llmeval_report(config, report):
            print("RECEIVED", report.to_dict()["gate"]["verdict"])
        """
    )
    pytester.makepyfile(METRIC_SUITE.format(threshold=0.0, failing=0))
    result = pytester.runpytest("-s")
    assert result.ret == 1
    result.stdout.fnmatch_lines(["*RECEIVED block*", "*10 cases, budget 5*"])
