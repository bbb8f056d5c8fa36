"""httpx2 transports under the Mistral SDK: replay and record, retries, adaptive concurrency."""

from __future__ import annotations

import asyncio
import contextvars
import time
from collections.abc import Callable

import httpx2

from .errors import LLMAPIError
from .records import CallStats
from .replay.keys import StoreRequest
from .replay.recording import StoredResponse
from .replay.replayer import PendingRecording, RecordMode, Replayer, SampleCounter
from .retry import RetryPolicy

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


class _GiveUp(Exception):
    """The call's deadline passed before an attempt could be sent."""


class RetryTransport(httpx2.AsyncBaseTransport):
    """Retries 429, 5xx, timeouts and connection errors; raises `LLMAPIError` when they run out."""

    def __init__(
        self,
        inner: httpx2.AsyncBaseTransport,
        policy: RetryPolicy,
        limiter: AdaptiveLimiter,
        *,
        preflight: Callable[[httpx2.Request], None] | None = None,
    ) -> None:
        self._inner = inner
        self._policy = policy
        self._limiter = limiter
        self._preflight = preflight

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        if self._preflight is not None:
            self._preflight(request)
        stats = current_call.get()
        deadline = time.monotonic() + self._policy.max_call_time_s
        attempt = 0
        while True:
            attempt += 1
            if stats is not None:
                stats.attempts += 1
                stats.retries = attempt - 1
            response: httpx2.Response | None = None
            outcome = "failed"
            await self._limiter.acquire()
            try:
                # Measured after the wait for a slot, so the deadline bounds the whole call.
                timeout = min(self._policy.timeout_s, deadline - time.monotonic())
                if timeout <= 0:
                    failure = "no slot to send it in time (too many calls in flight)"
                    raise _GiveUp
                request.extensions["timeout"] = _timeouts(timeout)
                response = await self._inner.handle_async_request(request)
                # Reading the body here keeps a server that stalls mid-body inside the retries.
                body = await response.aread()
                await response.aclose()
                if response.status_code not in RETRYABLE_STATUS:
                    outcome = "answered"
                    return httpx2.Response(
                        response.status_code,
                        headers=_decoded_headers(response.headers),
                        content=body,
                        request=request,
                    )
                outcome = "throttled" if response.status_code == 429 else "failed"
                failure = f"HTTP {response.status_code}"
            except _GiveUp:
                pass
            except httpx2.TimeoutException:
                failure = f"timed out after {timeout:.1f}s"
            except httpx2.TransportError as error:
                failure = f"connection error ({type(error).__name__}: {error})"
            finally:
                await self._limiter.release(outcome)
            delay = self._policy.delay(attempt, response)
            if time.monotonic() + delay >= deadline:
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

    async def aclose(self) -> None:
        await self._inner.aclose()


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
        sample, stored = self._replayer.replay(
            stored_request, current_samples.get(), _as_is, claim_on_miss=True
        )
        if stored is not None:
            if stats is not None:
                stats.store_hit = True
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


def _as_is(stored: StoredResponse) -> StoredResponse:
    return stored


class RefuseSyncTransport(httpx2.BaseTransport):
    """The SDK's sync client is never used: every call goes through the async stack."""

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        raise RuntimeError("pytest-llmeval sends every model call through its async client")
