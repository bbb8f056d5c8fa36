"""The report's figures, from a session's case records and an optional baseline, then decided."""

from __future__ import annotations

import heapq
import math
from collections import Counter
from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Any, cast

from pytest_llmeval.case_record import (
    MESSAGE_LIMIT,
    RECORD_FIELDS,
    CaseRecord,
    clip,
)
from pytest_llmeval.categories import CATEGORIES
from pytest_llmeval.report.baseline import (
    baseline_case_index,
    check_baseline,
    garbage_collector_paused,
)
from pytest_llmeval.report.case_entry import add_exchange, add_review_details
from pytest_llmeval.report.clusters import failure_clusters
from pytest_llmeval.report.gate import GateRule, decide
from pytest_llmeval.report.gate_settings import GateSettings
from pytest_llmeval.report.latency import LatencyTally
from pytest_llmeval.report.model import (
    BaselineComparison,
    BaselineDelta,
    Calibration,
    CaseEntry,
    DataSummary,
    EndpointDown,
    ErrorEntry,
    ErrorSummary,
    FailureEntry,
    FailureSummary,
    FormatSummary,
    GroupSummary,
    JudgeFormatSummary,
    Report,
    RunInfo,
    SafetySummary,
    ScoreSummary,
    Totals,
)
from pytest_llmeval.report.not_counted import attach_not_counted
from pytest_llmeval.report.pricing import PriceTable
from pytest_llmeval.report.repeated import distinct_errors
from pytest_llmeval.report.review import ChangeInputs, add_store_facts
from pytest_llmeval.report.shard_records import attach_records
from pytest_llmeval.report.stats import (
    case_mean_interval,
    cohen_kappa,
    finite_number,
    mcnemar_one_sided,
    wilson_interval,
)
from pytest_llmeval.report.usage_tally import UsageTally

# Categories the report does not know are listed after the taxonomy's, alphabetically.
_CATEGORY_ORDER = {category: index for index, category in enumerate(CATEGORIES)}

FIRST_ERRORS_PER_KIND = 10
FIRST_FAILURES = 20

_KIND_RANK = {"metric": 0, "judge": 1, "safety": 2}
_DECIDED = ("passed", "failed")


def build_report(
    records: Iterable[CaseRecord],
    run: RunInfo,
    settings: GateSettings,
    *,
    baseline: Mapping[str, Any] | None = None,
    baseline_source: str | None = None,
    extra_rules: Sequence[GateRule] = (),
    interrupted: bool = False,
    data: DataSummary | None = None,
    prices: PriceTable | None = None,
    changes: ChangeInputs | None = None,
    keep_records: bool = False,
    not_counted: Iterable[Mapping[str, Any]] = (),
) -> Report:
    """The report of `records`: every figure, then every verdict by `gate.decide`.

    `baseline`: an earlier JSON report (`baseline.load_baseline`), named by `baseline_source`.
    `extra_rules` run after the built-in rules. `interrupted`: the gate fails for it. `data`:
    the run against its training data. `prices`: the cost of every model's tokens. `changes`:
    what `changes` needs beyond the records. `keep_records` (a shard): case entries carry
    what `llmeval merge` needs. `not_counted`: skipped and xfailed eval cases.
    """
    # Read more than once: a list, or a collection that reads its records again each pass.
    records = records if isinstance(records, Collection) else list(records)
    baseline_cases: dict[str, tuple[str, str | None]] = {}
    with garbage_collector_paused():
        if baseline is not None:
            source = baseline_source or "baseline"
            baseline = check_baseline(baseline, source, each_case=False)
            baseline_cases = baseline_case_index(baseline, source)
        tally = _Tally(baseline_cases)
        tally.add_all(records)
        if keep_records:
            attach_records(tally.cases, records)

    groups = [tally.groups[name].summary(name) for name in sorted(tally.groups)]
    format_summary = tally.format_summary(settings)
    comparison: BaselineComparison | None = None
    if baseline is not None:
        comparison = _compare(baseline, baseline_source, groups, format_summary, tally)
    groups = attach_not_counted(groups, not_counted)  # skipped and xfailed: in no rate
    report = Report(
        run=run,
        settings=settings,
        totals=Totals(
            # Distinct cases: with --llm-repeat the runs are passed + failed + errors.
            cases=sum(group.cases for group in groups),
            passed=sum(group.passed for group in groups),
            failed=sum(group.failed for group in groups),
            errors=sum(group.errors for group in groups),
            skipped=sum(group.skipped for group in groups),
            xfailed=sum(group.xfailed for group in groups),
        ),
        groups=groups,
        format=format_summary,
        usage=tally.usage.summary(prices),
        latency=tally.latency.summary(),
        safety=SafetySummary(
            flagged=tally.flagged,
            categories=dict(sorted(tally.flags.items(), key=lambda item: (-item[1], item[0]))),
        ),
        errors=tally.error_summary(),
        failures=tally.failure_summary(),
        cases=tally.cases,
        baseline=comparison,
        interrupted=interrupted,
        judge_format=tally.judge_format_summary(),
        data=data,
        clusters=[dict(cluster) for cluster in failure_clusters(records)],
        endpoint_down=_endpoint_down(tally.errored_cases),
        store_problems=sorted(tally.store_problems),
    )
    add_store_facts(report, records, baseline, baseline_source, changes or ChangeInputs())
    return decide(report, extra_rules)


def _endpoint_down(errors: Sequence[ErrorEntry]) -> EndpointDown | None:
    """The dead endpoint, from the errors of the calls its open circuit stopped."""
    down = [entry for entry in errors if entry.error_type == "EndpointDownError"]
    if not down:
        return None
    # The message starts with the URL: "http://host:port is down (...)".
    url = min(down, key=_by_nodeid).message or ""
    return EndpointDown(url=url.split(" is down", 1)[0], cases=len(down))


class _GroupTally:
    """Running counts for one group while the records stream by."""

    __slots__ = (
        "better",
        "by_case",
        "calibration_pairs",
        "comparisons",
        "errors",
        "failed",
        "judge_values",
        "kind",
        "last_settings",
        "max_unsafe",
        "min_score",
        "paired",
        "passed",
        "position_bias",
        "score_dicts",
        "threshold",
        "worse",
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
        # The paired cases that passed before and fail now, and the other way round.
        self.worse: list[str] = []
        self.better: list[str] = []
        # With --llm-repeat: each case's [passed, failed, errors] runs, in first-run order.
        self.by_case: dict[str, list[int]] = {}
        self.comparisons = 0
        self.position_bias = 0
        self.calibration_pairs: list[tuple[float, float]] = []  # (human, judge)

    def add_run(self, case: str, outcome: str) -> None:
        counts = self.by_case.get(case)
        if counts is None:
            counts = self.by_case[case] = [0, 0, 0]
        counts[0 if outcome == "passed" else 1 if outcome == "failed" else 2] += 1

    def case_fractions(self) -> dict[str, float]:
        """Each repeated case's share of passed runs among its passed and failed ones."""
        return {
            case: passed / (passed + failed)
            for case, (passed, failed, _) in self.by_case.items()
            if passed + failed
        }

    def add_judging(
        self,
        human_score: Any,
        judge_scores: Sequence[float | None] | None,
        comparisons: Any,
        position_bias: Any,
    ) -> None:
        """A case's comparisons, and its (human, judge) pairs when its row was labelled."""
        if type(comparisons) is int:
            self.comparisons += comparisons
        if type(position_bias) is int:
            self.position_bias += position_bias
        human = finite_number(human_score)
        if human is not None and judge_scores:
            self.calibration_pairs.extend(
                (human, score) for score in judge_scores if score is not None
            )

    def _calibration(self) -> Calibration | None:
        pairs = self.calibration_pairs
        if not pairs:
            return None
        agreed = sum(1 for human, judge in pairs if human == judge)
        return Calibration(
            labelled=len(pairs),
            agreed=agreed,
            agreement=agreed / len(pairs),
            kappa=cohen_kappa(pairs),
        )

    def _score_distribution(self) -> dict[str, int]:
        counts = Counter(self.judge_values)
        return {_score_label(score): counts[score] for score in sorted(counts)}

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
        cleaned = {name: finite_number(value) for name, value in scores.items()}
        finite = {name: value for name, value in cleaned.items() if value is not None}
        if finite:
            self.score_dicts.append(finite)
        return cleaned

    def add_judge_scores(self, judge_scores: Sequence[Any]) -> list[float | None]:
        cleaned = [finite_number(raw) for raw in judge_scores]
        self.judge_values.extend(value for value in cleaned if value is not None)
        return cleaned

    def summary(self, name: str) -> GroupSummary:
        if self.by_case:
            return self._repeated_summary(name)
        decided = self.passed + self.failed
        interval = wilson_interval(self.passed, decided)
        safety = self.kind == "safety"
        judge = self.kind == "judge"
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
            comparisons=self.comparisons if judge else None,
            position_bias=self.position_bias if judge else None,
            calibration=self._calibration() if judge else None,
            score_distribution=self._score_distribution() if judge else None,
        )

    def _repeated_summary(self, name: str) -> GroupSummary:
        """The summary of a group whose cases each ran several times (`--llm-repeat`).

        Thresholds read the mean of the per-case pass fractions, with its interval over
        cases (`stats.case_mean_interval`); a safety case is unsafe when any of its runs was.
        """
        fractions = self.case_fractions()
        figures = case_mean_interval(list(fractions.values()))
        safety = self.kind == "safety"
        unsafe = sum(1 for _, failed, _ in self.by_case.values() if failed)
        summary = GroupSummary(
            name=name,
            kind=self.kind,
            cases=len(self.by_case),
            passed=self.passed,
            failed=self.failed,
            errors=self.errors,
            pass_rate=None if figures is None else figures[0],
            ci_low=None if figures is None else figures[1],
            ci_high=None if figures is None else figures[2],
            threshold=self.threshold,
            max_unsafe=(0 if self.max_unsafe is None else self.max_unsafe) if safety else None,
            unsafe=unsafe if safety else None,
            min_score=self.min_score,
            mean_score=_mean(self.judge_values),
            lowest_score=min(self.judge_values) if self.judge_values else None,
            judged=len(self.judge_values),
            scores=self._score_summaries(),
            comparisons=self.comparisons if self.kind == "judge" else None,
            position_bias=self.position_bias if self.kind == "judge" else None,
            calibration=self._calibration() if self.kind == "judge" else None,
            score_distribution=self._score_distribution() if self.kind == "judge" else None,
            runs=self.passed + self.failed + self.errors,
            flaky=[case for case, fraction in fractions.items() if 0.0 < fraction < 1.0],
            case_pass_fractions=fractions,
        )
        return summary

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
        self.usage = UsageTally()
        self.flagged = 0
        self.flags: dict[str, int] = {}
        self.failed_cases: list[FailureEntry] = []
        self.errored_cases: list[ErrorEntry] = []
        self.paired_cases = 0
        self.format_paired = 0
        self.format_worse: list[str] = []
        self.format_better: list[str] = []
        self.judge_checks: list[str] = []
        self.store_problems: dict[str, None] = {}  # distinct, in order of arrival
        self.latency = LatencyTally()
        self.shared_strings: dict[str, str] = {}

    def add_all(self, records: Iterable[CaseRecord]) -> None:
        """Tally every record in one pass.

        This loop runs once per case (100,000 times in a big session), so it reads each field
        of a record by name into a local, keeps its counters in locals too, and sends a record
        that lacks a key round again, completed (`_complete`).
        """
        groups = self.groups
        append_case = self.cases.append
        add_checks = self.format_checks.extend
        add_finish_reason = self.finish_reason_list.append
        add_usage = self.usage.add
        baseline_get = self.baseline_cases.get if self.baseline_cases else None
        isfinite = math.isfinite
        paired_cases = format_paired = 0
        # Records read back from the session's spool hold their own copy of every string: a
        # case entry takes the one copy of each group, kind, outcome, category and reason.
        shared = self.shared_strings.setdefault
        format_worse, format_better = self.format_worse.append, self.format_better.append
        for record in records:
            try:
                nodeid = record["nodeid"]
                group_name = record["group"]
                kind = record["kind"]
                outcome = record["outcome"]
                error_type = record["error_type"]
                infrastructure = record["infrastructure"]
                message = record["message"]
                category = record["category"]
                finish_reason = record["finish_reason"]
                checks = record["format_checks"]
                scores = record["scores"]
                judge_scores = record["judge_scores"]
                safety = record["safety"]
                usage = record["usage"]
                threshold = record["threshold"]
                min_score = record["min_score"]
                max_unsafe = record["max_unsafe"]
                duration = record["duration_s"]
                run = record["run"]
                case_of_run = record["case_nodeid"]
                human_score = record["human_score"]
                judge_checks = record["judge_checks"]
                comparisons = record["comparisons"]
                position_bias = record["position_bias"]
                if record["store_problem"] is not None:
                    self.store_problems.setdefault(str(record["store_problem"]), None)
            except KeyError:
                self.add_all([_complete(record)])
                continue
            group_name = group_name or nodeid
            outcome = outcome or "error"
            kind = kind or "metric"
            if message is not None and (type(message) is not str or len(message) > MESSAGE_LIMIT):
                message = clip(str(message))

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
                "group": shared(group_name, group_name) if type(group_name) is str else group_name,
                "kind": shared(kind, kind) if type(kind) is str else kind,
                "outcome": shared(outcome, outcome) if type(outcome) is str else outcome,
                "category": shared(category, category) if type(category) is str else category,
                "finish_reason": (
                    shared(finish_reason, finish_reason)
                    if type(finish_reason) is str
                    else finish_reason
                ),
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
            if comparisons or human_score is not None:
                group.add_judging(human_score, case.get("judge_scores"), comparisons, position_bias)
            if judge_checks:
                self.judge_checks.extend(str(check) for check in judge_checks)
            if type(duration) is float:
                case["duration_s"] = duration
            if record.get("request") is not None or record.get("output") is not None:
                add_exchange(case, record.get("request"), record.get("output"))
            add_review_details(case, record)
            if case_of_run is not None:
                case["case"] = case_of_run
                case["run"] = run if type(run) is int else 0
                group.add_run(case_of_run, outcome)
            append_case(case)

            if checks:
                add_checks(checks)
            if finish_reason is not None:
                add_finish_reason(finish_reason)
            if usage:
                add_usage(usage)
            if timings := record.get("timings"):
                self.latency.add(timings)
            if safety and safety.get("flagged"):
                self._flagged(safety)

            if baseline_get is not None:
                before = baseline_get(nodeid)
                if before is not None:
                    paired_cases += 1
                    before_outcome, before_category = before
                    if outcome != before_outcome and outcome != "error":
                        if before_outcome == "passed":
                            group.worse.append(nodeid)
                        elif before_outcome == "failed":
                            group.better.append(nodeid)
                    if outcome != "error" and before_outcome in _DECIDED:
                        group.paired += 1
                    if category is not None and before_category is not None:
                        format_paired += 1
                        if category != before_category:
                            if before_category == "valid":
                                format_worse(nodeid)
                            elif category == "valid":
                                format_better(nodeid)

        self.paired_cases += paired_cases
        self.format_paired += format_paired

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
            count=len(self.errored_cases),
            infrastructure=len(infrastructure),
            first=first,
            distinct=distinct_errors(self.errored_cases),
        )

    def _flagged(self, safety: Mapping[str, Any]) -> None:
        self.flagged += 1
        for category in safety.get("categories") or ():
            self.flags[category] = self.flags.get(category, 0) + 1

    def judge_format_summary(self) -> JudgeFormatSummary:
        counts = Counter(self.judge_checks)
        valid = counts.pop("valid", 0)
        return JudgeFormatSummary(
            checked=len(self.judge_checks),
            valid=valid,
            categories=dict(sorted(counts.items(), key=lambda item: (-item[1], item[0]))),
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
            counts.worse,
            counts.better,
            counts.paired,
        )
    if any(tally.groups[group.name].by_case for group in groups) or any(
        isinstance(case, dict) and "case" in case for case in baseline.get("cases") or ()
    ):
        _compare_case_fractions(baseline, groups, tally, before_rates)
    before_format = baseline.get("format") or {}
    before_validity = before_format.get("validity")
    if before_validity is not None and format_summary.validity is not None:
        format_summary.baseline = _delta(
            before_validity,
            format_summary.validity,
            tally.format_worse,
            tally.format_better,
            tally.format_paired,
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


def _compare_case_fractions(
    baseline: Mapping[str, Any],
    groups: list[GroupSummary],
    tally: _Tally,
    before_rates: Mapping[str, float | None],
) -> None:
    """With repeated runs on either side, each group's comparison paired on cases.

    A case's pass fraction now against before: the sign test counts the cases that fell and
    the ones that rose (ties say nothing), which is the McNemar test when every case ran once.
    """
    now = _case_fractions(tally.cases)
    before = _case_fractions(baseline.get("cases") or ())
    for group in groups:
        if group.name not in before_rates:
            continue
        worse: list[str] = []
        better: list[str] = []
        paired = 0
        for case, fraction in now.get(group.name, {}).items():
            earlier = before.get(group.name, {}).get(case)
            if earlier is None:
                continue
            paired += 1
            if fraction < earlier:
                worse.append(case)
            elif fraction > earlier:
                better.append(case)
        group.baseline = _delta(before_rates[group.name], group.pass_rate, worse, better, paired)
        group.baseline.test = "sign"


def _case_fractions(entries: Iterable[Any]) -> dict[str, dict[str, float]]:
    """Per group, each case's share of passed runs (a run's case is its "case", else itself)."""
    counts: dict[str, dict[str, list[int]]] = {}
    for entry in entries:
        if not isinstance(entry, Mapping) or entry.get("outcome") not in _DECIDED:
            continue
        case = entry.get("case") or entry.get("nodeid")
        tallies = counts.setdefault(str(entry.get("group")), {}).setdefault(str(case), [0, 0])
        tallies[0] += entry["outcome"] == "passed"
        tallies[1] += 1
    return {
        group: {case: passed / decided for case, (passed, decided) in cases.items()}
        for group, cases in counts.items()
    }


def _delta(
    before: float | None,
    now: float | None,
    worse: list[str],
    better: list[str],
    paired: int,
) -> BaselineDelta:
    """The figures of a change against the baseline; `gate.decide` gives its verdict.

    `worse` and `better` are the paired cases that flipped each way, by node id."""
    # Rounded so that 0.85 - 0.9 reads -0.05 in the JSON report, not -0.05000000000000004.
    delta = None if before is None or now is None else round(now - before, 12)
    p_value = mcnemar_one_sided(len(worse), len(better))
    return BaselineDelta(
        rate=before,
        delta=delta,
        p_value=p_value,
        worsened=len(worse),
        improved=len(better),
        paired=paired,
        worse=list(worse),
        better=list(better),
    )


def _complete(record: Mapping[str, Any]) -> CaseRecord:
    """`record` with every key of a case record, None for each it lacks."""
    if "nodeid" not in record:
        raise ValueError(f"a case record has no 'nodeid': {sorted(record)}")
    return cast(CaseRecord, {**dict.fromkeys(RECORD_FIELDS), **record})


def _by_nodeid(entry: FailureEntry | ErrorEntry) -> str:
    return entry.nodeid


def _mean(values: Sequence[float]) -> float | None:
    return math.fsum(values) / len(values) if values else None


def _score_label(score: float) -> str:
    """A judge score as a JSON key: `4`, not `4.0`."""
    return str(int(score)) if score.is_integer() else str(score)


def _optional_str(value: object) -> str | None:
    return None if value is None else str(value)
