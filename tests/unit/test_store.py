"""Tests of the record/replay store: keys, files, replay, miss explanations and secrets."""

from __future__ import annotations

import json
import multiprocessing
from pathlib import Path
from typing import Any

import httpx2
import pytest
from mistralai.client import Mistral

from pytest_llmeval.errors import ReplayMissError, SecretLeakError
from pytest_llmeval.replay import ReplayStore, StoreRequest
from pytest_llmeval.support.redact import redact

CHAT = "/v1/chat/completions"
CANARY = "sk-canary-0123456789abcdef"


def chat_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "model": "ft:open-mistral-7b:587a6b29:20240514:7e773925",
        "messages": [
            {"role": "system", "content": "You triage support tickets."},
            {"role": "user", "content": "Classify the ticket: my invoice was charged twice."},
        ],
        "temperature": 0.0,
        "max_tokens": 200,
        "stream": False,
    }
    body.update(overrides)
    return body


def chat_request(**overrides: Any) -> StoreRequest:
    return StoreRequest.from_http("POST", CHAT, json.dumps(chat_body(**overrides)).encode())


def completion(text: str = '{"category": "billing"}') -> dict[str, Any]:
    return {
        "id": "cmpl-1",
        "object": "chat.completion",
        "created": 1715000000,
        "model": "ft:open-mistral-7b:587a6b29:20240514:7e773925",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": text},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 31, "completion_tokens": 9, "total_tokens": 40},
    }


def reply_text(body: bytes) -> str:
    content = json.loads(body)["choices"][0]["message"]["content"]
    assert isinstance(content, str)
    return content


def record(store: ReplayStore, request: StoreRequest, sample: int = 0, text: str = "ok") -> Path:
    body = json.dumps(completion(text)).encode()
    return store.save(request, sample, 200, "application/json", body)


@pytest.fixture
def store(tmp_path: Path) -> ReplayStore:
    return ReplayStore(tmp_path / "store", secrets=[CANARY])


def all_files(root: Path) -> list[Path]:
    return sorted(path for path in root.rglob("*") if path.is_file())


def test_round_trip_returns_the_recorded_response(store: ReplayStore) -> None:
    request = chat_request()
    body = json.dumps(completion("Ça coûte 5 €")).encode()

    written = store.save(request, 0, 200, "application/json", body)
    loaded = store.load(request, 0)

    assert loaded is not None
    assert loaded.status == 200
    assert loaded.content_type == "application/json"
    assert loaded.headers == {"content-type": "application/json"}
    assert json.loads(loaded.body) == completion("Ça coûte 5 €")
    assert written == store.file_for(request, 0)
    assert written.relative_to(store.root).parts[0] == "v1-chat-completions"
    assert written.name == f"{store.key(request, 0)}.json"


def test_file_is_a_readable_stable_summary(store: ReplayStore) -> None:
    request = chat_request(random_seed=None)
    written = record(store, request, text="billing")

    text = written.read_text(encoding="utf-8")
    document = json.loads(text)

    assert text.endswith("}\n")
    assert text == json.dumps(document, sort_keys=True, indent=2, ensure_ascii=False) + "\n"
    assert document["format"] == 1
    assert document["sample"] == 0
    assert document["request"] == {"method": "POST", "path": CHAT, "body": chat_body()}
    assert document["response"]["status"] == 200
    assert document["response"]["body"]["choices"][0]["message"]["content"] == "billing"
    assert "random_seed" not in text


def test_missing_recording_loads_as_none(store: ReplayStore) -> None:
    assert store.load(chat_request(), 0) is None


def test_key_ignores_field_order_and_null_fields() -> None:
    plain = chat_request()
    shuffled_text = json.dumps(dict(reversed(list(chat_body(random_seed=None).items()))))
    shuffled = StoreRequest.from_http("post", CHAT, shuffled_text.encode())
    nested_null = chat_request(
        messages=[
            {"role": "system", "content": "You triage support tickets.", "name": None},
            {"role": "user", "content": "Classify the ticket: my invoice was charged twice."},
        ]
    )

    assert shuffled.digest == plain.digest
    assert nested_null.digest == plain.digest


def test_key_is_the_same_behind_any_server_prefix() -> None:
    body = json.dumps(chat_body()).encode()
    urls = [
        CHAT,
        "/mistral/v1/chat/completions",
        "http://gpu-box:8000/mistral/v1/chat/completions",
        "https://api.mistral.ai/v1/chat/completions",
    ]

    requests = [StoreRequest.from_http("POST", url, body) for url in urls]

    assert {request.path for request in requests} == {CHAT}
    assert len({request.digest for request in requests}) == 1


def test_every_body_field_and_the_endpoint_change_the_key() -> None:
    base = chat_request().digest
    variants = [
        chat_request(temperature=0.7),
        chat_request(max_tokens=201),
        chat_request(random_seed=7),
        chat_request(response_format={"type": "json_object"}),
        chat_request(stream=True),
        chat_request(model="mistral-small-latest"),
        StoreRequest.from_http("POST", "/v1/fim/completions", json.dumps(chat_body()).encode()),
    ]

    digests = {request.digest for request in variants}

    assert base not in digests
    assert len(digests) == len(variants)


def test_non_json_body_keys_on_its_bytes() -> None:
    first = StoreRequest.from_http("POST", "/v1/files", b"--boundary\r\nfile one")
    again = StoreRequest.from_http("POST", "/v1/files", b"--boundary\r\nfile one")
    other = StoreRequest.from_http("POST", "/v1/files", b"--boundary\r\nfile two")

    assert first.body is None
    assert first.digest == again.digest != other.digest


def test_sample_index_keeps_repeated_identical_calls_apart(store: ReplayStore) -> None:
    request = chat_request(temperature=0.7)
    record(store, request, 0, text="first")
    record(store, request, 1, text="second")

    first, second, third = (store.load(request, sample) for sample in (0, 1, 2))

    assert first is not None
    assert second is not None
    assert [reply_text(first.body), reply_text(second.body)] == ["first", "second"]
    assert third is None
    assert store.explain_miss(request, 2).startswith(
        "sample 2 not recorded (only samples 0-1 exist)"
    )


def test_miss_names_the_changed_temperature(store: ReplayStore) -> None:
    record(store, chat_request(temperature=0.0))

    reason = store.explain_miss(chat_request(temperature=0.7), 0)

    assert reason.startswith("temperature 0.7 != 0.0 (recorded)")
    assert "v1-chat-completions/" in reason


def test_miss_shows_where_a_message_differs(store: ReplayStore) -> None:
    record(store, chat_request())
    changed = chat_body()["messages"]
    changed[1] = {"role": "user", "content": "Classify the tickets: my invoice was charged twice."}

    reason = store.explain_miss(chat_request(messages=changed), 0)

    assert reason.startswith(
        "messages[1].content differs: 'Classify the tickets: my …' != 'Classify the ticket: my "
        "i…' (recorded)"
    )


def test_miss_lists_a_few_differences_model_first(store: ReplayStore) -> None:
    record(store, chat_request())

    reason = store.explain_miss(
        chat_request(model="mistral-small-latest", temperature=0.3, max_tokens=5, top_p=0.9), 0
    )

    assert reason.startswith(
        "model 'mistral-small-latest' != 'ft:open-mistral-7b:587a6b29:20240514:7e…' (recorded);"
        " max_tokens 5 != 200 (recorded); temperature 0.3 != 0.0 (recorded); and more"
    )


def test_miss_compares_with_the_nearest_recording(store: ReplayStore) -> None:
    far = chat_request(model="mistral-large-latest", max_tokens=10, temperature=0.9)
    record(store, far)
    near = record(store, chat_request(max_tokens=100))

    reason = store.explain_miss(chat_request(), 0)

    assert reason == (
        f"max_tokens 200 != 100 (recorded) (nearest recording: {near.relative_to(store.root)})"
    )


def test_miss_sees_recordings_saved_after_the_first_miss(store: ReplayStore) -> None:
    record(store, chat_request(max_tokens=1, temperature=0.9))
    assert "max_tokens 200 != 1" in store.explain_miss(chat_request(), 0)

    record(store, chat_request(temperature=0.5))

    assert store.explain_miss(chat_request(), 0).startswith("temperature 0.0 != 0.5 (recorded)")


def test_miss_with_nothing_recorded_for_the_endpoint(store: ReplayStore) -> None:
    record(store, chat_request())
    moderation = StoreRequest.from_http(
        "POST", "/v1/chat/moderations", b'{"model": "mistral-moderation-latest", "inputs": []}'
    )

    assert store.explain_miss(moderation, 0) == (
        f"nothing recorded for POST /v1/chat/moderations in {store.root}"
    )


def test_miss_error_reads_as_one_line_with_the_fix(store: ReplayStore) -> None:
    record(store, chat_request())

    error = store.miss_error(chat_request(temperature=0.7), 0)

    assert isinstance(error, ReplayMissError)
    message = str(error)
    assert "\n" not in message
    assert message.startswith(
        "no recorded response for POST /v1/chat/completions (model ft:open-mistral-7b:"
    )
    assert "temperature 0.7 != 0.0 (recorded)" in message
    assert message.endswith("record it with --llm-record-mode=new_episodes")
    assert error.endpoint == CHAT


def test_secret_in_the_response_is_refused_and_nothing_written(store: ReplayStore) -> None:
    leaky = json.dumps(completion(f"your key is {CANARY}")).encode()

    with pytest.raises(SecretLeakError) as caught:
        store.save(chat_request(), 0, 200, "application/json", leaky)

    assert CANARY not in str(caught.value)
    assert "response body contains the API key" in str(caught.value)
    assert not store.root.exists() or all_files(store.root) == []


def test_secret_in_the_request_or_a_binary_body_is_refused(store: ReplayStore) -> None:
    asks = chat_request(messages=[{"role": "user", "content": f"echo {CANARY}"}])
    with pytest.raises(SecretLeakError, match="the request contains the API key") as caught:
        record(store, asks)
    assert CANARY not in str(caught.value)

    binary = b"\xff\xfe" + CANARY.encode()
    with pytest.raises(SecretLeakError):
        store.save(chat_request(), 0, 200, "application/octet-stream", binary)

    assert not store.root.exists() or all_files(store.root) == []


def test_short_secrets_are_ignored(tmp_path: Path) -> None:
    store = ReplayStore(tmp_path, secrets=["", "abc"])

    record(store, chat_request(), text="abc")

    assert store.load(chat_request(), 0) is not None


def test_redact_hides_every_secret() -> None:
    text = f"Bearer {CANARY} failed; key={CANARY}; short=abc"

    assert redact(text, [CANARY, "abc", ""]) == "Bearer *** failed; key=***; short=abc"


def test_only_2xx_responses_are_recorded(store: ReplayStore) -> None:
    for status in (429, 500, 302):
        with pytest.raises(ValueError, match=f"only 2xx responses are recorded, not {status}"):
            store.save(chat_request(), 0, status, "application/json", b"{}")

    assert not store.root.exists()
    record_201 = store.save(chat_request(), 0, 201, "application/json", b'{"id": "f"}')
    assert record_201.exists()


def test_text_and_binary_bodies_round_trip(store: ReplayStore) -> None:
    stream = b'data: {"id": "1"}\n\ndata: [DONE]\n\n'
    binary = bytes(range(256))
    text_request = chat_request(stream=True)
    binary_request = StoreRequest.from_http("GET", "/v1/files/f1/content", b"")

    store.save(text_request, 0, 200, "text/event-stream", stream)
    store.save(binary_request, 0, 200, "application/octet-stream", binary)

    text_reply = store.load(text_request, 0)
    binary_reply = store.load(binary_request, 0)
    assert text_reply is not None
    assert text_reply.body == stream
    assert binary_reply is not None
    assert binary_reply.body == binary
    assert binary_reply.content_type == "application/octet-stream"


def test_corrupt_file_is_a_miss_kept_in_place_and_explained(store: ReplayStore) -> None:
    request = chat_request()
    target = record(store, request)
    target.write_text('{"format": 1, "request": {', encoding="utf-8")

    assert store.load(request, 0) is None
    assert target.read_text(encoding="utf-8") == '{"format": 1, "request": {'
    reason = store.explain_miss(request, 0)
    assert reason.startswith(f"the recording {target.relative_to(store.root)} is corrupt (")
    assert "not valid JSON" in reason


def test_corrupt_neighbour_does_not_break_other_lookups(store: ReplayStore) -> None:
    good = chat_request(max_tokens=5)
    record(store, good)
    record(store, chat_request()).write_text("[]", encoding="utf-8")

    assert store.load(good, 0) is not None
    assert store.explain_miss(chat_request(temperature=0.2), 0).startswith("max_tokens")


def test_recording_of_another_format_is_corrupt(store: ReplayStore) -> None:
    request = chat_request()
    target = record(store, request)
    document = json.loads(target.read_text(encoding="utf-8"))
    target.write_text(json.dumps({**document, "format": 99}), encoding="utf-8")

    assert store.load(request, 0) is None
    assert "format 99 is not 1" in store.explain_miss(request, 0)


def test_sdk_parses_a_replayed_response_to_the_same_model(store: ReplayStore) -> None:
    def upstream(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(200, json=completion('{"category": "billing"}'))

    def recorder(request: httpx2.Request) -> httpx2.Response:
        stored_request = StoreRequest.from_http(request.method, str(request.url), request.content)
        hit = store.load(stored_request, 0)
        if hit is not None:
            return httpx2.Response(hit.status, headers=dict(hit.headers), content=hit.body)
        response = upstream(request)
        store.save(stored_request, 0, 200, response.headers["content-type"], response.content)
        return response

    def client(server_url: str) -> Mistral:
        transport = httpx2.MockTransport(recorder)
        return Mistral(
            api_key=CANARY, server_url=server_url, client=httpx2.Client(transport=transport)
        )

    messages: Any = [{"role": "user", "content": "Classify: charged twice."}]
    live = client("https://api.mistral.ai").chat.complete(
        model="m", messages=messages, temperature=0
    )
    replayed = client("http://gpu-box:8000/mistral").chat.complete(
        model="m", messages=messages, temperature=0
    )

    assert replayed == live
    assert len(all_files(store.root)) == 1
    assert CANARY not in all_files(store.root)[0].read_text(encoding="utf-8")


def _save_many(root: str, worker: int) -> None:
    store = ReplayStore(Path(root), secrets=[CANARY])
    for index in range(40):
        # Half the keys are shared by every worker, half belong to this one.
        shared = index % 2 == 0
        request = chat_request(max_tokens=index if shared else 1000 * (worker + 1) + index)
        # Answers of different lengths: interleaved writes would leave a mixed file.
        body = json.dumps(completion(f"worker {worker} " + "x" * (2000 + 700 * worker))).encode()
        store.save(request, 0, 200, "application/json", body)


def test_parallel_writers_leave_only_complete_files(tmp_path: Path) -> None:
    root = tmp_path / "store"
    # fork (where there is one) spares each worker a fresh interpreter importing the SDK.
    methods = multiprocessing.get_all_start_methods()
    context = multiprocessing.get_context("fork" if "fork" in methods else "spawn")
    workers = [context.Process(target=_save_many, args=(str(root), n)) for n in range(4)]
    for process in workers:
        process.start()
    for process in workers:
        process.join(timeout=120)
    assert [process.exitcode for process in workers] == [0, 0, 0, 0]

    files = all_files(root)
    store = ReplayStore(root)

    assert len(files) == 20 + 4 * 20
    assert all(file.suffix == ".json" and not file.name.startswith(".") for file in files)
    for file in files:
        request = json.loads(file.read_text(encoding="utf-8"))["request"]
        stored = StoreRequest(request["method"], request["path"], request["body"])
        reply = store.load(stored, 0)
        assert reply is not None
        text = reply_text(reply.body)
        worker = int(text.split()[1])
        assert text == f"worker {worker} " + "x" * (2000 + 700 * worker)


# -- file modes and writability -----------------------------------------------------------------


def test_write_atomic_gives_the_file_the_mode_the_umask_allows(tmp_path: Path) -> None:
    import os
    import stat

    from pytest_llmeval.support.atomic import write_atomic

    previous = os.umask(0o022)
    try:
        written = write_atomic(tmp_path / "a" / "report.json", "{}")
    finally:
        os.umask(previous)
    assert stat.S_IMODE(written.stat().st_mode) == 0o644


def test_write_problem_names_what_is_in_the_way(tmp_path: Path) -> None:
    from pytest_llmeval.support.atomic import folder_problem, write_problem

    (tmp_path / "file").write_text("x", encoding="utf-8")
    (tmp_path / "folder").mkdir()
    assert write_problem(tmp_path / "new" / "deeper" / "report.json") is None
    assert write_problem(tmp_path / "file") is None
    assert write_problem(tmp_path / "folder") == f"{tmp_path / 'folder'} is a folder, not a file"
    assert write_problem(tmp_path / "file" / "report.json") == (
        f"{tmp_path / 'file'} is a file, not a folder"
    )
    assert folder_problem(tmp_path / "file") == f"{tmp_path / 'file'} is a file, not a folder"
    assert folder_problem(tmp_path / "store" / "sub") is None
