"""`llmeval diff BASE.json HEAD.json`: flips, group deltas, 80 columns, exit status."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from pytest_llmeval.cli import main
from pytest_llmeval.report.build import build_report
from pytest_llmeval.report.diff import compare_reports, diff_lines
from pytest_llmeval.report.model import RunInfo
from tests.factories import case_record, gate_settings


def report(
    outcomes: dict[int, str], *, threshold: float | None = 0.8, **run: Any
) -> dict[str, Any]:
    records = [
        case_record(
            index,
            "intent_routing_with_a_rather_long_group_name" if index % 2 else "summaries",
            outcome=outcome,
            threshold=threshold,
            message="expected 'billing', got 'login' <b>\x1b[31m" if outcome == "failed" else None,
            category="enum_violation" if outcome == "failed" else "valid",
        )
        for index, outcome in outcomes.items()
    ]
    data: dict[str, Any] = json.loads(
        json.dumps(build_report(records, RunInfo(model="m", **run), gate_settings()).to_dict())
    )
    return data


def write(path: Path, data: object) -> str:
    path.write_text(json.dumps(data), encoding="utf-8")
    return str(path)


def test_flips_and_group_deltas() -> None:
    base = report({index: "passed" for index in range(10)} | {9: "failed"})
    head = report({index: "failed" if index in (1, 3, 4) else "passed" for index in range(11)})

    diff = compare_reports(base, head, base_name="main.json", head_name="pr.json")

    assert [flip.nodeid.rsplit("[", 1)[1] for flip in diff.worse] == [
        "case-1]",
        "case-3]",
        "case-4]",
    ]
    assert [flip.nodeid.rsplit("[", 1)[1] for flip in diff.better] == ["case-9]"]
    assert (diff.paired, diff.added, diff.removed) == (10, 1, 0)
    by_name = {change.name: change for change in diff.groups}
    assert by_name["summaries"].before == 1.0
    assert by_name["summaries"].delta == pytest.approx(-1 / 6)
    assert diff.head_passed is False


def test_the_terminal_lines_fit_80_columns_and_name_every_flip() -> None:
    base = report({index: "passed" for index in range(12)})
    head = report({index: "failed" if index < 7 else "passed" for index in range(12)})

    lines = diff_lines(compare_reports(base, head, base_name="a.json", head_name="b.json"))

    assert all(len(line) <= 80 for line in lines)
    text = "\n".join(lines)
    assert "7 cases worse, 0 better, 0 now erroring; 12 cases in both" in text
    assert "Worse (passed → failed): 7" in text
    for index in range(7):
        assert (
            f"test_{'intent_routing_with_a_rather_long_group_name' if index % 2 else 'summaries'}"
            in text
        )
    assert "\x1b" not in text and "\\x1b[31m" in text
    assert "llmeval gate of b.json: BLOCK" in text


def test_exit_status_is_heads_gate(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    passing = report({index: "passed" for index in range(4)})
    failing = report({0: "failed", 1: "failed", 2: "passed", 3: "passed"})
    base, good, bad = (
        write(tmp_path / name, data)
        for name, data in (("base.json", passing), ("good.json", passing), ("bad.json", failing))
    )

    assert main(["diff", base, bad]) == 1
    out = capsys.readouterr().out
    assert "2 cases worse" in out and "BLOCK" in out
    assert main(["diff", bad, good]) == 0
    assert "PROMOTE" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("content", "says"),
    [
        (None, "does not exist"),
        ("{not json", "is not JSON"),
        ('{"hello": 1}', "no schema_version (is it a pytest-llmeval report?)"),
        ("[1, 2]", "expected a JSON object"),
    ],
)
def test_bad_input_is_one_line_naming_the_file_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str | None, says: str
) -> None:
    good = write(tmp_path / "good.json", report({0: "passed"}))
    bad = tmp_path / "head.json"
    if content is not None:
        bad.write_text(content, encoding="utf-8")

    assert main(["diff", good, str(bad)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(f"llmeval diff: report {bad} ")
    assert says in lines[0]
