"""The model endpoint: one `mistralai` client, one event loop, and the `Reply` it returns.

The SDK, httpx2 and the transports are imported when the first call needs them: a session
whose chat completions all replay from the store never loads them (see `replayed_chat`).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from pytest_llmeval.calls.endpoint_settings import EndpointSettings
from pytest_llmeval.calls.loop import LoopThread
from pytest_llmeval.calls.reply import ModelInfo, Reply, Usage, recorded_json, recorded_reply
from pytest_llmeval.calls.request_body import CHAT_PATH, chat_store_request
from pytest_llmeval.case_record import CallStats, CaseRecorder
from pytest_llmeval.errors import LLMAPIError, SecretLeakError, StoreIntegrityError
from pytest_llmeval.replay.keys import StoreRequest
from pytest_llmeval.replay.record_mode import RecordMode
from pytest_llmeval.replay.recording import StoredResponse
from pytest_llmeval.replay.replayer import Replayer
from pytest_llmeval.replay.store import ReplayStore

if TYPE_CHECKING:
    import httpx2
    from mistralai.client import Mistral

    from pytest_llmeval.calls.transport import AdaptiveLimiter

__all__ = ["Endpoint", "EndpointSettings", "ModelInfo", "Reply", "Usage"]

T = TypeVar("T")


class Endpoint:
    """Every model call of a session (model under test, judge, moderation) goes through here."""

    def __init__(self, settings: EndpointSettings) -> None:
        self.settings = settings
        self.limiter: AdaptiveLimiter | None = None  # made with the client
        self.store = ReplayStore(
            settings.store_dir, secrets=[settings.api_key] if settings.api_key else []
        )
        self.replayer = Replayer(self.store, settings.record_mode)
        self._loop: LoopThread | None = None
        self._client: Mistral | None = None
        self._model_info: dict[str, ModelInfo] = {}
        self._lock = threading.Lock()
        self._semaphore: asyncio.Semaphore | None = None

    # -- plumbing ---------------------------------------------------------------------------

    def _ensure_started(self) -> tuple[LoopThread, Mistral]:
        with self._lock:
            if self._loop is None or self._client is None:
                from pytest_llmeval.calls.sdk_client import build_client

                self._client, self.limiter = build_client(
                    self.settings, self.replayer, self._preflight
                )
                self._loop = LoopThread()
            return self._loop, self._client

    def _preflight(self, request: httpx2.Request) -> None:
        if self.settings.uses_public_api and not self.settings.api_key:
            raise LLMAPIError(
                "MISTRAL_API_KEY is not set: export it to call Mistral's API, or pass"
                " --llm-server-url=URL for a self-hosted or simulated server, or replay"
                " recorded responses with --llm-record-mode=none",
                endpoint=request.url.path,
            )

    def _slots(self) -> asyncio.Semaphore:
        if self._semaphore is None:  # created on the loop that uses it
            self._semaphore = asyncio.Semaphore(self.settings.concurrency)
        return self._semaphore

    def close(self) -> None:
        with self._lock:
            loop, client = self._loop, self._client
            self._loop = self._client = None
        if loop is not None and client is not None:

            async def close_client() -> None:
                await client.sdk_configuration.async_client.aclose()  # type: ignore[union-attr]

            loop.close(close_client)

    async def _save_answer(self, stats: CallStats) -> None:
        """Saves the call's answer to the store once the SDK has accepted it.

        The transport leaves it on the call's stats instead of saving it, so that an answer
        the SDK rejects is never recorded and a replay never answers where the live call
        failed. A store that refuses the write costs the recording, never the answer: the
        problem is kept on the stats (`store_problem`) and the answer goes to the test.
        """
        pending = stats.take_pending()
        if pending is None:
            return
        try:
            # Off the loop (the write fsyncs), so other calls' timers do not stall behind it.
            await asyncio.to_thread(self.replayer.record, pending)
        except SecretLeakError as error:
            stats.store_problem = f"{error}; keep the API key out of prompts and answers"
        except OSError as error:
            stats.store_problem = (
                f"the store {self.store.root} cannot be written ({type(error).__name__}:"
                f" {error.strerror or error}): answers are not being recorded; make it"
                " writable or pass --llm-store=DIR"
            )

    async def _call_again(
        self,
        call: Callable[[Mistral], Awaitable[T]],
        client: Mistral,
        stats: CallStats,
        error: Exception,
    ) -> T:
        """A replayed answer the SDK rejects: named in mode none, else sent again and the
        new answer recorded over it."""
        from pytest_llmeval.calls.sdk_client import first_line
        from pytest_llmeval.calls.transport import unusable_recording

        if self.replayer.mode is RecordMode.NONE or stats.store_file is None:
            raise unusable_recording(
                stats.store_file, f"the Mistral SDK rejects its body ({first_line(error)})"
            ) from None
        stats.store_hit, stats.store_miss = False, True
        stats.rerecord_sample = stats.store_sample
        return await call(client)

    def submit(
        self,
        call: Callable[[Mistral], Awaitable[T]],
        *,
        recorder: CaseRecorder | None,
        endpoint: str,
        model: str | None,
    ) -> concurrent.futures.Future[T]:
        """Runs `call(client)` on the loop with the case's usage accounting around it."""
        loop, client = self._ensure_started()
        from mistralai.client import errors

        from pytest_llmeval.calls.sdk_client import api_error
        from pytest_llmeval.calls.transport import current_call, current_samples

        async def run() -> T:
            stats = CallStats(endpoint=endpoint, model=model)
            current_call.set(stats)
            current_samples.set(recorder.samples if recorder is not None else None)
            try:
                # The SDK builds and parses on the loop thread: holding a slot first spreads that
                # work out instead of building a whole prefetch window at once.
                async with self._slots():
                    try:
                        try:
                            result = await call(client)
                        except errors.ResponseValidationError as error:
                            if not stats.store_hit:
                                raise
                            result = await self._call_again(call, client, stats, error)
                    except (errors.MistralError, errors.NoResponseError, LLMAPIError):
                        # The SDK refused the answer, or it holds nothing to test: not recorded.
                        stats.take_pending()
                        raise
                    except Exception as error:
                        failure: Exception | None = error
                    else:
                        failure = None
                # Saved once the slot is free: the write waits for the disk (fsync, 2 to 8 ms
                # here), which is no reason to keep the next call from starting.
                await self._save_answer(stats)
                if failure is not None:
                    raise failure  # ours failed on an answer the SDK accepted: it is kept
                return result
            except (errors.MistralError, errors.NoResponseError) as error:
                raise api_error(error, endpoint, model, stats.attempts) from None
            finally:
                if recorder is not None:
                    recorder.add_call(stats)

        return loop.submit(run())

    # -- replays read without the SDK ----------------------------------------------------------

    def replayed(
        self,
        request: StoreRequest | None,
        read: Callable[[StoredResponse], T | None],
        *,
        recorder: CaseRecorder | None,
        model: str,
    ) -> T | None:
        """The recorded answer to `request` as `read` takes it, read without the SDK, or None.

        A replay through the SDK costs about 15 ms of CPU (pydantic models it builds afresh
        on every call) and half a second to import it; this costs about 0.1 ms. It answers
        only where the SDK would answer the same: `request` is the body the SDK would send
        (None where it cannot be guessed, see `_chat_request`), and `read` accepts only
        plain recorded bodies (`read_chat_body`), returning None for anything else. Then the
        call goes through the SDK as usual. The case's sample index, call count and store
        hit are kept exactly as a replay through the transport keeps them.
        """
        if request is None or self.replayer.mode is RecordMode.ALL or not _has_key(request):
            return None
        samples = recorder.samples if recorder is not None else None
        try:
            _, found = self.replayer.replay(request, samples, read, claim_on_miss=False)
        except StoreIntegrityError as error:
            if recorder is not None:
                refused = f"{error.file}: {error.problem}"
                recorder.add_call(
                    CallStats(endpoint=request.path, model=model, store_integrity=refused)
                )
            raise
        if found is not None and recorder is not None:
            recorder.add_call(CallStats(endpoint=request.path, model=model, store_hit=True))
        return found

    def replayed_or_submitted(
        self,
        request: StoreRequest | None,
        read: Callable[[StoredResponse], T | None],
        call: Callable[[Mistral], Awaitable[T]],
        *,
        recorder: CaseRecorder | None,
        endpoint: str,
        model: str,
    ) -> concurrent.futures.Future[T]:
        """The one call path: the recorded answer if `replayed` can read it, else `call`
        through the SDK (`submit`); either way a future of the answer."""
        found = self.replayed(request, read, recorder=recorder, model=model)
        if found is None:
            return self.submit(call, recorder=recorder, endpoint=endpoint, model=model)
        future: concurrent.futures.Future[T] = concurrent.futures.Future()
        future.set_result(found)
        return future

    # -- chat -------------------------------------------------------------------------------

    def submit_chat(
        self,
        messages: list[dict[str, Any]],
        params: Mapping[str, Any],
        *,
        recorder: CaseRecorder | None,
        model: str | None = None,
        of_model_under_test: bool = True,
    ) -> concurrent.futures.Future[Reply]:
        """Starts a chat completion through the SDK; the future's result is the `Reply`.

        A call not `of_model_under_test` (the judge's) adds its tokens to the case, but not
        its latency or finish reason, which describe the model under test.
        """
        model_id = self._model_id(model)

        async def call(client: Mistral) -> Reply:
            from pytest_llmeval.calls.sdk_arguments import typed_arguments
            from pytest_llmeval.calls.sdk_client import reply_from_response

            started = time.perf_counter()
            # The SDK's models, validated once per type: the SDK validates dicts call by call.
            typed_messages, typed_params = typed_arguments(messages, params)
            response = await client.chat.complete_async(
                model=model_id, messages=typed_messages, **typed_params
            )
            latency = time.perf_counter() - started
            from pytest_llmeval.calls.transport import current_call

            stats = current_call.get()
            replayed = stats is not None and stats.store_hit
            # Time spent on a replay is the SDK's, not the model's: a replay's latency is 0.
            latency = 0.0 if replayed else latency
            reply = reply_from_response(response, model_id, latency)
            return _add_usage(reply, recorder, of_model_under_test=of_model_under_test)

        return self.submit(call, recorder=recorder, endpoint=CHAT_PATH, model=model_id)

    def replayed_chat(
        self,
        messages: list[dict[str, Any]],
        params: Mapping[str, Any],
        *,
        recorder: CaseRecorder | None,
        model: str | None = None,
        of_model_under_test: bool = True,
    ) -> Reply | None:
        """The recorded reply to this chat request, read without the SDK (`replayed`), or None."""
        model_id = model or self.settings.model
        if not model_id:
            return None
        reply = self.replayed(
            chat_store_request(model_id, messages, params),
            lambda stored: recorded_reply(stored, model_id),
            recorder=recorder,
            model=model_id,
        )
        if reply is None:
            return None
        return _add_usage(reply, recorder, of_model_under_test=of_model_under_test)

    def chat(
        self,
        messages: list[dict[str, Any]],
        params: Mapping[str, Any],
        *,
        recorder: CaseRecorder | None,
        model: str | None = None,
        of_model_under_test: bool = True,
    ) -> Reply:
        """A chat completion: replayed without the SDK where it can be, else through it."""
        reply = self.replayed_chat(
            messages,
            params,
            recorder=recorder,
            model=model,
            of_model_under_test=of_model_under_test,
        )
        if reply is not None:
            return reply
        return self.submit_chat(
            messages,
            params,
            recorder=recorder,
            model=model,
            of_model_under_test=of_model_under_test,
        ).result()

    def _model_id(self, model: str | None) -> str:
        model_id = model or self.settings.model
        if not model_id:
            raise LLMAPIError("no model to call: pass --llm-model=ID or set LLMEVAL_MODEL")
        return model_id

    # -- model cards ------------------------------------------------------------------------

    def model_info(
        self, model: str | None = None, *, recorder: CaseRecorder | None = None
    ) -> ModelInfo:
        """The card of `model` (default: the model under test), fetched once per session."""
        model_id = model or self.settings.model
        if not model_id:
            raise LLMAPIError("no model to describe: pass --llm-model=ID or set LLMEVAL_MODEL")
        cached = self._model_info.get(model_id)
        if cached is not None:
            return cached

        async def call(client: Mistral) -> ModelInfo:
            card = await client.models.retrieve_async(model_id=model_id)
            data = card.model_dump(mode="json")
            root = data.get("root")
            kind = str(data.get("type") or ("fine-tuned" if root else "base"))
            return ModelInfo(id=data.get("id") or model_id, type=kind, root=root, card=data)

        info = self.submit(
            call, recorder=recorder, endpoint=f"/v1/models/{model_id}", model=model_id
        ).result()
        self._model_info[model_id] = info
        return info

    def model_card(self, model_id: str) -> dict[str, Any]:
        """The JSON of `GET /v1/models/{model_id}` (the SDK's `models.retrieve`), recorded in
        the store like any answer, so a replay reads it without the SDK or the network."""
        path = f"/v1/models/{model_id}"

        def read(stored: StoredResponse) -> dict[str, Any] | None:
            body = recorded_json(stored)
            return body if isinstance(body, dict) else None

        async def call(client: Mistral) -> dict[str, Any]:
            card = await client.models.retrieve_async(model_id=model_id)
            data: dict[str, Any] = card.model_dump(mode="json")
            return data

        return self.replayed_or_submitted(
            StoreRequest("GET", path), read, call, recorder=None, endpoint=path, model=model_id
        ).result()


def _has_key(request: StoreRequest) -> bool:
    """False for text that cannot be encoded (a lone surrogate): the SDK's path reports it."""
    try:
        return bool(request.digest)
    except UnicodeEncodeError:
        return False


def _add_usage(reply: Reply, recorder: CaseRecorder | None, *, of_model_under_test: bool) -> Reply:
    """Adds a reply's tokens to its case, and the model under test's latency and finish
    reason; returns the reply."""
    if recorder is not None:
        recorder.add_completion(
            prompt_tokens=reply.usage.prompt_tokens,
            completion_tokens=reply.usage.completion_tokens,
            latency_s=reply.latency_s if of_model_under_test else 0.0,
            finish_reason=reply.finish_reason if of_model_under_test else None,
            model=reply.model,
        )
    return reply
