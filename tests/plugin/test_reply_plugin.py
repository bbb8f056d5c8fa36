"""Datasets as cases and `llm_reply`: ids, concurrency, prompts, xdist, collection errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pytest_llmeval.simulator import Simulator
from tests.conftest import simulator_args


def write_dataset(path: Path, rows: int) -> None:
    lines = []
    for n in range(rows):
        lines.append(
            json.dumps(
                {
                    "id": f"t{n:03d}",
                    "messages": [
                        {"role": "user", "content": f"ticket {n}"},
                        {"role": "assistant", "content": f"answer {n}"},
                    ],
                }
            )
        )
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


DATASET_SUITE = """
import pytest
from pytest_llmeval import cases

@pytest.mark.llm_metric("answers", threshold=0.9)
@pytest.mark.llm_prompt(system="Answer tickets.", temperature=0.0, max_tokens=50)
@pytest.mark.parametrize("case", cases("tickets.jsonl"))
def test_answer(case, llm_reply):
    assert llm_reply.text == case.expected
"""


def test_cases_become_tests_with_the_rows_ids(
    pytester: pytest.Pytester, answering: Simulator
) -> None:
    write_dataset(pytester.path / "tickets.jsonl", 3)
    pytester.makepyfile(DATASET_SUITE)
    result = pytester.runpytest(*simulator_args(answering), "-v")
    result.stdout.fnmatch_lines(
        ["*test_answer[[]t000[]] PASSED*", "*test_answer[[]t002[]] PASSED*"]
    )
    assert result.ret == 0


def test_replies_are_fetched_concurrently_and_each_request_once(
    pytester: pytest.Pytester, answering: Simulator
) -> None:
    answering.set_faults(latency_s=0.2)
    write_dataset(pytester.path / "tickets.jsonl", 24)
    pytester.makepyfile(DATASET_SUITE)
    result = pytester.runpytest(*simulator_args(answering), "--llm-concurrency=8")
    result.assert_outcomes(passed=24)
    assert answering.count("/v1/chat/completions") == 24
    assert answering.max_in_flight > 1
    body = next(request for request in answering.requests if request.endpoint == "chat").body
    assert body["messages"][0] == {"role": "system", "content": "Answer tickets."}
    assert body["temperature"] == 0.0 and body["max_tokens"] == 50
    assert all(message["role"] != "assistant" for message in body["messages"])


def test_under_xdist_no_request_is_sent_twice(
    pytester: pytest.Pytester, answering: Simulator
) -> None:
    write_dataset(pytester.path / "tickets.jsonl", 20)
    pytester.makepyfile(DATASET_SUITE)
    result = pytester.runpytest(*simulator_args(answering), "-n", "2")
    result.assert_outcomes(passed=20)
    bodies = [
        json.dumps(r.body, sort_keys=True) for r in answering.requests if r.endpoint == "chat"
    ]
    assert len(bodies) == len(set(bodies)) == 20


def test_a_malformed_dataset_row_is_a_collection_error_naming_file_and_line(
    pytester: pytest.Pytester, run_args: list[str]
) -> None:
    write_dataset(pytester.path / "tickets.jsonl", 2)
    with (pytester.path / "tickets.jsonl").open("a", encoding="utf-8") as stream:
        stream.write('{"messages": [{"role": "bot", "content": "hi"}]}\n')
    pytester.makepyfile(DATASET_SUITE)
    result = pytester.runpytest(*run_args)
    assert result.ret == pytest.ExitCode.INTERRUPTED
    result.stdout.fnmatch_lines(["*ERROR collecting*", "*DatasetError: *tickets.jsonl:3:*bot*"])
    assert "Traceback" not in result.stdout.str()


def test_llm_reply_without_a_case_parameter_is_a_collection_error(
    pytester: pytest.Pytester, run_args: list[str]
) -> None:
    pytester.makepyfile(
        """
        def test_reply(llm_reply):
            pass
        """
    )
    result = pytester.runpytest(*run_args)
    result.stdout.fnmatch_lines(["*llm_reply needs a `case` parameter made by cases()*"])
    assert result.ret == pytest.ExitCode.INTERRUPTED


def test_input_rows_and_llm_chat_in_the_same_test(
    pytester: pytest.Pytester, answering: Simulator
) -> None:
    rows = [{"input": "ticket 7", "expected": "answer 7", "team": "billing"}]
    (pytester.path / "rows.jsonl").write_text(
        "\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8"
    )
    pytester.makepyfile(
        """
        import pytest
        from pytest_llmeval import cases

        @pytest.mark.parametrize("case", cases("rows.jsonl"))
        def test_row(case, llm_reply, llm):
            assert case.meta == {"team": "billing"}
            assert llm_reply.text == case.expected
            assert llm.chat(case.messages).text == case.expected
        """
    )
    result = pytester.runpytest(*simulator_args(answering), "--llm-report=report.json")
    result.assert_outcomes(passed=1)
    report = json.loads((pytester.path / "report.json").read_text(encoding="utf-8"))
    assert report["usage"]["calls"] == 2
    assert report["groups"][0]["name"] == "test_row"
