"""The body worked out for the replay shortcut is the body the SDK sends to the simulator.

Arguments are drawn as users write them (ints for float fields, tuples for lists, enum
members, the SDK's own models, `None`s) and sent through the real SDK to the simulator; the
store key of the body the simulator received is compared with the shortcut's key.
"""

from __future__ import annotations

import asyncio
import enum
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mistralai.client import Mistral, models

from pytest_llmeval.calls.request_body import chat_body
from pytest_llmeval.calls.sdk_arguments import typed, typed_arguments
from pytest_llmeval.replay import StoreRequest
from pytest_llmeval.simulator import Simulator

MODEL = "ft:open-mistral-7b:a1b2c3d4:20240501:e5f6a7b8"
PATH = "/v1/chat/completions"


class Choice(str, enum.Enum):
    AUTO = "auto"
    NONE = "none"


class Label(enum.Enum):
    BILLING = "billing"
    REFUND = "refund"


class Level(enum.IntEnum):
    LOW = 1
    HIGH = 3


@pytest.fixture(scope="module")
def server() -> Iterator[Simulator]:
    with Simulator() as running:
        yield running


class Sender:
    """The SDK's async client on one event loop of its own, kept for the whole module."""

    def __init__(self, server: Simulator) -> None:
        self.server = server
        self.loop = asyncio.new_event_loop()
        self.client = Mistral(api_key="test", server_url=server.url)

    def key(self, messages: Any, params: dict[str, Any]) -> str:
        """The store key of the body the SDK sent to the simulator for these arguments."""
        call = self.client.chat.complete_async(model=MODEL, messages=messages, **params)
        self.loop.run_until_complete(call)
        return StoreRequest("POST", PATH, body=self.server.requests[-1].body).digest


@pytest.fixture(scope="module")
def sdk(server: Simulator) -> Iterator[Sender]:
    sender = Sender(server)
    yield sender
    sender.loop.run_until_complete(sender.client.sdk_configuration.async_client.aclose())  # type: ignore[union-attr]
    sender.loop.close()


def shortcut_key(messages: Any, params: dict[str, Any]) -> str | None:
    body = chat_body(MODEL, messages, params)
    return None if body is None else StoreRequest("POST", PATH, body=body).digest


texts = st.text(st.characters(codec="utf-8"), max_size=12)
labels = st.sampled_from(list(Label)) | st.sampled_from(list(Choice)) | texts
numbers = st.integers(-3, 3) | st.floats(-2, 2, allow_nan=False)
json_leaves = (
    st.none()
    | st.booleans()
    | st.integers()
    | texts
    | st.floats(-1e9, 1e9)
    | st.sampled_from(list(Level))
)
json_values = st.recursive(
    json_leaves | labels,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.lists(inner, max_size=3).map(tuple)
        | st.dictionaries(texts, inner, max_size=3)
    ),
    max_leaves=8,
)


def seq(items: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """A list argument as users pass it: a list or a tuple."""
    return st.lists(items, min_size=1, max_size=3).flatmap(
        lambda got: st.sampled_from([got, tuple(got)])
    )


content_chunks = seq(st.builds(lambda text: {"type": "text", "text": text}, texts))
contents = texts | labels | content_chunks
dict_messages = st.one_of(
    st.builds(lambda c: {"role": "system", "content": c}, contents),
    st.builds(lambda c: {"role": "user", "content": c}, contents),
    st.builds(lambda c: {"role": "assistant", "content": c}, texts | labels),
    st.builds(lambda c, p: {"role": "assistant", "content": c, "prefix": p}, texts, st.booleans()),
)
model_messages = st.one_of(
    st.builds(lambda c: models.SystemMessage(content=c), texts),
    st.builds(lambda c: models.UserMessage(content=c), texts),
    st.builds(lambda c: models.AssistantMessage(content=c), texts),
)
TOOL = {"function": {"name": "lookup", "parameters": {"type": "object", "properties": {}}}}
params_strategy = st.fixed_dictionaries(
    {},
    optional={
        "temperature": st.none() | numbers,
        "top_p": st.none() | st.integers(0, 1) | st.floats(0, 1),
        "presence_penalty": numbers,
        "frequency_penalty": numbers,
        "max_tokens": st.none() | st.integers(1, 500),
        "random_seed": st.integers(0, 2**31),
        "n": st.integers(1, 3),
        "stop": st.none() | texts | labels | seq(texts | labels),
        "safe_prompt": st.none() | st.booleans(),
        "stream": st.just(False),
        "tool_choice": st.sampled_from(list(Choice)) | st.sampled_from(["auto", "none", "any"]),
        "tools": seq(st.sampled_from([TOOL, {"type": "function", **TOOL}])),
        "response_format": st.sampled_from(
            [
                {"type": "json_object"},
                {"type": "text"},
                models.ResponseFormat(type="json_object"),
            ]
        ),
        "prediction": st.sampled_from([{"content": "x"}, {"type": "content", "content": "y"}]),
        "metadata": st.dictionaries(texts, json_values, max_size=3),
    },
)
messages_strategy = seq(dict_messages | model_messages)


@settings(
    max_examples=250,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(messages=messages_strategy, params=params_strategy)
def test_the_shortcut_key_is_the_key_of_the_body_the_sdk_sends(
    sdk: Sender, messages: Any, params: dict[str, Any]
) -> None:
    key = shortcut_key(messages, params)
    assert key is not None, "arguments users write are worked out without the SDK"
    assert key == sdk.key(messages, params)


# Arguments the SDK rewrites in ways not worked out here, or refuses: the shortcut must either
# stand aside or give a key that no recording can have (one the SDK would not send unchanged).
odd_values = st.one_of(
    st.booleans(),
    st.sampled_from([float("nan"), float("inf"), "0.5", 10**400, {1: "x"}, {"a"}, Level.HIGH]),
    json_values,
)
odd_params = st.dictionaries(
    st.sampled_from(["temperature", "max_tokens", "stop", "metadata", "tool_choice", "top_k"]),
    odd_values,
    max_size=2,
)
odd_messages = seq(
    st.fixed_dictionaries(
        {"role": st.sampled_from(["user", "system", "assistant", "tool", Choice.AUTO, 3])},
        optional={"content": json_values, "name": texts, "extra": json_values},
    )
)


@settings(
    max_examples=250,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(messages=odd_messages | messages_strategy, params=odd_params)
def test_a_key_for_odd_arguments_is_the_sdks_or_one_no_recording_has(
    sdk: Sender, messages: Any, params: dict[str, Any]
) -> None:
    body = chat_body(MODEL, messages, params)
    if body is None:
        return
    key = StoreRequest("POST", PATH, body=body).digest
    try:
        sent = sdk.key(messages, params)
    except Exception:
        sent = None  # the SDK refuses these arguments
    if key == sent:
        return
    # Every recording holds a body the SDK sent; sending this body again must change it.
    fields = {name: value for name, value in body.items() if name not in ("model", "messages")}
    try:
        resent = sdk.key(body["messages"], fields)
    except Exception:
        return  # the SDK refuses this body: no recording can hold it
    assert resent != key, "the shortcut's key could find a recording the SDK would not use"


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(messages=odd_messages | messages_strategy, params=params_strategy | odd_params)
def test_typed_arguments_make_the_sdk_send_the_same_body(
    sdk: Sender, messages: Any, params: dict[str, Any]
) -> None:
    """The endpoint hands the SDK its own models, validated once per type: same body, or the
    same refusal."""
    try:
        plain = sdk.key(messages, params)
    except Exception as error:
        plain = type(error).__name__
    typed_messages, typed_params = typed_arguments(messages, params)
    try:
        sent = sdk.key(typed_messages, typed_params)
    except Exception as error:
        sent = type(error).__name__
    assert sent == plain


def test_dicts_become_the_sdks_models_and_the_rest_stays_as_given() -> None:
    messages = typed(
        "messages", [{"role": "system", "content": "s"}, {"role": "user", "content": "u"}]
    )
    assert [type(message).__name__ for message in messages] == ["SystemMessage", "UserMessage"]
    assert type(typed("response_format", {"type": "json_object"})).__name__ == "ResponseFormat"
    refused = [{"role": "pirate", "content": "arr"}]
    assert typed("messages", refused) is refused  # the SDK reports it, as it would have
    assert typed("temperature", 0) == 0 and typed("response_format", None) is None


def test_users_shapes_give_the_sdks_body() -> None:
    # The cases of issue 14, spelled out, so a failure of the property above reads plainly.
    body = chat_body(
        MODEL,
        ({"role": "user", "content": "hi"},),
        {"temperature": 0, "stop": ("\n",), "tool_choice": Choice.AUTO, "max_tokens": None},
    )
    assert body == {
        "model": MODEL,
        "messages": [{"role": "user", "content": "hi"}],
        "stream": False,
        "temperature": 0.0,
        "stop": ["\n"],
        "tool_choice": "auto",
    }
    assert type(body["temperature"]) is float


@pytest.mark.parametrize(
    "params",
    [
        pytest.param({"model": "mistral-large-latest"}, id="model-twice"),
        pytest.param({"timeout_ms": 500}, id="not-body"),
        pytest.param({"temperature": True}, id="bool-for-float"),
        pytest.param({"temperature": float("nan")}, id="nan"),
        pytest.param({"metadata": {1: "x"}}, id="int-key"),
        pytest.param({"stop": {"\n"}}, id="set"),
    ],
)
def test_arguments_not_worked_out_are_left_to_the_sdk(params: dict[str, Any]) -> None:
    assert chat_body(MODEL, [{"role": "user", "content": "hi"}], params) is None
