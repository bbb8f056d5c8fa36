"""The report's data model: the dataclasses that hold every figure and verdict."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, TypedDict

from pytest_llmeval.report.gate_settings import GateSettings

if TYPE_CHECKING:
    from pytest_llmeval.report.changes import Changes
    from pytest_llmeval.report.pricing import CostEstimate

SCHEMA_VERSION = 1

# What a verdict reads before `gate.decide` has set it; a finished report never shows it.
UNDECIDED = "undecided"


class _CaseContract(TypedDict):
    nodeid: str
    group: str
    kind: str
    outcome: str
    category: str | None
    finish_reason: str | None


class CaseEntry(_CaseContract, total=False):
    """One case as the report lists it, in record order.

    The six contract keys are always there; the other five only when they hold something,
    which keeps a 100,000-case JSON report small and quick to write and to read back.
    """

    error_type: str
    message: str
    scores: Mapping[str, float | None]  # shared with the record when every score is clean
    judge_scores: list[float | None]
    duration_s: float
    request: list[dict[str, str]]  # role and text of each message, texts bounded
    output: dict[str, Any]  # {"text": the first TEXT_LIMIT characters, "length": in full}
    case: str  # with --llm-repeat: the case this run belongs to, and which run it is
    run: int
    parse_detail: str  # what a reviewer reads beside the output (the HTML report)
    judge_reasoning: list[str]
    moderation_scores: dict[str, float]
    record: dict[str, Any]  # --llm-shard: the rest of the case's record, for `llmeval merge`


@dataclass
class RunInfo:
    """What was run, against which models, when and for how long."""

    model: str | None
    judge_model: str | None = None
    moderation_model: str | None = None
    started: str = field(default_factory=lambda: utc_timestamp())
    duration_s: float = 0.0
    record_mode: str | None = None
    plugin_version: str | None = None
    workers: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    # Per role used ("model", "judge", "moderation"): what its card said (model_identity).
    models: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    # How complete the run was (the collector counts these), and how often each case ran.
    repeat: int = 1  # --llm-repeat: runs of every eval case
    eval_cases: int | None = None  # eval cases (runs) selected to run; None when unknown
    deselected: int = 0  # eval cases deselected by -k, -m or --deselect: shown, never gated
    not_run: int = 0  # selected eval cases that reported neither an outcome nor a skip
    stop_reason: str | None = None  # why they did not run, e.g. "stopped after ..., -x"
    skipped_no_model: int = 0  # eval cases skipped because no model under test was set
    model_required: bool = False  # CI is set or the record mode is none: those skips block
    # The key id of `llm_store_public_key` every replayed recording was checked against,
    # None when none was (`changes` says when a pull request removes or replaces it).
    store_key: str | None = None
    # Big runs: --llm-shard's {"index", "count"} and the suite it split (`report.merge`),
    # --llm-batch's job (`calls.batch.BatchSummary`), and `llmeval merge`'s shards and problems.
    shard: dict[str, int] | None = None
    suite: dict[str, Any] | None = None
    batch: dict[str, Any] | None = None
    merged: dict[str, Any] | None = None
    # Why the run is a subset run (-k/-m deselection, --lf, --sw, an early stop, a shard);
    # empty for a complete run, the only kind `ledger:last-passed` takes as a baseline.
    subset: list[str] = field(default_factory=list)
    # pytest's own count of the eval cases that did not pass: "failed" (the call phase) and
    # "errors" (setup), which the report reconciles with the gate's categories.
    pytest_tally: dict[str, int] = field(default_factory=dict)

    @property
    def complete(self) -> bool:
        return not self.subset

    # Eval cases collected before any collection hook ran (None: unknown), and those that a
    # hook dropped without deselecting them (a conftest's pytest_collection_modifyitems).
    collected: int | None = None
    removed_cases: list[str] = field(default_factory=list)
    # Under CI with a record mode that calls: the server those calls go to (None otherwise).
    live_server: str | None = None

    def to_dict(self, *, interrupted: bool) -> dict[str, Any]:
        fixed: dict[str, Any] = {
            "model": self.model,
            "judge_model": self.judge_model,
            "moderation_model": self.moderation_model,
            "started": self.started,
            "duration_s": self.duration_s,
            "record_mode": self.record_mode,
            "plugin_version": self.plugin_version,
            "workers": self.workers,
            "interrupted": interrupted,
            "models": dict(self.models),
            "warnings": list(self.warnings),
            "repeat": self.repeat,
            "eval_cases": self.eval_cases,
            "deselected": self.deselected,
            "not_run": self.not_run,
            "stop_reason": self.stop_reason,
            "skipped_no_model": self.skipped_no_model,
            "model_required": self.model_required,
            "store_key": self.store_key,
            "shard": None if self.shard is None else dict(self.shard),
            "batch": None if self.batch is None else dict(self.batch),
            "complete": self.complete,
            "subset": list(self.subset),
            "pytest_tally": dict(self.pytest_tally),
            "collected": self.collected,
            "removed": len(self.removed_cases),
            "removed_cases": list(self.removed_cases),
            "live_server": self.live_server,
        }
        if self.suite is not None:
            fixed["suite"] = dict(self.suite)
        if self.merged is not None:
            fixed["merged"] = dict(self.merged)
        return {**{key: value for key, value in self.extra.items() if key not in fixed}, **fixed}


@dataclass
class Totals:
    """Case counts over the whole run: every recorded case, and how each ended."""

    cases: int = 0
    passed: int = 0
    failed: int = 0
    errors: int = 0
    skipped: int = 0  # eval cases skipped or xfailed: in no case count above
    xfailed: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "cases": self.cases,
            "passed": self.passed,
            "failed": self.failed,
            "errors": self.errors,
            "skipped": self.skipped,
            "xfailed": self.xfailed,
        }


@dataclass
class ScoreSummary:
    """One `llm_score` metric over a group's cases."""

    mean: float
    min: float
    max: float
    count: int

    def to_dict(self) -> dict[str, Any]:
        return {"mean": self.mean, "min": self.min, "max": self.max, "count": self.count}


@dataclass
class BaselineDelta:
    """A rate against the baseline's: the change and the paired McNemar test on it."""

    rate: float | None  # the baseline's pass rate (groups) or validity (format)
    delta: float | None  # current minus baseline; None when either side has no rate
    p_value: float  # one-sided exact McNemar, "the current run is worse"
    worsened: int  # paired cases that passed (were valid) before and fail now
    improved: int  # paired cases that failed before and pass now
    paired: int  # cases in both runs that count on both sides
    verdict: str = UNDECIDED  # "pass" | "fail" | "info" (not gated, or nothing to compare)
    # Set by gate.decide with the verdict: whether each half of the baseline rule held, and
    # for a drop that does not block, which half held it back ("alpha", "max_drop").
    significant: bool | None = None
    over_max_drop: bool | None = None
    held_back_by: list[str] | None = None
    test: str = "mcnemar"  # "mcnemar" on pass/fail pairs; "sign" on per-case pass fractions
    # The paired cases counted in `worsened` and `improved`, by node id (with repeated runs,
    # by case), in run order.
    worse: list[str] = field(default_factory=list)
    better: list[str] = field(default_factory=list)

    def to_dict(self, rate_key: str) -> dict[str, Any]:
        return {
            rate_key: self.rate,
            "delta": self.delta,
            "p_value": self.p_value,
            "worsened": self.worsened,
            "improved": self.improved,
            "paired": self.paired,
            "verdict": self.verdict,
            "test": self.test,
            "significant": self.significant,
            "over_max_drop": self.over_max_drop,
            "held_back_by": None if self.held_back_by is None else list(self.held_back_by),
            "worse": list(self.worse),
            "better": list(self.better),
        }


@dataclass
class GroupSummary:
    """One metric, judge or safety group: its counts, rate, interval, limits and verdict."""

    name: str
    kind: str
    cases: int
    passed: int
    failed: int
    errors: int
    pass_rate: float | None
    ci_low: float | None
    ci_high: float | None
    threshold: float | None
    verdict: str = UNDECIDED  # "pass" | "fail" | "info" | "no_evidence", set by gate.decide
    max_unsafe: int | None = None
    unsafe: int | None = None
    min_score: float | None = None
    mean_score: float | None = None
    lowest_score: float | None = None
    judged: int = 0
    scores: dict[str, ScoreSummary] = field(default_factory=dict)
    baseline: BaselineDelta | None = None
    # With --llm-repeat: every run counted in passed/failed/errors, `cases` the distinct
    # cases, `pass_rate` the mean of their pass fractions; flaky cases passed some runs and
    # failed others.
    runs: int | None = None
    flaky: list[str] = field(default_factory=list)
    case_pass_fractions: dict[str, float] = field(default_factory=dict)
    # Judge groups only (None for the others): pairwise comparisons and the judge's scores.
    comparisons: int | None = None
    position_bias: int | None = None  # comparisons whose two orders disagreed
    calibration: Calibration | None = None
    score_distribution: dict[str, int] | None = None  # judge score -> cases, lowest first
    # Cases skipped or xfailed: in none of the counts above, never out of sight.
    skipped_cases: list[str] = field(default_factory=list)
    xfailed_cases: list[str] = field(default_factory=list)

    @property
    def skipped(self) -> int:
        return len(self.skipped_cases)

    @property
    def xfailed(self) -> int:
        return len(self.xfailed_cases)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "cases": self.cases,
            "passed": self.passed,
            "failed": self.failed,
            "errors": self.errors,
            "pass_rate": self.pass_rate,
            "ci_low": self.ci_low,
            "ci_high": self.ci_high,
            "threshold": self.threshold,
            "verdict": self.verdict,
            "max_unsafe": self.max_unsafe,
            "unsafe": self.unsafe,
            "min_score": self.min_score,
            "mean_score": self.mean_score,
            "lowest_score": self.lowest_score,
            "judged": self.judged,
            "scores": {name: score.to_dict() for name, score in self.scores.items()},
            "baseline": None if self.baseline is None else self.baseline.to_dict("pass_rate"),
            "runs": self.cases if self.runs is None else self.runs,
            "flaky": list(self.flaky),
            "case_pass_fractions": dict(self.case_pass_fractions),
            "comparisons": self.comparisons,
            "position_bias": self.position_bias,
            "calibration": None if self.calibration is None else self.calibration.to_dict(),
            "score_distribution": (
                None if self.score_distribution is None else dict(self.score_distribution)
            ),
            "skipped": self.skipped,
            "xfailed": self.xfailed,
            "skipped_cases": list(self.skipped_cases),
            "xfailed_cases": list(self.xfailed_cases),
        }


@dataclass(frozen=True)
class Calibration:
    """How far a judge group's scores agree with the `human_score` of its labelled cases.

    One pair per judge score of a case whose dataset row has a `human_score`; `agreement`
    is the share of pairs that are equal, `kappa` Cohen's unweighted kappa (None where it is
    undefined: every pair gave one and the same score).
    """

    labelled: int
    agreed: int
    agreement: float
    kappa: float | None

    def to_dict(self) -> dict[str, Any]:
        return {"labelled": self.labelled, "agreement": self.agreement, "kappa": self.kappa}


@dataclass
class JudgeFormatSummary:
    """The judge's own answers by strict-JSON category, apart from the model's `format`.

    Every answer checked counts, a retried one too: a judge that needed its second chance
    shows here, one that failed both is also an infrastructure error of its case.
    """

    checked: int = 0
    valid: int = 0
    categories: dict[str, int] = field(default_factory=dict)  # non-valid answers, most first

    def to_dict(self) -> dict[str, Any]:
        return {"checked": self.checked, "valid": self.valid, "categories": dict(self.categories)}


@dataclass
class FormatSummary:
    """Strict-format results of every `llm_json` check, by taxonomy category."""

    checked: int
    valid: int
    invalid: int
    validity: float | None
    threshold: float
    categories: dict[str, int]  # non-zero counts, in taxonomy order
    shares: dict[str, float]  # each category's share of `checked`
    finish_reasons: dict[str, int]  # cases by their last reply's finish_reason, most first
    baseline: BaselineDelta | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "checked": self.checked,
            "valid": self.valid,
            "invalid": self.invalid,
            "validity": self.validity,
            "threshold": self.threshold,
            "categories": dict(self.categories),
            "shares": dict(self.shares),
            "finish_reasons": dict(self.finish_reasons),
            "baseline": None if self.baseline is None else self.baseline.to_dict("validity"),
        }


@dataclass
class UsageSummary:
    """Model calls and their cost, summed over every case."""

    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    retries: int = 0
    store_hits: int = 0
    store_misses: int = 0
    latency_s: float = 0.0
    streamed: int = 0  # chat calls of the model under test made with stream=True
    # Model id -> (prompt tokens, completion tokens), and their estimated cost when the run had
    # a price table (None: not estimated).
    by_model: dict[str, tuple[int, int]] = field(default_factory=dict)
    cost: CostEstimate | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "calls": self.calls,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "total_tokens": self.total_tokens,
            "retries": self.retries,
            "store_hits": self.store_hits,
            "store_misses": self.store_misses,
            "latency_s": self.latency_s,
            "streamed": self.streamed,
            "by_model": {
                model: {"prompt_tokens": prompt, "completion_tokens": completion}
                for model, (prompt, completion) in self.by_model.items()
            },
            "cost": None if self.cost is None else self.cost.to_dict(),
        }


@dataclass
class LatencySummary:
    """How long the model under test took per chat call, from the calls answered live: a
    replayed call took no model's time and is not timed, so a replay has none (nulls).

    `p50_s`/`p95_s` are of whole answers; `ttft_p50_s`/`ttft_p95_s` of the time to the
    first token of the streamed ones (nearest-rank percentiles).
    """

    timed_calls: int = 0
    p50_s: float | None = None
    p95_s: float | None = None
    timed_streams: int = 0
    ttft_p50_s: float | None = None
    ttft_p95_s: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "timed_calls": self.timed_calls,
            "p50_s": self.p50_s,
            "p95_s": self.p95_s,
            "timed_streams": self.timed_streams,
            "ttft_p50_s": self.ttft_p50_s,
            "ttft_p95_s": self.ttft_p95_s,
        }


@dataclass
class SafetySummary:
    """Moderation findings: flagged cases, and cases per category (names come from the data)."""

    flagged: int = 0
    categories: dict[str, int] = field(default_factory=dict)  # most flagged first

    def to_dict(self) -> dict[str, Any]:
        return {"flagged": self.flagged, "categories": dict(self.categories)}


@dataclass
class ErrorEntry:
    """One errored case: what raised, and its message (at most 300 characters)."""

    nodeid: str
    group: str
    error_type: str | None
    message: str | None
    infrastructure: bool

    def to_dict(self) -> dict[str, Any]:
        return {
            "nodeid": self.nodeid,
            "group": self.group,
            "error_type": self.error_type,
            "message": self.message,
            "infrastructure": self.infrastructure,
        }


@dataclass(frozen=True)
class DistinctError:
    """One error as many cases said it: said once, with the count and the first case."""

    error_type: str | None
    message: str | None
    infrastructure: bool
    cases: int
    first: str  # the node id that comes first

    def to_dict(self) -> dict[str, Any]:
        return {
            "error_type": self.error_type,
            "message": self.message,
            "infrastructure": self.infrastructure,
            "cases": self.cases,
            "first": self.first,
        }


@dataclass
class ErrorSummary:
    """Errored cases: all of them counted, the first few of each kind listed, and each
    distinct error once with its count (largest first)."""

    count: int = 0
    infrastructure: int = 0
    first: list[ErrorEntry] = field(default_factory=list)
    distinct: list[DistinctError] = field(default_factory=list)

    @property
    def test_errors(self) -> int:
        return self.count - self.infrastructure

    def to_dict(self) -> dict[str, Any]:
        return {
            "count": self.count,
            "infrastructure": self.infrastructure,
            "test_errors": self.test_errors,
            "first": [entry.to_dict() for entry in self.first],
            "distinct": [entry.to_dict() for entry in self.distinct],
        }


@dataclass
class FailureEntry:
    """One failed case, for the lists a reviewer reads first."""

    nodeid: str
    group: str
    category: str | None
    message: str | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "nodeid": self.nodeid,
            "group": self.group,
            "category": self.category,
            "message": self.message,
        }


@dataclass
class FailureSummary:
    """Failed cases (model failures): all counted, the first few listed."""

    count: int = 0
    first: list[FailureEntry] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"count": self.count, "first": [entry.to_dict() for entry in self.first]}


@dataclass
class BaselineComparison:
    """Which earlier run this one is compared with, and the groups only one run has."""

    source: str | None
    model: str | None
    started: str | None
    paired_cases: int
    only_in_baseline: list[str]
    only_in_current: list[str]

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "model": self.model,
            "started": self.started,
            "paired_cases": self.paired_cases,
            "only_in_baseline": list(self.only_in_baseline),
            "only_in_current": list(self.only_in_current),
        }


@dataclass
class DataSummary:
    """The run against its training data (`--llm-train-data`): contaminated cases, drift."""

    train_data: str
    contaminated: list[str]  # nodeids of eval cases whose prompt occurs in training
    prompt_drift: list[dict[str, str]]  # {"eval", "train", "diff"} per drifted system prompt
    max_contaminated: int  # contaminated cases the gate tolerates (--llm-max-contaminated)

    def to_dict(self) -> dict[str, Any]:
        return {
            "train_data": self.train_data,
            "contaminated": list(self.contaminated),
            "prompt_drift": [dict(drift) for drift in self.prompt_drift],
        }


@dataclass
class EndpointDown:
    """The endpoint refused connections until the calls stopped being sent (the circuit)."""

    url: str
    # Cases whose call failed at once, unsent or after their own refused attempts.
    cases: int

    def to_dict(self) -> dict[str, Any]:
        return {"url": self.url, "cases": self.cases}


@dataclass
class Report:
    """Everything the renderers show and the gate judges; `to_dict()` is the JSON report."""

    run: RunInfo
    settings: GateSettings
    totals: Totals
    groups: list[GroupSummary]
    format: FormatSummary
    usage: UsageSummary
    safety: SafetySummary
    errors: ErrorSummary
    failures: FailureSummary
    cases: list[CaseEntry]
    baseline: BaselineComparison | None = None
    interrupted: bool = False
    judge_format: JudgeFormatSummary = field(default_factory=JudgeFormatSummary)
    # Set by `gate.decide` once every figure is in; None while the gate rules read them.
    gate_result: GateResult | None = None
    schema_version: int = SCHEMA_VERSION
    data: DataSummary | None = None
    # The largest groups of failed cases sharing traits (clusters.Cluster), largest first.
    clusters: list[dict[str, Any]] = field(default_factory=list)
    # Hostile servers and broken stores: each said once for the whole run.
    endpoint_down: EndpointDown | None = None
    store_problems: list[str] = field(default_factory=list)
    # `path: reason` of each recording the public key did not vouch for (never replayed).
    store_integrity: list[str] = field(default_factory=list)
    # Request key -> digest of its answer, for the next run's `changes` to compare.
    answers: dict[str, str] = field(default_factory=dict)
    # Against the baseline: settings, cases and answers that differ (None without one).
    changes: Changes | None = None
    latency: LatencySummary = field(default_factory=LatencySummary)

    @property
    def gate(self) -> GateResult:
        """The verdict and its reasons; there is none until `gate.decide` has run."""
        if self.gate_result is None:
            raise RuntimeError("the gate has not decided yet: a gate rule reads figures only")
        return self.gate_result

    def to_dict(self) -> dict[str, Any]:
        """The JSON report (docs/report.md lists its keys); `cases` is shared, not copied."""
        gate = self.gate.to_dict()
        gate["settings"] = self.settings.to_dict()
        return {
            "schema_version": self.schema_version,
            "run": self.run.to_dict(interrupted=self.interrupted),
            "gate": gate,
            "totals": self.totals.to_dict(),
            "groups": [group.to_dict() for group in self.groups],
            "format": self.format.to_dict(),
            "usage": self.usage.to_dict(),
            "latency": self.latency.to_dict(),
            "safety": self.safety.to_dict(),
            "errors": self.errors.to_dict(),
            "failures": self.failures.to_dict(),
            "baseline": None if self.baseline is None else self.baseline.to_dict(),
            "judge_format": self.judge_format.to_dict(),
            "data": None if self.data is None else self.data.to_dict(),
            "clusters": [dict(cluster) for cluster in self.clusters],
            "endpoint_down": None if self.endpoint_down is None else self.endpoint_down.to_dict(),
            "store_problems": list(self.store_problems),
            "store_integrity": list(self.store_integrity),
            "changes": None if self.changes is None else self.changes.to_dict(),
            "answers": self.answers,
            "cases": self.cases,
        }


def utc_timestamp(moment: datetime | None = None) -> str:
    """ISO 8601 in UTC with a `Z`, e.g. `2024-05-14T09:30:00Z`; now when `moment` is None."""
    moment = datetime.now(timezone.utc) if moment is None else moment
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    text = moment.astimezone(timezone.utc).isoformat(timespec="seconds")
    return text.replace("+00:00", "Z")


def report_schema() -> dict[str, Any]:
    """The JSON Schema (Draft 2020-12) of the JSON report, shipped as `report_schema.json`."""
    from importlib import resources

    text = resources.files(__package__).joinpath("report_schema.json").read_text("utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


@dataclass
class GateResult:
    """The verdict: `passed` is True when every rule holds; one plain sentence per failure."""

    passed: bool
    reasons: list[str] = field(default_factory=list)

    @property
    def verdict(self) -> str:
        return "promote" if self.passed else "block"

    def to_dict(self) -> dict[str, object]:
        return {"passed": self.passed, "verdict": self.verdict, "reasons": list(self.reasons)}
