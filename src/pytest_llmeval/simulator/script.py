"""Simulator scripts: rules and faults from JSON, JSONL or Python, and the answers they give."""

from __future__ import annotations

import fnmatch
import json
import math
import os
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, TypeGuard, Union

from pytest_llmeval.simulator.tool_calls import parse_tool_calls

#: Category names of Mistral's current moderation model; rules may flag any other name too.
MODERATION_CATEGORIES: tuple[str, ...] = (
    "sexual",
    "hate_and_discrimination",
    "violence_and_threats",
    "dangerous_and_criminal_content",
    "selfharm",
    "health",
    "financial",
    "law",
    "pii",
)
FLAGGED_SCORE = 0.9
UNFLAGGED_SCORE = 0.01

#: Request kinds a rule can answer. "judge" is a chat request whose response_format is a JSON
#: schema; "chat" is every other chat request, so rules for the model under test never
#: answer the judge by accident.
RULE_ENDPOINTS: tuple[str, ...] = ("chat", "judge", "moderation")
FINISH_REASONS: tuple[str, ...] = ("stop", "length", "model_length", "error", "tool_calls")
CHARS_PER_TOKEN = 4
DEFAULT_REPLY_PREFIX = "Simulated reply to: "
DEFAULT_REPLY_EMPTY = "Simulated reply."
DEFAULT_TOOL_ANSWER_PREFIX = "Simulated answer from the tool results: "
DEFAULT_JUDGE_REASONING = "simulated judge"
DEFAULT_JUDGE_SCORE = 5
#: How long a hang drawn from `rates` lasts when the faults give no `hang_s`.
DEFAULT_RATE_HANG_S = 30.0

_MATCH_KEYS = ("endpoint", "model", "match", "system", "contains", "after_tool")
_ANSWERS = ("reply", "reply_chunks", "replies", "echo", "body", "tool_calls")
_CHAT_ANSWER_KEYS = (
    "reply",
    "reply_chunks",
    "replies",
    "echo",
    "body",
    "tool_calls",
    "finish_reason",
    "truncate_at",
    "content_type",
)
_MODERATION_ANSWER_KEYS = ("flag", "scores")
_FAULT_KEYS = (
    "latency_s",
    "fail",
    "retry_after",
    "retry_after_ms",
    "status",
    "hang_s",
    "rates",
    "drip_s",
    "cut_body",
    "echo_headers",
    "token_s",
)
_RULE_KEYS = frozenset(_MATCH_KEYS + _CHAT_ANSWER_KEYS + _MODERATION_ANSWER_KEYS + _FAULT_KEYS)
_SCRIPT_KEYS = ("rules", "latency_s", "seed", "faults", "models")


def count_tokens(text: str) -> int:
    """The simulator's token count: one token per 4 characters, rounded up."""
    return math.ceil(len(text) / CHARS_PER_TOKEN)


def message_text(content: object) -> str:
    """The text of a message's `content`: a string, or the text chunks of a chunk list."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = [
            chunk["text"]
            for chunk in content
            if isinstance(chunk, dict) and isinstance(chunk.get("text"), str)
        ]
        return "".join(parts)
    return ""


@dataclass(frozen=True)
class Conversation:
    """The parts of a message list that rules look at, extracted once per request."""

    last_user: str = ""
    system: str = ""
    texts: tuple[str, ...] = ()
    #: Content of a trailing assistant message sent with `prefix: true`, which the reply
    #: must start with, as Mistral's API does.
    prefix: str = ""
    #: The contents of the `tool` messages that end the conversation, to answer from.
    tool_results: tuple[str, ...] = ()

    @property
    def after_tool(self) -> bool:
        return bool(self.tool_results)

    @classmethod
    def from_messages(cls, messages: object) -> Conversation:
        if not isinstance(messages, list):
            return cls()
        last_user = ""
        system_parts: list[str] = []
        texts: list[str] = []
        prefix = ""
        for message in messages:
            if not isinstance(message, dict):
                continue
            text = message_text(message.get("content"))
            texts.append(text)
            role = message.get("role")
            if role == "user":
                last_user = text
            elif role == "system":
                system_parts.append(text)
        last = messages[-1] if messages else None
        if isinstance(last, dict) and last.get("role") == "assistant" and last.get("prefix"):
            prefix = message_text(last.get("content"))
        results: list[str] = []
        for message in reversed(messages):
            if not isinstance(message, dict) or message.get("role") != "tool":
                break
            results.insert(0, message_text(message.get("content")))
        return cls(last_user, "\n".join(system_parts), tuple(texts), prefix, tuple(results))

    @classmethod
    def from_text(cls, text: str) -> Conversation:
        """A text moderation input, seen by rules as a single user message."""
        return cls(last_user=text, texts=(text,))


@dataclass(frozen=True)
class Faults:
    """Injected failures and delays; a field left None is not set (see `over`)."""

    latency_s: float | None = None
    fail: tuple[int, ...] | None = None
    #: Seconds, or a string sent as is (`"nan"`, `"-5"`, `"soon"`: what odd servers send).
    retry_after: float | str | None = None
    retry_after_ms: int | None = None
    status: int | None = None
    hang_s: float | None = None
    rates: tuple[tuple[str, float], ...] | None = None
    #: Send the body one byte every `drip_s` seconds.
    drip_s: float | None = None
    #: Send half the body, then close the connection.
    cut_body: bool | None = None
    #: Echo the request's headers (the Authorization header too) in the body and a header.
    echo_headers: bool | None = None
    token_s: float | None = None  # seconds between a streamed answer's events

    def over(self, base: Faults) -> Faults:
        """These faults, with each field not set here taken from `base`."""
        values = {
            item.name: getattr(self, item.name)
            if getattr(self, item.name) is not None
            else getattr(base, item.name)
            for item in fields(self)
        }
        return Faults(**values)

    def is_empty(self) -> bool:
        return all(getattr(self, item.name) is None for item in fields(self))


@dataclass(frozen=True)
class Rule:
    """One scripted behaviour: what requests it matches, how it answers, which faults it adds."""

    endpoints: frozenset[str] = frozenset({"chat"})
    model: str | None = None
    match: re.Pattern[str] | None = None
    system: re.Pattern[str] | None = None
    contains: str | None = None
    #: Answer only after tool results (True) or before (False); None: either (before, for
    #: a rule with `tool_calls`).
    after_tool: bool | None = None
    reply: str | None = None
    reply_chunks: tuple[str, ...] | None = None
    #: Tool calls to answer with, each (function name, arguments as raw text).
    tool_calls: tuple[tuple[str, str], ...] | None = None
    replies: tuple[str, ...] | None = None
    echo: bool = False
    finish_reason: str | None = None
    truncate_at: int | None = None
    flag: tuple[str, ...] | None = None
    #: Moderation scores by category, over the defaults (0.9 flagged, 0.01 not).
    scores: tuple[tuple[str, float], ...] | None = None
    #: A whole response body sent as is instead of a completion (odd or broken answers):
    #: JSON, or a string sent as text.
    body: Mapping[str, Any] | str | None = None
    #: The Content-Type of the answer, over the usual one (e.g. "text/html").
    content_type: str | None = None
    faults: Faults = field(default_factory=Faults)
    #: Where the rule came from, e.g. "rules.jsonl, line 3", for error messages.
    source: str = ""

    def matches(self, endpoint: str, model: str, conversation: Conversation) -> bool:
        if endpoint not in self.endpoints:
            return False
        if self.model is not None and not fnmatch.fnmatchcase(model, self.model):
            return False
        if self.match is not None and not self.match.search(conversation.last_user):
            return False
        if self.system is not None and not self.system.search(conversation.system):
            return False
        after_tool = self.after_tool
        if after_tool is None and self.tool_calls is not None:
            after_tool = False  # else a conversation would call the tool again and again
        if after_tool is not None and after_tool != conversation.after_tool:
            return False
        return self.contains is None or any(self.contains in text for text in conversation.texts)


@dataclass(frozen=True)
class SimRequest:
    """A request the simulator received; of the Authorization header only its presence is kept."""

    method: str
    path: str
    #: The parsed JSON body; None when there was none, it was not JSON, or it was a file upload.
    body: Any
    has_authorization: bool
    #: "chat", "judge", "moderation", "models", "files", "batch" or "other".
    endpoint: str
    #: How many times this exact request (path and body) has been seen, this one included.
    attempt: int = 1

    @property
    def model(self) -> str:
        value = self.body.get("model") if isinstance(self.body, dict) else None
        return value if isinstance(value, str) else ""

    @property
    def messages(self) -> list[dict[str, Any]]:
        value = self.body.get("messages") if isinstance(self.body, dict) else None
        return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []

    @property
    def last_user_message(self) -> str:
        return Conversation.from_messages(self.messages).last_user

    @property
    def system_prompt(self) -> str:
        return Conversation.from_messages(self.messages).system


@dataclass(frozen=True)
class SimResponse:
    """What a script callable may answer: a rule's answer and fault keys, all optional."""

    reply: str | None = None
    reply_chunks: Sequence[str] | None = None
    finish_reason: str | None = None
    truncate_at: int | None = None
    flag: Sequence[str] | None = None
    scores: Mapping[str, float] | None = None
    status: int | None = None
    retry_after: float | None = None
    retry_after_ms: int | None = None
    latency_s: float | None = None
    hang_s: float | None = None
    tool_calls: Sequence[Mapping[str, Any]] | None = None  # each {"name", "arguments"}
    token_s: float | None = None

    def as_rule_dict(self) -> dict[str, Any]:
        return {
            item.name: list(value) if isinstance(value, tuple) else value
            for item in fields(self)
            if (value := getattr(self, item.name)) is not None
        }


Responder = Callable[[SimRequest], "SimResponse | Mapping[str, Any] | str | None"]
ScriptSource = Union[
    str, "os.PathLike[str]", Sequence[Mapping[str, Any]], Mapping[str, Any], Responder, None
]


@dataclass(frozen=True)
class Script:
    """A loaded script: rules in order, global settings, and an optional Python responder."""

    rules: tuple[Rule, ...] = ()
    latency_s: float | None = None
    seed: int | None = None
    faults: Faults = field(default_factory=Faults)
    responder: Responder | None = None
    # Model card fields by model id, over the catalog's cards (`"models"` in a script object).
    models: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)


class _Invalid(ValueError):
    """A problem in one value, before the caller adds which file, line or rule it is in."""


def load_script(source: ScriptSource) -> Script:
    """Read a script: a `.json`/`.jsonl` path, rule dicts, a script object, a callable, or None.

    Raises `ValueError` naming the file, the line (JSONL) or rule number, and what is wrong.
    """
    if source is None:
        return Script()
    if isinstance(source, (str, os.PathLike)):
        return _load_file(Path(source))
    if callable(source):
        return Script(responder=source)
    if isinstance(source, Mapping):
        return _parse_script_object(source, "script")
    if isinstance(source, Sequence):
        return Script(rules=_parse_rule_list(source, "script"))
    raise ValueError(
        f"script must be a .json/.jsonl path, a list of rules or a callable, "
        f"not {type(source).__name__}"
    )


def _load_file(path: Path) -> Script:
    suffix = path.suffix.lower()
    if suffix not in (".json", ".jsonl"):
        raise ValueError(f"{path}: a simulator script must be a .json or .jsonl file")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise ValueError(f"{path}: cannot read the script file: {error}") from None
    if suffix == ".jsonl":
        return Script(rules=tuple(_parse_jsonl(path, text)))
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(
            f"{path}: line {error.lineno}, column {error.colno}: invalid JSON: {error.msg}"
        ) from None
    if isinstance(data, list):
        return Script(rules=_parse_rule_list(data, str(path)))
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a list of rules or an object with 'rules'")
    return _parse_script_object(data, str(path))


def _parse_script_object(data: Mapping[str, Any], origin: str) -> Script:
    """The object form: `{"rules": [...], "latency_s": ..., "seed": ..., "faults": {...}}`."""
    try:
        _reject_unknown(data, _SCRIPT_KEYS, "top-level key")
        rules = data.get("rules", [])
        if not isinstance(rules, list):
            raise _Invalid("'rules' must be a list of rule objects")
        latency = _optional_seconds(data, "latency_s")
        seed = data.get("seed")
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
            raise _Invalid("'seed' must be an integer")
        faults_data = data.get("faults", {})
        if not isinstance(faults_data, Mapping):
            raise _Invalid("'faults' must be an object")
        faults = parse_faults(faults_data)
        models = parse_model_cards(data.get("models", {}))
    except _Invalid as error:
        raise ValueError(f"{origin}: {error}") from None
    return Script(_parse_rule_list(rules, origin), latency, seed, faults, models=models)


def parse_model_cards(value: object) -> dict[str, dict[str, Any]]:
    """`"models"`: an object of model ids, each an object of card fields to serve."""
    if not isinstance(value, Mapping) or not all(
        isinstance(name, str) and isinstance(card, Mapping) for name, card in value.items()
    ):
        raise _Invalid(
            "'models' must be an object of model ids, each an object of card fields, e.g. "
            '{"mistral-small-latest": {"name": "mistral-small-2409", "deprecation": "2026-06-30"}}'
        )
    return {name: dict(card) for name, card in value.items()}


def _parse_jsonl(path: Path, text: str) -> Iterable[Rule]:
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{path}: line {number}"
        try:
            data = json.loads(line)
        except json.JSONDecodeError as error:
            raise ValueError(f"{where}: invalid JSON: {error.msg} (column {error.colno})") from None
        yield parse_rule(data, where)


def _parse_rule_list(items: Sequence[object], origin: str) -> tuple[Rule, ...]:
    return tuple(parse_rule(item, f"{origin}: rule {index}") for index, item in enumerate(items, 1))


def parse_rule(data: object, where: str) -> Rule:
    """Validate one rule dict; `where` prefixes the `ValueError` message."""
    try:
        return _parse_rule(data, where)
    except _Invalid as error:
        raise ValueError(f"{where}: {error}") from None


def _parse_rule(data: object, where: str) -> Rule:
    if not isinstance(data, Mapping):
        raise _Invalid(f"a rule must be a JSON object, not {_json_type(data)}")
    _reject_unknown(data, sorted(_RULE_KEYS), "key")
    endpoints = _parse_endpoints(data.get("endpoint", "chat"))
    answers = [key for key in _ANSWERS if key in data]
    if len(answers) > 1:
        raise _Invalid(f"give only one of {', '.join(map(repr, _ANSWERS))}, not {answers}")
    body = data.get("body")
    if body is not None and not isinstance(body, (Mapping, str)):
        raise _Invalid("'body' must be a JSON object or a string: the whole response body")
    chat_keys = [key for key in _CHAT_ANSWER_KEYS if key in data]
    if chat_keys and not endpoints & {"chat", "judge"}:
        raise _Invalid(
            f"{chat_keys[0]!r} answers chat requests; this rule's endpoint is moderation"
        )
    for key in _MODERATION_ANSWER_KEYS:
        if key in data and "moderation" not in endpoints:
            raise _Invalid(f'{key!r} answers moderation requests; add "endpoint": "moderation"')
    finish_reason = data.get("finish_reason")
    if finish_reason is not None and finish_reason not in FINISH_REASONS:
        raise _Invalid(f"'finish_reason' must be one of {list(FINISH_REASONS)}")
    echo = data.get("echo", False)
    if not isinstance(echo, bool):
        raise _Invalid("'echo' must be true or false")
    truncate_at = data.get("truncate_at")
    if truncate_at is not None and not _is_count(truncate_at):
        raise _Invalid("'truncate_at' must be a whole number of characters, 0 or more")
    model = data.get("model")
    if model is not None and not isinstance(model, str):
        raise _Invalid("'model' must be a glob string such as \"ft:*\"")
    contains = data.get("contains")
    if contains is not None and not isinstance(contains, str):
        raise _Invalid("'contains' must be a string")
    replies = _optional_strings(data, "replies")
    if replies is not None and not replies:
        raise _Invalid("'replies' must not be empty")
    after_tool = data.get("after_tool")
    if after_tool is not None and not isinstance(after_tool, bool):
        raise _Invalid("'after_tool' must be true or false")
    return Rule(
        endpoints=endpoints,
        model=model,
        match=_optional_regex(data, "match"),
        system=_optional_regex(data, "system"),
        contains=contains,
        after_tool=after_tool,
        reply=_optional_string(data, "reply"),
        reply_chunks=_optional_strings(data, "reply_chunks"),
        tool_calls=_tool_calls(data.get("tool_calls")),
        replies=replies,
        echo=echo,
        finish_reason=finish_reason,
        truncate_at=truncate_at,
        flag=_optional_strings(data, "flag"),
        scores=_parse_scores(data.get("scores")),
        body=body,
        content_type=_optional_string(data, "content_type"),
        faults=parse_faults({key: data[key] for key in _FAULT_KEYS if key in data}),
        source=where,
    )


def _tool_calls(value: object) -> tuple[tuple[str, str], ...] | None:
    try:
        return parse_tool_calls(value)
    except ValueError as error:
        raise _Invalid(str(error)) from None


def parse_faults(data: Mapping[str, Any]) -> Faults:
    """Validate fault settings (a rule's fault keys, a script's `faults`, `set_faults`)."""
    _reject_unknown(data, _FAULT_KEYS, "fault")
    fail = data.get("fail")
    if fail is not None:
        if not isinstance(fail, list) or not all(_is_error_status(status) for status in fail):
            raise _Invalid("'fail' must be a list of HTTP error statuses, e.g. [429, 500]")
        fail = tuple(fail)
    status = data.get("status")
    if status is not None and not _is_error_status(status):
        raise _Invalid("'status' must be an HTTP error status from 400 to 599")
    retry_after_ms = data.get("retry_after_ms")
    if retry_after_ms is not None and not _is_count(retry_after_ms):
        raise _Invalid("'retry_after_ms' must be a whole number of milliseconds")
    retry_after = data.get("retry_after")
    if not isinstance(retry_after, str):
        retry_after = _optional_seconds(data, "retry_after")
    flags = {}
    for name in ("cut_body", "echo_headers"):
        value = data.get(name)
        if value is not None and not isinstance(value, bool):
            raise _Invalid(f"{name!r} must be true or false")
        flags[name] = value
    return Faults(
        latency_s=_optional_seconds(data, "latency_s"),
        fail=fail,
        retry_after=retry_after,
        retry_after_ms=retry_after_ms,
        status=status,
        hang_s=_optional_seconds(data, "hang_s"),
        rates=_parse_rates(data.get("rates")),
        drip_s=_optional_seconds(data, "drip_s"),
        token_s=_optional_seconds(data, "token_s"),
        **flags,
    )


def _parse_rates(value: object) -> tuple[tuple[str, float], ...] | None:
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise _Invalid('\'rates\' must be an object such as {"429": 0.3, "hang": 0.05}')
    rates: list[tuple[str, float]] = []
    for key, rate in value.items():
        if key != "hang" and not (str(key).isdigit() and _is_error_status(int(key))):
            raise _Invalid(f"'rates' key {key!r} must be an HTTP error status or \"hang\"")
        if not _is_number(rate) or not 0 <= rate <= 1:
            raise _Invalid(f"'rates' value for {key!r} must be a probability from 0 to 1")
        rates.append((str(key), float(rate)))
    if sum(rate for _, rate in rates) > 1 + 1e-9:
        raise _Invalid("'rates' must add up to at most 1")
    return tuple(rates)


def _parse_scores(value: object) -> tuple[tuple[str, float], ...] | None:
    if value is None:
        return None
    if not isinstance(value, Mapping) or not all(
        isinstance(name, str) and _is_number(score) and 0 <= score <= 1
        for name, score in value.items()
    ):
        raise _Invalid(
            "'scores' must map category names to scores from 0 to 1, e.g. {\"pii\": 0.4}"
        )
    return tuple((name, float(score)) for name, score in value.items())


def _parse_endpoints(value: object) -> frozenset[str]:
    names = [value] if isinstance(value, str) else value
    if (
        not isinstance(names, list)
        or not names
        or not all(isinstance(name, str) and name in RULE_ENDPOINTS for name in names)
    ):
        raise _Invalid(f"'endpoint' must be one of {list(RULE_ENDPOINTS)}, or a list of them")
    return frozenset(names)


def _reject_unknown(data: Mapping[str, Any], allowed: Sequence[str], what: str) -> None:
    for key in data:
        if key not in allowed:
            raise _Invalid(f"unknown {what} {key!r} (expected one of {', '.join(allowed)})")


def _optional_regex(data: Mapping[str, Any], key: str) -> re.Pattern[str] | None:
    pattern = _optional_string(data, key)
    if pattern is None:
        return None
    try:
        return re.compile(pattern)
    except re.error as error:
        raise _Invalid(f"{key!r} is not a valid regular expression: {error}") from None


def _optional_string(data: Mapping[str, Any], key: str) -> str | None:
    value = data.get(key)
    if value is not None and not isinstance(value, str):
        raise _Invalid(f"{key!r} must be a string, not {_json_type(value)}")
    return value


def _optional_strings(data: Mapping[str, Any], key: str) -> tuple[str, ...] | None:
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, (list, tuple)) or not all(isinstance(item, str) for item in value):
        raise _Invalid(f"{key!r} must be a list of strings")
    return tuple(value)


def _optional_seconds(data: Mapping[str, Any], key: str) -> float | None:
    value = data.get(key)
    if value is None:
        return None
    if not _is_number(value) or value < 0:
        raise _Invalid(f"{key!r} must be a number of seconds, 0 or more")
    return float(value)


def _is_number(value: object) -> TypeGuard[int | float]:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _is_count(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _is_error_status(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool) and 400 <= value <= 599


def _json_type(value: object) -> str:
    names = {dict: "an object", list: "a list", str: "a string", bool: "a boolean"}
    for kind, name in names.items():
        if isinstance(value, kind):
            return name
    if value is None:
        return "null"
    return "a number" if _is_number(value) else type(value).__name__


def answer_from_responder(result: object, endpoint: str) -> Rule | None:
    """Turn what a script callable returned into a rule that answers this one request."""
    where = "script callable"
    if result is None:
        return None
    if isinstance(result, str):
        data: dict[str, Any] = {"reply": result} if endpoint != "moderation" else {}
    elif isinstance(result, SimResponse):
        data = result.as_rule_dict()
    elif isinstance(result, Mapping):
        data = dict(result)
    else:
        raise ValueError(
            f"{where} returned {type(result).__name__}; expected SimResponse, dict, str or None"
        )
    matchers = [key for key in _MATCH_KEYS if key in data]
    if matchers:
        raise ValueError(f"{where}: an answer cannot hold the matcher {matchers[0]!r}")
    return parse_rule({**data, "endpoint": endpoint}, where)


# --- answers -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ChatAnswer:
    """The assistant content of one chat answer: plain text, or text chunks when `chunked`."""

    chunks: tuple[str, ...]
    chunked: bool
    finish_reason: str
    #: (function name, arguments text) of each tool call; empty for a text answer.
    tool_calls: tuple[tuple[str, str], ...] = ()

    @property
    def text(self) -> str:
        return "".join(self.chunks)


def compose_chat_answer(
    rule: Rule | None,
    conversation: Conversation,
    body: Mapping[str, Any],
    sample_index: int,
) -> ChatAnswer:
    """The reply to a chat request: the rule's answer (or the default), then the cuts.

    `sample_index` picks the entry of `replies`: how many times this exact request was
    answered before.
    """
    chunked = False
    if rule is not None and rule.tool_calls is not None:
        finish = rule.finish_reason or "tool_calls"
        return ChatAnswer(("",), False, finish, rule.tool_calls)
    if rule is not None and rule.reply is not None:
        chunks: tuple[str, ...] = (rule.reply,)
    elif rule is not None and rule.reply_chunks is not None:
        chunks, chunked = rule.reply_chunks, True
    elif rule is not None and rule.replies is not None:
        chunks = (rule.replies[sample_index % len(rule.replies)],)
    elif rule is not None and rule.echo:
        chunks = (conversation.last_user,)
    else:
        chunks = (default_chat_reply(conversation, body.get("response_format")),)
    if conversation.prefix and not "".join(chunks).startswith(conversation.prefix):
        chunks = (
            (conversation.prefix + chunks[0], *chunks[1:]) if chunks else (conversation.prefix,)
        )
    finish_reason = (rule.finish_reason if rule is not None else None) or "stop"
    truncate_at = rule.truncate_at if rule is not None else None
    if truncate_at is not None and len("".join(chunks)) > truncate_at:
        chunks, finish_reason = _cut(chunks, truncate_at), "length"
    max_tokens = body.get("max_tokens")
    if _is_count(max_tokens) and count_tokens("".join(chunks)) > max_tokens:
        chunks, finish_reason = _cut(chunks, max_tokens * CHARS_PER_TOKEN), "length"
    return ChatAnswer(chunks, chunked, finish_reason)


def _cut(chunks: tuple[str, ...], limit: int) -> tuple[str, ...]:
    kept: list[str] = []
    left = limit
    for chunk in chunks:
        if left <= 0:
            break
        kept.append(chunk[:left])
        left -= len(chunk)
    return tuple(kept)


def is_judge_request(body: Mapping[str, Any]) -> bool:
    response_format = body.get("response_format")
    return isinstance(response_format, dict) and response_format.get("type") == "json_schema"


def default_chat_reply(conversation: Conversation, response_format: object) -> str:
    """The answer when no rule matches: a judge verdict, a JSON object, or an echo."""
    if conversation.tool_results:
        return DEFAULT_TOOL_ANSWER_PREFIX + "; ".join(conversation.tool_results)
    text = (
        DEFAULT_REPLY_PREFIX + conversation.last_user
        if conversation.last_user
        else DEFAULT_REPLY_EMPTY
    )
    if isinstance(response_format, dict):
        kind = response_format.get("type")
        if kind == "json_schema":
            json_schema = response_format.get("json_schema")
            schema = json_schema.get("schema") if isinstance(json_schema, dict) else None
            return json.dumps(default_judge_verdict(schema))
        if kind == "json_object":
            return json.dumps({"reply": text})
    return text


def default_judge_verdict(schema: object) -> dict[str, Any]:
    """`{"reasoning": ..., "score": ...}`, plus a plain value for other required properties.

    The score is the schema's `maximum` for `score` (or its largest `enum` value), else 5.
    """
    properties = schema.get("properties") if isinstance(schema, dict) else None
    properties = properties if isinstance(properties, dict) else {}
    verdict: dict[str, Any] = {
        "reasoning": DEFAULT_JUDGE_REASONING,
        "score": _top_score(properties.get("score")),
    }
    required = schema.get("required") if isinstance(schema, dict) else None
    for name in required if isinstance(required, list) else []:
        if isinstance(name, str) and name not in verdict:
            verdict[name] = _plain_value(properties.get(name))
    return verdict


def _top_score(schema: object) -> int | float:
    if isinstance(schema, dict):
        maximum = schema.get("maximum")
        if _is_number(maximum):
            return int(maximum) if float(maximum).is_integer() else float(maximum)
        enum = [value for value in schema.get("enum", []) if _is_number(value)]
        if enum:
            return max(enum)  # type: ignore[no-any-return]
    return DEFAULT_JUDGE_SCORE


def _plain_value(schema: object) -> Any:
    if not isinstance(schema, dict):
        return "simulated"
    if isinstance(schema.get("enum"), list) and schema["enum"]:
        return schema["enum"][0]
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = kind[0] if kind else None
    minimum = schema.get("minimum")
    plain: dict[Any, Any] = {
        "integer": int(minimum) if _is_number(minimum) else 0,
        "number": minimum if _is_number(minimum) else 0,
        "boolean": True,
        "array": [],
        "object": {},
        "null": None,
    }
    return plain.get(kind, "simulated")


def moderation_result(rule: Rule | None) -> dict[str, Any]:
    """One moderation result: the rule's `flag` names flagged (0.9), everything else not
    (0.01), with the rule's `scores` over those; names beyond the default set are added."""
    flagged = set(rule.flag or ()) if rule is not None else set()
    scores = dict(rule.scores or ()) if rule is not None else {}
    extra = (flagged | scores.keys()).difference(MODERATION_CATEGORIES)
    names = list(MODERATION_CATEGORIES) + sorted(extra)
    return {
        "categories": {name: name in flagged for name in names},
        "category_scores": {
            name: scores.get(name, FLAGGED_SCORE if name in flagged else UNFLAGGED_SCORE)
            for name in names
        },
    }
