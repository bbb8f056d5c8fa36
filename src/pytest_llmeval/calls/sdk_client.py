"""The Mistral SDK's side of a call: the client over our transports, its responses as `Reply`s,
its errors as `LLMAPIError`s. Imported only by a call that must go through the SDK.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import httpx2
from mistralai.client import Mistral, errors, models

from pytest_llmeval.calls.reply import Reply, Usage
from pytest_llmeval.calls.request_body import CHAT_PATH
from pytest_llmeval.calls.tool_calls import tool_calls_from
from pytest_llmeval.calls.transport import (
    AdaptiveLimiter,
    RefuseSyncTransport,
    ReplayTransport,
    RetryTransport,
)
from pytest_llmeval.errors import LLMAPIError, printable
from pytest_llmeval.support.messages import content_text

if TYPE_CHECKING:
    from pytest_llmeval.calls.endpoint_settings import EndpointSettings
    from pytest_llmeval.replay.replayer import Replayer


def build_client(
    settings: EndpointSettings,
    replayer: Replayer,
    preflight: Callable[[httpx2.Request], None],
) -> tuple[Mistral, AdaptiveLimiter]:
    """One `Mistral` client whose every request goes through the replay and retry transports
    (outermost first); its sync client refuses every request, so nothing bypasses them."""
    limiter = AdaptiveLimiter(settings.concurrency)
    network = httpx2.AsyncHTTPTransport(
        limits=httpx2.Limits(
            max_connections=max(settings.concurrency * 2, 10),
            max_keepalive_connections=max(settings.concurrency * 2, 10),
        )
    )
    retrying = RetryTransport(
        network,
        settings.retry,
        limiter,
        preflight=preflight,
        secrets=[settings.api_key] if settings.api_key else [],
    )
    client = Mistral(
        api_key=settings.api_key,
        server_url=settings.server_url or None,
        client=httpx2.Client(transport=RefuseSyncTransport()),
        async_client=httpx2.AsyncClient(
            transport=ReplayTransport(retrying, replayer), timeout=settings.retry.timeout_s
        ),
        timeout_ms=int(settings.retry.timeout_s * 1000),
    )
    return client, limiter


def reply_from_response(
    response: models.ChatCompletionResponse, model: str, latency_s: float
) -> Reply:
    """The `Reply` of a chat response; an answer without a choice is the server's failure."""
    if not response.choices:
        raise LLMAPIError(
            f"{CHAT_PATH} (model {model}) answered HTTP 200 with no choices (an empty"
            ' "choices" list): there is no reply to test; the server failed to answer',
            status_code=200,
            endpoint=CHAT_PATH,
            model=model,
        )
    choice = response.choices[0]
    text = content_text(choice.message.content) if choice and choice.message else ""
    tool_calls = tool_calls_from(choice.message.tool_calls) if choice and choice.message else []
    finish_reason = str(choice.finish_reason) if choice is not None else None
    usage = Usage(
        prompt_tokens=response.usage.prompt_tokens or 0,
        completion_tokens=response.usage.completion_tokens or 0,
        total_tokens=response.usage.total_tokens or 0,
    )
    return Reply(
        text=text,
        finish_reason=finish_reason,
        usage=usage,
        latency_s=latency_s,
        model=response.model or model,
        tool_calls=tool_calls,
    )


def first_line(error: BaseException) -> str:
    text = str(error).strip()
    return (text.splitlines() or [type(error).__name__])[0][:200]


def api_error(
    error: errors.MistralError | errors.NoResponseError,
    endpoint: str,
    model: str | None,
    attempts: int,
) -> LLMAPIError:
    """The SDK's error as an `LLMAPIError`: an infrastructure error with one readable line."""
    where = f"{endpoint} (model {model})"
    if isinstance(error, errors.NoResponseError):
        return LLMAPIError(f"{where}: {error}", endpoint=endpoint, model=model, attempts=attempts)
    if isinstance(error, errors.ResponseValidationError):
        problem = f"answered with a body the Mistral SDK rejects: {str(error)[:200]}"
    elif 200 <= error.status_code < 300:
        content_type = printable(error.headers.get("content-type") or "none")
        body = printable(error.body or "")
        problem = (
            f"answered HTTP {error.status_code} with content type {content_type}, not JSON: "
            f"{body[:120] or '(empty body)'}"
        )
    else:
        body = printable(error.body or "")
        problem = f"failed with HTTP {error.status_code}: {body[:200] or error.message}"
        if error.status_code == 401:
            problem += " (check MISTRAL_API_KEY)"
    return LLMAPIError(
        f"{where} {problem}",
        status_code=error.status_code,
        endpoint=endpoint,
        model=model,
        attempts=attempts,
    )
