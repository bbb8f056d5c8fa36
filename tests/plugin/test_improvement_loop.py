"""The improvement loop through pytest: model identity, training data, ledger, hard cases,
failure clusters."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from pytest_llmeval.cli import main as check_data
from pytest_llmeval.report.model import report_schema
from pytest_llmeval.simulator import Simulator
from tests.conftest import simulator_args

SYSTEM = "You triage support tickets.\nAnswer with JSON only.\nUse priority 1 to 5."
DRIFTED = "You triage support tickets.\nAnswer with JSON.\nUse priority 1 to 5."

# Ten tickets: the long ones (tagged) come back cut off, so they fail the same way.
TICKETS = [
    {
        "id": f"t{n}",
        "messages": [
            {"role": "user", "content": f"ticket {n}: " + ("long " * 300 if n < 4 else "short")},
            {"role": "assistant", "content": '{"priority": 1}'},
        ],
        "tags": ["long"] if n < 4 else ["short"],
    }
    for n in range(10)
]

SUITE = """
import pytest
from pytest_llmeval import cases

@pytest.mark.llm_metric("triage", threshold={threshold})
@pytest.mark.llm_prompt(system={system!r})
@pytest.mark.parametrize("case", cases("tickets.jsonl"))
def test_triage(case, llm_reply, llm_json):
    assert llm_json(llm_reply) == case.expected_json
"""


def cut_long_tickets() -> Simulator:
    return Simulator(
        [
            {"match": "long", "reply": '{"priority": 1', "finish_reason": "length"},
            {"match": "ticket", "reply": '{"priority": 1}'},
        ]
    )


def write_suite(pytester: pytest.Pytester, *, threshold: float = 0.5, system: str = SYSTEM) -> None:
    lines = "".join(json.dumps(row) + "\n" for row in TICKETS)
    (pytester.path / "tickets.jsonl").write_text(lines, encoding="utf-8")
    pytester.makepyfile(test_triage=SUITE.format(threshold=threshold, system=system))


def load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


@pytest.mark.parametrize("workers", [[], ["-n", "2"]])
def test_a_latest_alias_is_resolved_and_a_deprecation_warned_then_replayed_offline(
    pytester: pytest.Pytester, workers: list[str]
) -> None:
    planted = {
        "mistral-small-latest": {
            "name": "mistral-small-2409",
            "deprecation": "2026-06-30T00:00:00Z",
            "deprecation_replacement_model": "mistral-small-2506",
        }
    }
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.llm_metric("greet")
        def test_greet(llm):
            assert llm.chat("hello").text
        """
    )
    with Simulator({"models": planted}) as sim:
        args = [*simulator_args(sim), "--llm-model=mistral-small-latest", *workers]
        live = pytester.runpytest(*args, "--llm-report=live.json")
        live.assert_outcomes(passed=1)
        assert sim.count("/v1/models/mistral-small-latest") == 1
    live.stdout.fnmatch_lines(
        [
            "*warning: model under test mistral-small-latest is a moving alias (today it is "
            "mistral-small-2409)*--llm-model=mistral-small-2409*",
            "*warning: model under test mistral-small-latest is deprecated from 2026-06-30; "
            "its replacement is mistral-small-2506",
        ]
    )
    report = load(pytester.path / "live.json")
    jsonschema.validate(report, report_schema())
    assert report["run"]["models"] == {
        "model": {
            "requested": "mistral-small-latest",
            "resolved": "mistral-small-2409",
            "base": None,
            "deprecation": "2026-06-30",
            "replacement": "mistral-small-2506",
        }
    }
    assert len(report["run"]["warnings"]) == 2

    offline = [arg for arg in args if not arg.startswith("--llm-server-url")]
    replayed = pytester.runpytest(
        *offline,
        "--llm-server-url=http://127.0.0.1:9",
        "--llm-record-mode=none",
        "--llm-report=replay.json",
    )
    replayed.assert_outcomes(passed=1)
    assert load(pytester.path / "replay.json")["run"]["models"] == report["run"]["models"]


def test_a_fine_tune_names_its_base_and_an_unread_card_is_a_warning(
    pytester: pytest.Pytester, simulator: Simulator, run_args: list[str]
) -> None:
    pytester.makepyfile(
        """
        def test_greet(llm, llm_judge):
            assert llm.chat("hello").text
            assert llm_judge.score("hello") >= 1
        """
    )
    args = [*run_args, "--llm-judge-model=mistral-large-2411", "--llm-report=report.json"]
    assert pytester.runpytest(*args).ret == 0
    # A store recorded before cards were: the judge's is gone, and a replay cannot read it.
    for card in (pytester.path / "store" / "v1-models-mistral-large-2411").rglob("*.json"):
        card.unlink()
    result = pytester.runpytest(*args, "--llm-record-mode=none")
    result.assert_outcomes(passed=1)
    models = load(pytester.path / "report.json")["run"]["models"]
    assert models["model"]["base"] == "open-mistral-7b"
    assert models["judge"]["resolved"] is None
    result.stdout.fnmatch_lines(
        ["*warning: judge mistral-large-2411: its model card could not be read*no recorded*"]
    )


@pytest.mark.parametrize("workers", [[], ["-n", "2"]])
def test_train_data_blocks_on_a_contaminated_case_and_reports_the_drifted_prompt(
    pytester: pytest.Pytester, workers: list[str]
) -> None:
    write_suite(pytester, threshold=0.0, system=DRIFTED)
    training = [
        {
            "messages": [
                {"role": "system", "content": SYSTEM},
                {"role": "user", "content": "TICKET 7:  short"},  # t7, normalized
                {"role": "assistant", "content": '{"priority": 2}'},
            ]
        },
        {
            "messages": [
                {"role": "user", "content": "an unrelated question"},
                {"role": "assistant", "content": "an answer"},
            ]
        },
    ]
    (pytester.path / "train.jsonl").write_text(
        "".join(json.dumps(row) + "\n" for row in training), encoding="utf-8"
    )
    with cut_long_tickets() as sim:
        args = [
            *simulator_args(sim),
            *workers,
            "--llm-train-data=train.jsonl",
            "--llm-format-threshold=0.5",
        ]
        blocked = pytester.runpytest(*args, "--llm-report=report.json")
        relaxed = pytester.runpytest(*args, "--llm-max-contaminated=1")

    assert blocked.ret == 1
    blocked.stdout.fnmatch_lines(
        [
            "*Training data train.jsonl: 1 eval case also in it",
            "*contaminated: test_triage.py::test_triage?t7?",
            "*system prompt drift: You triage support tickets.",
            "*-Answer with JSON only.",
            "*+Answer with JSON.",
            "llmeval gate: BLOCK",
            "*1 eval case also in the training data train.jsonl, more than "
            "--llm-max-contaminated 0 (first: test_triage.py::test_triage?t7?)*",
        ]
    )
    report = load(pytester.path / "report.json")
    jsonschema.validate(report, report_schema())
    assert report["data"] == {
        "train_data": "train.jsonl",
        "contaminated": ["test_triage.py::test_triage[t7]"],
        "prompt_drift": [
            {
                "eval": DRIFTED,
                "train": SYSTEM,
                "diff": "-Answer with JSON only.\n+Answer with JSON.",
            }
        ],
    }
    assert relaxed.ret == 0


def test_a_missing_train_data_file_is_a_usage_error(
    pytester: pytest.Pytester, run_args: list[str]
) -> None:
    write_suite(pytester)
    result = pytester.runpytest(*run_args, "--llm-train-data=nowhere.jsonl")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--llm-train-data: *nowhere.jsonl does not exist*"])


def test_failed_cases_are_exported_as_rows_check_data_accepts_and_clustered(
    pytester: pytest.Pytester,
) -> None:
    write_suite(pytester)
    with cut_long_tickets() as sim:
        result = pytester.runpytest(
            *simulator_args(sim),
            "-n",
            "2",
            "--llm-export-failures=hard.jsonl",
            "--llm-report=report.json",
            "--llm-report-md=report.md",
        )
    result.assert_outcomes(passed=6, failed=4)
    result.stdout.fnmatch_lines(
        [
            "*failures sharing*cases*first case*",
            "*category=unterminated_json, finish_reason=length, input_length=1k-4k, tag=long"
            "*4*test_triage.py::test_triage?t0?*",
            "llmeval: 4 failed cases written to hard.jsonl as fine-tuning rows",
        ]
    )
    assert check_data(["check-data", str(pytester.path / "hard.jsonl")]) == 0
    rows = [json.loads(line) for line in (pytester.path / "hard.jsonl").read_text().splitlines()]
    assert sorted(row["llmeval"]["nodeid"] for row in rows) == [
        f"test_triage.py::test_triage[t{n}]" for n in range(4)
    ]
    first = rows[0]
    assert first["messages"][0] == {"role": "system", "content": SYSTEM}
    assert first["messages"][-1] == {"role": "assistant", "content": '{"priority": 1}'}
    assert first["llmeval"]["output"] == '{"priority": 1'
    assert first["llmeval"]["category"] == "unterminated_json"

    report = load(pytester.path / "report.json")
    jsonschema.validate(report, report_schema())
    top = report["clusters"][0]
    assert top["cases"] == 4
    assert top["by"]["finish_reason"] == "length"
    assert top["by"]["tag"] == "long"
    case = next(c for c in report["cases"] if c["nodeid"].endswith("[t0]"))
    assert case["request"][1]["role"] == "user"
    assert case["output"] == {"text": '{"priority": 1', "length": 14}
    assert "### Failure clusters" in (pytester.path / "report.md").read_text(encoding="utf-8")


def test_a_case_carries_its_output_bounded_with_its_full_length(
    pytester: pytest.Pytester, simulator: Simulator, run_args: list[str]
) -> None:
    simulator.add_rule({"match": "essay", "reply": "word " * 2000})
    pytester.makepyfile(
        """
        def test_essay(llm, llm_score):
            llm_score("n", 1)
            assert llm.chat("write an essay " + "please " * 1000).text
        """
    )
    pytester.runpytest(*run_args, "--llm-report=report.json").assert_outcomes(passed=1)
    case = load(pytester.path / "report.json")["cases"][0]
    assert case["output"]["length"] == 10_000
    assert len(case["output"]["text"]) == 4096
    assert len(case["request"][0]["content"]) == 4096


def _spawn(pytester: pytest.Pytester, *args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "pytest", *args],
        cwd=pytester.path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )


def test_two_runs_at_once_append_whole_ledger_lines_and_last_passed_picks_the_passing_one(
    pytester: pytest.Pytester,
) -> None:
    write_suite(pytester, threshold=0.5)
    pytester.makeini("[pytest]\naddopts = -p no:cacheprovider\n")
    with cut_long_tickets() as sim:
        args = simulator_args(sim)
        # Two runs at once, one of them with two workers: a passing one and a blocking one.
        passing = _spawn(
            pytester, *args, "-n", "2", "--llm-report=passing.json", "--llm-format-threshold=0.5"
        )
        blocking = _spawn(pytester, *args, "--llm-report=blocking.json")
        for process in (passing, blocking):
            process.communicate(timeout=300)
        assert (passing.returncode, blocking.returncode) == (0, 1)

        ledger = pytester.path / ".llmeval" / "ledger.jsonl"
        entries = [json.loads(line) for line in ledger.read_text(encoding="utf-8").splitlines()]
        assert sorted(entry["verdict"] for entry in entries) == ["block", "promote"]
        entry = next(entry for entry in entries if entry["verdict"] == "promote")
        assert entry["report"] == "passing.json"
        assert entry["models"]["model"]["base"] == "open-mistral-7b"
        tickets = (pytester.path / "tickets.jsonl").read_bytes()
        assert entry["datasets"] == {"tickets.jsonl": hashlib.sha256(tickets).hexdigest()}
        assert entry["groups"] == {"triage": 0.6}
        assert entry["format_validity"] == 0.6
        assert entry["settings"]["server"] == sim.url
        assert entry["git"] is None  # not a repository

        compared = pytester.runpytest(
            *args,
            "--llm-baseline=ledger:last-passed",
            "--llm-report=compared.json",
            "--llm-format-threshold=0.5",
        )
    assert compared.ret == 0
    assert load(pytester.path / "compared.json")["baseline"]["source"] == "passing.json"
    assert len(ledger.read_text(encoding="utf-8").splitlines()) == 3


def test_last_passed_without_a_passing_run_is_a_usage_error(
    pytester: pytest.Pytester, run_args: list[str]
) -> None:
    write_suite(pytester)
    result = pytester.runpytest(*run_args, "--llm-baseline=ledger:last-passed")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["*--llm-baseline: ledger:last-passed: the ledger .llmeval/ledger.jsonl does not exist*"]
    )
    off = pytester.runpytest(*run_args, "--llm-baseline=ledger:last-passed", "--llm-ledger=none")
    off.stderr.fnmatch_lines(["*which --llm-ledger=none turns off*"])


def test_ledger_none_writes_no_ledger(pytester: pytest.Pytester, simulator: Simulator) -> None:
    write_suite(pytester)
    pytester.runpytest(*simulator_args(simulator), "--llm-ledger=none")
    assert not (pytester.path / ".llmeval" / "ledger.jsonl").exists()
