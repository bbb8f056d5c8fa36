"""The simulator's HTTP server: Mistral's wire formats over loopback, answers from a script."""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import hmac
import http.server
import json
import re
import socket
import socketserver
import sys
import threading
import time
import urllib.parse
import uuid
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

from .script import (
    DEFAULT_RATE_HANG_S,
    Conversation,
    Faults,
    Rule,
    ScriptSource,
    SimRequest,
    answer_from_responder,
    compose_chat_answer,
    count_tokens,
    is_judge_request,
    load_script,
    moderation_result,
    parse_faults,
    parse_rule,
)

_CHAT_PATH = "/v1/chat/completions"
_CHAT_MODERATION_PATH = "/v1/chat/moderations"
_TEXT_MODERATION_PATH = "/v1/moderations"
_BATCH_ENDPOINTS = (_CHAT_PATH, _CHAT_MODERATION_PATH, _TEXT_MODERATION_PATH)
_MODEL_CALLS = frozenset({"chat", "judge", "moderation"})
#: A fixed creation time for model cards, so cards are identical from run to run.
_MODELS_CREATED = 1_700_000_000


def _stable_id(prefix: str, key: bytes, sample: int) -> str:
    return f"{prefix}-{hashlib.sha256(key).hexdigest()[:16]}-{sample}"


_CHAT_CAPABILITIES = {"completion_chat": True, "function_calling": True}
_BASE_MODELS: dict[str, tuple[str, int, dict[str, bool]]] = {
    "mistral-small-latest": ("Mistral Small", 131_072, {**_CHAT_CAPABILITIES, "vision": True}),
    "mistral-medium-latest": ("Mistral Medium", 131_072, {**_CHAT_CAPABILITIES, "vision": True}),
    "mistral-large-latest": ("Mistral Large", 131_072, _CHAT_CAPABILITIES),
    "open-mistral-7b": ("Mistral 7B", 32_768, {**_CHAT_CAPABILITIES, "fine_tuning": True}),
    "open-mistral-nemo": ("Mistral Nemo", 131_072, {**_CHAT_CAPABILITIES, "fine_tuning": True}),
    "ministral-8b-latest": ("Ministral 8B", 131_072, _CHAT_CAPABILITIES),
    "mistral-moderation-latest": (
        "Mistral Moderation",
        8_192,
        {"moderation": True, "classification": True},
    ),
}

_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "unauthorized",
    404: "not_found",
    422: "invalid_request_error",
    429: "rate_limited",
    503: "service_unavailable",
}


@dataclass(frozen=True)
class _Reply:
    """An HTTP answer before serialization; `payload` is JSON data, or raw bytes to download."""

    status: int
    payload: Any
    headers: Mapping[str, str] = field(default_factory=dict)


#: Returned instead of a reply when the simulator stopped during a delay: close, say nothing.
_DROP = _Reply(0, None)


@dataclass(frozen=True)
class _StoredFile:
    id: str
    filename: str
    purpose: str
    data: bytes
    created_at: int
    sample_type: str
    source: str


def _error(status: int, message: str, error_type: str | None = None) -> _Reply:
    kind = (
        error_type
        or _ERROR_TYPES.get(status)
        or ("internal_server_error" if status >= 500 else "invalid_request_error")
    )
    payload = {
        "object": "error",
        "message": message,
        "type": kind,
        "param": None,
        "code": str(status),
    }
    return _Reply(status, payload)


def _missing_field(name: str, message: str) -> _Reply:
    """A 422 shaped like Mistral's, which the SDK raises as `HTTPValidationError`."""
    payload = {
        "object": "error",
        "message": message,
        "type": "invalid_request_error",
        "detail": [{"type": "missing", "loc": ["body", name], "msg": message, "input": None}],
    }
    return _Reply(422, payload)


def _format_seconds(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


class Simulator:
    """A Mistral-compatible HTTP server on loopback that answers from a deterministic script.

    `script` is None (default answers), a `.json`/`.jsonl` path, a list of rule dicts, or a
    callable `(SimRequest) -> SimResponse | dict | str | None`. `latency_s` and `seed`
    override the script's values when given. A bad script raises `ValueError` here, not at
    request time. Use as a context manager, or call `start()` and `stop()`.
    """

    def __init__(
        self,
        script: ScriptSource = None,
        *,
        latency_s: float | None = None,
        seed: int | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        require_api_key: str | None = None,
    ) -> None:
        loaded = load_script(script)
        if latency_s is not None and latency_s < 0:
            raise ValueError("latency_s must be 0 or more")
        self._responder = loaded.responder
        self._rules: tuple[Rule, ...] = loaded.rules
        latency = latency_s if latency_s is not None else loaded.latency_s
        self._faults = Faults(latency_s=latency).over(loaded.faults)
        self._seed = seed if seed is not None else (loaded.seed or 0)
        self._address = (host, port)
        # Kept only to compare against; never logged, stored on requests, or put in errors.
        self._expected_authorization = (
            f"Bearer {require_api_key}".encode() if require_api_key is not None else None
        )
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._requests: list[SimRequest] = []
        self._path_counts: Counter[str] = Counter()
        self._attempts: dict[bytes, int] = {}
        self._samples: dict[bytes, int] = {}
        self._in_flight = 0
        self._max_in_flight = 0
        self._files: dict[str, _StoredFile] = {}
        self._jobs: dict[str, dict[str, Any]] = {}
        self._server: _HTTPServer | None = None
        self._thread: threading.Thread | None = None

    # --- lifecycle -------------------------------------------------------------------------

    def start(self) -> Simulator:
        """Bind and serve in a daemon thread; returns self. Calling it again does nothing."""
        if self._server is not None:
            return self
        self._stopping.clear()
        server = _HTTPServer(self._address, self)
        self._server = server
        # A short poll interval so that stop() returns quickly.
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"llmeval-simulator-{server.server_port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, wake requests sleeping in a delay or hang, and close connections."""
        server, self._server = self._server, None
        if server is None:
            return
        self._stopping.set()
        server.shutdown()
        server.server_close()
        server.close_connections()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> Simulator:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """The base URL to give the SDK as `server_url`, e.g. `http://127.0.0.1:54321`."""
        if self._server is None:
            raise RuntimeError("the simulator is not running: call start() or use `with`")
        host, port = self._server.server_name, self._server.server_port
        shown = f"[{host}]" if ":" in host else host
        return f"http://{shown}:{port}"

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the simulator is not running: call start() or use `with`")
        return self._server.server_port

    # --- counters --------------------------------------------------------------------------

    @property
    def requests(self) -> list[SimRequest]:
        """Every request received since the start or the last `reset_counts()`, in order."""
        with self._lock:
            return list(self._requests)

    def count(self, path: str | None = None) -> int:
        """How many requests were received, all of them or those to `path` (no query string)."""
        with self._lock:
            return len(self._requests) if path is None else self._path_counts[path]

    @property
    def max_in_flight(self) -> int:
        """The highest number of chat completion requests handled at the same time."""
        with self._lock:
            return self._max_in_flight

    def reset_counts(self) -> None:
        """Forget requests seen, the in-flight peak, and the attempt counts of `fail`/`replies`."""
        with self._lock:
            self._requests.clear()
            self._path_counts.clear()
            self._attempts.clear()
            self._samples.clear()
            self._max_in_flight = self._in_flight

    # --- script changes at run time --------------------------------------------------------

    def add_rule(self, rule: Mapping[str, Any], *, first: bool = False) -> None:
        """Add a rule after the others (before them with `first=True`); same format as files."""
        with self._lock:
            parsed = parse_rule(rule, f"add_rule (rule {len(self._rules) + 1})")
            self._rules = (parsed, *self._rules) if first else (*self._rules, parsed)

    def clear_rules(self) -> None:
        """Drop every rule, the script's included; the default answers apply again."""
        with self._lock:
            self._rules = ()

    def set_faults(self, **faults: Any) -> None:
        """Change the global faults key by key (`latency_s=0.1`, `fail=[429]`); None removes one."""
        try:
            given = parse_faults(faults)
        except ValueError as error:
            raise ValueError(f"set_faults: {error}") from None
        removed = {name: None for name, value in faults.items() if value is None}
        with self._lock:
            self._faults = given.over(dataclasses.replace(self._faults, **removed))

    # --- request handling ------------------------------------------------------------------

    def _respond(
        self,
        method: str,
        raw_path: str,
        content_type: str,
        authorization: str | None,
        body: bytes,
    ) -> _Reply:
        """Record the request and answer it. `authorization` is compared, then forgotten."""
        path = raw_path.split("?", 1)[0]
        segments = [urllib.parse.unquote(part) for part in path.strip("/").split("/")]
        parsed: Any = None
        malformed = ""
        if body and not content_type.lower().startswith("multipart/"):
            try:
                parsed = json.loads(body)
            except (ValueError, UnicodeDecodeError) as error:
                malformed = str(error)
        endpoint = _classify(segments, parsed)
        attempt, key = 1, b""
        if endpoint in _MODEL_CALLS:
            key = _request_key(path, parsed, body)
        with self._lock:
            if key:
                attempt = self._attempts.get(key, 0) + 1
                self._attempts[key] = attempt
            request = SimRequest(method, path, parsed, authorization is not None, endpoint, attempt)
            self._requests.append(request)
            self._path_counts[path] += 1
        if self._expected_authorization is not None and not hmac.compare_digest(
            (authorization or "").encode(), self._expected_authorization
        ):
            return _error(401, "Unauthorized: missing or wrong API key")
        if malformed:
            return _error(400, f"Malformed JSON body: {malformed}")
        try:
            return self._route(method, segments, request, key, content_type, body)
        except Exception as error:  # a bug or a failing script callable: show it, keep serving
            return _error(
                500, f"simulator error: {type(error).__name__}: {error}", "simulator_error"
            )

    def _route(
        self,
        method: str,
        segments: list[str],
        request: SimRequest,
        key: bytes,
        content_type: str,
        body: bytes,
    ) -> _Reply:
        route = (method, *segments)
        if request.endpoint in ("chat", "judge") and method == "POST":
            return self._chat_http(request, key)
        if request.endpoint == "moderation" and method == "POST":
            return self._moderation(request, key, apply_faults=True)
        if route == ("GET", "v1", "models"):
            cards = [_base_card(model_id) for model_id in _BASE_MODELS]
            return _Reply(200, {"object": "list", "data": cards})
        if len(route) == 4 and route[:3] == ("GET", "v1", "models"):
            card = _model_card(route[3])
            return _Reply(200, card) if card else _error(404, f"Model not found: {route[3]}")
        if route == ("POST", "v1", "files"):
            return self._upload(content_type, body)
        if route == ("GET", "v1", "files"):
            with self._lock:
                stored = list(self._files.values())
            data = [_file_json(item) for item in stored]
            return _Reply(200, {"object": "list", "data": data, "total": len(data)})
        if len(route) in (4, 5) and route[1:3] == ("v1", "files"):
            return self._file(route)
        if route == ("POST", "v1", "batch", "jobs"):
            return self._create_batch(request)
        if route == ("GET", "v1", "batch", "jobs"):
            with self._lock:
                jobs = list(self._jobs.values())
            return _Reply(200, {"object": "list", "data": jobs, "total": len(jobs)})
        if len(route) == 5 and route[:4] == ("GET", "v1", "batch", "jobs"):
            with self._lock:
                job = self._jobs.get(route[4])
            return _Reply(200, job) if job else _error(404, f"Batch job not found: {route[4]}")
        return _error(404, f"Not found: {method} /{'/'.join(segments)}")

    def _pick_rule(self, request: SimRequest, conversation: Conversation) -> Rule | None:
        if self._responder is not None:
            answer = answer_from_responder(self._responder(request), request.endpoint)
            if answer is not None:
                return answer
        rules = self._rules  # a tuple replaced whole by add_rule, so no lock is needed
        for rule in rules:
            if rule.matches(request.endpoint, request.model, conversation):
                return rule
        return None

    def _apply_faults(self, faults: Faults, key: bytes, attempt: int) -> _Reply | None:
        """Sleep and fail as the faults say; None means answer normally."""
        status = faults.status
        if status is None and faults.fail and attempt <= len(faults.fail):
            status = faults.fail[attempt - 1]
        hang: float | None = None
        rates = dict(faults.rates or ())
        if status is None and rates:
            drawn = self._draw(rates, key, attempt)
            if drawn == "hang":
                hang = faults.hang_s if faults.hang_s is not None else DEFAULT_RATE_HANG_S
            elif drawn is not None:
                status = int(drawn)
        if status is None and hang is None and faults.hang_s is not None and "hang" not in rates:
            hang = faults.hang_s
        delay = hang if hang is not None else (faults.latency_s or 0.0)
        # Waiting on the stop event, not time.sleep: no lock is held, and stop() wakes us.
        if delay > 0 and self._stopping.wait(delay):
            return _DROP
        if status is None:
            return None
        headers: dict[str, str] = {}
        if status in (429, 503):
            if faults.retry_after is not None:
                headers["Retry-After"] = _format_seconds(faults.retry_after)
            if faults.retry_after_ms is not None:
                headers["retry-after-ms"] = str(faults.retry_after_ms)
        reply = _error(status, f"Simulated failure: HTTP {status}")
        return _Reply(status, reply.payload, headers)

    def _draw(self, rates: Mapping[str, float], key: bytes, attempt: int) -> str | None:
        """A reproducible draw from (seed, request, attempt): retries can draw differently."""
        digest = hashlib.sha256(f"{self._seed}:{attempt}:".encode() + key).digest()
        point = int.from_bytes(digest[:8], "big") / 2**64
        total = 0.0
        for name, rate in rates.items():
            total += rate
            if point < total:
                return name
        return None

    def _next_sample(self, key: bytes) -> int:
        with self._lock:
            index = self._samples.get(key, 0)
            self._samples[key] = index + 1
        return index

    # chat --------------------------------------------------------------------------------

    def _chat_http(self, request: SimRequest, key: bytes) -> _Reply:
        problem = _chat_problem(request.body)
        if problem is not None:
            return problem
        with self._lock:
            self._in_flight += 1
            self._max_in_flight = max(self._max_in_flight, self._in_flight)
        try:
            return self._chat(request, key, apply_faults=True)
        finally:
            with self._lock:
                self._in_flight -= 1

    def _chat(self, request: SimRequest, key: bytes, *, apply_faults: bool) -> _Reply:
        body: dict[str, Any] = request.body
        conversation = Conversation.from_messages(body["messages"])
        rule = self._pick_rule(request, conversation)
        if apply_faults:
            faults = (rule.faults if rule is not None else Faults()).over(self._faults)
            failure = self._apply_faults(faults, key, request.attempt)
            if failure is not None:
                return failure
        if rule is not None and rule.body is not None:
            return _Reply(200, dict(rule.body))
        sample = self._next_sample(key) if rule is not None and rule.replies else 0
        answer = compose_chat_answer(rule, conversation, body, sample)
        content: Any = (
            [{"type": "text", "text": chunk} for chunk in answer.chunks]
            if answer.chunked
            else answer.text
        )
        prompt_tokens = sum(count_tokens(text) for text in conversation.texts)
        completion_tokens = count_tokens(answer.text)
        payload = {
            # Derived from the request, so re-recording an unchanged answer changes no file.
            "id": _stable_id("cmpl-sim", key, sample),
            "object": "chat.completion",
            "created": _MODELS_CREATED,
            "model": request.model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": content, "tool_calls": None},
                    "finish_reason": answer.finish_reason,
                }
            ],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            },
        }
        return _Reply(200, payload)

    # moderation --------------------------------------------------------------------------

    def _moderation(self, request: SimRequest, key: bytes, *, apply_faults: bool) -> _Reply:
        body = request.body
        if not isinstance(body, dict):
            return _missing_field("input", "Field required: input")
        inputs = body.get("input", body.get("inputs"))
        conversations = _moderation_inputs(request.path, inputs)
        if conversations is None:
            return _missing_field("input", "'input' must hold the texts or chats to classify")
        answer: Rule | None = None
        if self._responder is not None:
            answer = answer_from_responder(self._responder(request), "moderation")
        rules = self._rules
        chosen: list[Rule | None] = []
        for conversation in conversations:
            matched = answer or next(
                (rule for rule in rules if rule.matches("moderation", request.model, conversation)),
                None,
            )
            chosen.append(matched)
        if apply_faults:
            with_faults = next(
                (rule for rule in chosen if rule and not rule.faults.is_empty()), None
            )
            faults = (with_faults.faults if with_faults else Faults()).over(self._faults)
            failure = self._apply_faults(faults, key, request.attempt)
            if failure is not None:
                return failure
        payload = {
            "id": _stable_id("mod-sim", key, 0),
            "model": request.model or "mistral-moderation-latest",
            "results": [moderation_result(rule) for rule in chosen],
        }
        return _Reply(200, payload)

    # files -------------------------------------------------------------------------------

    def _upload(self, content_type: str, body: bytes) -> _Reply:
        try:
            parts = _parse_multipart(content_type, body)
        except ValueError as error:
            return _error(400, f"Bad multipart upload: {error}")
        if "file" not in parts:
            return _missing_field("file", "Field required: file")
        filename, data = parts["file"]
        purpose = (parts.get("purpose") or (None, b"fine-tune"))[1].decode("utf-8", "replace")
        sample_type = "batch_request" if purpose == "batch" else "instruct"
        stored = self._store_file(filename or "upload", purpose, data, sample_type, "upload")
        return _Reply(200, _file_json(stored))

    def _store_file(
        self, filename: str, purpose: str, data: bytes, sample_type: str, source: str
    ) -> _StoredFile:
        stored = _StoredFile(
            str(uuid.uuid4()), filename, purpose, data, int(time.time()), sample_type, source
        )
        with self._lock:
            self._files[stored.id] = stored
        return stored

    def _file(self, route: tuple[str, ...]) -> _Reply:
        method, file_id = route[0], route[3]
        with self._lock:
            stored = self._files.get(file_id)
            if stored is not None and method == "DELETE" and len(route) == 4:
                del self._files[file_id]
        if stored is None:
            return _error(404, f"File not found: {file_id}")
        if method == "GET" and len(route) == 5 and route[4] == "content":
            return _Reply(200, stored.data)
        if method == "GET" and len(route) == 4:
            return _Reply(200, {**_file_json(stored), "deleted": False})
        if method == "DELETE" and len(route) == 4:
            return _Reply(200, {"id": file_id, "object": "file", "deleted": True})
        return _error(404, f"Not found: {method} /{'/'.join(route[1:])}")

    # batch -------------------------------------------------------------------------------

    def _create_batch(self, request: SimRequest) -> _Reply:
        body = request.body if isinstance(request.body, dict) else {}
        endpoint = body.get("endpoint")
        if endpoint is None:
            return _missing_field("endpoint", "Field required: endpoint")
        if endpoint not in _BATCH_ENDPOINTS:
            return _error(400, f"The simulator runs batch jobs for {list(_BATCH_ENDPOINTS)} only")
        items: list[tuple[Any, Any]] = []  # (custom_id, body or an error message)
        input_files = body.get("input_files") or []
        for file_id in input_files:
            with self._lock:
                stored = self._files.get(file_id)
            if stored is None:
                return _error(404, f"File not found: {file_id}")
            for line in stored.data.decode("utf-8", "replace").splitlines():
                if line.strip():
                    items.append(_batch_line(line))
        for inline in body.get("requests") or []:
            if isinstance(inline, dict):
                items.append((inline.get("custom_id"), inline.get("body")))
        job_id = str(uuid.uuid4())
        started = int(time.time())
        lines: list[str] = []
        succeeded = 0
        for number, (custom_id, line_body) in enumerate(items):
            reply = self._batch_answer(endpoint, body.get("model"), line_body, request)
            succeeded += reply.status == 200
            record = {
                "id": f"batch-{job_id}-{number}",
                "custom_id": custom_id,
                "response": {"status_code": reply.status, "body": reply.payload},
                "error": None,
            }
            lines.append(json.dumps(record))
        output = self._store_file(
            f"{job_id}.jsonl",
            "batch",
            "".join(f"{line}\n" for line in lines).encode(),
            "batch_result",
            "mistral",
        )
        job = {
            "id": job_id,
            "object": "batch",
            "input_files": list(input_files),
            "metadata": body.get("metadata"),
            "endpoint": endpoint,
            "model": body.get("model"),
            "agent_id": None,
            "output_file": output.id,
            "error_file": None,
            "errors": [],
            "status": "SUCCESS",
            "created_at": started,
            "total_requests": len(items),
            "completed_requests": len(items),
            "succeeded_requests": succeeded,
            "failed_requests": len(items) - succeeded,
            "started_at": started,
            "completed_at": int(time.time()),
        }
        with self._lock:
            self._jobs[job_id] = job
        return _Reply(200, job)

    def _batch_answer(
        self, endpoint: str, model: object, line_body: object, job_request: SimRequest
    ) -> _Reply:
        """One batch line through the same answers as live calls, without faults or delays."""
        if isinstance(line_body, str):
            return _error(400, line_body)
        if not isinstance(line_body, dict):
            return _error(400, "each batch line needs a 'body' object")
        if "model" not in line_body and isinstance(model, str):
            line_body = {**line_body, "model": model}
        segments = endpoint.strip("/").split("/")
        request = SimRequest(
            "POST",
            endpoint,
            line_body,
            job_request.has_authorization,
            _classify(segments, line_body),
            1,
        )
        key = _request_key(endpoint, line_body, b"")
        if request.endpoint == "moderation":
            return self._moderation(request, key, apply_faults=False)
        return _chat_problem(line_body) or self._chat(request, key, apply_faults=False)


# --- pure helpers ----------------------------------------------------------------------------


def _classify(segments: Sequence[str], body: Any) -> str:
    if segments[:1] != ["v1"]:
        return "other"
    rest = list(segments[1:])
    if rest == ["chat", "completions"]:
        return "judge" if isinstance(body, dict) and is_judge_request(body) else "chat"
    if rest in (["chat", "moderations"], ["moderations"]):
        return "moderation"
    names = {"models": "models", "files": "files", "batch": "batch"}
    return names.get(rest[0], "other") if rest else "other"


def _request_key(path: str, body: Any, raw: bytes) -> bytes:
    """Identical requests share a key: the path and the body with its keys sorted."""
    canonical = (
        json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
        if body is not None
        else raw
    )
    return hashlib.sha1(path.encode() + b"\0" + canonical, usedforsecurity=False).digest()


def _chat_problem(body: Any) -> _Reply | None:
    if not isinstance(body, dict):
        return _missing_field("messages", "Field required: messages")
    if not isinstance(body.get("model"), str):
        return _missing_field("model", "Field required: model")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        return _missing_field("messages", "Field required: messages (a non-empty list)")
    if body.get("stream"):
        return _error(400, "Streaming is not simulated: send stream=false (chat.complete)")
    return None


def _moderation_inputs(path: str, inputs: object) -> list[Conversation] | None:
    if path == _TEXT_MODERATION_PATH:
        if isinstance(inputs, str):
            return [Conversation.from_text(inputs)]
        if isinstance(inputs, list) and inputs and all(isinstance(item, str) for item in inputs):
            return [Conversation.from_text(item) for item in inputs]
        return None
    if not isinstance(inputs, list) or not inputs:
        return None
    # The SDK sends either one conversation (a list of messages) or a list of conversations.
    if all(isinstance(item, dict) for item in inputs):
        return [Conversation.from_messages(inputs)]
    if all(isinstance(item, list) for item in inputs):
        return [Conversation.from_messages(item) for item in inputs]
    return None


def _base_card(model_id: str) -> dict[str, Any]:
    name, context, capabilities = _BASE_MODELS[model_id]
    return {
        "id": model_id,
        "object": "model",
        "created": _MODELS_CREATED,
        "owned_by": "mistralai",
        "capabilities": capabilities,
        "name": name,
        "description": f"{name} (simulated)",
        "max_context_length": context,
        "aliases": [],
        "deprecation": None,
        "default_model_temperature": 0.3,
        "type": "base",
    }


def _model_card(model_id: str) -> dict[str, Any] | None:
    if model_id in _BASE_MODELS:
        return _base_card(model_id)
    parts = model_id.split(":")
    if len(parts) < 3 or parts[0] != "ft" or not parts[1]:
        return None
    root = parts[1]
    context = _BASE_MODELS[root][1] if root in _BASE_MODELS else 32_768
    return {
        "id": model_id,
        "object": "model",
        "created": _MODELS_CREATED,
        "owned_by": parts[2] or "simulated",
        "capabilities": {"completion_chat": True, "function_calling": True},
        "name": None,
        "description": None,
        "max_context_length": context,
        "aliases": [],
        "deprecation": None,
        "job": str(uuid.uuid5(uuid.NAMESPACE_URL, f"llmeval-simulator:{model_id}")),
        "root": root,
        "archived": False,
        "type": "fine-tuned",
    }


def _file_json(stored: _StoredFile) -> dict[str, Any]:
    return {
        "id": stored.id,
        "object": "file",
        "bytes": len(stored.data),
        "created_at": stored.created_at,
        "filename": stored.filename,
        "purpose": stored.purpose,
        "sample_type": stored.sample_type,
        "source": stored.source,
        "num_lines": len(stored.data.splitlines()),
        "mimetype": "application/jsonl" if stored.filename.endswith(".jsonl") else None,
        "signature": None,
    }


def _batch_line(line: str) -> tuple[Any, Any]:
    try:
        item = json.loads(line)
    except ValueError as error:
        return None, f"invalid JSON line: {error}"
    if not isinstance(item, dict):
        return None, "each batch line must be a JSON object"
    return item.get("custom_id"), item.get("body")


_DISPOSITION_NAME = re.compile(r'\bname="([^"]*)"')
_DISPOSITION_FILENAME = re.compile(r'\bfilename="([^"]*)"')


def _parse_multipart(content_type: str, body: bytes) -> dict[str, tuple[str | None, bytes]]:
    """Fields of a multipart/form-data body: name -> (filename or None, content)."""
    match = re.search(r'boundary="?([^";]+)"?', content_type)
    if not content_type.lower().startswith("multipart/form-data") or match is None:
        raise ValueError("expected multipart/form-data with a boundary")
    delimiter = b"--" + match.group(1).encode("latin-1")
    parts: dict[str, tuple[str | None, bytes]] = {}
    for part in body.split(delimiter)[1:]:
        if part.startswith(b"--"):
            break
        head, separator, content = part.removeprefix(b"\r\n").partition(b"\r\n\r\n")
        if not separator:
            raise ValueError("a part has no header block")
        text = head.decode("utf-8", "replace")
        name = _DISPOSITION_NAME.search(text)
        if name is None:
            raise ValueError("a part has no Content-Disposition name")
        filename = _DISPOSITION_FILENAME.search(text)
        parts[name.group(1)] = (
            filename.group(1) if filename else None,
            content.removesuffix(b"\r\n"),
        )
    return parts


# --- HTTP plumbing ---------------------------------------------------------------------------


class _HTTPServer(http.server.ThreadingHTTPServer):
    """One daemon thread per connection; a slow request never holds up the others."""

    daemon_threads = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], simulator: Simulator) -> None:
        self.simulator = simulator
        self.connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, _Handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind looks the host name up (getfqdn), which can stall offline.
        socketserver.TCPServer.server_bind(self)
        self.server_name = str(self.server_address[0])
        self.server_port = int(self.server_address[1])

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients that time out and leave are normal here; anything else is a bug to show.
        error = sys.exc_info()[1]
        if isinstance(error, (ConnectionError, TimeoutError)) or self.simulator._stopping.is_set():
            return
        super().handle_error(request, client_address)

    def close_connections(self) -> None:
        with self.connections_lock:
            open_connections = list(self.connections)
        for connection in open_connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "llmeval-simulator"
    disable_nagle_algorithm = True
    server: _HTTPServer

    def setup(self) -> None:
        super().setup()
        with self.server.connections_lock:
            self.server.connections.add(self.connection)

    def finish(self) -> None:
        with self.server.connections_lock:
            self.server.connections.discard(self.connection)
        with contextlib.suppress(OSError):
            super().finish()

    def log_message(self, format: str, *args: Any) -> None:
        """Silent: the simulator counts requests instead of logging them."""

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """Requests too malformed to route (bad request line, headers) get a JSON error too."""
        self.close_connection = True
        self._write(_error(code, message or http.HTTPStatus(code).phrase))

    def _dispatch(self) -> None:
        try:
            body = self._read_body()
        except ValueError as error:
            self.close_connection = True
            self._write(_error(400, f"Bad request body: {error}"))
            return
        reply = self.server.simulator._respond(
            self.command,
            self.path,
            self.headers.get("Content-Type") or "",
            self.headers.get("Authorization"),
            body,
        )
        if reply is _DROP:
            self.close_connection = True
            return
        self._write(reply)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = _dispatch

    def _read_body(self) -> bytes:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            return self._read_chunked()
        length = self.headers.get("Content-Length")
        if not length:
            return b""
        size = int(length)
        if size < 0:
            raise ValueError("negative Content-Length")
        return self.rfile.read(size)

    def _read_chunked(self) -> bytes:
        chunks: list[bytes] = []
        while True:
            size = int(self.rfile.readline(65_537).split(b";", 1)[0].strip(), 16)
            if size == 0:
                while self.rfile.readline(65_537) not in (b"\r\n", b"\n", b""):
                    pass
                return b"".join(chunks)
            chunks.append(self.rfile.read(size))
            self.rfile.readline(65_537)

    def _write(self, reply: _Reply) -> None:
        if isinstance(reply.payload, bytes):
            data, content_type = reply.payload, "application/octet-stream"
        else:
            data = json.dumps(reply.payload, separators=(",", ":")).encode()
            content_type = "application/json"
        try:
            phrase = http.HTTPStatus(reply.status).phrase
        except ValueError:
            phrase = "Error"
        lines = [
            f"HTTP/1.1 {reply.status} {phrase}",
            f"Content-Type: {content_type}",
            f"Content-Length: {len(data)}",
        ]
        lines.extend(f"{name}: {value}" for name, value in reply.headers.items())
        if self.close_connection:
            lines.append("Connection: close")
        # One write for head and body: two small writes can meet Nagle and delayed ACKs.
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        try:
            self.wfile.write(head + data)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
