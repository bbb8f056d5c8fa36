"""What one eval case accumulates while it runs, turned into its plain-dict case record."""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NamedTuple, TypedDict

from pytest_llmeval.errors import LLMAPIError
from pytest_llmeval.replay.samples import SampleCounter
from pytest_llmeval.support.messages import prompt_text

if TYPE_CHECKING:
    from pytest_llmeval.replay.replayer import PendingRecording


@dataclass
class GroupSettings:
    """Where a case belongs and the thresholds its marker gave."""

    group: str
    kind: str = "metric"
    threshold: float | None = None
    min_score: float | None = None
    max_unsafe: int | None = None
    rubric: str | None = None


MESSAGE_LIMIT = 300
# How much of a parse detail and of each judge's reasoning a record keeps.
REASONING_LIMIT = 1000
# How much of a request's and an output's text a record of a passed case keeps (a failed
# case keeps all of it: it may become a training row); the full length is kept beside it.
TEXT_LIMIT = 4096


class CaseUsage(TypedDict):
    """A case's model calls and what they cost."""

    calls: int
    prompt_tokens: int
    completion_tokens: int
    retries: int
    latency_s: float
    store_hits: int
    store_misses: int
    streamed: int  # chat calls made with stream=True (the model under test's)
    # Model id (as the reply names it) -> [prompt tokens, completion tokens]: the model under
    # test and the judge priced apart (`pricing.estimate`).
    by_model: dict[str, list[int]]


class CaseSafety(TypedDict):
    """The union of a case's moderation findings."""

    flagged: bool
    categories: list[str]


class CaseTimings(TypedDict):
    """How long the model under test took, call by call: only calls answered live are timed
    (a replay took no model's time), so a replayed case has none."""

    latency_s: list[float]  # each chat call, request to whole answer
    first_token_s: list[float]  # each streamed chat call, request to its first token


class CaseOutput(TypedDict):
    """What the model under test answered: the text (bounded) and its full length."""

    text: str
    length: int


class CaseRecord(TypedDict):
    """One eval case's record (docs/architecture.md), in plain built-in types.

    The one definition of its keys: the report builder reads a missing key as None.
    """

    nodeid: str
    group: str
    kind: str  # "metric" | "judge" | "safety"
    outcome: str  # "passed" | "failed" | "error"
    error_type: str | None  # the exception's type name when outcome is "error"
    infrastructure: bool  # an LLMAPIError (an API failure after retries)
    message: str | None  # first line of the failure or error, at most MESSAGE_LIMIT characters
    category: str | None  # first non-valid llm_json category, else "valid"; None if no check
    finish_reason: str | None  # of the case's last model reply
    format_checks: list[str]  # category of every llm_json call, in order
    scores: dict[str, float]  # llm_score(name, value)
    judge_scores: list[float]  # each llm_judge.score() result
    safety: CaseSafety
    usage: CaseUsage
    timings: CaseTimings | None  # None when no call was timed (every one replayed)
    threshold: float | None  # the group's settings from its marker
    min_score: float | None
    max_unsafe: int | None
    duration_s: float
    # --llm-repeat: which run of its case this record is (0-based), and the case's node id
    # without the run's parameter; both None when every case runs once.
    run: int | None
    case_nodeid: str | None
    # The judge's side of the case.
    human_score: float | None  # the dataset row's human_score, paired with each judge score
    judge_checks: list[str]  # category of every judge answer checked, retries included
    comparisons: int  # llm_judge.compare() calls
    position_bias: int  # comparisons whose two orders disagreed
    # The improvement loop: what the model under test was asked and answered.
    request: list[dict[str, Any]] | None  # the last request's messages (texts bounded)
    input_chars: int | None  # the characters of that request's text, in full
    output: CaseOutput | None  # the reply to it
    expected: Any  # the dataset case's expected reply; None without one
    tags: list[str] | None  # the dataset row's `tags`
    dataset: str | None  # the dataset file of the case, as `Case.source` names it
    models: list[str]  # every model id the case called, in first-call order
    # Set when the answer reached the test but the store could not record it.
    store_problem: str | None
    # Request key (`<digest>-<sample>`) -> digest of the answer recorded or replayed for it,
    # which the next run's report compares (`changes`); empty without the store.
    answers: dict[str, str]
    # `path: reason` of each recording the store did not trust (never replayed): unsigned,
    # signed by another key or changed; a link, not a regular file, too large, or holding
    # another request than the one it is filed under.
    store_integrity: list[str]
    # What a reviewer reads beside the output (the HTML report), each bounded.
    parse_detail: str | None  # the detail of the first llm_json check that failed
    judge_reasoning: list[str]  # the judge's reasoning for each score and comparison
    moderation_scores: dict[str, float]  # each category's highest score over the checks
    # --llm-shard: the case's place among the eval cases collected before the split.
    shard_order: int | None


class NotCountedRecord(TypedDict):
    """An eval case that was skipped or xfailed: out of every rate, counted in its group.

    It rides on the test report under its own attribute (`census.NOT_COUNTED_ATTRIBUTE`),
    so a skip is never read as a case record.
    """

    nodeid: str
    group: str
    kind: str
    outcome: str  # "skipped" | "xfailed"
    reason: str | None
    threshold: float | None
    min_score: float | None
    max_unsafe: int | None


# Every key of a case record, in the order it is defined.
RECORD_FIELDS: tuple[str, ...] = tuple(CaseRecord.__annotations__)
# The usage figures the report sums (every one but the per-model map).
USAGE_FIELDS: tuple[str, ...] = tuple(key for key in CaseUsage.__annotations__ if key != "by_model")


class Outcome(NamedTuple):
    """How a case ended, as its record says it."""

    outcome: str  # "passed" | "failed" | "error"
    error_type: str | None = None
    infrastructure: bool = False


def classify_outcome(phase: str, error: BaseException | None) -> Outcome:
    """How a case whose `phase` ("setup" or "call") raised `error` (None: nothing) ended.

    An assertion in the test body is a model failure; anything else raised, or any error in
    setup, is an error, and an `LLMAPIError` (an API failure after retries) is infrastructure.
    """
    if error is None:
        return Outcome("passed")
    if phase == "call" and isinstance(error, AssertionError):
        return Outcome("failed")
    return Outcome("error", type(error).__name__, isinstance(error, LLMAPIError))


@dataclass
class CallStats:
    """What one model call cost: attempts, retries and whether the store answered it."""

    endpoint: str
    model: str | None
    attempts: int = 0
    retries: int = 0
    store_hit: bool = False
    store_miss: bool = False
    # Left by the transport for the endpoint, which saves it once the SDK has accepted the
    # answer and drops it when the SDK rejects it.
    pending: PendingRecording | None = None
    # Why the answer could not be recorded (the store refused it), for the case's record.
    store_problem: str | None = None
    # When the first event holding a token arrived (`time.perf_counter()`), for a streamed
    # answer: the transport watches the body come in (`FirstTokenWatch`).
    first_token_at: float | None = None
    # The recording a store hit came from, to name it when it proves unusable, and the
    # sample to call again and replace it with (new_episodes, all).
    store_file: str | None = None
    store_sample: int = 0
    rerecord_sample: int | None = None
    # (request key, answer digest) of the recording it replayed or saved.
    answer: tuple[str, str] | None = None
    # `path: reason` of a recording the public key did not vouch for.
    integrity_problem: str | None = None

    def take_pending(self) -> PendingRecording | None:
        """The recording waiting to be saved, handed over once: the stats no longer hold it."""
        pending, self.pending = self.pending, None
        return pending


@dataclass
class CaseRecorder:
    """Collects a case's model calls, format checks, scores and safety findings.

    Model calls may complete on the background loop while the test runs in the main thread,
    hence the lock.
    """

    nodeid: str
    settings: GroupSettings
    samples: SampleCounter = field(default_factory=SampleCounter)
    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    retries: int = 0
    latency_s: float = 0.0
    store_hits: int = 0
    store_misses: int = 0
    streamed: int = 0
    latencies: list[float] = field(default_factory=list)
    first_tokens: list[float] = field(default_factory=list)
    tokens_by_model: dict[str, list[int]] = field(default_factory=dict)
    finish_reason: str | None = None
    format_checks: list[str] = field(default_factory=list)
    scores: dict[str, float] = field(default_factory=dict)
    judge_scores: list[float] = field(default_factory=list)
    flagged: bool = False
    safety_categories: list[str] = field(default_factory=list)
    run: int | None = None  # with --llm-repeat, the run of its case, and the case's node id
    case_nodeid: str | None = None
    # The judge's side of a case: the human label of its dataset row (calibration), the
    # category of every judge answer checked, and pairwise comparisons made.
    human_score: float | None = None
    judge_checks: list[str] = field(default_factory=list)
    comparisons: int = 0
    position_bias: int = 0
    request: list[dict[str, Any]] | None = None
    output: str | None = None
    expected: Any = None
    tags: list[str] | None = None
    dataset: str | None = None
    models: list[str] = field(default_factory=list)
    store_problem: str | None = None
    answers: dict[str, str] = field(default_factory=dict)
    store_integrity: list[str] = field(default_factory=list)
    parse_detail: str | None = None
    judge_reasoning: list[str] = field(default_factory=list)
    moderation_scores: dict[str, float] = field(default_factory=dict)
    shard_order: int | None = None  # --llm-shard: the case's place before the split
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add_exchange(
        self,
        messages: Sequence[Mapping[str, Any]],
        output: str | None,
        *,
        expected: Any = None,
        tags: Any = None,
        dataset: str | None = None,
    ) -> None:
        """Keeps the model under test's latest request and reply, and the case's expected
        reply, dataset tags and dataset file when it has them."""
        with self._lock:
            self.dataset = dataset or self.dataset
            self.request = [dict(message) for message in messages]
            self.output = output
            if expected is not None:
                self.expected = expected
            if isinstance(tags, str):
                tags = [tags]
            if isinstance(tags, list):
                self.tags = [str(tag) for tag in tags]

    def add_call(self, stats: CallStats) -> None:
        """Counts one model call (any endpoint, success or not) with its retries and store use."""
        with self._lock:
            if stats.model and stats.model not in self.models:
                self.models.append(stats.model)
            self.calls += 1
            self.retries += stats.retries
            self.store_hits += int(stats.store_hit)
            self.store_misses += int(stats.store_miss)
            self.store_problem = self.store_problem or stats.store_problem
            if stats.answer is not None:
                self.answers[stats.answer[0]] = stats.answer[1]
            problem = stats.integrity_problem
            if problem is not None and problem not in self.store_integrity:
                self.store_integrity.append(problem)

    def add_completion(
        self,
        *,
        prompt_tokens: int,
        completion_tokens: int,
        latency_s: float,
        finish_reason: str | None,
        model: str | None = None,
        streamed: bool = False,
        timed: bool = False,
        first_token_s: float | None = None,
    ) -> None:
        """Adds a completed chat's tokens (also under `model`, for the cost) and latency; the
        model under test's finish reason; a `timed` (live) call's latency, and its time to
        first token when `streamed`."""
        with self._lock:
            self.streamed += int(streamed)
            if timed:
                self.latencies.append(latency_s)
                if streamed and first_token_s is not None:
                    self.first_tokens.append(first_token_s)
            self.prompt_tokens += prompt_tokens
            self.completion_tokens += completion_tokens
            if model is not None:
                tokens = self.tokens_by_model.setdefault(model, [0, 0])
                tokens[0] += prompt_tokens
                tokens[1] += completion_tokens
            self.latency_s += latency_s
            if finish_reason is not None:
                self.finish_reason = finish_reason

    def add_format_check(self, category: str, detail: str | None = None) -> None:
        """One llm_json check's category; the detail of the first that failed is kept."""
        with self._lock:
            self.format_checks.append(category)
            if detail and category != "valid" and self.parse_detail is None:
                self.parse_detail = clip(detail, REASONING_LIMIT)

    def add_score(self, name: str, value: float) -> None:
        with self._lock:
            self.scores[name] = value

    def add_judge_score(self, score: float) -> None:
        with self._lock:
            self.judge_scores.append(score)

    def add_safety_findings(
        self, flagged: bool, categories: list[str], scores: Mapping[str, Any] | None = None
    ) -> None:
        """A moderation check's flagged categories, and its scores (the highest per category
        over the case's checks)."""
        with self._lock:
            self.flagged = self.flagged or flagged
            for name in categories:
                if name not in self.safety_categories:
                    self.safety_categories.append(name)
            for name, score in (scores or {}).items():
                if isinstance(score, (int, float)) and not isinstance(score, bool):
                    kept = self.moderation_scores.get(name)
                    self.moderation_scores[name] = score if kept is None else max(kept, score)

    def add_judge_reasoning(self, reasoning: str) -> None:
        with self._lock:
            self.judge_reasoning.append(clip(reasoning, REASONING_LIMIT))

    def add_judge_check(self, category: str) -> None:
        with self._lock:
            self.judge_checks.append(category)

    def add_comparison(self, consistent: bool) -> None:
        with self._lock:
            self.comparisons += 1
            self.position_bias += int(not consistent)

    def to_record(
        self,
        *,
        outcome: str,
        duration_s: float,
        error_type: str | None = None,
        infrastructure: bool = False,
        message: str | None = None,
    ) -> CaseRecord:
        """The case's record, in plain built-in types only."""
        category = next((c for c in self.format_checks if c != "valid"), None)
        if category is None and self.format_checks:
            category = "valid"
        with self._lock:
            request, chars, output = self._exchange(keep_all=outcome == "failed")
            return {
                "nodeid": self.nodeid,
                "group": self.settings.group,
                "kind": self.settings.kind,
                "outcome": outcome,
                "error_type": error_type,
                "infrastructure": infrastructure,
                "message": first_line(message) if message else None,
                "category": category,
                "finish_reason": self.finish_reason,
                "format_checks": list(self.format_checks),
                "scores": dict(self.scores),
                "judge_scores": list(self.judge_scores),
                "safety": {"flagged": self.flagged, "categories": list(self.safety_categories)},
                "usage": {
                    "calls": self.calls,
                    "prompt_tokens": self.prompt_tokens,
                    "completion_tokens": self.completion_tokens,
                    "retries": self.retries,
                    "latency_s": round(self.latency_s, 6),
                    "store_hits": self.store_hits,
                    "store_misses": self.store_misses,
                    "streamed": self.streamed,
                    "by_model": {model: list(pair) for model, pair in self.tokens_by_model.items()},
                },
                "timings": self._timings(),
                "threshold": self.settings.threshold,
                "min_score": self.settings.min_score,
                "max_unsafe": self.settings.max_unsafe,
                "duration_s": round(duration_s, 3),
                "run": self.run,
                "case_nodeid": self.case_nodeid,
                "human_score": self.human_score,
                "judge_checks": list(self.judge_checks),
                "comparisons": self.comparisons,
                "position_bias": self.position_bias,
                "request": request,
                "input_chars": chars,
                "output": output,
                "expected": self.expected,
                "tags": list(self.tags) if self.tags is not None else None,
                "dataset": self.dataset,
                "models": list(self.models),
                # The answer reached the test, but the store could not record it.
                "store_problem": self.store_problem,
                "answers": dict(self.answers),
                "store_integrity": list(self.store_integrity),
                "parse_detail": self.parse_detail,
                "judge_reasoning": list(self.judge_reasoning),
                "moderation_scores": dict(self.moderation_scores),
                "shard_order": self.shard_order,
            }

    def _timings(self) -> CaseTimings | None:
        if not self.latencies:
            return None
        return {
            "latency_s": [round(seconds, 6) for seconds in self.latencies],
            "first_token_s": [round(seconds, 6) for seconds in self.first_tokens],
        }

    def _exchange(
        self, *, keep_all: bool
    ) -> tuple[list[dict[str, Any]] | None, int | None, CaseOutput | None]:
        """The request, its length and the output: texts bounded by TEXT_LIMIT unless
        `keep_all` (a failed case keeps all: it may become a training row)."""
        limit = None if keep_all else TEXT_LIMIT
        request = None
        chars = None
        if self.request is not None:
            request = [_bounded_message(message, limit) for message in self.request]
            chars = sum(len(prompt_text(message.get("content"))) for message in self.request)
        output: CaseOutput | None = None
        if self.output is not None:
            text = self.output if limit is None else self.output[:limit]
            output = {"text": text, "length": len(self.output)}
        return request, chars, output


def _bounded_message(message: Mapping[str, Any], limit: int | None) -> dict[str, Any]:
    """A request message as plain JSON; its text content cut to `limit` characters."""
    bounded = {key: value for key, value in message.items() if key != "content"}
    content = message.get("content")
    if isinstance(content, str):
        bounded["content"] = content if limit is None else content[:limit]
    elif content is not None:
        text = prompt_text(content)
        bounded["content"] = content if limit is None or len(text) <= limit else text[:limit]
    return bounded


def first_line(text: str) -> str:
    """The first non-empty line of `text`, at most MESSAGE_LIMIT characters."""
    for line in text.splitlines():
        if line.strip():
            text = line.strip()
            break
    return clip(text)


def clip(text: str, limit: int = MESSAGE_LIMIT) -> str:
    """`text` cut to at most `limit` characters, the last an ellipsis where it was cut."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def junit_properties(record: CaseRecord) -> list[tuple[str, object]]:
    """A case record as JUnit XML properties (`--junitxml`), named `llmeval_*`."""
    properties: list[tuple[str, object]] = [
        ("llmeval_group", record["group"]),
        ("llmeval_kind", record["kind"]),
        ("llmeval_outcome", record["outcome"]),
    ]
    if record["category"] is not None:
        properties.append(("llmeval_category", record["category"]))
    if record["finish_reason"] is not None:
        properties.append(("llmeval_finish_reason", record["finish_reason"]))
    for name, value in record["scores"].items():
        properties.append((f"llmeval_score_{name}", value))
    for index, value in enumerate(record["judge_scores"]):
        properties.append((f"llmeval_judge_score_{index}", value))
    return properties
