"""The terminal report through pytest: its width, verbosity, colour, failed cases and cost;
the cost in the JSON report, the llm_prices ini key, and the verdict in JUnit XML."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

# Twelve cases of a group with a long name and long node ids; the first eight fail.
WIDE_SUITE = """
import pytest

@pytest.mark.llm_metric("ticket_routing", threshold=0.9)
@pytest.mark.parametrize("n", range(12))
def test_a_ticket_is_routed_to_the_team_that_owns_its_product_area(n, llm_score):
    llm_score("routing_accuracy", 3)
    assert n >= 8, f"ticket {n} went to the wrong team"
"""

ONE_CASE = """
import pytest

@pytest.mark.llm_metric("single")
def test_one(llm_score):
    llm_score("exact", 1)
"""

CHAT_SUITE = """
import pytest

@pytest.mark.llm_metric("chat")
@pytest.mark.parametrize("n", range(3))
def test_chat(n, llm):
    assert str(llm.chat(f"ticket {n}"))
"""


def squeezed(lines: list[str]) -> str:
    """The lines as one line, so a check does not depend on where the report wrapped."""
    return " ".join(" ".join(lines).split())


def gate_section(stdout: list[str]) -> list[str]:
    """The lines of the llmeval section, up to the line before pytest's closing summary."""
    start = next(index for index, line in enumerate(stdout) if "llmeval gate report" in line)
    end = next(
        (index for index in range(start + 1, len(stdout)) if stdout[index].startswith("====")),
        len(stdout),
    )
    return stdout[start + 1 : end]


@pytest.mark.parametrize("columns", [80, 200])
def test_the_report_fits_the_terminal_width(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, columns: int
) -> None:
    monkeypatch.setenv("COLUMNS", str(columns))
    pytester.makepyfile(WIDE_SUITE)
    result = pytester.runpytest("-p", "no:cacheprovider")
    section = gate_section(result.stdout.lines)
    too_long = [line for line in section if len(line) > columns]
    assert not too_long, too_long
    text = "\n".join(section)
    header = next(line for line in section if line.startswith("group "))
    if columns == 80:
        assert header.split()[:3] == ["group", "cases", "failed"]  # the narrow table
    else:
        assert header.split()[:4] == ["group", "kind", "cases", "passed"]
    assert "llmeval gate: BLOCK" in text


def test_failed_cases_are_listed_the_first_few_and_with_v_all(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(WIDE_SUITE)
    default = squeezed(gate_section(pytester.runpytest("-p", "no:cacheprovider").stdout.lines))
    assert "8 failed cases:" in default
    assert "ticket 0 went to the wrong team" in default
    assert "... and 3 more (-v lists them all)" in default
    assert "ticket 7 went" not in default

    verbose = squeezed(
        gate_section(pytester.runpytest("-v", "-p", "no:cacheprovider").stdout.lines)
    )
    for n in range(8):
        assert f"ticket {n} went to the wrong team" in verbose
    assert "more (-v lists them all)" not in verbose


def test_q_shortens_the_report_and_qq_leaves_the_verdict_line(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(WIDE_SUITE)
    quiet = pytester.runpytest("-q", "-p", "no:cacheprovider").stdout.lines
    section = "\n".join(gate_section(quiet))
    assert "ticket_routing" in section and "FAIL" in section
    assert "llmeval gate: BLOCK" in section
    assert "Usage:" not in section and "failed cases:" not in section

    very_quiet = pytester.runpytest("-qq", "-p", "no:cacheprovider").stdout.str()
    assert "llmeval gate report" not in very_quiet
    assert "llmeval gate: BLOCK" in very_quiet
    assert "Usage:" not in very_quiet and "pass rate [95% CI]" not in very_quiet


def test_the_verdict_is_coloured_when_pytest_colours(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(WIDE_SUITE)
    coloured = pytester.runpytest("--color=yes", "-p", "no:cacheprovider").stdout.str()
    assert re.search(r"\x1b\[31m(\x1b\[1m)?llmeval gate: BLOCK", coloured)
    plain = pytester.runpytest("--color=no", "-p", "no:cacheprovider").stdout.str()
    assert "\x1b[" not in plain and "llmeval gate: BLOCK" in plain

    pytester.makepyfile(test_one_case=ONE_CASE)
    green = pytester.runpytest("--color=yes", "-p", "no:cacheprovider", "test_one_case.py")
    assert re.search(r"\x1b\[32m(\x1b\[1m)?llmeval gate: PROMOTE", green.stdout.str())


def test_one_case_reads_in_the_singular_and_whole_scores_as_integers(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(ONE_CASE)
    text = pytester.runpytest("-p", "no:cacheprovider").stdout.str()
    assert "1 case: 1 passed, 0 failed, 0 errors" in squeezed([text])
    assert "Usage: 0 calls" in text
    assert re.search(r"single\s+exact\s+1\s+1\s+1\s+1\s*$", text, re.MULTILINE)
    assert "1.00  1.00" not in text


def test_the_cost_is_estimated_in_the_terminal_and_the_json_report(
    pytester: pytest.Pytester, run_args: list[str]
) -> None:
    pytester.makeini(
        """
        [pytest]
        llm_prices =
            # the model under test at made-up prices, so the figure is easy to check
            open-mistral-7b = 1000 2000
        """
    )
    pytester.makepyfile(CHAT_SUITE)
    result = pytester.runpytest(*run_args, "--llm-report=live.json")
    usage = load(pytester.path / "live.json")["usage"]
    prompt, completion = usage["prompt_tokens"], usage["completion_tokens"]
    assert prompt and completion
    expected = (prompt * 1000 + completion * 2000) / 1_000_000
    cost = usage["cost"]
    assert cost["estimated_usd"] == pytest.approx(expected)
    assert cost["unpriced"] == [] and cost["prices_checked"]
    assert list(cost["by_model"]) == list(usage["by_model"])
    checked = cost["prices_checked"]
    dollars = f"${expected:.4f}" if expected < 1 else f"${expected:.2f}"
    live = squeezed(gate_section(result.stdout.lines))
    assert f"Cost: est. {dollars} at list prices of {checked}" in live
    assert "replayed" not in live

    # Replayed under xdist: each worker's per-model tokens reach the controller's report.
    replayed = squeezed(
        gate_section(
            pytester.runpytest(*run_args, "--llm-record-mode=none", "-n", "2").stdout.lines
        )
    )
    assert (
        f"Cost: est. {dollars} at list prices of {checked}; the 3 replayed calls cost nothing now"
    ) in replayed


def test_a_bad_llm_prices_line_is_a_usage_error_naming_the_file_and_line(
    pytester: pytest.Pytester,
) -> None:
    ini = pytester.makeini(
        """
        [pytest]
        llm_prices =
            my-model = 0.2
        """
    )
    pytester.makepyfile(ONE_CASE)
    result = pytester.runpytest()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"*llm_prices in {ini}, line 3: 'my-model = 0.2' is not a price*"])
    assert "Traceback" not in result.stderr.str()


@pytest.mark.parametrize("workers", [[], ["-n", "2"]])
def test_junit_xml_carries_the_verdict_and_its_reasons(
    pytester: pytest.Pytester, workers: list[str]
) -> None:
    pytester.makepyfile(WIDE_SUITE)
    pytester.runpytest(*workers, "--junitxml=junit.xml", "-p", "no:cacheprovider")
    suite = ET.parse(pytester.path / "junit.xml").getroot().find("testsuite")
    assert suite is not None
    properties = {
        prop.get("name"): prop.get("value") for prop in suite.findall("properties/property")
    }
    assert properties["llmeval_gate_verdict"] == "block"
    assert properties["llmeval_gate_passed"] == "false"
    assert properties["llmeval_gate_reasons"] == "1"
    assert "'ticket_routing' pass rate 0.33" in str(properties["llmeval_gate_reason_1"])


def load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data
