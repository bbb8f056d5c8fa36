"""Tool calls, conversations and streaming as eval cases: recorded live, the same offline."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from pytest_llmeval.simulator import Simulator
from tests.conftest import FT_MODEL, simulator_args

WEATHER = "get_weather"

# Five tool-call cases (right arguments, cut-off arguments, text instead of a call, a missing
# required argument, a call of a tool that was not offered), one conversation, one stream.
RULES: list[dict[str, Any]] = [
    {"match": "Paris", "tool_calls": [{"name": WEATHER, "arguments": {"city": "Paris"}}]},
    {
        "match": "Rome",
        "tool_calls": [{"name": WEATHER, "arguments": '{"city": "Ro'}],
        "finish_reason": "length",
    },
    {"match": "Lima", "reply": "It is usually mild in Lima."},
    {"match": "Quito", "tool_calls": [{"name": WEATHER, "arguments": {"unit": "C"}}]},
    {"match": "Fly", "tool_calls": [{"name": "book_flight", "arguments": {"to": "Oslo"}}]},
    {"match": "wear", "after_tool": True, "reply": "Wear a coat: it is 3 C in Oslo."},
    {"match": "wear", "tool_calls": [{"name": WEATHER, "arguments": {"city": "Oslo"}}]},
    {"match": "haiku", "reply": "Cold wind on the fjord, a gull rides it home.", "token_s": 0.01},
]

SUITE = f"""
import pytest

WEATHER_TOOL = {{
    "type": "function",
    "function": {{
        "name": "{WEATHER}",
        "description": "The weather now in a city",
        "parameters": {{
            "type": "object",
            "properties": {{"city": {{"type": "string"}}, "unit": {{"enum": ["C", "F"]}}}},
            "required": ["city"],
        }},
    }},
}}
TOOLS = [WEATHER_TOOL]


@pytest.mark.llm_metric("weather_calls", threshold=0.8)
@pytest.mark.parametrize(
    "prompt",
    ["Weather in Paris?", "Weather in Rome?", "Weather in Lima?", "Weather in Quito?",
     "Fly me to Oslo"],
    ids=["right", "cut_off", "text", "missing", "not_offered"],
)
def test_weather_call(llm, llm_json, prompt):
    reply = llm.chat(prompt, tools=TOOLS, tool_choice="any")
    arguments = llm_json.tool_call(reply, name="{WEATHER}")
    assert arguments["city"]


def weather(city, unit="C"):
    return {{"city": city, "temperature": 3, "unit": unit}}


@pytest.mark.llm_metric("conversation", threshold=1.0)
def test_conversation(llm):
    conversation = llm.run_tools(
        "What should I wear in Oslo?", TOOLS, functions={{"{WEATHER}": weather}}
    )
    assert [(run.name, run.arguments) for run in conversation.calls] == [
        ("{WEATHER}", {{"city": "Oslo"}})
    ]
    assert conversation.calls[0].result["temperature"] == 3
    assert [message["role"] for message in conversation.messages] == [
        "user", "assistant", "tool", "assistant"
    ]
    assert "coat" in conversation.final.text


@pytest.mark.llm_metric("streaming", threshold=1.0)
def test_stream(llm):
    reply = llm.chat("Write a haiku", stream=True)
    assert reply.text == "Cold wind on the fjord, a gull rides it home."
    assert reply.finish_reason == "stop" and reply.events
    assert reply.time_to_first_token_s is not None
    assert reply.time_to_first_token_s <= reply.latency_s
"""


def run(pytester: pytest.Pytester, *args: str) -> tuple[int, dict[str, Any]]:
    result = pytester.runpytest("--llm-report=report.json", *args)
    report: dict[str, Any] = json.loads((pytester.path / "report.json").read_text("utf-8"))
    return int(result.ret), report


def essentials(report: dict[str, Any]) -> dict[str, Any]:
    """What a replay must give exactly as the live run did."""
    return {
        "groups": {
            group["name"]: (group["passed"], group["failed"], group["errors"], group["verdict"])
            for group in report["groups"]
        },
        "categories": report["format"]["categories"],
        "cases": sorted(
            (case["nodeid"], case["outcome"], case["category"]) for case in report["cases"]
        ),
        "calls": report["usage"]["calls"],
        "streamed": report["usage"]["streamed"],
        "gate": report["gate"]["passed"],
    }


def test_tool_calls_a_conversation_and_a_stream_give_the_expected_report_live_and_offline(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(test_weather=SUITE)
    with Simulator(RULES) as simulator:
        status, live = run(pytester, *simulator_args(simulator))
        # 5 calls, the conversation's 2 turns, the stream: 8 chat requests, 1 streamed.
        assert simulator.count("/v1/chat/completions") == 8
        streamed = [
            request
            for request in simulator.requests
            if isinstance(request.body, dict) and request.body.get("stream")
        ]
        assert len(streamed) == 1
    assert status == 1  # weather_calls passes 1 of 5, under its threshold 0.8: the gate blocks
    summary = essentials(live)
    assert summary["groups"] == {
        "weather_calls": (1, 4, 0, "fail"),
        "conversation": (1, 0, 0, "pass"),
        "streaming": (1, 0, 0, "pass"),
    }
    assert summary["categories"] == {
        "no_tool_call": 1,
        "unknown_tool": 1,
        "unterminated_json": 1,
        "missing_field": 1,
        "valid": 1,
    }
    assert (summary["calls"], summary["streamed"], summary["gate"]) == (8, 1, False)
    latency = live["latency"]
    assert latency["timed_calls"] == 8 and latency["timed_streams"] == 1
    assert 0 < latency["ttft_p50_s"] <= latency["ttft_p95_s"]
    assert latency["p50_s"] > 0

    # Offline: the same report from the store alone, nothing listening at the server URL.
    offline_args = [
        f"--llm-model={FT_MODEL}",
        "--llm-server-url=http://127.0.0.1:9",
        "--llm-store=store",
        "--llm-record-mode=none",
        "-p",
        "no:cacheprovider",
    ]
    for workers in ([], ["-n", "2"]):  # the same verdict whoever runs which case
        status_offline, replayed = run(pytester, *offline_args, *workers)
        assert status_offline == 1
        assert essentials(replayed) == summary
        # A replay times nothing: its calls took no model's time.
        assert replayed["latency"]["timed_calls"] == 0
        assert replayed["latency"]["ttft_p50_s"] is None


def test_a_streamed_request_is_recorded_apart_from_the_same_request_unstreamed(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.llm_metric("both")
        def test_both(llm):
            plain = llm.chat("Write a haiku")
            streamed = llm.chat("Write a haiku", stream=True)
            assert streamed.text == plain.text
            assert (streamed.tool_calls, plain.tool_calls) == ([], [])
            assert plain.time_to_first_token_s is None and plain.events == ()
        """
    )
    with Simulator(RULES) as simulator:
        status, _ = run(pytester, *simulator_args(simulator))
    assert status == 0
    recordings = sorted(Path(pytester.path, "store").rglob("*.json"))
    bodies = [json.loads(file.read_text("utf-8")) for file in recordings]
    chat = [body for body in bodies if body["request"]["path"] == "/v1/chat/completions"]
    assert sorted(body["request"]["body"].get("stream") for body in chat) == [False, True]
    events = next(body for body in chat if body["request"]["body"]["stream"])["response"]
    assert events["content_type"].startswith("text/event-stream")
    assert events["body_text"].rstrip().endswith("data: [DONE]")


def test_a_raising_function_and_an_endless_loop_are_test_failures(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        f"""
        import pytest

        TOOLS = [{{"type": "function", "function": {{"name": "{WEATHER}", "parameters": {{}}}}}}]

        def broken(city):
            raise KeyError(city)

        @pytest.mark.llm_metric("loops", threshold=1.0)
        def test_raising(llm):
            llm.run_tools("What should I wear in Oslo?", TOOLS, functions={{"{WEATHER}": broken}})

        @pytest.mark.llm_metric("loops", threshold=1.0)
        def test_endless(llm):
            llm.run_tools(
                "Loop on Paris", TOOLS, functions={{"{WEATHER}": lambda city: "sunny"}}, max_turns=3
            )
        """
    )
    rules = [
        {
            "match": "Loop",
            "after_tool": True,
            "tool_calls": [{"name": WEATHER, "arguments": {"city": "Paris"}}],
        },
        *RULES,
    ]
    with Simulator(rules) as simulator:
        status, report = run(pytester, *simulator_args(simulator), "-rf")
        assert simulator.count("/v1/chat/completions") == 1 + 3
    assert status == 1
    outcomes = {case["nodeid"].rsplit("::", 1)[1]: case for case in report["cases"]}
    assert {name: case["outcome"] for name, case in outcomes.items()} == {
        "test_raising": "failed",
        "test_endless": "failed",
    }
    assert "the function 'get_weather' raised KeyError" in outcomes["test_raising"]["message"]
    assert "run_tools loop did not end" in outcomes["test_endless"]["message"]
    assert "max_turns=3" in outcomes["test_endless"]["message"]
