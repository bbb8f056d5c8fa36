"""The simulator's HTTP server: Mistral's wire formats over loopback, answers from a script."""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import json
import threading
import time
import urllib.parse
import uuid
from collections import Counter
from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import Any

from pytest_llmeval.simulator.answers import DROP, Answer, error_answer, missing_field
from pytest_llmeval.simulator.batch_jobs import BatchFaults, SimulatedJob, ended_job
from pytest_llmeval.simulator.catalog import (
    MODELS_CREATED,
    model_card,
    served_ids,
    serves,
)
from pytest_llmeval.simulator.files import StoredFile, batch_line, file_json, parse_multipart
from pytest_llmeval.simulator.loopback import LoopbackServer
from pytest_llmeval.simulator.script import (
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
from pytest_llmeval.simulator.streaming import stream_events

_CHAT_PATH = "/v1/chat/completions"
_CHAT_MODERATION_PATH = "/v1/chat/moderations"
_TEXT_MODERATION_PATH = "/v1/moderations"
_BATCH_ENDPOINTS = (_CHAT_PATH, _CHAT_MODERATION_PATH, _TEXT_MODERATION_PATH)
_MODEL_CALLS = frozenset({"chat", "judge", "moderation"})


def _stable_id(prefix: str, key: bytes, sample: int) -> str:
    return f"{prefix}-{hashlib.sha256(key).hexdigest()[:16]}-{sample}"


def _format_seconds(value: float | str) -> str:
    if isinstance(value, str):
        return value  # an odd value, sent as given
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
        self._model_cards: dict[str, dict[str, Any]] = {
            name: dict(card) for name, card in loaded.models.items()
        }
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
        self._files: dict[str, StoredFile] = {}
        self._jobs: dict[str, SimulatedJob] = {}
        self._batch_faults = BatchFaults()
        self._server: LoopbackServer | None = None
        self._thread: threading.Thread | None = None

    # --- lifecycle -------------------------------------------------------------------------

    def start(self) -> Simulator:
        """Bind and serve in a daemon thread; returns self. Calling it again does nothing."""
        if self._server is not None:
            return self
        self._stopping.clear()
        server = LoopbackServer(self._address, self._respond, self._stopping)
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

    def set_batch_faults(self, **faults: Any) -> None:
        """Change how batch jobs behave (`batch_jobs.BatchFaults`): `duration_s=2` makes every
        job take two seconds, QUEUED and then RUNNING; `status="FAILED"` ends new jobs so.
        Lines fail through the rules: a rule's `status` fails each batch line it matches."""
        with self._lock:
            self._batch_faults = dataclasses.replace(self._batch_faults, **faults)

    def set_model_card(self, model_id: str, **fields: Any) -> None:
        """Serve `model_id`'s card with these fields over the catalog's (`name`, `aliases`,
        `deprecation`, `deprecation_replacement_model`, `root`, ...)."""
        with self._lock:
            self._model_cards[model_id] = {**self._model_cards.get(model_id, {}), **fields}

    # --- request handling ------------------------------------------------------------------

    def _respond(
        self,
        method: str,
        raw_path: str,
        content_type: str,
        authorization: str | None,
        body: bytes,
        headers: Sequence[tuple[str, str]] = (),
    ) -> Answer:
        """Record the request and answer it. `authorization` is compared, then forgotten;
        `headers` are kept for this request only, for the `echo_headers` fault."""
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
            return error_answer(401, "Unauthorized: missing or wrong API key")
        if malformed:
            return error_answer(400, f"Malformed JSON body: {malformed}")
        try:
            return self._route(method, segments, request, key, content_type, body, headers)
        except Exception as error:  # a bug or a failing script callable: show it, keep serving
            return error_answer(
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
        headers: Sequence[tuple[str, str]] = (),
    ) -> Answer:
        route = (method, *segments)
        if request.endpoint in ("chat", "judge", "moderation") and method == "POST":
            unknown = self._unknown_model(request)
            if unknown is not None:
                return unknown
        if request.endpoint in ("chat", "judge") and method == "POST":
            return self._chat_http(request, key, headers)
        if request.endpoint == "moderation" and method == "POST":
            return self._moderation(request, key, apply_faults=True)
        if route == ("GET", "v1", "models"):
            with self._lock:
                planted = dict(self._model_cards)
            cards = [card for name in served_ids(planted) if (card := model_card(name, planted))]
            return Answer(200, {"object": "list", "data": cards})
        if len(route) == 4 and route[:3] == ("GET", "v1", "models"):
            with self._lock:
                planted = dict(self._model_cards)
            card = model_card(route[3], planted)
            if card is None and serves(route[3], planted, (rule.model for rule in self._rules)):
                card = model_card(route[3], {route[3]: {}})  # a rule names it: it is served
            return Answer(200, card) if card else error_answer(404, f"Model not found: {route[3]}")
        if route == ("POST", "v1", "files"):
            return self._upload(content_type, body)
        if route == ("GET", "v1", "files"):
            with self._lock:
                stored = list(self._files.values())
            data = [file_json(item) for item in stored]
            return Answer(200, {"object": "list", "data": data, "total": len(data)})
        if len(route) in (4, 5) and route[1:3] == ("v1", "files"):
            return self._file(route)
        if route == ("POST", "v1", "batch", "jobs"):
            return self._create_batch(request)
        if route == ("GET", "v1", "batch", "jobs"):
            jobs = self._job_views()
            return Answer(200, {"object": "list", "data": jobs, "total": len(jobs)})
        if len(route) == 5 and route[:4] == ("GET", "v1", "batch", "jobs"):
            job = next((view for view in self._job_views() if view["id"] == route[4]), None)
            return (
                Answer(200, job) if job else error_answer(404, f"Batch job not found: {route[4]}")
            )
        return error_answer(404, f"Not found: {method} /{'/'.join(segments)}")

    def _unknown_model(self, request: SimRequest) -> Answer | None:
        """The platform's answer to a model call naming an id it does not serve: HTTP 400,
        `invalid_model`; None for a served id (or none given: the usual 422 follows)."""
        model = request.body.get("model") if isinstance(request.body, dict) else None
        if not isinstance(model, str):
            return None
        with self._lock:
            planted = dict(self._model_cards)
        if serves(model, planted, (rule.model for rule in self._rules)):
            return None
        payload = {
            "object": "error",
            "message": f"Invalid model: {model}",
            "type": "invalid_model",
            "param": None,
            "code": "1500",
        }
        return Answer(400, payload)

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

    def _apply_faults(self, faults: Faults, key: bytes, attempt: int) -> Answer | None:
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
            return DROP
        if status is None:
            return None
        headers: dict[str, str] = {}
        if status in (429, 503):
            if faults.retry_after is not None:
                headers["Retry-After"] = _format_seconds(faults.retry_after)
            if faults.retry_after_ms is not None:
                headers["retry-after-ms"] = str(faults.retry_after_ms)
        reply = error_answer(status, f"Simulated failure: HTTP {status}")
        return Answer(status, reply.payload, headers)

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

    def _chat_http(
        self, request: SimRequest, key: bytes, headers: Sequence[tuple[str, str]]
    ) -> Answer:
        problem = _chat_problem(request.body)
        if problem is not None:
            return problem
        with self._lock:
            self._in_flight += 1
            self._max_in_flight = max(self._max_in_flight, self._in_flight)
        try:
            return self._chat(request, key, apply_faults=True, headers=headers)
        finally:
            with self._lock:
                self._in_flight -= 1

    def _chat(
        self,
        request: SimRequest,
        key: bytes,
        *,
        apply_faults: bool,
        headers: Sequence[tuple[str, str]] = (),
    ) -> Answer:
        body: dict[str, Any] = request.body
        conversation = Conversation.from_messages(body["messages"])
        rule = self._pick_rule(request, conversation)
        faults = (rule.faults if rule is not None else Faults()).over(self._faults)
        echoed = "; ".join(f"{name}: {value}" for name, value in headers)
        if apply_faults:
            failure = self._apply_faults(faults, key, request.attempt)
            if failure is not None:
                if faults.echo_headers and failure is not DROP:
                    return _echoing(failure, echoed)
                return failure
        else:
            faults = Faults()
        answer = self._chat_answer(request, key, rule, conversation, body)
        if faults.echo_headers:
            answer = _echoing(answer, echoed)
        return dataclasses.replace(
            answer,
            drip_s=faults.drip_s,
            cut_body=bool(faults.cut_body),
            event_gap_s=faults.token_s,
        )

    def _chat_answer(
        self,
        request: SimRequest,
        key: bytes,
        rule: Rule | None,
        conversation: Conversation,
        body: dict[str, Any],
    ) -> Answer:
        if rule is not None and rule.body is not None:
            payload = rule.body if isinstance(rule.body, str) else dict(rule.body)
            if isinstance(payload, str):
                return Answer(200, payload.encode(), content_type=rule.content_type or "text/plain")
            return Answer(200, payload, content_type=rule.content_type)
        sample = self._next_sample(key) if rule is not None and rule.replies else 0
        answer = compose_chat_answer(rule, conversation, body, sample)
        content: Any = (
            [{"type": "text", "text": chunk} for chunk in answer.chunks]
            if answer.chunked
            else answer.text
        )
        prompt_tokens = sum(count_tokens(text) for text in conversation.texts)
        completion_tokens = count_tokens(answer.text) + sum(
            count_tokens(name + arguments) for name, arguments in answer.tool_calls
        )
        tool_calls = [
            {
                "id": hashlib.sha256(key + b"/%d/%d" % (sample, index)).hexdigest()[:9],
                "type": "function",
                "function": {"name": name, "arguments": arguments},
                "index": index,
            }
            for index, (name, arguments) in enumerate(answer.tool_calls)
        ]
        payload = {
            # Derived from the request, so re-recording an unchanged answer changes no file.
            "id": _stable_id("cmpl-sim", key, sample),
            "object": "chat.completion",
            "created": MODELS_CREATED,
            "model": request.model,
            "choices": [
                {
                    "index": 0,
                    "message": {
                        "role": "assistant",
                        "content": content,
                        "tool_calls": tool_calls or None,
                    },
                    "finish_reason": answer.finish_reason,
                }
            ],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            },
        }
        if body.get("stream"):
            events = tuple(stream_events(payload))
            return Answer(200, b"".join(events), content_type="text/event-stream", events=events)
        return Answer(200, payload, content_type=rule.content_type if rule else None)

    # moderation --------------------------------------------------------------------------

    def _moderation(self, request: SimRequest, key: bytes, *, apply_faults: bool) -> Answer:
        body = request.body
        if not isinstance(body, dict):
            return missing_field("input", "Field required: input")
        inputs = body.get("input", body.get("inputs"))
        conversations = _moderation_inputs(request.path, inputs)
        if conversations is None:
            return missing_field("input", "'input' must hold the texts or chats to classify")
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
        return Answer(200, payload)

    # files -------------------------------------------------------------------------------

    def _upload(self, content_type: str, body: bytes) -> Answer:
        try:
            parts = parse_multipart(content_type, body)
        except ValueError as error:
            return error_answer(400, f"Bad multipart upload: {error}")
        if "file" not in parts:
            return missing_field("file", "Field required: file")
        filename, data = parts["file"]
        purpose = (parts.get("purpose") or (None, b"fine-tune"))[1].decode("utf-8", "replace")
        sample_type = "batch_request" if purpose == "batch" else "instruct"
        stored = self._store_file(filename or "upload", purpose, data, sample_type, "upload")
        return Answer(200, file_json(stored))

    def _store_file(
        self, filename: str, purpose: str, data: bytes, sample_type: str, source: str
    ) -> StoredFile:
        stored = StoredFile(
            str(uuid.uuid4()), filename, purpose, data, int(time.time()), sample_type, source
        )
        with self._lock:
            self._files[stored.id] = stored
        return stored

    def _file(self, route: tuple[str, ...]) -> Answer:
        method, file_id = route[0], route[3]
        with self._lock:
            stored = self._files.get(file_id)
            if stored is not None and method == "DELETE" and len(route) == 4:
                del self._files[file_id]
        if stored is None:
            return error_answer(404, f"File not found: {file_id}")
        if method == "GET" and len(route) == 5 and route[4] == "content":
            return Answer(200, stored.data)
        if method == "GET" and len(route) == 4:
            return Answer(200, {**file_json(stored), "deleted": False})
        if method == "DELETE" and len(route) == 4:
            return Answer(200, {"id": file_id, "object": "file", "deleted": True})
        return error_answer(404, f"Not found: {method} /{'/'.join(route[1:])}")

    # batch -------------------------------------------------------------------------------

    def _create_batch(self, request: SimRequest) -> Answer:
        body = request.body if isinstance(request.body, dict) else {}
        endpoint = body.get("endpoint")
        if endpoint is None:
            return missing_field("endpoint", "Field required: endpoint")
        if endpoint not in _BATCH_ENDPOINTS:
            return error_answer(
                400, f"The simulator runs batch jobs for {list(_BATCH_ENDPOINTS)} only"
            )
        items: list[tuple[Any, Any]] = []  # (custom_id, body or an error message)
        input_files = body.get("input_files") or []
        for file_id in input_files:
            with self._lock:
                stored = self._files.get(file_id)
            if stored is None:
                return error_answer(404, f"File not found: {file_id}")
            for line in stored.data.decode("utf-8", "replace").splitlines():
                if line.strip():
                    items.append(batch_line(line))
        for inline in body.get("requests") or []:
            if isinstance(inline, dict):
                items.append((inline.get("custom_id"), inline.get("body")))
        job_id = str(uuid.uuid4())
        started = int(time.time())
        lines: list[str] = []
        failures: list[str] = []
        for number, (custom_id, line_body) in enumerate(items):
            reply = self._batch_answer(endpoint, body.get("model"), line_body, request)
            record = {
                "id": f"batch-{job_id}-{number}",
                "custom_id": custom_id,
                "response": {"status_code": reply.status, "body": reply.payload},
                "error": None,
            }
            if reply.status != 200:
                message = reply.payload.get("message") if isinstance(reply.payload, dict) else None
                record["error"] = {"message": message or f"HTTP {reply.status}", "code": None}
            (lines if reply.status == 200 else failures).append(json.dumps(record))
        succeeded = len(lines)
        output = self._store_file(
            f"{job_id}.jsonl",
            "batch",
            "".join(f"{line}\n" for line in lines).encode(),
            "batch_result",
            "mistral",
        )
        errors = None
        if failures:
            errors = self._store_file(
                f"{job_id}-errors.jsonl",
                "batch",
                "".join(f"{line}\n" for line in failures).encode(),
                "batch_error",
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
            "error_file": errors.id if errors is not None else None,
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
            faults = self._batch_faults
            simulated = self._jobs[job_id] = SimulatedJob(ended_job(job, faults), time.monotonic())
        return Answer(200, simulated.view(time.monotonic(), faults.duration_s))

    def _job_views(self) -> list[dict[str, Any]]:
        """Every batch job as it is now (a slow job moves on as time passes)."""
        with self._lock:
            jobs, duration = list(self._jobs.values()), self._batch_faults.duration_s
        now = time.monotonic()
        return [job.view(now, duration) for job in jobs]

    def _batch_answer(
        self, endpoint: str, model: object, line_body: object, job_request: SimRequest
    ) -> Answer:
        """One batch line through the same answers as live calls, without faults or delays."""
        if isinstance(line_body, str):
            return error_answer(400, line_body)
        if not isinstance(line_body, dict):
            return error_answer(400, "each batch line needs a 'body' object")
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
        problem = _chat_problem(line_body)
        if problem is not None:
            return problem
        # A rule's `status` fails the batch lines it matches; delays and retries do not apply.
        rule = self._pick_rule(request, Conversation.from_messages(line_body["messages"]))
        status = rule.faults.status if rule is not None else None
        if status is not None:
            return error_answer(status, f"Simulated failure: HTTP {status}")
        return self._chat(request, key, apply_faults=False)


# --- pure helpers ----------------------------------------------------------------------------


def _echoing(answer: Answer, echoed: str) -> Answer:
    """`answer` with the request's headers echoed: in the reply or error message, and in a
    response header, as a careless proxy or debugging server does."""
    payload = answer.payload
    if isinstance(payload, dict) and isinstance(payload.get("message"), str):
        payload = {**payload, "message": f"{payload['message']} (you sent: {echoed})"}
    elif isinstance(payload, dict) and payload.get("choices"):
        choice = dict(payload["choices"][0])
        choice["message"] = {**choice["message"], "content": f"You sent: {echoed}"}
        payload = {**payload, "choices": [choice]}
    return dataclasses.replace(
        answer, payload=payload, headers={**answer.headers, "X-Echo-Request": echoed}
    )


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


def _chat_problem(body: Any) -> Answer | None:
    if not isinstance(body, dict):
        return missing_field("messages", "Field required: messages")
    if not isinstance(body.get("model"), str):
        return missing_field("model", "Field required: model")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        return missing_field("messages", "Field required: messages (a non-empty list)")
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
