"""Shards and their merge, without pytest: the split, the checks, and the one verdict."""

from __future__ import annotations

import json
from typing import Any

import jsonschema
import pytest

from pytest_llmeval.cli import main
from pytest_llmeval.report.build import build_report
from pytest_llmeval.report.merge import (
    Shard,
    ShardReport,
    merge_problems,
    merge_reports,
    shard_index,
    suite_digest,
)
from pytest_llmeval.report.model import Report, RunInfo, report_schema
from pytest_llmeval.report.pricing import shipped_table
from pytest_llmeval.report.render import json_text
from pytest_llmeval.session.options import OptionError, shard
from tests.factories import case_record, gate_settings

MODEL = "mistral-small-2506"


def records() -> list[Any]:
    """Forty cases over three groups, with failures, errors, format checks and safety flags."""
    made = []
    for index in range(40):
        group = ("triage", "summary", "safety")[index % 3]
        outcome = "failed" if index % 7 == 0 else "error" if index == 11 else "passed"
        fields: dict[str, Any] = {
            "kind": "safety" if group == "safety" else "metric",
            "threshold": 0.8 if group == "triage" else None,
            "max_unsafe": 1 if group == "safety" else None,
            "format_checks": ["valid"] if index % 5 else ["valid", "trailing_text"],
            "category": "valid" if index % 5 else "trailing_text",
            "scores": {"chars": float(index)},
            "tags": ["billing"] if index % 2 else ["bug"],
            "input_chars": 100 * index,
            "shard_order": index,
        }
        if outcome == "error":
            fields.update(error_type="LLMAPIError", infrastructure=True, message="HTTP 503")
        if outcome == "failed":
            fields["message"] = "assert 'bug' == 'billing'"
        if group == "safety" and outcome == "failed":
            fields["safety"] = {"flagged": True, "categories": ["pii"]}
        made.append(case_record(index, group, outcome, **fields))
    return made


def run_info(**fields: Any) -> RunInfo:
    return RunInfo(model=MODEL, started="2026-12-07T16:00:00Z", **fields)


def shard_report(shard: Shard, cases: list[Any]) -> ShardReport:
    mine = [record for record in cases if shard.holds(record["nodeid"])]
    run = run_info(eval_cases=len(mine), deselected=len(cases) - len(mine))
    run.shard = shard.to_dict()
    run.suite = {
        "name": "tests",
        "eval_cases": len(cases),
        "digest": suite_digest(record["nodeid"] for record in cases),
    }
    report = build_report(mine, run, gate_settings(), keep_records=True)
    return ShardReport(f"shard-{shard.index}.json", json.loads(json_text(report)))


def comparable(report: Report) -> dict[str, Any]:
    data = json.loads(json_text(report))
    data.pop("run")
    return data


def test_the_shard_option_takes_k_of_n_and_refuses_anything_else() -> None:
    assert shard("2/3") == (2, 3)
    assert str(Shard(*shard(" 1/1 "))) == "1/1"
    for bad in ("0/3", "4/3", "3", "a/b", "1/0", "-1/2"):
        with pytest.raises(OptionError, match="K"):
            shard(bad)


def test_a_case_lands_in_the_same_shard_whatever_the_other_cases() -> None:
    ids = [f"t.py::test[case-{index}]" for index in range(300)]
    alone = {case: shard_index(case, 3) for case in ids}
    assert {shard_index(case, 3) for case in reversed(ids)} == {1, 2, 3}
    assert all(shard_index(case, 3) == alone[case] for case in reversed(ids[::7]))
    counts = [sum(1 for shard in alone.values() if shard == index) for index in (1, 2, 3)]
    assert min(counts) > 60  # an even enough split


def test_three_shards_merged_equal_the_unsharded_report() -> None:
    cases = records()
    whole = build_report(
        cases, run_info(eval_cases=len(cases)), gate_settings(), prices=shipped_table()
    )
    shards = [shard_report(Shard(index, 3), cases) for index in (3, 1, 2)]

    merged = merge_reports(shards)

    assert merged.gate.to_dict() == whole.gate.to_dict()
    assert comparable(merged) == comparable(whole)
    assert merged.run.eval_cases == len(cases) and merged.run.deselected == 0
    assert merged.run.to_dict(interrupted=False)["merged"]["problems"] == []
    for report in [*(part.data for part in shards), json.loads(json_text(merged))]:
        jsonschema.validate(report, report_schema())


def test_the_merged_baseline_comparison_pairs_every_case() -> None:
    cases = records()
    before = json.loads(json_text(build_report(cases, run_info(), gate_settings())))
    worse = [
        {**record, "outcome": "failed"} if record["group"] == "triage" else record
        for record in cases
    ]
    whole = build_report(
        worse, run_info(), gate_settings(), baseline=before, prices=shipped_table()
    )
    shards = [shard_report(Shard(index, 3), worse) for index in (1, 2, 3)]

    merged = merge_reports(shards, baseline=before)

    assert comparable(merged) == comparable(whole)
    triage = next(group for group in merged.groups if group.name == "triage")
    assert triage.baseline is not None and triage.baseline.paired == 14
    assert not merged.gate.passed


def test_a_missing_shard_blocks_as_an_incomplete_run() -> None:
    cases = records()
    shards = [shard_report(Shard(index, 3), cases) for index in (1, 3)]

    merged = merge_reports(shards)

    assert not merged.gate.passed
    assert any("shard 2/3 is missing" in reason for reason in merged.gate.reasons)
    assert all(reason.startswith("incomplete run") for reason in merged.gate.reasons[:1])


def test_a_duplicated_or_foreign_shard_is_named() -> None:
    cases = records()
    one, two, three = (shard_report(Shard(index, 3), cases) for index in (1, 2, 3))
    other = shard_report(Shard(1, 2), cases)
    other_suite = shard_report(Shard(2, 3), cases[:20])

    assert merge_problems([one, two, three]) == []
    assert any("given twice" in problem for problem in merge_problems([one, one, two, three]))
    assert any("2 shards, not 3" in problem for problem in merge_problems([one, two, three, other]))
    assert any("another eval cases" in p for p in merge_problems([one, other_suite, three]))
    plain = ShardReport("plain.json", {**one.data, "run": {"model": MODEL}})
    assert any("not the report of a sharded run" in p for p in merge_problems([plain, two, three]))


def test_merge_command_writes_the_report_and_exits_by_the_gate(
    tmp_path: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    cases = records()
    paths = []
    for index in (1, 2, 3):
        path = tmp_path / f"shard-{index}.json"
        path.write_text(json.dumps(shard_report(Shard(index, 3), cases).data), encoding="utf-8")
        paths.append(str(path))
    out, md = tmp_path / "merged.json", tmp_path / "merged.md"

    status = main(["merge", *paths, "-o", str(out), "--llm-report-md", str(md)])
    missing = main(["merge", *paths[:2], "-o", str(tmp_path / "partial.json")])

    merged = json.loads(out.read_text(encoding="utf-8"))
    assert status == (0 if merged["gate"]["passed"] else 1)
    assert len(merged["cases"]) == len(cases)
    assert all("record" not in case for case in merged["cases"])
    assert "llmeval" in md.read_text(encoding="utf-8").lower()
    assert missing == 1
    assert "shard 3/3 is missing" in capsys.readouterr().out
