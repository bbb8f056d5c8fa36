"""The transports under the SDK: Retry-After, backoff, adaptive concurrency, retries against
the simulator, and record/replay through the real `Endpoint`.

No test patches the SDK or reaches the network: HTTP goes to the simulator on 127.0.0.1,
through the real `Endpoint` or through an `httpx2.AsyncClient` over a `RetryTransport`.
"""

from __future__ import annotations

import asyncio
import itertools
import socket
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import httpx2
import pytest

from pytest_llmeval.calls.endpoint import Endpoint, Reply
from pytest_llmeval.calls.retry import RetryPolicy, retry_after_seconds
from pytest_llmeval.calls.transport import (
    AdaptiveLimiter,
    CallStats,
    Circuit,
    RetryTransport,
    current_call,
)
from pytest_llmeval.case_record import CaseRecorder, GroupSettings
from pytest_llmeval.errors import LLMAPIError, ReplayMissError
from pytest_llmeval.session.options import endpoint_settings, retry_policy
from pytest_llmeval.simulator import Simulator
from tests.conftest import CANARY_KEY, FT_MODEL

CHAT = "/v1/chat/completions"
# Fast and deterministic backoff: 0.01 s, 0.02 s, 0.04 s, ...
FAST = retry_policy(timeout_s=2.0, max_call_time_s=5.0, initial_delay_s=0.01, jitter_s=0.0)
# How far past a time bound a call may end on a busy machine (two cores shared by many
# runs: a thread start or the SDK's import alone has taken over a second). As large as can
# still tell a bounded call from an unbounded one: every unbounded wait these tests guard
# against (a 5 s budget slept, a 10 s hang, a 30 s Retry-After) is longer than any bound
# plus this margin, and the attempts are counted as well.
MARGIN_S = 4.0


# -- retry_after_seconds ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        pytest.param({"Retry-After": "3"}, 3.0, id="seconds"),
        pytest.param({"Retry-After": "0.25"}, 0.25, id="fractional-seconds"),
        pytest.param({"retry-after-ms": "150", "Retry-After": "30"}, 0.15, id="ms-wins"),
        pytest.param({"retry-after-ms": "80"}, 0.08, id="ms-alone"),
        pytest.param({"retry-after-ms": "soon", "Retry-After": "2"}, 2.0, id="bad-ms-falls-back"),
        pytest.param({"Retry-After": "-5"}, None, id="negative-means-nothing"),
        pytest.param({"retry-after-ms": "-40"}, None, id="negative-ms-means-nothing"),
        pytest.param({"retry-after-ms": "-40", "Retry-After": "2"}, 2.0, id="bad-ms-then-s"),
        pytest.param({"Retry-After": "nan"}, None, id="nan"),
        pytest.param({"Retry-After": "inf"}, None, id="infinite"),
        pytest.param({"retry-after-ms": "NaN"}, None, id="nan-ms"),
        pytest.param({"Retry-After": "86400"}, 86400.0, id="a-day"),
        pytest.param({"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}, 0.0, id="past-date"),
        pytest.param({"Retry-After": "in a while"}, None, id="garbage"),
        pytest.param({"Retry-After": ""}, None, id="empty"),
        pytest.param({}, None, id="absent"),
    ],
)
def test_retry_after_seconds_reads_the_servers_delay(
    headers: dict[str, str], expected: float | None
) -> None:
    assert retry_after_seconds(httpx2.Headers(headers)) == expected


def test_retry_after_seconds_reads_an_http_date() -> None:
    when = datetime.now(timezone.utc) + timedelta(seconds=30)
    headers = httpx2.Headers({"Retry-After": format_datetime(when, usegmt=True)})
    # An HTTP date has whole seconds: the wait is 29 to 30 seconds from now.
    assert retry_after_seconds(headers) == pytest.approx(29.5, abs=1.0)


# -- RetryPolicy.delay ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("retry_number", "expected"),
    [
        (1, 0.5),
        (2, 1.0),
        (3, 2.0),
        (4, 3.0),
        (5, 3.0),
        (60, 3.0),
        pytest.param(1100, 3.0, id="very-many-retries"),
    ],
)
def test_backoff_doubles_up_to_the_cap(retry_number: int, expected: float) -> None:
    policy = retry_policy(initial_delay_s=0.5, max_delay_s=3.0, jitter_s=0.0)
    assert policy.delay(retry_number, None) == expected


def test_a_zero_retry_after_is_not_a_busy_loop() -> None:
    policy = retry_policy(min_server_delay_s=0.1)
    assert policy.delay(1, httpx2.Response(429, headers={"Retry-After": "0"})) == 0.1
    assert policy.delay(1, httpx2.Response(503, headers={"retry-after-ms": "0"})) == 0.1


def test_jitter_stays_within_its_bounds_and_varies() -> None:
    policy = retry_policy(initial_delay_s=1.0, max_delay_s=8.0, jitter_s=0.25)
    delays = [policy.delay(1, None) for _ in range(300)]
    assert all(1.0 <= delay <= 1.25 for delay in delays)
    assert len(set(delays)) > 1
    capped = [policy.delay(10, None) for _ in range(300)]
    assert all(8.0 <= delay <= 8.25 for delay in capped)


def test_the_servers_retry_after_wins_over_backoff_and_cap() -> None:
    policy = retry_policy(initial_delay_s=0.5, max_delay_s=3.0, jitter_s=0.25)
    asked = httpx2.Response(429, headers={"Retry-After": "7"})
    assert policy.delay(1, asked) == 7.0
    assert policy.delay(1, httpx2.Response(503, headers={"retry-after-ms": "400"})) == 0.4
    # A response that does not ask gets the ordinary backoff.
    assert 1.0 <= policy.delay(2, httpx2.Response(500)) <= 1.25


# -- AdaptiveLimiter --------------------------------------------------------------------------


def test_limiter_never_lets_more_than_its_limit_in_flight() -> None:
    limiter = AdaptiveLimiter(3)
    active = 0
    seen: list[int] = []

    async def work(number: int) -> None:
        nonlocal active
        await limiter.acquire()
        active += 1
        seen.append(active)
        await asyncio.sleep(0.001 * (number % 3))
        active -= 1
        await limiter.release("answered")

    async def main() -> None:
        await asyncio.gather(*(work(number) for number in range(60)))

    asyncio.run(main())
    assert len(seen) == 60
    assert max(seen) == 3
    assert limiter.peak_in_flight == 3
    assert limiter.in_flight == 0


def test_a_429_halves_the_limit_but_never_below_one() -> None:
    async def throttle_once(limiter: AdaptiveLimiter) -> None:
        await limiter.acquire()
        await limiter.release("throttled")

    for start, after in [(8, 4), (3, 1), (1, 1), (0, 1)]:
        limiter = AdaptiveLimiter(start)
        asyncio.run(throttle_once(limiter))
        assert limiter.limit == after, start

    # At limit 1, calls still go through, one at a time.
    limiter = AdaptiveLimiter(1)

    async def twice() -> None:
        await throttle_once(limiter)
        await asyncio.wait_for(throttle_once(limiter), timeout=2)

    asyncio.run(twice())
    assert limiter.limit == 1
    assert limiter.peak_in_flight == 1


def test_a_burst_of_simultaneous_429s_counts_once() -> None:
    limiter = AdaptiveLimiter(16)

    async def burst(size: int) -> None:
        for _ in range(size):
            await limiter.acquire()
        assert limiter.in_flight == size
        for _ in range(size):
            await limiter.release("throttled")

    async def main() -> list[int]:
        await burst(16)
        after_first = limiter.limit
        await burst(after_first)
        after_second_within_a_second = limiter.limit
        await asyncio.sleep(1.05)
        await burst(1)
        return [after_first, after_second_within_a_second, limiter.limit]

    # A later 429, more than a second after the cut, is a new signal.
    assert asyncio.run(main()) == [8, 8, 4]
    assert limiter.in_flight == 0


def test_failures_other_than_429_neither_cut_nor_grow_the_limit() -> None:
    limiter = AdaptiveLimiter(8)

    async def main() -> list[int]:
        await limiter.acquire()
        await limiter.release("throttled")
        seen = [limiter.limit]
        for _ in range(20):
            await limiter.acquire()
            await limiter.release("failed")
        seen.append(limiter.limit)
        return seen

    assert asyncio.run(main()) == [4, 4]


def test_sustained_success_grows_the_limit_back_by_one_up_to_the_maximum() -> None:
    limiter = AdaptiveLimiter(8)

    async def call(*, throttled: bool) -> None:
        await limiter.acquire()
        await limiter.release("throttled" if throttled else "answered")

    async def main() -> list[int]:
        await call(throttled=True)
        limits = [limiter.limit]
        for _ in range(60):
            await call(throttled=False)
            limits.append(limiter.limit)
        return limits

    limits = asyncio.run(main())
    assert limits[0] == 4
    # One step up after as many successes in a row as the current limit: 4, then 5, ...
    assert limits[1:5] == [4, 4, 4, 5]
    assert limits[5:10] == [5, 5, 5, 5, 6]
    steps = [later - earlier for earlier, later in itertools.pairwise(limits)]
    assert set(steps) <= {0, 1}
    assert limits[-1] == 8
    assert limiter.limit == limiter.max_limit == 8


# -- RetryTransport against the simulator -----------------------------------------------------


def chat_body(text: str, model: str = FT_MODEL) -> dict[str, Any]:
    return {"model": model, "messages": [{"role": "user", "content": text}]}


async def post_chat(
    url: str,
    text: str,
    stats: CallStats,
    *,
    policy: RetryPolicy = FAST,
    limiter: AdaptiveLimiter | None = None,
) -> httpx2.Response:
    """One chat request through a RetryTransport, with `stats` as the current call."""
    current_call.set(stats)
    transport = RetryTransport(httpx2.AsyncHTTPTransport(), policy, limiter or AdaptiveLimiter(4))
    async with httpx2.AsyncClient(transport=transport) as client:
        return await client.post(f"{url}{CHAT}", json=chat_body(text))


def new_stats() -> CallStats:
    return CallStats(endpoint=CHAT, model=FT_MODEL)


@pytest.fixture
def sim() -> Iterator[Simulator]:
    with Simulator() as server:
        yield server


def test_a_503_then_200_succeeds_with_one_retry(sim: Simulator) -> None:
    sim.add_rule({"match": "flaky", "reply": "recovered", "fail": [503]})
    stats = new_stats()
    response = asyncio.run(post_chat(sim.url, "flaky call", stats))
    assert response.status_code == 200
    assert response.json()["choices"][0]["message"]["content"] == "recovered"
    assert (stats.attempts, stats.retries) == (2, 1)
    assert sim.count(CHAT) == 2


def test_a_retry_after_within_the_budget_is_waited_out(sim: Simulator) -> None:
    sim.add_rule({"match": "busy", "reply": "done", "fail": [429], "retry_after": 0.3})
    stats = new_stats()
    started = time.monotonic()
    response = asyncio.run(post_chat(sim.url, "busy hour", stats))
    elapsed = time.monotonic() - started
    assert response.status_code == 200
    assert stats.attempts == 2
    # The server asked for 0.3 s; the policy's own backoff would have waited 0.01 s.
    assert elapsed >= 0.3


def test_a_400_is_not_retried(sim: Simulator) -> None:
    sim.add_rule({"match": "bad", "status": 400})
    stats = new_stats()
    response = asyncio.run(post_chat(sim.url, "bad request", stats))
    assert response.status_code == 400
    assert response.json()["object"] == "error"
    assert (stats.attempts, stats.retries) == (1, 0)
    assert sim.count(CHAT) == 1


def test_a_persistent_500_raises_naming_status_path_and_model_within_the_budget(
    sim: Simulator,
) -> None:
    sim.add_rule({"match": "broken", "status": 500})
    policy = retry_policy(timeout_s=1.0, max_call_time_s=0.5, initial_delay_s=0.01, jitter_s=0)
    stats = new_stats()
    started = time.monotonic()
    with pytest.raises(LLMAPIError) as caught:
        asyncio.run(post_chat(sim.url, "broken call", stats, policy=policy))
    elapsed = time.monotonic() - started
    error = caught.value
    message = str(error)
    assert "HTTP 500" in message
    assert CHAT in message
    assert FT_MODEL in message
    assert "within 0.5s" in message
    assert (error.status_code, error.endpoint, error.model) == (500, CHAT, FT_MODEL)
    assert error.attempts == stats.attempts == sim.count(CHAT) >= 3
    assert stats.retries == stats.attempts - 1
    assert elapsed < 0.5 + MARGIN_S


def test_a_refused_connection_raises_a_connection_error() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    # The port is closed now: every attempt is refused at once.
    policy = retry_policy(timeout_s=1.0, max_call_time_s=0.5, initial_delay_s=0.01, jitter_s=0)
    stats = new_stats()
    started = time.monotonic()
    with pytest.raises(LLMAPIError, match="connection error") as caught:
        asyncio.run(post_chat(f"http://127.0.0.1:{port}", "anyone there", stats, policy=policy))
    elapsed = time.monotonic() - started
    assert caught.value.status_code is None
    assert caught.value.attempts == stats.attempts >= 2
    assert elapsed < 0.5 + MARGIN_S


def test_a_hang_past_the_timeout_is_retried_then_raises_timed_out(sim: Simulator) -> None:
    sim.add_rule({"match": "slow", "hang_s": 10})
    policy = retry_policy(timeout_s=0.2, max_call_time_s=0.6, initial_delay_s=0.01, jitter_s=0)
    stats = new_stats()
    started = time.monotonic()
    with pytest.raises(LLMAPIError, match="timed out") as caught:
        asyncio.run(post_chat(sim.url, "slow call", stats, policy=policy))
    elapsed = time.monotonic() - started
    assert caught.value.status_code is None
    assert caught.value.attempts == stats.attempts >= 2
    assert 2 <= sim.count(CHAT) <= stats.attempts
    assert elapsed < 0.6 + MARGIN_S


@pytest.mark.parametrize("status", [429, 503])
def test_a_retry_after_beyond_the_budget_gives_up_at_once(sim: Simulator, status: int) -> None:
    sim.add_rule({"match": "later", "fail": [status], "retry_after": 30})
    policy = retry_policy(timeout_s=2.0, max_call_time_s=5.0, initial_delay_s=0.01, jitter_s=0)
    stats = new_stats()
    started = time.monotonic()
    with pytest.raises(LLMAPIError, match=f"HTTP {status}") as caught:
        asyncio.run(post_chat(sim.url, "come back later", stats, policy=policy))
    elapsed = time.monotonic() - started
    assert caught.value.status_code == status
    assert caught.value.attempts == 1
    assert sim.count(CHAT) == 1
    # Neither the 30 s asked for nor the 5 s budget was slept.
    assert elapsed < MARGIN_S


def test_a_429_storm_shrinks_concurrency_and_every_request_succeeds(sim: Simulator) -> None:
    sim.add_rule({"match": "storm", "fail": [429, 429], "retry_after_ms": 20, "latency_s": 0.03})
    limiter = AdaptiveLimiter(16)
    transport = RetryTransport(httpx2.AsyncHTTPTransport(), FAST, limiter)
    stats = [new_stats() for _ in range(30)]

    async def one(client: httpx2.AsyncClient, number: int) -> httpx2.Response:
        current_call.set(stats[number])
        return await client.post(f"{sim.url}{CHAT}", json=chat_body(f"storm {number}"))

    async def main() -> list[httpx2.Response]:
        async with httpx2.AsyncClient(transport=transport) as client:
            return await asyncio.gather(*(one(client, number) for number in range(30)))

    responses = asyncio.run(main())
    assert [response.status_code for response in responses] == [200] * 30
    assert [s.attempts for s in stats] == [3] * 30
    assert sum(s.retries for s in stats) == 60
    assert sim.count(CHAT) == 90
    assert limiter.limit < 16
    assert limiter.peak_in_flight <= 16
    assert sim.max_in_flight <= 16
    assert limiter.in_flight == 0


# -- Endpoint: the real SDK over the whole stack ----------------------------------------------


@pytest.fixture
def keyed_sim() -> Iterator[Simulator]:
    # Answers only requests that carry the canary key, so the key is known to be sent.
    with Simulator(require_api_key=CANARY_KEY) as server:
        yield server


MakeEndpoint = Callable[..., Endpoint]


@pytest.fixture
def make_endpoint(tmp_path: Path, keyed_sim: Simulator) -> Iterator[MakeEndpoint]:
    made: list[Endpoint] = []

    def make(mode: str = "new_episodes", **overrides: Any) -> Endpoint:
        options: dict[str, Any] = {
            "model": FT_MODEL,
            "server_url": keyed_sim.url,
            "api_key": CANARY_KEY,
            "record_mode": mode,
            "store_dir": tmp_path / "store",
            "timeout_s": 5.0,
            "max_call_time_s": 10.0,
            **overrides,
        }
        endpoint = Endpoint(endpoint_settings(**options))
        made.append(endpoint)
        return endpoint

    yield make
    for endpoint in made:
        endpoint.close()


def ask(
    endpoint: Endpoint, text: str, recorder: CaseRecorder | None = None, **params: Any
) -> Reply:
    return endpoint.chat([{"role": "user", "content": text}], params, recorder=recorder)


def new_recorder(name: str = "test_case") -> CaseRecorder:
    return CaseRecorder(nodeid=f"tests/test_x.py::{name}", settings=GroupSettings(group="g"))


def recordings(store: Path) -> list[Path]:
    return sorted(store.rglob("*.json"))


def test_mode_all_records_and_new_episodes_replays_without_a_request(
    make_endpoint: MakeEndpoint, keyed_sim: Simulator, tmp_path: Path
) -> None:
    keyed_sim.add_rule({"match": "refund", "reply": "Refunds take 5 days."})
    recording = make_endpoint("all")
    assert ask(recording, "How do I get a refund?").text == "Refunds take 5 days."
    assert keyed_sim.count(CHAT) == 1
    assert len(recordings(tmp_path / "store")) == 1
    # "all" calls the model even when a recording exists, and overwrites it.
    ask(recording, "How do I get a refund?")
    assert keyed_sim.count(CHAT) == 2
    assert len(recordings(tmp_path / "store")) == 1

    replaying = make_endpoint("new_episodes")
    recorder = new_recorder()
    reply = ask(replaying, "How do I get a refund?", recorder)
    assert reply.text == "Refunds take 5 days."
    assert reply.model == FT_MODEL
    assert keyed_sim.count(CHAT) == 2
    assert (recorder.store_hits, recorder.store_misses) == (1, 0)
    # A new request goes to the model and is recorded for next time.
    ask(replaying, "Something new")
    assert keyed_sim.count(CHAT) == 3
    assert len(recordings(tmp_path / "store")) == 2


def test_mode_none_with_an_empty_store_raises_a_replay_miss(
    make_endpoint: MakeEndpoint, keyed_sim: Simulator
) -> None:
    with pytest.raises(ReplayMissError) as caught:
        ask(make_endpoint("none"), "Anything recorded?")
    assert isinstance(caught.value, LLMAPIError)
    message = str(caught.value)
    assert f"{CHAT} (model {FT_MODEL})" in message
    assert "nothing recorded" in message
    assert "--llm-record-mode=new_episodes" in message
    assert keyed_sim.count() == 0


def test_a_replay_miss_names_the_difference_to_the_nearest_recording(
    make_endpoint: MakeEndpoint, keyed_sim: Simulator
) -> None:
    ask(make_endpoint("new_episodes"), "Classify: my invoice was charged twice", temperature=0.0)
    assert keyed_sim.count(CHAT) == 1

    replaying = make_endpoint("none")
    with pytest.raises(ReplayMissError) as caught:
        ask(replaying, "Classify: my invoice was charged twice", temperature=0.7)
    message = str(caught.value)
    assert "temperature 0.7 != 0.0 (recorded)" in message
    assert "nearest recording: v1-chat-completions/" in message
    assert "messages" not in message.split("nearest recording")[0]
    # The recorded request itself still replays, and nothing reached the server.
    ask(replaying, "Classify: my invoice was charged twice", temperature=0.0)
    assert keyed_sim.count(CHAT) == 1


def test_repeated_identical_calls_are_recorded_and_replayed_as_samples_in_order(
    make_endpoint: MakeEndpoint, keyed_sim: Simulator, tmp_path: Path
) -> None:
    keyed_sim.add_rule({"match": "flip", "replies": ["first", "second"]})
    recording = make_endpoint("new_episodes")
    case = new_recorder()
    assert [ask(recording, "flip a coin", case).text for _ in range(2)] == ["first", "second"]
    assert keyed_sim.count(CHAT) == 2
    names = [file.name for file in recordings(tmp_path / "store")]
    assert len(names) == 2
    assert names[0].endswith("-0.json")
    assert names[1].endswith("-1.json")
    assert names[0][:-7] == names[1][:-7]

    replaying = make_endpoint("none")
    rerun = new_recorder()
    assert [ask(replaying, "flip a coin", rerun).text for _ in range(2)] == ["first", "second"]
    assert keyed_sim.count(CHAT) == 2
    with pytest.raises(ReplayMissError, match=r"sample 2 not recorded \(only samples 0-1 exist\)"):
        ask(replaying, "flip a coin", rerun)
    # Another case starts again from sample 0.
    assert ask(replaying, "flip a coin", new_recorder("other")).text == "first"


def test_the_case_record_counts_calls_tokens_retries_and_store_use(
    make_endpoint: MakeEndpoint, keyed_sim: Simulator
) -> None:
    # retry-after-ms keeps the Endpoint's default backoff (0.5 s and more) out of the test.
    keyed_sim.add_rule({"match": "flaky", "reply": "ok", "fail": [503], "retry_after_ms": 10})
    endpoint = make_endpoint("new_episodes")

    first = new_recorder("first")
    reply = ask(endpoint, "flaky question", first)
    assert reply.text == "ok"
    assert keyed_sim.count(CHAT) == 2
    usage = first.to_record(outcome="passed", duration_s=0.1)["usage"]
    assert usage["calls"] == 1
    assert usage["retries"] == 1
    assert (usage["store_hits"], usage["store_misses"]) == (0, 1)
    assert usage["prompt_tokens"] == reply.usage.prompt_tokens > 0
    assert usage["completion_tokens"] == reply.usage.completion_tokens > 0
    assert first.finish_reason == "stop"

    # A later case: one call replayed from the store, one new call sent.
    second = new_recorder("second")
    replayed = ask(endpoint, "flaky question", second)
    fresh = ask(endpoint, "a new question", second)
    assert keyed_sim.count(CHAT) == 3
    usage = second.to_record(outcome="passed", duration_s=0.1)["usage"]
    assert usage["calls"] == 2
    assert usage["retries"] == 0
    assert (usage["store_hits"], usage["store_misses"]) == (1, 1)
    assert usage["prompt_tokens"] == replayed.usage.prompt_tokens + fresh.usage.prompt_tokens
    assert usage["completion_tokens"] == (
        replayed.usage.completion_tokens + fresh.usage.completion_tokens
    )


def test_a_400_through_the_endpoint_fails_at_once_and_is_not_recorded(
    make_endpoint: MakeEndpoint, keyed_sim: Simulator, tmp_path: Path
) -> None:
    keyed_sim.add_rule({"match": "invalid", "status": 400})
    case = new_recorder()
    with pytest.raises(LLMAPIError) as caught:
        ask(make_endpoint("new_episodes"), "an invalid request", case)
    error = caught.value
    assert not isinstance(error, ReplayMissError)
    assert "HTTP 400" in str(error)
    assert FT_MODEL in str(error)
    assert (error.status_code, error.attempts) == (400, 1)
    assert keyed_sim.count(CHAT) == 1
    assert (case.calls, case.retries, case.store_misses) == (1, 0, 1)
    assert recordings(tmp_path / "store") == []


def test_a_persistent_503_through_the_endpoint_is_an_llm_api_error_within_the_budget(
    make_endpoint: MakeEndpoint, keyed_sim: Simulator
) -> None:
    keyed_sim.add_rule({"match": "down", "status": 503})
    endpoint = make_endpoint("new_episodes", max_call_time_s=0.4)
    case = new_recorder()
    started = time.monotonic()
    with pytest.raises(LLMAPIError) as caught:
        ask(endpoint, "is the server down", case)
    elapsed = time.monotonic() - started
    message = str(caught.value)
    assert "HTTP 503" in message
    assert f"POST {CHAT} (model {FT_MODEL})" in message
    assert caught.value.status_code == 503
    assert case.calls == 1
    assert elapsed < 0.4 + MARGIN_S


def test_the_api_key_never_reaches_a_stored_file(
    make_endpoint: MakeEndpoint, keyed_sim: Simulator, tmp_path: Path
) -> None:
    keyed_sim.add_rule({"match": "echo", "echo": True})
    endpoint = make_endpoint("new_episodes")
    ask(endpoint, "echo this back", temperature=0.0)
    ask(endpoint, "another question", max_tokens=20)
    assert endpoint.model_info().root == "open-mistral-7b"
    requests = keyed_sim.requests
    assert len(requests) == 3
    assert all(request.has_authorization for request in requests)
    files = [path for path in (tmp_path / "store").rglob("*") if path.is_file()]
    assert len(files) == 3
    assert any("v1-models" in str(path) for path in files)
    for path in files:
        assert CANARY_KEY.encode() not in path.read_bytes(), path


LOOPBACK = ("127.0.0.1", "::1", "localhost")


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Name lookups and connects beyond loopback are refused and noted."""
    attempts: list[str] = []
    lookup, connect = socket.getaddrinfo, socket.socket.connect

    def guarded_lookup(host: Any, *args: Any, **kwargs: Any) -> Any:
        name = host.decode() if isinstance(host, bytes) else host
        if name not in LOOPBACK:
            attempts.append(f"getaddrinfo {host}")
            raise OSError("network access in a test")
        return lookup(host, *args, **kwargs)

    def guarded_connect(self: socket.socket, address: Any) -> Any:
        if not isinstance(address, tuple) or address[0] not in LOOPBACK:
            attempts.append(f"connect {address}")
            raise OSError("network access in a test")
        return connect(self, address)

    monkeypatch.setattr(socket, "getaddrinfo", guarded_lookup)
    monkeypatch.setattr(socket.socket, "connect", guarded_connect)
    return attempts


def test_the_public_api_without_a_key_fails_before_sending(
    tmp_path: Path, no_network: list[str]
) -> None:
    settings = endpoint_settings(
        model=FT_MODEL,
        server_url=None,
        api_key=None,
        record_mode="new_episodes",
        store_dir=tmp_path / "store",
        max_call_time_s=2.0,
    )
    endpoint = Endpoint(settings)
    try:
        with pytest.raises(LLMAPIError, match="MISTRAL_API_KEY is not set") as caught:
            ask(endpoint, "hello")
    finally:
        endpoint.close()
    assert "--llm-server-url" in str(caught.value)
    assert no_network == []
    assert recordings(tmp_path / "store") == []


def test_a_recording_replays_for_the_public_api_without_a_key_or_network(
    make_endpoint: MakeEndpoint, keyed_sim: Simulator, tmp_path: Path, no_network: list[str]
) -> None:
    # Recorded against the simulator, over loopback.
    keyed_sim.add_rule({"match": "refund", "reply": "Refunds take 5 days."})
    recording = make_endpoint("new_episodes")
    ask(recording, "How do I get a refund?")
    recording.close()

    settings = endpoint_settings(
        model=FT_MODEL,
        server_url=None,
        api_key=None,
        record_mode="none",
        store_dir=tmp_path / "store",
        max_call_time_s=2.0,
    )
    endpoint = Endpoint(settings)
    try:
        assert ask(endpoint, "How do I get a refund?").text == "Refunds take 5 days."
    finally:
        endpoint.close()
    assert no_network == []
    assert keyed_sim.count(CHAT) == 1


# -- the circuit ------------------------------------------------------------------------------


def test_the_circuit_opens_after_consecutive_connection_failures_and_closes_on_an_answer() -> None:
    circuit = Circuit(threshold=3, probe_after_s=3600)
    for _ in range(2):
        circuit.connection_failed("connection error (ConnectError: refused)")
        assert circuit.allows()
    circuit.answered()  # an answer in between starts the count again
    for _ in range(3):
        assert circuit.allows()
        circuit.connection_failed("connection error (ConnectError: refused)")
    assert circuit.is_open
    assert not circuit.allows() and not circuit.allows()
    assert circuit.refused_calls == 2
    circuit.answered()
    assert not circuit.is_open and circuit.allows()


def test_an_open_circuit_lets_one_probe_through_after_its_wait() -> None:
    circuit = Circuit(threshold=1, probe_after_s=0.0)
    circuit.connection_failed("refused")
    assert circuit.is_open
    assert circuit.allows()  # the probe


def test_a_dead_endpoint_costs_a_few_attempts_then_every_call_fails_at_once() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    policy = retry_policy(timeout_s=1.0, max_call_time_s=30.0, initial_delay_s=0.01, jitter_s=0)
    transport = RetryTransport(httpx2.AsyncHTTPTransport(), policy, AdaptiveLimiter(4))

    async def calls() -> list[BaseException]:
        async with httpx2.AsyncClient(transport=transport, base_url=url) as client:
            errors: list[BaseException] = []
            for _ in range(5):
                try:
                    await client.post(CHAT, json={"model": FT_MODEL, "messages": []})
                except LLMAPIError as error:
                    errors.append(error)
            return errors

    errors = asyncio.run(calls())
    assert [type(error).__name__ for error in errors] == ["EndpointDownError"] * 5
    assert all(str(error).startswith(f"{url} is down") for error in errors)
    assert [error.attempts for error in errors if isinstance(error, LLMAPIError)] == [3, 0, 0, 0, 0]
    assert transport.circuit.refused_calls == 4
