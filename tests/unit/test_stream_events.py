"""Putting a streamed answer's events together, and spotting its first token in raw bytes."""

from __future__ import annotations

import json
from typing import Any

from pytest_llmeval.calls.stream_events import FirstTokenWatch, StreamedAnswer, carries_token
from pytest_llmeval.calls.tool_calls import ToolCall


def chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> dict[str, Any]:
    return {
        "id": "cmpl-1",
        "model": "m",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        **extra,
    }


def sse(*chunks: dict[str, Any]) -> bytes:
    events = [f"data: {json.dumps(item)}\n\n" for item in chunks]
    return ("".join(events) + "data: [DONE]\n\n").encode()


def test_the_text_finish_reason_and_usage_of_a_stream() -> None:
    answer = StreamedAnswer()
    usage = {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}
    for item in (
        chunk({"role": "assistant", "content": ""}),
        chunk({"content": "Hel"}),
        chunk({"content": [{"type": "text", "text": "lo"}]}),
        chunk({"content": ""}, "stop", usage=usage),
    ):
        answer.add(item)
    assert (answer.text, answer.finish_reason, answer.usage) == ("Hello", "stop", usage)
    assert len(answer.events) == 4 and answer.model == "m"


def test_tool_calls_whole_or_in_pieces() -> None:
    answer = StreamedAnswer()
    answer.add(
        chunk({"tool_calls": [{"id": "a1", "function": {"name": "f", "arguments": '{"x"'}}]})
    )
    answer.add(chunk({"tool_calls": [{"function": {"arguments": ": 1}"}}]}))
    answer.add(chunk({"tool_calls": [{"id": "b2", "function": {"name": "g", "arguments": {}}}]}))
    assert answer.tool_calls == [ToolCall("a1", "f", '{"x": 1}'), ToolCall("b2", "g", "{}")]


def test_the_first_chunk_with_only_a_role_is_not_a_token() -> None:
    assert not carries_token(chunk({"role": "assistant", "content": ""}))
    assert carries_token(chunk({"content": "a"}))
    assert carries_token(chunk({"tool_calls": [{"function": {"name": "f", "arguments": ""}}]}))
    assert not carries_token("[DONE]")


def test_the_watch_sees_the_first_token_in_the_chunk_that_completes_its_event() -> None:
    body = sse(chunk({"role": "assistant", "content": ""}), chunk({"content": "Hi"}))
    start = body.index(b"data:", 1)  # the second event, the first token's
    end = body.index(b"\n\n", start)
    watch = FirstTokenWatch()
    assert not watch.feed(body[: start + 10])
    assert not watch.feed(body[start + 10 : end + 1])  # the blank line is not complete
    assert watch.feed(body[end + 1 : end + 2])
    assert watch.feed(b"")  # and stays seen


def test_the_watch_takes_crlf_events_and_ignores_what_is_not_json() -> None:
    watch = FirstTokenWatch()
    assert not watch.feed(b": a comment\r\n\r\ndata: not json\r\n\r\n")
    assert watch.feed(b'data: {"choices": [{"index": 0, "delta": {"content": "x"}}]}\r\n\r\n')
