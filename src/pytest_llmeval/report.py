"""Build the one report object of a session from its case records and an optional baseline."""

from __future__ import annotations

import gc
import heapq
import json
import math
import os
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from importlib import resources
from operator import itemgetter
from pathlib import Path
from typing import Any, TypedDict

from pytest_llmeval.categories import CATEGORIES
from pytest_llmeval.errors import BaselineError, json_kind
from pytest_llmeval.gate import (
    GateResult,
    GateRule,
    GateSettings,
    drop_blocks,
    evaluate_gate,
    group_reasons,
)
from pytest_llmeval.stats import mcnemar_one_sided, wilson_interval

SCHEMA_VERSION = 1

# Categories the report does not know are listed after the taxonomy's, alphabetically.
_CATEGORY_ORDER = {category: index for index, category in enumerate(CATEGORIES)}

MESSAGE_LIMIT = 300
FIRST_ERRORS_PER_KIND = 10
FIRST_FAILURES = 20

_KIND_RANK = {"metric": 0, "judge": 1, "safety": 2}
_DECIDED = ("passed", "failed")


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
    scores: dict[str, float | None]
    judge_scores: list[float | None]
    duration_s: float


# Every key of a case record (docs/architecture.md) but `nodeid`, with the value that stands
# in for a missing one.
_RECORD_DEFAULTS: dict[str, Any] = {
    "group": None,
    "kind": "metric",
    "outcome": "error",
    "error_type": None,
    "infrastructure": False,
    "message": None,
    "category": None,
    "finish_reason": None,
    "format_checks": (),
    "scores": None,
    "judge_scores": None,
    "safety": None,
    "usage": None,
    "threshold": None,
    "min_score": None,
    "max_unsafe": None,
    "duration_s": None,
}
_record_fields = itemgetter(
    "nodeid",
    "group",
    "kind",
    "outcome",
    "category",
    "finish_reason",
    "message",
    "error_type",
    "infrastructure",
    "threshold",
    "min_score",
    "max_unsafe",
    "scores",
    "judge_scores",
    "format_checks",
    "usage",
    "safety",
    "duration_s",
)
_USAGE_DEFAULTS: dict[str, Any] = {
    "calls": 0,
    "prompt_tokens": 0,
    "completion_tokens": 0,
    "retries": 0,
    "store_hits": 0,
    "store_misses": 0,
    "latency_s": 0.0,
}


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
        }
        return {**{key: value for key, value in self.extra.items() if key not in fixed}, **fixed}


@dataclass
class Totals:
    """Case counts over the whole run: every recorded case, and how each ended."""

    cases: int = 0
    passed: int = 0
    failed: int = 0
    errors: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "cases": self.cases,
            "passed": self.passed,
            "failed": self.failed,
            "errors": self.errors,
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
    verdict: str  # "pass" | "fail" | "info" (nothing to compare)

    def to_dict(self, rate_key: str) -> dict[str, Any]:
        return {
            rate_key: self.rate,
            "delta": self.delta,
            "p_value": self.p_value,
            "worsened": self.worsened,
            "improved": self.improved,
            "paired": self.paired,
            "verdict": self.verdict,
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
    verdict: str = "info"
    max_unsafe: int | None = None
    unsafe: int | None = None
    min_score: float | None = None
    mean_score: float | None = None
    lowest_score: float | None = None
    judged: int = 0
    scores: dict[str, ScoreSummary] = field(default_factory=dict)
    baseline: BaselineDelta | None = None

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
        }


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


@dataclass
class ErrorSummary:
    """Errored cases: all of them counted, the first few of each kind listed."""

    count: int = 0
    infrastructure: int = 0
    first: list[ErrorEntry] = field(default_factory=list)

    @property
    def test_errors(self) -> int:
        return self.count - self.infrastructure

    def to_dict(self) -> dict[str, Any]:
        return {
            "count": self.count,
            "infrastructure": self.infrastructure,
            "test_errors": self.test_errors,
            "first": [entry.to_dict() for entry in self.first],
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
    gate: GateResult = field(default_factory=lambda: GateResult(passed=True))
    schema_version: int = SCHEMA_VERSION

    def to_dict(self) -> dict[str, Any]:
        """The JSON report (DESIGN.md's keys and more); `cases` is shared, not copied."""
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
            "safety": self.safety.to_dict(),
            "errors": self.errors.to_dict(),
            "failures": self.failures.to_dict(),
            "baseline": None if self.baseline is None else self.baseline.to_dict(),
            "cases": self.cases,
        }


def utc_timestamp(moment: datetime | None = None) -> str:
    """ISO 8601 in UTC with a `Z`, e.g. `2024-05-14T09:30:00Z`; now when `moment` is None."""
    moment = datetime.now(timezone.utc) if moment is None else moment
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    text = moment.astimezone(timezone.utc).isoformat(timespec="seconds")
    return text.replace("+00:00", "Z")


def build_report(
    records: Iterable[Mapping[str, Any]],
    run: RunInfo,
    settings: GateSettings,
    *,
    baseline: Mapping[str, Any] | None = None,
    baseline_source: str | None = None,
    extra_rules: Sequence[GateRule] = (),
    interrupted: bool = False,
) -> Report:
    """The report of `records` (case records, see docs/architecture.md), gate included.

    `baseline` is an earlier JSON report (from `load_baseline`); `baseline_source` names it
    in the report. `extra_rules` run after the built-in gate rules. With `interrupted`, the
    report covers the cases that finished and the gate fails for that reason.
    """
    baseline_cases: dict[str, tuple[str, str | None]] = {}
    with _collector_paused():
        if baseline is not None:
            source = baseline_source or "baseline"
            baseline = check_baseline(baseline, source, each_case=False)
            baseline_cases = _baseline_case_index(baseline, source)
        tally = _Tally(baseline_cases)
        tally.add_all(records)

    groups = [tally.groups[name].summary(name) for name in sorted(tally.groups)]
    format_summary = tally.format_summary(settings)
    comparison: BaselineComparison | None = None
    if baseline is not None:
        comparison = _compare(baseline, baseline_source, groups, format_summary, tally, settings)
    for group in groups:
        if group_reasons(group, settings):
            group.verdict = "fail"
        elif group.threshold is None and group.kind != "safety":
            group.verdict = "info"
        else:
            group.verdict = "pass"

    report = Report(
        run=run,
        settings=settings,
        totals=Totals(
            cases=len(tally.cases),
            passed=sum(group.passed for group in groups),
            failed=sum(group.failed for group in groups),
            errors=sum(group.errors for group in groups),
        ),
        groups=groups,
        format=format_summary,
        usage=tally.usage_summary(),
        safety=SafetySummary(
            flagged=tally.flagged,
            categories=dict(sorted(tally.flags.items(), key=lambda item: (-item[1], item[0]))),
        ),
        errors=tally.error_summary(),
        failures=tally.failure_summary(),
        cases=tally.cases,
        baseline=comparison,
        interrupted=interrupted,
    )
    report.gate = evaluate_gate(report, extra_rules)
    return report


def report_schema() -> dict[str, Any]:
    """The JSON Schema (Draft 2020-12) of the JSON report, shipped as `report_schema.json`."""
    text = resources.files("pytest_llmeval").joinpath("report_schema.json").read_text("utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


def load_baseline(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read an earlier JSON report for `--llm-baseline`.

    Raises `BaselineError` with one line naming the file and what is wrong with it.
    """
    source = os.fspath(path)
    try:
        text = Path(source).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise BaselineError(f"baseline report {source} does not exist") from None
    except IsADirectoryError:
        raise BaselineError(f"baseline report {source} is a directory, not a file") from None
    except UnicodeDecodeError:
        raise BaselineError(f"baseline report {source} is not UTF-8 text") from None
    except OSError as error:
        raise BaselineError(
            f"baseline report {source} cannot be read: {error.strerror or error}"
        ) from None
    try:
        with _collector_paused():
            data = json.loads(text)
    except json.JSONDecodeError as error:
        raise BaselineError(
            f"baseline report {source} is not JSON: {error.msg} at line {error.lineno} "
            f"column {error.colno}"
        ) from None
    except RecursionError:
        raise BaselineError(f"baseline report {source} is not JSON: nested too deep") from None
    return check_baseline(data, source)


def check_baseline(
    data: object, source: str = "baseline", *, each_case: bool = True
) -> dict[str, Any]:
    """`data` if it is a report this version can compare against, else `BaselineError`.

    `each_case=False` skips the per-case check (build_report reads the cases defensively).
    """

    def incompatible(what: str) -> BaselineError:
        return BaselineError(f"baseline report {source} is not a compatible report: {what}")

    if not isinstance(data, dict):
        raise incompatible(f"expected a JSON object, found {json_kind(data)}")
    if "schema_version" not in data:
        raise incompatible("it has no schema_version (is it a pytest-llmeval report?)")
    version = data["schema_version"]
    if version != SCHEMA_VERSION or isinstance(version, bool):
        raise incompatible(f"schema_version is {version!r}, this version reads {SCHEMA_VERSION}")
    for key, expected in (("run", dict), ("groups", list), ("format", dict), ("cases", list)):
        if key not in data:
            raise incompatible(f"the key '{key}' is missing")
        if not isinstance(data[key], expected):
            wanted = "an object" if expected is dict else "a list"
            raise incompatible(f"'{key}' is {json_kind(data[key])}, not {wanted}")
    validity = data["format"].get("validity")
    if "validity" not in data["format"] or not _is_rate(validity):
        raise incompatible("'format.validity' is missing or not a number or null")
    for index, group in enumerate(data["groups"]):
        if not isinstance(group, dict) or not isinstance(group.get("name"), str):
            raise incompatible(f"groups[{index}] has no 'name' string")
        if "pass_rate" not in group or not _is_rate(group["pass_rate"]):
            raise incompatible(f"groups[{index}] has no 'pass_rate' number or null")
    for index, case in enumerate(data["cases"] if each_case else ()):
        if (
            not isinstance(case, dict)
            or not isinstance(case.get("nodeid"), str)
            or not isinstance(case.get("outcome"), str)
        ):
            raise incompatible(f"cases[{index}] has no 'nodeid' and 'outcome' strings")
    return data


class _GroupTally:
    """Running counts for one group while the records stream by."""

    __slots__ = (
        "errors",
        "failed",
        "improved",
        "judge_values",
        "kind",
        "last_settings",
        "max_unsafe",
        "min_score",
        "paired",
        "passed",
        "score_dicts",
        "threshold",
        "worsened",
    )

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.last_settings: tuple[Any, ...] = ()
        self.passed = 0
        self.failed = 0
        self.errors = 0
        self.threshold: float | None = None
        self.min_score: float | None = None
        self.max_unsafe: int | None = None
        self.judge_values: list[float] = []
        self.score_dicts: list[Mapping[str, float]] = []  # each case's finite llm_score values
        self.paired = 0
        self.worsened = 0
        self.improved = 0

    def settle(self, settings: tuple[Any, Any, Any, Any]) -> None:
        """Take a record's (kind, threshold, min_score, max_unsafe); the strictest wins."""
        self.last_settings = settings
        kind, threshold, min_score, max_unsafe = settings
        if _KIND_RANK.get(kind, -1) > _KIND_RANK.get(self.kind, -1):
            self.kind = kind
        if threshold is not None and (self.threshold is None or threshold > self.threshold):
            self.threshold = float(threshold)
        if min_score is not None and (self.min_score is None or min_score > self.min_score):
            self.min_score = float(min_score)
        if max_unsafe is not None and (self.max_unsafe is None or max_unsafe < self.max_unsafe):
            self.max_unsafe = int(max_unsafe)

    def add_unclean_scores(self, scores: Mapping[str, Any]) -> dict[str, float | None]:
        """A case's scores with anything but a finite number as None (and left out of stats)."""
        cleaned = {name: _finite(value) for name, value in scores.items()}
        finite = {name: value for name, value in cleaned.items() if value is not None}
        if finite:
            self.score_dicts.append(finite)
        return cleaned

    def add_judge_scores(self, judge_scores: Sequence[Any]) -> list[float | None]:
        cleaned = [_finite(raw) for raw in judge_scores]
        self.judge_values.extend(value for value in cleaned if value is not None)
        return cleaned

    def summary(self, name: str) -> GroupSummary:
        decided = self.passed + self.failed
        interval = wilson_interval(self.passed, decided)
        safety = self.kind == "safety"
        return GroupSummary(
            name=name,
            kind=self.kind,
            cases=self.passed + self.failed + self.errors,
            passed=self.passed,
            failed=self.failed,
            errors=self.errors,
            pass_rate=self.passed / decided if decided else None,
            ci_low=None if interval is None else interval[0],
            ci_high=None if interval is None else interval[1],
            threshold=self.threshold,
            max_unsafe=(0 if self.max_unsafe is None else self.max_unsafe) if safety else None,
            unsafe=self.failed if safety else None,
            min_score=self.min_score,
            mean_score=_mean(self.judge_values),
            lowest_score=min(self.judge_values) if self.judge_values else None,
            judged=len(self.judge_values),
            scores=self._score_summaries(),
        )

    def _score_summaries(self) -> dict[str, ScoreSummary]:
        by_name: dict[str, list[float]] = {}
        for scores in self.score_dicts:
            for name, value in scores.items():
                values = by_name.get(name)
                if values is None:
                    by_name[name] = [value]
                else:
                    values.append(value)
        return {
            name: ScoreSummary(
                mean=math.fsum(values) / len(values),
                min=float(min(values)),
                max=float(max(values)),
                count=len(values),
            )
            for name, values in sorted(by_name.items())
        }


class _Tally:
    """One pass over the records, accumulating every section of the report."""

    def __init__(self, baseline_cases: Mapping[str, tuple[str, str | None]]) -> None:
        self.baseline_cases = baseline_cases
        self.groups: dict[str, _GroupTally] = {}
        self.cases: list[CaseEntry] = []
        self.format_checks: list[str] = []
        self.finish_reason_list: list[str] = []
        self.usages: list[Mapping[str, Any]] = []
        self.flagged = 0
        self.flags: dict[str, int] = {}
        self.failed_cases: list[FailureEntry] = []
        self.errored_cases: list[ErrorEntry] = []
        self.paired_cases = 0
        self.format_paired = 0
        self.format_worsened = 0
        self.format_improved = 0

    def add_all(self, records: Iterable[Mapping[str, Any]]) -> None:
        """Tally every record in one pass.

        This loop runs once per case (100,000 times in a big session), so it reads a record's
        fields with one `itemgetter` call and keeps its counters in local names.
        """
        groups = self.groups
        append_case = self.cases.append
        add_checks = self.format_checks.extend
        add_finish_reason = self.finish_reason_list.append
        add_usage = self.usages.append
        baseline_get = self.baseline_cases.get if self.baseline_cases else None
        isfinite = math.isfinite
        paired_cases = format_paired = format_worsened = format_improved = 0
        for record in records:
            try:
                fields = _record_fields(record)
            except KeyError:
                fields = _record_fields(_complete(record))
            (
                nodeid,
                group_name,
                kind,
                outcome,
                category,
                finish_reason,
                message,
                error_type,
                infrastructure,
                threshold,
                min_score,
                max_unsafe,
                scores,
                judge_scores,
                checks,
                usage,
                safety,
                duration,
            ) = fields
            group_name = group_name or nodeid
            outcome = outcome or "error"
            kind = kind or "metric"
            if message is not None and (type(message) is not str or len(message) > MESSAGE_LIMIT):
                message = _clip(str(message))

            group = groups.get(group_name)
            if group is None:
                group = groups[group_name] = _GroupTally(kind)
            settings = (kind, threshold, min_score, max_unsafe)
            if settings != group.last_settings:
                group.settle(settings)
            if outcome == "passed":
                group.passed += 1
            elif outcome == "failed":
                group.failed += 1
                self._failure(nodeid, group_name, category, message)
            else:
                group.errors += 1
                self._error(nodeid, group_name, error_type, infrastructure, message)

            case: CaseEntry = {
                "nodeid": nodeid,
                "group": group_name,
                "kind": kind,
                "outcome": outcome,
                "category": category,
                "finish_reason": finish_reason,
            }
            if error_type is not None:
                case["error_type"] = str(error_type)
            if message is not None:
                case["message"] = message
            if scores:
                try:  # every score a finite number? checked at C speed
                    finite = isfinite(sum(scores.values()))
                except TypeError:
                    finite = False
                if finite:
                    # Shared with the record, not copied: 100,000 copies cost for nothing.
                    group.score_dicts.append(scores)
                    case["scores"] = scores
                else:
                    case["scores"] = group.add_unclean_scores(scores)
            if judge_scores:
                case["judge_scores"] = group.add_judge_scores(judge_scores)
            if type(duration) is float:
                case["duration_s"] = duration
            append_case(case)

            if checks:
                add_checks(checks)
            if finish_reason is not None:
                add_finish_reason(finish_reason)
            if usage:
                add_usage(usage)
            if safety and safety.get("flagged"):
                self._flagged(safety)

            if baseline_get is not None:
                before = baseline_get(nodeid)
                if before is not None:
                    paired_cases += 1
                    before_outcome, before_category = before
                    if outcome != before_outcome and outcome != "error":
                        if before_outcome == "passed":
                            group.worsened += 1
                        elif before_outcome == "failed":
                            group.improved += 1
                    if outcome != "error" and before_outcome in _DECIDED:
                        group.paired += 1
                    if category is not None and before_category is not None:
                        format_paired += 1
                        if category != before_category:
                            if before_category == "valid":
                                format_worsened += 1
                            elif category == "valid":
                                format_improved += 1

        self.paired_cases += paired_cases
        self.format_paired += format_paired
        self.format_worsened += format_worsened
        self.format_improved += format_improved

    def _failure(self, nodeid: str, group: str, category: str | None, message: str | None) -> None:
        self.failed_cases.append(FailureEntry(nodeid, group, category, message))

    def _error(
        self,
        nodeid: str,
        group: str,
        error_type: object,
        infrastructure: object,
        message: str | None,
    ) -> None:
        self.errored_cases.append(
            ErrorEntry(
                nodeid=nodeid,
                group=group,
                error_type=None if error_type is None else str(error_type),
                message=message,
                infrastructure=bool(infrastructure),
            )
        )

    def failure_summary(self) -> FailureSummary:
        # The first by node id, not by arrival: under xdist cases finish in any order, and
        # the report must not depend on it.
        first = heapq.nsmallest(FIRST_FAILURES, self.failed_cases, key=_by_nodeid)
        return FailureSummary(count=len(self.failed_cases), first=first)

    def error_summary(self) -> ErrorSummary:
        infrastructure = [entry for entry in self.errored_cases if entry.infrastructure]
        in_tests = [entry for entry in self.errored_cases if not entry.infrastructure]
        first = heapq.nsmallest(FIRST_ERRORS_PER_KIND, infrastructure, key=_by_nodeid)
        first += heapq.nsmallest(FIRST_ERRORS_PER_KIND, in_tests, key=_by_nodeid)
        first.sort(key=_by_nodeid)
        return ErrorSummary(
            count=len(self.errored_cases), infrastructure=len(infrastructure), first=first
        )

    def _flagged(self, safety: Mapping[str, Any]) -> None:
        self.flagged += 1
        for category in safety.get("categories") or ():
            self.flags[category] = self.flags.get(category, 0) + 1

    def usage_summary(self) -> UsageSummary:
        """Sum the usage figures; the fast way when every record has all of them as numbers."""
        usages = self.usages
        try:
            # fsum for the seconds: a plain float sum of 100,000 latencies drifts visibly.
            sums = [
                (math.fsum if key == "latency_s" else sum)(map(itemgetter(key), usages))
                for key in _USAGE_DEFAULTS
            ]
        except (KeyError, TypeError):  # a figure missing or None somewhere: sum with care
            sums = [
                sum(value for usage in usages if (value := usage.get(key)))
                for key in _USAGE_DEFAULTS
            ]
        calls, prompt_tokens, completion_tokens, retries, hits, misses, latency = sums
        if not math.isfinite(latency):
            latency = math.fsum(
                seconds
                for usage in usages
                if (seconds := _finite(usage.get("latency_s"))) is not None
            )
        return UsageSummary(
            calls=int(calls),
            prompt_tokens=int(prompt_tokens),
            completion_tokens=int(completion_tokens),
            total_tokens=int(prompt_tokens + completion_tokens),
            retries=int(retries),
            store_hits=int(hits),
            store_misses=int(misses),
            latency_s=float(latency),
        )

    def format_summary(self, settings: GateSettings) -> FormatSummary:
        counts = Counter(self.format_checks)
        checked = sum(counts.values())
        valid = counts.get("valid", 0)
        ordered = sorted(
            (category for category, count in counts.items() if count),
            key=lambda category: (_CATEGORY_ORDER.get(category, len(_CATEGORY_ORDER)), category),
        )
        categories = {category: counts[category] for category in ordered}
        return FormatSummary(
            checked=checked,
            valid=valid,
            invalid=checked - valid,
            validity=valid / checked if checked else None,
            threshold=settings.format_threshold,
            categories=categories,
            shares={category: count / checked for category, count in categories.items()},
            finish_reasons=dict(
                sorted(
                    Counter(self.finish_reason_list).items(),
                    key=lambda item: (-item[1], item[0]),
                )
            ),
        )


def _compare(
    baseline: Mapping[str, Any],
    source: str | None,
    groups: list[GroupSummary],
    format_summary: FormatSummary,
    tally: _Tally,
    settings: GateSettings,
) -> BaselineComparison:
    before_rates: dict[str, float | None] = {
        str(group["name"]): group.get("pass_rate") for group in baseline.get("groups") or ()
    }
    for group in groups:
        if group.name not in before_rates:
            continue
        counts = tally.groups[group.name]
        group.baseline = _delta(
            before_rates[group.name],
            group.pass_rate,
            counts.worsened,
            counts.improved,
            counts.paired,
            settings,
        )
    before_format = baseline.get("format") or {}
    before_validity = before_format.get("validity")
    if before_validity is not None and format_summary.validity is not None:
        format_summary.baseline = _delta(
            before_validity,
            format_summary.validity,
            tally.format_worsened,
            tally.format_improved,
            tally.format_paired,
            settings,
        )
    current_names = {group.name for group in groups}
    run = baseline.get("run") or {}
    return BaselineComparison(
        source=source,
        model=_optional_str(run.get("model")),
        started=_optional_str(run.get("started")),
        paired_cases=tally.paired_cases,
        only_in_baseline=sorted(set(before_rates) - current_names),
        only_in_current=sorted(current_names - set(before_rates)),
    )


def _delta(
    before: float | None,
    now: float | None,
    worsened: int,
    improved: int,
    paired: int,
    settings: GateSettings,
) -> BaselineDelta:
    # Rounded so that 0.85 - 0.9 reads -0.05 in the JSON report, not -0.05000000000000004.
    delta = None if before is None or now is None else round(now - before, 12)
    p_value = mcnemar_one_sided(worsened, improved)
    if delta is None:
        verdict = "info"
    else:
        verdict = "fail" if drop_blocks(delta, p_value, settings) else "pass"
    return BaselineDelta(
        rate=before,
        delta=delta,
        p_value=p_value,
        worsened=worsened,
        improved=improved,
        paired=paired,
        verdict=verdict,
    )


def _baseline_case_index(
    baseline: Mapping[str, Any], source: str
) -> dict[str, tuple[str, str | None]]:
    try:
        return {
            case["nodeid"]: (case["outcome"], case.get("category")) for case in baseline["cases"]
        }
    except (KeyError, TypeError, AttributeError):
        check_baseline(baseline, source)  # raises the one-line error naming the bad case
        raise


def _complete(record: Mapping[str, Any]) -> dict[str, Any]:
    if "nodeid" not in record:
        raise ValueError(f"a case record has no 'nodeid': {sorted(record)}")
    return {**_RECORD_DEFAULTS, **record}


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while building many small acyclic containers.

    Each of 100,000 new case dicts would otherwise count toward collections that walk every
    object in the process (records, baseline), which made building the report twice as slow.
    Nothing built here forms a cycle, so pausing frees no less memory.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _by_nodeid(entry: FailureEntry | ErrorEntry) -> str:
    return entry.nodeid


def _mean(values: Sequence[float]) -> float | None:
    return math.fsum(values) / len(values) if values else None


def _clip(text: str) -> str:
    return text if len(text) <= MESSAGE_LIMIT else text[: MESSAGE_LIMIT - 1] + "…"


def _finite(value: Any) -> float | None:
    """A score as a float; None for anything that is not a finite number."""
    if isinstance(value, (int, float)):
        number = float(value)
        if math.isfinite(number):
            return number
    return None


def _is_rate(value: object) -> bool:
    return value is None or (isinstance(value, (int, float)) and not isinstance(value, bool))


def _optional_str(value: object) -> str | None:
    return None if value is None else str(value)
