"""The ledger: lines appended whole by concurrent writers, read back, the last passing run."""

from __future__ import annotations

import hashlib
import json
import multiprocessing
from pathlib import Path

import pytest

from pytest_llmeval.improvement.ledger import (
    LedgerError,
    append_line,
    file_sha256,
    git_state,
    last_passed,
    ledger_entry,
    read_entries,
    suite_of,
)


def _append_many(path: str, writer: int, count: int) -> None:
    for index in range(count):
        append_line(Path(path), {"writer": writer, "index": index, "pad": "x" * 5000})


def test_concurrent_appends_from_processes_never_interleave(tmp_path: Path) -> None:
    ledger = tmp_path / "deep" / "ledger.jsonl"
    context = multiprocessing.get_context("spawn")
    writers = [context.Process(target=_append_many, args=(str(ledger), n, 50)) for n in range(3)]
    for writer in writers:
        writer.start()
    for writer in writers:
        writer.join(timeout=120)
        assert writer.exitcode == 0

    lines = ledger.read_text(encoding="utf-8").splitlines()
    entries = [json.loads(line) for line in lines]  # every line whole
    assert len(entries) == 150
    for n in range(3):
        assert [e["index"] for e in entries if e["writer"] == n] == list(range(50))


def _entry(suite: str, verdict: str, report: str | None) -> dict[str, object]:
    return {"suite": suite, "verdict": verdict, "report": report}


def test_last_passed_is_the_newest_passing_run_of_the_suite_whose_report_exists(
    tmp_path: Path,
) -> None:
    ledger = tmp_path / "ledger.jsonl"
    (tmp_path / "old.json").write_text("{}")
    (tmp_path / "new.json").write_text("{}")
    append_line(ledger, _entry("tests/eval", "promote", "old.json"))
    append_line(ledger, _entry("tests/eval", "promote", "new.json"))
    append_line(ledger, _entry("tests/eval", "promote", "deleted.json"))
    append_line(ledger, _entry("tests/eval", "block", "new.json"))
    append_line(ledger, _entry("tests/other", "promote", "old.json"))
    with ledger.open("a") as stream:
        stream.write('{"cut short\n')

    assert last_passed(ledger, "tests/eval", tmp_path) == tmp_path / "new.json"
    assert len(list(read_entries(ledger))) == 5


@pytest.mark.parametrize(
    ("lines", "expected"),
    [
        ([], "does not exist yet"),
        ([_entry("tests/other", "promote", "r.json")], "has no run of this suite (tests/eval)"),
        ([_entry("tests/eval", "block", "r.json")] * 2, "none of the 2 runs of this suite"),
        ([_entry("tests/eval", "promote", "gone.json")], "has its report file any more"),
    ],
)
def test_no_passing_run_is_a_clear_error(
    tmp_path: Path, lines: list[dict[str, object]], expected: str
) -> None:
    ledger = tmp_path / "ledger.jsonl"
    (tmp_path / "r.json").write_text("{}")
    for line in lines:
        append_line(ledger, line)

    with pytest.raises(LedgerError) as error:
        last_passed(ledger, "tests/eval", tmp_path)

    assert expected in str(error.value)
    assert "--llm-report=PATH" in str(error.value)


def test_an_entry_names_models_datasets_groups_validity_and_verdict(tmp_path: Path) -> None:
    data = tmp_path / "tickets.jsonl"
    data.write_bytes(b'{"input": "a"}\n')
    report = {
        "run": {"started": "2026-12-01T10:00:00Z", "models": {"model": {"requested": "m"}}},
        "gate": {"passed": True, "verdict": "promote", "reasons": []},
        "groups": [{"name": "triage", "pass_rate": 0.9}],
        "format": {"validity": 1.0},
        "usage": {"total_tokens": 1200, "cost": {"estimated_usd": 0.0042}},
    }

    entry = ledger_entry(
        report,
        suite="tests",
        git={"commit": "abc", "dirty": False},
        datasets={"tickets.jsonl": file_sha256(data)},
        settings={"record_mode": "none"},
        report_path="report.json",
    )

    assert entry["time"] == "2026-12-01T10:00:00Z"
    assert entry["models"] == {"model": {"requested": "m"}}
    assert entry["datasets"]["tickets.jsonl"] == hashlib.sha256(b'{"input": "a"}\n').hexdigest()
    assert entry["groups"] == {"triage": 0.9}
    assert (entry["format_validity"], entry["verdict"]) == (1.0, "promote")
    assert (entry["tokens"], entry["estimated_usd"]) == (1200, 0.0042)
    assert len(entry["run_id"]) == 32
    assert file_sha256(tmp_path / "missing") is None


def test_suite_is_the_test_paths_relative_to_the_root(tmp_path: Path) -> None:
    (tmp_path / "tests").mkdir()
    assert suite_of([str(tmp_path / "tests"), str(tmp_path / "a.py") + "::t"], tmp_path) == (
        "a.py::t tests"
    )
    assert suite_of([str(tmp_path)], tmp_path) == "."


def test_git_state_outside_a_repository_is_none(tmp_path: Path) -> None:
    assert git_state(tmp_path) is None


def test_last_passed_never_picks_a_subset_run(tmp_path: Path) -> None:
    ledger = tmp_path / "ledger.jsonl"
    for name in ("full.json", "subset.json"):
        (tmp_path / name).write_text("{}")
    append_line(ledger, _entry("tests/eval", "promote", "full.json"))  # an old line: complete
    append_line(ledger, {**_entry("tests/eval", "promote", "subset.json"), "complete": False})
    assert last_passed(ledger, "tests/eval", tmp_path) == tmp_path / "full.json"

    only_subsets = tmp_path / "subsets.jsonl"
    append_line(only_subsets, {**_entry("tests/eval", "promote", "subset.json"), "complete": False})
    with pytest.raises(LedgerError) as error:
        last_passed(only_subsets, "tests/eval", tmp_path)
    assert "the 1 passing run of this suite" in str(error.value)
    assert "was a subset run" in str(error.value)


def test_the_ledger_line_says_whether_the_run_was_complete() -> None:
    def entry(run: dict[str, object]) -> dict[str, object]:
        report = {"run": run, "gate": {"verdict": "promote"}, "groups": []}
        return ledger_entry(report, suite=".", git=None, datasets={}, settings={}, report_path=None)

    assert entry({"complete": False})["complete"] is False
    assert entry({"complete": True})["complete"] is True
    assert entry({})["complete"] is True  # a report from before `complete` existed
