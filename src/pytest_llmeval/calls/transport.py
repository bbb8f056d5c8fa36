"""httpx2 transports under the Mistral SDK: replay and record, retries, adaptive concurrency."""

from __future__ import annotations

import asyncio
import contextvars
import time
from collections.abc import Callable, Sequence

import httpx2

from pytest_llmeval.calls.retry import RetryPolicy
from pytest_llmeval.case_record import CallStats
from pytest_llmeval.errors import EndpointDownError, LLMAPIError, StoreError, StoreIntegrityError
from pytest_llmeval.replay.keys import StoreRequest
from pytest_llmeval.replay.record_mode import RecordMode
from pytest_llmeval.replay.recording import StoredResponse
from pytest_llmeval.replay.replayer import PendingRecording, Replayer
from pytest_llmeval.replay.samples import SampleCounter
from pytest_llmeval.support.redact import redact, redact_bytes

RETRYABLE_STATUS = frozenset({429, 500, 502, 503, 504})
# Only these endpoints are deterministic enough to replay; uploads and batch jobs create ids.
_RECORDED_PREFIXES = (
    "/v1/chat/completions",
    "/v1/chat/moderations",
    "/v1/moderations",
    "/v1/fim/completions",
    "/v1/embeddings",
    "/v1/models/",
)


current_call: contextvars.ContextVar[CallStats | None] = contextvars.ContextVar(
    "llmeval_current_call", default=None
)


class AdaptiveLimiter:
    """Caps model calls in flight; halves the cap on 429 and grows it back on sustained success."""

    def __init__(self, limit: int) -> None:
        self.max_limit = max(1, limit)
        self.limit = self.max_limit
        self.in_flight = 0
        self.peak_in_flight = 0
        self._successes = 0
        self._last_cut = 0.0
        self._condition: asyncio.Condition | None = None

    def _cond(self) -> asyncio.Condition:
        # Created lazily so that the condition binds to the loop that uses it.
        if self._condition is None:
            self._condition = asyncio.Condition()
        return self._condition

    async def acquire(self) -> None:
        condition = self._cond()
        async with condition:
            await condition.wait_for(lambda: self.in_flight < self.limit)
            self.in_flight += 1
            self.peak_in_flight = max(self.peak_in_flight, self.in_flight)

    async def release(self, outcome: str) -> None:
        """`outcome`: "answered" grows the cap back, "throttled" (a 429) halves it, and
        "failed" (5xx, timeout, connection error) leaves it: an outage is no sign of room."""
        condition = self._cond()
        async with condition:
            self.in_flight -= 1
            now = time.monotonic()
            if outcome == "throttled":
                self._successes = 0
                # One burst of 429s answered at once is one signal, not many.
                if now - self._last_cut > 1.0:
                    self.limit = max(1, self.limit // 2)
                    self._last_cut = now
            elif outcome == "answered":
                self._successes += 1
                if self.limit < self.max_limit and self._successes >= self.limit:
                    self.limit += 1
                    self._successes = 0
            condition.notify_all()


def _call_description(request: httpx2.Request) -> str:
    stats = current_call.get()
    model = stats.model if stats is not None else None
    where = f"{request.method} {request.url.path}"
    return f"{where} (model {model})" if model else where


_BOUND_SLACK_S = 0.5


class _GiveUp(Exception):
    """The call's deadline passed before an attempt could be sent."""


def base_url(url: httpx2.URL) -> str:
    """The endpoint a request goes to, as a user wrote it: `http://127.0.0.1:8000`."""
    return f"{url.scheme}://{url.netloc.decode('ascii', 'replace')}"


class Circuit:
    """Knows when the endpoint is down, so that a dead URL costs seconds, not minutes.

    After `threshold` connection failures in a row with no answer in between it opens: calls
    then fail at once, unsent, except one probe every `probe_after_s`. Any answer (an HTTP
    error too: something is listening) closes it. Used on the calls' loop thread only.
    """

    def __init__(self, threshold: int = 3, probe_after_s: float = 10.0) -> None:
        self.threshold = threshold
        self.probe_after_s = probe_after_s
        self.failures = 0
        self.last_failure = ""
        self.refused_calls = 0
        self._opened_at: float | None = None

    @property
    def is_open(self) -> bool:
        return self._opened_at is not None

    def allows(self) -> bool:
        """False while open, except for one probe each `probe_after_s`."""
        if self._opened_at is None:
            return True
        now = time.monotonic()
        if now - self._opened_at >= self.probe_after_s:
            self._opened_at = now  # one probe; the others keep failing fast
            return True
        self.refused_calls += 1
        return False

    def connection_failed(self, failure: str) -> None:
        self.failures += 1
        self.last_failure = failure
        if self.failures >= self.threshold and self._opened_at is None:
            self._opened_at = time.monotonic()

    def answered(self) -> None:
        self.failures = 0
        self._opened_at = None

    def error(self, request: httpx2.Request, attempts: int = 0) -> EndpointDownError:
        """The error of a call the open circuit stops, after `attempts` of its own (or none)."""
        url = base_url(request.url)
        call = _call_description(request)
        if attempts:
            what = f"{call} gave up after {attempts} attempt{'s' if attempts != 1 else ''}"
        else:
            what = f"{call} was not sent"
        return EndpointDownError(
            f"{url} is down ({self.failures} connection attempts in a row failed, the last"
            f" with a {self.last_failure}): {what}; the remaining calls fail at once until"
            " it answers; check --llm-server-url",
            url=url,
            endpoint=request.url.path,
            attempts=attempts,
        )


class RetryTransport(httpx2.AsyncBaseTransport):
    """Retries 429, 5xx, timeouts and connection errors; raises `LLMAPIError` when they run out.

    Every attempt, body included, is bounded by `--llm-timeout` and by the call's deadline;
    the secrets are hidden in the body and headers of every answer before anything holds
    them (a server that echoes the request's headers echoes the API key).
    """

    def __init__(
        self,
        inner: httpx2.AsyncBaseTransport,
        policy: RetryPolicy,
        limiter: AdaptiveLimiter,
        *,
        preflight: Callable[[httpx2.Request], None] | None = None,
        secrets: Sequence[str] = (),
        circuit: Circuit | None = None,
    ) -> None:
        self._inner = inner
        self._policy = policy
        self._limiter = limiter
        self._preflight = preflight
        self._secrets = tuple(secrets)
        self.circuit = circuit or Circuit()

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        if self._preflight is not None:
            self._preflight(request)
        stats = current_call.get()
        deadline = time.monotonic() + self._policy.max_call_time_s
        attempt = 0
        failure = ""
        while True:
            if not self.circuit.allows():
                raise self.circuit.error(request, attempt)
            attempt += 1
            if stats is not None:
                stats.attempts += 1
                stats.retries = attempt - 1
            response: httpx2.Response | None = None
            outcome = "failed"
            await self._limiter.acquire()
            exchange = _Exchange()
            try:
                # Measured after the wait for a slot, so the deadline bounds the whole call.
                timeout = min(self._policy.timeout_s, deadline - time.monotonic())
                if timeout <= 0:
                    # The earlier attempt's failure is the cause worth naming, if there was one.
                    failure = (
                        f"{failure}; no time left for another attempt"
                        if attempt > 1
                        else "no slot to send it in time (too many calls in flight)"
                    )
                    raise _GiveUp
                request.extensions["timeout"] = _timeouts(timeout)
                # One bound for headers and body: a server dripping its body a byte at a
                # time never trips the per-read timeout, only this. A little later than
                # httpx2's own timeouts, so that a connect timeout is still reported as one
                # (it counts towards the circuit).
                answer, body = await asyncio.wait_for(
                    exchange.run(self._inner, request), max(0.05, timeout) + _BOUND_SLACK_S
                )
                response = answer
                self.circuit.answered()
                if answer.status_code not in RETRYABLE_STATUS:
                    outcome = "answered"
                    return httpx2.Response(
                        answer.status_code,
                        headers=self._hidden(_decoded_headers(answer.headers)),
                        content=redact_bytes(body, self._secrets),
                        request=request,
                    )
                outcome = "throttled" if answer.status_code == 429 else "failed"
                failure = f"HTTP {answer.status_code}"
            except _GiveUp:
                pass
            except (asyncio.TimeoutError, httpx2.TimeoutException) as error:
                if exchange.headers_received:
                    self.circuit.answered()
                    failure = f"the body was too slow: not complete after {timeout:.1f}s"
                else:
                    failure = f"timed out after {timeout:.1f}s"
                    if isinstance(error, httpx2.ConnectTimeout):
                        self.circuit.connection_failed(failure)
            except httpx2.TransportError as error:
                failure = f"connection error ({type(error).__name__}: {error})"
                if exchange.headers_received:
                    self.circuit.answered()
                elif isinstance(error, httpx2.ConnectError):
                    self.circuit.connection_failed(failure)
            finally:
                await self._limiter.release(outcome)
            asked = self._policy.server_delay(response)
            delay = asked if asked is not None else self._policy.delay(attempt, response)
            if self.circuit.is_open or time.monotonic() + delay >= deadline:
                if self.circuit.is_open:
                    raise self.circuit.error(request, attempt)
                if asked is not None and asked >= self._policy.max_call_time_s:
                    failure += (
                        f", and the server asked to wait {asked:g} s, more than"
                        f" --llm-max-retry-time ({self._policy.max_call_time_s:g} s)"
                    )
                raise LLMAPIError(
                    f"{_call_description(request)} failed after {attempt} attempt"
                    f"{'s' if attempt != 1 else ''} within {self._policy.max_call_time_s:g}s:"
                    f" {failure}",
                    status_code=response.status_code if response is not None else None,
                    endpoint=request.url.path,
                    model=stats.model if stats is not None else None,
                    attempts=attempt,
                )
            await asyncio.sleep(delay)

    def _hidden(self, headers: list[tuple[str, str]]) -> list[tuple[str, str]]:
        return [(name, redact(value, self._secrets)) for name, value in headers]

    async def aclose(self) -> None:
        await self._inner.aclose()


class _Exchange:
    """One attempt: the response and its whole body, remembering whether headers came."""

    def __init__(self) -> None:
        self.headers_received = False

    async def run(
        self, inner: httpx2.AsyncBaseTransport, request: httpx2.Request
    ) -> tuple[httpx2.Response, bytes]:
        response = await inner.handle_async_request(request)
        self.headers_received = True
        try:
            return response, await response.aread()
        finally:
            await response.aclose()


def _decoded_headers(headers: httpx2.Headers) -> list[tuple[str, str]]:
    """The headers of a response whose body was read (decompressed) and is handed on as is."""
    dropped = {"content-encoding", "content-length", "transfer-encoding"}
    return [(name, value) for name, value in headers.multi_items() if name.lower() not in dropped]


def _timeouts(seconds: float) -> dict[str, float]:
    seconds = max(0.05, seconds)
    return {"connect": seconds, "read": seconds, "write": seconds, "pool": seconds}


current_samples: contextvars.ContextVar[SampleCounter | None] = contextvars.ContextVar(
    "llmeval_current_samples", default=None
)


class ReplayTransport(httpx2.AsyncBaseTransport):
    """Answers from the store when it can; records final 2xx answers of the calls it passes on."""

    def __init__(self, inner: httpx2.AsyncBaseTransport, replayer: Replayer) -> None:
        self._inner = inner
        self._replayer = replayer
        self._store = replayer.store

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        path = request.url.path
        if not any(prefix in path for prefix in _RECORDED_PREFIXES):
            return await self._inner.handle_async_request(request)
        content = await request.aread()
        stored_request = StoreRequest.from_http(request.method, path, content)
        stats = current_call.get()
        if stats is not None and stats.rerecord_sample is not None:
            # The recording proved unusable (the SDK rejected it): call again, same sample.
            sample, stored = stats.rerecord_sample, None
        else:
            try:
                sample, stored = self._replayer.replay(
                    stored_request, current_samples.get(), _as_is, claim_on_miss=True
                )
            except StoreIntegrityError as error:
                if stats is not None:
                    stats.store_integrity = f"{error.file}: {error.problem}"
                raise
        if stored is not None and not 200 <= stored.status < 300:
            file = self._store.file_for(stored_request, sample)
            if self._replayer.mode is RecordMode.NONE:
                raise unusable_recording(file, f"it holds a recorded HTTP {stored.status}")
            stored = None  # called again below, and the new answer replaces it
        if stored is not None:
            if stats is not None:
                stats.store_hit = True
                stats.store_file = str(self._store.file_for(stored_request, sample))
                stats.store_sample = sample
            return httpx2.Response(
                stored.status,
                headers={"content-type": stored.content_type},
                content=stored.body,
                request=request,
            )
        if self._replayer.mode is RecordMode.NONE:
            raise self._store.miss_error(stored_request, sample)
        if stats is not None:
            stats.store_miss = True
        response = await self._inner.handle_async_request(request)
        if not 200 <= response.status_code < 300:
            return response
        body = await response.aread()
        await response.aclose()
        content_type = response.headers.get("content-type", "application/json")
        pending = PendingRecording(stored_request, sample, response.status_code, content_type, body)
        if stats is not None:
            # Saved by the endpoint once the SDK has accepted the body, so that a replay
            # never answers where the live call failed.
            stats.pending = pending
        else:
            await asyncio.to_thread(self._replayer.record, pending)
        return httpx2.Response(
            response.status_code,
            headers={"content-type": content_type},
            content=body,
            request=request,
        )

    async def aclose(self) -> None:
        await self._inner.aclose()


def unusable_recording(file: object, problem: str) -> StoreError:
    """The error for a recording that reads but cannot answer, in replay-only mode."""
    return StoreError(
        f"unusable recording {file}: {problem}; record it again with"
        " --llm-record-mode=new_episodes (which replaces it) or delete the file"
    )


def _as_is(stored: StoredResponse) -> StoredResponse:
    return stored


class RefuseSyncTransport(httpx2.BaseTransport):
    """The SDK's sync client is never used: every call goes through the async stack."""

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        raise RuntimeError("pytest-llmeval sends every model call through its async client")
