"""Replays read without the SDK: the same reply the SDK gives, or the SDK's own path.

A recorded chat completion is found by the body the SDK would send and read by the plugin
itself (`Endpoint.replayed_chat`); whatever that path cannot vouch for goes through the SDK.
These tests hold it to giving exactly what the SDK gives, on the same recordings.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import copy
import json
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mistralai.client import Mistral

from pytest_llmeval.calls.endpoint import Endpoint
from pytest_llmeval.calls.reply import Reply, read_chat_body
from pytest_llmeval.calls.reply import recorded_reply as _recorded_reply
from pytest_llmeval.calls.sdk_client import reply_from_response as _reply
from pytest_llmeval.case_record import CaseRecorder, GroupSettings
from pytest_llmeval.errors import LLMAPIError, ReplayMissError
from pytest_llmeval.replay import StoredResponse
from pytest_llmeval.session.options import endpoint_settings
from pytest_llmeval.simulator import Simulator
from tests.conftest import FT_MODEL, simulator_args

QUESTION = [{"role": "user", "content": "Classify: I was charged twice this month."}]


def closed_url() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"  # nothing listens there any more


@pytest.fixture
def endpoints(tmp_path: Path) -> Iterator[Any]:
    made: list[Endpoint] = []

    def make(mode: str, url: str) -> Endpoint:
        endpoint = Endpoint(
            endpoint_settings(
                model=FT_MODEL,
                server_url=url,
                record_mode=mode,
                store_dir=tmp_path / "store",
                timeout_s=2.0,
                max_call_time_s=3.0,
            )
        )
        made.append(endpoint)
        return endpoint

    yield make
    for endpoint in made:
        endpoint.close()


def recorder() -> CaseRecorder:
    return CaseRecorder(nodeid="tests/test_x.py::test_case", settings=GroupSettings(group="g"))


def same_reply(replayed: Reply, recorded: Reply) -> None:
    assert (
        replayed.text,
        replayed.finish_reason,
        replayed.usage,
        replayed.model,
        replayed.tool_calls,
    ) == (
        recorded.text,
        recorded.finish_reason,
        recorded.usage,
        recorded.model,
        recorded.tool_calls,
    )


TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "lookup_invoice",
            "description": "Find an invoice",
            "parameters": {"type": "object", "properties": {"id": {"type": "string"}}},
        },
    }
]
JSON_SCHEMA = {
    "type": "json_schema",
    "json_schema": {
        "name": "triage",
        "schema": {"type": "object", "properties": {"category": {"type": "string"}}},
        "strict": True,
    },
}


@pytest.mark.parametrize(
    "params",
    [
        pytest.param({}, id="defaults"),
        pytest.param({"temperature": 0.0, "max_tokens": 64}, id="temperature-max-tokens"),
        pytest.param({"top_p": 0.9, "random_seed": 7}, id="top-p-seed"),
        pytest.param({"response_format": {"type": "json_object"}}, id="json-object"),
        pytest.param({"response_format": JSON_SCHEMA}, id="json-schema"),
        pytest.param({"stop": ["\n\n"], "safe_prompt": False}, id="stop-safe-prompt"),
        pytest.param({"tools": TOOLS, "tool_choice": "auto"}, id="tools"),
        pytest.param({"presence_penalty": 0.5, "frequency_penalty": 0.1}, id="penalties"),
    ],
)
def test_a_recording_made_through_the_sdk_is_found_without_it(
    endpoints: Any, simulator: Simulator, params: dict[str, Any]
) -> None:
    messages = [{"role": "system", "content": "You triage tickets."}, *QUESTION]
    recorded = endpoints("all", simulator.url).chat(messages, params, recorder=recorder())
    offline = endpoints("none", closed_url())
    case = recorder()
    replayed = offline.replayed_chat(messages, params, recorder=case)
    assert replayed is not None, "the body guessed for these arguments is not the SDK's"
    same_reply(replayed, recorded)
    assert (case.calls, case.store_hits, case.store_misses) == (1, 1, 0)
    assert replayed.latency_s == 0.0


@pytest.mark.parametrize(
    "params",
    [
        pytest.param({"temperature": 0, "max_tokens": 50}, id="int-temperature"),
        pytest.param({"stop": ("\n",), "top_p": 1}, id="tuple-int-top-p"),
        pytest.param({"temperature": None, "safe_prompt": None}, id="nones"),
    ],
)
def test_arguments_the_sdk_rewrites_are_found_without_it(
    endpoints: Any, simulator: Simulator, params: dict[str, Any]
) -> None:
    # The SDK sends temperature=0 as 0.0 and a tuple as a list: the shortcut keys them so too.
    recorded = endpoints("all", simulator.url).chat(QUESTION, params, recorder=recorder())
    offline = endpoints("none", closed_url())
    case = recorder()
    replayed = offline.replayed_chat(QUESTION, params, recorder=case)
    assert replayed is not None, "the body worked out for these arguments is not the SDK's"
    same_reply(replayed, recorded)
    assert (case.calls, case.store_hits) == (1, 1)


TOOL_CALL_BODY = {
    "id": "cmpl-tool",
    "object": "chat.completion",
    "created": 1715000000,
    "model": FT_MODEL,
    "choices": [
        {
            "index": 0,
            "finish_reason": "tool_calls",
            "message": {
                "role": "assistant",
                "content": "",
                "tool_calls": [
                    {
                        "id": "call_1",
                        "type": "function",
                        "function": {"name": "lookup_invoice", "arguments": '{"id": "7"}'},
                    }
                ],
            },
        }
    ],
    "usage": {"prompt_tokens": 20, "completion_tokens": 9, "total_tokens": 29},
}


def test_a_tool_call_body_is_read_without_the_sdk(endpoints: Any, simulator: Simulator) -> None:
    simulator.add_rule({"body": TOOL_CALL_BODY})
    recorded = endpoints("all", simulator.url).chat(QUESTION, {}, recorder=recorder())
    assert recorded.finish_reason == "tool_calls" and recorded.tool_calls
    replayed = endpoints("none", closed_url()).replayed_chat(QUESTION, {}, recorder=recorder())
    assert replayed is not None
    same_reply(replayed, recorded)


def test_a_body_it_cannot_vouch_for_replays_through_the_sdk(
    endpoints: Any, simulator: Simulator
) -> None:
    unusual = copy.deepcopy(TOOL_CALL_BODY)
    del unusual["choices"][0]["message"]["tool_calls"][0]["id"]  # the SDK makes it "null"
    simulator.add_rule({"body": unusual})
    recorded = endpoints("all", simulator.url).chat(QUESTION, {}, recorder=recorder())
    assert recorded.finish_reason == "tool_calls"
    offline = endpoints("none", closed_url())
    assert offline.replayed_chat(QUESTION, {}, recorder=recorder()) is None
    same_reply(offline.chat(QUESTION, {}, recorder=recorder()), recorded)


def test_a_body_the_sdk_rejects_is_not_kept_so_a_replay_never_answers_it(
    endpoints: Any, simulator: Simulator, tmp_path: Path
) -> None:
    simulator.add_rule({"body": {"id": "cmpl-x", "object": "chat.completion", "model": "m"}})
    with pytest.raises(LLMAPIError, match="rejects"):
        endpoints("new_episodes", simulator.url).chat(QUESTION, {}, recorder=recorder())
    assert list((tmp_path / "store").rglob("*.json")) == []
    with pytest.raises(ReplayMissError):
        endpoints("none", closed_url()).chat(QUESTION, {}, recorder=recorder())


def test_repeated_identical_calls_replay_their_own_samples_without_the_sdk(
    endpoints: Any, simulator: Simulator
) -> None:
    simulator.add_rule({"match": "charged", "replies": ["billing", "refund", "bug"]})
    live, case = endpoints("new_episodes", simulator.url), recorder()
    assert [live.chat(QUESTION, {}, recorder=case).text for _ in range(3)] == [
        "billing",
        "refund",
        "bug",
    ]
    offline, again = endpoints("none", closed_url()), recorder()
    replies = [offline.replayed_chat(QUESTION, {}, recorder=again) for _ in range(4)]
    assert [reply.text if reply else None for reply in replies] == [
        "billing",
        "refund",
        "bug",
        None,
    ]
    assert (again.calls, again.store_hits) == (3, 3)


def test_calls_of_one_case_made_at_once_never_replay_the_same_sample(
    endpoints: Any, simulator: Simulator
) -> None:
    simulator.add_rule({"match": "charged", "replies": ["first", "second"]})
    live, case = endpoints("new_episodes", simulator.url), recorder()
    assert [live.chat(QUESTION, {}, recorder=case).text for _ in range(2)] == ["first", "second"]
    offline = endpoints("none", closed_url())
    for _ in range(50):
        again, start = recorder(), threading.Barrier(2)

        def ask(again: CaseRecorder = again, start: threading.Barrier = start) -> str:
            start.wait()
            return offline.chat(QUESTION, {}, recorder=again).text

        with concurrent.futures.ThreadPoolExecutor(2) as pool:
            answers = sorted(pool.map(lambda _: ask(), range(2)))
        assert answers == ["first", "second"]


@pytest.mark.parametrize(
    "params",
    [
        pytest.param({"model": "mistral-large-latest"}, id="model-twice"),
        pytest.param({"metadata": {1: "x"}}, id="int-key"),
    ],
)
def test_arguments_not_worked_out_without_the_sdk_are_not_guessed_at(
    endpoints: Any, simulator: Simulator, params: dict[str, Any]
) -> None:
    # Recorded with what each would look like as JSON; the SDK would not send that for them.
    as_json = json.loads(json.dumps({k: v for k, v in params.items() if k != "model"}))
    endpoints("all", simulator.url).chat(QUESTION, as_json, recorder=recorder())
    offline = endpoints("none", closed_url())
    assert offline.replayed_chat(QUESTION, params, recorder=recorder()) is None


# -- the reader never disagrees with the SDK's models -----------------------------------------

BASE_BODY: dict[str, Any] = {
    "id": "cmpl-1",
    "object": "chat.completion",
    "created": 1715000000,
    "model": FT_MODEL,
    "choices": [
        {
            "index": 0,
            "finish_reason": "stop",
            "message": {"role": "assistant", "content": "billing", "tool_calls": None},
        }
    ],
    "usage": {"prompt_tokens": 12, "completion_tokens": 2, "total_tokens": 14},
}

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False)
    | st.text(max_size=8)
    | st.sampled_from(["\ud800", "caf\u00e9", ""]),  # a lone surrogate, as json.loads gives
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner),
    max_leaves=6,
)
# Keys the reader and the SDK look at, and a few they do not.
keys = st.sampled_from(
    [
        "id",
        "object",
        "created",
        "model",
        "choices",
        "usage",
        "index",
        "finish_reason",
        "message",
        "role",
        "content",
        "tool_calls",
        "function",
        "name",
        "arguments",
        "prefix",
        "prompt_tokens",
        "completion_tokens",
        "total_tokens",
        "service_tier",
        "logprobs",
        "type",
        "text",
        "extra",
    ]
)


def _containers(value: Any) -> list[Any]:
    found = [value] if isinstance(value, (dict, list)) else []
    children = (
        value.values() if isinstance(value, dict) else value if isinstance(value, list) else []
    )
    for child in children:
        found.extend(_containers(child))
    return found


@st.composite
def bodies(draw: st.DrawFn) -> Any:
    body = copy.deepcopy(draw(st.sampled_from([BASE_BODY, TOOL_CALL_BODY])))
    if draw(st.booleans()):
        chunks = [{"type": "text", "text": "bill"}, {"type": "text", "text": "ing"}]
        body["choices"][0]["message"]["content"] = chunks
    for _ in range(draw(st.integers(min_value=0, max_value=3))):
        target = draw(st.sampled_from(_containers(body)))
        if isinstance(target, dict):
            key = draw(keys)
            if draw(st.booleans()) and key in target:
                del target[key]
            else:
                target[key] = draw(json_values)
        elif target:
            target[draw(st.integers(0, len(target) - 1))] = draw(json_values)
        else:
            target.append(draw(json_values))
    return body


class _Answer(httpx2.AsyncBaseTransport):
    """Answers every request with one recorded response, as the replay transport would."""

    def __init__(self, stored: StoredResponse) -> None:
        self.stored = stored

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(
            self.stored.status,
            headers={"content-type": self.stored.content_type},
            content=self.stored.body,
            request=request,
        )


def sdk_reply(stored: StoredResponse) -> Reply | None:
    """The reply the SDK's own path makes of a recording, or None when it fails on it."""
    client = Mistral(
        api_key="test",
        server_url="http://127.0.0.1:9",
        async_client=httpx2.AsyncClient(transport=_Answer(stored)),
    )
    try:
        response = asyncio.run(client.chat.complete_async(model=FT_MODEL, messages=QUESTION))
    except Exception:
        return None
    return _reply(response, FT_MODEL, 0.0)


content_types = st.just("application/json") | st.sampled_from(
    [
        "application/json",
        "application/json; charset=utf-8",
        "application/json; charset=iso-8859-1",
        "text/json",
        "application/problem+json",
    ]
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(bodies(), content_types)
def test_the_reader_gives_the_sdks_reply_or_leaves_the_body_to_it(
    body: Any, content_type: str
) -> None:
    stored = StoredResponse(200, {"content-type": content_type}, json_body=body)
    read = _recorded_reply(stored, FT_MODEL)
    if read is None:
        return  # the SDK's path decides; nothing to compare
    through_sdk = sdk_reply(stored)
    assert through_sdk is not None, "the shortcut answered where the SDK fails"
    same_reply(read, through_sdk)


def test_the_plain_recorded_shape_is_read_without_the_sdk() -> None:
    # Guards the property test above from passing because the reader refuses everything.
    reply = read_chat_body(BASE_BODY, FT_MODEL)
    assert reply is not None
    assert (reply.text, reply.finish_reason, reply.usage.total_tokens) == ("billing", "stop", 14)


# -- a whole replayed session ---------------------------------------------------------------

REPLAY_SUITE = """
import pytest
from pytest_llmeval import cases

@pytest.mark.llm_metric("answers", threshold=0.9)
@pytest.mark.llm_prompt(system="Answer tickets.", temperature=0, max_tokens=50)
@pytest.mark.parametrize("case", cases("tickets.jsonl"))
def test_answer(case, llm_reply):
    assert llm_reply.text == case.expected
"""
MODULES_SEEN = """
import json, sys

def pytest_sessionfinish(session):
    loaded = [name for name in ("mistralai", "httpx2", "pydantic") if name in sys.modules]
    with open("modules.json", "w") as out:
        json.dump(loaded, out)
"""


def test_a_replayed_session_gives_the_same_results_without_loading_the_sdk(
    pytester: pytest.Pytester, answering: Simulator
) -> None:
    rows = [{"id": str(n), "input": f"ticket {n}", "expected": f"answer {n}"} for n in range(6)]
    (pytester.path / "tickets.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    pytester.makepyfile(test_suite=REPLAY_SUITE)
    pytester.makeconftest(MODULES_SEEN)
    live_args = simulator_args(answering)
    recorded = pytester.runpytest_subprocess(*live_args, "--llm-report=live.json")
    recorded.assert_outcomes(passed=6)
    assert json.loads((pytester.path / "modules.json").read_text()) != []  # it did call

    offline_args = [
        f"--llm-server-url={closed_url()}" if arg.startswith("--llm-server-url") else arg
        for arg in live_args
    ]
    replayed = pytester.runpytest_subprocess(
        *offline_args, "--llm-record-mode=none", "--llm-report=replay.json"
    )
    replayed.assert_outcomes(passed=6)
    assert json.loads((pytester.path / "modules.json").read_text()) == []
    live = json.loads((pytester.path / "live.json").read_text())
    replay = json.loads((pytester.path / "replay.json").read_text())
    assert replay["totals"] == live["totals"]
    assert replay["usage"]["store_hits"] == 6
    assert replay["usage"]["prompt_tokens"] == live["usage"]["prompt_tokens"]
    assert replay["usage"]["completion_tokens"] == live["usage"]["completion_tokens"]


def test_the_prompt_parameters_checked_without_the_sdk_are_the_sdks() -> None:
    from pytest_llmeval.session.markers import COMMON_PROMPT_PARAMS, prompt_params

    assert prompt_params() >= COMMON_PROMPT_PARAMS
