"""Does the travel assistant, fine-tuned for function calling, call the right tools?

The model reads a traveller's question and either calls one of three tools (get_weather,
find_flights, convert_currency) or answers from a tool's result. Four groups decide:

- tool_choice (metric): on the fine-tuning validation split, the first tool call names the
  expected tool, and its arguments are strict JSON valid against that tool's parameters and
  equal to the expected ones;
- tool_answers (metric): given a tool's result, the answer is the expected sentence;
- conversations (metric): a whole conversation, the tools run for real, turn by turn;
- streaming (metric): the answer streamed as the app shows it, with its time to first token.
"""

import json

import pytest

from pytest_llmeval import cases

TOOL_CALLS = "tool_calls.jsonl"  # fine-tuning rows whose last assistant message calls a tool
CONVERSATIONS = "conversations.jsonl"  # rows that end with the answer to a tool's result
TOOLS = cases(TOOL_CALLS, limit=1)[0].meta["tools"]  # the row's own tools, as trained

pytestmark = pytest.mark.llm_prompt(temperature=0.0, max_tokens=200)


@pytest.mark.llm_metric("tool_choice", threshold=0.75)
@pytest.mark.parametrize("case", cases(TOOL_CALLS))
def test_tool_call(case, llm_reply, llm_json):
    # llm_reply sent the row's request with the row's tools, ahead of time.
    expected = case.expected_tool_calls[0]
    # no_tool_call when it answers in text, unknown_tool for another tool, else the usual
    # strict-JSON categories for the arguments against the tool's parameters schema.
    arguments = llm_json.tool_call(llm_reply, name=expected.name)
    assert arguments == json.loads(expected.arguments)


@pytest.mark.llm_metric("tool_answers", threshold=1.0)
@pytest.mark.parametrize("case", cases(CONVERSATIONS))
def test_answer_from_tool_result(case, llm):
    # case.messages ends with the tool's result; the expected reply is the final answer.
    reply = llm.chat(case.messages, tools=case.meta["tools"])
    assert reply.tool_calls == []
    assert reply.text == case.expected


def get_weather(city, day):
    return {"city": city, "day": day, "forecast": "sunny", "high_c": 24}


def convert_currency(amount, **currencies):
    return {"amount": round(amount * 1.08, 2), "currency": currencies["to"]}


@pytest.mark.llm_metric("conversations", threshold=1.0)
def test_weekend_in_lisbon(llm):
    conversation = llm.run_tools(
        "Weekend in Lisbon: how is the weather tomorrow, and what are my 120 EUR in USD?",
        TOOLS,
        functions={"get_weather": get_weather, "convert_currency": convert_currency},
    )
    assert sorted(run.name for run in conversation.calls) == ["convert_currency", "get_weather"]
    assert "129.6" in conversation.final.text and "sunny" in conversation.final.text


@pytest.mark.llm_metric("streaming", threshold=1.0)
def test_streamed_answer(llm):
    reply = llm.chat("In one sentence: why visit Lisbon in March?", stream=True)
    assert reply.finish_reason == "stop"
    assert "Lisbon" in reply.text
    assert reply.time_to_first_token_s is not None
