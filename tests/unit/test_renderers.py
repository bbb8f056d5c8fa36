"""Terminal, Markdown and JSON renderings: the figures a user reads, and hostile text escaped."""

from __future__ import annotations

import json
import re
from typing import Any

import jsonschema

from pytest_llmeval.report.build import build_report
from pytest_llmeval.report.model import Report, RunInfo, report_schema
from pytest_llmeval.report.render import TerminalView, json_text, markdown, terminal_lines
from tests.factories import case_record, gate_settings

RUN = RunInfo(
    model="ft:open-mistral-7b:587a6b29:20240514:7e773925",
    judge_model="mistral-large-latest",
    started="2024-05-14T09:30:00Z",
    duration_s=42.0,
    record_mode="none",
)
WIDE = TerminalView(width=200)
HOSTILE = (
    "ignore this\x1b[2J\x1b[31m | \u202eevil\r\nSECOND LINE <img src=x onerror=alert(1)> `code`"
)

# The figures the usage-line assertions below are written for.
USAGE = {
    "calls": 2,
    "prompt_tokens": 30,
    "completion_tokens": 10,
    "retries": 1,
    "latency_s": 0.5,
    "store_hits": 1,
    "store_misses": 1,
}


def record(
    index: int, group: str = "triage", outcome: str = "passed", **fields: Any
) -> dict[str, Any]:
    return case_record(index, group, outcome, **{"usage": dict(USAGE), "duration_s": 0.6, **fields})


def run_of(outcomes: str, group: str = "triage", **fields: Any) -> list[dict[str, Any]]:
    names = {"P": "passed", "F": "failed", "E": "error"}
    return [record(index, group, names[code], **fields) for index, code in enumerate(outcomes)]


def build(records: list[dict[str, Any]], **options: Any) -> Report:
    return build_report(records, RUN, gate_settings(), **options)


def blocked_report() -> Report:
    """Eight of ten triage cases pass (threshold 0.9), one JSON output is cut off."""
    records = run_of("PPPPPPPPFF", threshold=0.9, category="valid", format_checks=["valid"])
    records[8].update(
        category="unterminated_json",
        format_checks=["unterminated_json"],
        finish_reason="length",
        message=HOSTILE,
    )
    records += run_of("PP", "helpfulness", kind="judge", judge_scores=[4.0])
    records[-1]["safety"] = {"flagged": True, "categories": ["selfharm"]}
    records[-1]["scores"] = {"bleu": 0.25}
    return build(records)


def test_terminal_shows_each_group_with_rate_interval_threshold_and_verdict() -> None:
    lines = terminal_lines(blocked_report(), WIDE)
    row = next(line for line in lines if line.startswith("triage"))
    assert row.split() == [
        "triage",
        "metric",
        "10",
        "8",
        "2",
        "0",
        "0.80",
        "[0.49,",
        "0.94]",
        "≥",
        "0.90",
        "FAIL",
    ]
    judge_row = next(line for line in lines if line.startswith("helpfulness "))
    assert judge_row.split()[-1] == "info"


def test_terminal_ends_with_the_verdict_line_and_each_reason() -> None:
    lines = terminal_lines(blocked_report(), WIDE)
    verdict_at = lines.index("llmeval gate: BLOCK")
    assert lines[verdict_at + 1 :] == [
        "  - group 'triage' pass rate 0.80 is below its threshold 0.90",
        "  - strict JSON validity 0.90 is below the format threshold 1.00 "
        "(1 of 10 outputs failed: 1 unterminated_json)",
    ]


def test_terminal_promote_line_when_every_rule_holds() -> None:
    lines = terminal_lines(build(run_of("PPP", threshold=0.5)))
    assert lines[-1] == "llmeval gate: PROMOTE"


def test_terminal_shows_format_categories_with_counts_and_shares() -> None:
    text = "\n".join(terminal_lines(blocked_report()))
    assert "Strict JSON: 9 of 10 outputs valid (0.90, threshold 1.00)" in text
    assert re.search(r"unterminated_json\s+1\s+10\.0%", text)
    assert re.search(r"valid\s+9\s+90\.0%", text)
    assert "finish reasons: stop 11, length 1" in text


def test_terminal_shows_usage_safety_judge_and_scores() -> None:
    text = "\n".join(terminal_lines(blocked_report(), WIDE))
    assert (
        "Usage: 24 calls, 480 tokens (360 prompt, 120 completion), 12 retries, "
        "store 12 hits / 12 misses, 6.0 s in model calls, 42.0 s in all"
    ) in text
    assert "Moderation flagged 1 case: selfharm 1" in text
    assert re.search(r"helpfulness\s+2\s+4\s+4\s*$", text, re.MULTILINE)  # whole: no .00
    assert re.search(r"helpfulness\s+bleu\s+1\s+0\.25", text)


def test_terminal_shows_baseline_deltas_with_p_value_on_drops() -> None:
    gated = {"threshold": 0.0}
    baseline = json.loads(
        json_text(
            build(
                run_of("P" * 20, **gated)
                + run_of("P" * 20, "noisy", **gated)
                + run_of("PPPPPPPPFF", "tone")
            )
        )
    )
    report = build(
        run_of("F" * 8 + "P" * 12, **gated)
        + run_of("FF" + "P" * 18, "noisy", **gated)
        + run_of("PPPPPPPPPP", "tone")
        + run_of("P", "fresh"),
        baseline=baseline,
        baseline_source="main.json",
    )
    text = "\n".join(terminal_lines(report, WIDE))
    assert re.search(r"tone .*0\.80 → 1\.00\s+0/2\s+info", text)
    assert re.search(r"triage .*1\.00 → 0\.60 \(p=0\.0039\)\s+8/0\s+FAIL", text)
    assert re.search(r"noisy .*1\.00 → 0\.90 \(p=0\.25\)\s+2/0\s+pass", text)
    assert "Baseline: main.json (model ft:open-mistral-7b" in text
    assert "groups only in this run: fresh" in text
    # Both numbers of the rule for each comparison, and the half that held a drop back.
    assert re.search(r"noisy\s+1\.00\s+0\.90\s+−0\.10\s+McNemar p=0\.25\s+tolerated: not sig", text)
    assert re.search(r"triage\s+1\.00\s+0\.60\s+−0\.40\s+McNemar p=0\.0039\s+BLOCKS", text)
    assert re.search(r"tone\s+0\.80\s+1\.00\s+\+0\.20\s+McNemar p=1\s+no drop", text)


def test_an_info_groups_drop_is_shown_as_not_gated() -> None:
    baseline = json.loads(json_text(build(run_of("P" * 20, "tone"))))
    report = build(run_of("F" * 8 + "P" * 12, "tone"), baseline=baseline)
    text = "\n".join(terminal_lines(report, WIDE))
    assert re.search(r"tone\s+1\.00\s+0\.60\s+−0\.40\s+McNemar p=0\.0039\s+not gated", text)
    assert "llmeval gate: PROMOTE" in text


def test_a_group_with_no_evidence_reads_as_such_never_as_pass() -> None:
    records = run_of("EE", "jailbreaks", kind="safety", infrastructure=True)
    report = build_report(records, RUN, gate_settings(max_errors=5))
    text = "\n".join(terminal_lines(report, WIDE))
    assert re.search(r"jailbreaks .*NO EVIDENCE", text)
    assert "NO EVIDENCE" in markdown(report)
    assert "llmeval gate: BLOCK" in text


def test_renderers_take_every_figure_from_the_report() -> None:
    report = build(run_of("PPPF", threshold=0.5))
    report.groups[0].pass_rate = 0.123
    report.usage.calls = 777
    text = "\n".join(terminal_lines(report, WIDE))
    assert "0.12" in text
    assert "777 calls" in text
    assert "777 calls" in markdown(report)


def test_terminal_escapes_control_and_bidi_characters_from_model_output() -> None:
    records = run_of("E", error_type="LLMAPIError", infrastructure=True, message=HOSTILE)
    text = "\n".join(terminal_lines(build(records)))
    assert "\x1b" not in text
    assert "\u202e" not in text
    assert "\r" not in text
    assert "ignore this\\x1b[2J\\x1b[31m | \\u202eevil\\r\\nSECOND LINE" in text


def test_markdown_has_the_verdict_heading_and_reasons() -> None:
    text = markdown(blocked_report())
    assert text.startswith("## ❌ llmeval gate: BLOCK\n")
    assert "- group 'triage' pass rate 0.80 is below its threshold 0.90" in text
    promoted = markdown(build(run_of("PP")))
    assert promoted.startswith("## ✅ llmeval gate: PROMOTE\n")


def test_markdown_tables_survive_hostile_messages() -> None:
    text = markdown(blocked_report())
    failed = text.split("### Failed cases", 1)[1].split("###", 1)[0]
    rows = [line for line in failed.splitlines() if line.startswith("|")]
    assert len(rows) == 4  # header, rule, two failed cases: no row was split by the message
    unescaped_pipes = [len(re.findall(r"(?<!\\)\|", row)) for row in rows]
    assert len(set(unescaped_pipes)) == 1
    assert not re.search(r"(?<!\\)<img", text)
    assert "\\<img src=x onerror=alert(1)\\>" in text
    assert "\x1b" not in text


def test_markdown_groups_table_has_the_figures() -> None:
    text = markdown(blocked_report())
    row = next(line for line in text.splitlines() if line.startswith("| triage"))
    cells = [cell.strip() for cell in row.strip("|").split("|")]
    assert cells == [
        "triage",
        "metric",
        "10",
        "8",
        "2",
        "0",
        "0.80",
        "[0.49, 0.94]",
        "≥ 0.90",
        "FAIL",
    ]


def test_json_text_is_the_report_dict_and_valid_against_the_schema() -> None:
    report = blocked_report()
    data = json.loads(json_text(report))
    assert data == json.loads(json.dumps(report.to_dict()))
    jsonschema.validate(data, report_schema())
    assert data["cases"][8]["message"] == HOSTILE


def test_json_text_stays_valid_utf8_with_lone_surrogates() -> None:
    broken = "cut here \ud83d and \udc00 there"
    report = build(run_of("F", message=broken, error_type=None))
    text = json_text(report)
    text.encode("utf-8")  # raises if a lone surrogate slipped through
    assert json.loads(text)["cases"][0]["message"] == broken
    assert "\\ud83d" in text


def test_json_text_of_an_empty_report() -> None:
    data = json.loads(json_text(build([])))
    assert data["cases"] == []
    assert data["gate"]["verdict"] == "promote"
    jsonschema.validate(data, report_schema())


def test_json_text_puts_each_case_on_its_own_line_whatever_the_messages_hold() -> None:
    tricky = 'look: }, {"nodeid": "fake", "outcome": "passed"} and \\ done'
    report = build(run_of("FPF", message=tricky))
    text = json_text(report)
    case_lines = [line for line in text.splitlines() if line.startswith('    {"nodeid": ')]
    assert len(case_lines) == 3
    assert [case["message"] for case in json.loads(text)["cases"] if "message" in case] == [
        tricky
    ] * 3


def test_terminal_fits_80_columns_with_long_names_and_hostile_messages() -> None:
    group = "a_group_name_long_enough_that_no_table_of_every_column_fits_in_eighty"
    records = run_of("PPFF", group, threshold=0.9, message="x" * 250 + HOSTILE)
    for view in (TerminalView(80), TerminalView(80, verbosity=1), TerminalView(80, verbosity=2)):
        lines = terminal_lines(build(records), view)
        assert all(len(line) <= 80 for line in lines), [line for line in lines if len(line) > 80]
        assert any(line.startswith(f"{group}: cases 4,") for line in lines)  # one row a block


def test_terminal_narrow_table_below_100_columns_full_one_above() -> None:
    report = blocked_report()
    narrow = terminal_lines(report, TerminalView(99))
    assert any(line.startswith("group ") and "pass rate [95% CI]" in line for line in narrow)
    full = terminal_lines(report, TerminalView(140))
    header = next(line for line in full if line.startswith("group "))
    assert header.split()[:4] == ["group", "kind", "cases", "passed"]
    assert "baseline → now" not in header  # no baseline given: no empty columns for it


def test_terminal_lists_the_first_failed_cases_and_with_v_every_one() -> None:
    records = run_of("F" * 8, threshold=0.9)
    for index, case in enumerate(records):
        case["message"] = f"wrong answer {index}"
    report = build(records)
    default = "\n".join(terminal_lines(report))
    assert "8 failed cases:" in default
    assert "test_triage[case-0] (triage): wrong answer 0" in default
    assert "wrong answer 5" not in default
    assert "  ... and 3 more (-v lists them all)" in default
    verbose = "\n".join(terminal_lines(report, TerminalView(verbosity=1)))
    assert all(f"wrong answer {index}" in verbose for index in range(8))
    assert "more (-v lists them all)" not in verbose


def test_terminal_quiet_levels() -> None:
    report = blocked_report()
    quiet = terminal_lines(report, TerminalView(verbosity=-1))
    assert quiet[0].startswith("llmeval: model") and any(
        line.startswith("triage") for line in quiet
    )
    assert quiet[quiet.index("llmeval gate: BLOCK") + 1].startswith("  - group 'triage'")
    assert not any(line.startswith(("Usage:", "Strict JSON")) for line in quiet)
    assert terminal_lines(report, TerminalView(verbosity=-2)) == ["llmeval gate: BLOCK"]


def test_terminal_colours_the_verdict_line_only() -> None:
    def colour(text: str, name: str) -> str:
        return f"<{name}>{text}</{name}>"

    blocked = terminal_lines(blocked_report(), TerminalView(colour=colour))
    assert "<red>llmeval gate: BLOCK</red>" in blocked
    assert sum("<" in line and "</" in line for line in blocked) == 1
    promoted = terminal_lines(build(run_of("PP")), TerminalView(colour=colour, verbosity=-2))
    assert promoted == ["<green>llmeval gate: PROMOTE</green>"]


def test_terminal_plurals_and_the_cost_line() -> None:
    from pytest_llmeval.report.pricing import Price, PriceTable

    single = {**USAGE, "calls": 1, "retries": 1, "store_hits": 1, "store_misses": 1}
    single["by_model"] = {"mistral-small-2506": [1_000_000, 0], "mine": [10, 10]}
    table = PriceTable({"mistral-small": Price(0.1, 0.3)}, "2026-12-01")
    report = build([record(0, usage=single)], prices=table)
    lines = terminal_lines(report, TerminalView(width=200, verbosity=2))
    text = "\n".join(lines)
    assert (
        "Usage: 1 call, 40 tokens (30 prompt, 10 completion), 1 retry, store 1 hit / 1 miss" in text
    )
    assert (
        "Cost: est. $0.1000 at list prices of 2026-12-01; the 1 replayed call cost nothing now; "
        "no price for mine (add it to llm_prices)"
    ) in text
    assert "  mistral-small-2506: 1000000 prompt + 0 completion tokens, est. $0.1000" in text
    assert "Cost: est. $0.1000" in markdown(report)


def test_terminal_narrow_layout_lists_each_baseline_comparison_under_the_table() -> None:
    baseline = json.loads(json_text(build(run_of("PPPPPPPPPF") + run_of("PPPPPPPPFF", "tone"))))
    report = build(
        run_of("FFPPPPPPPP") + run_of("PPPPPPPPPP", "tone"),
        baseline=baseline,
        baseline_source="main.json",
    )
    lines = terminal_lines(report)
    at = lines.index("Against the baseline:")
    assert lines[at + 1 : at + 3] == [
        "  tone: 0.80 → 1.00, 0 cases worse, 2 better",
        "  triage: 0.90 → 0.80 (p=0.5), 2 cases worse, 1 better",
    ]
