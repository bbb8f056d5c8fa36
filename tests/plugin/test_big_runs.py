"""Big runs through pytest: shards merged into one verdict, and the Batch API filling the store."""

from __future__ import annotations

import json
from typing import Any

import pytest

from pytest_llmeval.cli import main as cli_main
from pytest_llmeval.simulator import Simulator
from tests.conftest import simulator_args

pytest_plugins = ["pytester"]

CASES = 24
# Every fourth case expects another answer than the simulator gives: a pass rate of 0.75.
TEST_FILE = """
import pytest
from pytest_llmeval import cases

@pytest.mark.llm_metric("tickets", threshold=0.7)
@pytest.mark.parametrize("case", cases("tickets.jsonl"))
def test_ticket(case, llm_reply, llm_json):
    assert llm_reply.text == case.expected

@pytest.mark.llm_metric("other", threshold=0.5)
def test_plain_eval(llm):
    assert llm.chat("ticket 999").text == "answer 999"

def test_ordinary():
    assert True
"""


def write_suite(pytester: pytest.Pytester, count: int = CASES) -> None:
    rows = [
        {"id": f"t{index}", "input": f"ticket {index}", "expected": f"answer {index}"}
        if index % 4
        else {"id": f"t{index}", "input": f"ticket {index}", "expected": "something else"}
        for index in range(count)
    ]
    pytester.makefile(".jsonl", tickets="\n".join(json.dumps(row) for row in rows))
    pytester.makepyfile(test_tickets=TEST_FILE)


def report_of(pytester: pytest.Pytester, name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((pytester.path / name).read_text(encoding="utf-8"))
    return data


def figures(report: dict[str, Any]) -> dict[str, Any]:
    """What must not depend on how the run was split: all but the run and the timings."""
    kept = {key: value for key, value in report.items() if key not in ("run", "cases", "usage")}
    usage = {key: value for key, value in report["usage"].items() if key != "latency_s"}
    cases = sorted(
        (
            {key: value for key, value in case.items() if key != "duration_s"}
            for case in report["cases"]
        ),
        key=lambda case: case["nodeid"],
    )
    return {**kept, "usage": usage, "cases": cases}


@pytest.mark.parametrize("workers", [[], ["-n", "2"]], ids=["serial", "xdist"])
def test_three_shards_merged_equal_the_unsharded_run(
    pytester: pytest.Pytester, answering: Simulator, workers: list[str]
) -> None:
    write_suite(pytester)
    args = [*simulator_args(answering), "--llm-ledger=none"]
    pytester.runpytest(*args, "-q")  # records the store
    replay = [*args, "--llm-record-mode=none", *workers]
    whole = pytester.runpytest(*replay, "--llm-report=whole.json")
    shards = [
        pytester.runpytest(*replay, f"--llm-shard={index}/3", f"--llm-report=shard-{index}.json")
        for index in (1, 2, 3)
    ]
    paths = [str(pytester.path / f"shard-{index}.json") for index in (1, 2, 3)]

    status = cli_main(["merge", *paths, "-o", str(pytester.path / "merged.json")])
    missing = cli_main(["merge", *paths[:2], "-o", str(pytester.path / "partial.json")])

    unsharded, merged = report_of(pytester, "whole.json"), report_of(pytester, "merged.json")
    assert whole.ret == 0 and status == 0
    assert figures(merged) == figures(unsharded)
    assert merged["gate"] == unsharded["gate"] and merged["gate"]["passed"]
    assert merged["run"]["eval_cases"] == unsharded["run"]["eval_cases"] == CASES + 1
    per_shard = [report_of(pytester, f"shard-{index}.json") for index in (1, 2, 3)]
    assert [report["run"]["shard"] for report in per_shard] == [
        {"index": index, "count": 3} for index in (1, 2, 3)
    ]
    assert sum(len(report["cases"]) for report in per_shard) == CASES + 1
    for report, outcome in zip(per_shard, shards, strict=True):
        ran = len(report["cases"])
        assert report["run"]["deselected"] == CASES + 1 - ran
        if not workers:  # xdist's controller does not show the workers' deselection
            outcome.stdout.fnmatch_lines([f"*{CASES + 1 - ran} deselected*"])
    assert missing == 1
    partial = report_of(pytester, "partial.json")
    assert not partial["gate"]["passed"]
    assert "incomplete run: shard 3/3 is missing" in partial["gate"]["reasons"]


def test_a_bad_shard_option_is_a_usage_error(pytester: pytest.Pytester) -> None:
    write_suite(pytester, 2)
    result = pytester.runpytest("--llm-shard=4/3")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--llm-shard='4/3'*K must be within 1..N*"])


def test_a_batch_fills_the_store_through_one_job_and_replays_offline(
    pytester: pytest.Pytester, answering: Simulator
) -> None:
    count = 200
    write_suite(pytester, count)
    args = [*simulator_args(answering), "--llm-ledger=none", "-k", "not plain_eval"]

    batched = pytester.runpytest(*args, "--llm-batch", "--llm-report=batch.json")

    assert batched.ret == 0
    assert answering.count("/v1/batch/jobs") == 1
    assert answering.count("/v1/chat/completions") == 0  # every reply came from the job
    batch = report_of(pytester, "batch.json")["run"]["batch"]
    assert batch["requests"] == count and batch["succeeded"] == count and batch["failed"] == 0
    assert isinstance(batch["job_id"], str) and batch["seconds"] >= 0
    batched.stdout.fnmatch_lines([f"*batch job * SUCCESS: {count}/{count} done, 0 failed*"])

    answering.stop()  # offline: nothing left to answer a miss
    replayed = pytester.runpytest(*args, "--llm-record-mode=none", "--llm-report=replay.json")
    assert replayed.ret == 0
    usage = report_of(pytester, "replay.json")["usage"]
    assert usage["store_hits"] == count and usage["store_misses"] == 0


def test_a_failed_batch_line_is_an_infrastructure_error_of_its_case_only(
    pytester: pytest.Pytester, simulator: Simulator
) -> None:
    simulator.add_rule({"match": "ticket 5$", "status": 500})
    simulator.add_rule({"match": "ticket", "reply": "answer"})
    write_suite(pytester, 8)
    args = [*simulator_args(simulator), "--llm-ledger=none", "-k", "not plain_eval"]

    result = pytester.runpytest(*args, "--llm-batch", "--llm-report=batch.json")

    report = report_of(pytester, "batch.json")
    errored = [case for case in report["cases"] if case["outcome"] == "error"]
    assert [case["nodeid"].rsplit("[", 1)[1] for case in errored] == ["t5]"]
    assert errored[0]["error_type"] == "LLMAPIError" and "batch" in errored[0]["message"]
    assert report["errors"]["infrastructure"] == 1
    assert report["run"]["batch"]["failed"] == 1 and report["run"]["batch"]["succeeded"] == 7
    assert simulator.count("/v1/chat/completions") == 0  # the failed case was not sent live
    assert result.ret == 1


def test_a_failed_batch_job_names_its_state(
    pytester: pytest.Pytester, answering: Simulator
) -> None:
    answering.set_batch_faults(status="FAILED")
    write_suite(pytester, 4)
    args = [*simulator_args(answering), "--llm-ledger=none", "-k", "not plain_eval"]

    result = pytester.runpytest(*args, "--llm-batch", "--llm-report=batch.json")

    report = report_of(pytester, "batch.json")
    assert report["run"]["batch"]["status"] == "FAILED"
    assert report["errors"]["infrastructure"] == 4
    assert result.ret == 1
    result.stdout.fnmatch_lines(["*ended FAILED*"])


def test_batch_under_xdist_sends_one_job(pytester: pytest.Pytester, answering: Simulator) -> None:
    write_suite(pytester, 12)
    args = [*simulator_args(answering), "--llm-ledger=none", "-k", "not plain_eval", "-n", "2"]

    result = pytester.runpytest(*args, "--llm-batch", "--llm-report=batch.json")

    assert result.ret == 0
    assert answering.count("/v1/batch/jobs") == 1
    assert answering.count("/v1/chat/completions") == 0
    assert report_of(pytester, "batch.json")["run"]["batch"]["succeeded"] == 12
