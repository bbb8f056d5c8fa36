"""The simulator against the real mistralai SDK over loopback: rules, faults, counts, CLI."""

from __future__ import annotations

import json
import os
import re
import select
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest
from mistralai.client import Mistral, errors, models
from mistralai.client.utils import BackoffStrategy, RetryConfig

from pytest_llmeval.simulator import (
    MODERATION_CATEGORIES,
    SimRequest,
    SimResponse,
    Simulator,
    count_tokens,
)

FT_MODEL = "ft:open-mistral-7b:587a6b29:20240514:7e773925"
CHAT_PATH = "/v1/chat/completions"
JUDGE_FORMAT: dict[str, Any] = {
    "type": "json_schema",
    "json_schema": {
        "name": "verdict",
        "strict": True,
        "schema": {
            "type": "object",
            "properties": {
                "reasoning": {"type": "string"},
                "score": {"type": "integer", "minimum": 1, "maximum": 10},
            },
            "required": ["reasoning", "score"],
        },
    },
}


@pytest.fixture
def sim() -> Iterator[Simulator]:
    with Simulator() as server:
        yield server


def client_for(server: Simulator, **options: Any) -> Mistral:
    return Mistral(api_key="test", server_url=server.url, **options)


def ask(client: Mistral, text: str, model: str = FT_MODEL, **params: Any) -> Any:
    messages: list[Any] = [{"role": "user", "content": text}]
    return client.chat.complete(model=model, messages=messages, **params)


@pytest.fixture(scope="module")
def http() -> Iterator[httpx2.Client]:
    """One raw HTTP client for the module: building one costs more than a request."""
    with httpx2.Client(timeout=10) as client:
        yield client


def post_chat(http: httpx2.Client, server: Simulator, text: str, **extra: Any) -> httpx2.Response:
    body = {"model": FT_MODEL, "messages": [{"role": "user", "content": text}], **extra}
    return http.post(server.url + CHAT_PATH, json=body)


# --- chat answers ----------------------------------------------------------------------------


def test_default_reply_echoes_the_last_user_message_with_usage(sim: Simulator) -> None:
    response = ask(client_for(sim), "Where is my parcel?")

    choice = response.choices[0]
    assert choice.message.content == "Simulated reply to: Where is my parcel?"
    assert choice.finish_reason == "stop"
    assert response.model == FT_MODEL
    assert response.usage.prompt_tokens == count_tokens("Where is my parcel?") == 5
    assert response.usage.completion_tokens == count_tokens(choice.message.content)
    assert response.usage.total_tokens == 5 + response.usage.completion_tokens


def test_first_matching_rule_answers_with_regex_glob_system_and_contains() -> None:
    rules = [
        {"model": "ft:*", "match": r"refund\b", "reply": "fine-tuned refund"},
        {"match": "refund", "reply": "base refund"},
        {"system": "(?i)pirate", "reply": "Arr"},
        {"contains": "ORDER-42", "reply": "found the order"},
    ]
    with Simulator(rules) as server:
        client = client_for(server)
        assert ask(client, "a refund please").choices[0].message.content == "fine-tuned refund"
        base = ask(client, "a refund please", model="mistral-small-latest")
        assert base.choices[0].message.content == "base refund"
        pirate = client.chat.complete(
            model=FT_MODEL,
            messages=[
                {"role": "system", "content": "You are a PIRATE."},
                {"role": "user", "content": "hello"},
            ],
        )
        assert pirate.choices[0].message.content == "Arr"
        found = client.chat.complete(
            model=FT_MODEL,
            messages=[
                {"role": "user", "content": "about ORDER-42"},
                {"role": "assistant", "content": "yes?"},
                {"role": "user", "content": "status"},
            ],
        )
        assert found.choices[0].message.content == "found the order"


def test_reply_chunks_are_sent_as_text_chunks(sim: Simulator) -> None:
    sim.add_rule({"match": "chunks", "reply_chunks": ["Hello", ", world"]})

    content = ask(client_for(sim), "chunks please").choices[0].message.content

    assert isinstance(content, list)
    assert [(chunk.type, chunk.text) for chunk in content] == [
        ("text", "Hello"),
        ("text", ", world"),
    ]


def test_replies_cycle_per_identical_request(sim: Simulator) -> None:
    sim.add_rule({"match": "sample", "replies": ["A", "B", "C"]})
    client = client_for(sim)

    texts = [ask(client, "sample me").choices[0].message.content for _ in range(4)]
    other = ask(client, "sample you").choices[0].message.content

    assert texts == ["A", "B", "C", "A"]
    assert other == "A"


def test_truncate_at_and_max_tokens_cut_the_reply_with_finish_reason_length(
    sim: Simulator,
) -> None:
    sim.add_rule({"match": "cut", "reply": '{"answer": "a long answer"}', "truncate_at": 10})
    sim.add_rule({"match": "long", "reply": "x" * 40})
    sim.add_rule({"match": "short", "reply": "tiny", "truncate_at": 10})
    client = client_for(sim)

    cut = ask(client, "cut it").choices[0]
    capped = ask(client, "long one", max_tokens=3)
    uncapped = ask(client, "long one", max_tokens=10).choices[0]
    short = ask(client, "short one").choices[0]

    assert (cut.message.content, cut.finish_reason) == ('{"answer":', "length")
    assert capped.choices[0].message.content == "x" * 12
    assert capped.choices[0].finish_reason == "length"
    assert capped.usage.completion_tokens == 3
    assert (uncapped.message.content, uncapped.finish_reason) == ("x" * 40, "stop")
    assert short.finish_reason == "stop"


def test_echo_finish_reason_and_assistant_prefix(sim: Simulator) -> None:
    sim.add_rule({"match": "repeat", "echo": True, "finish_reason": "model_length"})
    client = client_for(sim)

    echoed = ask(client, "repeat after me").choices[0]
    prefixed = client.chat.complete(
        model=FT_MODEL,
        messages=[
            {"role": "user", "content": "hi"},
            {"role": "assistant", "content": "Bonjour", "prefix": True},
        ],
    )

    assert (echoed.message.content, echoed.finish_reason) == ("repeat after me", "model_length")
    assert prefixed.choices[0].message.content.startswith("Bonjour")


def test_judge_requests_get_a_schema_valid_verdict_and_are_apart_from_chat_rules(
    sim: Simulator,
) -> None:
    sim.add_rule({"match": ".", "reply": "plain chat answer"})
    client = client_for(sim)

    verdict = ask(client, "grade this", model="mistral-large-latest", response_format=JUDGE_FORMAT)
    sim.add_rule({"endpoint": "judge", "reply": '{"reasoning": "meh", "score": 2}'}, first=True)
    scripted = ask(client, "grade that", model="mistral-large-latest", response_format=JUDGE_FORMAT)

    content = verdict.choices[0].message.content
    assert json.loads(content) == {"reasoning": "simulated judge", "score": 10}
    assert json.loads(scripted.choices[0].message.content)["score"] == 2
    assert [request.endpoint for request in sim.requests] == ["judge", "judge"]


def test_a_json_object_request_gets_a_json_object_by_default(sim: Simulator) -> None:
    reply = ask(client_for(sim), "status?", response_format={"type": "json_object"})

    assert json.loads(reply.choices[0].message.content) == {"reply": "Simulated reply to: status?"}


def test_a_script_callable_answers_first_and_none_falls_through() -> None:
    def respond(request: SimRequest) -> SimResponse | dict[str, Any] | str | None:
        if "callable" in request.last_user_message:
            return f"callable saw {request.model}"
        if "truncated" in request.last_user_message:
            return SimResponse(reply="abcdefgh", truncate_at=3)
        if "dict" in request.last_user_message:
            return {"reply_chunks": ["d", "ict"]}
        if "crash" in request.last_user_message:
            raise RuntimeError("script bug")
        return None

    with Simulator(respond) as server:
        server.add_rule({"match": "rule", "reply": "from the rule"})
        client = client_for(server)
        assert ask(client, "callable").choices[0].message.content == f"callable saw {FT_MODEL}"
        truncated = ask(client, "truncated").choices[0]
        assert (truncated.message.content, truncated.finish_reason) == ("abc", "length")
        assert [chunk.text for chunk in ask(client, "dict").choices[0].message.content] == [
            "d",
            "ict",
        ]
        assert ask(client, "rule").choices[0].message.content == "from the rule"
        assert ask(client, "other").choices[0].message.content == "Simulated reply to: other"
        with pytest.raises(errors.SDKError) as failure:
            ask(client, "crash")
        assert failure.value.status_code == 500
        assert "RuntimeError: script bug" in failure.value.body


# --- moderation, models, files and batch -----------------------------------------------------


def test_moderation_flags_per_input_and_defaults_to_nothing_flagged(sim: Simulator) -> None:
    sim.add_rule({"endpoint": "moderation", "match": "(?i)kill", "flag": ["violence_and_threats"]})
    sim.add_rule({"endpoint": "moderation", "contains": "card", "flag": ["pii", "leak"]})
    client = client_for(sim)

    texts = client.classifiers.moderate(
        model="mistral-moderation-latest", inputs=["I will kill it", "hello", "my card 4111"]
    )
    chats = client.classifiers.moderate_chat(
        model="mistral-moderation-latest",
        inputs=[[{"role": "user", "content": "hello"}], [{"role": "user", "content": "KILL"}]],
    )

    violent, calm, private = texts.results
    assert violent.categories["violence_and_threats"] is True
    assert violent.category_scores["violence_and_threats"] == 0.9
    assert violent.category_scores["sexual"] == 0.01
    assert not any(calm.categories.values())
    assert set(calm.categories) == set(MODERATION_CATEGORIES)
    assert {name for name, flagged in private.categories.items() if flagged} == {"pii", "leak"}
    assert [any(result.categories.values()) for result in chats.results] == [False, True]
    assert sim.count("/v1/moderations") == sim.count("/v1/chat/moderations") == 1


def test_model_cards_for_base_and_fine_tuned_ids(sim: Simulator) -> None:
    client = client_for(sim)

    tuned = client.models.retrieve(model_id=FT_MODEL)
    base = client.models.retrieve(model_id="open-mistral-7b")
    listed = client.models.list()

    assert isinstance(tuned, models.FTModelCard)
    assert tuned.root == "open-mistral-7b"
    assert tuned.job
    assert isinstance(base, models.BaseModelCard)
    assert {card.id for card in listed.data or []} >= {
        "mistral-small-latest",
        "mistral-large-latest",
        "mistral-moderation-latest",
        "open-mistral-7b",
    }
    with pytest.raises(errors.SDKError) as missing:
        client.models.retrieve(model_id="no-such-model")
    assert missing.value.status_code == 404
    assert json.loads(missing.value.body)["object"] == "error"


def test_files_and_batch_jobs_run_lines_through_the_chat_rules(sim: Simulator) -> None:
    sim.add_rule({"match": "ping", "reply": "pong"})
    client = client_for(sim)
    lines = [
        {"custom_id": "a", "body": {"messages": [{"role": "user", "content": "ping"}]}},
        {"custom_id": "b", "body": {"messages": [{"role": "user", "content": "other"}]}},
    ]
    data = "".join(json.dumps(line) + "\n" for line in lines).encode()

    uploaded = client.files.upload(
        file={"file_name": "batch.jsonl", "content": data}, purpose="batch"
    )
    created = client.batch.jobs.create(
        input_files=[uploaded.id], model="mistral-small-latest", endpoint=CHAT_PATH
    )
    job = client.batch.jobs.get(job_id=created.id)
    assert job.output_file is not None
    output = client.files.download(file_id=job.output_file).read().decode()

    assert client.files.retrieve(file_id=uploaded.id).size_bytes == len(data)
    assert (job.status, job.total_requests, job.succeeded_requests) == ("SUCCESS", 2, 2)
    results = {row["custom_id"]: row["response"] for row in map(json.loads, output.splitlines())}
    assert results["a"]["status_code"] == 200
    assert results["a"]["body"]["choices"][0]["message"]["content"] == "pong"
    assert results["b"]["body"]["model"] == "mistral-small-latest"


# --- faults ----------------------------------------------------------------------------------


def test_a_429_carries_retry_after_headers_and_a_mistral_error_body(
    sim: Simulator, http: httpx2.Client
) -> None:
    sim.add_rule({"match": "busy", "status": 429, "retry_after": 2, "retry_after_ms": 1500})

    response = post_chat(http, sim, "busy now")

    assert response.status_code == 429
    assert response.headers["Retry-After"] == "2"
    assert response.headers["retry-after-ms"] == "1500"
    assert response.json()["object"] == "error"
    assert response.json()["code"] == "429"


def test_fail_fails_the_first_attempts_of_each_identical_request(
    sim: Simulator, http: httpx2.Client
) -> None:
    sim.add_rule({"match": "flaky", "reply": "recovered", "fail": [500]})

    statuses = [post_chat(http, sim, "flaky").status_code for _ in range(3)]
    other = post_chat(http, sim, "flaky too")

    assert statuses == [500, 200, 200]
    assert other.status_code == 500
    assert [request.attempt for request in sim.requests] == [1, 2, 3, 1]


def test_the_sdk_retries_a_429_and_honours_retry_after() -> None:
    script = [{"match": "busy", "reply": "done", "fail": [429], "retry_after": 0.3}]
    retry = RetryConfig("backoff", BackoffStrategy(10, 50, 1.5, 5_000), True)
    with Simulator(script) as server:
        started = time.monotonic()
        reply = ask(client_for(server, retry_config=retry), "busy hour")
        elapsed = time.monotonic() - started

    assert reply.choices[0].message.content == "done"
    assert server.count(CHAT_PATH) == 2
    assert elapsed >= 0.3


def test_global_faults_apply_until_removed_and_rules_override_them(
    sim: Simulator, http: httpx2.Client
) -> None:
    sim.add_rule({"match": "vip", "reply": "served", "status": 429})
    sim.set_faults(status=503, retry_after=1)

    down = post_chat(http, sim, "anyone")
    vip = post_chat(http, sim, "vip")
    sim.set_faults(status=None)
    up = post_chat(http, sim, "anyone else")

    assert (down.status_code, down.headers["Retry-After"]) == (503, "1")
    assert vip.status_code == 429
    assert up.status_code == 200
    with pytest.raises(ValueError, match="set_faults: unknown fault 'latency'"):
        sim.set_faults(latency=1)


def test_a_hang_times_the_client_out_while_other_requests_are_served(sim: Simulator) -> None:
    sim.add_rule({"match": "hang", "hang_s": 5})
    hung_client = client_for(sim, timeout_ms=300)
    outcome: list[BaseException] = []

    def call_hung() -> None:
        try:
            ask(hung_client, "hang here")
        except BaseException as error:
            outcome.append(error)

    worker = threading.Thread(target=call_hung)
    started = time.monotonic()
    worker.start()
    time.sleep(0.05)
    served = ask(client_for(sim), "quick")
    worker.join(timeout=5)

    assert served.choices[0].message.content == "Simulated reply to: quick"
    assert len(outcome) == 1
    assert isinstance(outcome[0], httpx2.TimeoutException)
    assert time.monotonic() - started < 2
    assert ask(client_for(sim), "still alive").choices[0].finish_reason == "stop"


def test_seeded_rates_are_reproducible_and_retries_draw_again(http: httpx2.Client) -> None:
    script = {"seed": 7, "faults": {"rates": {"500": 0.5}}}

    def statuses(server: Simulator) -> list[int]:
        return [post_chat(http, server, f"case {number}").status_code for number in range(24)]

    with Simulator(script) as first, Simulator(script) as second, Simulator() as plain:
        first_run, second_run = statuses(first), statuses(second)
        failed = [number for number, status in enumerate(first_run) if status == 500]
        retried = [post_chat(http, first, f"case {number}").status_code for number in failed]
        assert statuses(plain) == [200] * 24

    assert first_run == second_run
    assert 0 < len(failed) < 24
    assert 200 in retried


def test_latency_overlaps_across_concurrent_clients_and_is_counted() -> None:
    clients, latency = 8, 0.3
    barrier = threading.Barrier(clients + 1)
    with Simulator(latency_s=latency) as server:
        connections = [httpx2.Client(base_url=server.url, timeout=10) for _ in range(clients)]

        def call(client: httpx2.Client, number: int) -> None:
            barrier.wait()
            body = {
                "model": "open-mistral-7b",
                "messages": [{"role": "user", "content": f"q{number}"}],
            }
            client.post(CHAT_PATH, json=body).raise_for_status()

        threads = [
            threading.Thread(target=call, args=(client, number))
            for number, client in enumerate(connections)
        ]
        for thread in threads:
            thread.start()
        barrier.wait()
        for thread in threads:
            thread.join(timeout=10)
        for client in connections:
            client.close()

        assert server.max_in_flight == clients
        assert server.count() == server.count(CHAT_PATH) == clients
        # max_in_flight says the calls overlapped: one after another it would be 1
        server.reset_counts()
        assert (server.count(), server.max_in_flight, server.requests) == (0, 0, [])


# --- HTTP errors and authentication ----------------------------------------------------------


def test_require_api_key_rejects_missing_and_wrong_keys_and_never_stores_them(
    http: httpx2.Client,
) -> None:
    with Simulator(require_api_key="sk-right-key") as server:
        with pytest.raises(errors.SDKError) as wrong:
            ask(client_for(server), "hi")
        assert wrong.value.status_code == 401
        keyless = http.post(server.url + CHAT_PATH, json={"model": "m", "messages": []})
        assert keyless.status_code == 401
        good = ask(Mistral(api_key="sk-right-key", server_url=server.url), "hi")
        assert good.choices[0].message.content == "Simulated reply to: hi"
        seen = [request.has_authorization for request in server.requests]
        assert seen == [True, False, True]
        assert "sk-right-key" not in repr(server.requests)


def test_bad_requests_get_mistral_style_errors(sim: Simulator, http: httpx2.Client) -> None:
    malformed = http.post(
        sim.url + CHAT_PATH, content=b"{not json", headers={"Content-Type": "application/json"}
    )
    unknown = http.get(sim.url + "/v1/nothing-here")

    assert malformed.status_code == 400
    assert "Malformed JSON" in malformed.json()["message"]
    assert (unknown.status_code, unknown.json()["object"]) == (404, "error")
    with pytest.raises(errors.HTTPValidationError):
        client_for(sim).chat.complete(model=FT_MODEL, messages=[])


# --- tool calls and streaming ------------------------------------------------------------------

WEATHER_RULES: list[dict[str, Any]] = [
    {"match": "wear", "after_tool": True, "reply": "Wear a coat."},
    {"match": "wear", "tool_calls": [{"name": "get_weather", "arguments": {"city": "Oslo"}}]},
    {"match": "cut", "tool_calls": [{"name": "get_weather", "arguments": '{"ci'}]},
]


def test_a_rule_answers_with_tool_calls_and_then_from_their_results() -> None:
    with Simulator(WEATHER_RULES) as server:
        client = client_for(server)
        asked = [{"role": "user", "content": "What should I wear?"}]
        first = client.chat.complete(model=FT_MODEL, messages=asked)
        choice = first.choices[0]
        assert choice.finish_reason == "tool_calls" and choice.message.content == ""
        call = choice.message.tool_calls[0]
        assert (call.function.name, call.function.arguments) == ("get_weather", '{"city": "Oslo"}')
        assert len(call.id) == 9 and call.id.isalnum()
        answered = [
            *asked,
            {"role": "assistant", "content": "", "tool_calls": [call.model_dump()]},
            {"role": "tool", "tool_call_id": call.id, "name": "get_weather", "content": "3"},
        ]
        second = client.chat.complete(model=FT_MODEL, messages=answered)
        assert second.choices[0].message.content == "Wear a coat."
        raw = ask(client, "cut it short").choices[0].message.tool_calls[0].function.arguments
        assert raw == '{"ci'


def test_without_a_rule_the_answer_after_tool_results_quotes_them(sim: Simulator) -> None:
    messages = [
        {"role": "user", "content": "weather?"},
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [{"id": "abc123def", "function": {"name": "f", "arguments": "{}"}}],
        },
        {"role": "tool", "tool_call_id": "abc123def", "name": "f", "content": '{"t": 3}'},
    ]
    reply = client_for(sim).chat.complete(model=FT_MODEL, messages=messages)
    assert reply.choices[0].message.content == 'Simulated answer from the tool results: {"t": 3}'


def test_a_streamed_answer_is_server_sent_events_ending_in_done(
    sim: Simulator, http: httpx2.Client
) -> None:
    sim.add_rule({"match": "haiku", "reply": "Cold wind on the fjord.", "token_s": 0.001})
    raw = post_chat(http, sim, "a haiku", stream=True)
    assert raw.headers["content-type"] == "text/event-stream"
    events = raw.text.split("\n\n")
    assert events[-2:] == ["data: [DONE]", ""]
    chunks = [json.loads(event.removeprefix("data: ")) for event in events[:-2]]
    deltas = [chunk["choices"][0]["delta"].get("content") for chunk in chunks]
    assert deltas[0] == "" and "".join(deltas) == "Cold wind on the fjord."
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop" and chunks[-1]["usage"]
    streamed = client_for(sim).chat.stream(
        model=FT_MODEL, messages=[{"role": "user", "content": "a haiku"}]
    )
    text = "".join(event.data.choices[0].delta.content or "" for event in streamed)
    assert text == "Cold wind on the fjord."


def test_bad_tool_call_rules_are_named() -> None:
    for rule, problem in (
        ({"tool_calls": []}, "'tool_calls' must be a non-empty list"),
        ({"tool_calls": [{"arguments": {}}]}, "'tool_calls' must be a non-empty list"),
        ({"tool_calls": [{"name": "f", "id": "x"}]}, "unknown key 'id'"),
        ({"tool_calls": [{"name": "f"}], "reply": "hi"}, "give only one of"),
        ({"after_tool": "yes"}, "'after_tool' must be true or false"),
        ({"token_s": -1}, "'token_s' must be a number of seconds"),
    ):
        with pytest.raises(ValueError, match=re.escape(problem)):
            Simulator([rule])


# --- scripts ---------------------------------------------------------------------------------


def test_script_files_in_json_and_jsonl_set_rules_latency_seed_and_faults(
    tmp_path: Path, http: httpx2.Client
) -> None:
    jsonl = tmp_path / "rules.jsonl"
    jsonl.write_text('{"match": "hi", "reply": "from jsonl"}\n\n{"reply": "fallback"}\n')
    settings = tmp_path / "script.json"
    settings.write_text(
        json.dumps(
            {
                "rules": [{"match": "hi", "reply": "from json"}],
                "latency_s": 0.01,
                "seed": 3,
                "faults": {"fail": [503]},
            }
        )
    )

    with Simulator(jsonl) as from_lines, Simulator(str(settings)) as from_object:
        assert ask(client_for(from_lines), "hi").choices[0].message.content == "from jsonl"
        assert ask(client_for(from_lines), "bye").choices[0].message.content == "fallback"
        assert post_chat(http, from_object, "hi").status_code == 503
        assert post_chat(http, from_object, "hi").json()["choices"][0]["message"]["content"] == (
            "from json"
        )


@pytest.mark.parametrize(
    ("name", "text", "expected"),
    [
        ("rules.jsonl", '{"reply": "ok"}\n{"reply": "ok"\n', r"rules\.jsonl: line 2: invalid JSON"),
        ("rules.json", '[\n  {"reply": "ok"},\n  {"reply": }\n]', r"rules\.json: line 3, column"),
        ("rules.json", '[{"reply": "ok"}, {"repy": "x"}]', r"rule 2: unknown key 'repy'"),
        ("rules.jsonl", '{"match": "(unclosed"}', r"line 1: 'match' is not a valid regular"),
        ("rules.jsonl", '{"reply": "a", "echo": true}', r"line 1: give only one of"),
        ("rules.jsonl", '{"flag": ["pii"]}', r"line 1: 'flag' answers moderation requests"),
        ("rules.jsonl", '{"fail": [200]}', r"line 1: 'fail' must be a list of HTTP error"),
        ("rules.jsonl", '{"rates": {"429": 0.8, "500": 0.5}}', r"'rates' must add up"),
        ("rules.jsonl", '{"endpoint": "embeddings"}', r"'endpoint' must be one of"),
        ("rules.jsonl", '["not", "an", "object"]', r"line 1: a rule must be a JSON object"),
        ("rules.json", '{"rules": [], "speed": 1}', r"unknown top-level key 'speed'"),
        ("rules.yaml", "- reply: ok", r"rules\.yaml: a simulator script must be a \.json or"),
    ],
)
def test_a_bad_script_file_is_a_clear_error_at_construction(
    tmp_path: Path, name: str, text: str, expected: str
) -> None:
    path = tmp_path / name
    path.write_text(text)

    with pytest.raises(ValueError, match=expected) as failure:
        Simulator(path)

    assert str(path) in str(failure.value)


def test_a_missing_script_file_and_bad_runtime_rules_are_value_errors(
    tmp_path: Path, sim: Simulator
) -> None:
    with pytest.raises(ValueError, match=r"missing\.jsonl: cannot read"):
        Simulator(tmp_path / "missing.jsonl")
    with pytest.raises(ValueError, match=r"add_rule \(rule 1\): 'truncate_at' must be"):
        sim.add_rule({"reply": "x", "truncate_at": -1})


# --- command line ----------------------------------------------------------------------------


def _read_line(process: subprocess.Popen[str], timeout: float) -> str:
    assert process.stdout is not None
    ready, _, _ = select.select([process.stdout], [], [], timeout)
    assert ready, "the simulator printed nothing in time"
    return process.stdout.readline()


def test_the_command_line_prints_its_url_serves_and_stops_on_sigterm(tmp_path: Path) -> None:
    script = tmp_path / "rules.jsonl"
    script.write_text('{"match": "ping", "reply": "pong"}\n')
    process = subprocess.Popen(
        [sys.executable, "-m", "pytest_llmeval.simulator", "--script", str(script)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        url = _read_line(process, timeout=20).strip()
        assert url.startswith("http://127.0.0.1:")
        reply = Mistral(api_key="test", server_url=url).chat.complete(
            model=FT_MODEL, messages=[{"role": "user", "content": "ping"}]
        )
        assert reply.choices[0].message.content == "pong"
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0
    assert stderr == ""


def test_the_command_line_rejects_a_bad_script_with_exit_status_2(tmp_path: Path) -> None:
    script = tmp_path / "rules.jsonl"
    script.write_text('{"reply": "ok"}\n{"replyy": "typo"}\n')

    result = subprocess.run(
        [sys.executable, "-m", "pytest_llmeval.simulator", "--script", str(script)],
        capture_output=True,
        text=True,
        timeout=20,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )

    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1
    assert "line 2: unknown key 'replyy'" in result.stderr
