"""Streamed and tool-call chat calls through the endpoint: timed live, the same on replay."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pytest_llmeval.calls.endpoint import Endpoint, Reply
from pytest_llmeval.case_record import CaseRecorder, GroupSettings
from pytest_llmeval.session.options import endpoint_settings
from pytest_llmeval.simulator import Simulator
from tests.conftest import FT_MODEL

HAIKU = "Cold wind on the fjord, a gull rides it home."
RULES: list[dict[str, Any]] = [
    {"match": "haiku", "reply": HAIKU, "latency_s": 0.05, "token_s": 0.02},
    {"match": "Oslo", "tool_calls": [{"name": "get_weather", "arguments": {"city": "Oslo"}}]},
]
ASK = [{"role": "user", "content": "A haiku, please"}]


@pytest.fixture
def endpoints(tmp_path: Path) -> Iterator[Any]:
    made: list[Endpoint] = []

    def make(mode: str, url: str) -> Endpoint:
        settings = endpoint_settings(
            model=FT_MODEL, server_url=url, record_mode=mode, store_dir=tmp_path / "store"
        )
        made.append(Endpoint(settings))
        return made[-1]

    yield make
    for endpoint in made:
        endpoint.close()


def recorder() -> CaseRecorder:
    return CaseRecorder(nodeid="tests/test_x.py::test_case", settings=GroupSettings(group="g"))


def test_a_stream_is_timed_live_and_replays_the_same_text_and_events(endpoints: Any) -> None:
    with Simulator(RULES) as simulator:
        live_case = recorder()
        live = endpoints("new_episodes", simulator.url).chat(
            ASK, {"stream": True}, recorder=live_case
        )
        plain = endpoints("new_episodes", simulator.url).chat(ASK, {}, recorder=None)
    assert (live.text, live.finish_reason, live.usage) == (HAIKU, "stop", plain.usage)
    assert live.tool_calls == [] and len(live.events) > 3
    assert live.time_to_first_token_s is not None
    # The first token came with the second event, the rest a token_s apart after it.
    assert 0 < live.time_to_first_token_s < live.latency_s
    record = live_case.to_record(outcome="passed", duration_s=1.0)
    assert record["usage"]["streamed"] == 1
    assert record["timings"] is not None and len(record["timings"]["first_token_s"]) == 1

    replay_case = recorder()
    replayed = endpoints("none", "http://127.0.0.1:9").chat(
        ASK, {"stream": True}, recorder=replay_case
    )
    assert (replayed.text, replayed.events, replayed.usage) == (live.text, live.events, live.usage)
    assert (replayed.latency_s, replayed.time_to_first_token_s) == (0.0, 0.0)
    replay_record = replay_case.to_record(outcome="passed", duration_s=1.0)
    assert replay_record["usage"]["streamed"] == 1 and replay_record["timings"] is None


def test_tool_calls_read_the_same_live_and_replayed(endpoints: Any) -> None:
    ask = [{"role": "user", "content": "Weather in Oslo?"}]
    tools = [{"type": "function", "function": {"name": "get_weather", "parameters": {}}}]
    with Simulator(RULES) as simulator:
        live = endpoints("new_episodes", simulator.url).chat(ask, {"tools": tools}, recorder=None)
        streamed = endpoints("new_episodes", simulator.url).chat(
            ask, {"tools": tools, "stream": True}, recorder=None
        )

    def calls(reply: Reply) -> list[tuple[str, str]]:
        return [(call.name, call.arguments) for call in reply.tool_calls]

    assert calls(live) == calls(streamed) == [("get_weather", '{"city": "Oslo"}')]
    assert live.finish_reason == streamed.finish_reason == "tool_calls"
    assert len(live.tool_calls[0].id) == 9
    offline = endpoints("none", "http://127.0.0.1:9")
    assert offline.chat(ask, {"tools": tools}, recorder=None).tool_calls == live.tool_calls
    replayed = offline.chat(ask, {"tools": tools, "stream": True}, recorder=None)
    assert replayed == dataclasses.replace(streamed, latency_s=0.0, time_to_first_token_s=0.0)
