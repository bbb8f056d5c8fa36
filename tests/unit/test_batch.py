"""The batch runner against the simulator's files and batch endpoints, through the real SDK."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from pytest_llmeval.calls.batch import (
    BatchInterrupted,
    BatchRequest,
    BatchRunner,
    distinct,
    input_file,
    read_output,
)
from pytest_llmeval.calls.endpoint import Endpoint
from pytest_llmeval.replay.keys import StoreRequest
from pytest_llmeval.session.options import endpoint_settings
from pytest_llmeval.simulator import Simulator

MODEL = "mistral-small-2506"


def request(text: str) -> BatchRequest:
    body = {
        "model": MODEL,
        "messages": [{"role": "user", "content": text}],
        "stream": False,
        "temperature": 0.0,
    }
    return BatchRequest(StoreRequest("POST", "/v1/chat/completions", body=body))


@pytest.fixture
def sim() -> Iterator[Simulator]:
    with Simulator() as server:
        server.add_rule({"match": "ping", "reply": "pong"})
        yield server


@pytest.fixture
def endpoint(sim: Simulator, tmp_path: Path) -> Iterator[Endpoint]:
    made = Endpoint(
        endpoint_settings(model=MODEL, server_url=sim.url, store_dir=tmp_path / "store")
    )
    yield made
    made.close()


def test_the_input_file_has_one_line_per_distinct_request_keyed_as_the_store() -> None:
    lines = distinct([request("a"), request("b"), request("a")])
    rows = [json.loads(line) for line in input_file(lines).decode().splitlines()]

    assert [row["custom_id"] for row in rows] == [line.custom_id for line in lines]
    assert rows[0]["custom_id"] == f"{lines[0].request.digest}-0"
    assert "model" not in rows[0]["body"] and rows[0]["body"]["messages"][0]["content"] == "a"


def test_output_lines_are_answers_or_problems() -> None:
    text = "\n".join(
        [
            json.dumps({"custom_id": "a", "response": {"status_code": 200, "body": {"id": 1}}}),
            json.dumps(
                {
                    "custom_id": "b",
                    "response": {"status_code": 500, "body": {"message": "boom"}},
                    "error": None,
                }
            ),
            "not json",
        ]
    )
    results = read_output(text)
    assert results["a"].body == {"id": 1} and results["a"].problem is None
    assert results["b"].body is None and "HTTP 500: boom" in (results["b"].problem or "")


def test_one_job_fills_the_store_and_a_second_run_sends_nothing(
    sim: Simulator, endpoint: Endpoint
) -> None:
    lines = [request(f"ping {index}") for index in range(5)]
    seen: list[str] = []

    outcome = BatchRunner(endpoint, progress=seen.append).run(lines, MODEL)
    again = BatchRunner(endpoint).run(lines, MODEL)

    assert outcome.summary.requests == 5 and outcome.summary.succeeded == 5
    assert outcome.failed == {} and outcome.summary.status == "SUCCESS"
    assert sim.count("/v1/batch/jobs") == 1 and sim.count("/v1/chat/completions") == 0
    for line in lines:
        stored = endpoint.store.load(line.request, 0)
        assert stored is not None and stored.json_body["choices"][0]["message"]["content"]
    assert any("5/5 done" in said for said in seen)
    assert again.summary.job_id is None and again.summary.requests == 0


def test_a_failed_line_fails_only_its_request(sim: Simulator, endpoint: Endpoint) -> None:
    sim.add_rule({"match": "broken", "status": 500}, first=True)
    lines = [request("ping"), request("broken one")]

    outcome = BatchRunner(endpoint).run(lines, MODEL)

    assert outcome.summary.succeeded == 1 and outcome.summary.failed == 1
    assert list(outcome.failed) == [lines[1].custom_id]
    assert "HTTP 500" in outcome.failed[lines[1].custom_id]
    assert endpoint.store.load(lines[0].request, 0) is not None
    assert endpoint.store.load(lines[1].request, 0) is None


def test_a_failed_job_fails_every_request_naming_its_state(
    sim: Simulator, endpoint: Endpoint
) -> None:
    sim.set_batch_faults(status="FAILED")
    lines = [request("ping a"), request("ping b")]

    outcome = BatchRunner(endpoint).run(lines, MODEL)

    assert outcome.summary.status == "FAILED" and outcome.summary.failed == 2
    assert all("ended FAILED" in problem for problem in outcome.failed.values())


def test_a_slow_job_is_polled_until_it_ends(sim: Simulator, endpoint: Endpoint) -> None:
    sim.set_batch_faults(duration_s=0.6)
    seen: list[str] = []

    outcome = BatchRunner(endpoint, progress=seen.append).run(
        [request(f"ping {index}") for index in range(4)], MODEL
    )

    assert outcome.summary.status == "SUCCESS" and outcome.summary.succeeded == 4
    assert sim.count() > 4  # upload, create, then several polls and the download
    assert any("QUEUED" in said or "RUNNING" in said for said in seen)


def test_an_interrupted_wait_names_the_job_to_resume(sim: Simulator, endpoint: Endpoint) -> None:
    sim.set_batch_faults(duration_s=30)

    def interrupt(seconds: float) -> None:
        raise KeyboardInterrupt

    runner = BatchRunner(endpoint, sleep=interrupt)
    with pytest.raises(BatchInterrupted) as raised:
        runner.run([request("ping")], MODEL)
    assert f"--llm-batch-job={raised.value.job_id}" in str(raised.value)

    sim.set_batch_faults(duration_s=0)
    resumed = BatchRunner(endpoint).run([request("ping")], MODEL, job_id=raised.value.job_id)
    assert resumed.summary.job_id == raised.value.job_id and resumed.summary.succeeded == 1
    assert sim.count("/v1/batch/jobs") == 1  # resuming created no job
